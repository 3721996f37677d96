"""`mytorch.amp`: automatic mixed precision, as torch.amp.

`autocast(device_type, dtype)` runs matmuls and convolutions in float16/bfloat16 and losses in
float32 (torch's op lists, see `autocast_mode`); `GradScaler` scales the loss against fp16
underflow and skips steps whose gradients overflowed. `half.py` holds the whole-module fp16
machinery miniddp's Accelerator uses; both share `LossScaler`.

>>> scaler = mytorch.amp.GradScaler("cpu")
>>> with mytorch.autocast("cpu", dtype=mytorch.float16):
...     loss = loss_fn(model(x), y)
>>> scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
"""
# autocast_mode first: mytorch.tensor imports it while grad_scaler is importing mytorch.tensor
from mytorch.amp import autocast_mode, half  # noqa: F401
from mytorch.amp.autocast_mode import (autocast, get_autocast_dtype, is_autocast_available,
                                       is_autocast_enabled)
from mytorch.amp.grad_scaler import GradScaler, LossScaler

__all__ = ["GradScaler", "LossScaler", "autocast", "get_autocast_dtype", "is_autocast_available",
           "is_autocast_enabled"]
