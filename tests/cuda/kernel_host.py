"""What the kernel-numerics test files share (test_*_kernels.py, test_flash_attention.py).

Without a GPU they run numba-cuda's kernels in its CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1) on NumPy arrays; on a GPU host the same tests launch them on the
device, with `dev` moving their inputs there and `host` bringing results back. Importing this
skips the importing test module where numba-cuda is missing, or is the real one with no usable
GPU.
"""
import numpy as np
import pytest

import mytorch

pytest.importorskip("numba.cuda")
from numba.cuda.core import config as _numba_cuda_config  # noqa: E402

SIMULATED = bool(_numba_cuda_config.ENABLE_CUDASIM)
if not SIMULATED and not mytorch.cuda.is_available():
    pytest.skip("numba.cuda is the real one but no GPU is usable", allow_module_level=True)


def dev(a):
    """a (NumPy or None) where the kernels take it: as is in the simulator, else on the GPU."""
    if a is None or SIMULATED:
        return a
    import cupy
    return cupy.asarray(a)


def host(a):
    """A kernel's result as a NumPy array."""
    return a if isinstance(a, np.ndarray) else a.get()
