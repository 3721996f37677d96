"""Winograd convolution for 3x3 kernels, dilation 1, one group: F(2x2, 3x3) and F(4x4, 3x3) at
stride 1, F(2x2, 3x3) at stride 2 (`F2S2`, below).

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
(torch's float32 conv: 3e-7..2e-6); its tests hold it to 2e-5, forward and both gradients.
Which of im2col and the schemes that fit runs is decided per shape by mytorch.ops.conv_select.

The transforms run as numba loops (mytorch.ops._kernels_winograd) on NumPy float arrays; the
array-module references here serve CuPy and the tests. Work goes in batch chunks whose
transformed tensors stay in cache (see `_CHUNK_ELEMS`).
"""
from typing import NamedTuple

import numpy as np

from mytorch.backend import array_module
from mytorch.ops import _kernels_winograd as _kw
from mytorch.ops.window import batch_chunks

# Transformed input and output of one batch chunk hold at most this many elements in all:
# 4 MiB of float32 ran the small GEMMs ~2x faster than whole-batch tensors (16 MiB+).
_CHUNK_ELEMS = 1 << 20


class Scheme(NamedTuple):
    """One Winograd algorithm F(m x m, 3 x 3) for a convolution of `stride`: input transform
    `bt` (a, a), weight transform `g` (a, 3), output transform `at` (m, a), where
    a = (m - 1) * stride + 3 is the input tile's side; tiles start `step` = m * stride apart."""
    m: int
    bt: tuple
    g: tuple
    at: tuple
    stride: int = 1

    @property
    def a(self):
        return len(self.bt)

    @property
    def step(self):
        return self.m * self.stride

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

# F(2x2, 3x3) at stride 2. Along each axis the 2 outputs read 5 inputs d0..d4: the even taps
# (w0, w2 on d0, d2, d4) are a stride-1 2-tap correlation, done as F(2, 2) at the points 0, 1
# (3 multiplies), the odd tap (w1 on d1, d3) directly (2 multiplies): 5 instead of 6 per axis,
# 25 instead of 36 per 2x2 output tile. Transforms are exact (adds only).
F2S2 = Scheme(2,
              bt=((1, 0, -1, 0, 0), (0, 0, 1, 0, 0), (0, 0, -1, 0, 1), (0, 1, 0, 0, 0),
                  (0, 0, 0, 1, 0)),
              g=((1, 0, 0), (1, 0, 1), (0, 0, 1), (0, 1, 0), (0, 1, 0)),
              at=((1, 1, 0, 1, 0), (0, 1, 1, 0, 1)),
              stride=2)

# By the algorithm names of conv_select, for each stride Winograd runs at.
SCHEMES = {1: {"winograd2": F2, "winograd4": F4}, 2: {"winograd2": F2S2}}


# Fewest input channels for Winograd where the choice is by rule instead of measurement (CuPy,
# deterministic mode), measured fwd+bwd at batch 64 (F(2x2) time / im2col time): C_in 1 -> 32
# at 28x28: 3.0; 3 -> 16 at 32x32: 2.3; 8 -> 16 at 28x28: 0.95; 16 -> 32 at 14x14: 0.80;
# 32 -> 64 at 28x28: 0.78. Thin GEMMs do not pay for the transforms.
_MIN_C = 8


def schemes(g, groups):
    """{algorithm name: Scheme} that can run this convolution (a geometry `g`, see
    mytorch.ops.window): 3x3 kernel, equal strides of 1 or 2, dilation 1, one group."""
    if not (len(g.kernel) == 2 and g.kernel == (3, 3) and groups == 1 and g.sh == g.sw
            and g.dh == 1 and g.dw == 1):
        return {}
    return SCHEMES.get(g.sh, {})


def applies(g, groups, c_in):
    """The rule-based choice: F(2x2) for stride-1 convolutions with C_in >= _MIN_C (the
    stride-2 scheme is only ever chosen by timing)."""
    return g.stride == (1, 1) and bool(schemes(g, groups)) and c_in >= _MIN_C


