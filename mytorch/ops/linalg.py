"""Matrix products, einsum, cross products and pairwise distances.

The public functions at the bottom (einsum, dot, cross, addmm, baddbmm, cdist) take and
return Tensors; `Tensor` methods and `mytorch.*` call them.
"""
import collections
import string

import numpy as np

from mytorch import dtypes
from mytorch.amp import autocast_mode as _amp
from mytorch.autograd import function as _fn
from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops.reduce import normalize_dims


def _blas_ready(xp, a):
    """`a` itself if its last two dims form a matrix BLAS takes as is (one unit stride, the
    other at least the extent it steps over), else a contiguous copy.

    Only batched (ndim > 2) operands are touched. NumPy runs a batched matmul on a zero-stride
    or gapped-inner-dim operand (a broadcast gradient from sum/mean, an expand, a ::2 slice)
    without BLAS and is then 1.1-2x slower than copying first; transposed and head-split
    views are BLAS-ready already, and copying those is slower than not.
    """
    if a.ndim <= 2:
        return a
    (n0, n1), (s0, s1), item = a.shape[-2:], a.strides[-2:], a.itemsize
    row_major = (s1 == item or n1 == 1) and (s0 >= n1 * item or n0 == 1)
    col_major = (s0 == item or n0 == 1) and (s1 >= n0 * item or n1 == 1)
    return a if row_major or col_major else xp.ascontiguousarray(a)


