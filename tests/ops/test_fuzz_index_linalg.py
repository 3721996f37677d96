"""Fuzzing indexing and linear algebra against PyTorch (see tests/fuzzing.py).

FUZZ_SEEDS=500 runs many seeds locally; the default runs a few fixed ones.
"""
import numpy as np
import pytest
import torch

import mytorch
from tests.fuzzing import SEEDS, Case, assert_case_matches_torch, float_dtype, floats, ints, shape
from tests.helpers import check, make_inputs


def _side(rng, n):
    """An index into a dim of size n: sometimes negative, rarely out of range."""
    if rng.random() < 0.03:
        return int(n + rng.integers(0, 2))
    return int(rng.integers(-n, n)) if n else 0


def _slice(rng, n):
    start = None if rng.random() < 0.4 else int(rng.integers(-n - 1, n + 2))
    stop = None if rng.random() < 0.4 else int(rng.integers(-n - 1, n + 2))
    step = None if rng.random() < 0.5 else int(rng.integers(1, 4))
    # no negative steps: torch refuses them, mytorch returns a reversed view (Tensor.flip in
    # tensor.py is built on it; reported)
    return slice(start, stop, step)


def _basic_key(rng, shp):
    key, d = [], 0
    while d < len(shp) and rng.random() < 0.8:
        r = rng.random()
        if r < 0.3:
            key.append(_side(rng, shp[d]) if shp[d] else 0)
            d += 1
        elif r < 0.45:
            key.append(None)
        elif r < 0.5 and Ellipsis not in key:
            key.append(Ellipsis)
            d = len(shp) - int(rng.integers(0, len(shp) - d + 1))
        else:
            key.append(_slice(rng, shp[d]))
            d += 1
    return tuple(key)


def getitem_basic(rng):
    shp = shape(rng, lo=0, hi=4)
    key = _basic_key(rng, shp)
    if len(key) == 1 and rng.random() < 0.5:
        key = key[0]
    return Case(lambda m, x: x[key], [floats(rng, shp)], info={"key": key})


def _adv_key(rng, shp):
    """Int index arrays (with duplicates, negatives, broadcasting) mixed with slices."""
    nd = len(shp)
    k = int(rng.integers(1, nd + 1))
    bshape = shape(rng, lo=0, hi=2, max_side=3)
    key = []
    for d in range(k):
        kind = rng.random()
        if kind < 0.55:
            s = tuple(1 if rng.random() < 0.3 else b for b in bshape)
            key.append(ints(rng, -shp[d], shp[d], s) if shp[d] else np.zeros(s, np.int64))
        elif kind < 0.7:
            key.append(slice(None))
        elif kind < 0.8:
            key.append(_side(rng, shp[d]) if shp[d] else slice(None))
        else:
            key.append(_slice(rng, shp[d]))
    return key


