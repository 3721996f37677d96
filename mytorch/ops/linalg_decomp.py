"""Matrix functions and decompositions for `mytorch.linalg`: Functions on (..., m, n) arrays.

Forwards call `xp.linalg` (np.linalg on the CPU, cupy.linalg on CUDA). Each backward is the
closed form of the real case, cited in the class docstring; `mytorch.linalg` checks shapes
and dtypes before these run.
"""
import numpy as np

from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops.reduce import norm_composite


class LinAlgError(RuntimeError):
    """A matrix the operation cannot handle: singular (inv, solve) or not positive-definite
    (cholesky). A RuntimeError, like torch.linalg.LinAlgError."""


def _mT(a):
    return a.swapaxes(-1, -2)


def _diag_embed(xp, v):
    """(..., k) -> (..., k, k) with v on the diagonal."""
    out = xp.zeros(v.shape + v.shape[-1:], v.dtype)
    idx = xp.arange(v.shape[-1])
    out[..., idx, idx] = v
    return out


def _set_diag(xp, a, value):
    a = a.copy()
    idx = xp.arange(a.shape[-1])
    a[..., idx, idx] = value
    return a


def _first_failure(xp, fn, a, args):
    """Index of the first matrix of the batch `a` (batched operands `args` alongside) on which
    `fn` raises or returns non-finite values; only called once something failed, to name it."""
    flat = [m.reshape((-1,) + m.shape[-2:]) for m in (a,) + args]
    for i in range(flat[0].shape[0]):
        try:
            out = fn(*(m[i] for m in flat))
        except np.linalg.LinAlgError:
            return i
        if not bool(xp.isfinite(out).all()):
            return i
    return 0


def _run(op, fn, a, problem, *args):
    """fn(a, *args) on a batch of matrices (args broadcast to a's batch dims), raising
    LinAlgError naming `op`, the shape and the failing batch element when it fails: np.linalg
    raises, cupy.linalg returns NaNs (checked only when `a` itself is finite)."""
    xp = array_module(a)
    try:
        out = fn(a, *args)
        ok = xp is np or bool(xp.isfinite(out).all()) or not bool(xp.isfinite(a).all())
    except np.linalg.LinAlgError:
        ok = False
    if ok:
        return out
    i = _first_failure(xp, fn, a, args)
    where = f" (batch element {i})" if a.ndim > 2 else ""
    raise LinAlgError(f"{op}: the input of shape {tuple(a.shape)} is {problem}{where}")


def _inv(op, a):
    return _run(op, array_module(a).linalg.inv, a,
                "singular, so the inversion could not be completed")


class Inv(Function):
    """A^{-1} of (..., n, n). Backward: gA = -A^{-T} gY A^{-T} = -Y^T gY Y^T."""

    @staticmethod
    def forward(ctx, a):
        y = _inv("linalg.inv", a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        yt = _mT(y)
        return -(yt @ gy @ yt)


class Det(Function):
    """det(A) of (..., n, n). Backward (Jacobi's formula): gA = g adj(A)^T = g det(A) A^{-T};
    when some det is exactly 0 the adjugate comes from the SVD A = U S V^T instead:
    adj(A)^T = det(U) det(V) U diag(prod_{j != i} s_j) V^T, finite for any A."""

    @staticmethod
    def forward(ctx, a):
        d = array_module(a).linalg.det(a)
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, gy):
        a, d = ctx.saved_tensors
        xp = array_module(gy)
        if bool((d != 0).all()):
            return (gy * d)[..., None, None] * _mT(xp.linalg.inv(a))
        u, s, vh = xp.linalg.svd(a)
        ones = xp.ones_like(s[..., :1])
        left = xp.cumprod(xp.concatenate([ones, s[..., :-1]], -1), -1)  # prod_{j < i} s_j
        right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(s[..., 1:], -1)], -1), -1),
                        -1)  # prod_{j > i} s_j
        scale = gy * xp.linalg.det(u) * xp.linalg.det(vh)
        return scale[..., None, None] * ((u * (left * right)[..., None, :]) @ vh)


