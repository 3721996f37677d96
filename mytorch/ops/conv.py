"""Convolution, pooling and interpolation.

Every op has two paths. The default is a hand-written Function: convolution is im2col into
columns (C*kh*kw, n*Ho*Wo) for a batch chunk followed by one GEMM per group, and its input
gradient is col2im of the transposed product. im2col, col2im and max pooling run as numba loops
(mytorch.ops._kernels_conv) on NumPy float arrays; their array-module references here (strided
window copies, one slice-add per kernel offset, never `np.add.at`) serve CuPy and the tests.
Adaptive pooling and interpolation are separable linear maps, applied as two matmuls (global
pooling as a mean). `auto=True` builds the same result from Tensor ops (slicing, stack, matmul,
max, indexing) and lets autograd derive the gradient; the tests hold both paths to PyTorch.

3x3 stride-1 convolutions with 8 or more input channels take Winograd F(2x2, 3x3) instead of
im2col (mytorch.ops.winograd: 4 multiplies per output and channel pair instead of 9).

1-D ops run the 2-D code on a height-1 view; mytorch.ops.conv3d runs the convolution drivers
and Functions here on its own 3-D geometry (see `Geom`).
"""
import math
from collections import namedtuple

import numpy as np

from mytorch import dtypes
from mytorch.amp import autocast_mode as _amp
from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops import _kernels_conv as _kc
from mytorch.ops import winograd

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d",
           "conv2d", "conv_transpose1d", "conv_transpose2d", "interpolate", "max_pool1d",
           "max_pool2d", "upsample"]

# im2col works on batch chunks whose column buffer holds at most this many elements: small
# enough that a chunk's columns are still in cache when the GEMM reads them (4 MiB of float32
# ran 1.2x faster than 16 MiB on the stride-1 benchmark convs).
_CHUNK_ELEMS = 1 << 20
_KEEP_COLS_BYTES = 16 << 20  # forward keeps a conv's column matrix up to this size


# ---------------------------------------------------------------------------------------
# geometry and argument parsing

class Geom(namedtuple("Geom", "H W pt pb pl pr Hp Wp kh kw sh sw dh dw Ho Wo")):
    """One 2-D sliding-window problem: input (H, W) zero-padded by (pt, pb, pl, pr) into
    (Hp, Wp); kernel (kh, kw), stride (sh, sw), dilation (dh, dw); output (Ho, Wo).

    The conv drivers read only `size`, `kernel`, `out` (tuples), `im2col`, `col2im` and the
    batch-chunk limits, which conv3d's geometry has too.
    """
    __slots__ = ()
    chunk_elems = property(lambda g: _CHUNK_ELEMS)  # read at call time: the tests lower them
    keep_cols_bytes = property(lambda g: _KEEP_COLS_BYTES)
    size = property(lambda g: (g.H, g.W))
    kernel = property(lambda g: (g.kh, g.kw))
    out = property(lambda g: (g.Ho, g.Wo))

    def im2col(self, x, out):
        return _im2col(x, self, out)

    def col2im(self, cols, out):
        return _col2im(cols, self, out)


