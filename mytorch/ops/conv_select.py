"""Which convolution algorithm runs a given shape: im2col + GEMM, Winograd F(2x2, 3x3),
Winograd F(4x4, 3x3), (3x3 stride 2) Winograd F(2x2, 3x3) on channels-last transformed
tensors (mytorch.ops.winograd_cl), (1-D, kernel 3) Winograd F(4, 3) or, for strided kernels
that are a multiple of the stride, im2col + GEMM through the stride phases
(mytorch.ops.conv_phase), or for transposed convolutions with the batch innermost in the
columns (mytorch.ops.conv_chwn), chosen by timing them once per shape (as cuDNN's benchmark
mode).

Which one is fastest depends on the channel counts, the image size and the machine's BLAS:
F(4x4) does 1.8x fewer GEMM flops than F(2x2) but its transforms cost more; both lose to
im2col when few input channels make the GEMMs thin. Guessing a rule from a few measurements
went wrong often enough that the first call of each shape times every candidate instead: each
candidate in turn runs once to warm up (numba loads its machine code, a nested choice times
its own candidates), then timed runs back to back (two, or five when the first took under
20 ms, since single times of small ops are noisier). Back to back, not interleaved with the
others: a candidate's large buffers then come from the memory its previous run freed, as in
use, instead of from fresh pages (interleaved, the page faults added a third to a transposed
conv's backward and decided the choice). The fastest by its best time is kept in a
per-process cache keyed by the shape (pass, input and weight shapes, geometry, dtype,
threads). That first
call costs about five more runs of the op (or eleven when small). With one thread the clock is
the process's CPU time, so that time slices taken by other processes on a busy machine do not
decide the choice (a wrong pick of this kind made a stride-2 layer 1.5x slower); with more
threads it is wall time.

Where timing is not wanted the choice is by rule (`winograd.applies`: F(2x2) for C_in >= 8):
for arrays other than NumPy float arrays (CuPy kernels are asynchronous, their wall time on the
host means little) and when mytorch.use_deterministic_algorithms(True) is on (each algorithm is
deterministic, but a timed choice could differ from one process to the next and so change the
rounding).

MYTORCH_CONV_ALGO=im2col|winograd2|winograd4|winograd2cl|winograd1d|phase|chwn in the
environment (read at each call; "auto" or unset: choose) forces one algorithm wherever it
applies; elsewhere the usual choice runs. winograd2cl (3x3 stride 2), winograd1d (F(4, 3), 1-D
kernel 3, stride 1), phase and chwn are only ever chosen by timing or forced. A transposed
convolution first chooses between chwn and the convolution's own drivers, which then choose
among the others.
"""
import os
import time

from mytorch import settings
from mytorch.backend import host_float_arrays

__all__ = ["ALGORITHMS", "choose", "clear_cache", "forced", "run"]

ALGORITHMS = ("im2col", "winograd2", "winograd4", "winograd2cl", "winograd1d", "phase", "chwn")

_ROUNDS = 2  # timed rounds per candidate after the warm-up
_SMALL_ROUNDS = 5  # ... when the first timed run took under _SMALL_SECONDS
_SMALL_SECONDS = 0.02

_cache = {}  # key -> name of the fastest candidate


def forced():
    """The algorithm MYTORCH_CONV_ALGO forces, or None; an unknown name raises ValueError."""
    name = os.environ.get("MYTORCH_CONV_ALGO", "auto").strip().lower()
    if name in ("", "auto"):
        return None
    if name not in ALGORITHMS:
        raise ValueError(f"conv: MYTORCH_CONV_ALGO={name!r} is not one of "
                         f"{', '.join(ALGORITHMS)} or auto")
    return name


def clear_cache():
    """Forget every timed choice (the next call of each shape times its candidates again)."""
    _cache.clear()


def choose(key):
    """The cached choice for `key`, or None when it has not been timed yet."""
    return _cache.get(key)


def _timed(candidates, clock):
    """Run each candidate once to warm up, then its timed rounds (see the module docstring);
    returns (name of the fastest, its result from its last round)."""
    results, best = {}, {}
    for name, fn in candidates.items():
        fn()  # warm-up, untimed
        times, rounds = [], 1
        while len(times) < rounds:
            start = clock()
            results[name] = fn()
            times.append(clock() - start)
            rounds = _ROUNDS if times[0] >= _SMALL_SECONDS else _SMALL_ROUNDS
        best[name] = min(times)
    name = min(best, key=best.get)
    return name, results[name]


def run(key, candidates, rule, arrays):
    """Run the convolution through one of `candidates` ({name: zero-argument callable}, in
    ALGORITHMS' order, im2col always among them) and return its result.

    `key` identifies the shape (hashable), `rule` is the name to use without timing and
    `arrays` the operands (timing only for NumPy float arrays)."""
    name = forced()
    if name in candidates:
        return candidates[name]()
    if len(candidates) == 1:
        return next(iter(candidates.values()))()
    if not host_float_arrays(*arrays) or settings.are_deterministic_algorithms_enabled():
        return candidates[rule]()
    threads = settings.get_num_threads()
    key = key + (threads,)
    name = _cache.get(key)
    if name is not None:
        return candidates[name]()
    name, result = _timed(candidates, time.process_time if threads == 1 else time.perf_counter)
    _cache[key] = name
    return result
