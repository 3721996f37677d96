"""Tensor: an array (NumPy or CuPy), its gradient, and the node that produced it.

Everything differentiable goes through an op in `mytorch.ops`; the methods here are sugar.
"""
import numbers
import sys
import weakref

import ml_dtypes
import numpy as np

from mytorch import backend, dtypes
from mytorch.amp import autocast_mode as _amp
from mytorch.autograd import engine, grad_mode
from mytorch.autograd import function as _function
from mytorch.autograd.function import AccumulateGrad
from mytorch.autograd.tensor_xp import DArray
from mytorch.ops import elementwise as E
from mytorch.ops import index as I
from mytorch.ops import linalg as L
from mytorch.ops import reduce as R
from mytorch.ops import shape as S
from mytorch.tensor_aliases import TensorAliases


def _to_array(data, dtype=None, device=None):
    """Turn Python/NumPy/CuPy data into a backend array with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data.data
    elif backend.is_array(data):
        arr = data
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flat(data)):
            data = _nested_to_host(data)
        arr = np.asarray(data)
        if arr.dtype == np.float64 and dtype is None:
            arr = arr.astype(dtypes.get_default_dtype())  # Python floats -> default dtype
        elif arr.dtype.kind == "O":
            raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data")
        elif arr.dtype.kind in "US":
            raise TypeError("tensor: strings are not supported")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    if device is not None:
        arr = backend.to_device(arr, device)
    elif isinstance(arr, np.generic):
        arr = np.asarray(arr)
    return arr


def _flat(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _nested_to_host(seq):
    return [(_nested_to_host(x) if isinstance(x, (list, tuple)) else
             (x.detach().numpy() if isinstance(x, Tensor) else x)) for x in seq]


def _operand(x):
    """The array (Tensor) or Python number (anything else) an op sees."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (numbers.Number, np.generic)):
        return x
    if backend.is_array(x):
        return Tensor._wrap(x)
    if isinstance(x, (list, tuple)):
        return Tensor._wrap(_to_array(x))
    raise TypeError(f"unsupported operand type {type(x).__name__}")


