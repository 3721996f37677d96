"""1-D Winograd F(4, 3) for Conv1d with kernel size 3, stride 1, dilation 1, one group.

A 1-D convolution runs as a 2-D one of height 1 (kernel (1, 3)), so the 3x3 schemes of
mytorch.ops.winograd never apply and im2col would copy the input three times and do 3
multiply-adds per output and channel pair. F(4, 3) makes each run of 4 outputs
A^T [(G w) * (B^T d)] from the 6 inputs d under it: 6 multiplies per 4 outputs (1.5 instead of
3), the product one batched GEMM over the 6 transform positions, (6, O, C) @ (6, C, T) for T
tiles. Backward is the exact adjoint of the same linear maps, as in winograd.py: dU = dM @ V^T
(weight gradient, transformed back by G^T) and dV = U^T @ dM (input gradient, transformed back
by B and added over the overlapping tiles).

Accuracy in float32: the transforms (points 0, +-1, +-2) multiply by up to 8 and divide by 6
and 24, along one axis only. The error, measured against float64 at C = 17..256, is
4e-7..1.8e-6 of the output's largest magnitude, forward and both gradients (im2col: 1e-7..5e-7);
the tests hold it to 2e-5, the bound of 2-D F(4x4, 3x3).

The transforms run as numba loops (mytorch.ops._kernels_winograd1d) on NumPy float arrays; the
array-module references here serve CuPy and the tests; the chunked drivers are winograd.py's
(`winograd.run_forward`, on this algorithm's Plan). conv_select times this candidate
("winograd1d") against im2col per shape; it is never the rule-based choice.
"""
from mytorch.backend import array_module
from mytorch.ops import _kernels_winograd1d as _kw
from mytorch.ops import winograd

