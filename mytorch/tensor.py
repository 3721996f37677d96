"""Tensor: an array (NumPy or CuPy), its gradient, and the node that produced it.

This module is the core: autograd bookkeeping, device/dtype metadata, conversion, in-place
writes and their version counts, the Python protocol. The methods that compute come from one
class per group in `mytorch.methods` (arithmetic, math, comparison, reduction, shape, indexing,
creation), which Tensor inherits below; each calls an op of `mytorch.ops`.
"""
import weakref

import numpy as np

from mytorch import backend, dtypes, printing
from mytorch.autograd import engine, grad_mode
from mytorch.autograd import function as _function
from mytorch.autograd.function import AccumulateGrad
from mytorch.autograd.tensor_xp import DArray
from mytorch.methods.arithmetic import TensorArithmetic
from mytorch.methods.comparison import TensorComparison
from mytorch.methods.creation import TensorCreation
from mytorch.methods.indexing import TensorIndexing
from mytorch.methods.math import TensorMath
from mytorch.methods.reduction import TensorReduction
from mytorch.methods.shape import TensorShape
from mytorch.ops import elementwise as E
from mytorch.ops.reduce import normalize_dims
from mytorch.promotion import operand, to_array
from mytorch.tensor_aliases import TensorAliases


class Tensor(TensorArithmetic, TensorMath, TensorComparison, TensorReduction, TensorShape,
             TensorIndexing, TensorCreation, TensorAliases):
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
        self.data = to_array(data, dtype, device)
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
            data = self.data
            if type(data) is np.ndarray:
                g = np.ones_like(data)
            else:
                with backend.device_scope(data):
                    g = backend.array_module(data).ones_like(data)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else to_array(gradient)
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
                return None if out is None else DArray(operand(out))
            out = hook(Tensor._wrap(g))
            return None if out is None else (out.data if isinstance(out, Tensor) else out)
        return self._add_hook(on_array)

    def register_post_accumulate_grad_hook(self, hook):
        """Call `hook(tensor)` on this leaf once backward has accumulated its `.grad`."""
        if self.grad_fn is not None or not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that "
                               "require grad have a gradient to accumulate")
        return self._add_leaf_hook("post", hook)

    def _add_leaf_hook(self, kind, hook):
        """Register `hook` under `kind` on this leaf's gradient-accumulating node."""
        node, _ = self._edge()
        self._accum_node = node  # a leaf's node is weakly held; its hooks must live on
        if node._hooks is None:
            node._hooks = {}
        node._hooks.setdefault(kind, []).append(hook)
        return _HookHandle(node, kind, hook)

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
        return self.data.shape[normalize_dims(dim, self.shape, "size")[0]]

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
        return printing.tensor_repr(self)

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

    # ---- in place ----

    # in place: true in-place on the array when no graph is recorded; otherwise the result is
    # computed out of place and this tensor is rebound to it (saved arrays stay intact).
    def _inplace(self, fn, other, ufunc):
        o = operand(other)
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
        s = src.data if isinstance(src, Tensor) else to_array(src)
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
    def _unary_(self, out, name):
        if out.dtype != self.dtype:
            raise RuntimeError(f"{name}: result type {out.dtype} can't be cast to the "
                               f"desired output type {self.dtype}")
        self._rebind_or_write(out)
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


_function.Tensor = Tensor


class _HookHandle:
    def __init__(self, node, nr, fn):
        self._ref = weakref.ref(node)
        self.nr, self.fn = nr, fn

    def remove(self):
        node = self._ref()
        if node is not None and node._hooks and self.fn in node._hooks.get(self.nr, []):
            node._hooks[self.nr].remove(self.fn)


def engine_run(tensor, grad, retain_graph, which, create_graph=False):
    if retain_graph is None:
        retain_graph = create_graph
    engine.run_backward([tensor._edge()], [grad], bool(retain_graph), which,
                        create_graph=create_graph)
