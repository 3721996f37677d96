"""Transposed 4x4 stride-2 convolution as Winograd F(m x m, 2x2) on its stride phases: the
"winogradt" candidate of conv_select.

Along one axis, a transposed convolution of kernel 4 and stride 2 (the DCGAN / U-Net upsampler)
writes padded output row u = 2b + r (phase r = 0, 1) from two input rows only:
    y_pad[2b + r] = w[2 + r] x[b - 1] + w[r] x[b],
a 2-tap correlation z_b = W0 x[b - 1] + W1 x[b] per phase, with the two phases reading the same
input rows. In 2-D that is a 2x2 stride-1 correlation of x into 4*C "phase channels" (c, rh, rw),
which Winograd F(m x m, 2x2) computes from one input transform shared by the four phases:
(m + 1)^2 multiplies per m x m outputs instead of 4 m^2 (F(4x4, 2x2): 25 per 16 instead of 64,
2.56x fewer). The three passes of the layer are batched GEMMs over the a^2 = (m+1)^2 transform
points:
    forward    Z = U V        U (a^2, 4C, O) the filter transform G W G^T, V (a^2, O, T) B^T d B
    input grad dV = U^T dZ    dZ = A g A^T (the adjoint of the output transform A^T z A)
    weight grad dU = dZ V^T   (V kept from the forward), then G^T dU G
followed by the input transform's adjoint (tiles overlapping by one row and column add up).
The matrices come from the Toom-Cook construction with points 0, 1, -1, 2 and infinity (m = 4;
0, 1, -1 for m = 3; 0, 1 for m = 2), B^T scaled to integers.

Geometry per axis (`_span`, `_plan`): with the conv geometry g (the convolution whose input
gradient this is: output y (N, C, H, W) padded by pt, input x (N, O, Ho, Wo)), the output rows
that exist are u in [pt, pt + H), so z_b for b in [b0, b1) = [pt // 2, (pt + H - 1) // 2 + 1);
these are cut into tiles of m, tile t reading input rows b0 - 1 + t*m + i for i < m + 1. m is
the one of 4, 3, 2 that transforms the fewest points (ties to the larger m).

Layouts: a transformed tensor is (a*a, channels + 1, th*tw*N), [xh*a + xw, channel, (t*tw + u)*N
+ image]: batch innermost (see _kernels_winograd_t), phase channel c*4 + 2*rh + rw, one spare
channel (see `_transformed`); the GEMMs read its (a*a, channels, th*tw*N) view. The numba loops
run on NumPy float arrays; the array-module references here (strided slices and tensordots)
serve CuPy and the tests.

Measured (one thread, CPU time, ConvTranspose2d 64->32 4x4 stride 2 on b64 7x7, the bench
layer): forward 2.2 ms and backward 3.6 against chwn's 2.3 and 4.5 (the GEMMs 2.9 ms of it,
615 -> 315 MFLOP; the four transforms 0.3-0.6 ms each). conv_select times this against chwn and
the convolution's own drivers per shape, as a whole layer when it trains, and keeps the fastest.
"""
import functools
import math

import numpy as np

from mytorch.backend import array_module, host_float_arrays
from mytorch.ops import _kernels_winograd_t as _kw
from mytorch.ops import buffers
from mytorch.ops.window import Geom

__all__ = ["applies", "input_adjoint", "input_transform", "matrices", "output_adjoint",
           "output_transform", "transpose_backward", "transpose_forward", "weight_adjoint",
           "weight_transform"]

_POINTS = {2: (0, 1), 3: (0, 1, -1), 4: (0, 1, -1, 2)}


def applies(g, groups):
    """Whether this path runs the geometry: 2-D (1-D runs as height 1 and is left out: its
    kernel height is 1), kernel 4x4, stride 2, dilation 1, one group."""
    return (isinstance(g, Geom) and groups == 1 and g.kernel == (4, 4) and g.stride == (2, 2)
            and g.dilation == (1, 1))