# F(4, 3) at the points 0, 1, -1, 2, -2 (and infinity): the 1-D factors of winograd.F4.
BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
      (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
     (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
M = 4  # outputs per tile
A = 6  # inputs per tile, the transform positions


def applies(g, groups):
    """Whether F(4, 3) can run this convolution (a geometry `g`, see mytorch.ops.window): a
    1-D conv (height 1, no height padding) with kernel 3, stride 1, dilation 1, one group."""
    return (len(g.kernel) == 2 and g.kernel == (1, 3) and g.stride == (1, 1)
            and g.dilation == (1, 1) and groups == 1 and g.H == 1 and g.pt == g.pb == 0)


def _tiles(g):
    return -(-g.Wo // M)


def _padded(g):
    """Input extent the tiles read: 4T + 2 (at least the padded input, at most 3 more)."""
    return M * _tiles(g) + A - M


def weight_transform(w):
    """w (O, C, 1, 3) -> U (6, O, C) = G w."""
    xp = array_module(w)
    u = xp.asarray(G, w.dtype) @ w.reshape(-1, 3).T  # (6, O*C)
    return u.reshape((A,) + w.shape[:2])


def weight_transform_adjoint(du):
    """dU (6, O, C) -> gw (O, C, 1, 3) = G^T dU."""
    xp = array_module(du)
    gw = du.reshape(A, -1).T @ xp.asarray(G, du.dtype)  # (O*C, 3)
    return gw.reshape(du.shape[1:] + (1, 3))


# ---------------------------------------------------------------------------------------
# transform references on the array module (CuPy, and the tests of the numba loops).
# Rows are (n, C, L): the conv's height-1 axis dropped.

def input_transform_reference(x, g, out):
    """x (n, C, L) -> out (6, C, n*T) = B^T d for each 6-input tile d (4 apart)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    T = _tiles(g)
    q = xp.zeros((n, c, _padded(g)), x.dtype)
    q[:, :, g.pl:g.pl + g.W] = x
    st = q.strides
    d = xp.lib.stride_tricks.as_strided(q, (n, c, T, A), (st[0], st[1], M * st[2], st[2]))
    v = xp.einsum("ik,nctk->icnt", xp.asarray(BT, x.dtype), d)
    out[...] = v.reshape(out.shape)
    return out


def output_transform_reference(m, g, out):
    """m (6, O, n*T) -> out (n, O, Lo) = A^T m per tile, cropped at the end."""
    xp = array_module(m)
    n, o = out.shape[:2]
    T = _tiles(g)
    y = xp.einsum("ai,iont->nota", xp.asarray(AT, m.dtype), m.reshape(A, o, n, T))
    out[...] = y.reshape(n, o, M * T)[:, :, :g.Wo]
    return out


def output_adjoint_reference(gy, g, out):
    """gy (n, O, Lo) -> out (6, O, n*T) = A gy per zero-extended 4-output tile."""
    xp = array_module(gy)
    n, o = gy.shape[:2]
    T = _tiles(g)
    q = xp.zeros((n, o, M * T), gy.dtype)
    q[:, :, :g.Wo] = gy
    dm = xp.einsum("ai,nota->iont", xp.asarray(AT, gy.dtype), q.reshape(n, o, T, M))
    out[...] = dm.reshape(out.shape)
    return out


def input_adjoint_reference(dv, g, out):
    """dv (6, C, n*T) -> out (n, C, L) = B dv per tile, summed where tiles overlap, padding
    dropped."""
    xp = array_module(dv)
    n, c = out.shape[:2]
    T = _tiles(g)
    dd = xp.einsum("ik,icnt->nctk", xp.asarray(BT, dv.dtype), dv.reshape(A, c, n, T))
    q = xp.zeros((n, c, _padded(g)), dv.dtype)
    for k in range(A):  # each tile offset as one strided slice
        q[:, :, k:k + M * T:M] += dd[:, :, :, k]
    out[...] = q[:, :, g.pl:g.pl + g.W]
    return out


# The dispatchers take transformed buffers (6, channels, tp) whose tile axis may be longer than
# the n*T tiles; the references see only the tiles. Rows are (n, C, 1, L) arrays here.

def _input_transform(x, g, out):
    x = x.reshape(x.shape[0], x.shape[1], x.shape[3])
    if _kw.available(x, out):
        return _kw.input_transform(x, out, g.pl, _padded(g))
    return input_transform_reference(x, g, out[:, :, :x.shape[0] * _tiles(g)])


def _output_transform(m, g, out):
    y = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    if _kw.available(m, y):
        _kw.output_transform(m, y)
    else:
        output_transform_reference(m[:, :, :y.shape[0] * _tiles(g)], g, y)
    return out


def _output_adjoint(gy, g, out):
    gy = gy.reshape(gy.shape[0], gy.shape[1], gy.shape[3])
    if _kw.available(gy, out):
        return _kw.output_adjoint(gy, out)
    return output_adjoint_reference(gy, g, out[:, :, :gy.shape[0] * _tiles(g)])


def _input_adjoint(dv, g, out):
    gx = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    if _kw.available(dv, gx):
        _kw.input_adjoint(dv, gx, g.pl, _padded(g))
    else:
        input_adjoint_reference(dv[:, :, :gx.shape[0] * _tiles(g)], g, gx)
    return out


# ---------------------------------------------------------------------------------------
# convolution drivers: winograd.py's chunked ones, on this algorithm's Plan

def plan(g):
    """The winograd.Plan of F(4, 3) on the 1-D geometry `g`."""
    return winograd.Plan(winograd.TilesLast(A), _tiles(g), weight_transform,
                         weight_transform_adjoint,
                         lambda x, v: _input_transform(x, g, v),
                         lambda m, y: _output_transform(m, g, y),
                         lambda gy, dm: _output_adjoint(gy, g, dm),
                         lambda dv, gx: _input_adjoint(dv, g, gx))


def conv_forward(x, w, g, keep=False):
    """x (N, C, 1, L) contiguous, w (O, C, 1, 3) -> y (N, O, 1, Lo), no bias (see
    winograd.run_forward: with `keep` also the transformed input, or None)."""
    return winograd.run_forward(x, w, g, plan(g), keep)


def conv_backward(gy, w, g, x=None, need_x=True, vs=None):
    """gy (N, O, 1, Lo) contiguous -> (gx (N, C, 1, L) or None, gw (O, C, 1, 3) or None) (see
    winograd.run_backward)."""
    return winograd.run_backward(gy, w, g, plan(g), x, need_x, vs)
