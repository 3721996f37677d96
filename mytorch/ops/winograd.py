"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution: 3x3, stride 1, dilation 1, one group.

Each m x m output tile is A^T [(G w G^T) * (B^T d B)] A for the (m+2) x (m+2) input tile d
under it, so the 9 multiply-adds per output and channel pair of im2col become 4 (m = 2, a 4x4
transform) or 2.25 (m = 4, 6x6): the product is one batched GEMM over the (m+2)^2 transform
positions, (P, O, C) @ (P, C, T) for T tiles. Backward is the exact adjoint of the same linear
maps, so it is two more P-position GEMMs on the transformed tensors: dU = dM @ V^T (weight
gradient, transformed back by G^T . G) and dV = U^T @ dM (input gradient, transformed back by
B . B^T and added over the overlapping tiles).

Accuracy in float32: F(2x2)'s transforms are exact in binary (adds and halves), so it matches
im2col's error. F(4x4)'s (points 0, +-1, +-2) multiply by up to 8 and divide by 6 and 24: its
error, measured against float64 at C = 8..256, is 3e-6..1e-5 of the output's largest magnitude
(torch's float32 conv: 3e-7..2e-6), inside the 1e-4 relative budget its tests hold it to.
Which of im2col, F(2x2) and F(4x4) runs is decided per shape by mytorch.ops.conv_select.

The transforms run as numba loops (mytorch.ops._kernels_winograd) on NumPy float arrays; the
array-module references here serve CuPy and the tests. Work goes in batch chunks whose
transformed tensors stay in cache (see `_CHUNK_ELEMS`).
"""
from typing import NamedTuple

from mytorch.backend import array_module
from mytorch.ops import _kernels_winograd as _kw

# Transformed input and output of one batch chunk hold at most this many elements in all:
# 4 MiB of float32 ran the small GEMMs ~2x faster than whole-batch tensors (16 MiB+).
_CHUNK_ELEMS = 1 << 20


class Scheme(NamedTuple):
    """One Winograd algorithm F(m x m, 3 x 3): input transform `bt` (a, a), weight transform
    `g` (a, 3), output transform `at` (m, a), where a = m + 2 is the input tile's side."""
    m: int
    bt: tuple
    g: tuple
    at: tuple

    @property
    def a(self):
        return self.m + 2

    @property
    def positions(self):  # transform positions, the batch of the GEMM
        return self.a * self.a


# F(2x2, 3x3) at the points 0, 1, -1 (and infinity)
F2 = Scheme(2,
            bt=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
            g=((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
            at=((1, 1, 1, 0), (0, 1, -1, -1)))

# F(4x4, 3x3) at the points 0, 1, -1, 2, -2 (and infinity)
F4 = Scheme(4,
            bt=((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
                (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
            g=((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
               (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
            at=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0),
                (0, 1, -1, 8, -8, 1)))

SCHEMES = {"winograd2": F2, "winograd4": F4}  # by the algorithm names of conv_select


# Fewest input channels for Winograd where the choice is by rule instead of measurement (CuPy,
# deterministic mode), measured fwd+bwd at batch 64 (F(2x2) time / im2col time): C_in 1 -> 32
# at 28x28: 3.0; 3 -> 16 at 32x32: 2.3; 8 -> 16 at 28x28: 0.95; 16 -> 32 at 14x14: 0.80;
# 32 -> 64 at 28x28: 0.78. Thin GEMMs do not pay for the transforms.
_MIN_C = 8


def fits(g, groups):
    """Whether Winograd can run this convolution at all (a 2-D geometry `g`, see
    mytorch.ops.window): 3x3 kernel, stride 1, dilation 1, one group."""
    return (len(g.kernel) == 2 and g.kernel == (3, 3) and groups == 1
            and g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1)


def applies(g, groups, c_in):
    """The rule-based choice: F(2x2) for convolutions it fits with C_in >= _MIN_C."""
    return fits(g, groups) and c_in >= _MIN_C


def _tiles(g, s=F2):
    return -(-g.Ho // s.m), -(-g.Wo // s.m)


def _chunks(n, per_item):
    step = max(1, _CHUNK_ELEMS // max(per_item, 1))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def _matrices(xp, dtype, s):
    return (xp.asarray(s.bt, dtype), xp.asarray(s.g, dtype), xp.asarray(s.at, dtype))


def weight_transform(w, s=F2):
    """w (O, C, 3, 3) -> U (P, O, C) = G w G^T at each of the a x a positions."""
    xp = array_module(w)
    _, gm, _ = _matrices(xp, w.dtype, s)
    u = xp.einsum("ik,ockl,jl->ijoc", gm, w, gm)
    return xp.ascontiguousarray(u.reshape((s.positions,) + w.shape[:2]))


def weight_transform_adjoint(du, s=F2):
    """dU (P, O, C) -> gw (O, C, 3, 3) = G^T dU G."""
    xp = array_module(du)
    _, gm, _ = _matrices(xp, du.dtype, s)
    return xp.einsum("ik,ijoc,jl->ockl", gm, du.reshape((s.a, s.a) + du.shape[1:]), gm)


# ---------------------------------------------------------------------------------------
# transform references on the array module (CuPy, and the tests of the numba loops)

def _padded(x, g, th, tw, s=F2):
    """x (n, C, H, W) -> (n, C, m*th+2, m*tw+2): x at (pt, pl), zeros elsewhere."""
    shape = (s.m * th + 2, s.m * tw + 2)
    if x.shape[2:] == shape and g.pt == g.pl == 0:
        return x  # 'valid' input the tiles cover exactly
    xp = array_module(x)
    q = xp.zeros(x.shape[:2] + shape, x.dtype)
    q[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W] = x
    return q


def input_transform_reference(x, g, out, s=F2):
    """x (n, C, H, W) -> out (P, C, n*th*tw) = B^T d B for each a x a tile d (stride m)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    th, tw = _tiles(g, s)
    q = _padded(x, g, th, tw, s)
    st = q.strides
    d = xp.lib.stride_tricks.as_strided(
        q, (n, c, th, tw, s.a, s.a), (st[0], st[1], s.m * st[2], s.m * st[3], st[2], st[3]))
    bt, _, _ = _matrices(xp, x.dtype, s)
    v = xp.einsum("ik,nctukl,jl->ijcntu", bt, d, bt)
    out[...] = v.reshape(out.shape)
    return out


def output_transform_reference(m, g, out, s=F2):
    """m (P, O, n*th*tw) -> out (n, O, Ho, Wo) = A^T m A per tile, cropped at the edges."""
    xp = array_module(m)
    n, o = out.shape[:2]
    th, tw = _tiles(g, s)
    _, _, at = _matrices(xp, m.dtype, s)
    y = xp.einsum("ai,ijontu,bj->notaub", at, m.reshape(s.a, s.a, o, n, th, tw), at)
    out[...] = y.reshape(n, o, s.m * th, s.m * tw)[:, :, :g.Ho, :g.Wo]
    return out


def output_adjoint_reference(gy, g, out, s=F2):
    """gy (n, O, Ho, Wo) -> out (P, O, n*th*tw) = A gy A^T per zero-extended m x m tile."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    th, tw = _tiles(g, s)
    q = xp.zeros((n, o, s.m * th, s.m * tw), gy.dtype)
    q[:, :, :g.Ho, :g.Wo] = gy
    _, _, at = _matrices(xp, gy.dtype, s)
    dm = xp.einsum("ai,notaub,bj->ijontu", at, q.reshape(n, o, th, s.m, tw, s.m), at)
    out[...] = dm.reshape(out.shape)
    return out


def input_adjoint_reference(dv, g, out, s=F2):
    """dv (P, C, n*th*tw) -> out (n, C, H, W) = B dv B^T per tile, summed where tiles
    overlap, padding dropped."""
    xp = array_module(dv)
    n, c = out.shape[:2]
    th, tw = _tiles(g, s)
    bt, _, _ = _matrices(xp, dv.dtype, s)
    dd = xp.einsum("ik,ijcntu,jl->nctukl", bt, dv.reshape(s.a, s.a, c, n, th, tw), bt)
    q = xp.zeros((n, c, s.m * th + 2, s.m * tw + 2), dv.dtype)
    for i in range(s.a):  # add each tile row/column offset as one strided slice
        for j in range(s.a):
            q[:, :, i:i + s.m * th:s.m, j:j + s.m * tw:s.m] += dd[:, :, :, :, i, j]
    out[...] = q[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W]
    return out


# The dispatchers take transformed buffers (P, channels, tp) whose tile axis may be longer than
# the n*th*tw tiles (see `_tile_axis`); the references see only the tiles.

def _input_transform(x, g, out, s=F2):
    th, tw = _tiles(g, s)
    if _kw.available(x, out):
        return _kw.input_transform(_padded(x, g, th, tw, s), out, s.m)
    return input_transform_reference(x, g, out[:, :, :x.shape[0] * th * tw], s)


def _output_transform(m, g, out, s=F2):
    if _kw.available(m, out):
        return _kw.output_transform(m, out, s.m)
    th, tw = _tiles(g, s)
    return output_transform_reference(m[:, :, :out.shape[0] * th * tw], g, out, s)


def _output_adjoint(gy, g, out, s=F2):
    th, tw = _tiles(g, s)
    if _kw.available(gy, out):
        return _kw.output_adjoint(gy, out, s.m)
    return output_adjoint_reference(gy, g, out[:, :, :gy.shape[0] * th * tw], s)


def _input_adjoint(dv, g, out, s=F2):
    th, tw = _tiles(g, s)
    if _kw.available(dv, out):
        q = _kw.input_adjoint(dv, array_module(dv).empty(
            out.shape[:2] + (s.m * th + 2, s.m * tw + 2), dv.dtype), s.m)
        out[...] = q[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W]
        return out
    return input_adjoint_reference(dv[:, :, :out.shape[0] * th * tw], g, out, s)


def _tile_axis(t):
    """Length of the tile axis for t tiles: odd, so that the transform positions' planes are
    not a multiple of 4 KiB apart (when they were, the transforms' 16 streams fought over the
    same L1 sets: 4-17x slower loops measured at the MNIST network's conv2)."""
    return t | 1


# ---------------------------------------------------------------------------------------
# convolution drivers (the interface of conv._conv_forward / conv._conv_backward)

def conv_forward(x, w, g, s=F2):
    """x (N, C, H, W) contiguous, w (O, C, 3, 3) -> y (N, O, Ho, Wo), no bias."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = w.shape[0]
    th, tw = _tiles(g, s)
    L = th * tw
    P = s.positions
    u = weight_transform(w, s)
    y = xp.empty((n, o) + g.out, x.dtype)
    chunks = _chunks(n, P * (c + o) * L)
    tb = _tile_axis(chunks[0][1] * L)
    vbuf = xp.empty(P * c * tb, x.dtype)
    mbuf = xp.empty(P * o * tb, x.dtype)
    for a, b in chunks:
        t = (b - a) * L
        tp = _tile_axis(t)
        v = vbuf[:P * c * tp].reshape(P, c, tp)
        v[:, :, t:] = 0
        _input_transform(x[a:b], g, v, s)
        m = mbuf[:P * o * tp].reshape(P, o, tp)
        xp.matmul(u, v, out=m)
        _output_transform(m, g, y[a:b], s)
    return y


def conv_backward(gy, w, g, x=None, need_x=True, s=F2):
    """gy (N, O, Ho, Wo) contiguous -> (gx (N, C, H, W) or None, gw (O, C, 3, 3) or None);
    the weight gradient needs the forward input `x`."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    c = w.shape[1]
    th, tw = _tiles(g, s)
    L = th * tw
    P = s.positions
    u = weight_transform(w, s) if need_x else None
    chunks = _chunks(n, P * (c + o) * L)
    tb = _tile_axis(chunks[0][1] * L)
    vbuf = xp.empty(P * c * tb, gy.dtype)
    mbuf = xp.empty(P * o * tb, gy.dtype)
    gx = xp.empty((n, c) + g.size, gy.dtype) if need_x else None
    du = xp.empty((P, o, c), gy.dtype) if x is not None else None
    dub = xp.empty_like(du) if du is not None and len(chunks) > 1 else du
    for a, b in chunks:
        t = (b - a) * L
        tp = _tile_axis(t)
        dm = mbuf[:P * o * tp].reshape(P, o, tp)
        dm[:, :, t:] = 0  # the padding tiles add nothing to the weight gradient
        _output_adjoint(gy[a:b], g, dm, s)
        v = vbuf[:P * c * tp].reshape(P, c, tp)
        v[:, :, t:] = 0
        if x is not None:
            _input_transform(x[a:b], g, v, s)
            xp.matmul(dm, v.transpose(0, 2, 1), out=du if a == 0 else dub)
            if a:
                du += dub
        if need_x:
            xp.matmul(u.transpose(0, 2, 1), dm, out=v)
            _input_adjoint(v, g, gx[a:b], s)
    gw = None if du is None else weight_transform_adjoint(du, s).astype(gy.dtype, copy=False)
    return gx, gw
