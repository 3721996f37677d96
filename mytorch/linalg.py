"""`mytorch.linalg`: torch.linalg's norms, matrix functions and decompositions.

Matrix arguments are (..., m, n): leading dims are a batch. Every function is differentiable
(hand-written backwards in mytorch/ops/linalg_decomp.py, the rest composites); decompositions
take real float32/float64 tensors.

>>> A = mytorch.randn(4, 3, 3, dtype=mytorch.float64)
>>> A = A @ A.mT + 3 * mytorch.eye(3, dtype=mytorch.float64)  # (4, 3, 3) SPD
>>> L = mytorch.linalg.cholesky(A)                            # A = L L^T
>>> x = mytorch.linalg.solve(A, mytorch.ones(4, 3, dtype=mytorch.float64))  # (4, 3)
"""
import collections
import math

import numpy as np

from mytorch.autograd.grad_mode import no_grad
from mytorch.ops import linalg_decomp as D
from mytorch.ops.linalg import cross as _cross
from mytorch.ops.linalg import matmul as _matmul
from mytorch.ops.linalg_decomp import LinAlgError
from mytorch.ops.reduce import normalize_dims
from mytorch.ops.shape import broadcast_tensors
from mytorch.ops.shape import diagonal as _diagonal
from mytorch.tensor import Tensor