def _binary(fn, a, b):
    """Apply a binary elementwise Function with PyTorch's dtype promotion.

    Fast paths first: two tensors of one dtype, or a tensor with a Python number that cannot
    change its dtype (NumPy >= 2 treats Python scalars as weak, like PyTorch does).
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype == b.data.dtype:
                return _apply_binary(fn, a, b)
        elif _keeps_dtype(a.data.dtype.kind, b):
            return _apply_binary(fn, a, b)
    elif isinstance(b, Tensor) and _keeps_dtype(b.data.dtype.kind, a):
        return _apply_binary(fn, a, b)
    return _binary_promote(fn, a, b)


def _keeps_dtype(kind, x):
    t = type(x)
    return (t is float and kind in "fV") or (t is int and kind in "fiV")  # V: bfloat16


def _apply_binary(fn, a, b, dtype=None):
    try:
        return fn.apply(a, b) if dtype is None else fn.apply(a, b, dtype=dtype)
    except ValueError:
        sa, sb = tuple(getattr(a, "shape", ())), tuple(getattr(b, "shape", ()))
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise RuntimeError(f"{fn.__name__.lower()}: shapes {sa} and {sb} cannot be "
                               "broadcast together") from None
        raise


def _binary_promote(fn, a, b):
    a, b = _operand(a), _operand(b)
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if not ta and not tb:
        a = Tensor._wrap(_to_array(a))
        ta = True
    da = a.data if ta else a
    db = b.data if tb else b
    if ta and tb and da.dtype == db.dtype:
        return _apply_binary(fn, a, b)
    dtype = dtypes.result_type(da, db)
    # Python numbers become arrays of the result dtype: NumPy would otherwise pick
    # float64 for int_tensor * 0.5.
    if not ta:
        a = Tensor._wrap(_scalar_like(a, db, dtype))
    if not tb:
        b = Tensor._wrap(_scalar_like(b, da, dtype))
    return _apply_binary(fn, a, b, dtype)


def _scalar_like(x, ref, dtype):
    xp = backend.array_module(ref)
    return xp.asarray(x, dtype=dtype)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)



_PRINT_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
                   "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
                   "full": dict(precision=4, threshold=sys.maxsize, edgeitems=3, linewidth=80)}
_print_options = dict(_PRINT_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """How tensors print, as torch.set_printoptions: digits after the point, the element count
    above which the middle is elided, items kept at each edge, line width, a profile
    ('default', 'short', 'full') and scientific notation (True, False or None for automatic)."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of "
                             f"{sorted(_PRINT_PROFILES)}, got {profile!r}")
        _print_options.update(_PRINT_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _print_options[key] = int(value) if value != float("inf") else sys.maxsize
    _print_options["sci_mode"] = sci_mode

class Tensor(TensorAliases):
    """A multi-dimensional array with autograd.

    >>> a = mytorch.tensor([1.0], requires_grad=True)
    >>> c = (a + 2) ** 2
    >>> c.backward(); a.grad
    tensor([6.])
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_output_nr",
        "_requires_grad",
        "data",
        "grad",
        "grad_fn",
    )
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__
    # Rarely set, so class-level defaults keep op outputs cheap to build.
    _accum = None  # weakref to this leaf's AccumulateGrad node
    _retains_grad = False

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        self.data = _to_array(data, dtype, device)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    _wrap = staticmethod(_function._wrap)  # fast constructor for op outputs

    # ---- autograd bookkeeping ----

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and not (dtypes.is_floating(self.data.dtype) or self.data.dtype.kind == "c"):
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients "
                               f"(got dtype {self.data.dtype})")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use "
                               "detach() to get a tensor that does not require grad")
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _version(self):
        """How many in-place writes this tensor's memory has had (views share their base's)."""
        return _function.version_of(self.data)

    def _edge(self):
        if self.grad_fn is not None:
            return (self.grad_fn, self._output_nr)
        node = self._accum() if self._accum is not None else None
        if node is None:
            node = AccumulateGrad(self)
            self._accum = weakref.ref(node)
        return (node, 0)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None,
                 engine=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (only into `inputs`' if given).

        engine: "topological" (default) or "recursive"; see `mytorch.autograd.engine`.
        """
        if not self.requires_grad:
            raise RuntimeError(f"backward: the tensor of shape {tuple(self.shape)} does not "
                               "require grad and has no grad_fn (no input of the computation "
                               "requires grad, or it ran under no_grad)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar "
                                   f"outputs; this tensor has shape {tuple(self.shape)} -- pass "
                                   f"`gradient=` of that shape")
            with backend.device_scope(self.data):
                g = backend.array_module(self.data).ones_like(self.data)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else _to_array(gradient)
            if tuple(g.shape) != tuple(self.shape):
                raise RuntimeError(f"backward: gradient has shape {tuple(g.shape)} but the "
                                   f"tensor has shape {tuple(self.shape)}")
            g = g.astype(self.dtype, copy=False)
            if create_graph and isinstance(gradient, Tensor):  # keep the gradient's graph
                g = gradient.to(self.dtype)
        if inputs is not None:
            from mytorch.autograd import grad
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            grads = grad([self], inputs, [g if isinstance(g, Tensor) else Tensor._wrap(g)],
                         retain_graph, create_graph, allow_unused=True, engine_name=engine)
            for x, gx in zip(inputs, grads):
                if gx is not None:
                    if x.grad is None:
                        x.grad = gx
                    elif create_graph:
                        x.grad = x.grad + gx
                    else:
                        x.grad.data += gx.data
            return
        engine_run(self, g, retain_graph, engine, create_graph)

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward."""
        if self.grad_fn is None:
            return
        if not self._retains_grad:
            self._retains_grad = True
            self._add_hook(engine.hook_retain_grad(self))

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """Call `hook(grad) -> Tensor or None` with this tensor's gradient during backward."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")

        def on_array(g):
            if type(g) is DArray:  # create_graph: the hook sees, and may return, graph Tensors
                out = hook(g.t)
                return None if out is None else DArray(_operand(out))
            out = hook(Tensor._wrap(g))
            return None if out is None else (out.data if isinstance(out, Tensor) else out)
        return self._add_hook(on_array)

    def register_post_accumulate_grad_hook(self, hook):
        """Call `hook(tensor)` on this leaf once backward has accumulated its `.grad`."""
        if self.grad_fn is not None or not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that "
                               "require grad have a gradient to accumulate")
        node, _ = self._edge()
        self._accum_node = node  # a leaf's node is weakly held; its hooks must live on
        if node._hooks is None:
            node._hooks = {}
        node._hooks.setdefault("post", []).append(hook)
        return _HookHandle(node, "post", hook)

    def _add_hook(self, fn):
        node, nr = self._edge()
        if self.grad_fn is None:
            self._accum_node = node  # a leaf's node is weakly held; its hooks must live on
        if node._hooks is None:
            node._hooks = {}
        node._hooks.setdefault(nr, []).append(fn)
        return _HookHandle(node, nr, fn)

    def detach(self):
        """A tensor sharing this data, cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---- metadata ----

    @property
    def shape(self):
        return self.data.shape

    def size(self, dim=None):
        if dim is None:
            return self.data.shape
        return self.data.shape[R.normalize_dims(dim, self.shape, "size")[0]]

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def ndimension(self):
        return self.ndim

    def numel(self):
        return int(self.data.size)

    def nelement(self):
        return self.numel()

    def element_size(self):
        return self.data.itemsize

    @property
    def itemsize(self):
        return self.data.itemsize

    @property
    def nbytes(self):
        return self.data.nbytes

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def is_floating_point(self):
        return dtypes.is_floating(self.data.dtype)

    def is_contiguous(self):
        return bool(self.data.flags.c_contiguous)

    def stride(self, dim=None):
        st = tuple(s // self.data.itemsize for s in self.data.strides)
        return st if dim is None else st[dim]

    def data_ptr(self):
        return self.data.__array_interface__["data"][0] if isinstance(self.data, np.ndarray) \
            else self.data.data.ptr

    # ---- conversion ----

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use "
                               "tensor.detach().numpy()")
        return backend.to_device(self.data, "cpu")

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"item: a tensor with {self.data.size} elements cannot be "
                               f"converted to a Python scalar (shape {tuple(self.shape)})")
        return self.data.item()

    def tolist(self):
        return backend.to_device(self.data, "cpu").tolist()

    def __array__(self, dtype=None, copy=None):
        arr = backend.to_device(self.data, "cpu")
        return arr if dtype is None else arr.astype(dtype)

    def to(self, *args, **kwargs):
        """`.to(device)`, `.to(dtype)`, `.to(device, dtype)` or `.to(other_tensor)`."""
        dev = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("copy", None)
        if kwargs:
            raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            elif isinstance(a, (str, backend.device)):
                dev = a
            elif a is not None:
                dtype = a
        out = self
        if dev is not None and backend.device(dev) != self.device:
            out = E.ToDevice.apply(out, backend.device(dev))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = E.Cast.apply(out, np.dtype(dtype))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else
                       (f"cuda:{device}" if isinstance(device, int) else device))

    def type(self, dtype=None):
        if dtype is None:
            return str(self.dtype)
        return self.to(dtype)

    def astype(self, dtype):
        return self.to(dtype)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool)

    def type_as(self, other):
        return self.to(other.dtype)

    # ---- Python protocol ----

    def __repr__(self):
        xp_data = backend.to_device(self.data, "cpu")
        if xp_data.dtype == dtypes.bfloat16:  # NumPy prints ml_dtypes' floats without precision
            xp_data = xp_data.astype(np.float32)
        integral = not dtypes.is_floating(xp_data.dtype) or not xp_data.size or bool(
            np.all(np.isfinite(xp_data) & (xp_data == np.round(xp_data))))
        o = _print_options
        formatter = None
        if o["sci_mode"] and dtypes.is_floating(xp_data.dtype):
            formatter = {"float_kind": lambda v: f"{v:.{o['precision']}e}"}
        body = np.array2string(xp_data, separator=", ", precision=o["precision"],
                               prefix="tensor(", threshold=o["threshold"],
                               edgeitems=o["edgeitems"], max_line_width=o["linewidth"],
                               suppress_small=o["sci_mode"] is False, formatter=formatter,
                               floatmode="maxprec" if integral else "fixed")
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        default = dtypes.get_default_dtype() if dtypes.is_floating(self.dtype) else None
        if self.dtype not in (default, dtypes.int64, dtypes.bool) or (
                self.data.size == 0 and self.dtype != dtypes.get_default_dtype()):
            extras.append(f"dtype=mytorch.{self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __str__ = __repr__

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.data.size} elements "
                               "is ambiguous")
        return bool(self.data)

    def __contains__(self, element):
        return bool((self == element).any())

    def __format__(self, spec):
        # a 0-d tensor formats as its number (f"{loss:.4f}"), as in PyTorch
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __getstate__(self):
        return {"data": backend.to_device(self.data, "cpu"), "requires_grad": self.requires_grad}

    def __setstate__(self, state):
        self.__init__(state["data"], requires_grad=state["requires_grad"])

    # ---- arithmetic ----

    def __add__(self, other):
        return _binary(E.Add, self, other)

    def __radd__(self, other):
        return _binary(E.Add, other, self)

    def __sub__(self, other):
        _no_bool_sub(self, other)
        return _binary(E.Sub, self, other)

    def __rsub__(self, other):
        _no_bool_sub(self, other)
        return _binary(E.Sub, other, self)

    def __mul__(self, other):
        return _binary(E.Mul, self, other)

    def __rmul__(self, other):
        return _binary(E.Mul, other, self)

    def __truediv__(self, other):
        out_float = not dtypes.is_floating(self.dtype) and (
            not isinstance(other, Tensor) or not dtypes.is_floating(other.dtype)) and \
            not isinstance(other, float)
        a = self.to(dtypes.get_default_dtype()) if out_float else self
        return _binary(E.Div, a, other)

    def __rtruediv__(self, other):
        a = self.to(dtypes.get_default_dtype()) if not dtypes.is_floating(self.dtype) else self
        return _binary(E.Div, other, a)

    def __floordiv__(self, other):
        return floor_divide(self, other)

    def __rfloordiv__(self, other):
        return floor_divide(other, self)

    def __mod__(self, other):
        return remainder(self, other)

    def __rmod__(self, other):
        return remainder(other, self)

    def __pow__(self, exponent):
        return pow(self, exponent)

    def __rpow__(self, base):
        return _binary(E.PowTensor, base, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(_operand(other), self)

    def __neg__(self):
        return E.Neg.apply(_no_bool(self, "neg"))

    def __pos__(self):
        return self

    def __abs__(self):
        return E.Abs.apply(_no_bool(self, "abs"))

    # in place: true in-place on the array when no graph is recorded; otherwise the result is
    # computed out of place and this tensor is rebound to it (saved arrays stay intact).
    def _inplace(self, fn, other, ufunc):
        o = _operand(other)
        if grad_mode.is_grad_enabled() and (
                self._requires_grad or (isinstance(o, Tensor) and o._requires_grad)):
            if self.grad_fn is None and self._requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation (wrap it in mytorch.no_grad())")
            out = fn(self, o)
            if out.shape != self.shape:
                raise RuntimeError(f"in-place op: output shape {tuple(out.shape)} does not match "
                                   f"the tensor's shape {tuple(self.shape)}")
            self._rebind(out)
        else:
            od = o.data if isinstance(o, Tensor) else o
            if isinstance(o, Tensor) and backend.device_of(od) != self.device:
                raise RuntimeError(f"in-place op: tensors on different devices "
                                   f"({self.device} and {backend.device_of(od)})")
            try:
                ufunc(self.data, od, out=self.data)
            except ValueError as err:
                raise RuntimeError(f"in-place op: cannot broadcast shape "
                                   f"{tuple(getattr(od, 'shape', ()))} into "
                                   f"{tuple(self.shape)}") from err
            _function.bump_version(self.data)
        return self

    def _rebind(self, out):
        self.data = out.data
        self.grad_fn = out.grad_fn
        self._output_nr = out._output_nr
        self._requires_grad = out._requires_grad

    def __iadd__(self, other):
        return self._inplace(Tensor.__add__, other, _ufunc("add"))

    def __isub__(self, other):
        return self._inplace(Tensor.__sub__, other, _ufunc("subtract"))

    def __imul__(self, other):
        return self._inplace(Tensor.__mul__, other, _ufunc("multiply"))

    def __itruediv__(self, other):
        return self._inplace(Tensor.__truediv__, other, _ufunc("true_divide"))

    def add_(self, other, alpha=1):
        return self.__iadd__(other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        return self.__isub__(other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self.__imul__(other)

    def div_(self, other):
        return self.__itruediv__(other)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        if grad_mode.is_grad_enabled() and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation (wrap it in mytorch.no_grad())")
        if self._requires_grad and grad_mode.is_grad_enabled():
            # a zero-gradient constant, not x * 0 + value (which turns inf into nan)
            fill = value.data if isinstance(value, Tensor) else value
            out = E.Staircase.apply(self, lambda d: backend.array_module(d).full_like(d, fill))
            if isinstance(value, Tensor) and value.requires_grad:
                out = out + value  # 0 + value: the value's gradient is the sum of gy
            self._rebind(out)
            return self
        self.data[...] = value.data if isinstance(value, Tensor) else value
        _function.bump_version(self.data)
        return self

    def copy_(self, src):
        """Copy `src` (broadcast, cast and moved as needed) into this tensor in place."""
        s = src.data if isinstance(src, Tensor) else _to_array(src)
        s = backend.to_device(s, self.device)
        if grad_mode.is_grad_enabled() and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation (wrap it in mytorch.no_grad())")
        try:
            self.data[...] = s
        except ValueError as err:
            raise RuntimeError(f"copy_: source shape {tuple(s.shape)} cannot be broadcast to "
                               f"{tuple(self.shape)}") from err
        _function.bump_version(self.data)
        return self

    def clamp_(self, min=None, max=None):
        if self._requires_grad and grad_mode.is_grad_enabled():
            self._rebind(self.clamp(min, max))
        else:
            backend.array_module(self.data).clip(self.data, min, max, out=self.data)
            _function.bump_version(self.data)
        return self

    def _unary_(self, out, name):
        if out.dtype != self.dtype:
            raise RuntimeError(f"{name}: result type {out.dtype} can't be cast to the "
                               f"desired output type {self.dtype}")
        self._rebind_or_write(out)
        return self

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

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from mytorch import random
        rng = random.generator_for(self.device, generator)
        self.data[...] = rng.uniform(a, b, self.shape).astype(self.dtype)
        _function.bump_version(self.data)
        return self

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from mytorch import random
        rng = random.generator_for(self.device, generator)
        self.data[...] = (rng.standard_normal(self.shape) * std + mean).astype(self.dtype)
        _function.bump_version(self.data)
        return self

    def _fill_random(self, arr, name):
        if grad_mode.is_grad_enabled() and self._requires_grad and self.grad_fn is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an "
                               "in-place operation (wrap it in mytorch.no_grad())")
        self.data[...] = arr.astype(self.dtype)
        _function.bump_version(self.data)
        return self

    def bernoulli_(self, p=0.5, generator=None):
        """Fill with 1 with probability p (a number or a tensor broadcast to this shape)."""
        from mytorch import random
        prob = p.data if isinstance(p, Tensor) else p
        xp = backend.array_module(self.data)
        if bool(xp.any((xp.asarray(prob) < 0) | (xp.asarray(prob) > 1))):
            raise RuntimeError(f"bernoulli_: p must be in [0, 1], got {p}")
        u = random.generator_for(self.device, generator).random(self.shape)
        return self._fill_random(u < prob, "bernoulli_")

    def random_(self, *bounds, to=None, generator=None, **kwargs):
        """Fill with integers uniform on [from, to - 1]: `random_(to)`, `random_(from, to)`
        or, with no bounds, [0, largest integer the dtype holds exactly]."""
        from mytorch import random
        lo = kwargs.pop("from", 0)
        if kwargs:
            raise TypeError(f"random_: unexpected arguments {sorted(kwargs)}")
        if len(bounds) == 1:
            to = bounds[0]
        elif len(bounds) == 2:
            lo, to = bounds
        elif bounds:
            raise TypeError(f"random_: expected at most 2 bounds, got {len(bounds)}")
        rng = random.generator_for(self.device, generator)
        if to is None:
            dt = self.dtype
            hi = 1 if dt.kind == "b" else (
                2 ** (ml_dtypes.finfo(dt).nmant + 1) if dtypes.is_floating(dt)
                else int(np.iinfo(dt).max))
            arr = rng.integers(lo, hi, size=self.shape, endpoint=True)
        else:
            if lo >= to:
                raise RuntimeError(f"random_: expects 'from' ({lo}) to be less than 'to' ({to})")
            arr = rng.integers(lo, to, size=self.shape)
        return self._fill_random(arr, "random_")

    def exponential_(self, lambd=1.0, generator=None):
        """Fill with samples of the exponential distribution of rate lambd."""
        from mytorch import random
        if lambd <= 0:
            raise RuntimeError(f"exponential_: lambd must be positive, got {lambd}")
        rng = random.generator_for(self.device, generator)
        xp = backend.array_module(self.data)
        return self._fill_random(-xp.log1p(-rng.random(self.shape)) / lambd, "exponential_")

    def bernoulli(self, p=None, generator=None):
        """0/1 samples, 1 with probability p (default: this tensor's values)."""
        from mytorch import creation
        return creation.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, generator=None):
        from mytorch import creation
        return creation.multinomial(self, num_samples, replacement, generator=generator)

    # ---- comparisons (no gradient) ----

    def _cmp(self, other, op):
        o = other.data if isinstance(other, Tensor) else other
        if isinstance(other, Tensor) and backend.device_of(o) != self.device:
            raise RuntimeError(f"{op.__name__}: tensors on different devices ({self.device} and "
                               f"{other.device})")
        return Tensor._wrap(op(self.data, o))

    def __eq__(self, other):
        return self._cmp(other, _ops_eq)

    def __ne__(self, other):
        return self._cmp(other, _ops_ne)

    def __lt__(self, other):
        return self._cmp(other, _ops_lt)

    def __le__(self, other):
        return self._cmp(other, _ops_le)

    def __gt__(self, other):
        return self._cmp(other, _ops_gt)

    def __ge__(self, other):
        return self._cmp(other, _ops_ge)

    def __and__(self, other):
        return self._cmp(other, _ops_and)

    def __or__(self, other):
        return self._cmp(other, _ops_or)

    def __xor__(self, other):
        return self._cmp(other, _ops_xor)

    def __rand__(self, other):
        return self._cmp(other, _ops_and)

    def __ror__(self, other):
        return self._cmp(other, _ops_or)

    def __rxor__(self, other):
        return self._cmp(other, _ops_xor)

    def __invert__(self):
        return Tensor._wrap(~self.data)

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__

    def equal(self, other):
        return self.shape == other.shape and bool((self.data == other.data).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        return bool(backend.array_module(self.data).allclose(self.data, other.data, rtol, atol))

    def isnan(self):
        return Tensor._wrap(backend.array_module(self.data).isnan(self.data))

    def isinf(self):
        return Tensor._wrap(backend.array_module(self.data).isinf(self.data))

    def isfinite(self):
        return Tensor._wrap(backend.array_module(self.data).isfinite(self.data))

    def any(self, dim=None, keepdim=False):
        ax = None if dim is None else R.normalize_dims(dim, self.shape, "any")
        return Tensor._wrap(self.data.any(axis=ax, keepdims=keepdim))

    def all(self, dim=None, keepdim=False):
        ax = None if dim is None else R.normalize_dims(dim, self.shape, "all")
        return Tensor._wrap(self.data.all(axis=ax, keepdims=keepdim))

    def sign(self):
        if self.dtype == np.bool_:
            return self.clone()
        return E.Staircase.apply(self, _sign_array)

    def floor(self):
        return self._staircase("floor")

    def ceil(self):
        return self._staircase("ceil")

    def round(self, decimals=0):
        if decimals:
            return self._staircase("round", lambda d: backend.array_module(d).round(d, decimals))
        return self._staircase("round")

    def _staircase(self, name, fn=None):
        # integers are already whole: a copy keeps their dtype (NumPy's floor would give float)
        if not dtypes.is_floating(_no_bool(self, name).dtype):
            return self.clone()
        return E.Staircase.apply(self, fn or getattr(backend.array_module(self.data), name))

    # ---- math methods ----

    def add(self, other, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return pow(self, exponent)

    def matmul(self, other):
        return matmul(self, other)

    def mm(self, mat2):
        return mm(self, mat2)

    def bmm(self, mat2):
        return bmm(self, mat2)

    def outer(self, vec2):
        return outer(self, vec2)

    def dot(self, other):
        return L.dot(self, other)

    def cross(self, other, dim=None):
        return L.cross(self, other, dim)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return L.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return L.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def neg(self):
        return E.Neg.apply(_no_bool(self, "neg"))

    def abs(self):
        return E.Abs.apply(_no_bool(self, "abs"))

    # integer and bool inputs give the default float dtype, as in PyTorch
    def sqrt(self):
        return E.Sqrt.apply(_floating(self))

    def rsqrt(self):
        return E.Rsqrt.apply(_floating(self))

    def exp(self):
        return E.Exp.apply(_floating(self))

    def log(self):
        return E.Log.apply(_floating(self))

    def log1p(self):
        return E.Log1p.apply(_floating(self))

    def sin(self):
        return E.Sin.apply(_floating(self))

    def cos(self):
        return E.Cos.apply(_floating(self))

    def tanh(self):
        return E.Tanh.apply(_floating(self))

    def sigmoid(self):
        return E.Sigmoid.apply(_floating(self))

    def relu(self):
        return E.Relu.apply(_no_bool(self, "relu"))

    def erf(self):
        return E.Erf.apply(_floating(self))

    def erfc(self):
        return E.Erfc.apply(_floating(self))

    def erfinv(self):
        return E.Erfinv.apply(_floating(self))

    def log2(self):
        return E.Log2.apply(_floating(self))

    def log10(self):
        return E.Log10.apply(_floating(self))

    def exp2(self):
        return E.Exp2.apply(_floating(self))

    def expm1(self):
        return E.Expm1.apply(_floating(self))

    def tan(self):
        return E.Tan.apply(_floating(self))

    def asin(self):
        return E.Asin.apply(_floating(self))

    def acos(self):
        return E.Acos.apply(_floating(self))

    def atan(self):
        return E.Atan.apply(_floating(self))

    arcsin, arccos, arctan = asin, acos, atan

    def atan2(self, other):
        return atan2(self, other)

    arctan2 = atan2

    def sinh(self):
        return E.Sinh.apply(_floating(self))

    def cosh(self):
        return E.Cosh.apply(_floating(self))

    def trunc(self):
        if not dtypes.is_floating(_no_bool(self, "trunc").dtype):
            return self.clone()
        return E.Trunc.apply(self)

    fix = trunc

    def frac(self):
        if not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"frac: not implemented for integer dtype {self.dtype}")
        return self - self.trunc()

    def remainder(self, other):
        return remainder(self, other)

    def fmod(self, other):
        return fmod(self, other)

    def floor_divide(self, other):
        return floor_divide(self, other)

    def float_power(self, exponent):
        return float_power(self, exponent)

    def lerp(self, end, weight):
        """self + weight * (end - self); weight a number or a tensor broadcast with both.

        As PyTorch, end - (end - self) * (1 - weight) where |weight| >= 0.5 (exact at 1)."""
        if not isinstance(end, Tensor) or end.dtype != self.dtype:
            raise RuntimeError(f"lerp: expected end to be a tensor of dtype {self.dtype}, got "
                               f"{getattr(end, 'dtype', type(end).__name__)}")
        if isinstance(weight, Tensor) and weight.dtype != self.dtype:
            raise RuntimeError(f"lerp: expected weight of dtype {self.dtype}, got {weight.dtype}")
        try:
            np.broadcast_shapes(*(tuple(getattr(t, "shape", ())) for t in (self, end, weight)))
        except ValueError:
            raise RuntimeError(f"lerp: shapes {tuple(self.shape)}, {tuple(end.shape)} and "
                               f"{tuple(getattr(weight, 'shape', ()))} do not broadcast") from None
        return E.Lerp.apply(self, end, weight)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest/smallest)."""
        if not dtypes.is_floating(self.dtype):
            return self.clone()
        return E.NanToNum.apply(self, nan, posinf, neginf)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            bounds = [None if b is None else _operand(b) for b in (min, max)]
            dt = self.dtype
            for b in bounds:
                if b is not None:
                    bd = b.data if isinstance(b, Tensor) else b
                    dt = np.promote_types(dt, dtypes.result_type(self.data, bd))
            lo, hi = (None if b is None else (b.to(dt) if isinstance(b, Tensor) else
                      Tensor._wrap(_scalar_like(b, self.data, dt))) for b in bounds)
            try:
                np.broadcast_shapes(*(tuple(t.shape) for t in (self, lo, hi) if t is not None))
            except ValueError:
                raise RuntimeError(f"clamp: shapes of input {tuple(self.shape)} and bounds do "
                                   "not broadcast") from None
            return E.ClampTensor.apply(self.to(dt), lo, hi)
        x = self
        if not dtypes.is_floating(x.dtype) and (isinstance(min, float) or isinstance(max, float)):
            x = x.to(dtypes.get_default_dtype())  # int tensor, float bounds: as PyTorch
        return E.Clamp.apply(x, min, max)

    clip = clamp

    def maximum(self, other):
        return maximum(self, other)

    def minimum(self, other):
        return minimum(self, other)

    def where(self, condition, other):
        return where(condition, self, other)

    def softmax(self, dim=-1):
        from mytorch.nn import functional as F
        return F.softmax(self, dim=dim)

    def log_softmax(self, dim=-1):
        from mytorch.nn import functional as F
        return F.log_softmax(self, dim=dim)

    # ---- reductions ----

    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if x.dtype.kind in "bi" and dtype is None:
            x = x.to(dtypes.int64) if x.dtype != dtypes.int64 else x
        return R.Sum.apply(x, _reduce_dims(dim, self.shape, "sum"), keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if not dtypes.is_floating(x.dtype):
            raise RuntimeError(f"mean: could not infer output dtype; input dtype is {x.dtype} -- "
                               "pass a floating dtype")
        return R.Mean.apply(x, _reduce_dims(dim, self.shape, "mean"), keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        correction = _correction(unbiased, correction)
        return R.Var.apply(self, _reduce_dims(dim, self.shape, "var"), correction, keepdim,
                           dim is None or self.ndim == 0)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        correction = _correction(unbiased, correction)
        return R.Std.apply(self, _reduce_dims(dim, self.shape, "std"), correction, keepdim,
                           dim is None or self.ndim == 0)

    def max(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return maximum(self, dim)
        return _minmax(self, dim, keepdim, False)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return minimum(self, dim)
        return _minmax(self, dim, keepdim, True)

    def amax(self, dim=None, keepdim=False):
        return R.Amax.apply(self, _reduce_dims(dim, self.shape, "amax"), keepdim, False)

    def amin(self, dim=None, keepdim=False):
        return R.Amax.apply(self, _reduce_dims(dim, self.shape, "amin"), keepdim, True)

    def argmax(self, dim=None, keepdim=False):
        return _arg(self, dim, keepdim, "argmax")

    def argmin(self, dim=None, keepdim=False):
        return _arg(self, dim, keepdim, "argmin")

    def prod(self, dim=None, keepdim=False):
        if dim is not None:
            dim = R.normalize_dims(dim, self.shape, "prod")[0]  # checks dim on 0-d too
            dim = dim if self.ndim else None
        return R.Prod.apply(self, dim, keepdim)

    def logsumexp(self, dim, keepdim=False):
        x = _floating(self)
        return R.LogSumExp.apply(x, _reduce_dims(dim, self.shape, "logsumexp"), keepdim)

    def norm(self, p="fro", dim=None, keepdim=False):
        """Vector p-norm over dim (all dims by default); p a number, inf, -inf or 'fro' (2)."""
        if not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"norm: expected a floating point input, got dtype {self.dtype}")
        if p == "fro":  # over at most 2 dims, as PyTorch (its matrix norm takes no more)
            if dim is not None and not isinstance(dim, int) and len(dim) > 2:
                raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={dim}")
            p = 2
        if not isinstance(p, (int, float)):
            raise ValueError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r}")
        return R.Norm.apply(self, float(p), _reduce_dims(dim, self.shape, "norm"), keepdim)

    # ---- shape ----

    def reshape(self, *shape):
        shape = _shape_args(shape)
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
                self.data.reshape(_shape_args(shape), copy=False)
            except ValueError:
                raise RuntimeError(f"view: shape {list(_shape_args(shape))} is not compatible "
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
        return Tensor._wrap(self.data.view(dtype))

    def view_as(self, other):
        return self.reshape(other.shape)

    reshape_as = view_as

    def _alias(self):
        return S.Reshape.apply(self, self.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = R.normalize_dims((start_dim,), self.shape, "flatten")[0], \
            R.normalize_dims((end_dim,), self.shape, "flatten")[0]
        if s > e:
            raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shp = self.shape
        return self.reshape(shp[:s] + (int(np.prod(shp[s:e + 1])),) + shp[e + 1:])

    def unflatten(self, dim, sizes):
        d = R.normalize_dims(dim, self.shape, "unflatten")[0]
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
            axes = R.normalize_dims(dim, self.shape, "squeeze")
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim):
        if not -self.ndim - 1 <= dim <= self.ndim:
            raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of shape "
                             f"{tuple(self.shape)} (expected a dim in [{-self.ndim - 1}, "
                             f"{self.ndim}])")
        d = R.normalize_dims(dim, self.ndim + 1, "unsqueeze")[0]
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes):
        sizes = _shape_args(sizes)
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
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller "
                               f"than the number of tensor dims ({self.ndim})")
        return S.Repeat.apply(self, sizes)

    def transpose(self, dim0, dim1):
        if self.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self._alias()
        d0, d1 = (R.normalize_dims(d, self.shape, "transpose")[0] for d in (dim0, dim1))
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return S.Permute.apply(self, tuple(dims))

    def swapaxes(self, a, b):
        return self.transpose(a, b)

    def permute(self, *dims):
        dims = _shape_args(dims)
        norm = tuple(R.normalize_dims(d, self.shape, "permute")[0] for d in dims)
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
        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return chunk(self, chunks, dim)

    def unbind(self, dim=0):
        d = R.normalize_dims(dim, self.shape, "unbind")[0]
        return tuple(p.squeeze(d) for p in split(self, 1, d))

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
        return S.tile(self, _shape_args(dims))

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

    # ---- indexing ----

    def __getitem__(self, key):
        key = _index_key(key, self.data)
        I.check_index(key, self.shape, "index")
        return I.GetItem.apply(self, key)

    def __setitem__(self, key, value):
        key = _index_key(key, self.data)
        I.check_index(key, self.shape, "setitem")
        v = value if isinstance(value, Tensor) else _operand(value)
        needs_graph = grad_mode.is_grad_enabled() and (
            self._requires_grad or (isinstance(v, Tensor) and v._requires_grad))
        if needs_graph:
            if self.grad_fn is None and self._requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation (setitem); wrap it in mytorch.no_grad()")
            if not isinstance(v, Tensor):
                v = Tensor._wrap(_scalar_like(v, self.data, self.dtype))
            self._rebind(I.SetItem.apply(self, v.to(self.dtype), key))
        else:
            vd = v.data if isinstance(v, Tensor) else v
            if isinstance(v, Tensor) and backend.device_of(vd) != self.device:
                raise RuntimeError(f"setitem: value on {backend.device_of(vd)} but tensor on "
                                   f"{self.device}")
            I.put(self.data, key, vd)
            _function.bump_version(self.data)

    def masked_fill(self, mask, value):
        m = mask.data if isinstance(mask, Tensor) else mask
        if m.dtype != np.bool_:
            raise RuntimeError(f"masked_fill: expected a bool mask, got dtype {m.dtype}")
        try:
            np.broadcast_shapes(m.shape, self.shape)
        except ValueError:
            raise RuntimeError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast "
                               f"to shape {tuple(self.shape)}") from None
        if isinstance(value, Tensor):
            value = value.item()
        return I.MaskedFill.apply(self, m, value)

    def masked_fill_(self, mask, value):
        self._rebind_or_write(self.masked_fill(mask, value))
        return self

    def _rebind_or_write(self, out):
        if self._requires_grad and grad_mode.is_grad_enabled():
            if self.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation")
            self._rebind(out)
        else:
            self.data[...] = out.data
            _function.bump_version(self.data)

    def gather(self, dim, index):
        return gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        return scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return index_select(self, dim, index)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        return I.scatter(self, dim, index, src, value, reduce=reduce)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        self._rebind_or_write(I.scatter(self, dim, index, src, value, reduce=reduce))
        return self

    def scatter_add_(self, dim, index, src):
        self._rebind_or_write(scatter_add(self, dim, index, src))
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
        return I.Tril.apply(_matrices(self, "tril"), diagonal, False)

    def triu(self, diagonal=0):
        return I.Tril.apply(_matrices(self, "triu"), diagonal, True)

    def nonzero(self, as_tuple=False):
        """Indices of the non-zero elements: (N, ndim) int64, or a tuple of ndim 1-D tensors."""
        return nonzero(self, as_tuple=as_tuple)

    def square(self):
        x = self.to(dtypes.int64) if self.dtype == np.bool_ else self
        return x * x

    def reciprocal(self):
        return 1.0 / self if self.is_floating_point() else 1.0 / self.float()

    def abs_(self):
        self._rebind_or_write(self.abs())
        return self

    def narrow(self, dim, start, length):
        d = R.normalize_dims(dim, self.shape, "narrow")[0]
        if start < 0:
            start += self.shape[d]
        if not 0 <= start <= start + length <= self.shape[d]:
            raise IndexError(f"narrow: start {start} + length {length} out of range for dim {dim} "
                             f"of size {self.shape[d]}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def flip(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        axes = R.normalize_dims(tuple(dims), self.shape, "flip")
        return S.Flip.apply(self, axes if self.ndim else ())

    def cumsum(self, dim):
        d = R.normalize_dims(dim, self.shape, "cumsum")[0]
        if self.ndim == 0:
            return R.Cumsum.apply(self.reshape(1), 0).reshape(())
        return R.Cumsum.apply(self, d)

    def cumprod(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if dtype is None and x.dtype.kind in "biu":
            x = x.to(dtypes.int64)
        d = R.normalize_dims(dim, self.shape, "cumprod")[0]
        if x.ndim == 0:
            return R.Cumprod.apply(x.reshape(1), 0).reshape(())
        return R.Cumprod.apply(x, d)

    def cummax(self, dim):
        """(values, indices) of the running maximum along dim."""
        return _cum_extreme(self, dim, False)

    def cummin(self, dim):
        """(values, indices) of the running minimum along dim."""
        return _cum_extreme(self, dim, True)

    def median(self, dim=None, keepdim=False):
        """The lower median of all elements, or (values, indices) along dim. NaN wins."""
        if dim is not None:
            return _pick(self, dim, keepdim, "median", R.median_index)
        if self.numel() == 0:
            raise RuntimeError(f"median: reduction over an empty tensor of shape "
                               f"{tuple(self.shape)}")
        flat = self.data.reshape(-1)
        return R.ShareValue.apply(self, flat[R.median_index(flat, 0)])

    def kthvalue(self, k, dim=-1, keepdim=False):
        """(values, indices) of the k-th smallest element (k counts from 1) along dim."""
        size = self.shape[R.normalize_dims(dim, self.shape, "kthvalue")[0]] if self.ndim else 1
        if not 1 <= k <= size:
            raise RuntimeError(f"kthvalue: k ({k}) out of range [1, {size}] for dim {dim} of "
                               f"shape {tuple(self.shape)}")
        return _pick(self, dim, keepdim, "kthvalue", lambda x, d: R.kth_index(x, k - 1, d))

    def mode(self, dim=-1, keepdim=False):
        """(values, indices) of the most frequent value along dim (the smallest on ties)."""
        return _pick(self, dim, keepdim, "mode", R.mode_index)

    def count_nonzero(self, dim=None):
        axes = _reduce_dims(dim, self.shape, "count_nonzero")
        nz = self.data != 0
        return Tensor._wrap(nz.sum(axis=axes if self.ndim else None).astype(np.int64))

    def nansum(self, dim=None, keepdim=False, dtype=None):
        """sum treating NaN as zero."""
        x = self if dtype is None else self.to(dtype)
        if not dtypes.is_floating(x.dtype):
            return x.sum(dim, keepdim)
        return R.NanSum.apply(x, _reduce_dims(dim, self.shape, "nansum"), keepdim)

    def nanmean(self, dim=None, keepdim=False, dtype=None):
        """mean over the non-NaN elements."""
        x = self if dtype is None else self.to(dtype)
        if not dtypes.is_floating(x.dtype):
            raise RuntimeError(f"nanmean: expected a floating point input, got dtype {x.dtype}")
        count = (~x.isnan()).sum(dim, keepdim)
        return x.nansum(dim, keepdim) / count.to(x.dtype)

    def sort(self, dim=-1, descending=False):
        """(values, indices) sorted along dim; ties keep input order when ascending."""
        if self.ndim == 0:
            return MinMaxResult(self.clone(), zeros((), dtype=np.int64))
        d = R.normalize_dims(dim, self.shape, "sort")[0]
        xp = backend.array_module(self.data)
        idx = xp.argsort(self.data, axis=d, kind="stable")
        if descending:
            idx = xp.flip(idx, d)
        idx = Tensor._wrap(idx.astype(np.int64))
        return MinMaxResult(self.gather(d, idx), idx)

    def argsort(self, dim=-1, descending=False):
        return self.sort(dim, descending).indices

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the k largest (or smallest) elements along dim."""
        d = R.normalize_dims(dim, self.shape, "topk")[0] if self.ndim else 0
        size = self.shape[d] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError(f"topk: k ({k}) out of range for dim {dim} of size {size}")
        _, idx = self.sort(d, descending=largest)
        if self.ndim:
            idx = idx.narrow(d, 0, k)
        return MinMaxResult(self.gather(d, idx) if self.ndim else self.clone(), idx)

    def isclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
        o = other.data if isinstance(other, Tensor) else other
        xp = backend.array_module(self.data)
        return Tensor._wrap(xp.isclose(self.data, o, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def logical_not(self):
        return Tensor._wrap(backend.array_module(self.data).logical_not(self.data))

    def logical_and(self, other):
        return _logical(self, other, "logical_and")

    def logical_or(self, other):
        return _logical(self, other, "logical_or")

    def logical_xor(self, other):
        return _logical(self, other, "logical_xor")

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None):
        return zeros(*size, dtype=dtype or self.dtype, device=self.device)

    def new_ones(self, *size, dtype=None):
        return ones(*size, dtype=dtype or self.dtype, device=self.device)

    def new_full(self, size, fill_value, dtype=None):
        return full(size, fill_value, dtype=dtype or self.dtype, device=self.device)

    def new_tensor(self, data, dtype=None):
        return Tensor(data, dtype=dtype or self.dtype, device=self.device)


_function.Tensor = Tensor


class _HookHandle:
    def __init__(self, node, nr, fn):
        self._ref = weakref.ref(node)
        self.nr, self.fn = nr, fn

    def remove(self):
        node = self._ref()
        if node is not None and node._hooks and self.fn in node._hooks.get(self.nr, []):
            node._hooks[self.nr].remove(self.fn)


def _ufunc(name):
    def apply(a, b, out):
        return getattr(backend.array_module(a), name)(a, b, out=out)
    return apply


def _op(name):
    import operator
    return getattr(operator, name)


_ops_eq, _ops_ne, _ops_lt, _ops_le, _ops_gt, _ops_ge = (
    _op("eq"), _op("ne"), _op("lt"), _op("le"), _op("gt"), _op("ge"))
_ops_and, _ops_or, _ops_xor = _op("and_"), _op("or_"), _op("xor")


def _no_bool_sub(a, b):
    if any(isinstance(v, bool) or getattr(v, "dtype", None) == np.bool_ for v in (a, b)):
        raise RuntimeError("sub: subtraction with a bool tensor is not supported (as in "
                           "PyTorch); to invert a mask use ~ or logical_not()")


def _matrices(x, op):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: expected a tensor with at least 2 dims, got shape "
                           f"{tuple(x.shape)}")
    return x