def _key_fn(key):
    def materialize(m):
        return tuple(m.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    return materialize


def getitem_advanced(rng):
    shp = shape(rng, lo=1, hi=4, min_side=1)
    key = _adv_key(rng, shp)
    mat = _key_fn(key)
    return Case(lambda m, x: x[mat(m)], [floats(rng, shp)],
                info={"key": [getattr(k, "shape", k) for k in key]})


def getitem_bool(rng):
    shp = shape(rng, lo=1, hi=4)
    k = int(rng.integers(1, len(shp) + 1))
    mask = rng.random(shp[:k]) < 0.5
    if rng.random() < 0.1:  # a mask of the wrong shape must raise
        mask = rng.random(tuple(s + 1 for s in shp[:k])) < 0.5
    pre = [slice(None)] * int(rng.integers(0, len(shp) - k + 1)) if rng.random() < 0.3 else []
    if pre:
        mask = rng.random(shp[len(pre):len(pre) + k]) < 0.5 if len(pre) + k <= len(shp) else mask

    def fn(m, x):
        return x[tuple(pre) + (m.tensor(mask),)]
    return Case(fn, [floats(rng, shp)], info={"mask": mask.shape, "pre": len(pre)})


def _value_shape(rng, out_shape):
    """A shape that broadcasts to out_shape: fewer leading dims, some dims 1."""
    drop = int(rng.integers(0, len(out_shape) + 1))
    return tuple(1 if rng.random() < 0.3 else s for s in out_shape[drop:])


def setitem(rng):
    shp = shape(rng, lo=1, hi=4)
    r = rng.random()
    if r < 0.4:
        key = _basic_key(rng, shp)
    elif r < 0.7:
        # one array index of distinct positions: duplicate writes have no defined winner
        d = int(rng.integers(0, len(shp)))
        pos = rng.permutation(shp[d])[:int(rng.integers(0, shp[d] + 1))] - shp[d] * (
            rng.random() < 0.3)
        key = [_slice(rng, s) if rng.random() < 0.3 else slice(None) for s in shp[:d]]
        key.append(pos.astype(np.int64))
    else:
        key = [rng.random(shp) < 0.5]
    mat = _key_fn(key)
    try:
        out_shape = tuple(torch.zeros(shp)[mat(torch)].shape)
    except Exception:  # noqa: BLE001 - torch raises: mytorch must raise too
        out_shape = ()
    dtype = float_dtype(rng)
    if rng.random() < 0.25:
        value = float(rng.uniform(-2, 2))

        def fn(m, x):
            y = x * 1.0
            y[mat(m)] = value
            return y
        return Case(fn, [floats(rng, shp, dtype)], info={"key": key, "value": value})

    def fn(m, x, v):
        y = x * 1.0
        y[mat(m)] = v
        return y
    return Case(fn, [floats(rng, shp, dtype), floats(rng, _value_shape(rng, out_shape), dtype)],
                info={"key": key})


def _index_along(rng, shp, dim, low_neg=False, max_side=None):
    """An index for gather/scatter: same ndim, each side <= input's (dim's side free)."""
    ishape = tuple(int(rng.integers(0 if rng.random() < 0.05 else 1, s + 1)) if s else 0
                   for s in shp)
    ishape = tuple(ishape[d] if d != dim % len(shp) else int(rng.integers(1, 5))
                   for d in range(len(shp)))
    n = shp[dim]
    lo = -n if low_neg and rng.random() < 0.1 else 0
    return ints(rng, lo, max(n, 1), ishape)


def gather(rng):
    shp = shape(rng, lo=1, hi=4)
    dim = int(rng.integers(-len(shp), len(shp)))
    # no negative indices: mytorch.gather takes them where torch raises (tensor.py, reported)
    idx = _index_along(rng, shp, dim)
    if rng.random() < 0.5:
        return Case(lambda m, x, i: m.gather(x, dim, i), [floats(rng, shp), idx])
    return Case(lambda m, x, i: x.gather(dim, i), [floats(rng, shp), idx])


def _scatter_index(rng, shp, dim, unique, low_neg=True):
    idx = _index_along(rng, shp, dim, low_neg=low_neg)
    d = dim % len(shp)
    if unique and shp[d]:
        # one write per destination: a permutation of positions along dim for every column
        k = min(idx.shape[d], shp[d])
        idx = idx.take(range(k), axis=d)
        perm = np.argsort(rng.random(idx.shape), axis=d)
        idx = perm.astype(np.int64)
    return idx


def scatter(rng):
    shp = shape(rng, lo=1, hi=3)
    dim = int(rng.integers(-len(shp), len(shp)))
    mode = rng.choice(["src", "value", "add", "multiply", "scatter_add", "value_add"])
    # scatter_add (tensor.py) takes negative indices torch refuses: reported, not drawn
    idx = _scatter_index(rng, shp, dim, unique=mode in ("src", "value"),
                         low_neg=mode != "scatter_add")
    src_shape = tuple(s + int(rng.random() < 0.15) for s in idx.shape)
    x = floats(rng, shp)
    src = floats(rng, src_shape, x.dtype)
    value = float(rng.uniform(-2, 2))
    grad = mode in ("src", "value", "scatter_add")
    if mode == "src":
        return Case(lambda m, x, i, s: x.scatter(dim, i, s), [x, idx, src])
    if mode == "value":
        return Case(lambda m, x, i: x.scatter(dim, i, value), [x, idx])
    if mode == "scatter_add":
        return Case(lambda m, x, i, s: m.scatter_add(x, dim, i, s), [x, idx, src])
    if mode == "value_add":
        return Case(lambda m, x, i: x.scatter(dim, i, value, reduce="add"), [x, idx],
                    grad=False)
    return Case(lambda m, x, i, s: x.scatter(dim, i, s, reduce=str(mode)), [x, idx, src],
                grad=grad)


def index_ops(rng):
    shp = shape(rng, lo=1, hi=3)
    dim = int(rng.integers(-len(shp), len(shp)))
    n = shp[dim]
    k = int(rng.integers(0, 5))
    op = rng.choice(["index_select", "index_add", "index_fill", "index_fill_t"])
    # index_select (tensor.py) takes negative indices torch refuses: reported, not drawn
    neg = op != "index_select" and rng.random() < 0.1
    idx = ints(rng, -n if neg else 0, max(n, 1), (k,))
    x = floats(rng, shp)
    if op == "index_select":
        return Case(lambda m, x, i: m.index_select(x, dim, i), [x, idx])
    if op == "index_add":
        sshape = list(shp)
        sshape[dim] = k
        alpha = float(rng.choice([1.0, -0.5, 2.0]))
        return Case(lambda m, x, i, s: x.index_add(dim, i, s, alpha=alpha),
                    [x, idx, floats(rng, tuple(sshape), x.dtype)])
    value = float(rng.uniform(-2, 2))
    if op == "index_fill":
        return Case(lambda m, x, i: x.index_fill(dim, i, value), [x, idx])
    return Case(lambda m, x, i: x.index_fill(dim, i, m.tensor(value, dtype=x.dtype)), [x, idx])


def masked(rng):
    shp = shape(rng, lo=0, hi=3)
    mshape = _value_shape(rng, shp)
    mask = rng.random(mshape) < 0.5
    x = floats(rng, shp)
    op = rng.choice(["fill", "fill_t", "select", "scatter"])
    if op == "fill":
        value = float(rng.uniform(-2, 2))
        return Case(lambda m, x, k: x.masked_fill(k, value), [x, mask])
    if op == "fill_t":
        return Case(lambda m, x, k, v: x.masked_fill(k, v), [x, mask, floats(rng, (), x.dtype)],
                    no_grad_inputs=(2,))
    if op == "select":
        return Case(lambda m, x, k: m.masked_select(x, k), [x, mask])
    full = np.broadcast_shapes(shp, mshape)
    src = floats(rng, (int(np.prod(full)) + int(rng.integers(0, 3)),), x.dtype)
    return Case(lambda m, x, k, s: x.masked_scatter(k, s), [x, mask, src])


def take_along_dim(rng):
    shp = shape(rng, lo=1, hi=3)
    x = floats(rng, shp)
    if rng.random() < 0.3:
        idx = ints(rng, 0, max(x.size, 1), (int(rng.integers(0, 5)),))
        x = np.ascontiguousarray(x)  # torch's flattening view fails on non-contiguous input
        return Case(lambda m, x, i: m.take_along_dim(x, i), [x, idx])
    dim = int(rng.integers(-len(shp), len(shp)))
    ishape = tuple(int(rng.integers(1, 4)) if d == dim % len(shp) else
                   (1 if rng.random() < 0.3 else s) for d, s in enumerate(shp))
    idx = ints(rng, 0, max(shp[dim], 1), ishape)
    return Case(lambda m, x, i: m.take_along_dim(x, i, dim=dim), [x, idx])


def unique(rng):
    shp = shape(rng, lo=0, hi=3)
    x = ints(rng, -3, 3, shp)
    if rng.random() < 0.5:
        x = x.astype(float_dtype(rng))
    inv, cnt = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    dim = None if rng.random() < 0.6 or not shp else int(rng.integers(-len(shp), len(shp)))
    return Case(lambda m, x: m.unique(x, sorted=True, return_inverse=inv, return_counts=cnt,
                                      dim=dim), [x], grad=False, info={"dim": dim})


def bincount(rng):
    n = int(rng.integers(0, 8))
    x = ints(rng, -1 if rng.random() < 0.05 else 0, 6, (n,))
    minlength = int(rng.integers(0, 9))
    if rng.random() < 0.5:
        w = floats(rng, (n,), noncontig=False)
        return Case(lambda m, x, w: m.bincount(x, w, minlength=minlength), [x, w], grad=False)
    return Case(lambda m, x: m.bincount(x, minlength=minlength), [x])


def searchsorted(rng):
    dtype = float_dtype(rng)
    k = int(rng.integers(0, 6))
    batch = shape(rng, lo=0, hi=2, max_side=3) if rng.random() < 0.4 else ()
    seq = np.sort(rng.integers(-3, 4, batch + (k,)), axis=-1).astype(dtype)
    vals = rng.integers(-4, 5, batch + (int(rng.integers(0, 4)),)).astype(dtype)
    right = bool(rng.random() < 0.5)
    out_int32 = bool(rng.random() < 0.3)
    if not batch and rng.random() < 0.3:
        vals = rng.integers(-4, 5, shape(rng, lo=0, hi=2)).astype(dtype)
        if rng.random() < 0.5:
            return Case(lambda m, v, s: m.bucketize(v, s, right=right, out_int32=out_int32),
                        [vals, seq], grad=False)
    return Case(lambda m, s, v: m.searchsorted(s, v, right=right, out_int32=out_int32),
                [seq, vals], grad=False)


def nonzero(rng):
    shp = shape(rng, lo=0, hi=3)
    x = ints(rng, 0, 2, shp) * rng.integers(-2, 3, shp)
    if rng.random() < 0.5:
        x = x.astype(float_dtype(rng))
    op = rng.choice(["argwhere", "nonzero", "nonzero_tuple"])
    if op == "argwhere":
        return Case(lambda m, x: m.argwhere(x), [x], grad=False)
    if op == "nonzero":
        return Case(lambda m, x: m.nonzero(x), [x], grad=False)
    return Case(lambda m, x: x.nonzero(as_tuple=True), [x], grad=False)


def one_hot(rng):
    x = ints(rng, 0, 4, shape(rng, lo=0, hi=3))
    nc = int(rng.choice([-1, 4, 6, 2]))
    return Case(lambda m, x: m.nn.functional.one_hot(x, nc), [x])


INDEX = dict(getitem_basic=getitem_basic, getitem_advanced=getitem_advanced,
             getitem_bool=getitem_bool, setitem=setitem, gather=gather, scatter=scatter,
             index_ops=index_ops, masked=masked, take_along_dim=take_along_dim, unique=unique,
             bincount=bincount, searchsorted=searchsorted, nonzero=nonzero, one_hot=one_hot)


# ---- linear algebra ----

def _batch_pair(rng):
    a = shape(rng, lo=0, hi=2, max_side=3)
    b = tuple(1 if rng.random() < 0.3 else s for s in a[int(rng.integers(0, len(a) + 1)):])
    return (a, b) if rng.random() < 0.5 else (b, a)


def matmul(rng):
    ra, rb = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    n, k, p = (int(rng.integers(1, 5)) for _ in range(3))
    if rng.random() < 0.05:
        k = 0
    ba, bb = _batch_pair(rng)
    sa = (k,) if ra == 1 else (ba + (1,) * 2)[:ra - 2] + (n, k)
    sb = (k,) if rb == 1 else (bb + (1,) * 2)[:rb - 2] + (k, p)
    if rng.random() < 0.05:
        sb = sb[:-2] + (k + 1,) + sb[-1:] if rb > 1 else (k + 1,)
    dtype = float_dtype(rng)
    op = rng.choice(["matmul", "operator"])
    fn = (lambda m, a, b: m.matmul(a, b)) if op == "matmul" else (lambda m, a, b: a @ b)
    return Case(fn, [floats(rng, sa, dtype), floats(rng, sb, dtype)])


def products(rng):
    n, k, p, b = (int(rng.integers(1, 5)) for _ in range(4))
    dtype = float_dtype(rng)
    op = rng.choice(["mm", "bmm", "outer", "dot", "addmm", "baddbmm", "cross", "mm_bad"])
    f = lambda s: floats(rng, s, dtype)  # noqa: E731
    if op == "mm":
        return Case(lambda m, a, c: m.mm(a, c), [f((n, k)), f((k, p))])
    if op == "mm_bad":
        return Case(lambda m, a, c: m.mm(a, c), [f((n, k)), f((k + 1, p))])
    if op == "bmm":
        return Case(lambda m, a, c: m.bmm(a, c), [f((b, n, k)), f((b, k, p))])
    if op == "outer":
        return Case(lambda m, a, c: m.outer(a, c), [f((n,)), f((p,))])
    if op == "dot":
        return Case(lambda m, a, c: m.dot(a, c), [f((k,)), f((k,))])
    beta, alpha = float(rng.choice([1.0, 0.5, 0.0])), float(rng.choice([1.0, -2.0]))
    if op == "addmm":
        s = _value_shape(rng, (n, p))
        return Case(lambda m, i, a, c: m.addmm(i, a, c, beta=beta, alpha=alpha),
                    [f(s), f((n, k)), f((k, p))])
    if op == "baddbmm":
        s = _value_shape(rng, (b, n, p))
        return Case(lambda m, i, a, c: m.baddbmm(i, a, c, beta=beta, alpha=alpha),
                    [f(s), f((b, n, k)), f((b, k, p))])
    s = list(shape(rng, lo=1, hi=3, max_side=3))
    d = int(rng.integers(-len(s), len(s)))
    s[d] = 3
    s2 = tuple(1 if i != d % len(s) and rng.random() < 0.3 else x for i, x in enumerate(s))
    return Case(lambda m, a, c: m.cross(a, c, dim=d), [f(tuple(s)), f(s2)])


def einsum(rng):
    letters = "abcdef"
    nops = int(rng.integers(1, 4))
    sizes = {c: int(rng.integers(1, 4)) for c in letters}
    terms = []
    for _ in range(nops):
        k = int(rng.integers(0, 4))
        t = "".join(rng.choice(list(letters[:4]), size=k, replace=rng.random() < 0.15))
        terms.append(t)
    used = sorted(set("".join(terms)))
    # output: a random subset of labels seen once or more, in random order
    out = [c for c in used if rng.random() < 0.5]
    rng.shuffle(out)
    if rng.random() < 0.05:
        out.append("f")  # an output label no operand has: must raise
    explicit = rng.random() < 0.7
    eq = ",".join(terms) + ("->" + "".join(out) if explicit else "")
    ell = rng.random() < 0.2
    if ell:
        eq = ",".join("..." + t for t in terms) + ("->..." + "".join(out) if explicit else "")
    batch = shape(rng, lo=0, hi=2, max_side=2) if ell else ()
    dtype = float_dtype(rng)
    arrays = [floats(rng, batch + tuple(sizes[c] for c in t), dtype) for t in terms]
    return Case(lambda m, *xs: m.einsum(eq, *xs), arrays, info={"eq": eq})


def cdist(rng):
    b = shape(rng, lo=0, hi=2, max_side=3)
    p_, r, mdim = (int(rng.integers(1, 5)) for _ in range(3))
    dtype = float_dtype(rng)
    p = float(rng.choice([0.0, 1.0, 2.0, 3.0, np.inf, 1.5]))
    x1, x2 = floats(rng, b + (p_, mdim), dtype), floats(rng, b + (r, mdim), dtype)
    return Case(lambda m, a, c: m.cdist(a, c, p=p), [x1, x2], info={"p": p}, grad=p != 0.0)


def _well_conditioned(rng, batch, n, dtype, spd=False):
    a = rng.uniform(-1, 1, batch + (n, n))
    a = a @ np.swapaxes(a, -1, -2) + n * np.eye(n) if spd else a + 3 * n * np.eye(n)
    return a.astype(dtype)


def linalg(rng):
    n = int(rng.integers(1, 5))
    batch = shape(rng, lo=0, hi=2, max_side=3)
    dtype = np.float64 if rng.random() < 0.7 else np.float32
    op = str(rng.choice(["inv", "det", "slogdet", "solve", "cholesky", "eigvalsh", "svdvals",
                         "pinv", "matrix_power", "multi_dot", "vecdot", "vector_norm",
                         "matrix_norm", "norm", "qr", "eigh", "lstsq", "matrix_rank"]))
    a = _well_conditioned(rng, batch, n, dtype, spd=op in ("cholesky", "eigvalsh", "eigh"))
    tol = (1e-4, 1e-3) if dtype == np.float32 else None
    if op in ("inv", "det", "cholesky", "eigvalsh", "svdvals", "pinv"):
        return Case(lambda m, x: getattr(m.linalg, op)(x), [a], tol=tol, info={"op": op})
    if op == "slogdet":
        return Case(lambda m, x: tuple(m.linalg.slogdet(x)), [a], tol=tol, info={"op": op})
    if op == "eigh":
        # eigenvectors are defined up to sign: compare eigenvalues and the rebuilt matrix
        def fn(m, x):
            w, v = m.linalg.eigh(x)
            return w, (v * w.unsqueeze(-2)) @ v.transpose(-1, -2)
        return Case(fn, [a], tol=tol, info={"op": op})
    if op == "qr":
        def fn(m, x):
            q, r = m.linalg.qr(x)
            return q.abs(), r.abs(), q @ r
        return Case(fn, [a], tol=tol, info={"op": op})
    if op == "solve":
        left = bool(rng.random() < 0.8)
        k = int(rng.integers(1, 3))
        bshape = (batch + (n, k) if left else batch + (k, n)) if rng.random() < 0.7 else \
            batch + (n,)
        return Case(lambda m, x, y: m.linalg.solve(x, y, left=left),
                    [a, floats(rng, bshape, dtype)], tol=tol, info={"op": op, "left": left})
    if op == "lstsq":
        k = int(rng.integers(1, 3))
        return Case(lambda m, x, y: m.linalg.lstsq(x, y).solution,
                    [a, floats(rng, batch + (n, k), dtype)], tol=tol, info={"op": op})
    if op == "matrix_power":
        k = int(rng.integers(-2, 4))
        return Case(lambda m, x: m.linalg.matrix_power(x / n, k), [a], tol=tol,
                    info={"op": op, "k": k})
    if op == "matrix_rank":
        return Case(lambda m, x: m.linalg.matrix_rank(x), [a], grad=False, info={"op": op})
    if op == "multi_dot":
        dims = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(3, 5)))]
        arrs = [floats(rng, (dims[i], dims[i + 1]), dtype) for i in range(len(dims) - 1)]
        if rng.random() < 0.3:
            arrs[0] = arrs[0][0]
        return Case(lambda m, *xs: m.linalg.multi_dot(list(xs)), arrs, tol=tol,
                    info={"op": op})
    if op == "vecdot":
        s = shape(rng, lo=1, hi=3)
        d = int(rng.integers(-len(s), len(s)))
        return Case(lambda m, x, y: m.linalg.vecdot(x, y, dim=d),
                    [floats(rng, s, dtype), floats(rng, _value_shape(rng, s) or s, dtype)],
                    tol=tol, info={"op": op, "dim": d})
    keep = bool(rng.random() < 0.5)
    if op == "vector_norm":
        s = shape(rng, lo=0, hi=3)
        ordv = float(rng.choice([2.0, 1.0, np.inf, -np.inf, 3.0, 0.5]))
        dim = None if rng.random() < 0.4 or not s else int(rng.integers(-len(s), len(s)))
        x = floats(rng, s, dtype, low=0.2) * rng.choice([-1, 1], s)
        return Case(lambda m, x: m.linalg.vector_norm(x, ord=ordv, dim=dim, keepdim=keep),
                    [x.astype(dtype)], tol=tol, info={"op": op, "ord": ordv, "dim": dim})
    if op == "matrix_norm":
        ordv = rng.choice(["fro", "nuc", 1.0, -1.0, np.inf, -np.inf, 2.0, -2.0])
        ordv = ordv if isinstance(ordv, str) else float(ordv)
        return Case(lambda m, x: m.linalg.matrix_norm(x, ord=ordv, keepdim=keep), [a], tol=tol,
                    info={"op": op, "ord": ordv})
    s = shape(rng, lo=1, hi=3)
    return Case(lambda m, x: m.linalg.norm(x), [floats(rng, s, dtype)], tol=tol,
                info={"op": op})


