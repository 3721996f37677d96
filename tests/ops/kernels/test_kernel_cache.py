"""Every cached numba kernel loads from numba's on-disk cache in a new process.

A `cache=True` kernel that reaches another jitted function through a closure variable (a helper
defined beside it inside `_compiled()`) misses the cache in every new process and compiles
again: the Winograd kernels did, which made the first convolution call of each process take
seconds (8.8 s for a 32 -> 64 layer at 28x28, 2.5 s once they loaded from the cache). Helpers
must be module globals. This checks every kernel factory of the packages without compiling
anything."""
import importlib
import inspect
import pkgutil

import pytest
from numba.core.registry import CPUDispatcher

import mytorch.ops
import mytorch.optim


def _factories():
    """(module name, function) for every `_compiled*` kernel factory in mytorch.ops/optim."""
    out = []
    for pkg in (mytorch.ops, mytorch.optim):
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, fn in vars(module).items():
                if name.startswith("_compiled") and callable(fn) and \
                        getattr(fn, "__module__", None) == module.__name__:
                    out.append((f"{module.__name__}.{name}", fn))
    return out


def _dispatchers(value):
    if isinstance(value, CPUDispatcher):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _dispatchers(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _dispatchers(v)


def _cached_kernels():
    """{factory name: its cached kernels} for every factory that takes no arguments (building
    the dispatchers compiles nothing); numba ufuncs (erf's) are left out: they call nothing."""
    out = {}
    for name, factory in _factories():
        if not inspect.signature(factory).parameters:
            kernels = [d for d in _dispatchers(factory()) if type(d._cache).__name__ != "NullCache"]
            if kernels:
                out[name] = kernels
    return out


KERNELS = _cached_kernels()


def test_the_kernel_factories_are_found():
    assert {"mytorch.ops._kernels_winograd._compiled", "mytorch.ops.conv_chwn._compiled",
            "mytorch.ops._kernels_winograd_cl._compiled", "mytorch.optim._fused._compiled"} \
        <= set(KERNELS), sorted(KERNELS)
    assert sum(map(len, KERNELS.values())) > 40


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_cached_kernels_reach_no_jitted_function_through_a_closure(name):
    for kernel in KERNELS[name]:
        cells = kernel.py_func.__closure__ or ()
        names = kernel.py_func.__code__.co_freevars
        bad = [n for n, c in zip(names, cells) if isinstance(c.cell_contents, CPUDispatcher)]
        assert not bad, (f"{name}: {kernel.py_func.__name__} calls {bad} through a closure; "
                         "make them module globals (see this file's docstring)")
