"""Tensor math: one method per row of the unary table (`mytorch.ops.elementwise.UNARY_OPS`),
attached below; sign, round, frac, nan_to_num, softmax; the unary in-place forms."""
from mytorch import backend, dtypes
from mytorch.ops import elementwise as E
from mytorch.promotion import floating, no_bool


def unary_method(op):
    """The Tensor method of one unary table row: its dtype rule, then its Function."""
    fn, name = E.FUNCTIONS[op.name], op.name
    if op.dtypes == E.FLOAT:
        def method(self):
            return fn.apply(floating(self))
    elif op.dtypes == E.NO_BOOL:
        def method(self):
            return fn.apply(no_bool(self, name))
    elif op.dtypes == E.WHOLE:
        def method(self):
            if not dtypes.is_floating(no_bool(self, name).dtype):
                return self.clone()  # integers are already whole
            return fn.apply(self)
    else:
        raise ValueError(f"unary table: {name} has an unknown dtype rule {op.dtypes!r}")
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{name}, elementwise; see `mytorch.ops.elementwise.UNARY_OPS`."
    return method


class TensorMath:
    __slots__ = ()

    def sign(self):
        if self.dtype.kind == "b":
            return self.clone()
        return E.Staircase.apply(self, _sign_array)

    def round(self, decimals=0):
        if not dtypes.is_floating(no_bool(self, "round").dtype):
            return self.clone()  # integers are already whole
        if decimals:
            return E.Staircase.apply(self, lambda d: backend.array_module(d).round(d, decimals))
        return E.Staircase.apply(self, backend.array_module(self.data).round)

    def frac(self):
        if not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"frac: not implemented for integer dtype {self.dtype}")
        return self - self.trunc()

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest/smallest)."""
        if not dtypes.is_floating(self.dtype):
            return self.clone()
        return E.NanToNum.apply(self, nan, posinf, neginf)

    def softmax(self, dim=-1):
        from mytorch.nn import functional as F
        return F.softmax(self, dim=dim)

    def log_softmax(self, dim=-1):
        from mytorch.nn import functional as F
        return F.log_softmax(self, dim=dim)

    # ---- in place: see Tensor._unary_ ----

    def exp_(self):
        return self._unary_(self.exp(), "exp_")

    def sqrt_(self):
        return self._unary_(self.sqrt(), "sqrt_")

    def log_(self):
        return self._unary_(self.log(), "log_")

    def neg_(self):
        return self._unary_(self.neg(), "neg_")

    def sigmoid_(self):
        return self._unary_(self.sigmoid(), "sigmoid_")

    def tanh_(self):
        return self._unary_(self.tanh(), "tanh_")

    def relu_(self):
        return self._unary_(self.relu(), "relu_")

    def abs_(self):
        self._rebind_or_write(self.abs())
        return self


def _sign_array(d):
    # (x > 0) - (x < 0): NaN gives 0, as in PyTorch (NumPy's sign gives NaN)
    return (d > 0).astype(d.dtype) - (d < 0).astype(d.dtype)


# The unary table's methods, and their other spellings.
for _op in E.UNARY_OPS:
    setattr(TensorMath, _op.name, unary_method(_op))
del _op
TensorMath.__neg__ = TensorMath.neg
TensorMath.__abs__ = TensorMath.abs
TensorMath.arcsin, TensorMath.arccos, TensorMath.arctan = (
    TensorMath.asin, TensorMath.acos, TensorMath.atan)
TensorMath.fix = TensorMath.trunc