def _sign_array(d):
    # (x > 0) - (x < 0): NaN gives 0, as in PyTorch (NumPy's sign gives NaN)
    return (d > 0).astype(d.dtype) - (d < 0).astype(d.dtype)


def _no_bool(x, op):
    if x.dtype == np.bool_:
        raise RuntimeError(f"{op}: not implemented for bool tensors (as in PyTorch)")
    return x


def _reduce_dims(dim, shape, op):
    """normalize_dims for reductions: an empty tuple of dims means all dims, as in PyTorch."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        dim = None
    return R.normalize_dims(dim, tuple(shape), op)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def _cum_extreme(x, dim, is_min):
    name = "cummin" if is_min else "cummax"
    d = R.normalize_dims(dim, x.shape, name)[0]
    if x.ndim == 0:
        values, indices = R.CumExtreme.apply(x.reshape(1), 0, is_min)
        return MinMaxResult(values.reshape(()), indices.reshape(()))
    return MinMaxResult(*R.CumExtreme.apply(x, d, is_min))


def _pick(x, dim, keepdim, name, index_fn):
    """(values, indices) of the element `index_fn(array, dim)` picks in each slice along dim."""
    d = R.normalize_dims(dim, x.shape, name)[0]
    if x.ndim == 0:
        values, indices = _pick(x.reshape(1), 0, False, name, index_fn)
        return MinMaxResult(values, indices)
    if x.shape[d] == 0:
        raise RuntimeError(f"{name}: dim {dim} of shape {tuple(x.shape)} is empty")
    idx = index_fn(x.data, d).astype(np.int64)
    values = R.Pick.apply(x, idx, d, keepdim)
    xp = backend.array_module(idx)
    return MinMaxResult(values, Tensor._wrap(xp.expand_dims(idx, d) if keepdim else idx))


def _minmax(x, dim, keepdim, is_min):
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{'min' if is_min else 'max'}: reduction over an empty tensor "
                               f"of shape {tuple(x.shape)}")
        return R.Amax.apply(x, tuple(range(x.ndim)), False, is_min, True)
    d = R.normalize_dims(dim, x.shape, "min" if is_min else "max")[0]
    d = d if x.ndim else None
    values, indices = R.MaxDim.apply(x, d, keepdim, is_min)
    return MinMaxResult(values, indices)


class MinMaxResult(tuple):
    """(values, indices), also reachable as `.values` and `.indices`."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _arg(x, dim, keepdim, name):
    fn = getattr(x.data, name)
    if dim is None:
        out = fn()
        if keepdim:
            out = backend.array_module(x.data).asarray(out).reshape((1,) * x.ndim)
        return Tensor._wrap(backend.array_module(x.data).asarray(out, dtype=np.int64))
    d = R.normalize_dims(dim, x.shape, name)[0]
    return Tensor._wrap(fn(axis=d, keepdims=keepdim).astype(np.int64))


