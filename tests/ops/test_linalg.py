"""mytorch.linalg against torch.linalg: forward values and gradients (float64 mainly, float32
too), batched (..., n, n) inputs, well-conditioned random matrices, and bad input."""
import math

import numpy as np
import pytest
import torch

import mytorch
import mytorch.linalg
from tests.helpers import check

F32_TOL = dict(atol=1e-4, rtol=1e-4)  # decompositions in float32 lose a little more


def la(x):
    """The linalg namespace matching x's library."""
    return mytorch.linalg if isinstance(x, mytorch.Tensor) else torch.linalg


def lib(x):
    return mytorch if isinstance(x, mytorch.Tensor) else torch


def _rng(seed):
    return np.random.default_rng(seed)


def general(shape, dtype=np.float64, seed=0):
    """Well-conditioned square matrices: standard normal / sqrt(n) + 2 I."""
    n = shape[-1]
    a = _rng(seed).standard_normal(shape) / math.sqrt(n) + 2 * np.eye(n)
    return a.astype(dtype)


def spd(shape, dtype=np.float64, seed=0):
    """Symmetric positive-definite: B B^T + n I."""
    n = shape[-1]
    b = _rng(seed).standard_normal(shape)
    return (b @ b.swapaxes(-1, -2) + n * np.eye(n)).astype(dtype)


def orthogonal(shape, rng):
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    return q


def separated_sym(shape, dtype=np.float64, seed=0):
    """Symmetric with eigenvalues at least 1 apart (some negative): Q diag(w) Q^T."""
    rng = _rng(seed)
    n = shape[-1]
    w = np.linspace(-n / 2, n, n) + rng.uniform(-0.2, 0.2, shape[:-1])
    q = orthogonal(shape, rng)
    return ((q * w[..., None, :]) @ q.swapaxes(-1, -2)).astype(dtype)


def separated_svd(shape, dtype=np.float64, seed=0):
    """(..., m, n) with singular values at least 0.5 apart in [1, ...]: U diag(s) V^T."""
    rng = _rng(seed)
    m, n = shape[-2:]
    k = min(m, n)
    s = np.linspace(1, 1 + 0.7 * k, k)[::-1] + rng.uniform(-0.1, 0.1, shape[:-2] + (k,))
    u = orthogonal(shape[:-2] + (m, k), rng)
    v = orthogonal(shape[:-2] + (n, k), rng)
    return ((u * s[..., None, :]) @ v.swapaxes(-1, -2)).astype(dtype)


def noncontig(a):
    """Same values, transposed memory (a non-contiguous view)."""
    return np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)


def rand(shape, dtype=np.float64, seed=0):
    return _rng(seed).uniform(-2, 2, shape).astype(dtype)


SQUARE = [(3, 3), (2, 4, 4), (2, 1, 3, 3), (1, 1)]
DTYPES = [np.float64, np.float32]


def tol(dtype):
    return F32_TOL if dtype == np.float32 else {}


# ---- norms ----

VEC_ORDS = [2, 1, math.inf, -math.inf, 0, 3, 0.5, -1.5]


@pytest.mark.parametrize("ord", VEC_ORDS, ids=str)
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm(ord, dim, keepdim, device):
    check(lambda x: la(x).vector_norm(x, ord, dim, keepdim), inputs=[rand((3, 4, 5))],
          device=device)


@pytest.mark.parametrize("ord", [2, 1, math.inf, 3], ids=str)
def test_vector_norm_float32_and_0d(ord, device):
    check(lambda x: la(x).vector_norm(x, ord, -1), inputs=[rand((4, 6), np.float32)],
          device=device)
    check(lambda x: la(x).vector_norm(x, ord), inputs=[np.array(-1.5)], device=device)


@pytest.mark.parametrize("ord", [2, 3, 0.5, math.inf])
def test_vector_norm_zero_vector_gradient_is_finite(ord, device):
    x = np.zeros((2, 3))
    x[1] = [1.0, -2.0, 0.5]
    check(lambda t: la(t).vector_norm(t, ord, dim=-1), inputs=[x], device=device)


