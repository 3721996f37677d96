"""Tensor edge cases that once gave wrong answers or crashed, each held to PyTorch."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd.engine import ENGINES
from tests.helpers import check

# ---- view(dtype): a bit view, not a cast

VIEW_CASES = [
    ((2, 3), np.float32, np.int32),
    ((2, 3), np.int32, np.float32),
    ((4,), np.float32, np.int16),      # element size halves: the last dim doubles
    ((2, 4), np.float32, np.float64),  # element size doubles: the last dim halves
    ((2, 8), np.float16, np.int64),
    ((3, 2), np.int64, np.uint8),
    ((5,), np.uint8, np.bool_),
    ((2, 2), np.float64, np.float64),
]


@pytest.mark.parametrize("shape, src, dst", VIEW_CASES)
def test_view_dtype_reinterprets_bits(shape, src, dst):
    rng = np.random.default_rng(0)
    a = rng.uniform(-3, 3, size=shape).astype(src) if np.dtype(src).kind == "f" else \
        rng.integers(0, 2 if dst is np.bool_ else 100, size=shape).astype(src)
    y = mytorch.tensor(a).view(mytorch.dtypes.as_dtype(dst))
    ty = torch.from_numpy(a.copy()).view(getattr(torch, np.dtype(dst).name))
    assert tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_view_dtype_shares_memory_and_has_no_gradient():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    y, ty = (x * 2).view(mytorch.int32), (tx * 2).view(torch.int32)
    assert y.requires_grad == ty.requires_grad == False  # noqa: E712
    base = mytorch.zeros(2)
    bits = base.view(mytorch.int32)
    bits[0] = 1065353216  # the bits of 1.0f
    assert base.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("make, dst, words", [
    (lambda lib: lib.tensor(1.0), "int16", "at least 1 dim"),
    (lambda lib: lib.zeros(3, 3).t(), "int16", "contiguous"),
    (lambda lib: lib.zeros(3), "float64", "divisible"),
])
def test_view_dtype_rejects_what_torch_rejects(make, dst, words):
    with pytest.raises(RuntimeError):
        make(torch).view(getattr(torch, dst))
    with pytest.raises(RuntimeError, match=words):
        make(mytorch).view(getattr(mytorch, dst))


def test_view_dtype_same_size_on_a_transposed_tensor():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = mytorch.tensor(a).t().view(mytorch.int32)
    ty = torch.from_numpy(a).t().view(torch.int32)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


# ---- fill_ on a non-leaf keeps inf; its gradient is zero

@pytest.mark.parametrize("value", [float("inf"), float("-inf"), 3.5, float("nan")])
def test_fill_on_non_leaf_keeps_value_and_zero_gradient(value):
    for eng in ENGINES:
        x = mytorch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        tx = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y, ty = x * 2, tx * 2
        y.fill_(value)
        ty.fill_(value)
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        (y.sum() + (x * x).sum()).backward(engine=eng)
        (ty.sum() + (tx * tx).sum()).backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_fill_with_a_tensor_value_passes_its_gradient():
    v, tv = mytorch.tensor(2.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)
    x, tx = mytorch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    y, ty = x * 1, tx * 1
    y.fill_(v)
    ty.fill_(tv)
    (y * mytorch.tensor([1.0, 2.0, 3.0])).sum().backward()
    (ty * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert v.grad.item() == tv.grad.item()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


# ---- piecewise-constant functions: zero gradients, requires_grad kept

@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round", "trunc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_staircase_functions_give_zero_gradients(name, dtype):
    y = check(lambda x: getattr(x, name)(), [(3, 4)], dtype=dtype, low=-3, high=3)
    assert y.requires_grad
    check(lambda x: getattr(x, name)() * x, [(5,)], dtype=dtype, low=-3, high=3)


def test_round_with_decimals_and_integer_inputs():
    check(lambda x: x.round(decimals=2) * x, [(6,)], low=-3, high=3)
    for name in ("floor", "ceil", "round", "trunc", "sign"):
        a = np.array([-2, 0, 5])
        y, ty = getattr(mytorch.tensor(a), name)(), getattr(torch.tensor(a), name)()
        assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
        np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_sign_of_nan_is_zero_as_torch():
    a = np.array([np.nan, -1.0, 0.0, 2.0], np.float32)
    np.testing.assert_array_equal(mytorch.tensor(a).sign().numpy(),
                                  torch.from_numpy(a).sign().numpy())


# ---- normalizations over an empty dim

@pytest.mark.parametrize("shape", [(3, 0), (0, 4), (2, 0, 5), (0,)])
@pytest.mark.parametrize("fn", [
    lambda lib, x: lib.nn.functional.softmax(x, dim=-1),
    lambda lib, x: lib.nn.functional.log_softmax(x, dim=-1),
    lambda lib, x: lib.softmax(x, 0),
    lambda lib, x: lib.nn.functional.layer_norm(x, x.shape[-1:]),
])
def test_normalizations_over_empty_dims_return_empty(shape, fn):
    check(lambda x: fn(mytorch, x), [shape], torch_fn=lambda x: fn(torch, x))


def test_layer_norm_module_over_an_empty_last_dim():
    ln, tln = mytorch.nn.LayerNorm(0), torch.nn.LayerNorm(0)
    check(lambda x: ln(x), [(2, 0)], torch_fn=lambda x: tln(x))
    assert ln.weight.grad.shape == (0,)


# ---- random ops accept every float dtype

FLOAT_DTYPES = ["float16", "bfloat16", "float32", "float64"]

RANDOM_OPS = {
    "rand": lambda lib, x: lib.rand(3, 4, dtype=x.dtype),
    "randn": lambda lib, x: lib.randn(3, 4, dtype=x.dtype),
    "rand_like": lambda lib, x: lib.rand_like(x),
    "randn_like": lambda lib, x: lib.randn_like(x),
    "randint": lambda lib, x: lib.randint(0, 5, (3,), dtype=x.dtype),
    "randperm": lambda lib, x: lib.randperm(5, dtype=x.dtype),
    "uniform_": lambda lib, x: x.clone().uniform_(-1, 1),
    "normal_": lambda lib, x: x.clone().normal_(),
    "bernoulli_": lambda lib, x: x.clone().bernoulli_(0.5),
    "bernoulli": lambda lib, x: lib.bernoulli(x * 0.5),
    "exponential_": lambda lib, x: x.clone().exponential_(),
    "random_": lambda lib, x: x.clone().random_(0, 10),
    "normal": lambda lib, x: lib.normal(x, x),
    "dropout": lambda lib, x: lib.nn.functional.dropout(x, 0.5, training=True),
    "dropout_module": lambda lib, x: lib.nn.Dropout(0.3)(x),
    "dropout2d": lambda lib, x: lib.nn.functional.dropout2d(x.reshape(1, 3, 4, 1), 0.5),
}


@pytest.mark.parametrize("op", sorted(RANDOM_OPS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_random_ops_accept_every_float_dtype(op, dtype):
    fn = RANDOM_OPS[op]
    ty = fn(torch, torch.ones(3, 4, dtype=getattr(torch, dtype)))
    y = fn(mytorch, mytorch.ones(3, 4, dtype=getattr(mytorch, dtype)))
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    assert tuple(y.shape) == tuple(ty.shape)
    assert bool(y.float().isfinite().all())


def test_dropout_in_fp16_keeps_the_expected_fraction_and_gradient():
    mytorch.manual_seed(0)
    x = mytorch.ones(200, 200, dtype=mytorch.float16, requires_grad=True)
    y = F.dropout(x, 0.25, training=True)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.75) < 0.01
    assert set(np.unique(y.detach().float().numpy())) <= {0.0, np.float32(np.float16(1 / 0.75))}
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() != 0, y.detach().numpy() != 0)


# ---- 0-d tensors format like numbers

@pytest.mark.parametrize("value, dtype", [(1.5, "float32"), (3, "int64"), (-0.125, "float64"),
                                          (True, "bool"), (2.0, "float16")])
@pytest.mark.parametrize("spec", ["", ".4f", ">10", "e", ".2%"])
def test_zero_dim_tensors_format_like_numbers(value, dtype, spec):
    if dtype == "bool" and spec in ("e", ".2%", ".4f"):
        spec = ""
    if dtype == "int64" and spec == ".2%":
        spec = ".1%"
    t = torch.tensor(value, dtype=getattr(torch, dtype))
    m = mytorch.tensor(value, dtype=getattr(mytorch, dtype))
    assert format(m, spec) == format(t, spec)
    assert f"{m}" == f"{t}"


def test_formatting_a_tensor_with_dims():
    m, t = mytorch.tensor([1.5, 2.0]), torch.tensor([1.5, 2.0])
    assert f"{m}" == str(m)
    for lib_t in (m, t):
        with pytest.raises(TypeError):
            format(lib_t, ".4f")


def test_loss_formats_in_a_training_log():
    loss = mytorch.tensor([0.5, 0.25], requires_grad=True).sum()
    assert f"loss {loss:.4f}" == "loss 0.7500"


def test_nelement_is_numel():
    for shape in [(), (0,), (2, 3), (4, 1, 5)]:
        assert mytorch.zeros(shape).nelement() == torch.zeros(shape).nelement()
