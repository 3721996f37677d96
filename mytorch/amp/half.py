"""fp16 weights for a whole module (miniddp's `mixed_precision="fp16"`): half-precision compute
on fp32 master weights. Loss scaling is `mytorch.amp.grad_scaler.LossScaler`."""
import contextlib

import numpy as np

from mytorch import tensor as _tensor


def _to_half(x):
    if isinstance(x, _tensor.Tensor) and x.dtype == np.float32:
        return x.to(np.float16)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_half(v) for v in x)
    if isinstance(x, dict):
        return type(x)((k, _to_half(v)) for k, v in x.items())
    return x


def _to_float(x):
    if isinstance(x, _tensor.Tensor) and x.dtype == np.float16:
        return x.to(np.float32)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_float(v) for v in x)
    if isinstance(x, dict):
        return type(x)((k, _to_float(v)) for k, v in x.items())
    return x


@contextlib.contextmanager
def half_weights(params):
    """Run the body with every fp32 parameter's data swapped for an fp16 copy; the fp32 master
    arrays come back afterwards. Ops save the arrays they saw, so backward runs in fp16 and the
    gradients reach the (fp32) parameters; `fp32_grad_hooks` makes them accumulate in fp32."""
    saved = [(p, p.data) for p in params if p.data.dtype == np.float32]
    for p, master in saved:
        p.data = master.astype(np.float16)
    try:
        yield
    finally:
        for p, master in saved:
            p.data = master


def fp32_grad_hooks(params):
    """Hooks casting each incoming fp16 gradient to fp32 before it is added to `.grad`. Returns
    the leaves' grad-accumulator nodes, which hold the hooks: keep them alive."""
    def cast(g):
        return g.astype(np.float32) if g.dtype == np.float16 else g
    nodes = []
    for p in params:
        if p.requires_grad and p.dtype == np.float32:
            p._add_hook(cast)
            nodes.append(p._edge()[0])
    return nodes


def forward_fp16(module, params, args, kwargs):
    """module(*args, **kwargs) with fp16 weights and inputs; floating outputs come back fp32."""
    # fp16 overflow to inf is expected (the loss scaler skips such steps): no NumPy warnings
    with half_weights(params), np.errstate(over="ignore", invalid="ignore"):
        out = module(*_to_half(args), **_to_half(kwargs))
    return _to_float(out)