def _index_key(key, data):
    """Replace Tensors (and lists) in an index with arrays on `data`'s device (torch takes CPU
    indices for a CUDA tensor; the copy is made once, here)."""
    if isinstance(key, tuple):
        key = tuple(k.data if isinstance(k, Tensor) else
                    (np.asarray(k) if isinstance(k, list) else k) for k in key)
    elif isinstance(key, Tensor):
        key = key.data
    elif isinstance(key, list):
        key = np.asarray(key)
    if type(data) is np.ndarray:
        return key
    dev = backend.device_of(data)
    if isinstance(key, tuple):
        return tuple(backend.to_device(k, dev) if backend.is_array(k) else k for k in key)
    return backend.to_device(key, dev) if backend.is_array(key) else key


def engine_run(tensor, grad, retain_graph, which, create_graph=False):
    if retain_graph is None:
        retain_graph = create_graph
    engine.run_backward([tensor._edge()], [grad], bool(retain_graph), which,
                        create_graph=create_graph)


# ---- functional forms (also exported as mytorch.*) ----

def _floating(x):
    """x, or x in the default float dtype when it is an integer/bool tensor (as torch.exp)."""
    return x if dtypes.is_floating(x.dtype) else x.to(dtypes.get_default_dtype())


def atan2(input, other):
    """Elementwise angle of (other, input) in radians, in (-pi, pi]."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("atan2: expected at least one tensor")
    da, db = (t.data if isinstance(t, Tensor) else t for t in (input, other))
    # else promotion gives the float dtype
    if not dtypes.is_floating(dtypes.result_type(da, db)):
        input, other = (_floating(t) if isinstance(t, Tensor) else t for t in (input, other))
    return _binary(E.Atan2, input, other)


arctan2 = atan2


def remainder(input, other):
    """input - other * floor(input / other): the result takes the sign of other."""
    return _binary(E.Remainder, input, other)


def fmod(input, other):
    """input - other * trunc(input / other): the result takes the sign of input."""
    return _binary(E.Fmod, input, other)


def floor_divide(input, other):
    """floor(input / other) with PyTorch's dtype promotion (no gradient, as in PyTorch)."""
    return _binary(E.FloorDivide, input, other)


