import os
import shutil

import numpy as np
import pytest
import torch

import mytorch

# numba-cuda kernels (mytorch.ops.cuda_kernels) run in numba's CUDA simulator on a machine
# without an NVIDIA driver; numba.cuda reads this once, when it is first imported.
if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

if os.environ.get("CUDA_STANDIN_GPUS"):
    # On the CuPy stand-in the fused CUDA kernels run in numba's simulator, one Python thread
    # per GPU thread: far too slow for every CUDA test. They are off here except in the tests
    # written for them (tests/cuda/test_fused_cuda_path.py turns them on, with small blocks);
    # off in child processes too (the gpu-check run), which inherit the simulator setting.
    from mytorch.ops import cuda_kernels
    os.environ.setdefault("MYTORCH_FUSED", "0")
    cuda_kernels.set_enabled(cuda_kernels.switch_value(os.environ["MYTORCH_FUSED"]))

DEVICES = ["cpu"] + (["cuda"] if mytorch.cuda.is_available() else [])
if os.environ.get("CUDA_STANDIN_GPUS") and not mytorch.cuda.is_available():
    # asked for the CuPy stand-in (make test-cuda-standin) but it did not load: say why
    import cupy  # noqa: F401  (raises the import error)
    raise pytest.UsageError("CUDA_STANDIN_GPUS is set but CUDA is unavailable: put "
                            "tests/cuda_standin first on PYTHONPATH")


def pytest_generate_tests(metafunc):
    # Any test taking `device` runs on the CPU and, when a GPU is present, on CUDA.
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", DEVICES)


@pytest.fixture(autouse=True)
def _seed():
    # every test starts from the same random state on both sides: no test depends on luck
    np.random.seed(0)
    mytorch.manual_seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture
def cuda_device():
    if not mytorch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    return "cuda"


@pytest.fixture
def host_syncs():
    """A function giving how many device->host copies the CuPy stand-in has made so far, to
    count the waits on the GPU in a training step (skips without the stand-in: a real GPU has
    no such counter)."""
    core = getattr(mytorch.backend.cupy, "_core", None) if mytorch.cuda.is_available() else None
    if not hasattr(core, "syncs"):
        pytest.skip("needs the CuPy stand-in (make test-cuda-standin), which counts host syncs")
    return lambda: core.syncs