class Slogdet(Function):
    """(sign, log|det A|) of (..., n, n). Backward: gA = g_logabsdet A^{-T}; the sign is
    piecewise constant (zero gradient)."""

    @staticmethod
    def forward(ctx, a):
        sign, logabsdet = array_module(a).linalg.slogdet(a)
        ctx.save_for_backward(a)
        return sign, logabsdet

    @staticmethod
    def backward(ctx, gsign, glogabsdet):
        (a,) = ctx.saved_tensors
        return glogabsdet[..., None, None] * _mT(_inv("linalg.slogdet (backward)", a))


class Solve(Function):
    """X = A^{-1} B for A (..., n, n), B (..., n, k), batch dims broadcast.
    Backward: gB = A^{-T} gX, gA = -gB X^T."""

    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = xp.broadcast_to(a, batch + a.shape[-2:])
        b = xp.broadcast_to(b, batch + b.shape[-2:])
        x = _run("linalg.solve", xp.linalg.solve, a,
                 "singular, so the system has no unique solution", b)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, gx):
        a, x = ctx.saved_tensors
        gb = array_module(gx).linalg.solve(_mT(a), gx)
        return -(gb @ _mT(x)) if ctx.needs_input_grad[0] else None, gb

    @staticmethod
    def composite(a, b):  # create_graph: forward saves a broadcast view of A
        import mytorch
        return mytorch.linalg.inv(a).matmul(b)


class Cholesky(Function):
    """Lower-triangular L with A = L L^T, A (..., n, n) symmetric positive-definite.
    Backward (Murray 2016, arXiv:1602.07527): gA = L^{-T} Phi L^{-1}, Phi = the symmetric
    matrix whose lower triangle is tril(L^T gL) with its diagonal halved."""

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        low = _run("linalg.cholesky", xp.linalg.cholesky, a,
                   "not positive-definite, so the factorization could not be completed")
        ctx.save_for_backward(low)
        return low

    @staticmethod
    def backward(ctx, gl):
        (low,) = ctx.saved_tensors
        xp = array_module(gl)
        p = xp.tril(_mT(low) @ gl)
        phi = 0.5 * (p + _mT(xp.tril(p, -1)))
        linv = xp.linalg.inv(low)
        return _mT(linv) @ phi @ linv


def _copyltu(xp, m):
    """The symmetric matrix with m's lower triangle."""
    return xp.tril(m) + _mT(xp.tril(m, -1))


def _qr_backward_tall(xp, q, r, gq, gr):
    """A = QR with Q (m, n), R (n, n), m >= n (Liao et al. 2019, arXiv:1903.09650):
    gA = (gQ + Q copyltu(M)) R^{-T}, M = R gR^T - gQ^T Q."""
    m = r @ _mT(gr) - _mT(gq) @ q
    b = gq + q @ _copyltu(xp, m)
    return _mT(xp.linalg.solve(r, _mT(b)))  # b R^{-T}


class Qr(Function):
    """Q, R with A = QR, A (..., m, n), k = min(m, n): mode 'reduced' gives Q (..., m, k),
    R (..., k, n); 'complete' Q (..., m, m), R (..., m, n); 'r' only R (Q is empty).

    Backward: `_qr_backward_tall` for m >= n; for m < n, A = [X | Y] splits as X = Q R_X
    (square) and Y = Q R_Y, so gY = Q gR_Y and X takes gQ + Y gR_Y^T."""

    @staticmethod
    def forward(ctx, a, mode):
        xp = array_module(a)
        if mode == "r":
            r = xp.linalg.qr(a, mode="r")
            q = xp.zeros((0,), a.dtype)
        else:
            q, r = xp.linalg.qr(a, mode=mode)
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        if ctx.mode == "r":
            raise RuntimeError("linalg.qr: the derivative of linalg.qr depends on Q, which is "
                               "not computed when mode='r'; use mode='reduced' to "
                               "differentiate through linalg.qr")
        q, r = ctx.saved_tensors
        xp = array_module(gr)
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(f"linalg.qr: the QR decomposition is not differentiable when "
                               f"mode='complete' and nrows > ncols (input of shape "
                               f"{q.shape[:-1] + (n,)})")
        if m >= n:
            return _qr_backward_tall(xp, q, r, gq, gr)
        ry, gry = r[..., m:], gr[..., m:]
        gx = _qr_backward_tall(xp, q, r[..., :m], gq + (q @ ry) @ _mT(gry), gr[..., :m])
        return xp.concatenate([gx, q @ gry], -1)