def float_power(input, exponent):
    """input ** exponent computed in float64 (the result is float64)."""
    f64 = dtypes.float64
    base = input.to(f64) if isinstance(input, Tensor) else Tensor._wrap(np.asarray(input, f64))
    if isinstance(exponent, Tensor):
        if not isinstance(input, Tensor):
            base = base.to(exponent.device)
        return pow(base, exponent.to(f64))
    return pow(base, float(exponent))


def lerp(input, end, weight):
    return input.lerp(end, weight)


def pow(x, exponent):
    if isinstance(exponent, Tensor):
        return _binary(E.PowTensor, x, exponent)
    if not isinstance(x, Tensor):
        x = Tensor._wrap(_to_array(x))
    if not dtypes.is_floating(x.dtype) and isinstance(exponent, float):
        x = x.to(dtypes.get_default_dtype())
    elif not dtypes.is_floating(x.dtype) and exponent < 0:
        raise RuntimeError(f"pow: integers to negative integer powers are not allowed "
                           f"({x.dtype} tensor ** {exponent})")
    elif x.dtype == np.bool_ and not isinstance(exponent, bool):
        x = x.to(dtypes.int64)  # bool ** 2 is int64, as in PyTorch
    return E.Pow.apply(x, exponent)


def matmul(a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: expected two tensors, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    a, b = _amp.cast("matmul", a, b)
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if b.ndim == 1 else sb[-2]
    if ka != kb:
        raise RuntimeError(f"matmul: shapes {sa} and {sb} cannot be multiplied "
                           f"({ka} != {kb})")
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: batch dims of shapes {sa} and {sb} do not broadcast") from None
    if a.dtype != b.dtype:
        dt = dtypes.result_type(a.data, b.data)
        a, b = a.to(dt), b.to(dt)
    return L.Matmul.apply(a, b)


def maximum(a, b):
    return _binary(E.Maximum, a, b)


def minimum(a, b):
    return _binary(E.Minimum, a, b)


def where(condition, x=None, y=None):
    """Elementwise `x if condition else y` (condition: bool tensor); `where(condition)` alone is
    `nonzero(condition, as_tuple=True)`."""
    if x is None and y is None:
        return nonzero(condition, as_tuple=True)
    if x is None or y is None:
        raise TypeError("where: pass both x and y, or neither")
    c = condition.data if isinstance(condition, Tensor) else _to_array(condition)
    if c.dtype != np.bool_:
        raise RuntimeError(f"where: expected a bool condition, got dtype {c.dtype}")
    x, y = _operand(x), _operand(y)
    ref = x if isinstance(x, Tensor) else y
    if not isinstance(ref, Tensor):
        ref = Tensor._wrap(_to_array(x))
        x = ref
    dx = x.data if isinstance(x, Tensor) else x
    dy = y.data if isinstance(y, Tensor) else y
    dtype = dtypes.result_type(dx, dy)
    if not isinstance(x, Tensor):
        x = Tensor._wrap(_scalar_like(x, ref.data, dtype))
    if not isinstance(y, Tensor):
        y = Tensor._wrap(_scalar_like(y, ref.data, dtype))
    try:
        np.broadcast_shapes(c.shape, x.shape, y.shape)
    except ValueError:
        raise RuntimeError(f"where: shapes {tuple(c.shape)}, {tuple(x.shape)} and "
                           f"{tuple(y.shape)} do not broadcast") from None
    return E.Where.apply(Tensor._wrap(c), x, y, dtype=dtype)


def cat(tensors, dim=0):
    """Concatenate along an existing dim."""
    tensors = list(_amp.cast("cat", *tensors))
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = R.normalize_dims(dim, ref.shape, "cat")[0]
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise RuntimeError(f"cat: sizes of tensors must match except in dim {dim}; tensor 0 "
                               f"has shape {tuple(ref.shape)}, tensor {i} has shape "
                               f"{tuple(t.shape)}")
    dt = ref.dtype
    for t in tensors[1:]:
        dt = dtypes.result_type(np.empty((1,), dt), t.data) if t.dtype != dt else dt
    tensors = [t.to(dt) for t in tensors]
    return S.Cat.apply(*tensors, dim=d)


concatenate = concat = cat


def stack(tensors, dim=0):
    """Stack along a new dim."""
    tensors = list(_amp.cast("stack", *tensors))
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise RuntimeError(f"stack: expects each tensor to be equal size, but got "
                               f"{tuple(ref.shape)} at entry 0 and {tuple(t.shape)} at entry {i}")
    d = R.normalize_dims(dim, ref.ndim + 1, "stack")[0]
    return S.Stack.apply(*tensors, dim=d)


def split(x, split_size_or_sections, dim=0):
    d = R.normalize_dims(dim, x.shape, "split")[0]
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [step] * (n // step) + ([n % step] if n % step else [])
        if not sizes:
            sizes = [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {dim} "
                               f"has size {n} (shape {tuple(x.shape)})")
    out = S.Split.apply(x, tuple(sizes), d)
    return out if isinstance(out, tuple) else (out,)


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = R.normalize_dims(dim, x.shape, "chunk")[0]
    if x.shape[d] == 0:  # PyTorch gives `chunks` empty pieces
        return S.Split.apply(x, (0,) * chunks, d) if chunks > 1 else (x._alias(),)
    return split(x, -(-x.shape[d] // chunks), d)


def gather(x, dim, index):
    d = R.normalize_dims(dim, x.shape, "gather")[0]
    idx = index.data if isinstance(index, Tensor) else _to_array(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"gather: index must be an integer tensor, got dtype {idx.dtype}")
    if idx.ndim != x.ndim:
        raise RuntimeError(f"gather: index shape {tuple(idx.shape)} and input shape "
                           f"{tuple(x.shape)} must have the same number of dims")
    if any(i != d and a > b for i, (a, b) in enumerate(zip(idx.shape, x.shape))):
        raise RuntimeError(f"gather: index shape {tuple(idx.shape)} is larger than input shape "
                           f"{tuple(x.shape)} outside dim {d}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= x.shape[d]):
        raise IndexError(f"gather: index out of range for dim {dim} with size {x.shape[d]} "
                         f"(input shape {tuple(x.shape)})")
    return I.Gather.apply(x, d, idx)


def scatter_add(x, dim, index, src):
    d = R.normalize_dims(dim, x.shape, "scatter_add")[0]
    idx = index.data if isinstance(index, Tensor) else _to_array(index)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= x.shape[d]):
        raise IndexError(f"scatter_add: index out of range for dim {dim} with size {x.shape[d]}")
    if isinstance(src, Tensor) and src.shape != idx.shape:
        src = src[tuple(slice(0, s) for s in idx.shape)]
    return I.ScatterAdd.apply(x, d, idx, src)


def index_select(x, dim, index):
    d = R.normalize_dims(dim, x.shape, "index_select")[0]
    idx = index.data if isinstance(index, Tensor) else _to_array(index)
    if idx.ndim != 1:
        raise RuntimeError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= x.shape[d]):
        raise IndexError(f"index_select: index out of range for dim {dim} with size "
                         f"{x.shape[d]} (input shape {tuple(x.shape)})")
    return I.IndexSelect.apply(x, d, idx)


def one_hot(index, num_classes=-1):
    idx = index.data if isinstance(index, Tensor) else _to_array(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected an integer tensor, got dtype {idx.dtype}")
    xp = backend.array_module(idx)
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got "
                           f"[{int(idx.min())}, {int(idx.max())}]")
    return Tensor._wrap((idx[..., None] == xp.arange(num_classes)).astype(np.int64))


def nonzero(x, as_tuple=False):
    """Indices of the non-zero elements of x: (N, ndim) int64, or (as_tuple) ndim 1-D tensors."""
    d = x.data if isinstance(x, Tensor) else _to_array(x)
    xp = backend.array_module(d)
    idx = xp.nonzero(d) if d.ndim else xp.nonzero(d.reshape(1))
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in idx)
    if not d.ndim:
        return Tensor._wrap(xp.zeros((len(idx[0]), 0), np.int64))
    return Tensor._wrap(xp.stack(idx, axis=1).astype(np.int64))


def _logical(a, b, name):
    db = b.data if isinstance(b, Tensor) else b
    return Tensor._wrap(getattr(backend.array_module(a.data), name)(a.data, db))


def mm(a, b):
    """Matrix product of two 2-D tensors."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    """Batched matrix product of two 3-D tensors (B, n, k) @ (B, k, m)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected 3-D tensors with equal batch size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def outer(a, b):
    """Outer product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return a.unsqueeze(1) * b.unsqueeze(0)


from mytorch.creation import empty, full, ones, zeros  # noqa: E402  (creation needs Tensor)
