"""PyTorch's other spellings of tensor ops (aliases, in-place forms, small composites), each
held to torch forward and backward."""
import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check


def _lib_call(name, *args, **kwargs):
    return (lambda *xs: getattr(mytorch, name)(*xs, *args, **kwargs),
            lambda *xs: getattr(torch, name)(*xs, *args, **kwargs))


@pytest.mark.parametrize("name, shapes", [
    ("addcmul", [(3, 4), (3, 4), (4,)]), ("addcdiv", [(3, 4), (1, 4), (3, 4)]),
    ("inner", [(3, 4), (2, 4)]), ("tensordot", [(2, 3, 4), (3, 4, 5)]),
    ("absolute", [(5,)]), ("negative", [(5,)]), ("multiply", [(2, 3), (3,)]),
    ("subtract", [(2, 3), (2, 3)]), ("true_divide", [(2, 3), (2, 3)]), ("ravel", [(2, 3)]),
    ("mv", [(3, 4), (4,)]), ("sgn", [(6,)]),
])
def test_top_level_functions(name, shapes):
    fn, tfn = _lib_call(name)
    if name == "sgn":  # torch's sgn gradient is a ZeroTensor that numpy() refuses; sign's equal
        tfn = torch.sign
    low = 0.5 if name in ("addcdiv", "true_divide") else -2.0
    check(fn, shapes, torch_fn=tfn, low=low)


def test_value_keywords_and_dims():
    check(lambda a, b, c: mytorch.addcmul(a, b, c, value=-0.5), [(3,), (3,), (3,)],
          torch_fn=lambda a, b, c: torch.addcmul(a, b, c, value=-0.5))
    check(lambda a, b: mytorch.tensordot(a, b, dims=([0, 2], [1, 0])), [(2, 3, 4), (4, 2, 5)],
          torch_fn=lambda a, b: torch.tensordot(a, b, dims=([0, 2], [1, 0])))
    for fn in ("std_mean", "var_mean"):
        check(lambda a: getattr(mytorch, fn)(a, 1), [(3, 5)],
              torch_fn=lambda a: getattr(torch, fn)(a, 1))
        check(lambda a: getattr(mytorch, fn)(a), [(3, 5)], torch_fn=lambda a: getattr(torch, fn)(a))


@pytest.mark.parametrize("mode", [None, "floor", "trunc"])
def test_divide_rounding_modes(mode):
    a = np.array([-7.5, -3.0, 2.5, 7.0], np.float32)
    b = np.array([2.0, -2.0, 2.0, 3.0], np.float32)
    y = mytorch.divide(mytorch.tensor(a), mytorch.tensor(b), rounding_mode=mode)
    ty = torch.divide(torch.from_numpy(a), torch.from_numpy(b), rounding_mode=mode)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name, args", [
    ("floor_", ()), ("ceil_", ()), ("round_", ()), ("trunc_", ()), ("sign_", ()),
    ("square_", ()), ("sin_", ()), ("cos_", ()), ("tan_", ()), ("expm1_", ()), ("erf_", ()),
    ("pow_", (2,)), ("clamp_min_", (0.1,)), ("clamp_max_", (0.1,)), ("clip_", (-0.5, 0.5)),
])
def test_in_place_unary_forms(name, args):
    def run(lib, x):
        y = x * 1  # a non-leaf, so the in-place op is recorded
        getattr(y, name)(*args)
        return y
    check(lambda x: run(mytorch, x), [(3, 4)], torch_fn=lambda x: run(torch, x), low=-1, high=1)


@pytest.mark.parametrize("name, shapes", [("lerp_", [(3,), (3,)]), ("addcmul_", [(3,), (3,)]),
                                          ("addcdiv_", [(3,), (3,)])])
def test_in_place_binary_forms(name, shapes):
    def run(lib, x, y):
        z = x * 1
        if name == "lerp_":
            z.lerp_(y, 0.3)
        else:
            getattr(z, name)(y, y, value=0.5)
        return z
    check(lambda x, y: run(mytorch, x, y), shapes, torch_fn=lambda x, y: run(torch, x, y),
          low=0.5, high=2)


def test_shape_in_place_forms():
    for name, args in [("unsqueeze_", (1,)), ("squeeze_", ()), ("transpose_", (0, 1)),
                       ("t_", ())]:
        a = np.arange(6, dtype=np.float32).reshape(2, 3) if name != "squeeze_" else \
            np.arange(3, dtype=np.float32).reshape(1, 3)
        x, tx = mytorch.tensor(a), torch.from_numpy(a.copy())
        getattr(x, name)(*args)
        getattr(tx, name)(*args)
        assert x.shape == tuple(tx.shape)
        np.testing.assert_array_equal(x.numpy(), tx.numpy())


def test_tri_indices_and_conversions():
    for args in [(3, 3), (4, 2, 1), (2, 5, -1)]:
        for fn in ("tril_indices", "triu_indices"):
            np.testing.assert_array_equal(getattr(mytorch, fn)(*args).numpy(),
                                          getattr(torch, fn)(*args).numpy())
    a = np.array([1.7, -2.2, 300.0], np.float32)
    for name in ("byte", "char", "short"):
        with np.errstate(invalid="ignore", over="ignore"):
            got = getattr(mytorch.tensor(a[:2]), name)()
        want = getattr(torch.from_numpy(a[:2]), name)()
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_memory_and_device_queries():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x, tx = mytorch.tensor(a), torch.from_numpy(a)
    for view in (lambda t: t[1:], lambda t: t[:, 2:], lambda t: t.t()[1], lambda t: t):
        assert view(x).storage_offset() == view(tx).storage_offset()
    assert x.get_device() == tx.get_device() == -1
    assert x.is_cpu and x.pin_memory() is x and not x.is_pinned()
    assert x.is_signed() and not mytorch.tensor([1], dtype=mytorch.uint8).is_signed()
    assert mytorch.tensor([2.0]).is_nonzero() and not mytorch.tensor([0.0]).is_nonzero()


def test_functional_long_tail():
    F, TF = mytorch.nn.functional, torch.nn.functional
    for name in ("softshrink", "hardshrink"):
        check(lambda x: getattr(F, name)(x, 0.3), [(4, 5)],
              torch_fn=lambda x: getattr(TF, name)(x, 0.3))
    for name in ("relu_", "elu_", "leaky_relu_", "hardtanh_"):
        check(lambda x: getattr(F, name)(x * 1), [(4, 5)],
              torch_fn=lambda x: getattr(TF, name)(x * 1))
    mytorch.manual_seed(0)
    x = mytorch.randn(6, 5, requires_grad=True)
    soft = F.gumbel_softmax(x, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0, rtol=1e-5)
    hard = F.gumbel_softmax(x, hard=True)
    assert set(np.unique(hard.detach().numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(hard.detach().numpy().sum(-1), 1.0)
    (hard * mytorch.arange(5.0)).sum().backward()
    assert x.grad is not None and bool(x.grad.isfinite().all())


def test_settings_round_trip():
    assert mytorch.are_deterministic_algorithms_enabled() == \
        torch.are_deterministic_algorithms_enabled()
    mytorch.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert mytorch.are_deterministic_algorithms_enabled()
        assert mytorch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        mytorch.use_deterministic_algorithms(False)
    n = mytorch.get_num_threads()
    mytorch.set_num_threads(1)
    assert mytorch.get_num_threads() == 1
    mytorch.set_num_threads(n)
    assert isinstance(mytorch.zeros(1).dtype, mytorch.dtype)
    assert mytorch.inf == torch.inf and np.isnan(mytorch.nan) and mytorch.pi == torch.pi
