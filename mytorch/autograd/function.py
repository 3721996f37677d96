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
from mytorch.autograd import grad_mode
from mytorch.backend import device_of


class Function:
    """Base class of every differentiable primitive.

    Subclasses define `forward(ctx, *args) -> array | tuple of arrays` and
    `backward(ctx, *grad_outputs) -> grad | tuple of grads` (one per forward input; None
    for inputs that need no gradient). Grads may keep broadcast shapes: the engine sums
    them back to each input's shape.
    """

    # Set on the node by `apply`:
    #   next_edges      per input: (node, output_nr) or None
    #   input_meta      per input: (shape, dtype), to undo broadcasting and casts
    #   needs_input_grad
    #   n_outputs
    _freed = False
    _hooks = None  # {output_nr: [hook, ...]} from register_hook on non-leaf outputs

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

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
        from mytorch.tensor import Tensor

        ctx = cls()
        arrays = []
        needs = []
        any_grad = False
        record = grad_mode.is_grad_enabled()
        first = None
        for a in args:
            if isinstance(a, Tensor):
                data = a.data
                if first is None:
                    first = data
                elif type(data) is not type(first) or (
                        type(data).__module__ != "numpy" and data.device != first.device):
                    _device_error(cls, args)
                arrays.append(data)
                r = record and a.requires_grad
                needs.append(r)
                any_grad = any_grad or r
            else:
                arrays.append(a)
                needs.append(False)
        ctx.needs_input_grad = tuple(needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        if not any_grad:
            if isinstance(out, tuple):
                return tuple(Tensor._wrap(o) for o in out)
            return Tensor._wrap(out)
        ctx.next_edges = tuple(a._edge() if n else None for a, n in zip(args, needs))
        ctx.input_meta = tuple((x.shape, x.dtype) if n else None for x, n in zip(arrays, needs))
        non_diff = getattr(ctx, "_non_diff", ())
        if isinstance(out, tuple):
            ctx.n_outputs = len(out)
            ctx.output_meta = tuple((o.shape, o.dtype) for o in out)
            return tuple(Tensor._wrap(o) if id(o) in non_diff else Tensor._wrap(o, ctx, i)
                         for i, o in enumerate(out))
        ctx.n_outputs = 1
        return Tensor._wrap(out, ctx, 0)


def _device_error(cls, args):
    from mytorch.tensor import Tensor
    devs = [str(device_of(a.data)) for a in args if isinstance(a, Tensor)]
    shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor)]
    raise RuntimeError(
        f"{cls.__name__}: expected all tensors on the same device, got devices {devs} "
        f"(shapes {shapes})")


class AccumulateGrad:
    """The node at a leaf: adds the incoming gradient into `leaf.grad`."""

    __slots__ = ("variable", "_hooks", "__weakref__")
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