@functools.cache
def matrices(m):
    """(A^T (m, a), G (a, 2), B^T (a, a)) of F(m, 2) in float64, a = m + 1: the correlation of
    d (a,) with w (2,) is A^T [(G w) * (B^T d)]."""
    from fractions import Fraction
    pts = [Fraction(p) for p in _POINTS[m]]
    a = m + 1

    def evaluation(n):  # (a, n): a polynomial of n coefficients at the points and infinity
        e = [[p ** k for k in range(n)] for p in pts]
        return e + [[Fraction(0)] * (n - 1) + [Fraction(1)]]

    # interpolation C = V^-1 exactly (Gauss-Jordan on fractions); B^T = C^T
    v = evaluation(a)
    aug = [row + [Fraction(int(i == j)) for j in range(a)] for i, row in enumerate(v)]
    for col in range(a):
        piv = next(r for r in range(col, a) if aug[r][col] != 0)
        aug[col], aug[piv] = aug[piv], aug[col]
        aug[col] = [e / aug[col][col] for e in aug[col]]
        for r in range(a):
            if r != col and aug[r][col] != 0:
                aug[r] = [e - aug[r][col] * f for e, f in zip(aug[r], aug[col])]
    c = [row[a:] for row in aug]
    bt = [[c[j][i] for j in range(a)] for i in range(a)]
    g = evaluation(2)
    for i in range(a):  # scale row i of B^T to integers, row i of G by the inverse
        s = 1
        for e in bt[i]:
            s = s * e.denominator // math.gcd(s, e.denominator)
        bt[i] = [e * s for e in bt[i]]
        g[i] = [e / s for e in g[i]]
    at = [list(col) for col in zip(*evaluation(m))]
    return tuple(np.array([[float(e) for e in row] for row in mat]) for mat in (at, g, bt))


def _span(size, lo):
    """(b0, nb) along one axis: the z rows b0 <= b < b0 + nb reach the output (size,), padded
    by lo at the start."""
    b0 = lo // 2
    return b0, (lo + size - 1) // 2 + 1 - b0


