"""Higher-level autograd on functions (`torch.autograd.functional`): `vjp`, `jvp`, `vhp`,
`hvp`, `jacobian` and `hessian`.

All work by reverse mode. `jvp` and `hvp` use the double-backward trick: the vector-Jacobian
product g(u) = J^T u is linear in u, so differentiating <g(u), v> with respect to u gives J v.
With `create_graph=True` the results keep a graph back to the inputs (which are then used as
they are when they require grad), so they can be differentiated again.
"""
from mytorch import autograd as _autograd
from mytorch.autograd.grad_mode import enable_grad
from mytorch.backend import array_module

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


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


def _leaves(inputs, create_graph):
    """Tensors to differentiate with respect to. Without create_graph, fresh leaves: the
    caller's tensors and graph stay untouched. With it, an input that requires grad is used
    through a view, so results stay linked to it (as torch does)."""
    Tensor = _tensor_type()
    with enable_grad():
        return tuple(x.view_as(x) if create_graph and x.requires_grad
                     else Tensor._wrap(x.data).requires_grad_() for x in inputs)


def _prepare(func, inputs, fn_name, create_graph):
    is_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    leaves = _leaves(inputs, create_graph)
    with enable_grad():
        out = func(*leaves)
    out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", fn_name)
    return is_tuple, leaves, out_tuple, outs


def _vectors(v, like, what, fn_name):
    """`v` as a tuple matching `like` in length and shapes (None allowed for one 1-element)."""
    Tensor = _tensor_type()
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(f"{fn_name}: the vector v can only be None if the {what} is a "
                               "single Tensor with a single element")
        return (Tensor._wrap(array_module(like[0].data).ones_like(like[0].data)),)
    _, vs = _as_tuple(v, "v", fn_name)
    if len(vs) != len(like):
        raise RuntimeError(f"{fn_name}: v has {len(vs)} elements but the {what} has "
                           f"{len(like)}")
    for i, (a, o) in enumerate(zip(vs, like)):
        if tuple(a.shape) != tuple(o.shape):
            raise RuntimeError(f"{fn_name}: mismatch in shape: v[{i}] has shape "
                               f"{tuple(a.shape)} but {what} {i} has shape {tuple(o.shape)}")
    return vs


def _grads(outs, leaves, vs, create_graph, fn_name, strict, zeros=True):
    """sum_i v_i^T d(outs_i)/d(leaves), one per leaf (zeros, or None, for an unused one)."""
    Tensor = _tensor_type()
    used = [i for i, o in enumerate(outs) if o.requires_grad]
    if strict and len(used) < len(outs):
        _unused(fn_name, next(i for i in range(len(outs)) if i not in used), 0, strict)
    grads = [None] * len(leaves)
    if used:
        with enable_grad():
            grads = _autograd.grad([outs[i] for i in used], list(leaves),
                                   [vs[i] for i in used], create_graph=create_graph,
                                   retain_graph=True, allow_unused=True)
    result = []
    for j, (x, g) in enumerate(zip(leaves, grads)):
        if g is None:
            _unused(fn_name, 0, j, strict)
            if zeros:
                g = Tensor._wrap(array_module(x.data).zeros_like(x.data))
        result.append(g)
    return result


def _post(xs, create_graph):
    return tuple(x if create_graph or x is None else x.detach() for x in xs)


