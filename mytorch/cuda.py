"""`mytorch.cuda`: GPUs, the current device, their random streams and memory; safe to call on
machines without one."""
import sys

from mytorch import backend


def is_available():
    """True when a CUDA GPU is usable through CuPy; False otherwise. Never raises."""
    return backend.cuda_available()


def device_count():
    if not is_available():
        return 0
    return backend.cupy.cuda.runtime.getDeviceCount()


def _index(dev):
    """A GPU index from an int, "cuda[:i]" or a device (None: the current device)."""
    if dev is None:
        return current_device()
    if isinstance(dev, int):
        return dev
    dev = backend.resolve(dev)
    if dev.type != "cuda":
        raise ValueError(f"expected a CUDA device, got {dev}")
    return dev.index


def _need_cuda(what):
    if not is_available():
        raise RuntimeError(f"mytorch.cuda.{what}: CUDA is not available (no GPU or CuPy not "
                           "installed)")


def current_device():
    """Index of the current GPU (what a bare "cuda" means); None without a GPU."""
    return backend.current_cuda_index() if is_available() else None


def set_device(device):
    """Make GPU `device` (an int, "cuda:i" or a device) current."""
    _need_cuda("set_device")
    backend.module_for(backend.device("cuda", _index(device)))
    backend.cupy.cuda.Device(_index(device)).use()


class device:
    """`with mytorch.cuda.device(i):` makes GPU i current for the block."""

    def __init__(self, device):
        self.index = _index(device)
        self._prev = []

    def __enter__(self):
        _need_cuda("device")
        self._prev.append(current_device())
        set_device(self.index)
        return self

    def __exit__(self, *exc):
        set_device(self._prev.pop())
        return False


def synchronize(device=None):
    if is_available():
        with backend.cupy.cuda.Device(_index(device)):
            backend.cupy.cuda.Device().synchronize()


# ---- random streams: one default generator per GPU ----

def _generator(dev):
    from mytorch import random
    _need_cuda("random")
    return random.cuda_generator(_index(dev))


def manual_seed(seed):
    """Seed the current GPU's default generator."""
    if is_available():
        _generator(None).manual_seed(seed)


def manual_seed_all(seed):
    """Seed every GPU's default generator."""
    for i in range(device_count()):
        _generator(i).manual_seed(seed)


def get_rng_state(device="cuda"):
    """The state of a GPU's default generator (a dict: seed and draws made)."""
    return dict(_generator(device).get_state())


def set_rng_state(new_state, device="cuda"):
    _generator(device).set_state(new_state)


def get_rng_state_all():
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states):
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


# ---- memory ----

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
