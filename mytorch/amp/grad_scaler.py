"""Dynamic loss scaling: `LossScaler` (the schedule, shared with miniddp's Accelerator) and
`GradScaler` (torch's API on top of it)."""
import logging
import warnings

import numpy as np

from mytorch import backend
from mytorch.tensor import Tensor

log = logging.getLogger("mytorch.amp")


class LossScaler:
    """Dynamic loss scale: halve it (and skip the step) when gradients overflow, double it after
    `growth_interval` clean steps. Skipped steps are counted in `skipped_steps`; the first is
    logged at debug level (overflow while the scale settles is routine, not a warning).

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
            if self.skipped_steps == 1:
                log.debug("gradient overflow: optimizer step skipped, loss scale lowered to %g "
                          "(further skips are only counted in skipped_steps)", self.scale)
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


class _ScaledLoss(Tensor):
    """A loss times the scale. Its backward ignores NumPy's fp16 overflow warnings: overflow
    is what the scaler detects (and skips the step for), and torch is silent about it too."""

    def backward(self, *args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return super().backward(*args, **kwargs)


def _scaled_loss(t):
    s = _ScaledLoss.__new__(_ScaledLoss)
    s.grad = None
    s._rebind(t)
    return s


def _found_inf(grads):
    """Whether any gradient holds inf/NaN, without waiting on a GPU: a list of a Python bool
    (the host gradients) and one 1-element bool array per GPU, still on it (as torch keeps
    `found_inf` per device). `_any_true` reads it."""
    host_found, by_device = False, {}
    for g in grads:
        if isinstance(g, np.ndarray):
            host_found = host_found or not np.isfinite(g).all()
        else:
            by_device.setdefault(g.device.id, []).append(g)
    found = [host_found]
    for gs in by_device.values():
        xp = backend.array_module(gs[0])
        with backend.device_scope(gs[0]):
            ok = xp.stack([xp.isfinite(g).all() for g in gs]).all()
            found.append(xp.logical_not(ok).reshape(1))
    return found


def _any_true(found):
    """`_found_inf`'s answer on the host: one copy per GPU (the step's only wait on it)."""
    return bool(found[0]) or any(bool(backend.to_device(f, "cpu")[0]) for f in found[1:])


class GradScaler:
    """torch.amp.GradScaler: scale the loss so fp16 gradients don't underflow, unscale them
    before the step, skip the step when any is inf/NaN and adapt the scale.

    >>> scaler = mytorch.amp.GradScaler("cpu")
    >>> scaler.scale(loss).backward()
    >>> scaler.step(optimizer)          # unscales, then steps unless gradients overflowed
    >>> scaler.update()

    With `enabled=False` every method is a pass-through, as torch. `device="cuda"` without a
    GPU disables the scaler with a warning, as torch does.
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        from mytorch import cuda
        self._device = str(device).split(":")[0]
        self._enabled = bool(enabled)
        if self._enabled and self._device == "cuda" and not cuda.is_available():
            warnings.warn("GradScaler is enabled, but CUDA is not available. Disabling.",
                          stacklevel=2)
            self._enabled = False
        # torch keeps no floor on the scale: min_scale=0
        self._scaler = LossScaler(init_scale, growth_factor, backoff_factor, growth_interval,
                                  min_scale=0.0)
        # id(optimizer) -> {"unscaled", "stepped": bool, "found_inf": _found_inf's list,
        # "skip": its host answer once read (None before)}
        self._per_optimizer = {}

    def is_enabled(self):
        return self._enabled

    def get_scale(self):
        return self._scaler.scale if self._enabled else 1.0

    def get_growth_factor(self):
        return self._scaler.growth_factor

    def set_growth_factor(self, value):
        self._scaler.growth_factor = float(value)

    def get_backoff_factor(self):
        return self._scaler.backoff_factor

    def set_backoff_factor(self, value):
        self._scaler.backoff_factor = float(value)

    def get_growth_interval(self):
        return self._scaler.growth_interval

    def set_growth_interval(self, value):
        self._scaler.growth_interval = int(value)

    @property
    def skipped_steps(self):
        """How many optimizer steps were skipped for inf/NaN gradients."""
        return self._scaler.skipped_steps

    def scale(self, outputs):
        """outputs (a tensor, or lists/tuples/dicts of them) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if isinstance(outputs, dict):
            return {k: self.scale(v) for k, v in outputs.items()}
        return _scaled_loss(outputs * self._scaler.scale)

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(
            id(optimizer), {"unscaled": False, "found_inf": [False], "skip": None,
                            "stepped": False})

    @staticmethod
    def _skip(state):
        """Whether this optimizer's gradients overflowed, read from the device at most once."""
        if state["skip"] is None:
            state["skip"] = _any_true(state["found_inf"])
        return state["skip"]

    def unscale_(self, optimizer):
        """Divide this optimizer's gradients by the scale in place (e.g. before clipping);
        at most once between two update() calls."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        grads = [p.grad.data for group in optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        if any(g.dtype == np.float16 for g in grads):
            raise ValueError("unscale_: attempting to unscale FP16 gradients (keep fp32 "
                             "parameters and let autocast run the ops in fp16)")
        inv = 1.0 / self._scaler.scale
        # overflowed gradients are expected here: they are detected and the step skipped
        with np.errstate(over="ignore", invalid="ignore"):
            found_inf = _found_inf(grads)  # stays on the GPU until step() must decide
            for g in grads:
                g *= inv
        state["unscaled"], state["found_inf"], state["skip"] = True, found_inf, None

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step(*args) unless its (unscaled) gradients hold inf/NaN. Returns what
        optimizer.step returned, or None when skipped. On a GPU this is the step's one host
        sync: the skip decision needs the inf/NaN check's answer (torch waits here too)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        state = self._state(optimizer)
        if state["stepped"]:
            raise RuntimeError("step() has already been called since the last update().")
        if not state["unscaled"]:
            self.unscale_(optimizer)
        state["stepped"] = True
        if self._skip(state):
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        """Adapt the scale after the step(s): back off if any optimizer saw inf/NaN, grow after
        growth_interval clean steps; or set it to `new_scale`. Reuses the answers step() read
        from the device (no further host sync)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scaler.scale = float(new_scale.item() if hasattr(new_scale, "item")
                                       else new_scale)
        else:
            if not self._per_optimizer:
                raise RuntimeError("update(): no inf checks were recorded prior to update "
                                   "(call step() or unscale_() first)")
            found = any(self._skip(s) for s in self._per_optimizer.values())
            self._scaler.update(found)
        self._per_optimizer = {}

    def state_dict(self):
        """torch's keys (so torch's GradScaler loads it), plus our skipped-step count."""
        if not self._enabled:
            return {}
        s = self._scaler
        return {"scale": s.scale, "growth_factor": s.growth_factor,
                "backoff_factor": s.backoff_factor, "growth_interval": s.growth_interval,
                "_growth_tracker": s.good_steps, "skipped_steps": s.skipped_steps}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        s = self._scaler
        s.scale = float(state_dict["scale"])
        s.growth_factor = float(state_dict["growth_factor"])
        s.backoff_factor = float(state_dict["backoff_factor"])
        s.growth_interval = int(state_dict["growth_interval"])
        s.good_steps = int(state_dict["_growth_tracker"])
        s.skipped_steps = int(state_dict.get("skipped_steps", 0))
