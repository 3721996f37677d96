"""Convolution: conv1d/2d/3d and their transposes, one N-d front over mytorch.ops.conv.

The front checks arguments, lifts 1-D to a height-1 2-D problem, builds the window geometry
(mytorch.ops.window) and runs `ConvNd`/`ConvTransposeNd`, or with `auto=True` the Tensor-op
composite that autograd differentiates.
"""
from mytorch import dtypes
from mytorch.amp import autocast_mode as _amp
from mytorch.ops.conv import ConvNd, ConvTransposeNd, conv_auto, conv_transpose_auto
from mytorch.ops.window import conv_pads, geom, ntuple, with_out

__all__ = ["conv1d", "conv2d", "conv3d", "conv_nd", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]


def check_float(op, *ts):
    dt = ts[0].dtype
    if not dtypes.is_floating(dt):
        raise RuntimeError(f"{op}: expected a floating-point input, got dtype {dt}")
    for t in ts[1:]:
        if t is not None and t.dtype != dt:
            raise RuntimeError(f"{op}: input dtype {dt} and weight/bias dtype {t.dtype} differ")


def conv_nd(op, nd, x, weight, bias, stride, padding, dilation, groups, auto=False,
            transposed=False, output_padding=0):
    """The front of every convolution: `nd` spatial dims, `op` names the caller in errors
    (F.conv2d, nn.Conv3d, ...). Checks, lifts 1-D to 2-D, dispatches."""
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got input of shape {tuple(x.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight, got shape {tuple(weight.shape)}")
    check_float(op, x, weight, bias)
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
    if transposed and isinstance(padding, str):  # torch: no 'same'/'valid' for these
        raise TypeError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    kernel = tuple(weight.shape[2:])
    lift = nd == 1  # 1-D arguments gain a leading height entry

    def up(v, what, fill):
        return (fill,) + ntuple(v, 1, what, op) if lift else ntuple(v, nd, what, op)
    stride, dilation = up(stride, "stride", 1), up(dilation, "dilation", 1)
    if lift and isinstance(padding, str):
        pads = ((0, 0),) + conv_pads(padding, kernel[1:], dilation[1:], stride[1:], op)
    elif isinstance(padding, str):
        pads = conv_pads(padding, kernel, dilation, stride, op)
    else:
        pads = tuple((p, p) for p in up(padding, "padding", 0))
    if not transposed:
        g = geom(op, tuple(x.shape[2:]), kernel, stride, pads, dilation)
        y = conv_auto(x, weight, bias, g, groups) if auto else \
            ConvNd.apply(x, weight, bias, g, groups)
    else:
        opad = up(output_padding, "output_padding", 0)
        for o, s, d in zip(opad, stride, dilation):
            if o >= max(s, d):
                raise ValueError(f"{op}: output_padding {tuple(opad)} must be smaller than "
                                 f"either stride {stride} or dilation {dilation}")
        size = tuple((n - 1) * s - lo - hi + d * (k - 1) + o + 1 for n, (lo, hi), k, s, d, o
                     in zip(x.shape[2:], pads, kernel, stride, dilation, opad))
        if min(size) < 1:
            raise RuntimeError(f"{op}: input of shape {tuple(x.shape)} gives an empty output "
                               f"{size} (kernel {kernel}, stride {stride}, padding {pads})")
        # The conv that maps an input of `size` back to x's spatial size.
        g = geom(op, size, kernel, stride, pads, dilation)
        g = with_out(g, tuple(x.shape[2:]))  # output_padding < dilation may add one
        y = conv_transpose_auto(x, weight, bias, g, groups, opad) if auto else \
            ConvTransposeNd.apply(x, weight, bias, g, groups)
    if lift:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


@_amp.low_precision_op("conv1d")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, auto=False):
    """1-D convolution: input (N, C_in, L), weight (C_out, C_in/groups, k) -> (N, C_out, L_out).

    padding: int, tuple, 'valid' or 'same'. `auto=True` differentiates the Tensor-op composite.

    >>> y = F.conv1d(x, w, padding=1)
    """
    return conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, auto)


@_amp.low_precision_op("conv2d")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, auto=False):
    """2-D convolution: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw)
    -> (N, C_out, H_out, W_out). padding: int, pair, 'valid' or 'same'.

    >>> y = F.conv2d(x, w, b, stride=2, padding=1)
    """
    return conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, auto)


@_amp.low_precision_op("conv3d")
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, auto=False):
    """3-D convolution: input (N, C_in, D, H, W), weight (C_out, C_in/groups, kd, kh, kw)
    -> (N, C_out, D_out, H_out, W_out). padding: int, triple, 'valid' or 'same'.

    >>> y = F.conv3d(x, w, b, stride=2, padding=1)
    """
    return conv_nd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, auto)


@_amp.low_precision_op("conv_transpose1d")
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, auto=False):
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, k).

    L_out = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1.
    """
    return conv_nd("conv_transpose1d", 1, input, weight, bias, stride, padding, dilation,
                   groups, auto, transposed=True, output_padding=output_padding)


@_amp.low_precision_op("conv_transpose2d")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, auto=False):
    """2-D transposed convolution: input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw).

    >>> y = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    """
    return conv_nd("conv_transpose2d", 2, input, weight, bias, stride, padding, dilation,
                   groups, auto, transposed=True, output_padding=output_padding)


@_amp.low_precision_op("conv_transpose3d")
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, auto=False):
    """3-D transposed convolution: input (N, C_in, D, H, W), weight
    (C_in, C_out/groups, kd, kh, kw); D_out = (D - 1)*stride - 2*padding + dilation*(kd - 1)
    + output_padding + 1, likewise H_out and W_out.

    >>> y = F.conv_transpose3d(x, w, stride=2)     # doubles D, H and W for a 2-kernel
    """
    return conv_nd("conv_transpose3d", 3, input, weight, bias, stride, padding, dilation,
                   groups, auto, transposed=True, output_padding=output_padding)
