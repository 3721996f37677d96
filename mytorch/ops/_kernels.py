"""CPU helpers for the layer primitives in mytorch.ops.nn.

`blocks` splits elementwise work so that a few block-sized temporaries stay in the L2 cache
(NumPy streams each ufunc over the whole array; on big arrays every pass goes to DRAM).
`embedding_grad` is a numba loop beside its NumPy reference `embedding_grad_reference`:
a sorted segment sum or `np.add.at` is 50-100x slower than the plain loop.
"""
import numpy as np

from mytorch.backend import array_module

BLOCK = 1 << 16  # elements per block: a handful of 256 KiB float32 temporaries


def blocks(xp, n_rows, width=1):
    """Row slices covering range(n_rows), each about BLOCK elements of rows `width` long.

    Only NumPy gains from blocking; other array modules get one slice (one kernel launch).
    """
    if xp is not np:
        return [slice(0, n_rows)]
    step = max(1, BLOCK // max(width, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def embedding_grad_reference(n_rows, idx, gy):
    """out[idx[i]] += gy[i] with repeats summed. idx (N,), gy (N, D) -> (n_rows, D)."""
    xp = array_module(gy)
    out = xp.zeros((n_rows,) + gy.shape[1:], gy.dtype)
    xp.add.at(out, idx, gy)
    return out


_rows_add = None


def _compiled_rows_add():
    # numba is imported on first use: `import mytorch` stays fast, and the cached machine
    # code (cache=True) is loaded once per process
    global _rows_add
    if _rows_add is None:
        from numba import njit

        @njit(cache=True, nogil=True)
        def rows_add(out, idx, src):
            for i in range(idx.shape[0]):
                r = idx[i]
                for j in range(src.shape[1]):
                    out[r, j] += src[i, j]

        _rows_add = rows_add
    return _rows_add


def embedding_grad(n_rows, idx, gy):
    """Same as embedding_grad_reference; a numba loop for NumPy float32/float64 arrays."""
    if not (isinstance(gy, np.ndarray) and gy.dtype in (np.float32, np.float64)):
        return embedding_grad_reference(n_rows, idx, gy)
    out = np.zeros((n_rows,) + gy.shape[1:], gy.dtype)
    _compiled_rows_add()(out, np.ascontiguousarray(idx), np.ascontiguousarray(gy))
    return out
