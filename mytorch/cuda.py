"""`mytorch.cuda`: GPU availability and memory, safe to call on machines without one."""
import sys

from mytorch import backend


def is_available():
    """True when a CUDA GPU is usable through CuPy; False otherwise. Never raises."""
    return backend.cuda_available()


def device_count():
    if not is_available():
        return 0
    return backend.cupy.cuda.runtime.getDeviceCount()


def current_device():
    return backend.cupy.cuda.Device().id if is_available() else None


def set_device(index):
    if is_available():
        backend.cupy.cuda.Device(index).use()


def synchronize():
    if is_available():
        backend.cupy.cuda.Stream.null.synchronize()


def manual_seed(seed):
    from mytorch import random
    if is_available():
        for idx in range(device_count()):
            random._cuda_generators[idx] = random.Generator(f"cuda:{idx}").manual_seed(seed + idx)


manual_seed_all = manual_seed


def memory_allocated():
    """Bytes held by CuPy's memory pool for arrays (0 without a GPU)."""
    return backend.cupy.get_default_memory_pool().used_bytes() if is_available() else 0


def max_memory_allocated():
    return backend.cupy.get_default_memory_pool().total_bytes() if is_available() else 0


def empty_cache():
    if is_available():
        backend.cupy.get_default_memory_pool().free_all_blocks()



# torch.cuda.amp: a submodule name too (`from mytorch.cuda.amp import GradScaler`), as os.path
from mytorch.amp import cuda_amp as amp  # noqa: E402

sys.modules[__name__ + ".amp"] = amp
