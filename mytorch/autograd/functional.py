"""Higher-level autograd on functions (`torch.autograd.functional`): `vjp` and `jacobian`.

Both work by reverse mode only. `hessian`, `hvp`, `jvp` and `vhp` are left out: they need
double backward (or forward-mode AD), which mytorch does not have.
"""
from mytorch import autograd as _autograd
from mytorch.autograd.grad_mode import enable_grad
from mytorch.backend import array_module

__all__ = ["jacobian", "vjp"]


def _tensor_type():
    from mytorch.tensor import Tensor
    return Tensor


def _as_tuple(x, what, fn_name):
    """(was it a tuple, x as a tuple of Tensors), refusing anything else as torch does."""
    Tensor = _tensor_type()
    is_tuple = isinstance(x, tuple)
    xs = x if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            where = f"{what}" if not is_tuple else f"element {i} of {what}"
            raise TypeError(f"{fn_name}: {where} should be a Tensor (the {what} must be a Tensor "
                            f"or a tuple of Tensors), got {type(t).__name__}")
    return is_tuple, xs


def _prepare(func, inputs, fn_name, create_graph):
    if create_graph:
        raise NotImplementedError(f"{fn_name}: create_graph=True needs double backward, which "
                                  "mytorch does not support")
    is_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    # Fresh leaves: the caller's tensors and graph stay untouched.
    leaves = tuple(_tensor_type()._wrap(x.data).requires_grad_() for x in inputs)
    with enable_grad():
        out = func(*leaves)
    out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", fn_name)
    return is_tuple, leaves, out_tuple, outs


def _unused(fn_name, i, j, strict):
    if strict:
        raise RuntimeError(f"{fn_name}: output {i} of the user-provided function is independent "
                           f"of input {j}. This is not allowed in strict mode.")


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product of `func` at `inputs`.

    `inputs` and `v` are a Tensor or a tuple of Tensors; `v` has the outputs' shapes (it may be
    omitted when func returns a single one-element Tensor). The product has the inputs'
    structure and shapes; an input the outputs do not depend on gets zeros.

    >>> out, g = vjp(lambda x: x ** 2, x, mytorch.ones(3))   # g == 2 * x
    """
    Tensor = _tensor_type()
    is_tuple, leaves, out_tuple, outs = _prepare(func, inputs, "vjp", create_graph)
    if v is None:
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("vjp: the vector v can only be None if the user-provided function "
                               "returns a single Tensor with a single element")
        vs = (Tensor._wrap(array_module(outs[0].data).ones_like(outs[0].data)),)
    else:
        _, vs = _as_tuple(v, "v", "vjp")
        if len(vs) != len(outs):
            raise RuntimeError(f"vjp: v has {len(vs)} elements but the user-provided function "
                               f"returns {len(outs)} outputs")
        for i, (a, o) in enumerate(zip(vs, outs)):
            if tuple(a.shape) != tuple(o.shape):
                raise RuntimeError(f"vjp: mismatch in shape: v[{i}] has shape {tuple(a.shape)} "
                                   f"but output {i} has shape {tuple(o.shape)}")
    used = [i for i, o in enumerate(outs) if o.requires_grad]
    if strict and len(used) < len(outs):
        _unused("vjp", next(i for i in range(len(outs)) if i not in used), 0, strict)
    grads = [None] * len(leaves)
    if used:
        grads = _autograd.grad([outs[i] for i in used], list(leaves), [vs[i] for i in used],
                      allow_unused=True)
    result = []
    for j, (x, g) in enumerate(zip(leaves, grads)):
        if g is None:
            _unused("vjp", 0, j, strict)
            g = Tensor._wrap(array_module(x.data).zeros_like(x.data))
        result.append(g)
    out = tuple(o.detach() for o in outs)
    return (out if out_tuple else out[0]), (tuple(result) if is_tuple else result[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of `func` at `inputs`, one backward per output element.

    For output i of shape O_i and input j of shape I_j, the block has shape O_i + I_j and the
    input's dtype. The nesting follows torch: a Tensor for one input and one output, a tuple
    over inputs (or outputs) when only they are a tuple, `result[i][j]` when both are.
    `vectorize` is accepted for compatibility; the values are the same either way.

    >>> jacobian(lambda x: x.sin(), x)          # x: (3,) -> (3, 3), diagonal cos(x)
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('jacobian: expected strategy to be either "forward-mode" or '
                         f'"reverse-mode", got {strategy!r}')
    if strategy == "forward-mode":
        raise NotImplementedError("jacobian: strategy='forward-mode' needs forward-mode AD, "
                                  "which mytorch does not have; use strategy='reverse-mode'")
    Tensor = _tensor_type()
    is_tuple, leaves, out_tuple, outs = _prepare(func, inputs, "jacobian", create_graph)
    blocks = []
    for i, out in enumerate(outs):
        xp = array_module(out.data)
        n = out.numel()
        rows = [xp.zeros((n, x.numel()), x.dtype) for x in leaves]  # (numel(O_i), numel(I_j))
        if out.requires_grad and n:
            for k in range(n):
                seed = xp.zeros(n, out.dtype)  # fresh: a gradient may be this very array
                seed[k] = 1
                grads = _autograd.grad(out, list(leaves), Tensor._wrap(seed.reshape(out.shape)),
                                       retain_graph=True, allow_unused=True)
                for j, g in enumerate(grads):
                    if g is not None:
                        rows[j][k] = g.data.reshape(-1)
            missing = [j for j, g in enumerate(grads) if g is None]
        else:
            missing = range(len(leaves))
        for j in missing:
            _unused("jacobian", i, j, strict)
        blocks.append(tuple(Tensor._wrap(r.reshape(tuple(out.shape) + tuple(x.shape)))
                            for r, x in zip(rows, leaves)))
    if out_tuple:
        return tuple(b if is_tuple else b[0] for b in blocks)
    return blocks[0] if is_tuple else blocks[0][0]
