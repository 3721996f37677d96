"""matmul against PyTorch: 1-D operands, batching and broadcasting, views, dtypes."""
import numpy as np
import pytest

import mytorch
from tests.helpers import check

SHAPES = [
    [(3, 4), (4, 5)],
    [(4,), (4,)],            # dot product -> 0-d
    [(4,), (4, 5)],          # vector @ matrix
    [(3, 4), (4,)],          # matrix @ vector
    [(2, 3, 4), (4, 5)],     # batch @ matrix
    [(3, 4), (2, 4, 5)],     # matrix @ batch
    [(2, 3, 4), (2, 4, 5)],  # batched
    [(2, 1, 3, 4), (5, 4, 2)],  # broadcast batch dims
    [(2, 3, 4), (4,)],
    [(4,), (2, 4, 3)],
    [(1, 1), (1, 1)],
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul(shapes, dtype, device):
    check(lambda a, b: a @ b, shapes, dtype=dtype, device=device)


@pytest.mark.parametrize("shapes", [[(3, 4), (4, 5)], [(2, 3, 4), (2, 4, 5)], [(2, 3, 4), (4, 5)]],
                         ids=str)
def test_matmul_noncontig(shapes, device):
    check(lambda a, b: a.matmul(b), shapes, noncontig=True, device=device)


def test_matmul_functional_and_reflected(device):
    check(lambda a, b: (mytorch if isinstance(a, mytorch.Tensor) else __import__("torch"))
          .matmul(a, b), [(3, 2), (2, 2)], device=device)
    x = mytorch.tensor([[1.0, 2.0]], device=device)
    w = np.array([[1.0], [1.0]], np.float32)
    if x.device.type == "cpu":
        assert (w @ x).shape == (2, 2)  # ndarray @ Tensor goes through __rmatmul__
    else:  # a host array never meets a device tensor silently (torch refuses too)
        with pytest.raises(RuntimeError, match="same device"):
            w @ x


def test_matmul_only_one_needs_grad(device):
    a = mytorch.randn(3, 4, device=device, requires_grad=True)
    b = mytorch.randn(4, 2, device=device)
    (a @ b).sum().backward()
    np.testing.assert_allclose(a.grad.cpu().numpy(),
                               np.ones((3, 2), np.float32) @ b.cpu().numpy().T, rtol=1e-6)
    assert b.grad is None


def test_matmul_mixed_dtype_promotes():
    a = mytorch.ones(2, 3, dtype=mytorch.float64)
    b = mytorch.ones(3, 2)
    assert (a @ b).dtype == mytorch.float64


def test_matmul_batched_broadcast_gradient(device):
    # sum()'s backward hands matmul a zero-stride gradient, expand() a zero-stride input,
    # a ::2 slice a gapped inner dim: all are copied before the batched product
    check(lambda a, b: (a @ b).sum(), [(2, 3, 4), (2, 4, 5)], device=device)
    check(lambda a, b: (a.expand(2, 5, 3, 4) @ b).mean(), [(2, 1, 3, 4), (5, 4, 2)],
          device=device)
    check(lambda a, b: a[..., ::2] @ b[..., :2, :], [(2, 3, 4), (2, 4, 5)], device=device)


def test_blas_ready_copies_only_what_blas_cannot_take():
    from mytorch.ops.linalg import _blas_ready
    a = np.ones((2, 3, 4), np.float32)
    assert _blas_ready(np, a) is a
    assert _blas_ready(np, a.swapaxes(-1, -2)).base is a  # transposed: BLAS takes it
    heads = np.ones((2, 5, 3, 4), np.float32).transpose(0, 2, 1, 3)
    assert _blas_ready(np, heads).base is not None
    for view in (np.broadcast_to(np.float32(1), (2, 3, 4)), a[..., ::2]):
        out = _blas_ready(np, view)
        assert out.flags.c_contiguous and np.array_equal(out, view)
    assert _blas_ready(np, a[0, :, ::2]).base is a  # 2-D stays a zero-copy view