LINALG = dict(matmul=matmul, products=products, einsum=einsum, cdist=cdist, linalg=linalg)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(INDEX))
def test_fuzz_index(name, seed):
    assert_case_matches_torch(INDEX[name], seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(LINALG))
def test_fuzz_linalg(name, seed):
    assert_case_matches_torch(LINALG[name], seed)


# ---- regressions for what the fuzzer found ----

def _lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


def test_int_and_array_index_keep_torch_dim_order():
    # torch selects with the ints first: x[0, :, idx] puts idx's dims after the slice
    idx = np.array([[2, 0], [1, 1]])
    check(lambda x: x[0, :, _lib(x).tensor(idx)], [(2, 3, 4)])
    check(lambda x: x[-1, 1:, _lib(x).tensor(idx), 0], [(2, 3, 4, 2)])

    def put(x, v):
        y = x * 1.0
        y[1, :, _lib(x).tensor([3, 0])] = v
        return y
    check(put, [(2, 3, 4), (3, 1)])


def test_index_add_and_scatter_refuse_negative_indices():
    x = mytorch.zeros(4)
    with pytest.raises(IndexError, match="index_add: index -1"):
        x.index_add(0, mytorch.tensor([-1]), mytorch.ones(1))
    with pytest.raises(IndexError, match="scatter: index -1"):
        x.scatter(0, mytorch.tensor([-1]), 1.0)
    # index_fill takes them, as torch
    assert x.index_fill(0, mytorch.tensor([-1]), 2.0).tolist() == [0, 0, 0, 2]