__all__ = ["LinAlgError", "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv",
           "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm",
           "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "vecdot", "vector_norm"]

# Result types, named like torch.return_types.*.
SlogdetResult = collections.namedtuple("linalg_slogdet", "sign logabsdet")
EighResult = collections.namedtuple("linalg_eigh", "eigenvalues eigenvectors")
QRResult = collections.namedtuple("linalg_qr", "Q R")
SVDResult = collections.namedtuple("linalg_svd", "U S Vh")
LstsqResult = collections.namedtuple("linalg_lstsq", "solution residuals rank singular_values")

_FLOATS = (np.dtype("float32"), np.dtype("float64"))


def _check_dtype(op, *tensors):
    for t in tensors:
        if t.dtype not in _FLOATS:
            raise RuntimeError(f"{op}: expected a float32 or float64 tensor, got {t.dtype} "
                               f"(shape {tuple(t.shape)})")


def _check_matrix(op, a, square=True):
    """a must be a float32/float64 batch of matrices (..., m, n), square when asked."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(a).__name__}")
    if a.ndim < 2:
        raise RuntimeError(f"{op}: expected a matrix or a batch of matrices (..., m, n), got "
                           f"shape {tuple(a.shape)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{op}: expected a batch of square matrices (..., n, n), got shape "
                           f"{tuple(a.shape)} ({a.shape[-2]} by {a.shape[-1]} matrices)")
    _check_dtype(op, a)


def _check_same_dtype(op, a, b):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{op}: expected A and B to have one dtype, got {a.dtype} (shape "
                           f"{tuple(a.shape)}) and {b.dtype} (shape {tuple(b.shape)})")


def _is_vector_rhs(a, b):
    """torch's rule: B is a (batch of) vector(s) when 1-D or shaped like A without its last
    dim; otherwise a (batch of) matrices."""
    return b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))


def _tolerances(a, atol, rtol):
    """torch's defaults: rtol = eps * max(m, n) unless atol > 0 is given alone."""
    atol = 0.0 if atol is None else float(atol)
    if rtol is None:
        rtol = np.finfo(a.dtype).eps * max(a.shape[-2:]) if atol <= 0 else 0.0
    return atol, float(rtol)


# ---- norms ----

def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm (sum |x|^ord)^(1/ord) over `dim` (None: every dim); ord inf/-inf are
    max/min |x|, ord 0 counts the nonzeros.

    >>> mytorch.linalg.vector_norm(mytorch.tensor([3.0, 4.0]))  # tensor(5.)
    """
    op = "linalg.vector_norm"
    if x.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point tensor, got {x.dtype} (shape "
                           f"{tuple(x.shape)})")
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise RuntimeError(f"{op}: ord must be a number, got {ord!r}")
    if dtype is not None:
        x = x.to(dtype)
    axes = normalize_dims(None if dim == () else dim, tuple(x.shape), op)
    return D.VectorNorm.apply(x, float(ord), axes, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Matrix norm over the two dims `dim`: 'fro' (Frobenius), 'nuc' (sum of singular
    values), 2 / -2 (largest / smallest singular value), 1 / -1 (max / min column abs-sum),
    inf / -inf (max / min row abs-sum). (..., m, n) -> (...,)."""
    op = "linalg.matrix_norm"
    if A.ndim < 2:
        raise RuntimeError(f"{op}: the input tensor A must have at least 2 dimensions, got "
                           f"shape {tuple(A.shape)}")
    if A.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point tensor, got {A.dtype} (shape "
                           f"{tuple(A.shape)})")
    if ord not in ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf):
        raise RuntimeError(f"{op}: order {ord!r} not supported; use 'fro', 'nuc', 2, -2, 1, "
                           "-1, inf or -inf")
    if len(tuple(dim)) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple, got {dim!r}")
    d0, d1 = (normalize_dims(d, tuple(A.shape), op)[0] for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different, got {dim!r}")
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return D.VectorNorm.apply(A, 2.0, tuple(sorted((d0, d1))), keepdim)
    out_shape = tuple(1 if i in (d0, d1) else s for i, s in enumerate(A.shape)) if keepdim \
        else tuple(s for i, s in enumerate(A.shape) if i not in (d0, d1))
    if ord in ("nuc", 2, -2):
        _check_dtype(op, A)
        s = svdvals(A.movedim((d0, d1), (-2, -1)))
        r = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        return r.reshape(out_shape)
    sum_dim, pick_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
    t = A.abs().sum(sum_dim, keepdim=True)
    r = t.amax(pick_dim, keepdim=True) if ord > 0 else t.amin(pick_dim, keepdim=True)
    return r.reshape(out_shape)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """vector_norm or matrix_norm, by `dim` (one dim or two) or, without dim, by A's ndim
    when ord is given (1-D: vector, 2-D: matrix); ord and dim both None: the 2-norm of A
    flattened."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1:
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: dim must name 1 or 2 dims, got {dim!r}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 2 or isinstance(ord, str):
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: if dim is not given but ord is, the input must be 1-D or "
                       f"2-D, got shape {tuple(A.shape)}")


# ---- inverses and linear systems ----

def inv(A):
    """A^{-1} of each square matrix of A (..., n, n); raises LinAlgError when one is
    singular."""
    _check_matrix("linalg.inv", A)
    return D.Inv.apply(A)


def det(A):
    """Determinant of each matrix of A (..., n, n) -> (...,)."""
    _check_matrix("linalg.det", A)
    return D.Det.apply(A)


def slogdet(A):
    """(sign, log|det A|) of A (..., n, n), each (...,): the determinant without overflow."""
    _check_matrix("linalg.slogdet", A)
    return SlogdetResult(*D.Slogdet.apply(A))


def solve(A, B, *, left=True):
    """X with A X = B (left=False: X A = B). A (..., n, n); B (..., n, k), or a vector
    (n,) / (..., n) shaped like A without its last dim, giving X of B's shape. Batch dims
    broadcast.

    >>> x = mytorch.linalg.solve(A, b)  # A (3, 3), b (3,) -> x (3,)
    """
    op = "linalg.solve"
    _check_matrix(op, A)
    _check_dtype(op, B)
    _check_same_dtype(op, A, B)
    if B.ndim == 0:
        raise RuntimeError(f"{op}: B must have at least 1 dim, got a 0-d tensor")
    vector = _is_vector_rhs(A, B)
    if not left:  # X A = B is A^T X^T = B^T; a vector B is a column, which cannot be on the right
        A, B = A.mT, B if vector else B.mT
    B2 = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    if B2.shape[-2] != n or (vector and not left):
        raise RuntimeError(f"{op}: incompatible shapes of A and B for the equation "
                           f"{'AX' if left else 'XA'} = B: A {tuple(A.shape)}, B "
                           f"{tuple(B.shape)}")
    try:
        np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B2.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"{op}: the batch dims of A {tuple(A.shape)} and B "
                           f"{tuple(B.shape)} do not broadcast") from None
    X = D.Solve.apply(A, B2)
    if vector:
        return X.squeeze(-1)
    return X if left else X.mT


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """Moore-Penrose pseudo-inverse of A (..., m, n) -> (..., n, m). Singular values at or
    below max(atol, rtol * largest) count as zero; rtol defaults to eps * max(m, n).
    hermitian=True reads A as symmetric (its lower triangle) and uses eigh."""
    op = "linalg.pinv"
    _check_matrix(op, A, square=hermitian)
    atol, rtol = _tolerances(A, atol, rtol)
    return D.Pinv.apply(A, atol, rtol, bool(hermitian))


def lstsq(A, B, rcond=None, *, driver=None):
    """Least-squares solution X minimizing |A X - B| (the minimum-norm one when A has more
    columns than rows), A (..., m, n), B (..., m, k) or a vector (..., m).

    Like torch's default CPU driver 'gelsy': returns (solution, residuals, rank,
    singular_values) with residuals and singular_values empty. The solution is pinv(A) B,
    so its gradient is that of pinv (constant rank).
    """
    op = "linalg.lstsq"
    if driver not in (None, "gelsy"):
        raise ValueError(f"{op}: only the default driver 'gelsy' is implemented, got "
                         f"{driver!r}")
    _check_matrix(op, A, square=False)
    _check_dtype(op, B)
    _check_same_dtype(op, A, B)
    if B.ndim == 0:
        raise RuntimeError(f"{op}: B must have at least 1 dim, got a 0-d tensor")
    vector = _is_vector_rhs(A, B)
    B2 = B.unsqueeze(-1) if vector else B
    if B2.shape[-2] != A.shape[-2]:
        raise RuntimeError(f"{op}: A {tuple(A.shape)} and B {tuple(B.shape)} must have the "
                           "same number of rows")
    X = pinv(A, rtol=rcond) @ B2
    empty = Tensor(np.zeros(0, A.dtype), device=A.device)
    return LstsqResult(X.squeeze(-1) if vector else X, empty, matrix_rank(A, rtol=rcond),
                       empty.clone())


def matrix_power(A, n):
    """A^n for an integer n by repeated squaring, A (..., k, k); n < 0 inverts A first,
    n = 0 gives the identity."""
    op = "linalg.matrix_power"
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"{op}: n must be an integer, got {n!r}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: expected a batch of square matrices (..., n, n), got shape "
                           f"{tuple(A.shape)}")
    n = int(n)
    if n == 0:
        return D.EyeLike.apply(A)
    if n < 0:
        _check_matrix(op, A)
        A, n = inv(A), -n
    # torch's order of products: z runs through A^(2^i), result collects the set bits
    z = result = None
    while n > 0:
        bit, n = n % 2, n // 2
        z = A if z is None else z @ z
        if bit:
            result = z if result is None else result @ z
    return result.clone() if result is A else result


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """Number of singular values (|eigenvalues| when hermitian) above
    max(atol, rtol * largest), as int64 (...,); not differentiable."""
    op = "linalg.matrix_rank"
    _check_matrix(op, A, square=hermitian)
    atol, rtol = _tolerances(A, atol, rtol)
    with no_grad():
        s = eigvalsh(A).abs() if hermitian else svdvals(A)
        if s.shape[-1] == 0:
            return s.sum(-1).long()
        tol = (s.amax(-1, keepdim=True) * rtol).clamp(min=atol)
        return (s > tol).sum(-1)


# ---- decompositions ----

def cholesky(A, *, upper=False):
    """Lower-triangular L with A = L L^T for symmetric positive-definite A (..., n, n) (its
    lower triangle is read); upper=True returns L^T. Raises LinAlgError when A is not
    positive-definite."""
    _check_matrix("linalg.cholesky", A)
    L = D.Cholesky.apply(A)
    return L.mT if upper else L


def qr(A, mode="reduced"):
    """(Q, R) with A = QR, A (..., m, n), k = min(m, n). mode 'reduced': Q (..., m, k),
    R (..., k, n); 'complete': Q (..., m, m), R (..., m, n) (not differentiable when m > n);
    'r': R only, Q empty (not differentiable)."""
    op = "linalg.qr"
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"{op}: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    _check_matrix(op, A, square=False)
    return QRResult(*D.Qr.apply(A, mode))


def _check_uplo(op, UPLO):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"{op}: UPLO must be 'L' or 'U', got {UPLO!r}")


def eigh(A, UPLO="L"):
    """(eigenvalues, eigenvectors) of symmetric A (..., n, n), reading its UPLO triangle:
    eigenvalues (..., n) ascending, eigenvectors (..., n, n) as orthonormal columns. The
    gradient divides by eigenvalue gaps and is defined only for losses invariant to each
    eigenvector's sign."""
    op = "linalg.eigh"
    _check_uplo(op, UPLO)
    _check_matrix(op, A)
    return EighResult(*D.Eigh.apply(A, UPLO))


