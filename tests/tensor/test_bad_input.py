"""Bad input raises clear errors that name the op and the shapes -- never a silent result."""
import pytest

import mytorch


def raises(exc, *fragments):
    """pytest.raises whose message must contain every fragment."""
    import re
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


@pytest.mark.parametrize("op,name", [(lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"),
                                     (lambda a, b: a * b, "mul"), (lambda a, b: a / b, "div"),
                                     (lambda a, b: mytorch.maximum(a, b), "maximum"),
                                     (lambda a, b: a ** b, "pow")])
def test_binary_shape_mismatch(op, name):
    a, b = mytorch.ones(3, 4), mytorch.ones(5)
    with raises(RuntimeError, name, "(3, 4)", "(5,)"):
        op(a, b)


def test_matmul_shape_mismatch():
    with raises(RuntimeError, "matmul", "(2, 3)", "(4, 5)"):
        mytorch.ones(2, 3) @ mytorch.ones(4, 5)
    with raises(RuntimeError, "matmul", "(2, 2, 3)", "(3, 3, 1)"):
        mytorch.ones(2, 2, 3) @ mytorch.ones(3, 3, 1)
    with raises(RuntimeError, "matmul", "()"):
        mytorch.tensor(1.0) @ mytorch.ones(2)


@pytest.mark.parametrize("call,name", [
    (lambda x: x.sum(2), "sum"), (lambda x: x.mean(-3), "mean"), (lambda x: x.max(5), "max"),
    (lambda x: x.var(3), "var"), (lambda x: x.argmax(2), "argmax"),
    (lambda x: x.logsumexp(4), "logsumexp"), (lambda x: x.transpose(0, 2), "transpose"),
    (lambda x: x.unsqueeze(4), "unsqueeze"), (lambda x: x.softmax(3) if False else x.prod(2),
                                                "prod"),
    (lambda x: x.squeeze(2), "squeeze"), (lambda x: x.size(2), "size"),
    (lambda x: mytorch.cat([x, x], 2), "cat"), (lambda x: x.split(1, 2), "split"),
    (lambda x: x.gather(2, mytorch.zeros(2, 3, dtype=mytorch.int64)), "gather"),
    (lambda x: x.index_select(3, mytorch.tensor([0])), "index_select"),
    (lambda x: x.flatten(0, 3), "flatten"),
])
def test_invalid_dim(call, name):
    with raises(IndexError, name, "dim", "(2, 3)"):
        call(mytorch.ones(2, 3))


def test_permute_not_a_permutation():
    with raises(RuntimeError, "permute", "(2, 3)"):
        mytorch.ones(2, 3).permute(0, 0)


def test_duplicate_dims():
    with raises(ValueError, "sum", "twice"):
        mytorch.ones(2, 3).sum((1, -1))


def test_backward_on_non_scalar_without_gradient():
    x = mytorch.ones(2, 3, requires_grad=True)
    with raises(RuntimeError, "backward", "scalar", "(2, 3)"):
        (x * 2).backward()
    with raises(RuntimeError, "backward", "(3,)", "(2, 3)"):
        (x * 2).backward(mytorch.ones(3))


def test_backward_without_grad_requiring_inputs():
    y = mytorch.ones(2, 3) * 2
    with raises(RuntimeError, "backward", "(2, 3)", "does not require grad"):
        y.backward()
    x = mytorch.ones(2, requires_grad=True)
    with mytorch.no_grad():
        z = (x * 2).sum()
    with raises(RuntimeError, "backward", "does not require grad"):
        z.backward()
    with raises(RuntimeError, "grad", "does not require grad"):
        mytorch.autograd.grad(y.sum(), [x])


@pytest.mark.parametrize("key,fragment", [
    (5, "index 5"), (-4, "index -4"), ((0, 7), "index 7"), ((slice(None), 3), "index 3"),
    ((0, 0, 0), "too many indices"), ("arr", "index 9"), ("mask", "mask"),
])
def test_index_out_of_range(key, fragment):
    x = mytorch.ones(3, 3)
    if key == "arr":
        key = mytorch.tensor([0, 9])
    elif key == "mask":
        key = mytorch.tensor([True, False])
    with raises(IndexError, fragment, "(3, 3)"):
        x[key]
    with raises(IndexError, fragment, "(3, 3)"):
        x[key] = 1.0


def test_gather_and_friends_out_of_range():
    x = mytorch.ones(2, 3)
    with raises(IndexError, "gather", "size 3"):
        x.gather(1, mytorch.tensor([[0, 3]]))
    with raises(IndexError, "index_select", "size 2"):
        x.index_select(0, mytorch.tensor([2]))
    with raises(IndexError, "scatter_add", "size 3"):
        x.scatter_add(1, mytorch.tensor([[5]]), mytorch.ones(1, 1))
    with raises(RuntimeError, "gather", "(3, 3)", "(2, 3)"):
        x.gather(1, mytorch.zeros(3, 3, dtype=mytorch.int64))
    with raises(RuntimeError, "gather", "integer"):
        x.gather(1, mytorch.ones(2, 3))
    with raises(RuntimeError, "one_hot", "[0, 3)"):
        mytorch.one_hot(mytorch.tensor([0, 3]), 3)


def test_shape_op_errors():
    x = mytorch.ones(2, 3)
    with raises(RuntimeError, "reshape", "(2, 3)", "[4, 2]"):
        x.reshape(4, 2)
    with raises(RuntimeError, "expand", "(2, 3)"):
        x.expand(4, 4)
    with raises(RuntimeError, "cat", "(2, 3)", "(2, 4)"):
        mytorch.cat([x, mytorch.ones(2, 4)], 0)
    with raises(RuntimeError, "stack", "(2, 3)", "(3, 2)"):
        mytorch.stack([x, mytorch.ones(3, 2)])
    with raises(RuntimeError, "split", "(2, 3)"):
        x.split([1, 1], 1)
    with raises(RuntimeError, "unflatten", "(2, 3)"):
        x.unflatten(1, (2, 2))
    with raises(RuntimeError, "cat", "non-empty"):
        mytorch.cat([])


def test_mask_and_where_errors():
    x = mytorch.ones(2, 3)
    with raises(RuntimeError, "masked_fill", "bool"):
        x.masked_fill(mytorch.ones(2, 3), 0.0)
    with raises(RuntimeError, "masked_fill", "(4,)", "(2, 3)"):
        x.masked_fill(mytorch.ones(4, dtype=mytorch.bool), 0.0)
    with raises(RuntimeError, "where", "(4,)", "(2, 3)"):
        mytorch.where(mytorch.ones(4, dtype=mytorch.bool), x, 0.0)
    with raises(RuntimeError, "where", "bool"):
        mytorch.where(mytorch.ones(2, 3), x, x)


def test_dtype_errors():
    with raises(RuntimeError, "mean", "int64"):
        mytorch.tensor([1, 2]).mean()
    with raises(RuntimeError, "floating point", "int64"):
        mytorch.tensor([1, 2], requires_grad=True)
    with raises(TypeError, "tensor", "str"):
        mytorch.tensor("abc")
    with raises(ValueError, "gradcheck", "float64"):
        mytorch.autograd.gradcheck(lambda t: t * 2, [mytorch.ones(2, requires_grad=True)])


def test_misc_errors():
    with raises(RuntimeError, "item", "(2,)"):
        mytorch.ones(2).item()
    with raises(RuntimeError, "bool", "ambiguous"):
        bool(mytorch.ones(2))
    with raises(ValueError, "clamp"):
        mytorch.ones(2).clamp()
    with raises(ValueError, "arange", "step"):
        mytorch.arange(0, 5, 0)
    with raises(ValueError, "randint", "low"):
        mytorch.randint(5, 2, (3,))
    with raises(ValueError, "invalid shape"):
        mytorch.zeros(-1, 2)
    with raises(TypeError, "unsupported operand"):
        mytorch.ones(2) + "a"