class Matmul(Function):
    """a @ b with NumPy's batching and broadcasting rules (1-D operands included)."""

    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a)
        a, b = _blas_ready(xp, a), _blas_ready(xp, b)
        ctx.save_for_backward(a, b)
        y = xp.matmul(a, b)
        # ml_dtypes' bfloat16 matmul accumulates and returns float32: give back the input dtype
        return y.astype(a.dtype) if y.dtype != a.dtype and a.dtype == b.dtype else y

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        xp = array_module(gy)
        if a.ndim == 1 and b.ndim == 1:  # dot product: gy is 0-d
            return (gy * b if ctx.needs_input_grad[0] else None,
                    gy * a if ctx.needs_input_grad[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = _blas_ready(xp, gy)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = xp.matmul(g, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # (..., T, C) x (C, D): fold the batch into rows instead of a batched
                # product followed by a sum.
                rows = int(np.prod(a2.shape[:-1]))  # explicit: -1 is ambiguous when empty
                gb = xp.matmul(a2.reshape(rows, a2.shape[-1]).T, g.reshape(rows, g.shape[-1]))
            else:
                gb = xp.matmul(xp.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


class Einsum(Function):
    """np.einsum on letters-only subscripts: `terms` (one per operand, ellipses spelled out)
    and `out`; `sizes` maps each letter to its size. Size-1 dims that broadcast against a
    larger size are expanded first (the engine sums their gradients back).

    Each operand's gradient is itself an einsum: of the output gradient with the other
    operands, down to that operand's letters. Letters only that operand has were summed
    away, so the gradient is broadcast along them; a letter repeated in its term (a
    diagonal, as in 'ii->i') puts the gradient on that diagonal of zeros.
    """

    @staticmethod
    def forward(ctx, *ops, terms, out, sizes):
        xp = array_module(ops[0])
        ops = tuple(_expand_labels(xp, a, t, sizes) for a, t in zip(ops, terms))
        ctx.save_for_backward(*ops)
        ctx.terms, ctx.out, ctx.sizes = terms, out, sizes
        return xp.asarray(xp.einsum(",".join(terms) + "->" + out, *ops, optimize=True))

    @staticmethod
    def backward(ctx, gy):
        ops, terms, sizes = ctx.saved_tensors, ctx.terms, ctx.sizes
        xp = array_module(gy)
        grads = []
        for i, term in enumerate(terms):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(terms) if j != i]
            letters = "".join(dict.fromkeys(term))  # unique, in order of appearance
            seen = set(ctx.out).union(*others)
            kept = "".join(c for c in letters if c in seen)
            g = xp.einsum(",".join([ctx.out] + others) + "->" + kept, gy,
                          *(a for j, a in enumerate(ops) if j != i), optimize=True)
            if kept != letters:
                g = g.reshape(tuple(sizes[c] if c in kept else 1 for c in letters))
                g = xp.broadcast_to(g, tuple(sizes[c] for c in letters))
            if len(letters) != len(term):
                full = xp.zeros(tuple(sizes[c] for c in term), g.dtype)
                n = len(letters)
                ar = {c: xp.arange(sizes[c]).reshape((1,) * k + (-1,) + (1,) * (n - k - 1))
                      for k, c in enumerate(letters)}
                full[tuple(ar[c] for c in term)] = g
                g = full
            grads.append(g)
        return tuple(grads)


def _expand_labels(xp, a, term, sizes):
    shape = tuple(sizes[c] for c in term)
    return a if a.shape == shape else xp.broadcast_to(a, shape)


class Cross(Function):
    """Cross product of 3-vectors along `dim` (inputs already broadcast to one shape)."""

    @staticmethod
    def forward(ctx, a, b, dim):
        ctx.save_for_backward(a, b)
        ctx.dim = dim
        return array_module(a).cross(a, b, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        xp, d = array_module(gy), ctx.dim
        return (xp.cross(b, gy, axis=d) if ctx.needs_input_grad[0] else None,
                xp.cross(gy, a, axis=d) if ctx.needs_input_grad[1] else None)


class Cdist(Function):
    """p-norm distance of every pair of rows: x1 (..., P, M), x2 (..., R, M) -> (..., P, R).

    The Euclidean backward needs no (..., P, R, M) difference: with g = gy / d (0 where
    d == 0, as in PyTorch), gx1 = rowsum(g) * x1 - g @ x2.
    """

    @staticmethod
    def forward(ctx, x1, x2, p, use_mm):
        xp = array_module(x1)
        ctx.p = p
        if x1.shape[-1] == 0:
            d = xp.zeros(np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
                         + (x1.shape[-2], x2.shape[-2]), x1.dtype)
        elif p == 2 and use_mm:
            # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matmul instead of the difference tensor
            sq = ((x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :]
                  - 2 * xp.matmul(x1, xp.swapaxes(x2, -1, -2)))
            d = xp.sqrt(xp.maximum(sq, 0))
        else:
            diff = xp.abs(x1[..., :, None, :] - x2[..., None, :, :])  # (..., P, R, M)
            if p == 0:
                d = (diff != 0).sum(-1).astype(x1.dtype)
            elif p == 1:
                d = diff.sum(-1)
            elif p == 2:
                d = xp.sqrt((diff * diff).sum(-1))
            elif p == np.inf:
                d = diff.max(-1)
            else:
                d = (diff ** p).sum(-1) ** (1 / p)
        ctx.save_for_backward(x1, x2, d)  # d as an output: create_graph links it
        return d

    @staticmethod
    def backward(ctx, gy):
        x1, x2, d = ctx.saved_tensors
        p = ctx.p
        xp = array_module(gy)
        if p == 0 or x1.shape[-1] == 0:
            return xp.zeros_like(x1), xp.zeros_like(x2)
        if p == 2:
            g = xp.where(d == 0, 0, gy / xp.where(d == 0, 1, d))  # (..., P, R)
            gx1 = g.sum(-1)[..., None] * x1 - xp.matmul(g, x2)
            gx2 = g.sum(-2)[..., None] * x2 - xp.matmul(xp.swapaxes(g, -1, -2), x1)
            return gx1, gx2
        diff = x1[..., :, None, :] - x2[..., None, :, :]  # (..., P, R, M)
        g = gy[..., None]
        if p == 1:
            gd = xp.sign(diff) * g
        elif p == np.inf:
            gd = xp.sign(diff) * (xp.abs(diff) == d[..., None]) * g
        else:
            a, dd = xp.abs(diff), d[..., None]
            ratio = xp.where(a == 0, 1, a) / xp.where(dd == 0, 1, dd)
            gd = xp.where((a == 0) | (dd == 0), 0, xp.sign(diff) * ratio ** (p - 1) * g)
        return gd.sum(-2), -gd.sum(-3)


# ---- public functions: Tensors in, Tensors out ----

def _parse_einsum(equation, shapes):
    """'ij,jk->ik'-style equation -> (terms, out, sizes) with ellipses spelled out as spare
    letters and the implicit output (letters seen once, sorted, after the ellipsis) made
    explicit."""
    eq = equation.replace(" ", "")
    bad = set(eq) - set(string.ascii_letters) - set(",.->")
    if bad:
        raise RuntimeError(f"einsum(): invalid subscript characters {sorted(bad)} in "
                           f"{equation!r}; use letters, ',', '->' and '...'")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuntimeError(f"einsum(): the equation {equation!r} has {len(terms)} operand "
                           f"terms but {len(shapes)} operands were given")
    for t in terms + ([out] if arrow else []):
        if t.count(".") != 3 * t.count("...") or t.count("...") > 1 or "-" in t or ">" in t:
            raise RuntimeError(f"einsum(): invalid term {t!r} in {equation!r}")
    n_ell = 0
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        n = len(t.replace("...", ""))
        if ("..." in t and n > len(shape)) or ("..." not in t and n != len(shape)):
            raise RuntimeError(f"einsum(): the term {t!r} has {n} subscripts but operand {i} "
                               f"has {len(shape)} dims (shape {tuple(shape)})")
        if "..." in t:
            n_ell = max(n_ell, len(shape) - n)
    used = set(eq)
    ell = "".join([c for c in string.ascii_letters if c not in used][:n_ell])
    if len(ell) < n_ell:
        raise RuntimeError(f"einsum(): too many dims for the letters left in {equation!r}")
    plain = [t.replace("...", "") for t in terms]
    terms = [t.replace("...", ell[len(ell) - (len(s) - len(p)):])
             for t, s, p in zip(terms, shapes, plain)]
    if arrow:
        out = out.replace("...", ell)
        for c in out:
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   f"the output of {equation!r}")
            if not any(c in t for t in terms):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in any "
                                   f"input term of {equation!r}")
    else:
        counts = collections.Counter("".join(plain))
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    sizes = {}
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        mine = {}
        for c, n in zip(t, shape):
            if mine.setdefault(c, n) != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but "
                                   f"the sizes don't match, {mine[c]} != {n}")
            m = sizes.get(c)
            if m is None or m == 1:
                sizes[c] = n
            elif n not in (1, m):
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {m}")
    return terms, out, sizes


@_amp.low_precision_op("einsum")
def einsum(equation, *operands):
    """Sum of products over the letters of `equation` not in its output (Einstein notation):
    'ij,jk->ik' is a matrix product, 'ii' a trace, 'bij->bji' a transpose, '...ij,...jk'
    a batched product. Without '->' the output is the letters that appear once, sorted.

    >>> mytorch.einsum('i,i->', a, b)  # dot product
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    for i, t in enumerate(operands):
        if t.dtype != operands[0].dtype:
            raise RuntimeError(f"einsum(): expected all operands to have one dtype, got "
                               f"{operands[0].dtype} (operand 0) and {t.dtype} (operand {i})")
    terms, out, sizes = _parse_einsum(equation, [tuple(t.shape) for t in operands])
    return Einsum.apply(*operands, terms=tuple(terms), out=out, sizes=sizes)


def matmul(a, b):
    """Matrix product with NumPy's broadcasting rules: 1-D operands are vectors, leading dims
    batch. (n, k) @ (k, m) -> (n, m); (B, n, k) @ (k, m) -> (B, n, m)."""
    if not isinstance(a, _fn.Tensor) or not isinstance(b, _fn.Tensor):
        raise TypeError(f"matmul: expected two tensors, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    a, b = _amp.cast("matmul", a, b)
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if b.ndim == 1 else sb[-2]
    if ka != kb:
        raise RuntimeError(f"matmul: shapes {sa} and {sb} cannot be multiplied "
                           f"({ka} != {kb})")
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: batch dims of shapes {sa} and {sb} do not broadcast") from None
    if a.dtype != b.dtype:
        dt = dtypes.result_type(a.data, b.data)
        a, b = a.to(dt), b.to(dt)
    return Matmul.apply(a, b)


def mm(a, b):
    """Matrix product of two 2-D tensors."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    """Batched matrix product of two 3-D tensors (B, n, k) @ (B, k, m)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected 3-D tensors with equal batch size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def outer(a, b):
    """Outer product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return a.unsqueeze(1) * b.unsqueeze(0)


def dot(input, other):
    """Inner product of two 1-D tensors of one size and dtype, as a 0-d tensor."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)}")
    if input.shape != other.shape:
        raise RuntimeError(f"dot: inconsistent tensor size, got shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)}")
    if input.dtype != other.dtype:
        raise RuntimeError(f"dot: expected both vectors to have the same dtype, got "
                           f"{input.dtype} and {other.dtype}")
    return Matmul.apply(input, other)


