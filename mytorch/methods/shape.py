"""Tensor shape methods: reshape, view, flatten, squeeze, expand, permute, split, flip,
narrow, diagonal, ... Views share the input's array; see `mytorch.ops.shape`."""
import numpy as np

from mytorch import dtypes
from mytorch.autograd import function as _fn
from mytorch.ops import shape as S
from mytorch.ops.reduce import normalize_dims
from mytorch.promotion import shape_args


class TensorShape:
    __slots__ = ()

    def reshape(self, *shape):
        shape = shape_args(shape)
        try:
            return S.Reshape.apply(self, shape) if shape != self.shape else self._alias()
        except ValueError as err:
            raise RuntimeError(f"reshape: shape {list(shape)} is invalid for input of shape "
                               f"{tuple(self.shape)} ({self.numel()} elements)") from err

    def view(self, *shape):
        """Like reshape, but never copies: raises when the strides don't allow a view."""
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
            return self._view_dtype(dtypes.as_dtype(shape[0]))
        if isinstance(self.data, np.ndarray) and not self.data.flags.c_contiguous:
            try:
                self.data.reshape(shape_args(shape), copy=False)
            except ValueError:
                raise RuntimeError(f"view: shape {list(shape_args(shape))} is not compatible "
                                   f"with the strides of the non-contiguous input of shape "
                                   f"{tuple(self.shape)}; use .reshape(...)") from None
        return self.reshape(*shape)

    def _view_dtype(self, dtype):
        """view(dtype): the same bytes read as another dtype (no gradient, as in PyTorch). With
        a different element size the last dim must be contiguous and is rescaled."""
        old, new = self.dtype.itemsize, dtype.itemsize
        what = f"view: cannot view {self.dtype} as {dtype} (different element sizes)"
        if old != new:
            if self.ndim == 0:
                raise RuntimeError(f"{what}: the tensor must have at least 1 dim")
            if self.data.strides[-1] != old and self.shape[-1] != 1:
                raise RuntimeError(f"{what}: the last dim must be contiguous, got strides "
                                   f"{self.stride()}")
            if (self.shape[-1] * old) % new:
                raise RuntimeError(f"{what}: the last dim ({self.shape[-1]}) times {old} bytes "
                                   f"must be divisible by {new}")
        return _fn._wrap(self.data.view(dtype))

    def view_as(self, other):
        return self.reshape(other.shape)

    reshape_as = view_as

    def _alias(self):
        return S.Reshape.apply(self, self.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = normalize_dims((start_dim,), self.shape, "flatten")[0], \
            normalize_dims((end_dim,), self.shape, "flatten")[0]
        if s > e:
            raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shp = self.shape
        return self.reshape(shp[:s] + (int(np.prod(shp[s:e + 1])),) + shp[e + 1:])

    def unflatten(self, dim, sizes):
        d = normalize_dims(dim, self.shape, "unflatten")[0]
        sizes = tuple(sizes)
        if -1 in sizes:
            known = int(np.prod([s for s in sizes if s != -1]))
            sizes = tuple(self.shape[d] // known if s == -1 else s for s in sizes)
        if int(np.prod(sizes)) != self.shape[d]:
            raise RuntimeError(f"unflatten: sizes {list(sizes)} don't multiply up to the size of "
                               f"dim {dim} ({self.shape[d]}) of shape {tuple(self.shape)}")
        return self.reshape(self.shape[:d] + sizes + self.shape[d + 1:])

    def squeeze(self, dim=None):
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            axes = normalize_dims(dim, self.shape, "squeeze")
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim):
        if not -self.ndim - 1 <= dim <= self.ndim:
            raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of shape "
                             f"{tuple(self.shape)} (expected a dim in [{-self.ndim - 1}, "
                             f"{self.ndim}])")
        d = normalize_dims(dim, self.ndim + 1, "unsqueeze")[0]
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes):
        sizes = shape_args(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                               f"number of dims ({self.ndim}) of shape {tuple(self.shape)}")
        shape = tuple(self.shape[i - lead] if (s == -1 and i >= lead) else s
                      for i, s in enumerate(sizes))
        for i in range(self.ndim):
            if self.shape[i] != 1 and self.shape[i] != shape[lead + i]:
                raise RuntimeError(f"expand: the expanded size {shape[lead + i]} must match the "
                                   f"existing size {self.shape[i]} at dim {i} (shape "
                                   f"{tuple(self.shape)} -> {list(sizes)})")
        return S.Expand.apply(self, shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def repeat(self, *sizes):
        sizes = shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller "
                               f"than the number of tensor dims ({self.ndim})")
        return S.Repeat.apply(self, sizes)

    def transpose(self, dim0, dim1):
        if self.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self._alias()
        d0, d1 = (normalize_dims(d, self.shape, "transpose")[0] for d in (dim0, dim1))
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return S.Permute.apply(self, tuple(dims))

    def swapaxes(self, a, b):
        return self.transpose(a, b)

    def permute(self, *dims):
        dims = shape_args(dims)
        norm = tuple(normalize_dims(d, self.shape, "permute")[0] for d in dims)
        if sorted(norm) != list(range(self.ndim)):
            raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the "
                               f"{self.ndim} dims of shape {tuple(self.shape)}")
        return S.Permute.apply(self, norm)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t: expects a tensor with <= 2 dims, got shape {tuple(self.shape)}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return S.Permute.apply(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def contiguous(self):
        if self.data.flags.c_contiguous:
            return self
        return S.Contiguous.apply(self)

    def clone(self):
        return S.Clone.apply(self)

    def split(self, split_size_or_sections, dim=0):
        return S.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return S.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        d = normalize_dims(dim, self.shape, "unbind")[0]
        return tuple(p.squeeze(d) for p in S.split(self, 1, d))

    def select(self, dim, index):
        return S.select(self, dim, index)

    def movedim(self, source, destination):
        return S.movedim(self, source, destination)

    moveaxis = movedim

    def swapdims(self, dim0, dim1):
        return self.transpose(dim0, dim1)

    def roll(self, shifts, dims=None):
        return S.roll(self, shifts, dims)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return S.repeat_interleave(self, repeats, dim, output_size=output_size)

    def tile(self, *dims):
        return S.tile(self, shape_args(dims))

    def rot90(self, k=1, dims=(0, 1)):
        return S.rot90(self, k, dims)

    def diag(self, diagonal=0):
        return S.diag(self, diagonal)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return S.diagonal(self, offset, dim1, dim2)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        return S.diag_embed(self, offset, dim1, dim2)

    def trace(self):
        return S.trace(self)

    def narrow(self, dim, start, length):
        d = normalize_dims(dim, self.shape, "narrow")[0]
        if start < 0:
            start += self.shape[d]
        if not 0 <= start <= start + length <= self.shape[d]:
            raise IndexError(f"narrow: start {start} + length {length} out of range for dim {dim} "
                             f"of size {self.shape[d]}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def flip(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        axes = normalize_dims(tuple(dims), self.shape, "flip")
        return S.Flip.apply(self, axes if self.ndim else ())
