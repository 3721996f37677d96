"""Stand-in `cupy.linalg`: NumPy's, limited to the names and keywords CuPy has."""
import numpy as np

from cupy import _core


def __getattr__(name):
    if name.startswith("_") or name not in _core.API["cupy.linalg"] or \
            not hasattr(np.linalg, name):
        raise AttributeError(f"module 'cupy.linalg' has no attribute {name!r}")
    target = getattr(np.linalg, name)
    if isinstance(target, type):
        return target

    def f(*args, **kwargs):
        _core.check_kwargs("cupy.linalg", name, kwargs)
        return _core.call_numpy(target, f"linalg.{name}", args, kwargs)
    f.__name__ = name
    globals()[name] = f
    return f
