"""Winograd F(2x2, 3x3) convolution: 3x3, stride 1, dilation 1, one group.

Each 2x2 output tile is A^T [(G w G^T) * (B^T d B)] A for the 4x4 input tile d under it, so the
9 multiply-adds per output and channel pair of im2col become 4: the product is one batched GEMM
over the 16 transform positions, (16, O, C) @ (16, C, T) for T tiles. Backward is the exact
adjoint of the same linear maps, so it is two more 16-position GEMMs on the transformed tensors:
dU = dM @ V^T (weight gradient, transformed back by G^T . G) and dV = U^T @ dM (input gradient,
transformed back by B . B^T and added over the overlapping tiles).

F(4x4, 3x3) would cut the GEMM work again by 1.8x, but its transforms multiply by up to 8 and
lose about two more digits in float32; F(2x2) stays within the float32 tolerances of the conv
tests (its transforms are exact in binary: only adds and halves).

The transforms run as numba loops (mytorch.ops._kernels_winograd) on NumPy float arrays; the
array-module references here serve CuPy and the tests. Work goes in batch chunks whose
transformed tensors stay in cache (see `_CHUNK_ELEMS`).
"""
from mytorch.backend import array_module
from mytorch.ops import _kernels_winograd as _kw

# Transformed input and output of one batch chunk hold at most this many elements in all:
# 4 MiB of float32 ran the 16 small GEMMs ~2x faster than whole-batch tensors (16 MiB+).
_CHUNK_ELEMS = 1 << 20

BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))  # input transform (4, 4)
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))    # weight transform (4, 3)
AT = ((1, 1, 1, 0), (0, 1, -1, -1))                               # output transform (2, 4)


# Fewest input channels for the Winograd path, measured fwd+bwd at batch 64 (Winograd time /
# im2col time): C_in 1 -> 32 at 28x28: 3.0; 3 -> 16 at 32x32: 2.3; 8 -> 16 at 28x28: 0.95;
# 16 -> 32 at 14x14: 0.80; 32 -> 64 at 28x28: 0.78. Thin GEMMs do not pay for the transforms.
_MIN_C = 8


def applies(g, groups, c_in):
    """Whether the Winograd path runs this convolution (a 2-D geometry `g`, see
    mytorch.ops.window)."""
    return (len(g.kernel) == 2 and g.kernel == (3, 3) and groups == 1 and c_in >= _MIN_C
            and g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1)