def _plan(g):
    """(b0h, b0w, th, tw, m) of geometry g: m is the one of 4, 3, 2 that transforms the
    fewest points (ties to the larger m)."""
    (b0h, nh), (b0w, nw) = _span(g.H, g.pt), _span(g.W, g.pl)
    m = min((4, 3, 2), key=lambda m: (-(-nh // m) * -(-nw // m) * (m + 1) ** 2, -m))
    return b0h, b0w, -(-nh // m), -(-nw // m), m


def _mats(m, dtype, xp):
    at, g, bt = matrices(m)
    return xp.asarray(at, dtype), xp.asarray(g, dtype), xp.asarray(bt, dtype)


# ---------------------------------------------------------------------------------------
# filter transform and its adjoint (small: array-module code on every backend)

def _kron(gm, xp):
    """G (x) G as (a^2, 4): row xh*a + xw, column jh*2 + jw."""
    a = gm.shape[0]
    return xp.ascontiguousarray((gm[:, None, :, None] * gm[None, :, None, :]).reshape(a * a, 4))


def _weight_transform_reference(w, gm, transposed=False):
    xp = array_module(w)
    o, c = w.shape[:2]
    a = gm.shape[0]
    wp = w.reshape(o, c, 2, 2, 2, 2)[:, :, ::-1, :, ::-1, :]  # [o, c, jh, rh, jw, rw]
    order = (2, 4, 0, 1, 3, 5) if transposed else (2, 4, 1, 3, 5, 0)
    taps = xp.ascontiguousarray(wp.transpose(order)).reshape(4, -1)
    u = xp.matmul(_kron(gm, xp), taps)
    return u.reshape((a * a, o, 4 * c) if transposed else (a * a, 4 * c, o))


def _weight_adjoint_reference(du, gm, o):
    xp = array_module(du)
    c = du.shape[1] // 4
    taps = xp.matmul(_kron(gm, xp).T, du.reshape(du.shape[0], -1))  # (4, 4C*O)
    dw = taps.reshape(2, 2, c, 2, 2, o).transpose(5, 2, 0, 3, 1, 4)  # [o, c, jh, rh, jw, rw]
    return xp.ascontiguousarray(dw[:, :, ::-1, :, ::-1, :]).reshape(o, c, 4, 4)


def weight_transform(w, gm, transposed=False, out=None):
    """w (O, C, 4, 4) -> U (a^2, 4C, O) (with `transposed`: (a^2, O, 4C)): G W_p G^T per phase
    p = (rh, rw), whose 2x2 filter W_p[jh, jw] is w[2(1 - jh) + rh, 2(1 - jw) + rw]: (G (x) G)
    times the phase filters' taps, laid out as U's channels. The numba loop (NumPy float arrays,
    not transposed) writes into `out` if given; the reference is one GEMM."""
    if transposed or not _kw.available(w, gm):
        return _weight_transform_reference(w, gm, transposed)
    a = gm.shape[0]
    u = np.empty((a * a, 4 * w.shape[1], w.shape[0]), w.dtype) if out is None else out
    return _kw.filter_transform(np.ascontiguousarray(w), _kron(gm, np), u)


def weight_adjoint(du, gm, o):
    """du (a^2, 4C, O) -> dw (O, C, 4, 4): the adjoint of `weight_transform`."""
    if not _kw.available(du, gm):
        return _weight_adjoint_reference(du, gm, o)
    taps = np.matmul(_kron(gm, np).T, du.reshape(du.shape[0], -1))  # (4, 4C*O)
    return _kw.filter_taps_adjoint(taps, np.empty((o, du.shape[1] // 4, 4, 4), du.dtype))


# ---------------------------------------------------------------------------------------
# array-module references of the numba loops (same layouts and contracts)

def _input_transform_reference(x, bt, v3, q0, q1, m, th, tw):
    xp = array_module(x)
    n, c, h, w = x.shape
    a = bt.shape[0]
    scratch = xp.zeros((n, c, th * m + 1, tw * m + 1), x.dtype)
    ha, hb, wa, wb = max(q0, 0), min(h, q0 + th * m + 1), max(q1, 0), min(w, q1 + tw * m + 1)
    if ha < hb and wa < wb:
        scratch[:, :, ha - q0:hb - q0, wa - q1:wb - q1] = x[:, :, ha:hb, wa:wb]
    d = xp.empty((a, a, n, c, th, tw), x.dtype)
    for i in range(a):
        for j in range(a):
            d[i, j] = scratch[:, :, i:i + th * m:m, j:j + tw * m:m]
    t = xp.tensordot(bt, d, axes=([1], [0]))  # (xh, j, n, c, th, tw)
    t = xp.tensordot(bt, t, axes=([1], [1]))  # (xw, xh, n, c, th, tw)
    v3[:, :c] = t.transpose(1, 0, 3, 4, 5, 2).reshape(a * a, c, th * tw * n)
    return v3


def _input_adjoint_reference(dv3, bt, out, q0, q1, m, th, tw):
    xp = array_module(dv3)
    n, c, h, w = out.shape
    a = bt.shape[0]
    dv = dv3[:, :c].reshape(a, a, c, th, tw, n)
    t = xp.tensordot(bt, dv, axes=([0], [0]))  # (i, xw, c, th, tw, n)
    t = xp.tensordot(bt, t, axes=([0], [1]))  # (j, i, c, th, tw, n)
    scratch = xp.zeros((n, c, th * m + 1, tw * m + 1), dv3.dtype)
    for i in range(a):
        for j in range(a):
            scratch[:, :, i:i + th * m:m, j:j + tw * m:m] += t[j, i].transpose(3, 0, 1, 2)
    out[...] = 0
    ha, hb, wa, wb = max(q0, 0), min(h, q0 + th * m + 1), max(q1, 0), min(w, q1 + tw * m + 1)
    if ha < hb and wa < wb:
        out[:, :, ha:hb, wa:wb] = scratch[:, :, ha - q0:hb - q0, wa - q1:wb - q1]
    return out


def _output_transform_reference(z3, at, y, b0h, b0w, pt, pl, th, tw, bias=None):
    xp = array_module(z3)
    n, c, h, w = y.shape
    m, a = at.shape
    z = z3[:, :4 * c].reshape(a, a, 4 * c, th, tw, n)
    t = xp.tensordot(at, z, axes=([1], [0]))  # (kh, xw, 4c, th, tw, n)
    t = xp.tensordot(at, t, axes=([1], [1]))  # (kw, kh, 4c, th, tw, n)
    t = t.reshape(m, m, c, 2, 2, th, tw, n).transpose(7, 2, 3, 5, 1, 4, 6, 0)
    zg = t.reshape(n, c, 2, th * m, 2, tw * m)  # [n, c, rh, b - b0h, rw, b - b0w]
    # padded output row 2b + r is row 2(b - b0h) + r - (pt - 2 b0h) of the z grid
    full = xp.empty((n, c, 2 * th * m, 2 * tw * m), z3.dtype)
    for rh in range(2):
        for rw in range(2):
            full[:, :, rh::2, rw::2] = zg[:, :, rh, :, rw, :]
    eh, ew = pt - 2 * b0h, pl - 2 * b0w
    y[...] = full[:, :, eh:eh + h, ew:ew + w]
    if bias is not None:
        y += bias.reshape(-1, 1, 1)
    return y


def _output_adjoint_reference(gy, at, dz3, b0h, b0w, pt, pl, th, tw):
    xp = array_module(gy)
    n, c, h, w = gy.shape
    m, a = at.shape
    full = xp.zeros((n, c, 2 * th * m, 2 * tw * m), gy.dtype)
    eh, ew = pt - 2 * b0h, pl - 2 * b0w
    full[:, :, eh:eh + h, ew:ew + w] = gy
    zg = xp.empty((n, c, 2, th * m, 2, tw * m), gy.dtype)
    for rh in range(2):
        for rw in range(2):
            zg[:, :, rh, :, rw, :] = full[:, :, rh::2, rw::2]
    # [n, c, rh, th, kh, rw, tw, kw] -> [kh, kw, c, rh, rw, th, tw, n]
    t = zg.reshape(n, c, 2, th, m, 2, tw, m).transpose(4, 7, 1, 2, 5, 3, 6, 0)
    t = t.reshape(m, m, 4 * c, th, tw, n)
    t = xp.tensordot(at, t, axes=([0], [0]))  # (xh, kw, ...)
    t = xp.tensordot(at, t, axes=([0], [1]))  # (xw, xh, ...)
    dz3[:, :4 * c] = t.swapaxes(0, 1).reshape(a * a, 4 * c, th * tw * n)
    return dz3, gy.sum(axis=(0, 2, 3))


def input_transform(x, bt, v3, q0, q1, m, th, tw):
    """x (N, O, H, W) -> v3 (a*a, >= O, th*tw*N), see _kernels_winograd_t.input_transform."""
    if _kw.available(x, bt, v3):
        return _kw.input_transform(x, bt, v3, q0, q1, m, th, tw)
    return _input_transform_reference(x, bt, v3, q0, q1, m, th, tw)


def input_adjoint(dv3, bt, out, q0, q1, m, th, tw):
    """dv3 (as input_transform's v3) -> out (N, O, H, W), the adjoint of `input_transform`."""
    if _kw.available(dv3, bt, out):
        return _kw.input_adjoint(dv3, bt, out, q0, q1, m, th, tw)
    return _input_adjoint_reference(dv3, bt, out, q0, q1, m, th, tw)


def output_transform(z3, at, y, b0h, b0w, pt, pl, th, tw, bias=None):
    """z3 (a*a, >= 4C, th*tw*N) -> y (N, C, H, W) (+ bias), see _kernels_winograd_t."""
    if _kw.available(z3, at, y):
        return _kw.output_transform(z3, at, y, b0h, b0w, pt, pl, th, tw, bias)
    return _output_transform_reference(z3, at, y, b0h, b0w, pt, pl, th, tw, bias)


def output_adjoint(gy, at, dz3, b0h, b0w, pt, pl, th, tw):
    """gy (N, C, H, W) -> (dz3 (as output_transform's z3), gy summed per channel)."""
    if _kw.available(gy, at, dz3):
        dz3, gb = _kw.output_adjoint(gy, at, dz3, b0h, b0w, pt, pl, th, tw)
        return dz3, gb.astype(gy.dtype)
    return _output_adjoint_reference(gy, at, dz3, b0h, b0w, pt, pl, th, tw)


# ---------------------------------------------------------------------------------------
# reused memory for the transformed tensors

# Fresh arrays of a few MB come from pages the kernel has to fault in and zero (glibc gives the
# memory of freed ones back when the top of its heap is free: the layer's transformed tensors
# are allocated and freed in turn); on the bench layer that added 2.4 ms to a forward of 2.2.
# Host arrays of the transformed tensors, and of the layer's output and gradients, come from
# mytorch.ops.buffers' per-layer buffers instead (handed out again once nothing refers to them).

def _empty(xp, shape, dtype, like):
    """xp.empty(shape, dtype), from a reused buffer when `like` is a host float array."""
    if not host_float_arrays(like):
        return xp.empty(shape, dtype)
    return buffers.layer_empty(shape, dtype)


# ---------------------------------------------------------------------------------------
# drivers: g is the geometry of the convolution whose input gradient the transposed
# convolution is: x (N, O, Ho, Wo) -> y (N, C, H, W), w (O, C, 4, 4)

def _transformed(xp, a, ch, nt, n, dtype, like):
    """A transformed tensor: (a*a, ch + 1, nt*N), [point, channel, tile*N + image]. The
    channel past the last keeps the a*a planes from lying a power of two apart (128 KiB on the
    bench layer): the transforms read or write all of them at once, and at such a stride their
    lines fall into the same cache sets."""
    return _empty(xp, (a * a, ch + 1, nt * n), dtype, like)


def _gemm(t, ch):
    """The (a*a, ch, nt*N) matrices of a transformed tensor (a view)."""
    return t[:, :ch]


def transpose_forward(x, w, g, b=None):
    """conv_transpose(x, w) + b -> (y, kept): kept holds x's input transform and the filter
    transform, which the backward reads again."""
    xp = array_module(x)
    n, o = x.shape[:2]
    c = w.shape[1]
    b0h, b0w, th, tw, m = _plan(g)
    at, gm, bt = _mats(m, x.dtype, xp)
    a, nt = m + 1, th * tw
    v = input_transform(x, bt, _transformed(xp, a, o, nt, n, x.dtype, x), b0h - 1, b0w - 1, m,
                        th, tw)
    u = weight_transform(w, gm, out=_empty(xp, (a * a, 4 * c, o), x.dtype, x))
    z = _transformed(xp, a, 4 * c, nt, n, x.dtype, x)
    xp.matmul(u, _gemm(v, o), out=_gemm(z, 4 * c))
    y = _empty(xp, (n, c, g.H, g.W), x.dtype, x)
    output_transform(z, at, y, b0h, b0w, g.pt, g.pl, th, tw, b)
    return y, (v, u)


def transpose_backward(gy, w, g, x=None, kept=None, need=(True, True, False)):
    """Gradients (gx, gw, gb) of conv_transpose(x, w) + b from gy (N, C, H, W), each None unless
    `need` asks for it. x's and w's transforms are read from `kept` (transpose_forward's) when
    given, else computed from `x` and `w`."""
    xp = array_module(gy)
    n, c = gy.shape[:2]
    o = w.shape[0]
    b0h, b0w, th, tw, m = _plan(g)
    at, gm, bt = _mats(m, gy.dtype, xp)
    a, nt = m + 1, th * tw
    v, u = kept if kept is not None else (None, None)
    dz, gb = output_adjoint(gy, at, _transformed(xp, a, 4 * c, nt, n, gy.dtype, gy), b0h, b0w,
                            g.pt, g.pl, th, tw)
    gx = gw = None
    if need[0]:
        ut = u.transpose(0, 2, 1) if u is not None else weight_transform(w, gm, transposed=True)
        dv = _transformed(xp, a, o, nt, n, gy.dtype, gy)
        xp.matmul(ut, _gemm(dz, 4 * c), out=_gemm(dv, o))
        gx = input_adjoint(dv, bt, _empty(xp, (n, o, g.Ho, g.Wo), gy.dtype, gy), b0h - 1,
                           b0w - 1, m, th, tw)
    if need[1]:
        if v is None:
            v = input_transform(x, bt, _transformed(xp, a, o, nt, n, gy.dtype, gy), b0h - 1,
                                b0w - 1, m, th, tw)
        du = xp.matmul(_gemm(dz, 4 * c), _gemm(v, o).transpose(0, 2, 1),
                       out=_empty(xp, (a * a, 4 * c, o), gy.dtype, gy))
        gw = weight_adjoint(du, gm, o)
    return gx, gw, gb if need[2] else None
