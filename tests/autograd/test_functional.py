"""autograd.functional: vjp, jvp, vhp, hvp, jacobian and hessian against
torch.autograd.functional."""
import numpy as np
import pytest
import torch
import torch.autograd.functional as TF

import mytorch
from mytorch.autograd import functional as F


def pair(*shapes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return (tuple(mytorch.tensor(a) for a in arrays),
            tuple(torch.from_numpy(a.copy()) for a in arrays))


def assert_same(m, t):
    """Same nesting (tuples) and values/shapes/dtypes at every leaf."""
    if isinstance(t, tuple):
        assert isinstance(m, tuple) and len(m) == len(t)
        for a, b in zip(m, t):
            assert_same(a, b)
        return
    assert isinstance(m, mytorch.Tensor), type(m)
    assert tuple(m.shape) == tuple(t.shape)
    assert str(m.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert not m.requires_grad
    np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


def both(fn_m, fn_t, op, m_in, t_in, *rest_m, **kw):
    rest_t = kw.pop("rest_t", rest_m)
    return (getattr(F, op)(fn_m, m_in, *rest_m, **kw),
            getattr(TF, op)(fn_t, t_in, *rest_t, **kw))


# Functions written once, for either library (`L` is mytorch or torch).
CASES = {
    "single_to_single": (lambda L: lambda x: L.tanh(x) * x.sum(), [(3, 2)]),
    "scalar_out": (lambda L: lambda x: (x ** 3).sum(), [(4,)]),
    "zero_dim_in": (lambda L: lambda x: x * L.arange(3.0, dtype=x.dtype), [()]),
    "size_one_dims": (lambda L: lambda x: L.exp(x) * 2, [(1, 3, 1)]),
    "tuple_in": (lambda L: lambda a, b: a @ b, [(2, 3), (3, 4)]),
    "tuple_out": (lambda L: lambda x: (x.sin(), x.sum(dim=0)), [(3, 2)]),
    "tuple_both": (lambda L: lambda a, b: (a * b, a.sum() + 0 * b.sum(), a ** 2),
                   [(3,), (3,)]),
    "broadcast": (lambda L: lambda a, b: a + b * a, [(2, 3), (3,)]),
}


def _args(fn_factory, shapes):
    (m, t) = pair(*shapes)
    if len(shapes) == 1:
        return fn_factory(mytorch), fn_factory(torch), m[0], t[0]
    return fn_factory(mytorch), fn_factory(torch), m, t


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("vectorize", [False, True])
def test_jacobian_matches_torch(case, vectorize):
    fm, ft, m_in, t_in = _args(*CASES[case])
    jm, jt = both(fm, ft, "jacobian", m_in, t_in, vectorize=vectorize)
    assert_same(jm, jt)


@pytest.mark.parametrize("case", sorted(CASES))
def test_vjp_matches_torch(case):
    fm, ft, m_in, t_in = _args(*CASES[case])
    out_t = ft(*(t_in if isinstance(t_in, tuple) else (t_in,)))
    outs = out_t if isinstance(out_t, tuple) else (out_t,)
    rng = np.random.default_rng(9)
    vs = [rng.standard_normal(tuple(o.shape)) for o in outs]
    v_m = tuple(mytorch.tensor(v) for v in vs)
    v_t = tuple(torch.from_numpy(v) for v in vs)
    if not isinstance(out_t, tuple):
        v_m, v_t = v_m[0], v_t[0]
    got_m, got_t = both(fm, ft, "vjp", m_in, t_in, v_m, rest_t=(v_t,))
    assert_same(got_m, got_t)


def test_vjp_without_v_for_one_element_output():
    (m,), (t,) = pair((2, 2))
    assert_same(F.vjp(lambda x: (x * x).sum(), m), TF.vjp(lambda x: (x * x).sum(), t))


def test_unused_input_and_constant_output_get_zeros():
    (a, b), (ta, tb) = pair((2,), (3,))
    assert_same(F.jacobian(lambda x, y: (x * 2, mytorch.ones(2)), (a, b)),
                TF.jacobian(lambda x, y: (x * 2, torch.ones(2, dtype=torch.float64)), (ta, tb)))
    assert_same(F.vjp(lambda x, y: x * 3, (a, b), mytorch.ones(2, dtype=mytorch.float64)),
                TF.vjp(lambda x, y: x * 3, (ta, tb), torch.ones(2, dtype=torch.float64)))


def test_float32_and_caller_tensors_untouched():
    (m,), (t,) = pair((3,), dtype=np.float32)
    m.requires_grad_()
    jm = F.jacobian(lambda x: x * x, m)
    assert_same(jm, TF.jacobian(lambda x: x * x, t))
    assert m.grad is None and m.grad_fn is None


def test_strict_mode_flags_independence():
    (a, b), _ = pair((2,), (2,))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.jacobian(lambda x, y: x * 2, (a, b), strict=True)
    with pytest.raises(RuntimeError, match="independent"):
        F.vjp(lambda x, y: x * 2, (a, b), mytorch.ones(2, dtype=mytorch.float64), strict=True)


def test_bad_arguments():
    (m,), _ = pair((3,))
    with pytest.raises(TypeError, match="inputs should be a Tensor"):
        F.jacobian(lambda x: x, [m])
    with pytest.raises(TypeError, match="outputs of the user-provided function"):
        F.vjp(lambda x: 3.0, m, mytorch.ones(3))
    with pytest.raises(RuntimeError, match="can only be None"):
        F.vjp(lambda x: x * 2, m)
    with pytest.raises(RuntimeError, match=r"mismatch in shape: v\[0\] has shape \(2,\)"):
        F.vjp(lambda x: x * 2, m, mytorch.ones(2))
    with pytest.raises(ValueError, match="strategy"):
        F.jacobian(lambda x: x, m, strategy="sideways")
    with pytest.raises(NotImplementedError, match="forward-mode"):
        F.jacobian(lambda x: x, m, vectorize=True, strategy="forward-mode")
    with pytest.raises(RuntimeError, match="hessian: .*single Tensor with a single element"):
        F.hessian(lambda x: x * 2, m)
    with pytest.raises(RuntimeError, match=r"jvp: mismatch in shape: v\[0\] has shape \(2,\)"):
        F.jvp(lambda x: x * 2, m, mytorch.ones(2))


def _random_like(shapes_of, seed):
    rng = np.random.default_rng(seed)
    vs = [rng.standard_normal(tuple(o.shape)) for o in shapes_of]
    return tuple(mytorch.tensor(v) for v in vs), tuple(torch.from_numpy(v) for v in vs)


def _maybe_single(tuple_like, m, t):
    return (m, t) if tuple_like else (m[0], t[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_jvp_matches_torch(case):
    fm, ft, m_in, t_in = _args(*CASES[case])
    ins = t_in if isinstance(t_in, tuple) else (t_in,)
    v_m, v_t = _maybe_single(isinstance(t_in, tuple), *_random_like(ins, 5))
    got_m, got_t = both(fm, ft, "jvp", m_in, t_in, v_m, rest_t=(v_t,))
    assert_same(got_m, got_t)


# Scalar functions, written once for either library, for the Hessian family.
SCALAR_CASES = {
    "cubic": (lambda L: lambda x: (x ** 3).sum(), [(4,)]),
    "tanh_matrix": (lambda L: lambda x: (L.tanh(x) * x.sum()).sum(), [(3, 2)]),
    "zero_dim": (lambda L: lambda x: L.exp(x) * L.sin(x), [()]),
    "two_inputs": (lambda L: lambda a, b: ((a @ b).sigmoid() ** 2).mean(), [(2, 3), (3, 4)]),
    "broadcast": (lambda L: lambda a, b: (a * b.exp() / (1 + a * a)).sum(), [(2, 3), (3,)]),
    "unused_input": (lambda L: lambda a, b: (a * a).sum() + 0 * b.sum(), [(3,), (2,)]),
    "linear_in_one": (lambda L: lambda a, b: (a.log1p() * b).sum() if False else
                      (a.exp() * b).sum(), [(3,), (3,)]),
}


@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_hessian_matches_torch(case):
    fm, ft, m_in, t_in = _args(*SCALAR_CASES[case])
    assert_same(F.hessian(fm, m_in), TF.hessian(ft, t_in))


@pytest.mark.parametrize("op", ["vhp", "hvp"])
@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_vhp_and_hvp_match_torch(op, case):
    fm, ft, m_in, t_in = _args(*SCALAR_CASES[case])
    ins = t_in if isinstance(t_in, tuple) else (t_in,)
    v_m, v_t = _maybe_single(isinstance(t_in, tuple), *_random_like(ins, 3))
    got_m, got_t = both(fm, ft, op, m_in, t_in, v_m, rest_t=(v_t,))
    assert_same(got_m, got_t)


def _differentiate(result, inputs):
    """Gradient of a random projection of every tensor in `result` w.r.t. `inputs`."""
    flat = []

    def walk(r):
        if isinstance(r, tuple):
            for x in r:
                walk(x)
        else:
            flat.append(r)
    walk(result)
    return flat


@pytest.mark.parametrize("op, cases", [("jacobian", CASES), ("hessian", SCALAR_CASES),
                                       ("vjp", CASES), ("jvp", CASES), ("vhp", SCALAR_CASES),
                                       ("hvp", SCALAR_CASES)])
def test_create_graph_results_differentiate_like_torch(op, cases):
    """With create_graph=True the results keep a graph to the inputs: the gradient of a random
    projection of them, w.r.t. the inputs, equals torch's (a third derivative for hvp)."""
    for case in sorted(cases):
        fm, ft, m_in, t_in = _args(*cases[case])
        m_ins = m_in if isinstance(m_in, tuple) else (m_in,)
        t_ins = t_in if isinstance(t_in, tuple) else (t_in,)
        for x in m_ins + t_ins:
            x.requires_grad_()
        extra_m, extra_t = (), ()
        if op in ("vjp",):
            outs = ft(*t_ins)
            outs = outs if isinstance(outs, tuple) else (outs,)
            extra_m, extra_t = _maybe_single(isinstance(ft(*t_ins), tuple),
                                             *_random_like(outs, 4))
            extra_m, extra_t = (extra_m,), (extra_t,)
        elif op in ("jvp", "vhp", "hvp"):
            extra_m, extra_t = _maybe_single(isinstance(t_in, tuple), *_random_like(t_ins, 4))
            extra_m, extra_t = (extra_m,), (extra_t,)
        rm = getattr(F, op)(fm, m_in, *extra_m, create_graph=True)
        rt = getattr(TF, op)(ft, t_in, *extra_t, create_graph=True)
        fm_, ft_ = _differentiate(rm, None), _differentiate(rt, None)
        assert len(fm_) == len(ft_)
        pairs = [(a, b) for a, b in zip(fm_, ft_) if b.requires_grad]
        assert all(a.requires_grad for a, _ in pairs), case
        if not pairs:
            continue
        rng = np.random.default_rng(2)
        proj = [rng.standard_normal(tuple(b.shape)) for _, b in pairs]
        lm = sum((a * mytorch.tensor(p)).sum() for (a, _), p in zip(pairs, proj))
        lt = sum((b * torch.from_numpy(p)).sum() for (_, b), p in zip(pairs, proj))
        gm = mytorch.autograd.grad(lm, list(m_ins), allow_unused=True)
        gt = torch.autograd.grad(lt, list(t_ins), allow_unused=True)
        for a, b in zip(gm, gt):
            if b is None:
                assert a is None or np.allclose(a.numpy(), 0), case
            else:
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-11,
                                           err_msg=f"{op} {case}")
