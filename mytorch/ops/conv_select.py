"""Which convolution algorithm runs a given shape: im2col + GEMM (with NCHW-ordered columns, or
channels-last ones: mytorch.ops.conv_cl), Winograd F(2x2, 3x3),
Winograd F(4x4, 3x3), (3x3 stride 1 or 2) Winograd F(2x2, 3x3) on channels-last transformed
tensors (mytorch.ops.winograd_cl), (1-D, kernel 3) Winograd F(4, 3) with tiles-last or
channels-last transformed tensors (mytorch.ops.winograd1d, winograd1d_cl) or, for strided kernels
that are a multiple of the stride, im2col + GEMM through the stride phases
(mytorch.ops.conv_phase), or for transposed convolutions with the batch innermost in the
columns (mytorch.ops.conv_chwn) or, 4x4 stride 2, as Winograd F(4x4, 2x2) on the stride phases
(mytorch.ops.winograd_t), chosen by timing them once per shape (as cuDNN's benchmark mode).

Which one is fastest depends on the channel counts, the image size and the machine's BLAS:
F(4x4) does 1.8x fewer GEMM flops than F(2x2) but its transforms cost more; both lose to
im2col when few input channels make the GEMMs thin. Guessing a rule from a few measurements
went wrong often enough that the first call of each shape times every candidate instead.

How the timing goes (`_timed`): each candidate runs once to warm up (numba loads its machine
code, a nested choice times its own candidates); then come `_ROUNDS` rounds (`_SMALL_ROUNDS`
when every candidate's first timed run took under 20 ms, since single times of small ops are
noisier). In a round every candidate runs twice back to back, and its time in the round is the
faster of the two: the second run's large buffers come from the memory the first freed, as in
use, not from pages another candidate left (timed right after another candidate, page faults
added a third to a transposed conv's backward and decided the choice), while the first run may
have missed a burst of another process that slowed the second. The order of the candidates
turns by one each round. Each candidate's score is the median, over the rounds, of its time
divided by the round's fastest time: the rounds are interleaved, so the machine slowing down or
speeding up between rounds (it does, by a quarter, on a shared VM) changes no ratio, and the
median lets disturbed rounds pass. On a busy 2-core VM (load 2.5) single 25-35 ms runs of the
benchmark's stride-2 layer varied by 1.5x, as much as its two best algorithms differ (1.1x):
one round of best-of-two picked the slower in about half the fresh processes, three rounds of
the second runs alone in two of three. The candidate with the lowest score is kept in a
per-process cache keyed by the shape (pass, input and weight shapes, geometry, dtype, threads).
With one thread the clock is the process's CPU time, so that time slices taken by other
processes do not count; with more threads it is wall time.

mytorch.ops.conv chooses a whole layer at once (`pick`) when its forward will be followed by a
backward: each algorithm runs the forward and the gradients the backward will form. Timed
apart, a forward was chosen for its own time alone, though what it keeps (Winograd's
transformed input, im2col's columns) serves only its own algorithm's weight gradient: the
32 -> 64 stride-2 layer of the benchmark took im2col's forward and winograd2cl's backward in
some fresh processes and winograd2cl for both in others, about 1.1x apart. A transposed
convolution that will be differentiated is chosen as a whole layer the same way (winogradt's
backward reads the transform its forward keeps). Passes run alone (inference) are chosen by
`run`.

Where timing is not wanted the choice is by rule (`winograd.applies`: F(2x2) for C_in >= 8):
for arrays other than NumPy float arrays (CuPy kernels are asynchronous, their wall time on the
host means little) and when mytorch.use_deterministic_algorithms(True) is on (each algorithm is
deterministic, but a timed choice could differ from one process to the next and so change the
rounding).

MYTORCH_CONV_ALGO=im2col|im2colcl|winograd2|winograd4|winograd2cl|winograd1d|winograd1dcl|phase|
chwn|winogradt in the environment (read at each call; "auto" or unset: choose) forces one
algorithm wherever it applies; elsewhere the usual choice runs. im2colcl is im2col with
channels-last columns (mytorch.ops.conv_cl; 2-D, one group). winograd2 and winograd2cl are
F(2x2, 3x3) at stride 1 and 2, the first with tiles-last transformed tensors, the second
channels-last; winograd4 is stride 1 only. winograd1d and winograd1dcl are F(4, 3) (1-D kernel
3, stride 1), tiles-last and channels-last. winogradt is the transposed 4x4 stride-2 convolution
(one group, dilation 1) as Winograd F(m x m, 2x2) on its stride phases. im2colcl, winograd2cl,
winograd1d, winograd1dcl, phase, chwn and winogradt are only ever chosen by timing or forced. A
transposed convolution first chooses among chwn, winogradt and the convolution's own drivers,
which then choose among the others.
"""
import os
import statistics
import time