def test_searchsorted_rows_of_an_empty_sequence():
    out = mytorch.searchsorted(mytorch.zeros((3, 0)), mytorch.zeros((3, 2)))
    assert out.shape == (3, 2) and not out.numpy().any()


def test_matmul_gradients_with_an_empty_inner_dim():
    check(lambda a, b: a @ b, [(1, 3, 0), (0, 2)], dtype=np.float64)
    check(lambda a, b: a @ b, [(2, 2, 0), (0,)], dtype=np.float64)


def test_addmm_beta_zero_ignores_nan_but_gives_zero_grad():
    inp = np.full((2, 3), np.nan)
    out = check(lambda i, a, b: _lib(i).addmm(i, a, b, beta=0),
                inputs=[inp] + make_inputs([(2, 4), (4, 3)], np.float64))
    assert np.isfinite(out.detach().numpy()).all()
    check(lambda i, a, b: _lib(i).baddbmm(i, a, b, beta=0.0, alpha=2.0),
          [(3,), (2, 2, 4), (2, 4, 3)], dtype=np.float64)


def test_no_grad_setitem_uses_torch_dim_order():
    # integers apply first, as torch: x[0, :, idx] has shape (3, 2), not NumPy's (2, 3)
    y = mytorch.zeros(2, 3, 4)
    y[0, :, mytorch.tensor([0, 2])] = mytorch.arange(6.0).reshape(3, 2)
    t = torch.zeros(2, 3, 4)
    t[0, :, torch.tensor([0, 2])] = torch.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(y.numpy(), t.numpy())


def test_negative_indices_and_steps_raise_like_torch():
    x = mytorch.arange(6.0).reshape(2, 3)
    with pytest.raises(IndexError, match="gather"):
        x.gather(1, mytorch.tensor([[-1]]))
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(0, mytorch.tensor([-1]))
    with pytest.raises(IndexError, match="scatter_add"):
        x.scatter_add(1, mytorch.tensor([[-1]]), mytorch.ones(1, 1))
    with pytest.raises(ValueError, match="step must be positive"):
        x[::-1]
    np.testing.assert_array_equal(x.flip(0).numpy(), x.numpy()[::-1])