def _pair(v, n, what, op):
    """An int or an n-sequence of ints -> tuple of n ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    try:
        t = tuple(int(a) for a in v)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a tuple of {n} ints, got {v!r}") from None
    if len(t) == 1 and n > 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{op}: {what} must have {n} element(s), got {v!r}")
    return t


def _geom(op, size, kernel, stride, pads, dilation, ceil_mode=False):
    """Output size of a window op; `pads` is ((pt, pb), (pl, pr))."""
    (H, W), (kh, kw), (sh, sw), (dh, dw) = size, kernel, stride, dilation
    (pt, pb), (pl, pr) = pads
    if min(kh, kw) < 1 or min(sh, sw) < 1 or min(dh, dw) < 1:
        raise ValueError(f"{op}: kernel size {kernel}, stride {stride} and dilation {dilation} "
                         "must be positive")
    if min(pt, pb, pl, pr) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {pads}")
    out = []
    for n, lo, hi, k, s, d in ((H, pt, pb, kh, sh, dh), (W, pl, pr, kw, sw, dw)):
        span = n + lo + hi - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + lo:
            o -= 1  # the last window must start inside the input or the left padding
        if o < 1:  # with ceil_mode a window may still hang past a too-small input, as torch
            raise RuntimeError(
                f"{op}: kernel size {tuple(kernel)} (dilation {tuple(dilation)}) is larger than "
                f"the padded input {(H + pt + pb, W + pl + pr)} (input spatial size {(H, W)}, "
                f"padding {pads})")
        out.append(o)
    Ho, Wo = out
    # The padded extent actually read by the windows (ceil_mode may reach past `hi`).
    Hp = max(H + pt + pb, (Ho - 1) * sh + dh * (kh - 1) + 1)
    Wp = max(W + pl + pr, (Wo - 1) * sw + dw * (kw - 1) + 1)
    return Geom(H, W, pt, Hp - H - pt, pl, Wp - W - pl, Hp, Wp, kh, kw, sh, sw, dh, dw, Ho, Wo)


def _as_strided(xp, a, shape, strides):
    if xp is np:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(a, shape, strides)


def _pad(a, g, value=0):
    """(N, C, H, W) -> (N, C, Hp, Wp) filled with `value` around `a` (no copy if no padding)."""
    if g.Hp == g.H and g.Wp == g.W:
        return a
    xp = array_module(a)
    out = xp.full(a.shape[:2] + (g.Hp, g.Wp), value, a.dtype)
    out[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W] = a
    return out


def _crop(a, g):
    if g.Hp == g.H and g.Wp == g.W:
        return a
    return array_module(a).ascontiguousarray(a[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W])


def _windows(a, g):
    """Padded (N, C, Hp, Wp) -> read-only view (N, C, kh, kw, Ho, Wo) of every window."""
    n, c = a.shape[:2]
    s = a.strides
    return _as_strided(array_module(a), a, (n, c, g.kh, g.kw, g.Ho, g.Wo),
                       (s[0], s[1], s[2] * g.dh, s[3] * g.dw, s[2] * g.sh, s[3] * g.sw))


def _tap(a, g, i, j):
    """The (N, C, Ho, Wo) strided slice of padded `a` under kernel offset (i, j)."""
    h0, w0 = i * g.dh, j * g.dw
    return a[:, :, h0:h0 + g.sh * (g.Ho - 1) + 1:g.sh, w0:w0 + g.sw * (g.Wo - 1) + 1:g.sw]


def _chunks(n, per_item, limit):
    """Batch ranges [(a, b), ...] whose per-chunk buffers stay near `limit` elements."""
    step = max(1, limit // max(per_item, 1))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


# ---------------------------------------------------------------------------------------
# convolution kernels on arrays (shared by conv and transposed conv)

def _im2col_reference(x, g, out):
    """x (n, C, H, W) -> out (C, kh, kw, n, Ho, Wo): pad, then copy the window view."""
    out[...] = _windows(_pad(x, g), g).transpose(1, 2, 3, 0, 4, 5)
    return out


def _col2im_reference(cols, g, out):
    """cols (C, kh, kw, n, Ho, Wo) summed into out (n, C, H, W) (zero on entry): one strided
    slice-add per kernel offset into a padded buffer."""
    xp = array_module(cols)
    gpad = xp.zeros(out.shape[:2] + (g.Hp, g.Wp), out.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            _tap(gpad, g, i, j)[...] += cols[:, i, j].transpose(1, 0, 2, 3)
    out += _crop(gpad, g)
    return out


def _im2col(x, g, out):
    if _kc.available(x, out):
        return _kc.im2col(x, out, g)
    return _im2col_reference(x, g, out)


def _col2im(cols, g, out):
    if _kc.available(cols, out):
        return _kc.col2im(cols, out, g)
    return _col2im_reference(cols, g, out)


def _conv_forward(x, w, g, groups, keep_cols=False):
    """x (N, C, H, W) contiguous, w (O, C/groups, kh, kw) -> (N, O, Ho, Wo), no bias (with one
    more spatial dim throughout for a 3-D geometry `g`).

    Per batch chunk of n: cols (C*kh*kw, n*Ho*Wo), then one GEMM per group (a batch of tiny
    per-image GEMMs is several times slower at these image sizes). With `keep_cols`, returns
    (y, cols) where cols is the whole batch's column matrix if it takes at most
    g.keep_cols_bytes (built in one chunk; else None), so backward need not build it again.
    """
    n, c = x.shape[:2]
    if winograd.applies(g, groups, c):  # 3x3 stride 1: fewer multiplies than im2col
        y = winograd.conv_forward(x, w, g)
        return (y, None) if keep_cols else y
    xp = array_module(x)
    o = w.shape[0]
    kernel, out = g.kernel, g.out
    k = c * math.prod(kernel)
    L = math.prod(out)
    wm = w.reshape(groups, o // groups, k // groups)
    y = xp.empty((n, o) + out, x.dtype)
    keep = keep_cols and k * n * L * x.itemsize <= g.keep_cols_bytes
    chunks = [(0, n)] if keep else _chunks(n, k * L, g.chunk_elems)
    nb = chunks[0][1]
    cbuf = xp.empty(k * nb * L, x.dtype)
    ybuf = xp.empty(o * nb * L, x.dtype)
    for a, b in chunks:
        m = b - a
        cols = g.im2col(x[a:b], cbuf[:k * m * L].reshape((c,) + kernel + (m,) + out))
        cols = cols.reshape(groups, k // groups, m * L)
        yt = ybuf[:o * m * L].reshape(groups, o // groups, m * L)
        for q in range(groups):
            xp.matmul(wm[q], cols[q], out=yt[q])
        y[a:b] = yt.reshape((o, m) + out).swapaxes(0, 1)
    if not keep_cols:
        return y
    return y, (cbuf.reshape(groups, k // groups, n * L) if keep else None)


def _conv_backward(gy, w, g, groups, x=None, need_x=True, cols=None):
    """Conv gradients: gy (N, O, Ho, Wo) -> (gx (N, C, H, W) or None, gw or None) (3-D as in
    `_conv_forward`).

    `x` is the (contiguous) input; without it no weight gradient is formed. One pass over batch
    chunks shares the transposed gy (O, n*Ho*Wo) between both gradients. `cols`: the forward's
    column matrix of the whole batch (see `_conv_forward`), used instead of rebuilding it.
    """
    n, o = gy.shape[:2]
    c = w.shape[1] * groups
    if winograd.applies(g, groups, c):
        return winograd.conv_backward(gy, w, g, x, need_x)
    xp = array_module(gy)
    kernel, out = g.kernel, g.out
    k = c * math.prod(kernel)
    L = math.prod(out)
    wm = w.reshape(groups, o // groups, k // groups)
    chunks = [(0, n)] if cols is not None else _chunks(n, k * L, g.chunk_elems)
    nb = chunks[0][1]
    gbuf = xp.empty(o * nb * L, gy.dtype)
    cbuf = xp.empty(k * nb * L, gy.dtype)
    gx = xp.zeros((n, c) + g.size, gy.dtype) if need_x else None
    gw = xp.empty((groups, o // groups, k // groups), gy.dtype) if x is not None else None
    for a, b in chunks:
        m = b - a
        gt = gbuf[:o * m * L].reshape(o, m, L)
        gt[...] = gy[a:b].reshape(m, o, L).transpose(1, 0, 2)
        gt = gt.reshape(groups, o // groups, m * L)
        cshape = (c,) + kernel + (m,) + out
        if x is not None:
            if cols is None:
                cols = g.im2col(x[a:b], cbuf[:k * m * L].reshape(cshape))
                cols = cols.reshape(groups, k // groups, m * L)
            for q in range(groups):
                if a == 0:
                    xp.matmul(gt[q], cols[q].T, out=gw[q])
                else:
                    gw[q] += xp.matmul(gt[q], cols[q].T)
            cols = None
        if need_x:
            gcols = cbuf[:k * m * L].reshape(groups, k // groups, m * L)
            for q in range(groups):
                xp.matmul(wm[q].T, gt[q], out=gcols[q])
            g.col2im(gcols.reshape(cshape), gx[a:b])
    return gx, None if gw is None else gw.reshape(w.shape)


class ConvNd(Function):
    """y = conv(x, w) + b on 2-D (1-D as height 1) or 3-D inputs; see `conv2d`, `conv3d`."""

    @staticmethod
    def forward(ctx, x, w, b, g, groups):
        x = array_module(x).ascontiguousarray(x)
        ctx.save_for_backward(x, w)
        ctx.g, ctx.groups, ctx.has_bias = g, groups, b is not None
        # Small column matrices are kept for the weight gradient (memory for one im2col).
        if ctx.needs_input_grad[1]:
            y, ctx.cols = _conv_forward(x, w, g, groups, keep_cols=True)
        else:
            y, ctx.cols = _conv_forward(x, w, g, groups), None
        if b is not None:
            y += b.reshape((-1,) + (1,) * (y.ndim - 2))
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gy = array_module(gy).ascontiguousarray(gy)
        need = ctx.needs_input_grad
        gx, gw = _conv_backward(gy, w, ctx.g, ctx.groups, x if need[1] else None, need[0],
                                cols=ctx.cols if need[1] else None)
        gb = gy.sum(axis=(0,) + tuple(range(2, gy.ndim))) if ctx.has_bias and need[2] else None
        return gx, gw, gb

    @staticmethod
    def composite(x, w, b, g, groups):  # create_graph: backward runs im2col/col2im kernels
        if not isinstance(g, Geom):
            raise NotImplementedError("3-D convolution has no composite form yet")
        return _conv2d_auto(x, w, b, g, groups)


class ConvTransposeNd(Function):
    """y = conv_transpose(x, w) + b: the input-gradient of the conv that maps y's shape to x's."""

    @staticmethod
    def forward(ctx, x, w, b, g, groups):
        x = array_module(x).ascontiguousarray(x)
        ctx.save_for_backward(x, w)
        ctx.g, ctx.groups, ctx.has_bias = g, groups, b is not None
        y, _ = _conv_backward(x, w, g, groups)
        if b is not None:
            y += b.reshape((-1,) + (1,) * (y.ndim - 2))
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gy = array_module(gy).ascontiguousarray(gy)
        need = ctx.needs_input_grad
        gx = _conv_forward(gy, w, ctx.g, ctx.groups) if need[0] else None
        gw = _conv_backward(x, w, ctx.g, ctx.groups, gy, need_x=False)[1] if need[1] else None
        gb = gy.sum(axis=(0,) + tuple(range(2, gy.ndim))) if ctx.has_bias and need[2] else None
        return gx, gw, gb

    @staticmethod
    def composite(x, w, b, g, groups):  # create_graph: backward runs im2col/col2im kernels
        if not isinstance(g, Geom):
            raise NotImplementedError("3-D transposed convolution has no composite form yet")
        h, wd = x.shape[2:]
        opad = (g.H - ((h - 1) * g.sh - g.pt - g.pb + g.dh * (g.kh - 1) + 1),
                g.W - ((wd - 1) * g.sw - g.pl - g.pr + g.dw * (g.kw - 1) + 1))
        return _conv_transpose2d_auto(x, w, b, g, groups, opad)


# ---------------------------------------------------------------------------------------
# functional convolution

def _conv_pads(padding, kernel, dilation, stride, op):
    """padding (int, tuple, 'same', 'valid') -> ((pt, pb), (pl, pr))."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got "
                             f"{padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride {stride})")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    p = _pair(padding, len(kernel), "padding", op)
    return tuple((v, v) for v in p)