from mytorch import settings
from mytorch.backend import host_float_arrays

__all__ = ["ALGORITHMS", "choose", "clear_cache", "forced", "pick", "run"]

ALGORITHMS = ("im2col", "im2colcl", "winograd2", "winograd4", "winograd2cl", "winograd1d",
              "winograd1dcl", "phase", "chwn", "winogradt")

_ROUNDS = 5  # timed rounds after the warm-up
_SMALL_ROUNDS = 7  # ... when each candidate's first timed run took under _SMALL_SECONDS
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


def _clock(threads):
    """The clock the timing reads: CPU time with one thread, else wall time."""
    return time.process_time if threads == 1 else time.perf_counter


def _timed(candidates, clock):
    """Time `candidates` as the module docstring says; returns (name of the fastest, its
    result from its last run)."""
    names = list(candidates)
    results = {name: candidates[name]() for name in names}  # warm-up, untimed
    ratios = {name: [] for name in names}
    r, rounds = 0, 1
    while r < rounds:
        times = {}
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = clock()
            candidates[name]()  # settles its buffers
            settle = clock() - start
            start = clock()
            results[name] = candidates[name]()
            times[name] = min(settle, clock() - start)
        fastest = max(min(times.values()), 1e-9)
        for name in names:
            ratios[name].append(times[name] / fastest)
        if r == 0:  # the first round's times (not the warm-up's: numba loads) set the count
            rounds = _ROUNDS if max(times.values()) >= _SMALL_SECONDS else _SMALL_ROUNDS
        r += 1
    # lowest median ratio; ties go to the earlier candidate (ALGORITHMS' order)
    name = min(names, key=lambda n: (statistics.median(ratios[n]), names.index(n)))
    return name, results[name]


_NONE = object()  # "no result yet" (a candidate may return None)


def _choice(key, candidates, rule, arrays):
    """(name, its result or _NONE when it has not run) for `run` and `pick`."""
    name = forced()
    if name in candidates:
        return name, _NONE
    if len(candidates) == 1:
        return next(iter(candidates)), _NONE
    if not host_float_arrays(*arrays) or settings.are_deterministic_algorithms_enabled():
        return rule, _NONE
    threads = settings.get_num_threads()
    key = key + (threads,)
    name = _cache.get(key)
    if name is not None:
        return name, _NONE
    name, result = _timed(candidates, _clock(threads))
    _cache[key] = name
    return name, result


def run(key, candidates, rule, arrays):
    """Run the convolution through one of `candidates` ({name: zero-argument callable}, in
    ALGORITHMS' order, im2col always among them) and return its result.

    `key` identifies the shape (hashable), `rule` is the name to use without timing and
    `arrays` the operands (timing only for NumPy float arrays)."""
    name, result = _choice(key, candidates, rule, arrays)
    return candidates[name]() if result is _NONE else result


def pick(key, candidates, rule, arrays):
    """The name `run` would use (timing the candidates if `key` is new), without running it:
    for a choice whose candidates do more than the call needs (a whole layer)."""
    return _choice(key, candidates, rule, arrays)[0]