def cross(input, other, dim=None):
    """Cross product of 3-vectors along `dim` (broadcasting the other dims). dim None takes
    the first dim of size 3, as torch.cross does."""
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(other.shape))
    except ValueError:
        raise RuntimeError(f"cross: shapes {tuple(input.shape)} and {tuple(other.shape)} "
                           "cannot be broadcast together") from None
    if dim is None:
        if 3 not in shape:
            raise RuntimeError(f"cross: no dim of size 3 in shapes {tuple(input.shape)} and "
                               f"{tuple(other.shape)}")
        d = shape.index(3)
    else:
        d = normalize_dims(dim, shape, "cross")[0]
    if input.ndim != other.ndim or shape[d] != 3 or input.shape[d] != 3 \
            or other.shape[d] != 3:
        raise RuntimeError(f"cross: inputs of shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)} must have the same number of dims and size "
                           f"3 at dim {dim}")
    if input.dtype != other.dtype:
        raise RuntimeError(f"cross: expected both inputs to have one dtype, got {input.dtype} "
                           f"and {other.dtype}")
    return Cross.apply(input, other, d)


def _add_scaled(product, input, beta, alpha, op):
    """beta * input + alpha * product; beta 0 ignores input (NaNs in it included)."""
    try:
        ok = np.broadcast_shapes(tuple(input.shape), tuple(product.shape)) == product.shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} does not broadcast to "
                           f"the product's shape {tuple(product.shape)}")
    if input.dtype != product.dtype:
        raise RuntimeError(f"{op}: expected input dtype {input.dtype} to equal the matrices' "
                           f"dtype {product.dtype}")
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        # as torch: NaNs in input are ignored, and input still gets a (zero) gradient
        everywhere = array_module(input.data).ones((), dtype=bool)
        return out + input.masked_fill(everywhere, 0.0)
    return out + (input if beta == 1 else input * beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2): mat1 (n, m), mat2 (m, p), input broadcastable
    to (n, p)."""
    input, mat1, mat2 = _amp.cast("addmm", input, mat1, mat2)
    if mat1.ndim != 2 or mat2.ndim != 2 or mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"addmm: mat1 and mat2 must be matrices that can be multiplied, got "
                           f"shapes {tuple(mat1.shape)} and {tuple(mat2.shape)}")
    if mat1.dtype != mat2.dtype:
        raise RuntimeError(f"addmm: mat1 dtype {mat1.dtype} and mat2 dtype {mat2.dtype} differ")
    return _add_scaled(Matmul.apply(mat1, mat2), input, beta, alpha, "addmm")


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2): batch1 (B, n, m), batch2 (B, m, p), input
    broadcastable to (B, n, p)."""
    input, batch1, batch2 = _amp.cast("baddbmm", input, batch1, batch2)
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0] \
            or batch1.shape[2] != batch2.shape[1]:
        raise RuntimeError(f"baddbmm: batch1 and batch2 must be 3-D with one batch size and "
                           f"matching inner dims, got shapes {tuple(batch1.shape)} and "
                           f"{tuple(batch2.shape)}")
    if batch1.dtype != batch2.dtype:
        raise RuntimeError(f"baddbmm: batch1 dtype {batch1.dtype} and batch2 dtype "
                           f"{batch2.dtype} differ")
    return _add_scaled(Matmul.apply(batch1, batch2), input, beta, alpha, "baddbmm")


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M)
    -> (..., P, R); batch dims broadcast. p=2 uses a matmul when P or R exceeds 25 (the
    default compute_mode), like PyTorch."""
    x1, x2 = _amp.cast("cdist", x1, x2)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with at least 2 "
                           f"dims and one M, got shapes {tuple(x1.shape)} and "
                           f"{tuple(x2.shape)}")
    if x1.dtype != x2.dtype or x1.dtype.kind != "f":
        raise RuntimeError(f"cdist: expected two floating tensors of one dtype, got {x1.dtype} "
                           f"and {x2.dtype}")
    if p < 0:
        raise RuntimeError(f"cdist: p must be non-negative, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: compute_mode must be one of {_CDIST_MODES}, got "
                         f"{compute_mode!r}")
    try:
        np.broadcast_shapes(tuple(x1.shape[:-2]), tuple(x2.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"cdist: batch dims of shapes {tuple(x1.shape)} and "
                           f"{tuple(x2.shape)} do not broadcast") from None
    use_mm = compute_mode == _CDIST_MODES[1] or (
        compute_mode == _CDIST_MODES[0] and (x1.shape[-2] > 25 or x2.shape[-2] > 25))
    return Cdist.apply(x1, x2, float(p), use_mm)