def _check_float(op, *ts):
    dt = ts[0].dtype
    if not dtypes.is_floating(dt):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {dt}")
    for t in ts[1:]:
        if t is not None and t.dtype != dt:
            raise RuntimeError(f"{op}: input dtype {dt} and weight/bias dtype {t.dtype} differ")


def _conv(op, nd, x, weight, bias, stride, padding, dilation, groups, auto,
          transposed=False, output_padding=0):
    """Shared front of conv{1,2}d and conv_transpose{1,2}d: check, lift 1-D to 2-D, dispatch."""
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(x.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight, got shape {tuple(weight.shape)}")
    _check_float(op, x, weight, bias)
    groups = int(groups)
    w_in = weight.shape[0] if transposed else weight.shape[1] * groups
    if groups < 1 or weight.shape[0] % groups:
        raise RuntimeError(f"{op}: groups={groups} must be positive and divide the weight's "
                           f"first dim (weight of shape {tuple(weight.shape)})")
    c_in = x.shape[-nd - 1]
    if c_in != w_in:
        raise RuntimeError(f"{op}: expected input with {w_in} channels (weight of shape "
                           f"{tuple(weight.shape)}, groups={groups}), got input of shape "
                           f"{tuple(x.shape)}")
    c_out = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise RuntimeError(f"{op}: expected bias of shape ({c_out},), got {tuple(bias.shape)}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    kernel = tuple(weight.shape[2:])
    def up(v, what, fill):  # 1-D arguments gain a leading height entry
        return (fill,) + _pair(v, 1, what, op) if nd == 1 else _pair(v, 2, what, op)
    stride, dilation = up(stride, "stride", 1), up(dilation, "dilation", 1)
    if nd == 1 and isinstance(padding, str):
        pads = ((0, 0),) + _conv_pads(padding, kernel[1:], dilation[1:], stride[1:], op)
    elif isinstance(padding, str):
        pads = _conv_pads(padding, kernel, dilation, stride, op)
    else:
        pads = tuple((p, p) for p in up(padding, "padding", 0))
    if not transposed:
        g = _geom(op, tuple(x.shape[2:]), kernel, stride, pads, dilation)
        y = _conv2d_auto(x, weight, bias, g, groups) if auto else \
            ConvNd.apply(x, weight, bias, g, groups)
    else:
        opad = up(output_padding, "output_padding", 0)
        for o, s, d in zip(opad, stride, dilation):
            if o >= max(s, d):
                raise ValueError(f"{op}: output_padding {tuple(opad)} must be smaller than "
                                 f"either stride {stride} or dilation {dilation}")
        size = []
        for n, (lo, hi), k, s, d, o in zip(x.shape[2:], pads, kernel, stride, dilation, opad):
            size.append((n - 1) * s - lo - hi + d * (k - 1) + o + 1)
        if min(size) < 1:
            raise RuntimeError(f"{op}: input of shape {tuple(x.shape)} gives an empty output "
                               f"{tuple(size)} (kernel {kernel}, stride {stride}, padding {pads})")
        # The conv that maps an input of `size` back to x's spatial size.
        g = _geom(op, tuple(size), kernel, stride, pads, dilation)
        g = g._replace(Ho=x.shape[2], Wo=x.shape[3])  # output_padding < dilation may add one
        y = _conv_transpose2d_auto(x, weight, bias, g, groups, opad) if auto else \
            ConvTransposeNd.apply(x, weight, bias, g, groups)
    if nd == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


@_amp.low_precision_op("conv1d")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, auto=False):
    """1-D convolution: input (N, C_in, L), weight (C_out, C_in/groups, k) -> (N, C_out, L_out).

    padding: int, tuple, 'valid' or 'same'. `auto=True` differentiates the Tensor-op composite.

    >>> y = F.conv1d(x, w, padding=1)
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, auto)


@_amp.low_precision_op("conv2d")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, auto=False):
    """2-D convolution: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw)
    -> (N, C_out, H_out, W_out). padding: int, pair, 'valid' or 'same'.

    >>> y = F.conv2d(x, w, b, stride=2, padding=1)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, auto)


