"""Activation checkpointing (`torch.utils.checkpoint`): trade compute for memory.

`checkpoint(fn, *args)` runs `fn` without recording its graph, keeping only the inputs; when
backward reaches it, `fn` runs again with grad on and the incoming gradient is pushed through
that fresh graph. Activations inside `fn` live only during that recomputation.
"""
import numpy as np

from mytorch import backend
from mytorch import random as _random
from mytorch.autograd import backward as _backward
from mytorch.autograd.function import Function
from mytorch.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad

__all__ = ["checkpoint", "checkpoint_sequential"]


def _tensor_type():
    from mytorch.tensor import Tensor
    return Tensor


def checkpoint(function, *args, use_reentrant=False, preserve_rng_state=True, **kwargs):
    """`function(*args, **kwargs)`, with its activations recomputed during backward instead of
    stored.

    Gradients reach the tensor arguments and accumulate into the `.grad` of parameters that
    `function` uses, as without checkpointing. With `preserve_rng_state`, the recomputation
    replays the random stream of the forward, so dropout draws the same masks.

    use_reentrant=False (default): outputs require grad whenever grad mode is on, since
    parameters inside `function` may need gradients even when no argument does (mytorch cannot
    tell without recording). use_reentrant=True follows torch's reentrant variant: no keyword
    arguments, and no gradients at all unless some tensor argument requires grad.

    Gradients into parameters are accumulated while backward passes the checkpoint, also under
    `mytorch.autograd.grad` (torch's reentrant variant refuses that case).

    >>> y = checkpoint(block, x)          # x: (B, T, C); y as block(x), less memory
    >>> y.sum().backward()
    """
    if use_reentrant and kwargs:
        raise ValueError("checkpoint: keyword arguments are not supported with "
                         f"use_reentrant=True; got {', '.join(kwargs)}")
    Tensor = _tensor_type()
    if not is_grad_enabled():
        return function(*args, **kwargs)
    tensors = [a for a in args if isinstance(a, Tensor)]
    if use_reentrant:
        if not any(t.requires_grad for t in tensors):
            import warnings
            warnings.warn("checkpoint: none of the inputs have requires_grad=True; gradients "
                          "will be None", stacklevel=2)
        lead = ()
    else:
        # A leaf that requires grad makes Function.apply always record the node.
        # It is a 0-d zero on the device of the first tensor argument.
        like = tensors[0].data if tensors else np.zeros(())
        lead = (Tensor._wrap(like.reshape(-1)[:0].sum().astype(np.float32)).requires_grad_(),)
    holder = []
    outs = _Checkpoint.apply(*lead, *args, n_lead=len(lead), function=function, args=args,
                             kwargs=kwargs, preserve=preserve_rng_state, holder=holder)
    structure = holder[0]
    outs = iter(outs)
    if isinstance(structure, tuple):
        return tuple(next(outs) if isinstance(o, Tensor) else o for o in structure)
    return next(outs)


class _Checkpoint(Function):
    """Runs `function` under no_grad; backward reruns it with grad on and backpropagates."""

    @staticmethod
    def forward(ctx, *arrays, n_lead, function, args, kwargs, preserve, holder):
        Tensor = _tensor_type()
        ctx.function, ctx.args, ctx.kwargs, ctx.n_lead = function, args, kwargs, n_lead
        # Only the inputs are kept (with their version counts: an in-place write before
        # backward is caught like for any saved array).
        ctx.save_for_backward(*(a.data for a in args if isinstance(a, Tensor)))
        ctx.rng = _stash_rng(args) if preserve else None
        with no_grad():
            out = function(*args, **kwargs)
        holder.append(out)
        outs = out if isinstance(out, tuple) else (out,)
        if not isinstance(out, (Tensor, tuple)) or not any(isinstance(o, Tensor) for o in outs):
            raise TypeError(f"checkpoint: function should return a Tensor or a tuple holding "
                            f"Tensors, got {type(out).__name__}")
        arrays = tuple(o.data for o in outs if isinstance(o, Tensor))
        # Integer outputs (indices, masks) get no gradient. A copy keeps the marking exact
        # when an integer output is also returned as a float one.
        ints = [a for a in arrays if a.dtype.kind not in "fc"]
        if ints:
            arrays = tuple(a.copy() if a.dtype.kind not in "fc" else a for a in arrays)
            ctx.mark_non_differentiable(*(a for a in arrays if a.dtype.kind not in "fc"))
        ctx.diff = [a.dtype.kind in "fc" for a in arrays]
        return arrays

    @staticmethod
    def backward(ctx, *grads):
        Tensor = _tensor_type()
        detached = []
        for a in ctx.args:
            if isinstance(a, Tensor):
                d = Tensor._wrap(a.data)
                d.requires_grad = a.requires_grad
                a = d
            detached.append(a)
        with _replay_rng(ctx.rng), enable_grad():
            out = ctx.function(*detached, **ctx.kwargs)
        outs = [o for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, Tensor)]
        roots, root_grads = [], []
        for o, g, diff in zip(outs, grads, ctx.diff):
            if diff and o.requires_grad and g is not None:
                roots.append(o)
                root_grads.append(Tensor._wrap(g))
        if roots:
            _backward(roots, root_grads)
        gx = [None] * ctx.n_lead
        for d in detached:
            gx.append(d.grad.data if isinstance(d, Tensor) and d.grad is not None else None)
        return tuple(gx)


# ----------------------------------------------------------------------------- RNG replay
# Every stream an argument's device draws from is saved before the forward and restored for
# the recomputation, so it draws what the forward drew (the masks equal those of a run
# without checkpointing).

def _stash_rng(args):
    Tensor = _tensor_type()
    cuda = {backend.resolve(a.device).index for a in args
            if isinstance(a, Tensor) and a.device.type == "cuda"}
    return _random.get_rng_state(), {i: _random.cuda_generator(i).get_state() for i in cuda}


class _replay_rng:
    def __init__(self, stash):
        self.stash = stash

    def __enter__(self):
        if self.stash is None:
            return
        cpu, cuda = self.stash
        self.cpu_now = _random.get_rng_state()
        _random.set_rng_state(cpu)
        self.cuda_now = {}
        for idx, state in cuda.items():
            gen = _random.cuda_generator(idx)
            self.cuda_now[idx] = gen.get_state()
            gen.set_state(state)

    def __exit__(self, *exc):
        if self.stash is None:
            return False
        _random.set_rng_state(self.cpu_now)
        for idx, state in self.cuda_now.items():
            _random.cuda_generator(idx).set_state(state)
        return False


def checkpoint_sequential(functions, segments, input, use_reentrant=False, **kwargs):
    """Run `functions` (an `nn.Sequential` or a list of callables) on `input` in `segments`
    chunks, checkpointing every chunk but the last (as torch does).

    >>> y = checkpoint_sequential(nn.Sequential(*blocks), 2, x)
    """
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("checkpoint_sequential: unexpected keyword arguments: "
                         + ",".join(kwargs))
    from mytorch.nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)
    if not 0 < segments <= max(len(functions), 1):
        raise ValueError(f"checkpoint_sequential: segments should be in [1, {len(functions)}] "
                         f"for {len(functions)} functions, got {segments}")

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1)(input)
