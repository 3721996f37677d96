"""`Function`: one primitive, forward and backward side by side, on raw arrays.

A Function instance is both the `ctx` its forward/backward receive and the graph node
(`tensor.grad_fn`) that the engine walks. Write your own like in PyTorch:

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return 3 * x * x * gy

    y = Cube.apply(t)   # t: a Tensor; forward/backward see its array
"""
import traceback
import weakref

import numpy as np

from mytorch.autograd.grad_mode import _anomaly
from mytorch.autograd.grad_mode import _state as _grad_state
from mytorch.backend import cupy, device_of, scope_of

Tensor = None  # mytorch.tensor.Tensor, bound by that module (it imports this one)
_new = object.__new__
_ndarray, _generic, _asarray = np.ndarray, np.generic, np.asarray
_arraytypes = (np.ndarray,) if cupy is None else (np.ndarray, cupy.ndarray)


class Function:
    """Base class of every differentiable primitive; subclass it to write your own op.

    Define two static methods:

    * ``forward(ctx, *args, **kwargs)``: gets the raw arrays of Tensor arguments (NumPy or
      CuPy; other arguments pass through unchanged) and returns an array or a tuple of arrays.
      Store what backward needs with ``ctx.save_for_backward(*arrays)`` or as ``ctx.attr``.
    * ``backward(ctx, *grad_outputs)``: gets one gradient array per output and returns one
      gradient per positional forward input (None where there is none; trailing non-tensor
      inputs may be left out). ``ctx.needs_input_grad[i]`` says whether input i needs one.
      Gradients may keep a broadcast shape: the engine sums them back to each input's shape.

    Call it with ``MyFn.apply(*args, **kwargs)``: Tensors go in, Tensors come out, and the
    graph is recorded when grad mode is on and an input requires grad. The saved state is
    freed after backward unless ``retain_graph=True``.
    """

    # The bookkeeping `apply` sets on a recorded node lives in slots, so everything in the
    # instance __dict__ is saved state that `backward` may free.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_forward_stack",
        "_freed",
        "_hooks",
        "input_meta",
        "n_outputs",
        "needs_input_grad",
        "next_edges",
        "output_meta",
    )

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    # Optional: a staticmethod computing forward from differentiable Tensor ops, with forward's
    # signature (Tensors in, Tensor or tuple out). When backward cannot run on differentiable
    # arrays (a compiled kernel, floating-point state computed in forward), create_graph=True
    # differentiates this instead. First-order backward never uses it.
    composite = None
    # Optional: the index of the one input this op is linear in (its other inputs being
    # indices, shapes, flags). Its backward is then linear too, with this op's forward as its
    # adjoint, so create_graph needs no second formula: see `_Adjoint`.
    linear_in = None
    # Optional: saved-array positions (ints) and ctx attribute names (strs) holding floating
    # arrays computed in forward that are constants of the gradient (a mask's reference
    # values, say); create_graph refuses any other such array rather than lose its graph.
    graph_constants = ()
    # Optional, for an op with a `composite`: `rebuilt_inputs(ctx)` gives the indices of the
    # inputs that ctx's saved state determines well enough for the composite's derivatives,
    # and `rebuild_input(ctx, i)` rebuilds one. create_graph then does not keep those inputs
    # alive, so first-order memory stays what forward saves (softmax's logits are the log of
    # its saved output up to a per-row constant, which the softmax cannot see).
    rebuilt_inputs = None
    _keeps_call = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._keeps_call = cls.composite is not None or cls.linear_in is not None

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def saved_last_use(self):
        """In backward: True when this is the last use of the saved state (backward without
        retain_graph: the engine frees it on return), so backward may write its result into a
        saved buffer instead of allocating one (cross-entropy's gradient goes into the saved
        softmax). False when the graph is retained, or when create_graph runs the composite."""
        return self.__dict__.get("_last_use", False)

    def rows_for_leaf(self, i):
        """In backward: True when input i's gradient may be returned as a RowGrad (a few rows
        of an otherwise zero matrix, mytorch.autograd.row_grad): the plain engine runs this
        backward for the last time (saved_last_use: no retain_graph, no create_graph, no
        adjoint) and input i is a leaf, so the rows go straight into its .grad. An embedding
        uses it to skip a dense (num_embeddings, D) array."""
        edge = self.next_edges[i] if self.saved_last_use() else None
        return edge is not None and type(edge[0]) is AccumulateGrad

    def mark_non_differentiable(self, *arrays):
        self._non_diff = {id(a) for a in arrays}

    def name(self):
        return f"{type(self).__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.next_edges)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the arrays of `args` and, when grad is on, link the graph."""
        ctx = _new(cls)
        arrays = []
        needs = []
        any_grad = False
        record = _grad_state.enabled
        first = None
        for a in args:
            if isinstance(a, Tensor):
                data = a.data
                if first is None:
                    first = data
                elif type(data) is not type(first) or (
                        type(data) is not _ndarray and data.device != first.device):
                    _device_error(cls, args)
                arrays.append(data)
                if record and a._requires_grad:
                    needs.append(True)
                    any_grad = True
                    continue
            else:
                arrays.append(a)
            needs.append(False)
        ctx.needs_input_grad = tuple(needs)
        scope = None if first is None or type(first) is _ndarray else scope_of(first)
        if scope is None:
            out = cls.forward(ctx, *arrays, **kwargs)
        else:  # ops run on their inputs' GPU, whichever is current
            with scope:
                out = cls.forward(ctx, *arrays, **kwargs)
        if not any_grad:
            if type(out) is tuple:
                return tuple(_wrap(o, None, 0) for o in out)
            return _wrap(out, None, 0)
        # The graph's edges and the inputs' (shape, dtype), in one plain loop (a comprehension
        # is a function call in Python 3.11: every recorded op would pay for two).
        edges = []
        metas = []
        saved = ctx.__dict__.get("saved_tensors")
        ids = [] if saved and not cls._keeps_call else None
        for a, data, n in zip(args, arrays, needs):
            if ids is not None:
                ids.append(id(data))
            if n:
                fn = a.grad_fn
                edges.append((fn, a._output_nr) if fn is not None else a._edge())
                metas.append((data.shape, data.dtype))
            else:
                edges.append(None)
                metas.append(None)
        ctx.next_edges = edges
        ctx.input_meta = metas
        if saved:
            ctx._saved_versions = _record_versions(saved)
            if ids is not None:
                # which saved arrays are inputs or outputs: create_graph backward hands those
                # over as graph-connected tensors (ids are safe: the saved arrays stay alive
                # with ctx). A composite or linear op reruns forward instead (`_call`).
                if type(out) is tuple:
                    ids.extend(map(id, out))
                else:
                    ids.append(id(out))
                ctx._saved_ids = ids  # inputs' array ids, then outputs'
        if cls._keeps_call:
            # What create_graph needs to rerun forward: the arrays and the argument types (not
            # the Tensors: an in-place op rebinding one would make a cycle). Not a linear
            # input (its adjoint gets it) nor one create_graph rebuilds from saved state.
            if cls.linear_in is not None:
                arrays[cls.linear_in] = None
            elif cls.rebuilt_inputs is not None:
                for i in cls.rebuilt_inputs(ctx):
                    arrays[i] = None
            ctx._call = (arrays, kwargs, tuple(map(type, args)))
        ctx._hooks = None
        ctx._freed = False
        if _anomaly.enabled:  # where this op was called, for backward's error messages
            ctx._forward_stack = traceback.format_stack()[:-1]
        if type(out) is tuple:
            return _wrap_outputs(ctx, out)
        ctx.n_outputs = 1
        return _wrap(out, ctx, 0)