def eigvalsh(A, UPLO="L"):
    """Eigenvalues (..., n), ascending, of symmetric A (..., n, n) (its UPLO triangle)."""
    op = "linalg.eigvalsh"
    _check_uplo(op, UPLO)
    _check_matrix(op, A)
    return D.Eigvalsh.apply(A, UPLO)


def svd(A, full_matrices=True, *, driver=None):
    """(U, S, Vh) with A = U diag(S) Vh, A (..., m, n), k = min(m, n), S (..., k)
    descending; full_matrices: U (..., m, m), Vh (..., n, n), else U (..., m, k),
    Vh (..., k, n). The gradient is defined only for losses invariant to the signs of the
    singular vectors (e.g. of S, or of U diag(f(S)) Vh)."""
    op = "linalg.svd"
    if driver is not None:
        raise ValueError(f"{op}: driver is only for CUDA inputs in torch and is not "
                         f"supported here, got {driver!r}")
    _check_matrix(op, A, square=False)
    return SVDResult(*D.Svd.apply(A, bool(full_matrices)))


def svdvals(A, *, driver=None):
    """Singular values (..., min(m, n)), descending, of A (..., m, n)."""
    op = "linalg.svdvals"
    if driver is not None:
        raise ValueError(f"{op}: driver is only for CUDA inputs in torch and is not "
                         f"supported here, got {driver!r}")
    _check_matrix(op, A, square=False)
    return D.Svdvals.apply(A)


