"""`mytorch.accelerator`: the device-agnostic view of the current accelerator, as torch's.

mytorch's only accelerator is CUDA (through CuPy). Without a GPU there is none, even with
CuPy installed, so `current_accelerator() or device("cpu")` picks the CPU there.

>>> dev = mytorch.accelerator.current_accelerator() or mytorch.device("cpu")
"""
from mytorch import backend, cuda


def is_available():
    """True when a CUDA GPU is usable. Never raises."""
    return cuda.is_available()


def current_accelerator(check_available=False):
    """`device("cuda")` when a GPU is usable, else None (as torch's CPU-only build)."""
    return backend.device("cuda") if is_available() else None


def device_count():
    """Number of GPUs (0 without one)."""
    return cuda.device_count()


def _need_gpu(op):
    if not is_available():
        raise RuntimeError(f"accelerator.{op}: no accelerator is available")


def current_device_index():
    """Index of the current GPU; raises without one, as torch."""
    _need_gpu("current_device_index")
    return cuda.current_device()


def set_device_index(index):
    _need_gpu("set_device_index")
    cuda.set_device(index)


def synchronize(device=None):
    """Wait for every queued GPU kernel to finish."""
    _need_gpu("synchronize")
    cuda.synchronize()


def memory_allocated(device=None):
    return cuda.memory_allocated()


def max_memory_allocated(device=None):
    return cuda.max_memory_allocated()


def empty_cache():
    cuda.empty_cache()