class NonDifferentiable(Function):
    """A Function with no gradient (comparisons, logical ops, isnan, ...): `apply` runs forward
    with the same device checks and device scope as every op, and records no graph; outputs
    never require grad, as in PyTorch. Nothing is saved, so forward takes the arrays (and
    other positional arguments) alone, without ctx: `forward = staticmethod(operator.lt)` is
    a whole op. Define no backward."""

    __slots__ = ()

    @classmethod
    def apply(cls, *args):
        """Run forward on the arrays of `args`; the outputs are Tensors outside any graph."""
        n = len(args)
        if n == 1 or (n == 2 and not isinstance(args[1], Tensor)):
            # fast path, as `t < 0.5` or `t.isnan()`: one host tensor needs no device checks
            x = args[0]
            if isinstance(x, Tensor) and type(x.data) is _ndarray:
                out = cls.forward(x.data) if n == 1 else cls.forward(x.data, args[1])
                return _wrap(out) if type(out) is not tuple else tuple(_wrap(o) for o in out)
        arrays = []
        first = None
        for a in args:
            if isinstance(a, Tensor):
                a = a.data
                if first is None:
                    first = a
                elif type(a) is not type(first) or (
                        type(a) is not _ndarray and a.device != first.device):
                    _device_error(cls, args)
            arrays.append(a)
        scope = None if first is None or type(first) is _ndarray else scope_of(first)
        if scope is None:
            out = cls.forward(*arrays)
        else:
            with scope:
                out = cls.forward(*arrays)
        if type(out) is tuple:
            return tuple(_wrap(o) for o in out)
        return _wrap(out)


