"""Automatic differentiation: `Function`, the engines, `grad` (with `create_graph` for higher
orders), `gradcheck`, `gradgradcheck`, `functional` (vjp, jvp, vhp, hvp, jacobian, hessian),
`graph` (pictures), anomaly detection."""
import numpy as np

from mytorch.autograd import engine, functional, graph
from mytorch.autograd.engine import get_default_engine, set_default_engine
from mytorch.autograd.function import Function
from mytorch.autograd.tensor_xp import DArray
from mytorch.autograd.grad_mode import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)

__all__ = [
    "Function",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "functional",
    "get_default_engine",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "graph",
    "inference_mode",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "set_default_engine",
    "set_detect_anomaly",
    "set_grad_enabled",
]


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _root_grads(outputs, grad_outputs, op, create_graph=False):
    from mytorch.tensor import Tensor
    grads = []
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"{op}: element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        g = grad_outputs[i] if grad_outputs is not None else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs;"
                                   f" output {i} has shape {tuple(out.shape)}")
            g = _ones_like(out.data)
        else:
            if tuple(g.shape) != tuple(out.shape):
                raise RuntimeError(f"{op}: grad_outputs[{i}] has shape {tuple(g.shape)} but the "
                                   f"output has shape {tuple(out.shape)}")
            if not (create_graph and isinstance(g, Tensor)):  # a Tensor keeps its graph
                g = g.data if isinstance(g, Tensor) else np.asarray(g)
        grads.append(g)
    return grads


def _ones_like(a):
    from mytorch.backend import array_module
    return array_module(a).ones_like(a)


def backward(tensors, grad_tensors=None, retain_graph=None, engine_name=None,
             create_graph=False):
    """Backward from several outputs at once (gradients summed into the leaves)."""
    outputs = _as_list(tensors)
    grads = _root_grads(outputs, None if grad_tensors is None else _as_list(grad_tensors),
                        "backward", create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    engine.run_backward([o._edge() for o in outputs], grads, bool(retain_graph), engine_name,
                        create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, engine_name=None):
    """Gradients of `outputs` w.r.t. `inputs`, returned instead of accumulated into `.grad`.

    With `create_graph=True` the gradients carry a graph of the backward pass, so they can be
    differentiated again (to any order); `retain_graph` then defaults to True.

    >>> gx, = mytorch.autograd.grad(y.sum(), [x], create_graph=True)
    >>> gxx, = mytorch.autograd.grad(gx.sum(), [x])      # second derivative
    """
    from mytorch.tensor import Tensor
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grads = _root_grads(outputs, None if grad_outputs is None else _as_list(grad_outputs),
                        "grad", create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    capture = {}
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
        capture[x._edge()] = i
    got = engine.run_backward([o._edge() for o in outputs], grads, bool(retain_graph),
                              engine_name, capture=capture, create_graph=create_graph)
    result = []
    for i, x in enumerate(inputs):
        if i in got:
            g = got[i]
            result.append(g.t if type(g) is DArray else Tensor._wrap(g))
        elif allow_unused:
            result.append(None)
        else:
            raise RuntimeError(f"grad: input {i} (shape {tuple(x.shape)}) was not used in the "
                               "graph; pass allow_unused=True if this is expected")
    return tuple(result)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare analytic gradients of `fn(*inputs)` with central differences (use float64).

    Every floating input with requires_grad is checked, against a random projection of the
    output so that non-scalar outputs are covered. Returns True or raises with the worst
    mismatch.
    """
    from mytorch.tensor import Tensor
    inputs = tuple(inputs)
    diff_inputs = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    for x in diff_inputs:
        if x.dtype != np.float64:
            raise ValueError(f"gradcheck: inputs should be float64 for a meaningful check, got "
                             f"{x.dtype}")
    out = fn(*inputs)
    outs = _as_list(out)
    rng = np.random.default_rng(0)
    projections = [rng.standard_normal(o.shape) for o in outs]

    def scalar():
        with no_grad():
            res = _as_list(fn(*inputs))
        return sum(float((np.asarray(o.detach().cpu().data) * p).sum())
                   for o, p in zip(res, projections))

    for x in diff_inputs:
        x.grad = None
    total = None
    for o, p in zip(outs, projections):
        term = (o * Tensor(p.astype(o.dtype), device=o.device)).sum()
        total = term if total is None else total + term
    analytic = grad(total, diff_inputs, allow_unused=True)
    for k, x in enumerate(diff_inputs):
        a = np.zeros(x.shape) if analytic[k] is None else np.asarray(analytic[k].cpu().data)
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)
        for i in range(flat.size):
            orig = flat[i].item()
            flat[i] = orig + eps
            plus = scalar()
            flat[i] = orig - eps
            minus = scalar()
            flat[i] = orig
            numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        if not np.allclose(a, numeric, atol=atol, rtol=rtol):
            err = np.abs(a - numeric).max()
            if raise_exception:
                raise AssertionError(f"gradcheck: analytic and numerical gradients differ for "
                                     f"input {k} of shape {tuple(x.shape)} (max abs diff {err:.3g})"
                                     f"\nanalytic:\n{a}\nnumerical:\n{numeric}")
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0):
    """Check second derivatives of `fn(*inputs)` against central differences (use float64).

    Like torch's: the gradients of the outputs, projected on `grad_outputs` (random float64
    ones when not given), are computed with `create_graph=True`, and `gradcheck` compares
    their own gradients, with respect to the inputs and to `grad_outputs`, with numerical ones.

    >>> gradgradcheck(lambda x: (x * x.sin()).sum(), [mytorch.randn(3, dtype=mytorch.float64,
    ...                                                             requires_grad=True)])
    """
    from mytorch.tensor import Tensor
    inputs = tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = _as_list(fn(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor(rng.standard_normal(o.shape).astype(o.dtype), device=o.device,
                               requires_grad=o.dtype.kind in "fc") for o in outs]
    grad_outputs = _as_list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"gradgradcheck: {len(grad_outputs)} grad_outputs for {len(outs)} "
                         "outputs")
    n = len(inputs)

    def first_order(*args):
        xs, gos = args[:n], args[n:]
        with enable_grad():
            ys = _as_list(fn(*xs))
            pairs = [(y, g) for y, g in zip(ys, gos) if y.requires_grad]
            got = grad([y for y, _ in pairs], [xs[i] for i in diff], [g for _, g in pairs],
                       create_graph=True, allow_unused=True)
        # an input the outputs do not depend on contributes zeros (constant in everything)
        return tuple(g if g is not None else _zeros_like(xs[i])
                     for g, i in zip(got, diff))

    return gradcheck(first_order, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def _zeros_like(x):
    from mytorch.tensor import Tensor
    from mytorch.backend import array_module
    return Tensor._wrap(array_module(x.data).zeros_like(x.data))