@_amp.low_precision_op("conv_transpose1d")
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, auto=False):
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, k).

    L_out = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1.
    """
    return _conv("conv_transpose1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 auto, transposed=True, output_padding=output_padding)


@_amp.low_precision_op("conv_transpose2d")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, auto=False):
    """2-D transposed convolution: input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw).

    >>> y = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    """
    return _conv("conv_transpose2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 auto, transposed=True, output_padding=output_padding)


# ---------------------------------------------------------------------------------------
# composite (auto=True) convolution: Tensor ops only, autograd derives the backward

def _pad_tensor(x, g, value=0.0):
    """Tensor (N, C, H, W) -> (N, C, Hp, Wp) by writing x into a constant tensor."""
    if g.Hp == g.H and g.Wp == g.W:
        return x
    from mytorch import creation
    out = creation.full((x.shape[0], x.shape[1], g.Hp, g.Wp), value, dtype=x.dtype,
                        device=x.device)
    out[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W] = x
    return out


def _taps_tensor(xpad, g):
    """Every kernel offset's strided slice, stacked: (N, C, kh*kw, Ho, Wo)."""
    from mytorch.tensor import stack
    taps = []
    for i in range(g.kh):
        for j in range(g.kw):
            h0, w0 = i * g.dh, j * g.dw
            taps.append(xpad[:, :, h0:h0 + g.sh * (g.Ho - 1) + 1:g.sh,
                             w0:w0 + g.sw * (g.Wo - 1) + 1:g.sw])
    return stack(taps, dim=2)