# ---------------------------------------------------------------------------------------
# Version counters: PyTorch's check that an array saved for backward was not changed in place
# before backward ran. Counts are kept per owning array (a view's writes count for its base)
# and only for arrays that have been written in place: save_for_backward's arrays get their
# count read (0 if never written), every in-place write bumps it, and backward compares.

_versions = {}  # id(owning array) -> in-place writes so far


def _owner(a):
    """The array owning a's memory: a itself or the base it is a view of."""
    b = a.base
    while b is not None and type(b) is type(a):
        a, b = b, b.base
    return a


def bump_version(a):
    """Count one in-place write to array `a` (Tensor's in-place methods and the optimizers
    call this after writing)."""
    owner = _owner(a)
    k = id(owner)
    v = _versions.get(k)
    if v is None:
        try:
            weakref.finalize(owner, _versions.pop, k, None)
        except TypeError:  # not weak-referenceable: keep the count for the process
            pass
        v = 0
    _versions[k] = v + 1


def version_of(a):
    return _versions.get(id(_owner(a)), 0)


def _record_versions(saved):
    """(owner id, version, shape) of every array in `saved` (what save_for_backward got)."""
    rec = []
    for a in saved:
        if isinstance(a, _arraytypes):
            owner = a if a.base is None else _owner(a)
            k = id(owner)
            rec.append((k, _versions.get(k, 0), a.shape))
    return rec


def check_versions(node):
    """Raise if an array `node` saved for backward was modified in place since."""
    for k, v, shape in node.__dict__.get("_saved_versions", ()):
        now = _versions.get(k, 0)
        if now != v:
            raise RuntimeError(
                f"{node.name()}: one of the arrays saved for gradient computation (shape "
                f"{tuple(shape)}) has been modified by an in-place operation: it is at version "
                f"{now}; expected version {v} instead. Clone it before writing to it, or do the "
                "in-place write after backward.")


class _Adjoint(Function):
    """The backward of an op linear in input `linear_in`, as an op of its own (create_graph).

    forward(gy) is the op's backward; being linear, its own backward is the op's forward
    applied to the incoming gradient, and under create_graph again that forward as a Tensor
    op. So linear ops (indexing, shape ops, pooling by averages) differentiate to any order
    with the one backward they have.
    """

    linear_in = 0

    @staticmethod
    def forward(ctx, gy, node):
        ctx.op, ctx.call = type(node), node._call
        gx = type(node).backward(node, gy)
        return gx[node.linear_in] if type(gx) is tuple else gx

    @staticmethod
    def backward(ctx, ggx):
        arrays, kwargs, _ = ctx.call
        args = list(arrays)
        args[ctx.op.linear_in] = ggx
        out = ctx.op.forward(_new(ctx.op), *args, **kwargs)
        return out, None

    @staticmethod
    def graph_backward(node, gy):
        """create_graph backward of an _Adjoint node: the original op's forward, as an op."""
        arrays, kwargs, types = node.call
        args = [_wrap(a) if a is not None and issubclass(t, Tensor) else a
                for a, t in zip(arrays, types)]
        args[node.op.linear_in] = gy
        return node.op.apply(*args, **kwargs)


def linear_graph_backward(node, gy):
    """create_graph backward of a node of an op linear in one input: a Tensor."""
    if type(node) is _Adjoint:
        return _Adjoint.graph_backward(node, gy)
    return _Adjoint.apply(gy, node)


def _wrap(data, grad_fn=None, output_nr=0):
    """A Tensor around an op's output array: no conversion, no checks (also Tensor._wrap)."""
    t = _new(Tensor)
    if type(data) is not _ndarray and isinstance(data, _generic):
        data = _asarray(data)  # NumPy reductions return scalars; keep arrays
    t.data = data
    t.grad = None
    t.grad_fn = grad_fn
    t._output_nr = output_nr
    t._requires_grad = grad_fn is not None
    return t


def _wrap_outputs(ctx, out):
    ctx.n_outputs = len(out)
    ctx.output_meta = tuple((o.shape, o.dtype) for o in out)
    non_diff = ctx.__dict__.get("_non_diff", ())
    return tuple(_wrap(o, None, 0) if id(o) in non_diff else _wrap(o, ctx, i)
                 for i, o in enumerate(out))


def _device_error(cls, args):
    devs = [str(device_of(a.data)) for a in args if isinstance(a, Tensor)]
    shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor)]
    raise RuntimeError(
        f"{cls.__name__}: expected all tensors on the same device, got devices {devs} "
        f"(shapes {shapes})")


class AccumulateGrad:
    """The node at a leaf: adds the incoming gradient into `leaf.grad`."""

    __slots__ = ("__weakref__", "_hooks", "variable")
    next_edges = ()
    n_outputs = 1
    _freed = False

    def __init__(self, variable):
        self.variable = variable
        self._hooks = None

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"

    next_functions = ()
