"""Dense layers: linear and bilinear maps.
"""
from mytorch.amp import autocast_mode as _amp
from mytorch.ops import nn as N

__all__ = ["bilinear", "linear"]


def linear(input, weight, bias=None, auto=False):
    """y = input @ weight.T + bias. input (*, in), weight (out, in), bias (out,) -> (*, out)."""
    input, weight, bias = _amp.cast("linear", input, weight, bias)
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(input.shape)} does not match weight "
                           f"of shape {tuple(weight.shape)} (expected last dim "
                           f"{weight.shape[-1]})")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {input.dtype} != weight dtype {weight.dtype}")
    if auto:
        y = input @ weight.t()
        return y if bias is None else y + bias
    return N.Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y_o = x1 @ weight[o] @ x2 + bias_o. input1 (*, in1), input2 (*, in2), weight
    (out, in1, in2) -> (*, out)."""
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear: input1 {tuple(input1.shape)} and input2 "
                           f"{tuple(input2.shape)} do not match weight {tuple(weight.shape)}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, 1, 1, input1.shape[-1])               # (B, 1, 1, in1)
    x2 = input2.reshape(-1, 1, input2.shape[-1], 1)               # (B, 1, in2, 1)
    y = (x1 @ weight @ x2).reshape(*lead, weight.shape[0])        # (B, out, 1, 1) -> (*, out)
    return y if bias is None else y + bias
