"""fp16 training: half-precision compute on fp32 master weights, with dynamic loss scaling."""
import contextlib

import numpy as np

from mytorch.tensor import Tensor


class LossScaler:
    """Dynamic loss scale: halve it (and skip the step) when gradients overflow, double it after
    `growth_interval` clean steps.

    >>> scaler = LossScaler(init_scale=2.0 ** 16)
    >>> (loss * scaler.scale).backward(); ...; scaler.update(found_inf)
    """

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, min_scale=1.0):
        if not (growth_factor > 1 and 0 < backoff_factor < 1):
            raise ValueError(f"LossScaler: need growth_factor > 1 and 0 < backoff_factor < 1, got "
                             f"{growth_factor} and {backoff_factor}")
        self.scale = float(init_scale)
        self.growth_factor, self.backoff_factor = float(growth_factor), float(backoff_factor)
        self.growth_interval, self.min_scale = int(growth_interval), float(min_scale)
        self.good_steps = 0
        self.skipped_steps = 0

    def update(self, found_inf):
        if found_inf:
            self.scale = max(self.scale * self.backoff_factor, self.min_scale)
            self.good_steps = 0
            self.skipped_steps += 1
        else:
            self.good_steps += 1
            if self.good_steps >= self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0

    def state_dict(self):
        return {"scale": self.scale, "good_steps": self.good_steps,
                "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state):
        self.scale = float(state["scale"])
        self.good_steps = int(state["good_steps"])
        self.skipped_steps = int(state.get("skipped_steps", 0))


def _to_half(x):
    if isinstance(x, Tensor) and x.dtype == np.float32:
        return x.to(np.float16)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_half(v) for v in x)
    if isinstance(x, dict):
        return type(x)((k, _to_half(v)) for k, v in x.items())
    return x


def _to_float(x):
    if isinstance(x, Tensor) and x.dtype == np.float16:
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
    with half_weights(params):
        out = module(*_to_half(args), **_to_half(kwargs))
    return _to_float(out)
