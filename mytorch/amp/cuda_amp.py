"""`mytorch.cuda.amp`: torch's older spelling of autocast and GradScaler on CUDA. Prefer
`mytorch.amp` and `mytorch.autocast`."""
from mytorch.amp.autocast_mode import autocast as _autocast
from mytorch.amp.grad_scaler import GradScaler as _GradScaler


def autocast(enabled=True, dtype=None, cache_enabled=True):
    """`mytorch.autocast("cuda", dtype, enabled)`; dtype defaults to float16."""
    return _autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def GradScaler(init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
               growth_interval=2000, enabled=True):
    """`mytorch.amp.GradScaler("cuda", ...)`: disabled, with a warning, without a GPU."""
    return _GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                       enabled)