def test_vector_norm_dtype_argument(device):
    check(lambda x: la(x).vector_norm(x, 2, dtype=lib(x).float64),
          inputs=[rand((3, 4), np.float32)], device=device)


MAT_ORDS = ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]


@pytest.mark.parametrize("ord", MAT_ORDS, ids=str)
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(ord, dim, keepdim, device):
    check(lambda x: la(x).matrix_norm(x, ord, dim, keepdim), inputs=[rand((3, 4, 5))],
          device=device)


@pytest.mark.parametrize("ord", MAT_ORDS, ids=str)
def test_matrix_norm_float32(ord, device):
    check(lambda x: la(x).matrix_norm(x, ord), inputs=[rand((2, 4, 3), np.float32)],
          device=device, **F32_TOL)


@pytest.mark.parametrize("args", [
    dict(), dict(ord=3), dict(ord=math.inf), dict(dim=1), dict(dim=(0, 2)),
    dict(ord="nuc", dim=(1, 2)), dict(ord=-1, dim=(2, 1), keepdim=True), dict(keepdim=True),
], ids=str)
def test_norm_on_3d(args, device):
    if "ord" in args and "dim" not in args:  # ord without dim needs a 1-D (or 2-D) input
        check(lambda x: la(x).norm(x, **args), inputs=[rand((5,))], device=device)
        return
    check(lambda x: la(x).norm(x, **args), inputs=[rand((3, 4, 5))], device=device)


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf], ids=str)
def test_norm_matrix_ords_on_2d(ord, device):
    check(lambda x: la(x).norm(x, ord), inputs=[rand((4, 3))], device=device)


def test_norm_bad_input():
    with pytest.raises(RuntimeError, match="linalg.vector_norm.*int64"):
        mytorch.linalg.vector_norm(mytorch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="linalg.norm.*1-D or 2-D.*\\(2, 3, 4\\)"):
        mytorch.linalg.norm(mytorch.zeros(2, 3, 4), 2)
    with pytest.raises(RuntimeError, match="linalg.matrix_norm.*order 3"):
        mytorch.linalg.matrix_norm(mytorch.zeros(3, 3), 3)
    with pytest.raises(RuntimeError, match="linalg.matrix_norm.*at least 2 dim.*\\(3,\\)"):
        mytorch.linalg.norm(mytorch.zeros(3), "fro")
    with pytest.raises(RuntimeError, match="linalg.vector_norm.*ord must be a number"):
        mytorch.linalg.vector_norm(mytorch.zeros(3), "fro")


# ---- inverses, determinants, linear systems ----

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
def test_inv(shape, dtype, device):
    check(lambda a: la(a).inv(a), inputs=[general(shape, dtype)], device=device, **tol(dtype))


def test_inv_noncontig(device):
    check(lambda a: la(a).inv(a), inputs=[noncontig(general((2, 4, 4)))], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
def test_det_and_slogdet(shape, dtype, device):
    a = rand(shape, dtype, seed=3) + np.eye(shape[-1], dtype=dtype)  # some dets negative
    check(lambda a: la(a).det(a), inputs=[a], device=device, **tol(dtype))
    check(lambda a: tuple(la(a).slogdet(a)), inputs=[a], device=device, **tol(dtype))


def test_det_negative_sign_and_noncontig(device):
    a = noncontig(general((3, 3, 3), seed=4))
    a[1] = a[1][::-1]  # swap rows: negative determinant
    check(lambda a: tuple(la(a).slogdet(a)), inputs=[a], device=device)
    sign = mytorch.linalg.slogdet(mytorch.tensor(a, device=device)).sign.cpu().numpy()
    np.testing.assert_array_equal(sign, [1, -1, 1])
    check(lambda a: la(a).det(a), inputs=[a], device=device)


def test_det_gradient_of_singular_matrices_is_the_adjugate(device):
    # torch returns 0 when det(A) is exactly 0; the derivative is the cofactor matrix, which
    # a rank n-1 matrix has nonzero: compare with central differences (det is a polynomial)
    a = np.stack([np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),  # rank 2
                  np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]]),
                  general((3, 3), seed=5)])
    x = mytorch.tensor(a, device=device, requires_grad=True)
    mytorch.linalg.det(x).sum().backward()
    h, fd = 1e-6, np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = h
        fd[idx] = (np.linalg.det(a + e) - np.linalg.det(a - e))[idx[0]] / (2 * h)
    np.testing.assert_allclose(x.grad.cpu().numpy(), fd, atol=1e-8)
    np.testing.assert_allclose(fd[1, 1], [-2, -2, 2], atol=1e-8)  # cofactors of the zero row


