"""More pointwise ops against PyTorch: special functions, trig/hyperbolic, rounding, remainders,
float_power, lerp, nan_to_num and the in-place unary methods."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch.ops.elementwise import erfinv_reference
from tests.helpers import check

DTYPES = [np.float32, np.float64]
SHAPES = [(), (1,), (3, 4), (2, 1, 3)]


def lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


# name -> (fn, low, high): inputs are kept inside each op's domain
UNARY = {
    "erf": (lambda x: x.erf(), -2.0, 2.0),
    "erfc": (lambda x: x.erfc(), -2.0, 2.0),
    "erfinv": (lambda x: x.erfinv(), -0.95, 0.95),
    "log2": (lambda x: x.log2(), 0.3, 2.0),
    "log10": (lambda x: x.log10(), 0.3, 2.0),
    "exp2": (lambda x: x.exp2(), -2.0, 2.0),
    "expm1": (lambda x: x.expm1(), -2.0, 2.0),
    "tan": (lambda x: x.tan(), -1.2, 1.2),
    "asin": (lambda x: x.asin(), -0.95, 0.95),
    "acos": (lambda x: x.acos(), -0.95, 0.95),
    "atan": (lambda x: x.atan(), -3.0, 3.0),
    "arcsin": (lambda x: x.arcsin(), -0.95, 0.95),
    "sinh": (lambda x: x.sinh(), -2.0, 2.0),
    "cosh": (lambda x: x.cosh(), -2.0, 2.0),
    "trunc": (lambda x: x.trunc(), -3.0, 3.0),
    "fix": (lambda x: x.fix(), -3.0, 3.0),
    "frac": (lambda x: x.frac(), -3.0, 3.0),
    "nan_to_num": (lambda x: x.nan_to_num(), -2.0, 2.0),
    "functional_erf": (lambda x: lib(x).erf(x), -2.0, 2.0),
    "functional_log10": (lambda x: lib(x).log10(x), 0.3, 2.0),
    "functional_atan": (lambda x: lib(x).atan(x), -2.0, 2.0),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op, shape, dtype, device):
    fn, low, high = UNARY[op]
    check(fn, [shape], dtype=dtype, low=low, high=high, device=device)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_noncontig(op, device):
    fn, low, high = UNARY[op]
    check(fn, [(4, 3)], low=low, high=high, noncontig=True, device=device)


@pytest.mark.parametrize("op", ["erf", "erfc", "erfinv", "log2", "exp2", "asin", "sinh", "tan"])
def test_unary_int_input_gives_default_float(op):
    x = [0, 1] if op in ("erfinv", "asin") else [1, 2]
    got = getattr(mytorch.tensor(x), op)()
    want = getattr(torch.tensor(x), op)()
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_special_functions_float64_parity():
    y = np.concatenate([np.linspace(-1, 1, 20001), [1 - 2 ** -53, -1 + 2 ** -53, 1e-300, 5e-324,
                                                      0.0, 1.5, -2.0, np.nan, 1e-10]])
    got = mytorch.tensor(y).erfinv().numpy()
    want = torch.erfinv(torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)  # incl. +-inf at +-1, nan outside
    np.testing.assert_allclose(erfinv_reference(y), got, rtol=4e-16, atol=0)  # the reference
    x = np.linspace(-6, 6, 2001)
    for op in ("erf", "erfc"):
        np.testing.assert_allclose(getattr(mytorch.tensor(x), op)().numpy(),
                                   getattr(torch.from_numpy(x), op)().numpy(), rtol=1e-15,
                                   atol=1e-300)


def test_erf_float16():
    x = np.linspace(-2, 2, 9).astype(np.float16)
    got = mytorch.tensor(x).erf()
    assert got.dtype == mytorch.float16
    np.testing.assert_allclose(got.numpy(), torch.from_numpy(x).erf().numpy(), rtol=1e-3)


def test_nan_to_num_values_and_grad(device):
    vals = np.array([[np.nan, np.inf, -np.inf], [1.5, -2.0, 0.0]], np.float32)
    for kwargs in ({}, {"nan": 1.0, "posinf": 9.0, "neginf": -9.0}, {"posinf": 3.0}):
        check(lambda x: x.nan_to_num(**kwargs), inputs=[vals], device=device)
        check(lambda x: lib(x).nan_to_num(x, **kwargs), inputs=[vals.astype(np.float64)],
              device=device)
    half = mytorch.tensor(vals.astype(np.float16)).nan_to_num()
    np.testing.assert_array_equal(half.numpy(),
                                  torch.from_numpy(vals.astype(np.float16)).nan_to_num().numpy())


# ---- binary ----

BINARY_SHAPES = [
    [(3, 4), (3, 4)],
    [(3, 1), (1, 4)],
    [(2, 3), ()],
    [(), (2, 3)],
    [(2, 1, 3), (4, 1)],
    [(), ()],
]

BINARY = {
    "atan2": lambda a, b: a.atan2(b),
    "arctan2": lambda a, b: lib(a).arctan2(a, b),
    "remainder": lambda a, b: a.remainder(b.abs() + 0.5),
    "remainder_neg_divisor": lambda a, b: lib(a).remainder(a, -(b.abs() + 0.5)),
    "mod_operator": lambda a, b: a % (b.abs() + 0.5),
    "fmod": lambda a, b: a.fmod(b.abs() + 0.5),
    "fmod_functional": lambda a, b: lib(a).fmod(a, -(b.abs() + 0.5)),
    "float_power": lambda a, b: (a.abs() + 0.5).float_power(b),
    "float_power_functional": lambda a, b: lib(a).float_power(a.abs() + 0.5, b),
    "lerp_tensor_weight": lambda a, b: a.lerp(b, (a * b).sigmoid()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary(op, shapes, dtype, device):
    if op.startswith("lerp") and shapes[0] != shapes[1]:
        shapes = [shapes[0], shapes[0]]  # (the weight broadcasts below)
    check(BINARY[op], shapes, dtype=dtype, low=-3.0, high=3.0, device=device)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_noncontig(op, device):
    check(BINARY[op], [(4, 3), (4, 3)], noncontig=True, low=-3.0, high=3.0, device=device)


@pytest.mark.parametrize("expr", [
    lambda a: a.remainder(1.5), lambda a: a % -0.75, lambda a: a.fmod(-1.25),
    lambda a: (a.abs() + 0.1).float_power(2.5),
    lambda a: (a.abs() + 0.1).float_power(2), lambda a: lib(a).float_power(2.0, a),
    lambda a: a.lerp(a * 3, 0.25), lambda a: a.lerp(a.exp(), 0.75),
    lambda a: lib(a).lerp(a, -a, a.tanh()),
])
def test_scalar_operands(expr, device):
    check(expr, [(2, 3)], low=-3.0, high=3.0, device=device)
    check(expr, [()], dtype=np.float64, low=-3.0, high=3.0, device=device)


def test_scalar_dividend(device):
    # torch has no derivative for remainder(Scalar, Tensor); the values must match
    check(lambda a: lib(a).remainder(2.5, a.abs() + 0.5), [(2, 3)], grad=False, device=device)
    check(lambda a: -2.5 % (a.abs() + 0.5), [()], dtype=np.float64, grad=False, device=device)
    x = mytorch.tensor([0.75, 2.0], requires_grad=True)
    (2.5 % x).sum().backward()  # d/dx (a - x floor(a / x)) = -floor(a / x)
    np.testing.assert_allclose(x.grad.numpy(), [-3.0, -1.0])


def test_lerp_broadcast_weight(device):
    check(lambda a, b, w: a.lerp(b, w), [(2, 3), (2, 3), (3,)], device=device)
    check(lambda a, b, w: lib(a).lerp(a, b, w), [(2, 1), (1, 3), ()], dtype=np.float64,
          device=device)


INT_CASES = [([5, -7, 7, -5, 0], [3, 3, -3, -3, 2]), ([[9], [-9]], [4, -4, 5])]


@pytest.mark.parametrize("a,b", INT_CASES, ids=str)
@pytest.mark.parametrize("op", ["remainder", "fmod", "floor_divide", "%", "//"])
def test_integer_ops_match_torch(op, a, b):
    def run(mod, x, y):
        if op == "%":
            return x % y
        if op == "//":
            return x // y
        return getattr(mod, op)(x, y)
    for bt in (b, 2, -3, 2.5):
        tb = torch.tensor(bt) if isinstance(bt, list) else bt
        mb = mytorch.tensor(bt) if isinstance(bt, list) else bt
        want = run(torch, torch.tensor(a), tb)
        got = run(mytorch, mytorch.tensor(a), mb)
        assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (op, bt)
        np.testing.assert_allclose(got.numpy(), want.numpy(), err_msg=f"{op} {bt}")


@pytest.mark.parametrize("op", ["remainder", "fmod", "floor_divide"])
def test_integer_division_by_zero_raises(op):
    with pytest.raises(RuntimeError, match=f"{op}.*ZeroDivisionError"):
        getattr(mytorch.tensor([1, 2]), op)(mytorch.tensor([1, 0]))


def test_float_mixed_dtypes_match_torch():
    a, b = [1.5, -2.25, 7.0], [1.5, 2.0, -3.0]
    cases = [
        lambda m, x, y: m.floor_divide(x, y), lambda m, x, y: m.remainder(x, y),
        lambda m, x, y: m.fmod(x, y), lambda m, x, y: m.atan2(x, y),
        lambda m, x, y: m.float_power(x, y),
    ]
    for fn in cases:
        for da, db in [("float32", "float64"), ("int64", "float32"), ("int32", "int64")]:
            ta = torch.tensor(a).to(getattr(torch, da))
            tb = torch.tensor(b).to(getattr(torch, db))
            want = fn(torch, ta, tb)
            got = fn(mytorch, mytorch.tensor(ta.numpy()), mytorch.tensor(tb.numpy()))
            assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (da, db)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_remainder_and_fmod_by_zero_float():
    x = mytorch.tensor([1.0, -1.0, 0.0])
    t = torch.tensor([1.0, -1.0, 0.0])
    np.testing.assert_array_equal(x.remainder(0.0).numpy(), t.remainder(0.0).numpy())
    np.testing.assert_array_equal(x.fmod(0.0).numpy(), t.fmod(0.0).numpy())
    np.testing.assert_array_equal(x.remainder(float("inf")).numpy(),
                                  t.remainder(float("inf")).numpy())


def test_floor_divide_has_no_gradient():
    x = mytorch.tensor([1.5, 2.5], requires_grad=True)
    y = mytorch.floor_divide(x, 2)
    np.testing.assert_array_equal(y.detach().numpy(), [0.0, 1.0])
    with pytest.raises(RuntimeError, match="floor_divide"):
        y.sum().backward()


def test_float_power_dtype_and_grad_dtype():
    x = mytorch.tensor([1.5, 2.0], requires_grad=True)
    y = x.float_power(3)
    assert y.dtype == mytorch.float64
    y.sum().backward()
    assert x.grad.dtype == mytorch.float32
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.array([1.5, 2.0]) ** 2)
    assert mytorch.tensor([2], dtype=mytorch.int32).float_power(2).dtype == mytorch.float64


def test_frac_and_trunc_int():
    assert mytorch.tensor([3, -2]).trunc().tolist() == [3, -2]
    with pytest.raises(RuntimeError, match="frac"):
        mytorch.tensor([3, -2]).frac()


def test_lerp_bad_input():
    with pytest.raises(RuntimeError, match="lerp.*float64"):
        mytorch.tensor([1.0]).lerp(mytorch.tensor([2.0], dtype=mytorch.float64), 0.5)
    with pytest.raises(RuntimeError, match="broadcast"):
        mytorch.tensor([1.0, 2.0]).atan2(mytorch.tensor([1.0, 2.0, 3.0]))


# ---- in place ----

INPLACE = ["exp_", "sqrt_", "log_", "abs_", "neg_", "sigmoid_", "tanh_", "relu_"]


@pytest.mark.parametrize("op", INPLACE)
def test_inplace_values(op, device):
    a = np.random.default_rng(0).uniform(0.2, 2.0, (3, 4)).astype(np.float32)
    if op in ("abs_", "neg_", "relu_", "tanh_", "sigmoid_"):
        a -= 1.1
    x = mytorch.tensor(a, device=device)
    out = getattr(x, op)()
    assert out is x
    want = getattr(torch.from_numpy(a.copy()), op)()
    np.testing.assert_allclose(x.cpu().numpy(), want.numpy(), rtol=1e-6)
    y = mytorch.tensor(a, device=device)
    getattr(mytorch, op)(y)
    np.testing.assert_allclose(y.cpu().numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("op", INPLACE)
def test_inplace_grad_through_non_leaf(op, device):
    def fn(x):
        y = x * 1.5 + (0.5 if op in ("sqrt_", "log_") else 0.0)
        getattr(y, op)()
        return y * 2
    check(fn, [(3, 4)], low=0.1 if op in ("sqrt_", "log_") else -2.0, device=device)


@pytest.mark.parametrize("op", INPLACE)
def test_inplace_on_leaf_requiring_grad_raises(op):
    x = mytorch.tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(x, op)()
    with mytorch.no_grad():
        getattr(x, op)()  # allowed without grad recording
    assert x.grad_fn is None


def test_inplace_int_to_float_raises():
    with pytest.raises(RuntimeError, match="exp_.*can't be cast"):
        mytorch.tensor([1, 2]).exp_()
    x = mytorch.tensor([1, -2])
    x.neg_()
    assert x.tolist() == [-1, 2] and x.dtype == mytorch.int64