def _shape_like(is_tuple, xs):
    return xs if is_tuple else xs[0]


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
    is_tuple, leaves, out_tuple, outs = _prepare(func, inputs, "vjp", create_graph)
    vs = _vectors(v, outs, "output", "vjp")
    result = _grads(outs, leaves, vs, create_graph, "vjp", strict)
    return (_shape_like(out_tuple, _post(outs, create_graph)),
            _shape_like(is_tuple, _post(result, create_graph)))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-backward trick.

    `v` has the inputs' shapes (omit it for a single one-element input); the product has the
    outputs' structure and shapes.

    >>> out, jv = jvp(lambda x: x ** 2, x, mytorch.ones(3))   # jv == 2 * x
    """
    Tensor = _tensor_type()
    is_tuple, leaves, out_tuple, outs = _prepare(func, inputs, "jvp", create_graph)
    vs = _vectors(v, leaves, "input", "jvp")
    # g(u) = J^T u for a dummy u; d<g(u), v>/du = J v
    dummies = tuple(Tensor._wrap(array_module(o.data).zeros_like(o.data)).requires_grad_()
                    for o in outs)
    gu = _grads(outs, leaves, dummies, True, "jvp", strict, zeros=False)
    pairs = [(g, vj) for g, vj in zip(gu, vs) if g is not None and g.requires_grad]
    result = [None] * len(outs)
    if pairs:
        with enable_grad():
            result = list(_autograd.grad([g for g, _ in pairs], list(dummies),
                                         [vj for _, vj in pairs], create_graph=create_graph,
                                         retain_graph=True, allow_unused=True))
    for i, (o, r) in enumerate(zip(outs, result)):
        if r is None:
            _unused("jvp", i, 0, strict)
            result[i] = Tensor._wrap(array_module(o.data).zeros_like(o.data))
    return (_shape_like(out_tuple, _post(outs, create_graph)),
            _shape_like(out_tuple, _post(result, create_graph)))


def _scalar_output(outs, out_tuple, fn_name):
    if out_tuple or outs[0].numel() != 1:
        raise RuntimeError(f"{fn_name}: the function given to {fn_name} should return a single "
                           f"Tensor with a single element, got "
                           f"{[tuple(o.shape) for o in outs]}")


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H): the vector-Hessian product of a scalar function.

    >>> out, hv = vhp(lambda x: (x ** 3).sum(), x, mytorch.ones(3))   # hv == 6 * x
    """
    is_tuple, leaves, out_tuple, outs = _prepare(func, inputs, "vhp", create_graph)
    _scalar_output(outs, out_tuple, "vhp")
    vs = _vectors(v, leaves, "input", "vhp")
    g = _grads(outs, leaves, (None,), True, "vhp", strict, zeros=False)
    used = [(gj, vj) for gj, vj in zip(g, vs) if gj is not None and gj.requires_grad]
    result = _hessian_products(used, leaves, create_graph, "vhp", strict)
    return outs[0] if create_graph else outs[0].detach(), _shape_like(is_tuple, result)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v): the Hessian-vector product of a scalar function, by the
    double-backward trick on its gradient (equal to `vhp` when H is symmetric).

    >>> out, hv = hvp(lambda x: (x ** 3).sum(), x, mytorch.ones(3))   # hv == 6 * x
    """
    Tensor = _tensor_type()
    is_tuple, leaves, out_tuple, outs = _prepare(func, inputs, "hvp", create_graph)
    _scalar_output(outs, out_tuple, "hvp")
    vs = _vectors(v, leaves, "input", "hvp")
    g = _grads(outs, leaves, (None,), True, "hvp", strict, zeros=False)
    live = [j for j, gj in enumerate(g) if gj is not None and gj.requires_grad]
    dummies = {j: Tensor._wrap(array_module(g[j].data).zeros_like(g[j].data)).requires_grad_()
               for j in live}
    # u^T H, a function of u: its derivative along v is H v (H is the Jacobian of the gradient)
    uh = []
    if live:
        with enable_grad():
            uh = _autograd.grad([g[j] for j in live], list(leaves), [dummies[j] for j in live],
                                create_graph=True, retain_graph=True, allow_unused=True)
    pairs = [(a, vj) for a, vj in zip(uh, vs) if a is not None and a.requires_grad]
    result = [None] * len(leaves)
    if pairs:
        with enable_grad():
            got = _autograd.grad([a for a, _ in pairs], [dummies[j] for j in live],
                                 [vj for _, vj in pairs], create_graph=create_graph,
                                 retain_graph=True, allow_unused=True)
        for j, r in zip(live, got):
            result[j] = r
    for j, (x, r) in enumerate(zip(leaves, result)):
        if r is None:
            _unused("hvp", 0, j, strict)
            result[j] = Tensor._wrap(array_module(x.data).zeros_like(x.data))
    return (outs[0] if create_graph else outs[0].detach(),
            _shape_like(is_tuple, _post(result, create_graph)))


def _hessian_products(used, leaves, create_graph, fn_name, strict):
    Tensor = _tensor_type()
    result = [None] * len(leaves)
    if used:
        with enable_grad():
            result = list(_autograd.grad([a for a, _ in used], list(leaves),
                                         [vj for _, vj in used], create_graph=create_graph,
                                         retain_graph=True, allow_unused=True))
    for j, (x, r) in enumerate(zip(leaves, result)):
        if r is None:
            _unused(fn_name, 0, j, strict)
            result[j] = Tensor._wrap(array_module(x.data).zeros_like(x.data))
    return _post(result, create_graph)


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
        # rows[j][k]: d out.flat[k] / d leaves[j], flat (None: zeros)
        rows = [[None] * n for _ in leaves]
        used = set()
        if out.requires_grad and n:
            for k in range(n):
                seed = xp.zeros(n, out.dtype)  # fresh: a gradient may be this very array
                seed[k] = 1
                with enable_grad():
                    grads = _autograd.grad(out, list(leaves),
                                           Tensor._wrap(seed.reshape(out.shape)),
                                           retain_graph=True, create_graph=create_graph,
                                           allow_unused=True)
                for j, g in enumerate(grads):
                    if g is not None:
                        rows[j][k] = g.reshape(-1)
                        used.add(j)
        for j in range(len(leaves)):
            if j not in used:
                _unused("jacobian", i, j, strict)
        blocks.append(tuple(_block(r, out, x, create_graph) for r, x in zip(rows, leaves)))
    if out_tuple:
        return tuple(b if is_tuple else b[0] for b in blocks)
    return blocks[0] if is_tuple else blocks[0][0]


def _block(rows, out, x, create_graph):
    """One Jacobian block, shape out.shape + x.shape, from its flat rows (None: zeros)."""
    import mytorch
    Tensor = _tensor_type()
    shape = tuple(out.shape) + tuple(x.shape)
    xp = array_module(x.data)
    if not create_graph or all(r is None for r in rows):
        block = xp.zeros((len(rows), x.numel()), x.dtype)
        for k, r in enumerate(rows):
            if r is not None:
                block[k] = r.data
        return Tensor._wrap(block.reshape(shape))
    zero = Tensor._wrap(xp.zeros(x.numel(), x.dtype))
    with enable_grad():
        return mytorch.stack([zero if r is None else r.to(x.dtype) for r in rows]).reshape(shape)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient (double backward).

    For inputs i and j of shapes I_i and I_j the block has shape I_i + I_j; a single input
    gives one Tensor, a tuple gives `result[i][j]`.

    >>> hessian(lambda x: (x ** 3).sum(), x)    # x: (3,) -> (3, 3), diagonal 6 x
    """
    if outer_jacobian_strategy != "reverse-mode":
        raise NotImplementedError("hessian: outer_jacobian_strategy='forward-mode' needs "
                                  "forward-mode AD, which mytorch does not have")
    is_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        out = func(*xs)
        out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _scalar_output(outs, out_tuple, "hessian")
        grads = tuple(_grads(outs, xs, (None,), True, "hessian", strict))
        return grads if is_tuple else grads[0]

    return jacobian(gradient, inputs if is_tuple else inputs[0], create_graph=create_graph,
                    strict=strict, vectorize=vectorize)