SOLVE_SHAPES = [
    [(3, 3), (3,)],            # vector
    [(3, 3), (3, 2)],          # matrix
    [(2, 3, 3), (2, 3)],       # batch of vectors shaped like A[..., 0]
    [(2, 3, 3), (2, 3, 4)],    # batch of matrices
    [(2, 3, 3), (3,)],         # one vector for every matrix
    [(2, 3, 3), (3, 2)],       # B broadcast over A's batch
    [(3, 3), (2, 3, 2)],       # A broadcast over B's batch
    [(2, 1, 3, 3), (4, 3, 1)],  # both broadcast
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SOLVE_SHAPES, ids=str)
def test_solve(shapes, dtype, device):
    a, b = general(shapes[0], dtype), rand(shapes[1], dtype, seed=1)
    check(lambda a, b: la(a).solve(a, b), inputs=[a, b], device=device, **tol(dtype))


@pytest.mark.parametrize("shapes", [[(3, 3), (2, 3)], [(2, 3, 3), (4, 3)],
                                    [(2, 3, 3), (2, 5, 3)]], ids=str)
def test_solve_left_false(shapes, device):
    a, b = general(shapes[0]), rand(shapes[1], seed=1)
    check(lambda a, b: la(a).solve(a, b, left=False), inputs=[a, b], device=device)
    with pytest.raises(RuntimeError, match=r"linalg.solve: incompatible shapes.*XA = B"):
        mytorch.linalg.solve(mytorch.eye(3), mytorch.ones(3), left=False)  # as torch


def test_solve_noncontig_and_one_grad(device):
    a, b = noncontig(general((2, 4, 4))), noncontig(rand((2, 4, 3), seed=1))
    check(lambda a, b: la(a).solve(a, b), inputs=[a, b], device=device)
    check(lambda a, b: la(a).solve(a, b.detach()), inputs=[a, b], device=device)


@pytest.mark.parametrize("shapes", [[(5, 3), (5, 2)], [(3, 5), (3, 2)], [(2, 5, 3), (2, 5)],
                                    [(5, 3), (5,)], [(2, 4, 4), (2, 4, 1)]], ids=str)
def test_lstsq(shapes, device):
    a, b = rand(shapes[0]), rand(shapes[1], seed=1)
    check(lambda a, b: tuple(la(a).lstsq(a, b)), inputs=[a, b], device=device)
    out = mytorch.linalg.lstsq(mytorch.tensor(a), mytorch.tensor(b))
    assert out.rank.dtype == mytorch.int64 and tuple(out.residuals.shape) == (0,)


def test_lstsq_rank_deficient_rank():
    a = rand((6, 4))
    a[:, 3] = a[:, 0] + a[:, 1]
    out = mytorch.linalg.lstsq(mytorch.tensor(a), mytorch.tensor(rand((6, 2))))
    assert out.rank.item() == torch.linalg.lstsq(torch.tensor(a), torch.tensor(rand((6, 2)))
                                                 ).rank.item() == 3