def _tiles(g, s=F2):
    return -(-g.Ho // s.m), -(-g.Wo // s.m)


def _matrices(xp, dtype, s):
    return (xp.asarray(s.bt, dtype), xp.asarray(s.g, dtype), xp.asarray(s.at, dtype))


# Both weight transforms are one GEMM with K = G (x) G (P, 9), the Kronecker product that maps a
# flattened 3x3 kernel to its a x a transform: a three-operand einsum took 2 ms for the adjoint
# at 64 x 32 channels, as long as a transform of the whole input.

# NumPy's by (dtype, scheme), made once: np.kron and the conversions took 16 us of each
# transform's 50 (64 x 32 channels), three times a training step.
_host_kron = {}


def _kron(xp, dtype, s):
    key = (np.dtype(dtype), s) if xp is np else None
    k = _host_kron.get(key)
    if k is None:
        _, gm, _ = _matrices(xp, dtype, s)
        k = xp.kron(gm, gm)  # (P, 9): K[i*a+j, k*3+l] = G[i, k] G[j, l]
        if key is not None:
            k.flags.writeable = False
            _host_kron[key] = k
    return k


def weight_transform(w, s=F2):
    """w (O, C, 3, 3) -> U (P, O, C) = G w G^T at each of the a x a positions."""
    xp = array_module(w)
    u = _kron(xp, w.dtype, s) @ w.reshape(-1, 9).T  # (P, O*C)
    return u.reshape((s.positions,) + w.shape[:2])


def weight_transform_adjoint(du, s=F2):
    """dU (P, O, C) -> gw (O, C, 3, 3) = G^T dU G."""
    xp = array_module(du)
    gw = du.reshape(s.positions, -1).T @ _kron(xp, du.dtype, s)  # (O*C, 9)
    return gw.reshape(du.shape[1:] + (3, 3))


# ---------------------------------------------------------------------------------------
# transform references on the array module (CuPy, and the tests of the numba loops)

def _padded_size(th, tw, s):
    """Input extent the tiles read: (step*th + a - step, step*tw + a - step)."""
    return s.step * th + s.a - s.step, s.step * tw + s.a - s.step


def _padded(x, g, th, tw, s=F2):
    """x (n, C, H, W) -> (n, C, *_padded_size): x at (pt, pl), zeros elsewhere."""
    shape = _padded_size(th, tw, s)
    if x.shape[2:] == shape and g.pt == g.pl == 0:
        return x  # 'valid' input the tiles cover exactly
    xp = array_module(x)
    q = xp.zeros(x.shape[:2] + shape, x.dtype)
    h, w = _covered(g, shape)
    q[:, :, g.pt:g.pt + h, g.pl:g.pl + w] = x[:, :, :h, :w]
    return q


def _covered(g, shape):
    """Rows and columns of the input inside a padded extent `shape`: at stride 2 the last
    input row or column may be read by no window (then it is dropped, its gradient zero)."""
    return min(g.H, shape[0] - g.pt), min(g.W, shape[1] - g.pl)


def _crop(q, g, out):
    """The input gradient: out (n, C, H, W) = q's interior (q padded as by `_padded`)."""
    h, w = _covered(g, q.shape[2:])
    out[:, :, :h, :w] = q[:, :, g.pt:g.pt + h, g.pl:g.pl + w]
    out[:, :, h:] = 0
    out[:, :, :, w:] = 0
    return out


def input_transform_reference(x, g, out, s=F2):
    """x (n, C, H, W) -> out (P, C, n*th*tw) = B^T d B for each a x a tile d (`step` apart)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    th, tw = _tiles(g, s)
    q = _padded(x, g, th, tw, s)
    st = q.strides
    d = xp.lib.stride_tricks.as_strided(
        q, (n, c, th, tw, s.a, s.a), (st[0], st[1], s.step * st[2], s.step * st[3], st[2], st[3]))
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
    q = xp.zeros((n, c) + _padded_size(th, tw, s), dv.dtype)
    st = s.step
    for i in range(s.a):  # add each tile row/column offset as one strided slice
        for j in range(s.a):
            q[:, :, i:i + st * th:st, j:j + st * tw:st] += dd[:, :, :, :, i, j]
    return _crop(q, g, out)


# The dispatchers take transformed buffers (P, channels, tp) whose tile axis may be longer than
# the n*th*tw tiles (see `_tile_axis`); the references see only the tiles.

def _input_transform(x, g, out, s=F2):
    th, tw = _tiles(g, s)
    if _kw.available(x, out):
        return _kw.input_transform(x, out, s.m, s.stride, g.pt, g.pl, _padded_size(th, tw, s))
    return input_transform_reference(x, g, out[:, :, :x.shape[0] * th * tw], s)


def _output_transform(m, g, out, s=F2):
    if _kw.available(m, out):
        return _kw.output_transform(m, out, s.m, s.stride)
    th, tw = _tiles(g, s)
    return output_transform_reference(m[:, :, :out.shape[0] * th * tw], g, out, s)


def _output_adjoint(gy, g, out, s=F2):
    th, tw = _tiles(g, s)
    if _kw.available(gy, out):
        return _kw.output_adjoint(gy, out, s.m, s.stride)
    return output_adjoint_reference(gy, g, out[:, :, :gy.shape[0] * th * tw], s)


def _input_adjoint(dv, g, out, s=F2):
    th, tw = _tiles(g, s)
    if _kw.available(dv, out):
        return _kw.input_adjoint(dv, out, s.m, s.stride, g.pt, g.pl, _padded_size(th, tw, s))
    return input_adjoint_reference(dv[:, :, :out.shape[0] * th * tw], g, out, s)


def _tile_axis(t):
    """Length of the tile axis for t tiles: odd, so that the transform positions' planes are
    not a multiple of 4 KiB apart (when they were, the transforms' 16 streams fought over the
    same L1 sets: 4-17x slower loops measured at the MNIST network's conv2)."""
    return t | 1


# ---------------------------------------------------------------------------------------
# the chunked drivers, shared by every Winograd algorithm (this module's schemes,
# mytorch.ops.winograd1d and mytorch.ops.winograd_cl) through a Plan

_KEEP_BYTES = 16 << 20  # forward keeps the transformed input for the weight gradient up to this


class TilesLast:
    """How the drivers store transformed tensors and run the GEMMs on them: here as
    (P, channels, tiles), U (P, O, C), M = U @ V (P, O, tiles)."""

    def __init__(self, positions):
        self.positions = positions

    def view(self, buf, channels, tp):
        """(P, channels, tp) view of a flat buffer: V or dV (C channels), M or dM (O)."""
        return buf[:self.positions * channels * tp].reshape(self.positions, channels, tp)

    def size(self, channels, tp):
        return self.positions * channels * tp

    def output_view(self, buf, channels, tp):
        """The forward's M view of a buffer of `size(channels, tp)`: as `view`, unless the
        layout's forward writes M in another order than it keeps V."""
        return self.view(buf, channels, tp)

    def adjoint_view(self, buf, channels, tp):
        """The output adjoint dM's view of a buffer of `size(channels, tp)`: as `view`, unless
        the layout stores only dM's distinct positions."""
        return self.view(buf, channels, tp)

    def zero_tiles(self, a, t):
        """Zero the tiles past the chunk's t (the GEMMs read them, the transforms do not)."""
        a[:, :, t:] = 0

    def forward_weight(self, xp, u):
        """U (P, O, C) as `forward` takes it."""
        return u

    def forward(self, xp, u, v, m):
        """m = U @ V."""
        xp.matmul(u, v, out=m)

    def input_grad(self, xp, u, dm, dv):
        """dv = U^T @ dM."""
        xp.matmul(u.transpose(0, 2, 1), dm, out=dv)

    def weight_grad(self, xp, dm, v, du):
        """du (P, O, C) = dM @ V^T, summed over the tiles."""
        xp.matmul(dm, v.transpose(0, 2, 1), out=du)

    def tile_sum(self, dm, p):
        """dM's position p summed over the tiles: (O,)."""
        return dm[p].sum(axis=1)


class ChannelsLast(TilesLast):
    """Transformed tensors (P, tiles, channels), the transposes of TilesLast's: M = V @ U^T."""

    def view(self, buf, channels, tp):
        return buf[:self.positions * channels * tp].reshape(self.positions, tp, channels)

    def zero_tiles(self, a, t):
        a[:, t:] = 0

    def forward_weight(self, xp, u):
        # (P, C, O) contiguous: NumPy's matmul on the transposed view ran the forward GEMMs
        # 1.6x slower (16 x (99 x 64 @ 64 x 64), float32, OpenBLAS)
        return xp.ascontiguousarray(u.transpose(0, 2, 1))

    def forward(self, xp, ut, v, m):
        """m = V @ U^T, `ut` from `forward_weight`."""
        xp.matmul(v, ut, out=m)

    def input_grad(self, xp, u, dm, dv):
        xp.matmul(dm, u, out=dv)

    def weight_grad(self, xp, dm, v, du):
        xp.matmul(dm.transpose(0, 2, 1), v, out=du)

    def tile_sum(self, dm, p):
        return dm[p].sum(axis=0)


class Plan(NamedTuple):
    """One Winograd algorithm on one geometry, as `run_forward` and `run_backward` see it.

    `tiles` per image; `layout` stores the transformed tensors and runs the GEMMs (TilesLast,
    ChannelsLast, ...). The callables: `weight` w -> U (P, O, C), `weight_adjoint` dU (P, O, C)
    -> gw, and the four transforms on one batch chunk, `input` (x, v), `output` (m, y),
    `output_adjoint` (gy, dm), `input_adjoint` (dv, gx), each filling its second argument,
    whose tile axis may be longer than the chunk's tiles. `chunk_elems`: the most elements of
    one chunk's transformed input and output together (0: `_CHUNK_ELEMS`). `tile_sum`: the
    transform position at which the output adjoint holds each tile's sum of the output gradient
    (see `tile_sum_position`), from which `run_backward` forms the bias gradient; -1: none."""
    layout: object
    tiles: int
    weight: object
    weight_adjoint: object
    input: object
    output: object
    output_adjoint: object
    input_adjoint: object
    chunk_elems: int = 0
    tile_sum: int = -1


def tile_sum_position(s):
    """The position i*a+i of scheme `s` whose output adjoint (A g A^T) is the sum of the
    output tile g: i is a column of A^T that is all ones (F2, F2S2, F4: column 1). -1 if
    none. The bias gradient is then a sum over the tiles of one transformed plane, which the
    backward has in cache, instead of one more pass over gy (0.3-0.4 ms per step of the
    32 -> 64 stride-2 layer at 28x28, batch 64, 2% of it)."""
    for i in range(s.a):
        if all(row[i] == 1 for row in s.at):
            return i * s.a + i
    return -1


def run_forward(x, w, g, plan, keep=False):
    """x (N, C, *size) contiguous, w (O, C, *kernel) -> y (N, O, *out), no bias, in batch
    chunks whose transformed tensors stay in cache (see `_CHUNK_ELEMS`).

    With `keep`, returns (y, vs): vs the transformed input, one array per batch chunk, when it
    takes at most _KEEP_BYTES (else None), so the weight gradient need not transform x again."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = w.shape[0]
    lay, L = plan.layout, plan.tiles
    P = lay.positions
    u = lay.forward_weight(xp, plan.weight(w))
    y = xp.empty((n, o) + g.out, x.dtype)
    chunks = batch_chunks(n, P * (c + o) * L, plan.chunk_elems or _CHUNK_ELEMS)
    tb = _tile_axis(chunks[0][1] * L)
    kept = keep and P * c * (n * L + len(chunks)) * x.itemsize <= _KEEP_BYTES
    # the kept chunks lie one after the other in one allocation
    vsize = sum(lay.size(c, _tile_axis((b - a) * L)) for a, b in chunks) if kept else \
        lay.size(c, tb)
    vbuf = xp.empty(vsize, x.dtype)
    mbuf = xp.empty(lay.size(o, tb), x.dtype)
    vs = []
    for a, b in chunks:
        t = (b - a) * L
        tp = _tile_axis(t)
        v = lay.view(vbuf, c, tp)
        if kept:
            vbuf = vbuf[lay.size(c, tp):]
        lay.zero_tiles(v, t)
        plan.input(x[a:b], v)
        vs.append(v)
        m = lay.output_view(mbuf, o, tp)
        lay.forward(xp, u, v, m)
        plan.output(m, y[a:b])
    if not keep:
        return y
    return y, (vs if kept else None)


def run_backward(gy, w, g, plan, x=None, need_x=True, vs=None, gb=None):
    """gy (N, O, *out) contiguous -> (gx (N, C, *size) or None, gw (w's shape) or None); the
    weight gradient needs the forward input `x`, or `vs`, its transform kept by `run_forward`
    (read only: a retained graph may run backward again). `gb` (O,), if given, is filled with
    the bias gradient, gy summed over all but the channel axis (from the output adjoint where
    the plan has a `tile_sum` position)."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    c = w.shape[1]
    lay, L = plan.layout, plan.tiles
    P = lay.positions
    u = plan.weight(w) if need_x else None
    # the forward's chunks, as `vs` holds them
    chunks = batch_chunks(n, P * (c + o) * L, plan.chunk_elems or _CHUNK_ELEMS)
    tb = _tile_axis(chunks[0][1] * L)
    vbuf = xp.empty(lay.size(c, tb), gy.dtype)
    mbuf = xp.empty(lay.size(o, tb), gy.dtype)
    gx = xp.empty((n, c) + g.size, gy.dtype) if need_x else None
    need_w = x is not None or vs is not None
    du = xp.empty((P, o, c), gy.dtype) if need_w else None
    dub = xp.empty_like(du) if need_w and len(chunks) > 1 else du
    for i, (a, b) in enumerate(chunks):
        t = (b - a) * L
        tp = _tile_axis(t)
        dm = lay.adjoint_view(mbuf, o, tp)
        lay.zero_tiles(dm, t)  # the padding tiles add nothing to the weight gradient
        plan.output_adjoint(gy[a:b], dm)
        if gb is not None and plan.tile_sum >= 0:
            if a:
                gb += lay.tile_sum(dm, plan.tile_sum)
            else:
                gb[...] = lay.tile_sum(dm, plan.tile_sum)
        v = lay.view(vbuf, c, tp)
        if need_w:
            if vs is not None:
                xv = vs[i]
            else:
                lay.zero_tiles(v, t)
                plan.input(x[a:b], v)
                xv = v
            lay.weight_grad(xp, dm, xv, du if a == 0 else dub)
            if a:
                du += dub
        if need_x:
            lay.input_grad(xp, u, dm, v)
            plan.input_adjoint(v, gx[a:b])
    gw = None if du is None else plan.weight_adjoint(du).astype(gy.dtype, copy=False)
    if gb is not None and plan.tile_sum < 0:
        gb[...] = gy.sum(axis=0).reshape(o, -1).sum(axis=1)
    return gx, gw


def plan(g, s=F2):
    """The Plan of scheme `s` on the 3x3 geometry `g`."""
    th, tw = _tiles(g, s)
    return Plan(TilesLast(s.positions), th * tw, lambda w: weight_transform(w, s),
                lambda du: weight_transform_adjoint(du, s),
                lambda x, v: _input_transform(x, g, v, s),
                lambda m, y: _output_transform(m, g, y, s),
                lambda gy, dm: _output_adjoint(gy, g, dm, s),
                lambda dv, gx: _input_adjoint(dv, g, gx, s))


def conv_forward(x, w, g, s=F2, keep=False):
    """x (N, C, H, W) contiguous, w (O, C, 3, 3) -> y (N, O, Ho, Wo), no bias (see
    `run_forward`)."""
    return run_forward(x, w, g, plan(g, s), keep)


def conv_backward(gy, w, g, x=None, need_x=True, s=F2, vs=None):
    """gy (N, O, Ho, Wo) contiguous -> (gx (N, C, H, W) or None, gw (O, C, 3, 3) or None)
    (see `run_backward`)."""
    return run_backward(gy, w, g, plan(g, s), x, need_x, vs)