# ---- products and views ----

def matmul(input, other):
    """Alias of mytorch.matmul."""
    return _matmul(input, other)


def cross(input, other, *, dim=-1):
    """Cross product of 3-vectors along `dim` (default the last), other dims broadcast."""
    if tuple(input.shape) != tuple(other.shape):
        input, other = broadcast_tensors(input, other)
    return _cross(input, other, dim=dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The `offset` diagonal of each matrix of A over (dim1, dim2), as the last dim."""
    return _diagonal(A, offset, dim1, dim2)


def vecdot(x, y, *, dim=-1):
    """Dot product of vectors along `dim`, other dims broadcast: sum(x * y, dim)."""
    if x.dtype != y.dtype:
        raise RuntimeError(f"linalg.vecdot: expected x and y to have one dtype, got {x.dtype} "
                           f"(shape {tuple(x.shape)}) and {y.dtype} (shape {tuple(y.shape)})")
    return (x * y).sum(dim)


def _chain_order(dims):
    """Cheapest parenthesization of a matrix chain with shapes dims[i] x dims[i + 1]:
    split[i][j] is where the product of matrices i..j splits (textbook dynamic program)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def multi_dot(tensors):
    """Product of two or more matrices in the cheapest order. The first may be a vector
    (n,) (a row) and the last a vector (n,) (a column); the others are 2-D.

    >>> mytorch.linalg.multi_dot([a, B, C, d])  # a (4,), B (4, 5), C (5, 6), d (6,) -> ()
    """
    op = "linalg.multi_dot"
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"{op}: expected at least 2 tensors, got {len(tensors)}")
    mats = list(tensors)
    first_vec, last_vec = tensors[0].ndim == 1, tensors[-1].ndim == 1
    if first_vec:
        mats[0] = tensors[0].unsqueeze(0)
    if last_vec:
        mats[-1] = tensors[-1].unsqueeze(-1)
    for i, (t, m) in enumerate(zip(tensors, mats)):
        if m.ndim != 2:
            which = "the first and last tensors must be 1-D or 2-D" if i in (0, len(mats) - 1) \
                else "the tensors between the first and last must be 2-D"
            raise RuntimeError(f"{op}: {which}, got tensor {i} of shape {tuple(t.shape)}")
        if t.dtype != tensors[0].dtype:
            raise RuntimeError(f"{op}: expected all tensors to have one dtype, got "
                               f"{tensors[0].dtype} (tensor 0) and {t.dtype} (tensor {i})")
        if i and mats[i - 1].shape[1] != m.shape[0]:
            raise RuntimeError(f"{op}: tensors {i - 1} and {i} of shapes "
                               f"{tuple(tensors[i - 1].shape)} and {tuple(t.shape)} cannot "
                               "be multiplied")
    split = _chain_order([m.shape[0] for m in mats] + [mats[-1].shape[1]])

    def product(i, j):
        if i == j:
            return mats[i]
        k = split[i][j]
        return product(i, k) @ product(k + 1, j)

    out = product(0, len(mats) - 1)
    if first_vec:
        out = out.squeeze(0)
    if last_vec:
        out = out.squeeze(-1)
    return out