class Eigh(Function):
    """Eigenvalues w (ascending) and orthonormal eigenvectors V (columns) of symmetric
    A (..., n, n), reading its `uplo` triangle. Backward (Giles 2008, real symmetric case):
    gA = V (diag(gw) + skew(V^T gV) / E) V^T, skew(X) = (X - X^T) / 2, E_ij = w_j - w_i."""

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = array_module(a).linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        xp = array_module(gw)
        vtgv = _mT(v) @ gv
        e = _set_diag(xp, w[..., None, :] - w[..., :, None], 1)  # diagonal of skew is 0
        inner = 0.5 * (vtgv - _mT(vtgv)) / e + _diag_embed(xp, gw)
        return v @ inner @ _mT(v)


class Eigvalsh(Function):
    """Eigenvalues (ascending) of symmetric A (..., n, n). Backward: gA = V diag(gw) V^T."""

    @staticmethod
    def forward(ctx, a, uplo):
        xp = array_module(a)
        if not any(ctx.needs_input_grad):
            return xp.linalg.eigvalsh(a, UPLO=uplo)
        w, v = xp.linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(v)
        return w

    @staticmethod
    def backward(ctx, gw):
        (v,) = ctx.saved_tensors
        return (v * gw[..., None, :]) @ _mT(v)

    @staticmethod
    def composite(a, uplo):  # create_graph: backward reads V, computed in forward
        import mytorch
        return mytorch.linalg.eigh(a, uplo)[0]


class Svd(Function):
    """A = U diag(S) Vh for A (..., m, n), S descending. Backward (Townsend 2016, "Differentiating
    the singular value decomposition"), on the first k = min(m, n) columns of U and rows of Vh
    (the others of a full_matrices SVD get no gradient, as in torch), with
    F_ij = 1 / (s_j^2 - s_i^2) (0 on the diagonal):
    gA = U [diag(gS) + (F o (U^T gU - gU^T U)) S + S (F o (V^T gV - gV^T V))] V^T
         + (I - U U^T) gU S^{-1} V^T + U S^{-1} gV^T (I - V V^T)."""

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = array_module(a).linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved_tensors
        xp = array_module(gs)
        k = s.shape[-1]
        u, gu, vh, gvh = u[..., :k], gu[..., :k], vh[..., :k, :], gvh[..., :k, :]
        utgu = _mT(u) @ gu  # (..., k, k)
        vtgv = vh @ _mT(gvh)
        s2 = s * s
        e = _set_diag(xp, s2[..., None, :] - s2[..., :, None], 1)  # diagonals below are 0
        inner = ((utgu - _mT(utgu)) / e * s[..., None, :]
                 + s[..., :, None] * ((vtgv - _mT(vtgv)) / e) + _diag_embed(xp, gs))
        ga = u @ inner @ vh
        m, n = u.shape[-2], vh.shape[-1]
        if m > k:
            ga = ga + ((gu - u @ utgu) / s[..., None, :]) @ vh
        if n > k:
            ga = ga + (u / s[..., None, :]) @ (gvh - _mT(vtgv) @ vh)
        return ga


class Svdvals(Function):
    """Singular values (descending) of A (..., m, n). Backward: gA = U diag(gS) V^T."""

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        if not any(ctx.needs_input_grad):
            return xp.linalg.svd(a, compute_uv=False)
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, vh)
        return s

    @staticmethod
    def backward(ctx, gs):
        u, vh = ctx.saved_tensors
        return (u * gs[..., None, :]) @ vh

    @staticmethod
    def composite(a):  # create_graph: backward reads U and Vh, computed in forward
        import mytorch
        return mytorch.linalg.svd(a, full_matrices=False)[1]


