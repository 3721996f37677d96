"""A gradient that is zero except in a few rows: what an embedding lookup sends its weight.

GPT-2's token embedding is a (50257, 768) matrix, but a batch of 512 tokens touches at most 512
of its rows. Written out dense, that gradient is a 147 MiB array of zeros with a few rows
filled in, made at the very end of backward, when every other gradient already exists. With
tied weights (the same matrix is the output head) the engine then adds it into the head's
gradient, which is already a dense array of the same size.

`RowGrad` keeps only the rows: `idx` (unique row numbers, ascending) and `rows` (the summed
gradient of each). The engine (mytorch.autograd.engine) adds it into a leaf's dense gradient in
place, or writes it out dense (`dense()`) wherever a whole array is needed: a hook, autograd.grad,
a leaf without a gradient yet.

The sums are the dense path's, bit for bit: each row's contributions are added in the order of
the lookup into a zero row (as `embedding_grad` does into its zeros), and that sum is then added
to the existing gradient once (as adding the dense array would).
"""
import numpy as np

from mytorch.ops._kernels import embedding_grad

__all__ = ["RowGrad"]


class RowGrad:
    """Rows `rows[i]` at row `idx[i]` of an otherwise zero array of `shape`."""

    __slots__ = ("shape", "idx", "rows")

    def __init__(self, shape, idx, rows):
        self.shape, self.idx, self.rows = tuple(shape), idx, rows

    @classmethod
    def from_lookup(cls, n_rows, idx, gy, padding_idx=None):
        """The gradient of `weight[idx]` (weight with `n_rows` rows) for output gradient `gy`
        (idx.shape + (D,)); the row `padding_idx`, if given, gets none."""
        idx = idx.reshape(-1)
        gy = gy.reshape(idx.shape[0], -1)
        if padding_idx is not None:
            keep = idx != padding_idx
            idx, gy = idx[keep], gy[keep]
        unique, slot = np.unique(idx, return_inverse=True)
        return cls((n_rows, gy.shape[1]), unique, embedding_grad(unique.shape[0], slot, gy))

    @property
    def dtype(self):
        return self.rows.dtype

    def astype(self, dtype):
        return RowGrad(self.shape, self.idx, self.rows.astype(dtype))

    def dense(self):
        """The whole array (zeros outside the rows)."""
        out = np.zeros(self.shape, self.rows.dtype)
        out[self.idx] = self.rows
        return out

    def add_into(self, out):
        """out += self, in place (`out` is a dense array of the same shape); returns out."""
        if out.shape != self.shape:
            raise RuntimeError(f"AccumulateGrad: existing .grad has shape {tuple(out.shape)} "
                               f"but the new gradient has shape {self.shape}")
        out[self.idx] += self.rows  # idx is unique: one add per row
        return out

    def merge(self, other):
        """self + other as one RowGrad (both of the same shape): rows present in both are
        added, self's first."""
        idx = np.concatenate([self.idx, other.idx])
        rows = np.concatenate([self.rows, other.rows.astype(self.rows.dtype, copy=False)])
        unique, slot = np.unique(idx, return_inverse=True)
        return RowGrad(self.shape, unique, embedding_grad(unique.shape[0], slot, rows))

    def __repr__(self):
        return f"RowGrad(shape={self.shape}, rows={self.idx.shape[0]}, dtype={self.dtype})"
