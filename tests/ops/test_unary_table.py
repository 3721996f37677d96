"""The unary table (`mytorch.ops.elementwise.UNARY_OPS`): every row against PyTorch, forward and
backward, through its Tensor method and its `mytorch.<name>` export, and its dtype rule. A new
row needs one entry in DOMAIN (the inputs it is tested on); the test below fails until then.

Also the no-gradient ops of `PREDICATE_OPS`: same results and dtypes as torch, no graph."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch.ops import elementwise as E
from tests.helpers import check

# name -> (low, high): inputs inside the op's domain, away from its kinks
DOMAIN = {
    "neg": (-2.0, 2.0), "abs": (-2.0, 2.0), "relu": (-2.0, 2.0),
    "trunc": (-3.0, 3.0), "floor": (-3.0, 3.0), "ceil": (-3.0, 3.0),
    "sqrt": (0.3, 2.0), "rsqrt": (0.3, 2.0),
    "exp": (-2.0, 2.0), "exp2": (-2.0, 2.0), "expm1": (-2.0, 2.0),
    "log": (0.3, 2.0), "log2": (0.3, 2.0), "log10": (0.3, 2.0), "log1p": (-0.5, 2.0),
    "sin": (-2.0, 2.0), "cos": (-2.0, 2.0), "tan": (-1.2, 1.2),
    "asin": (-0.95, 0.95), "acos": (-0.95, 0.95), "atan": (-3.0, 3.0),
    "sinh": (-2.0, 2.0), "cosh": (-2.0, 2.0), "tanh": (-2.0, 2.0), "sigmoid": (-4.0, 4.0),
    "erf": (-2.0, 2.0), "erfc": (-2.0, 2.0), "erfinv": (-0.95, 0.95),
}
NAMES = [op.name for op in E.UNARY_OPS]
RULES = {op.name: op.dtypes for op in E.UNARY_OPS}


def test_every_row_has_a_test_domain():
    assert sorted(DOMAIN) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_row_gives_function_method_and_export(name):
    fn = E.FUNCTIONS[name]
    assert fn.__name__ == name.capitalize() and issubclass(fn, mytorch.autograd.Function)
    assert getattr(mytorch.Tensor, name).__name__ == name
    assert getattr(mytorch, name) is getattr(mytorch.Tensor, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_method_against_torch(name, dtype, device):
    low, high = DOMAIN[name]
    check(lambda x: getattr(x, name)(), [(3, 4)], dtype=dtype, low=low, high=high,
          device=device)


@pytest.mark.parametrize("name", NAMES)
def test_export_against_torch(name, device):
    low, high = DOMAIN[name]
    lib = lambda x: torch if isinstance(x, torch.Tensor) else mytorch
    check(lambda x: getattr(lib(x), name)(x), [(2, 3)], low=low, high=high, device=device)


@pytest.mark.parametrize("name", NAMES)
def test_integer_input_dtype_follows_torch(name):
    values = [1, 2, 3] if name not in ("acos", "asin", "erfinv") else [0, 0, 0]
    ours = getattr(mytorch.tensor(values), name)()
    theirs = getattr(torch.tensor(values), name)()
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if RULES[n] in (E.NO_BOOL, E.WHOLE)])
def test_bool_input_is_refused_naming_the_op(name):
    with pytest.raises(RuntimeError, match=name):
        getattr(mytorch.tensor([True, False]), name)()


PREDICATES = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "bitwise_and": lambda a, b: (a > 0) & (b > 0), "bitwise_or": lambda a, b: (a > 0) | (b > 0),
    "bitwise_xor": lambda a, b: (a > 0) ^ (b > 0), "bitwise_not": lambda a, b: ~(a > 0),
    "logical_and": lambda a, b: a.logical_and(b), "logical_or": lambda a, b: a.logical_or(b),
    "logical_xor": lambda a, b: a.logical_xor(b), "logical_not": lambda a, b: a.logical_not(),
    "isnan": lambda a, b: (a / b).isnan(), "isinf": lambda a, b: (a / b).isinf(),
    "isfinite": lambda a, b: (a / b).isfinite(),
}


def test_every_predicate_row_is_tested():
    assert sorted(PREDICATES) == sorted(E.PREDICATES)


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_predicate_against_torch_without_graph(name):
    rng = np.random.default_rng(0)
    a = np.round(rng.standard_normal((3, 4)), 1).astype(np.float32)
    b = np.round(rng.standard_normal((3, 4)), 1).astype(np.float32)
    a[0, :2] = b[0, :2] = 0  # ties, and 0 / 0 and x / 0 for the predicates
    ours = PREDICATES[name](mytorch.tensor(a, requires_grad=True), mytorch.tensor(b))
    with torch.no_grad():
        theirs = PREDICATES[name](torch.tensor(a), torch.tensor(b))
    assert ours.dtype == np.bool_ and not ours.requires_grad and ours.grad_fn is None
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
