"""Process-wide switches PyTorch scripts set at start-up: determinism and CPU threads."""
import os
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


_num_threads = None  # set by set_num_threads; else read once from NumPy's BLAS pool


def set_num_threads(n):
    """Threads for NumPy's BLAS (through threadpoolctl), which runs mytorch's matmuls and
    convolutions on the CPU; mytorch's numba loops are single-threaded.

    numba's own threading layer is left alone unless something already started it: starting it
    resets the process's OpenMP thread count, which torch shares when both are imported."""
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number, got {n}")
    _num_threads = n
    from numba.np.ufunc import parallel
    if parallel._is_initialized:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        import threadpoolctl
    except ImportError:
        warnings.warn("set_num_threads: threadpoolctl is not installed, so NumPy's BLAS keeps "
                      "its thread count", stacklevel=2)
        return
    threadpoolctl.threadpool_limits(n, user_api="blas")


def get_num_threads():
    """The threads set by set_num_threads, or else NumPy's BLAS pool's (read once: a call
    here must stay cheap, the convolution's algorithm cache keys on it)."""
    global _num_threads
    if _num_threads is None:
        try:
            import threadpoolctl
            blas = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                    if i["user_api"] == "blas"]
        except ImportError:
            blas = []
        _num_threads = max(blas) if blas else (os.cpu_count() or 1)
    return _num_threads
