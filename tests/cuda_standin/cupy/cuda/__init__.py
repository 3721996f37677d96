"""Stand-in `cupy.cuda`: devices, the runtime's queries, streams, events and memory pools."""
import time

from cupy import _core
from cupy.cuda import runtime


def is_available():
    return runtime.getDeviceCount() > 0


def get_device_id():
    return _core.current_device()


class Device:
    """`Device(i)`: `.use()` makes it current; `with Device(i):` switches for a block."""

    def __init__(self, device=None):
        self.id = _core.current_device() if device is None else int(device)
        self._prev = []

    def use(self):
        _core.set_current_device(self.id)

    def __enter__(self):
        self._prev.append(_core.current_device())
        _core.set_current_device(self.id)
        return self

    def __exit__(self, *exc):
        _core.set_current_device(self._prev.pop())
        return False

    def synchronize(self):
        _core.count_sync()

    @property
    def compute_capability(self):
        return "90"

    @property
    def mem_info(self):
        total = 80 * 2 ** 30
        return total - _core.pool.used.get(self.id, 0), total

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __int__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    """A stream: work in the stand-in is synchronous, so streams only keep CuPy's API."""

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr = 0 if null else id(self)

    def synchronize(self):
        _core.count_sync()

    def use(self):
        _current_stream[0] = self
        return self

    def __enter__(self):
        self._prev = _current_stream[0]
        _current_stream[0] = self
        return self

    def __exit__(self, *exc):
        _current_stream[0] = self._prev
        return False

    @property
    def done(self):
        return True

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass


Stream.null = Stream(null=True)
_current_stream = [Stream.null]


def get_current_stream(device_id=-1):
    return _current_stream[0]


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        _core.count_sync()

    @property
    def done(self):
        return True


def get_elapsed_time(start_event, end_event):
    return (end_event.time - start_event.time) * 1000.0


class MemoryPool:
    """Bytes held by arrays on the current device; `total_bytes` is the high-water mark."""

    def used_bytes(self):
        return _core.pool.used.get(_core.current_device(), 0)

    def total_bytes(self):
        return _core.pool.total.get(_core.current_device(), 0)

    def free_bytes(self):
        return self.total_bytes() - self.used_bytes()

    def free_all_blocks(self, stream=None):
        dev = _core.current_device()
        _core.pool.total[dev] = _core.pool.used.get(dev, 0)

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


MemoryPool._default = MemoryPool()


class PinnedMemoryPool:
    def free_all_blocks(self):
        pass

    def n_free_blocks(self):
        return 0


PinnedMemoryPool._default = PinnedMemoryPool()
