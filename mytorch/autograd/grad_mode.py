"""Whether ops record the graph: `no_grad`, `enable_grad`, `set_grad_enabled`; and anomaly
detection (`detect_anomaly`, `set_detect_anomaly`)."""
import functools
import threading
import warnings


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


# ------------------------------------------------------------------------ anomaly detection

class _Anomaly:
    enabled = False  # read by Function.apply and the engine (one check each)
    check_nan = True


_anomaly = _Anomaly()


def is_anomaly_enabled():
    return _anomaly.enabled


def is_anomaly_check_nan_enabled():
    return _anomaly.check_nan


class set_detect_anomaly:
    """Turn anomaly detection on or off, now (as a function) or for a block (as a context
    manager). While on, every recorded op keeps the stack of its forward call, and backward
    raises when a Function's backward returns NaN (with check_nan), naming the op and the
    forward call that created it.
    """

    def __init__(self, mode, check_nan=True):
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled, _anomaly.check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self._prev
        return False


class detect_anomaly:
    """Context manager and decorator that turns anomaly detection on (see
    `set_detect_anomaly`); for debugging only, as it slows every op.

    >>> with mytorch.autograd.detect_anomaly():
    ...     loss = model(x).sum()
    ...     loss.backward()       # RuntimeError naming the op that produced NaN
    """

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled, _anomaly.check_nan = True, self.check_nan

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper
