"""How tensors print: `set_printoptions` (as torch's) and the repr that follows it."""
import sys

import numpy as np

from mytorch import backend, dtypes

_PRINT_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
                   "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
                   "full": dict(precision=4, threshold=sys.maxsize, edgeitems=3, linewidth=80)}
_print_options = dict(_PRINT_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """How tensors print, as torch.set_printoptions: digits after the point, the element count
    above which the middle is elided, items kept at each edge, line width, a profile
    ('default', 'short', 'full') and scientific notation (True, False or None for automatic)."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of "
                             f"{sorted(_PRINT_PROFILES)}, got {profile!r}")
        _print_options.update(_PRINT_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _print_options[key] = int(value) if value != float("inf") else sys.maxsize
    _print_options["sci_mode"] = sci_mode


def tensor_repr(t):
    """tensor([...], dtype=..., device=..., grad_fn=...): what `repr(tensor)` shows."""
    xp_data = backend.to_device(t.data, "cpu")
    if xp_data.dtype == dtypes.bfloat16:  # NumPy prints ml_dtypes' floats without precision
        xp_data = xp_data.astype(np.float32)
    integral = not dtypes.is_floating(xp_data.dtype) or not xp_data.size or bool(
        np.all(np.isfinite(xp_data) & (xp_data == np.round(xp_data))))
    o = _print_options
    formatter = None
    if o["sci_mode"] and dtypes.is_floating(xp_data.dtype):
        formatter = {"float_kind": lambda v: f"{v:.{o['precision']}e}"}
    body = np.array2string(xp_data, separator=", ", precision=o["precision"],
                           prefix="tensor(", threshold=o["threshold"],
                           edgeitems=o["edgeitems"], max_line_width=o["linewidth"],
                           suppress_small=o["sci_mode"] is False, formatter=formatter,
                           floatmode="maxprec" if integral else "fixed")
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    default = dtypes.get_default_dtype() if dtypes.is_floating(t.dtype) else None
    if t.dtype not in (default, dtypes.int64, dtypes.bool) or (
            t.data.size == 0 and t.dtype != dtypes.get_default_dtype()):
        extras.append(f"dtype=mytorch.{t.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn={t.grad_fn!r}")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"