def _tiles(g):
    return -(-g.Ho // 2), -(-g.Wo // 2)


def _chunks(n, per_item):
    step = max(1, _CHUNK_ELEMS // max(per_item, 1))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def _matrices(xp, dtype):
    return (xp.asarray(BT, dtype), xp.asarray(G, dtype), xp.asarray(AT, dtype))


def weight_transform(w):
    """w (O, C, 3, 3) -> U (16, O, C) = G w G^T at each of the 4x4 positions."""
    xp = array_module(w)
    _, gm, _ = _matrices(xp, w.dtype)
    u = xp.einsum("ik,ockl,jl->ijoc", gm, w, gm)
    return xp.ascontiguousarray(u.reshape((16,) + w.shape[:2]))


def weight_transform_adjoint(du):
    """dU (16, O, C) -> gw (O, C, 3, 3) = G^T dU G."""
    xp = array_module(du)
    _, gm, _ = _matrices(xp, du.dtype)
    return xp.einsum("ik,ijoc,jl->ockl", gm, du.reshape((4, 4) + du.shape[1:]), gm)


# ---------------------------------------------------------------------------------------
# transform references on the array module (CuPy, and the tests of the numba loops)

def _padded(x, g, th, tw):
    """x (n, C, H, W) -> (n, C, 2th+2, 2tw+2): x at (pt, pl), zeros elsewhere."""
    if x.shape[2:] == (2 * th + 2, 2 * tw + 2) and g.pt == g.pl == 0:
        return x  # even 'valid' input: the tiles cover it exactly
    xp = array_module(x)
    q = xp.zeros(x.shape[:2] + (2 * th + 2, 2 * tw + 2), x.dtype)
    q[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W] = x
    return q


def input_transform_reference(x, g, out):
    """x (n, C, H, W) -> out (16, C, n*th*tw) = B^T d B for each 4x4 tile d (stride 2)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    th, tw = _tiles(g)
    q = _padded(x, g, th, tw)
    s = q.strides
    d = xp.lib.stride_tricks.as_strided(q, (n, c, th, tw, 4, 4),
                                        (s[0], s[1], 2 * s[2], 2 * s[3], s[2], s[3]))
    bt, _, _ = _matrices(xp, x.dtype)
    v = xp.einsum("ik,nctukl,jl->ijcntu", bt, d, bt)
    out[...] = v.reshape(out.shape)
    return out


def output_transform_reference(m, g, out):
    """m (16, O, n*th*tw) -> out (n, O, Ho, Wo) = A^T m A per tile, cropped at the edges."""
    xp = array_module(m)
    n, o = out.shape[:2]
    th, tw = _tiles(g)
    _, _, at = _matrices(xp, m.dtype)
    y = xp.einsum("ai,ijontu,bj->notaub", at, m.reshape(4, 4, o, n, th, tw), at)
    out[...] = y.reshape(n, o, 2 * th, 2 * tw)[:, :, :g.Ho, :g.Wo]
    return out


def output_adjoint_reference(gy, g, out):
    """gy (n, O, Ho, Wo) -> out (16, O, n*th*tw) = A gy A^T per zero-extended 2x2 tile."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    th, tw = _tiles(g)
    q = xp.zeros((n, o, 2 * th, 2 * tw), gy.dtype)
    q[:, :, :g.Ho, :g.Wo] = gy
    _, _, at = _matrices(xp, gy.dtype)
    dm = xp.einsum("ai,notaub,bj->ijontu", at, q.reshape(n, o, th, 2, tw, 2), at)
    out[...] = dm.reshape(out.shape)
    return out


def input_adjoint_reference(dv, g, out):
    """dv (16, C, n*th*tw) -> out (n, C, H, W) = B dv B^T per tile, summed where tiles
    overlap, padding dropped."""
    xp = array_module(dv)
    n, c = out.shape[:2]
    th, tw = _tiles(g)
    bt, _, _ = _matrices(xp, dv.dtype)
    dd = xp.einsum("ik,ijcntu,jl->nctukl", bt, dv.reshape(4, 4, c, n, th, tw), bt)
    q = xp.zeros((n, c, th + 1, 2, tw + 1, 2), dv.dtype)
    for p in range(2):
        for r in range(2):
            block = dd[:, :, :, :, 2 * p:2 * p + 2, 2 * r:2 * r + 2]  # (n, c, th, tw, 2, 2)
            q[:, :, p:p + th, :, r:r + tw, :] += block.transpose(0, 1, 2, 4, 3, 5)
    q = q.reshape(n, c, 2 * th + 2, 2 * tw + 2)
    out[...] = q[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W]
    return out


# The dispatchers take transformed buffers (16, channels, tp) whose tile axis may be longer than
# the n*th*tw tiles (see `_tile_axis`); the references see only the tiles.

def _input_transform(x, g, out):
    th, tw = _tiles(g)
    if _kw.available(x, out):
        return _kw.input_transform(_padded(x, g, th, tw), out)
    return input_transform_reference(x, g, out[:, :, :x.shape[0] * th * tw])


def _output_transform(m, g, out):
    if _kw.available(m, out):
        return _kw.output_transform(m, out)
    th, tw = _tiles(g)
    return output_transform_reference(m[:, :, :out.shape[0] * th * tw], g, out)


def _output_adjoint(gy, g, out):
    th, tw = _tiles(g)
    if _kw.available(gy, out):
        return _kw.output_adjoint(gy, out)
    return output_adjoint_reference(gy, g, out[:, :, :gy.shape[0] * th * tw])


def _input_adjoint(dv, g, out):
    th, tw = _tiles(g)
    if _kw.available(dv, out):
        q = _kw.input_adjoint(dv, array_module(dv).empty(
            out.shape[:2] + (2 * th + 2, 2 * tw + 2), dv.dtype))
        out[...] = q[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W]
        return out
    return input_adjoint_reference(dv[:, :, :out.shape[0] * th * tw], g, out)


def _tile_axis(t):
    """Length of the tile axis for t tiles: odd, so that the 16 positions' planes are not a
    multiple of 4 KiB apart (when they were, the transforms' 16 streams fought over the same
    L1 sets: 4-17x slower loops measured at the MNIST network's conv2)."""
    return t | 1


# ---------------------------------------------------------------------------------------
# convolution drivers (the interface of conv._conv_forward / conv._conv_backward)

def conv_forward(x, w, g):
    """x (N, C, H, W) contiguous, w (O, C, 3, 3) -> y (N, O, Ho, Wo), no bias."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = w.shape[0]
    th, tw = _tiles(g)
    L = th * tw
    u = weight_transform(w)
    y = xp.empty((n, o) + g.out, x.dtype)
    chunks = _chunks(n, 16 * (c + o) * L)
    tb = _tile_axis(chunks[0][1] * L)
    vbuf = xp.empty(16 * c * tb, x.dtype)
    mbuf = xp.empty(16 * o * tb, x.dtype)
    for a, b in chunks:
        t = (b - a) * L
        tp = _tile_axis(t)
        v = vbuf[:16 * c * tp].reshape(16, c, tp)
        v[:, :, t:] = 0
        _input_transform(x[a:b], g, v)
        m = mbuf[:16 * o * tp].reshape(16, o, tp)
        xp.matmul(u, v, out=m)
        _output_transform(m, g, y[a:b])
    return y


def conv_backward(gy, w, g, x=None, need_x=True):
    """gy (N, O, Ho, Wo) contiguous -> (gx (N, C, H, W) or None, gw (O, C, 3, 3) or None);
    the weight gradient needs the forward input `x`."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    c = w.shape[1]
    th, tw = _tiles(g)
    L = th * tw
    u = weight_transform(w) if need_x else None
    chunks = _chunks(n, 16 * (c + o) * L)
    tb = _tile_axis(chunks[0][1] * L)
    vbuf = xp.empty(16 * c * tb, gy.dtype)
    mbuf = xp.empty(16 * o * tb, gy.dtype)
    gx = xp.empty((n, c) + g.size, gy.dtype) if need_x else None
    du = xp.empty((16, o, c), gy.dtype) if x is not None else None
    dub = xp.empty_like(du) if du is not None and len(chunks) > 1 else du
    for a, b in chunks:
        t = (b - a) * L
        tp = _tile_axis(t)
        dm = mbuf[:16 * o * tp].reshape(16, o, tp)
        dm[:, :, t:] = 0  # the padding tiles add nothing to the weight gradient
        _output_adjoint(gy[a:b], g, dm)
        v = vbuf[:16 * c * tp].reshape(16, c, tp)
        v[:, :, t:] = 0
        if x is not None:
            _input_transform(x[a:b], g, v)
            xp.matmul(dm, v.transpose(0, 2, 1), out=du if a == 0 else dub)
            if a:
                du += dub
        if need_x:
            xp.matmul(u.transpose(0, 2, 1), dm, out=v)
            _input_adjoint(v, g, gx[a:b])
    gw = None if du is None else weight_transform_adjoint(du).astype(gy.dtype, copy=False)
    return gx, gw

