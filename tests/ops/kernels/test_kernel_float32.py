"""The Winograd transform kernels compute float32 input in float32.

numba types an int literal times a float32 as a float64: `4 * d0` converts d0 up, multiplies
and rounds back, at half the vector width and with a rounding the float32 array references do
not make. The F(4, 3) loops (1-D and 2-D) did that until their constants became float32 (the
1-D input adjoint ran 1.3x faster after). This runs each factory's kernels, compiled afresh
without numba's cache (cached code cannot be inspected), through the module's drivers on
float32 arrays, and looks for a float-to-double conversion in the machine IR."""
import numpy as np
import pytest
from numba import njit
from numba.core.registry import CPUDispatcher

from mytorch.ops import _kernels_winograd as kw
from mytorch.ops import _kernels_winograd1d as kw1
from mytorch.ops import winograd as W
from mytorch.ops import winograd1d as W1
from mytorch.ops.window import geom


def _fresh(value, made):
    """value with every dispatcher in it replaced by an uncached compile of the same code."""
    if isinstance(value, CPUDispatcher):
        made.append(njit(nogil=True)(value.py_func))
        return made[-1]
    if isinstance(value, dict):
        return {k: _fresh(v, made) for k, v in value.items()}
    return tuple(_fresh(v, made) for v in value)


def _doubles(kernels):
    """The names of the kernels whose compiled float32 code converts a float to a double."""
    bad = []
    for k in kernels:
        for sig, ir in k.inspect_llvm().items():
            if "fpext float" in ir:
                bad.append(f"{k.py_func.__name__}{sig}")
    return bad


def _swap(monkeypatch, module):
    made = []
    fresh = _fresh(module._compiled(), made)
    monkeypatch.setattr(module, "_compiled", lambda: fresh)
    return made


def test_f43_1d_transforms_stay_float32(monkeypatch):
    made = _swap(monkeypatch, kw1)
    g = geom("test", (1, 11), (1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1))
    n, c, o = 2, 3, 4
    t = n * W1._tiles(g)
    x = np.ones((n, c, 1, 11), np.float32)
    v = W1._input_transform(x, g, np.empty((W1.A, c, t), np.float32))
    y = W1._output_transform(np.ones((W1.A, o, t), np.float32), g,
                             np.empty((n, o) + g.out, np.float32))
    W1._output_adjoint(y, g, np.empty((W1.A, o, t), np.float32))
    W1._input_adjoint(v, g, x)
    assert len(made) == 4 and all(k.signatures for k in made)
    assert _doubles(made) == []


@pytest.mark.parametrize("s", [W.F2, W.F4, W.F2S2])
def test_2d_transforms_stay_float32(monkeypatch, s):
    made = _swap(monkeypatch, kw)
    g = geom("test", (9, 10), (3, 3), (s.stride,) * 2, ((1, 1), (1, 1)), (1, 1))
    n, c, o = 2, 3, 4
    th, tw = W._tiles(g, s)
    t = n * th * tw
    a = s.positions
    x = np.ones((n, c, 9, 10), np.float32)
    v = W._input_transform(x, g, np.empty((a, c, t), np.float32), s)
    y = W._output_transform(np.ones((a, o, t), np.float32), g,
                            np.empty((n, o) + g.out, np.float32), s)
    W._output_adjoint(y, g, np.empty((a, o, t), np.float32), s)
    W._input_adjoint(v, g, x, s)
    used = [k for k in made if k.signatures]
    assert len(used) == 4
    assert _doubles(used) == []