def test_singular_matrices_raise():
    a = np.stack([np.eye(3), np.zeros((3, 3))])
    with pytest.raises(mytorch.linalg.LinAlgError,
                       match=r"linalg.inv: .*\(2, 3, 3\) is singular.*batch element 1"):
        mytorch.linalg.inv(mytorch.tensor(a))
    with pytest.raises(RuntimeError, match=r"linalg.inv: .*\(3, 3\) is singular"):
        mytorch.linalg.inv(mytorch.zeros(3, 3))
    with pytest.raises(mytorch.linalg.LinAlgError,
                       match=r"linalg.solve: .*\(2, 3, 3\) is singular.*batch element 1"):
        mytorch.linalg.solve(mytorch.tensor(a), mytorch.ones(2, 3, dtype=mytorch.float64))
    with pytest.raises(mytorch.linalg.LinAlgError,
                       match=r"linalg.cholesky: .*\(2, 3, 3\) is not positive-definite.*"
                             r"batch element 1"):
        mytorch.linalg.cholesky(mytorch.tensor(np.stack([np.eye(3), -np.eye(3)])))


def test_bad_shapes_and_dtypes():
    for fn in (mytorch.linalg.inv, mytorch.linalg.det, mytorch.linalg.cholesky,
               mytorch.linalg.eigh, mytorch.linalg.slogdet):
        with pytest.raises(RuntimeError, match=r"square matrices.*\(3, 4\).*3 by 4"):
            fn(mytorch.zeros(3, 4))
        with pytest.raises(RuntimeError, match=r"matrix or a batch of matrices.*\(3,\)"):
            fn(mytorch.zeros(3))
        with pytest.raises(RuntimeError, match="float32 or float64.*int64"):
            fn(mytorch.tensor([[1, 2], [3, 4]]))
    with pytest.raises(RuntimeError, match=r"linalg.solve: incompatible shapes.*\(4,\)"):
        mytorch.linalg.solve(mytorch.eye(3), mytorch.ones(4))
    with pytest.raises(RuntimeError, match="linalg.solve.*one dtype.*float32.*float64"):
        mytorch.linalg.solve(mytorch.eye(3), mytorch.ones(3, dtype=mytorch.float64))
    with pytest.raises(RuntimeError, match="linalg.solve.*batch dims.*do not broadcast"):
        mytorch.linalg.solve(mytorch.ones(2, 3, 3), mytorch.ones(4, 3, 1))
    with pytest.raises(RuntimeError, match="linalg.svd.*float32 or float64.*float16"):
        mytorch.linalg.svd(mytorch.zeros(2, 2, dtype=mytorch.float16))
    with pytest.raises(RuntimeError, match="linalg.eigh: UPLO"):
        mytorch.linalg.eigh(mytorch.eye(2), UPLO="X")


# ---- decompositions ----

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape, dtype, upper, device):
    check(lambda a: la(a).cholesky(a, upper=upper), inputs=[spd(shape, dtype)], device=device,
          **tol(dtype))


def test_cholesky_composed(device):
    # log det of an SPD matrix through its Cholesky factor, and a solve with the factor
    a = noncontig(spd((2, 4, 4)))
    check(lambda a: 2 * la(a).cholesky(a).diagonal(dim1=-2, dim2=-1).log().sum(-1),
          inputs=[a], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5), (2, 5, 3), (2, 3, 5), (1, 1)],
                         ids=str)
def test_qr_reduced(shape, dtype, device):
    check(lambda a: tuple(la(a).qr(a)), inputs=[rand(shape, dtype)], device=device,
          **tol(dtype))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)], ids=str)
def test_qr_complete_and_r(shape, device):
    a = rand(shape)
    m, n = shape[-2:]
    check(lambda a: tuple(la(a).qr(a, "complete")), inputs=[a], device=device,
          grad=m <= n)
    check(lambda a: la(a).qr(a, "r")[1], inputs=[a], device=device, grad=False)
    assert tuple(mytorch.linalg.qr(mytorch.tensor(a), "r").Q.shape) == (0,)


def test_qr_not_differentiable_cases():
    a = mytorch.tensor(rand((5, 3)), requires_grad=True)
    q, r = mytorch.linalg.qr(a, "complete")
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        q.sum().backward()
    with pytest.raises(RuntimeError, match="mode='r'"):
        mytorch.linalg.qr(a, "r").R.sum().backward()
    with pytest.raises(RuntimeError, match="linalg.qr: mode"):
        mytorch.linalg.qr(a, "full")


