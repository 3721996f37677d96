"""Property-based tests (hypothesis): random broadcastable shapes, checked against PyTorch."""
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mytorch
from tests.helpers import check

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
shapes2 = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)
dtypes = st.sampled_from([np.float32, np.float64])

BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
          lambda a, b: a / (b * b + 1), lambda a, b: (a * b).tanh() + a.exp() * b]


@SETTINGS
@given(shapes=shapes2, dtype=dtypes, op=st.integers(0, len(BINARY) - 1))
def test_binary_broadcasting(shapes, dtype, op, device):
    check(BINARY[op], list(shapes.input_shapes), dtype=dtype, device=device)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data(),
       keepdim=st.booleans(), op=st.sampled_from(["sum", "mean", "amax", "logsumexp"]))
def test_reductions_over_random_dims(shape, data, keepdim, op, device):
    ndim = len(shape)
    dims = data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                              unique_by=lambda d: d % ndim))
    check(lambda x: getattr(x, op)(tuple(dims), keepdim=keepdim), [shape], device=device)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data())
def test_permute_reshape_roundtrip(shape, data, device):
    perm = data.draw(st.permutations(range(len(shape))))
    check(lambda x: x.permute(*perm).reshape(-1) * 2, [shape], device=device)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                 max_side=3), n=st.integers(1, 4))
def test_matmul_random_batches(shapes, n, device):
    a_batch, b_batch = shapes.input_shapes
    check(lambda a, b: a @ b, [a_batch + (2, n), b_batch + (n, 3)], dtype=np.float64,
          device=device)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), data=st.data())
def test_integer_index_grad_accumulates(shape, data):
    idx = data.draw(hnp.arrays(np.int64, st.integers(1, 6),
                               elements=st.integers(-shape[0], shape[0] - 1)))

    def fn(x):
        key = torch.from_numpy(idx) if isinstance(x, torch.Tensor) else mytorch.tensor(idx)
        return x[key]
    check(fn, [shape], dtype=np.float64)


@SETTINGS
@given(values=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                         elements=st.floats(-5, 5)))
def test_engines_agree_bitwise(values):
    grads = []
    for engine in ("topological", "recursive"):
        x = mytorch.tensor(values, requires_grad=True)
        a = x.sin()
        b = a * x + a.exp()
        (b * a + b.sum() * x).mean().backward(engine=engine)
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