class Pinv(Function):
    """Moore-Penrose pseudo-inverse X of A (..., m, n): singular values (|eigenvalues| when
    hermitian) at or below max(atol, rtol * largest) count as 0.
    Backward (Golub & Pereyra 1973, constant rank):
    gA = -X^T gX X^T + (I - A X) gX^T X X^T + X^T X gX^T (I - X A) (hermitian too, as torch)."""

    @staticmethod
    def forward(ctx, a, atol, rtol, hermitian):
        xp = array_module(a)
        if hermitian:
            w, v = xp.linalg.eigh(a)
            big = xp.abs(w).max(-1, keepdims=True)
            keep = xp.abs(w) > xp.maximum(atol, rtol * big)
            x = (v * xp.where(keep, 1 / xp.where(keep, w, 1), 0)[..., None, :]) @ _mT(v)
        else:
            u, s, vh = xp.linalg.svd(a, full_matrices=False)
            keep = s > xp.maximum(atol, rtol * s[..., :1])
            x = (_mT(vh) * xp.where(keep, 1 / xp.where(keep, s, 1), 0)[..., None, :]) @ _mT(u)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, gx):
        a, x = ctx.saved_tensors
        xt, gxt = _mT(x), _mT(gx)
        k = gxt @ x @ xt  # (..., m, n)
        lt = xt @ x @ gxt  # (..., m, n)
        return -(xt @ gx @ xt) + (k - a @ (x @ k)) + (lt - (lt @ x) @ a)


class EyeLike(Function):
    """The identity broadcast to a's shape (A^0); its gradient is 0, as in torch, where the
    result still requires grad."""

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        return xp.ascontiguousarray(xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype),
                                                    a.shape))

    @staticmethod
    def backward(ctx, gy):
        return array_module(gy).zeros_like(gy)


class VectorNorm(Function):
    """The `ord`-norm of x over the dims `axes`. Hand-written for stability at zero: the
    composite sqrt(sum x^2) has an infinite derivative at x = 0, where torch's gradient is 0.
    Backward (torch's linalg_vector_norm_backward): 2: g x / |x|; 1: g sign(x); +-inf: g
    sign(x) split evenly over the entries attaining the norm; 0: 0; other p:
    g sign(x) |x|^(p-1) / |x|_p^(p-1)."""

    @staticmethod
    def forward(ctx, x, ord, axes, keepdim):
        xp = array_module(x)
        a = xp.abs(x)
        if ord == np.inf:
            y = a.max(axis=axes, keepdims=True)
        elif ord == -np.inf:
            y = a.min(axis=axes, keepdims=True)
        elif ord == 0:
            y = (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        elif ord == 1:
            y = a.sum(axis=axes, keepdims=True)
        elif ord == 2:
            y = xp.sqrt((a * a).sum(axis=axes, keepdims=True))
        else:
            with np.errstate(divide="ignore"):  # ord < 0 with a zero entry: the norm is 0
                y = (a ** ord).sum(axis=axes, keepdims=True) ** (1.0 / ord)
        ctx.save_for_backward(x, y)
        ctx.ord, ctx.axes = ord, axes
        return y if keepdim else y.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        xp, p, axes = array_module(gy), ctx.ord, ctx.axes
        g = gy.reshape(y.shape)  # keepdim shape
        if p == 0:
            return xp.zeros_like(x)
        if p == 1:
            return xp.sign(x) * g
        if p == 2:
            return xp.where(y == 0, 0, g / xp.where(y == 0, 1, y)) * x
        a = xp.abs(x)
        if p in (np.inf, -np.inf):
            hit = (a == y) | xp.isnan(a)
            return xp.sign(x) * hit * (g / hit.sum(axis=axes, keepdims=True))
        if p < 1:
            scaled = xp.sign(x) * xp.where(x == 0, 0, xp.where(x == 0, 1, a) ** (p - 1))
            return scaled * g * y ** (1 - p)
        scale = xp.where(y == 0, 0, g / xp.where(y == 0, 1, y ** (p - 1)))
        return xp.sign(x) * a ** (p - 1) * scale

    @staticmethod
    def composite(x, ord, axes, keepdim):  # create_graph: backward divides by the saved norm
        return norm_composite(x, ord, axes, keepdim)