def _eigh_invariants(a, uplo="L"):
    """Eigenvalues and gauge-invariant functions of the eigenvectors."""
    w, v = la(a).eigh(a, UPLO=uplo)
    f = lib(a).arange(1, a.shape[-1] + 1, dtype=a.dtype, device=a.device)
    return w, (v * f) @ v.mT, v.abs()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(shape, dtype, uplo, device):
    check(lambda a: _eigh_invariants(a, uplo), inputs=[separated_sym(shape, dtype)],
          device=device, **tol(dtype))


def test_eigh_of_symmetrized_input(device):
    # the gradient reaches an unsymmetric leaf through A + A^T
    check(lambda b: _eigh_invariants(b + b.mT), inputs=[noncontig(separated_sym((2, 4, 4)))],
          device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
def test_eigvalsh(shape, dtype, device):
    check(lambda a: la(a).eigvalsh(a), inputs=[separated_sym(shape, dtype)], device=device,
          **tol(dtype))
    check(lambda a: la(a).eigvalsh(a, "U"), inputs=[separated_sym(shape, dtype)],
          device=device, **tol(dtype))


def _svd_invariants(a, full_matrices):
    """S and gauge-invariant functions of the singular vectors (their first k)."""
    u, s, vh = la(a).svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    u, vh = u[..., :k], vh[..., :k, :]
    f = lib(a).arange(1, k + 1, dtype=a.dtype, device=a.device)
    return s, (u * f) @ vh, u.abs(), vh.abs(), (u * s.unsqueeze(-2)) @ vh


SVD_SHAPES = [(4, 3), (3, 5), (4, 4), (2, 5, 3), (2, 3, 4), (1, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SVD_SHAPES, ids=str)
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd(shape, dtype, full_matrices, device):
    check(lambda a: _svd_invariants(a, full_matrices), inputs=[separated_svd(shape, dtype)],
          device=device, **tol(dtype))


def test_svd_shapes_and_reconstruction():
    a = mytorch.tensor(rand((2, 5, 3)))
    u, s, vh = mytorch.linalg.svd(a)
    assert (u.shape, s.shape, vh.shape) == ((2, 5, 5), (2, 3), (2, 3, 3))
    u, s, vh = mytorch.linalg.svd(a, full_matrices=False)
    assert u.shape == (2, 5, 3)
    np.testing.assert_allclose(((u * s.unsqueeze(-2)) @ vh).numpy(), a.numpy(), atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SVD_SHAPES, ids=str)
def test_svdvals(shape, dtype, device):
    check(lambda a: la(a).svdvals(a), inputs=[separated_svd(shape, dtype)], device=device,
          **tol(dtype))
    check(lambda a: la(a).svdvals(a), inputs=[rand(shape, dtype)], device=device, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 5, 3), (2, 3, 4)], ids=str)
def test_pinv(shape, dtype, device):
    check(lambda a: la(a).pinv(a), inputs=[separated_svd(shape, dtype)], device=device,
          **tol(dtype))


def test_pinv_rank_deficient_hermitian_and_tolerances(device):
    a = separated_svd((5, 4))
    a[:, 3] = a[:, 0] - a[:, 2]  # rank 3: the smallest singular value is cut off
    check(lambda a: la(a).pinv(a), inputs=[a], device=device, atol=1e-9)
    check(lambda a: la(a).pinv(a, hermitian=True), inputs=[separated_sym((2, 4, 4))],
          device=device)
    b = separated_svd((4, 4))  # singular values in about [1, 3.1]
    check(lambda a: la(a).pinv(a, atol=1.5), inputs=[b], device=device)
    check(lambda a: la(a).pinv(a, rtol=0.5), inputs=[b], device=device)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -3])
def test_matrix_power(n, device):
    check(lambda a: la(a).matrix_power(a, n), inputs=[general((2, 3, 3)) / 2], device=device)