def _conv2d_auto(x, w, b, g, groups):
    n, c = x.shape[:2]
    o = w.shape[0]
    cols = _taps_tensor(_pad_tensor(x, g), g)  # (N, C, K, Ho, Wo)
    cols = cols.reshape(n, groups, (c // groups) * g.kh * g.kw, g.Ho * g.Wo)
    y = w.reshape(groups, o // groups, -1) @ cols  # (N, groups, O/groups, L)
    y = y.reshape(n, o, g.Ho, g.Wo)
    return y if b is None else y + b.reshape(1, o, 1, 1)


def _conv_transpose2d_auto(x, w, b, g, groups, opad):
    """Transposed conv as a plain conv: spread x by the stride with zeros, pad by
    dilation*(k-1) - padding (crop where negative), convolve with the flipped, in/out-swapped
    weight."""
    from mytorch import creation
    n, c_in, h, wd = x.shape
    c_out = w.shape[1] * groups
    hs, ws = (h - 1) * g.sh + 1, (wd - 1) * g.sw + 1
    if g.sh > 1 or g.sw > 1:
        z = creation.zeros((n, c_in, hs, ws), dtype=x.dtype, device=x.device)
        z[:, :, ::g.sh, ::g.sw] = x
        x = z
    # Padding of the equivalent stride-1 conv on each side; output_padding adds at the end.
    lo_h, lo_w = g.dh * (g.kh - 1) - g.pt, g.dw * (g.kw - 1) - g.pl
    hi_h = g.dh * (g.kh - 1) - g.pt + opad[0]
    hi_w = g.dw * (g.kw - 1) - g.pl + opad[1]
    crop_t, crop_l = max(-lo_h, 0), max(-lo_w, 0)
    crop_b, crop_r = max(-hi_h, 0), max(-hi_w, 0)
    if crop_t or crop_l or crop_b or crop_r:
        x = x[:, :, crop_t:hs - crop_b, crop_l:ws - crop_r]
    gg = _geom("conv_transpose2d", tuple(x.shape[2:]), (g.kh, g.kw), (1, 1),
               ((max(lo_h, 0), max(hi_h, 0)), (max(lo_w, 0), max(hi_w, 0))), (g.dh, g.dw))
    # (C_in, C_out/g, kh, kw) -> (C_out, C_in/g, kh, kw), kernel flipped.
    wt = w.reshape(groups, c_in // groups, c_out // groups, g.kh, g.kw).transpose(1, 2)
    wt = wt.reshape(c_out, c_in // groups, g.kh, g.kw).flip((2, 3))
    return _conv2d_auto(x, wt, b, gg, groups)


# ---------------------------------------------------------------------------------------
# pooling

def _max_pool_reference(x, g):
    """(N, C, H, W) -> y (N, C, Ho, Wo) and the window offset of each first maximum."""
    xp = array_module(x)
    xpad = _pad(x, g, -np.inf)
    y = arg = None
    k = 0
    for i in range(g.kh):
        for j in range(g.kw):
            t = _tap(xpad, g, i, j)
            if y is None:
                y = t.copy()
                arg = xp.zeros(y.shape, _arg_dtype(xp, g))
            else:
                better = t > y
                xp.maximum(y, t, out=y)
                arg = xp.where(better, arg.dtype.type(k), arg)
            k += 1
    return y, arg


def _max_pool_backward_reference(gy, arg, g):
    xp = array_module(gy)
    gpad = xp.zeros(gy.shape[:2] + (g.Hp, g.Wp), gy.dtype)
    zero = gy.dtype.type(0)
    k = 0
    for i in range(g.kh):
        for j in range(g.kw):
            _tap(gpad, g, i, j)[...] += xp.where(arg == k, gy, zero)
            k += 1
    return _crop(gpad, g)


def _arg_dtype(xp, g):
    return xp.int8 if g.kh * g.kw < 128 else xp.int32


class MaxPoolNd(Function):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, g, want_indices):
        xp = array_module(x)
        x = xp.ascontiguousarray(x)
        if _kc.available(x):
            y = xp.empty(x.shape[:2] + (g.Ho, g.Wo), x.dtype)
            arg = xp.empty(y.shape, _arg_dtype(xp, g))
            _kc.max_pool(x, y, arg, g)
        else:
            y, arg = _max_pool_reference(x, g)
        ctx.arg, ctx.g, ctx.dtype = arg, g, x.dtype
        if not want_indices:
            return y
        idx = _max_indices(xp, arg, g)
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    def backward(ctx, gy, _gidx=None):
        g, arg = ctx.g, ctx.arg
        xp = array_module(gy)
        gy = xp.ascontiguousarray(gy)
        if _kc.available(gy):
            gx = xp.zeros(gy.shape[:2] + (g.H, g.W), gy.dtype)
            return _kc.max_pool_backward(gy, arg, gx, g)
        return _max_pool_backward_reference(gy, arg, g)

    @staticmethod
    def composite(x, g, want_indices):  # create_graph: backward adds into strided views
        from mytorch.tensor import Tensor
        _, idx = MaxPoolNd.forward(object.__new__(MaxPoolNd), x.data, g, True)
        n, c = x.shape[:2]  # idx: flat positions in each (H, W) plane, (N, C, Ho, Wo)
        flat = Tensor._wrap(idx.reshape(n, c, -1))
        y = x.reshape(n, c, -1).gather(2, flat).reshape(*idx.shape)
        return (y, Tensor._wrap(idx)) if want_indices else y


def _max_indices(xp, arg, g):
    """Window offsets -> flat indices into each unpadded (H, W) plane (PyTorch's layout)."""
    arg = arg.astype(xp.int64)
    rows = xp.arange(g.Ho, dtype=xp.int64).reshape(-1, 1) * g.sh - g.pt + (arg // g.kw) * g.dh
    cols = xp.arange(g.Wo, dtype=xp.int64) * g.sw - g.pl + (arg % g.kw) * g.dw
    return rows * g.W + cols


class AvgPoolNd(Function):
    """Mean over each window, divided by `div` (per output position)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, g, div):
        xp = array_module(x)
        xpad = _pad(x, g)
        y = None
        for i in range(g.kh):
            for j in range(g.kw):
                t = _tap(xpad, g, i, j)
                y = t.copy() if y is None else xp.add(y, t, out=y)
        ctx.g, ctx.div = g, div
        y /= div
        return y

    @staticmethod
    def backward(ctx, gy):
        g = ctx.g
        xp = array_module(gy)
        gq = gy / ctx.div
        gpad = xp.zeros(gy.shape[:2] + (g.Hp, g.Wp), gy.dtype)
        for i in range(g.kh):
            for j in range(g.kw):
                _tap(gpad, g, i, j)[...] += gq
        return _crop(gpad, g)


def _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(x.shape)}")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    kernel = _pair(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _pair(stride, nd, "stride", op)
    pad = _pair(padding, nd, "padding", op)
    dil = _pair(dilation, nd, "dilation", op)
    for p, k in zip(pad, kernel):
        if 2 * p > k:  # torch's rule, dilation or not
            raise ValueError(f"{op}: padding {pad} should be at most half of the kernel size "
                             f"{kernel}")
    if nd == 1:
        kernel, stride, pad, dil = (1,) + kernel, (1,) + stride, (0,) + pad, (1,) + dil
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x = x.unsqueeze(2)
    g = _geom(op, tuple(x.shape[2:]), kernel, stride, tuple((p, p) for p in pad), dil,
              ceil_mode)
    return x, g, unbatched


def _pool_out(y, nd, unbatched):
    if nd == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def _max_pool(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              auto):
    x, g, unbatched = _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    if auto:
        taps = _taps_tensor(_pad_tensor(x, g, -np.inf), g)  # (N, C, K, Ho, Wo)
        y, arg = taps.max(dim=2)
        out = (y, _wrap_indices(_max_indices(array_module(arg.data), arg.data, g)))
    else:
        out = MaxPoolNd.apply(x, g, return_indices)
    if not return_indices:
        return _pool_out(out[0] if isinstance(out, tuple) else out, nd, unbatched)
    return tuple(_pool_out(t, nd, unbatched) for t in out)


def _wrap_indices(a):
    from mytorch.tensor import Tensor
    return Tensor._wrap(a)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, auto=False):
    """1-D max pooling over (N, C, L); stride defaults to kernel_size. With return_indices,
    also returns the argmax positions within L."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, auto)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, auto=False):
    """2-D max pooling over (N, C, H, W); stride defaults to kernel_size. With return_indices,
    also returns flat argmax indices into each H*W plane.

    >>> y = F.max_pool2d(x, 2)          # (N, C, H//2, W//2)
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, auto)


def _avg_divisor(xp, g, count_include_pad, divisor_override, dtype):
    """Per-output divisors (Ho, Wo), PyTorch's rule: windows are clipped to input+padding
    (ceil_mode overhang never counts); without count_include_pad, to the input."""
    if divisor_override:
        return dtype.type(divisor_override)
    sizes = []
    for n_in, lo, n_out, k, s in ((g.H, g.pt, g.Ho, g.kh, g.sh), (g.W, g.pl, g.Wo, g.kw, g.sw)):
        start = np.arange(n_out) * s - lo
        end = np.minimum(start + k, n_in + lo)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n_in) - np.maximum(start, 0))
    div = np.outer(sizes[0], sizes[1]).astype(dtype)
    return xp.asarray(div)


def _avg_pool(op, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, auto):
    x, g, unbatched = _pool_args(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    div = _avg_divisor(array_module(x.data), g, count_include_pad, divisor_override, x.dtype)
    if auto:
        from mytorch.tensor import Tensor
        taps = _taps_tensor(_pad_tensor(x, g), g)
        y = taps.sum(dim=2) / (Tensor._wrap(div) if hasattr(div, "shape") else float(div))
    else:
        y = AvgPoolNd.apply(x, g, div)
    return _pool_out(y, nd, unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, auto=False):
    """1-D average pooling over (N, C, L); stride defaults to kernel_size."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None, auto)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, auto=False):
    """2-D average pooling over (N, C, H, W); stride defaults to kernel_size.

    >>> y = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override, auto)


# ---------------------------------------------------------------------------------------
# separable linear resampling: adaptive average pooling and interpolation

_KRON_ELEMS = 1 << 14


class GlobalAvgPool(Function):
    """(N, C, H, W) -> (N, C, 1, 1) mean: adaptive pooling to 1x1 (a reduction, not a matmul)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        n, c, h, w = x.shape
        y = array_module(x).ascontiguousarray(x).reshape(n, c, h * w).sum(axis=2)
        y *= x.dtype.type(1.0 / (h * w))
        return y.reshape(n, c, 1, 1)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        h, w = ctx.shape[2:]
        gx = xp.empty(ctx.shape, gy.dtype)
        gx[...] = gy * gy.dtype.type(1.0 / (h * w))
        return gx


class Separable(Function):
    """y = Mh @ x @ Mw^T over the last two dims of (N, C, H, W). With gather indices
    (ih, iw) the forward is an exact gather instead (nearest modes: no 0*inf)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, mh, mw, ih=None, iw=None):
        xp = array_module(x)
        ctx.mh, ctx.mw, ctx.shape = mh, mw, x.shape
        if ih is not None:
            return xp.take(xp.take(x, ih, axis=2), iw, axis=3)
        n, c, h, w = x.shape
        if mh is not None and mh.size * mw.size <= _KRON_ELEMS:
            # Small maps (global pooling): one (H*W -> Ho*Wo) matrix, one matmul.
            ctx.kron = xp.kron(mh, mw)
            y = x.reshape(n * c, h * w) @ ctx.kron.T
            return y.reshape(n, c, mh.shape[0], mw.shape[0])
        t = (x.reshape(-1, w) @ mw.T).reshape(n * c, h, -1)  # (N*C, H, Wo)
        y = t if mh is None else _apply_rows(mh, t)
        return y.reshape(n, c, y.shape[1], y.shape[2])

    @staticmethod
    def backward(ctx, gy):
        n, c, h, w = ctx.shape
        if getattr(ctx, "kron", None) is not None:
            return (gy.reshape(n * c, -1) @ ctx.kron).reshape(n, c, h, w)
        g = gy.reshape(n * c, gy.shape[2], gy.shape[3])
        if ctx.mh is not None:
            g = _apply_rows(ctx.mh.T, g)  # (N*C, H, Wo)
        gx = g.reshape(-1, gy.shape[3]) @ ctx.mw
        return gx.reshape(n, c, h, w)


def _apply_rows(m, t):
    """m (R, H) applied along axis 1 of t (B, H, K) -> (B, R, K), as one matmul
    (a broadcast batched matmul would run B tiny ones)."""
    b, h, k = t.shape
    if k == 1:
        return (t.reshape(b, h) @ m.T).reshape(b, -1, 1)
    y = t.transpose(0, 2, 1).reshape(b * k, h) @ m.T  # (B*K, R)
    return y.reshape(b, k, -1).transpose(0, 2, 1)


def _adaptive_ranges(n_in, n_out):
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def _adaptive_matrix(n_in, n_out, dtype):
    start, end = _adaptive_ranges(n_in, n_out)
    m = np.zeros((n_out, n_in))
    for r, (a, b) in enumerate(zip(start, end)):
        m[r, a:b] = 1.0 / (b - a)
    return m.astype(dtype)


def _adaptive_auto_dim(x, dim, n_out):
    from mytorch.tensor import cat
    start, end = _adaptive_ranges(x.shape[dim], n_out)
    parts = []
    for a, b in zip(start, end):
        sl = [slice(None)] * x.ndim
        sl[dim] = slice(int(a), int(b))
        parts.append(x[tuple(sl)].mean(dim=dim, keepdim=True))
    return cat(parts, dim=dim)


def _adaptive_avg(op, nd, x, output_size, auto):
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(x.shape)}")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    spatial = tuple(x.shape[-nd:])
    if isinstance(output_size, (tuple, list)):
        out = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
        if len(out) != nd:
            raise ValueError(f"{op}: output_size must have {nd} element(s), got {output_size!r}")
    else:
        out = (int(output_size),) * nd
    if min(out) < 1 or min(spatial) < 1:
        raise ValueError(f"{op}: output size {out} and input spatial size {spatial} must be "
                         "positive")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x, out = x.unsqueeze(2), (1,) + out
    if auto:
        y = _adaptive_auto_dim(_adaptive_auto_dim(x, 3, out[1]), 2, out[0])
    elif out == (1, 1):
        y = GlobalAvgPool.apply(x)
    else:
        xp = array_module(x.data)
        h, w = x.shape[2:]
        mh = None if nd == 1 else xp.asarray(_adaptive_matrix(h, out[0], x.dtype))
        y = Separable.apply(x, mh, xp.asarray(_adaptive_matrix(w, out[1], x.dtype)))
    return _pool_out(y, nd, unbatched)


def adaptive_avg_pool1d(input, output_size, auto=False):
    """Average pooling of (N, C, L) to a fixed length; window i spans
    [floor(i*L/out), ceil((i+1)*L/out))."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size, auto)


def adaptive_avg_pool2d(input, output_size, auto=False):
    """Average pooling of (N, C, H, W) to a fixed (out_h, out_w) (int, pair, None = keep).

    >>> F.adaptive_avg_pool2d(x, 1).shape   # (N, C, 1, 1)
    """
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size, auto)


def _interp_plan(mode, n_in, n_out, scale, align_corners, dtype):
    """One axis: (matrix (n_out, n_in), gather index or None, (i0, i1, l0, l1) or None)."""
    ft = np.dtype(dtype).type
    dst = np.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        s = ft(1.0 / scale) if scale else ft(n_in) / ft(n_out)
        off = ft(0.5) if mode == "nearest-exact" else ft(0)
        src = np.minimum(np.floor((dst.astype(dtype) + off) * s).astype(np.int64), n_in - 1)
        m = np.zeros((n_out, n_in), dtype)
        m[dst, src] = 1
        return m, src, None
    if align_corners:
        s = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
        src = s * dst.astype(dtype)
    else:
        s = ft(1.0 / scale) if scale else ft(n_in) / ft(n_out)
        src = np.maximum(s * (dst.astype(dtype) + ft(0.5)) - ft(0.5), ft(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    l1 = (src - i0).astype(dtype)
    l0 = (ft(1) - l1).astype(dtype)
    m = np.zeros((n_out, n_in), dtype)
    m[dst, i0] += l0
    m[dst, i1] += l1
    return m, None, (i0, i1, l0, l1)


_INTERP_RANK = {"nearest": (3, 4), "nearest-exact": (3, 4), "linear": (3,), "bilinear": (4,),
                "area": (3, 4)}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False, auto=False):
    """Resize (N, C, L) or (N, C, H, W) to `size` or by `scale_factor`.

    mode: 'nearest', 'nearest-exact', 'linear' (3-D), 'bilinear' (4-D), 'area'.
    align_corners (linear modes only) follows PyTorch's definition.

    >>> F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    """
    op = "interpolate"
    if mode not in _INTERP_RANK:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; use one of "
                                  f"{sorted(_INTERP_RANK)}")
    if input.ndim not in _INTERP_RANK[mode]:
        ranks = " or ".join(map(str, _INTERP_RANK[mode]))
        raise ValueError(f"{op}: mode {mode!r} expects a {ranks}-D input"
                         f", got input of shape {tuple(input.shape)}")
    if not dtypes.is_floating(input.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {input.dtype}")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported")
    linear = mode in ("linear", "bilinear")
    if align_corners is not None and not linear:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         f"modes: linear | bilinear (got mode {mode!r})")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    nd = input.ndim - 2
    spatial = tuple(input.shape[2:])
    if size is not None:
        out = _pair(size, nd, "size", op)
        scales = (None,) * nd
    else:
        sf = tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list)) \
            else (float(scale_factor),) * nd
        if len(sf) != nd:
            raise ValueError(f"{op}: scale_factor must have {nd} element(s), got {scale_factor!r}")
        out = tuple(math.floor(n * s) for n, s in zip(spatial, sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} must be positive (input shape "
                         f"{tuple(input.shape)})")
    if mode == "area":
        return _adaptive_avg(op, nd, input, out, auto)
    x = input.unsqueeze(2) if nd == 1 else input
    plans = [_interp_plan(mode, n_in, n_out, sc, align_corners, x.dtype)
             for n_in, n_out, sc in zip(spatial, out, scales)]
    if nd == 1:
        plans = [None] + plans  # the height-1 axis is left alone
    y = _interp_auto(x, plans) if auto else _interp_fn(x, plans)
    return y.squeeze(2) if nd == 1 else y


def _interp_fn(x, plans):
    xp = array_module(x.data)
    ph, pw = plans
    mh = None if ph is None else xp.asarray(ph[0])
    mw = xp.asarray(pw[0])
    if pw[1] is not None:
        ih = xp.zeros(1, xp.int64) if ph is None else xp.asarray(ph[1])
        return Separable.apply(x, mh, mw, ih, xp.asarray(pw[1]))
    return Separable.apply(x, mh, mw)


def _interp_auto(x, plans):
    from mytorch.tensor import Tensor
    xp = array_module(x.data)
    for dim, plan in ((2, plans[0]), (3, plans[1])):
        if plan is None:
            continue
        _, idx, lin = plan
        key = (slice(None),) * dim
        if idx is not None:
            x = x[key + (xp.asarray(idx),)]
            continue
        i0, i1, l0, l1 = lin
        shape = (-1, 1) if dim == 2 else (-1,)
        w0 = Tensor._wrap(xp.asarray(l0.reshape(shape)))
        w1 = Tensor._wrap(xp.asarray(l1.reshape(shape)))
        x = x[key + (xp.asarray(i0),)] * w0 + x[key + (xp.asarray(i1),)] * w1
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
             auto=False):
    """Alias of `interpolate` (PyTorch's deprecated F.upsample)."""
    return interpolate(input, size, scale_factor, mode, align_corners, auto=auto)
