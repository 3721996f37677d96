"""Pointwise ops against PyTorch: forward values and gradients, many shapes, both engines."""
import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check

BINARY_SHAPES = [
    [(3, 4), (3, 4)],
    [(3, 1), (1, 4)],      # both operands broadcast
    [(2, 3), ()],          # 0-d on the right
    [(), (2, 3)],          # 0-d on the left
    [(5,), (2, 5)],        # fewer dims on the left
    [(2, 1, 3), (4, 1)],   # fewer dims on the right
    [(1,), (1,)],
    [(), ()],
]
DTYPES = [np.float32, np.float64]

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b.abs() + 0.5),
    "rdiv_expr": lambda a, b: (a + b) / (a * a + 1),
    "maximum": lambda a, b: (torch if isinstance(a, torch.Tensor) else mytorch).maximum(a, b),
    "minimum": lambda a, b: (torch if isinstance(a, torch.Tensor) else mytorch).minimum(a, b),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary(op, shapes, dtype, device):
    check(BINARY[op], shapes, dtype=dtype, device=device)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_noncontig(op, device):
    check(BINARY[op], [(4, 3), (4, 3)], noncontig=True, device=device)
    check(BINARY[op], [(3, 5), (5,)], noncontig=True, device=device)


@pytest.mark.parametrize("expr", [
    lambda a: a + 2, lambda a: 2 + a, lambda a: a - 1.5, lambda a: 1.5 - a, lambda a: a * 3,
    lambda a: -2.5 * a, lambda a: a / 4, lambda a: 3 / (a.abs() + 1), lambda a: -a, lambda a: +a,
])
def test_scalar_operands(expr, device):
    check(expr, [(2, 3)], device=device)
    check(expr, [()], dtype=np.float64, device=device)


UNARY = {
    "neg": (lambda x: x.neg(), None),
    "abs": (lambda x: x.abs(), None),
    "exp": (lambda x: x.exp(), None),
    "sin": (lambda x: x.sin(), None),
    "cos": (lambda x: x.cos(), None),
    "tanh": (lambda x: x.tanh(), None),
    "sigmoid": (lambda x: x.sigmoid(), None),
    "relu": (lambda x: x.relu(), None),
    "sqrt": (lambda x: x.sqrt(), 0.3),
    "rsqrt": (lambda x: x.rsqrt(), 0.3),
    "log": (lambda x: x.log(), 0.3),
    "log1p": (lambda x: x.log1p(), None),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 1, 3)], ids=str)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op, shape, dtype, device):
    fn, low = UNARY[op]
    check(fn, [shape], dtype=dtype, low=low if low is not None else -0.9, device=device)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_noncontig(op, device):
    fn, low = UNARY[op]
    check(fn, [(3, 5)], noncontig=True, low=low if low is not None else -0.9, device=device)


def test_sigmoid_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    check(lambda t: t.sigmoid(), inputs=[x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [0, 1, 2, 3, 4, -1, -2, 0.5, 1.5, -0.5, 2.5, 7])
def test_pow_scalar(exponent, dtype, device):
    check(lambda x: x ** exponent, [(3, 4)], dtype=dtype, low=0.5, device=device)


def test_pow_integer_exponent_negative_base(device):
    for n in (2, 3, 4, -1, 5):
        check(lambda x, n=n: x ** n, [(2, 5)], low=-2, high=-0.5, device=device)


def test_pow_zero_base_gradients():
    # d/dx x**2 at 0 is 0; d/dx x**0 is 0 everywhere, including 0.
    x = np.array([0.0, 1.0, -2.0], np.float64)
    check(lambda t: t ** 2, inputs=[x])
    check(lambda t: t ** 0, inputs=[x])
    check(lambda t: t ** 1, inputs=[x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(3, 1), (4,)], [(), (2, 2)]], ids=str)
def test_pow_tensor_exponent(shapes, dtype, device):
    check(lambda a, b: a ** b, shapes, dtype=dtype, low=0.5, device=device)


def test_rpow_and_functional_pow(device):
    check(lambda b: 2.0 ** b, [(3,)], device=device)
    check(lambda a, b: (torch if isinstance(a, torch.Tensor) else mytorch).pow(a, b),
          [(2, 3), (3,)], low=0.5, device=device)


def test_pow_tensor_exponent_zero_base():
    a = np.array([0.0, 0.0, 2.0], np.float64)
    b = np.array([2.0, 0.0, 3.0], np.float64)
    check(lambda x, y: x ** y, inputs=[a, b])


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.2, None)])
def test_clamp(lo, hi, device):
    check(lambda x: x.clamp(lo, hi), [(4, 5)], device=device)
    check(lambda x: x.clip(lo, hi), [()], dtype=np.float64, device=device)


def test_clamp_tensor_bounds(device):
    check(lambda x, lo: x.clamp(min=lo), [(3, 4), (4,)], device=device)


def test_where(device):
    cond = np.random.default_rng(3).random((3, 4)) > 0.5
    a, b = np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32)

    def fn(x, y):
        lib = torch if isinstance(x, torch.Tensor) else mytorch
        c = lib.tensor(cond) if lib is torch else mytorch.tensor(cond, device=x.device)
        return lib.where(c, x, y)
    check(fn, inputs=[a, b[0]], device=device)


def test_where_broadcast_and_scalar(device):
    rng = np.random.default_rng(5)
    cond = rng.random((3, 1)) > 0.5
    x = rng.standard_normal((1, 4)).astype(np.float32)

    def fn(t):
        lib = torch if isinstance(t, torch.Tensor) else mytorch
        c = lib.tensor(cond) if lib is torch else mytorch.tensor(cond, device=t.device)
        return lib.where(c, t, 0.0)
    check(fn, inputs=[x], device=device)


def test_maximum_ties_split_gradient():
    a = np.array([1.0, 2.0, 3.0], np.float64)
    b = np.array([1.0, 1.0, 4.0], np.float64)
    check(lambda x, y: (torch if isinstance(x, torch.Tensor) else mytorch).maximum(x, y),
          inputs=[a, b])


def test_relu_at_zero():
    check(lambda x: x.relu(), inputs=[np.array([-1.0, 0.0, 1.0], np.float32)])


def test_comparisons_have_no_grad(device):
    x = mytorch.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    for out in (x > 1.5, x >= 2, x < 2, x <= 2, x == 2, x != 2, x.eq(2), x.gt(x * 0.5)):
        assert out.dtype == mytorch.bool
        assert not out.requires_grad
    np.testing.assert_array_equal((x == 2).cpu().numpy(), [False, True, False])
    np.testing.assert_array_equal(x.detach().eq(mytorch.tensor([1.0, 0, 3], device=device))
                                  .cpu().numpy(), [True, False, True])


def test_floor_division_and_mod_match_torch():
    a = np.array([-7, -3, 0, 5, 9])
    for op in (lambda x: x // 2, lambda x: x % 3):
        np.testing.assert_array_equal(op(mytorch.tensor(a)).numpy(), op(torch.tensor(a)).numpy())
