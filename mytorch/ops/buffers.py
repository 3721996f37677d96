"""Large CPU arrays kept for reuse: the CPU's small counterpart of a CUDA caching allocator.

Why: glibc serves every allocation above 32 MiB (its largest mmap threshold) with a fresh
mmap, and gives it back with munmap when freed. Each new large array then pays one page
fault, and the kernel zeroing the page, for every page it first writes: about 0.5 ms per MB
on our 2-core test machine. Linear's matmuls make two such arrays in every GPT-2 124M
training step, the logits (tokens x 50257) and the lm_head weight's (50257, 768) gradient,
about 250 MB, with the same sizes on the next step. Reusing them took the step's system time
from 0.24-0.36 s to 0.05-0.12 s (same peak memory).

How: `empty(shape, dtype)` hands out a view of a buffer this module keeps. A buffer is free
again once nothing but this module refers to it. NumPy points every view, and every view of
a view, at the array that owns the memory (`.base`), so a buffer's reference count tells
whether any array still uses its memory: a free buffer has only this module's reference.
Nothing has to be given back explicitly, and a buffer still in use is never handed out.

A free buffer stays resident, so only arrays that come back soon should come from here:
Linear's outputs and weight gradients do (the logits live until the loop drops them, the
gradient until zero_grad, and the next step wants the same sizes). Cross-entropy's softmax
does not: it dies early in backward, and keeping it would add its size to the peak memory
at the end of backward. Only arrays of at least `MIN_BYTES` come from here; glibc already
reuses freed memory of smaller sizes. Buffers are matched by exact size, and a free one that
none of the last `MAX_IDLE` large requests wanted is released (a model whose shapes changed
does not keep its old buffers). `empty_cache()` releases every free buffer now;
`enabled(False)` turns the cache off.

`layer_empty` serves a layer's own per-step arrays of any size the same way (winograd_t's
transformed tensors, output and gradients: fresh pages for those added 2.4 ms to a 2.2 ms
ConvTranspose2d forward). They have no idle release (large requests pass between their uses
every step, so MAX_IDLE would let them go each time); instead all of them together are held to
LAYER_BYTES, past which plain arrays are handed out, and `empty_cache()` releases them.
"""
import sys

import numpy as np

MIN_BYTES = 32 << 20  # glibc's largest mmap threshold: larger arrays always get fresh pages
MAX_IDLE = 8  # a free buffer not handed out during this many large requests is released

LAYER_BYTES = 256 << 20  # the most `layer_empty` keeps, in use or free, in all

_buffers = {}  # nbytes -> [[buffer (a uint8 array this module owns), tick it was last handed out]]
_layer = {}  # nbytes -> [[buffer, 0]]: `layer_empty`'s, entries shaped as _buffers' (see _free)
_ticks = [0]  # large requests so far
_on = [True]


def _measure_free_refs():
    """A buffer's reference count, as this module reads it, when only the cache holds it."""
    probe = {1: [[np.empty(1, np.uint8), 0]]}
    return sys.getrefcount(probe[1][0][0])


_FREE_REFS = _measure_free_refs()  # measured, not assumed: it can differ between Pythons


def _free(entry):
    return sys.getrefcount(entry[0]) == _FREE_REFS


def enabled(on=None):
    """Whether large CPU arrays are reused; `enabled(False)` turns reuse off (and releases
    every free buffer), `enabled(True)` on again. Returns the setting before the call."""
    before = _on[0]
    if on is not None:
        _on[0] = bool(on)
        if not on:
            empty_cache()
    return before


def _release(cache, keep):
    for nbytes in list(cache):
        kept = [e for e in cache[nbytes] if not _free(e) or keep(e)]
        if kept:
            cache[nbytes] = kept
        else:
            del cache[nbytes]


def empty_cache(idle=0):
    """Release every free buffer (with `idle`: those of `empty` not handed out during the
    last `idle` large requests; `layer_empty`'s stay). Buffers still in use stay, to be reused
    once free."""
    _release(_buffers, lambda e: _ticks[0] - e[1] < idle)
    if not idle:
        _release(_layer, lambda e: False)


def cached_bytes():
    """(bytes in use, bytes free) that the cache holds."""
    used = free = 0
    for nbytes, entries in (*_buffers.items(), *_layer.items()):
        for e in entries:
            if _free(e):
                free += nbytes
            else:
                used += nbytes
    return used, free


def empty(shape, dtype):
    """An uninitialised C-contiguous NumPy array, from a reused buffer when it is large."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if nbytes < MIN_BYTES or not _on[0]:
        return np.empty(shape, dtype)
    _ticks[0] += 1
    empty_cache(idle=MAX_IDLE)  # let go of what has not been wanted lately (a few buffers)
    entries = _buffers.setdefault(nbytes, [])
    entry = next((e for e in entries if _free(e)), None)
    if entry is None:
        entry = [np.empty(nbytes, np.uint8), 0]
        entries.append(entry)
    entry[1] = _ticks[0]
    return entry[0].view(dtype).reshape(shape)


def layer_empty(shape, dtype):
    """An uninitialised C-contiguous NumPy array of any size for a layer's per-step use, from
    a reused buffer (see the module docstring): `empty`'s when large, else one of this
    function's own while they hold at most LAYER_BYTES in all."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if nbytes >= MIN_BYTES or not _on[0]:
        return empty(shape, dtype)
    entries = _layer.setdefault(nbytes, [])
    entry = next((e for e in entries if _free(e)), None)
    if entry is None:
        if nbytes + sum(k * len(es) for k, es in _layer.items()) > LAYER_BYTES:
            return np.empty(shape, dtype)
        entry = [np.empty(nbytes, np.uint8), 0]
        entries.append(entry)
    return entry[0].view(dtype).reshape(shape)


def matmul(a, b):
    """a @ b, written into a reused buffer when both are 2-D NumPy arrays of one float dtype
    and the result is large; anything else is a plain matmul (the checks cost well under a
    microsecond: every Linear calls this)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2 \
            or a.dtype != b.dtype or a.dtype not in _FLOATS or not _on[0] \
            or a.shape[0] * b.shape[1] * a.itemsize < MIN_BYTES:
        return a @ b
    return np.matmul(a, b, out=empty((a.shape[0], b.shape[1]), a.dtype))


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
