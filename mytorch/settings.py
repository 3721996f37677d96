"""Process-wide switches PyTorch scripts set at start-up: determinism and CPU threads."""
import warnings

_deterministic = {"on": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded for code that reads it back: every mytorch op is already deterministic on the
    CPU and on CUDA (no atomics-based reductions), so there is nothing to switch."""
    _deterministic["on"], _deterministic["warn_only"] = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _deterministic["on"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


def set_num_threads(n):
    """Threads for mytorch's CPU kernels (numba) and, when threadpoolctl is installed, for
    NumPy's BLAS."""
    import numba
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number, got {n}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        import threadpoolctl
    except ImportError:
        warnings.warn("set_num_threads: threadpoolctl is not installed, so NumPy's BLAS keeps "
                      "its thread count", stacklevel=2)
        return
    threadpoolctl.threadpool_limits(n)


def get_num_threads():
    import numba
    return numba.get_num_threads()
