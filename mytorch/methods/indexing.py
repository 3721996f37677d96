"""Tensor indexing: t[key], t[key] = value, and the methods of `mytorch.ops.index`
(gather, scatter, index_select, index_add, masked_fill, tril, ...), with their in-place
forms."""
from mytorch import backend
from mytorch.autograd import function as _fn
from mytorch.autograd import grad_mode
from mytorch.ops import index as I
from mytorch.promotion import operand, scalar_like


class TensorIndexing:
    __slots__ = ()

    def __getitem__(self, key):
        key = I.index_key(key, self.data)
        I.check_index(key, self.shape, "index")
        return I.GetItem.apply(self, key)

    def __setitem__(self, key, value):
        key = I.index_key(key, self.data)
        I.check_index(key, self.shape, "setitem")
        v = value if isinstance(value, _fn.Tensor) else operand(value)
        needs_graph = grad_mode.is_grad_enabled() and (
            self._requires_grad or (isinstance(v, _fn.Tensor) and v._requires_grad))
        if needs_graph:
            if self.grad_fn is None and self._requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation (setitem); wrap it in mytorch.no_grad()")
            if not isinstance(v, _fn.Tensor):
                v = _fn._wrap(scalar_like(v, self.data, self.dtype))
            self._rebind(I.SetItem.apply(self, v.to(self.dtype), key))
        else:
            vd = v.data if isinstance(v, _fn.Tensor) else v
            if isinstance(v, _fn.Tensor) and backend.device_of(vd) != self.device:
                raise RuntimeError(f"setitem: value on {backend.device_of(vd)} but tensor on "
                                   f"{self.device}")
            I.put(self.data, key, vd)
            _fn.bump_version(self.data)

    def masked_fill(self, mask, value):
        return I.masked_fill(self, mask, value)

    def masked_fill_(self, mask, value):
        self._rebind_or_write(self.masked_fill(mask, value))
        return self

    def gather(self, dim, index):
        return I.gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        return I.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return I.index_select(self, dim, index)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        return I.scatter(self, dim, index, src, value, reduce=reduce)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        self._rebind_or_write(I.scatter(self, dim, index, src, value, reduce=reduce))
        return self

    def scatter_add_(self, dim, index, src):
        self._rebind_or_write(I.scatter_add(self, dim, index, src))
        return self

    def index_add(self, dim, index, source, *, alpha=1):
        return I.index_add(self, dim, index, source, alpha=alpha)

    def index_add_(self, dim, index, source, *, alpha=1):
        self._rebind_or_write(I.index_add(self, dim, index, source, alpha=alpha))
        return self

    def index_fill(self, dim, index, value):
        return I.index_fill(self, dim, index, value)

    def index_fill_(self, dim, index, value):
        self._rebind_or_write(I.index_fill(self, dim, index, value))
        return self

    def masked_select(self, mask):
        return I.masked_select(self, mask)

    def masked_scatter(self, mask, source):
        return I.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask, source):
        out = I.masked_scatter(self, mask, source)
        if out.shape != self.shape:
            raise RuntimeError(f"masked_scatter_: mask of shape {tuple(mask.shape)} would change "
                               f"the shape {tuple(self.shape)} of the tensor written in place")
        self._rebind_or_write(out)
        return self

    def take_along_dim(self, indices, dim=None):
        return I.take_along_dim(self, indices, dim)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        return I.unique(self, sorted, return_inverse, return_counts, dim)

    def bincount(self, weights=None, minlength=0):
        return I.bincount(self, weights, minlength)

    def histc(self, bins=100, min=0, max=0):
        return I.histc(self, bins, min, max)

    def argwhere(self):
        return I.argwhere(self)

    def tril(self, diagonal=0):
        return I.tril(self, diagonal)

    def triu(self, diagonal=0):
        return I.triu(self, diagonal)

    def nonzero(self, as_tuple=False):
        """Indices of the non-zero elements: (N, ndim) int64, or a tuple of ndim 1-D tensors."""
        return I.nonzero(self, as_tuple=as_tuple)
