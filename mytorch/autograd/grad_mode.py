"""Whether ops record the graph: `no_grad`, `enable_grad`, `set_grad_enabled`."""
import functools
import threading


class _State(threading.local):
    enabled = True  # per thread; read directly by Function.apply (hot path)


_state = _State()


def is_grad_enabled():
    return _state.enabled


def _set(mode):
    _state.enabled = mode


class _GradMode:
    mode = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self  # bare `@no_grad` as well as `@no_grad()`

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self.mode)

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator that turns graph recording off.

    >>> with mytorch.no_grad():
    ...     y = model(x)          # y.requires_grad is False
    """
    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns graph recording back on."""
    mode = True


class set_grad_enabled(_GradMode):
    """Set grad mode now (as a function) or for a block (as a context manager)."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        self.mode = bool(mode)
        _set(self.mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _set(self._prev)
        return False


class inference_mode(no_grad):
    """Same as `no_grad` here."""