def test_matrix_power_float32_and_ints():
    check(lambda a: la(a).matrix_power(a, 4), inputs=[general((3, 3), np.float32) / 2])
    x = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(mytorch.linalg.matrix_power(mytorch.tensor(x), 3).numpy(),
                                  np.linalg.matrix_power(x, 3))
    with pytest.raises(TypeError, match="linalg.matrix_power: n must be an integer"):
        mytorch.linalg.matrix_power(mytorch.eye(2), 1.5)
    with pytest.raises(RuntimeError, match=r"linalg.matrix_power.*square.*\(2, 3\)"):
        mytorch.linalg.matrix_power(mytorch.ones(2, 3), 2)


@pytest.mark.parametrize("kwargs", [dict(), dict(atol=1.5), dict(rtol=0.5),
                                    dict(hermitian=True)], ids=str)
def test_matrix_rank(kwargs):
    rng = _rng(7)
    a = separated_svd((3, 5, 5))
    a[1, :, 4] = a[1, :, 0] + a[1, :, 1]  # rank 4
    a[2] = 0                               # rank 0
    if kwargs.get("hermitian"):
        a = a @ a.swapaxes(-1, -2) + 0 * rng.standard_normal(a.shape)
    got = mytorch.linalg.matrix_rank(mytorch.tensor(a), **kwargs)
    want = torch.linalg.matrix_rank(torch.tensor(a), **kwargs)
    assert got.dtype == mytorch.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    got = mytorch.linalg.matrix_rank(mytorch.tensor(rand((4, 6))))
    assert got.item() == 4 and got.requires_grad is False


# ---- products and views ----

@pytest.mark.parametrize("shapes,dim", [([(4, 3), (4, 3)], -1), ([(1, 3), (2, 3)], -1),
                                        ([(3, 4), (3, 1)], 0)], ids=str)
def test_cross(shapes, dim, device):
    check(lambda a, b: la(a).cross(a, b, dim=dim), [*shapes], dtype=np.float64, device=device)


def test_diagonal(device):
    check(lambda a: la(a).diagonal(a), [(2, 3, 4)], device=device)
    check(lambda a: la(a).diagonal(a, offset=1, dim1=0, dim2=2), [(3, 2, 4)], device=device)


@pytest.mark.parametrize("shapes", [
    [(4,), (4, 5), (5, 6), (6,)],
    [(3, 4), (4, 5)],
    [(2, 3), (3, 7), (7, 2), (2, 5)],
    [(9,), (9, 2), (2, 9)],
    [(2, 10), (10, 3), (3,)],
], ids=str)
def test_multi_dot(shapes, device):
    check(lambda *ts: la(ts[0]).multi_dot(list(ts)), shapes, dtype=np.float64, device=device)


def test_multi_dot_bad_input():
    with pytest.raises(RuntimeError, match="linalg.multi_dot: expected at least 2"):
        mytorch.linalg.multi_dot([mytorch.ones(2, 2)])
    with pytest.raises(RuntimeError, match=r"tensors 0 and 1 of shapes \(2, 3\) and \(4, 2\)"):
        mytorch.linalg.multi_dot([mytorch.ones(2, 3), mytorch.ones(4, 2)])
    with pytest.raises(RuntimeError, match=r"between the first and last must be 2-D.*\(3,\)"):
        mytorch.linalg.multi_dot([mytorch.ones(2, 3), mytorch.ones(3), mytorch.ones(3, 2)])


@pytest.mark.parametrize("shapes,dim", [([(3, 4), (4,)], -1), ([(3, 4), (3, 4)], 0),
                                        ([(2, 1, 5), (3, 5)], -1)], ids=str)
def test_vecdot(shapes, dim, device):
    check(lambda x, y: la(x).vecdot(x, y, dim=dim), [*shapes], device=device)


def test_namespace():
    import importlib
    mod = importlib.import_module("mytorch.linalg")
    assert mod is mytorch.linalg
    for name in mod.__all__:
        assert hasattr(torch.linalg, name), name
    x = mytorch.tensor(general((3, 3)))
    np.testing.assert_allclose(mytorch.linalg.matmul(x, mytorch.linalg.inv(x)).numpy(),
                               np.eye(3), atol=1e-12)
    assert issubclass(mytorch.linalg.LinAlgError, RuntimeError)
