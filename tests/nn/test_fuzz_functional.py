"""Fuzzing nn.functional against PyTorch (see tests/fuzzing.py).

FUZZ_SEEDS=500 runs many seeds locally; the default runs a few fixed ones.
"""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from tests.fuzzing import SEEDS, Case, assert_case_matches_torch, float_dtype, floats, ints, shape
from tests.helpers import check

CONV_TOL = {np.float32: (1e-4, 1e-3), np.float64: None}


def _auto(m, auto):
    """mytorch's `auto=` switch (hand-written backward or composite); torch has none."""
    return {"auto": auto} if m.__name__ == "mytorch" else {}


def _opt(rng, p=0.5):
    return bool(rng.random() < p)


def linear(rng):
    dtype = float_dtype(rng)
    fin, fout = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    x = floats(rng, shape(rng, lo=0, hi=3) + (fin,), dtype)
    w = floats(rng, (fout, fin), dtype)
    auto = _opt(rng)
    if _opt(rng):
        return Case(lambda m, x, w, b: m.nn.functional.linear(x, w, b, **_auto(m, auto)),
                    [x, w, floats(rng, (fout,), dtype)])
    return Case(lambda m, x, w: m.nn.functional.linear(x, w, **_auto(m, auto)), [x, w])


def _conv_geometry(rng, nd):
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    k = tuple(int(rng.integers(1, 4)) for _ in range(nd))
    stride = tuple(int(rng.integers(1, 3)) for _ in range(nd))
    dilation = tuple(int(rng.integers(1, 3)) for _ in range(nd))
    padding = tuple(int(rng.integers(0, 3)) for _ in range(nd))
    size = tuple(int(rng.integers(1, 8)) for _ in range(nd))
    return groups, cin, cout, k, stride, dilation, padding, size


def conv(rng):
    nd = int(rng.integers(1, 3))
    groups, cin, cout, k, stride, dilation, padding, size = _conv_geometry(rng, nd)
    dtype = float_dtype(rng)
    batch = () if _opt(rng, 0.15) else (int(rng.integers(1, 3)),)
    x = floats(rng, batch + (cin,) + size, dtype)
    w = floats(rng, (cout, cin // groups) + k, dtype)
    b = floats(rng, (cout,), dtype)
    pad = rng.random()
    padding = "valid" if pad < 0.1 else ("same" if pad < 0.2 else padding)
    if padding == "same" and _opt(rng, 0.8):
        stride = 1  # torch refuses 'same' with strides
    auto = _opt(rng)
    name = f"conv{nd}d"
    return Case(lambda m, x, w, b: getattr(m.nn.functional, name)(
        x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
        **_auto(m, auto)), [x, w, b], tol=CONV_TOL[dtype],
        info=dict(op=name, stride=stride, padding=padding, dilation=dilation, groups=groups))


def conv_transpose(rng):
    nd = int(rng.integers(1, 3))
    groups, cin, cout, k, stride, dilation, padding, size = _conv_geometry(rng, nd)
    opad = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    if _opt(rng, 0.05):
        opad = tuple(max(s, d) for s, d in zip(stride, dilation))  # too large: must raise
    out = [(n - 1) * s - 2 * p + d * (kk - 1) + o + 1
           for n, s, p, d, kk, o in zip(size, stride, padding, dilation, k, opad)]
    if min(out) == 0:
        # an empty output: torch raises, except on grouped 1-D paths that return one
        padding = tuple(0 for _ in padding)
    dtype = float_dtype(rng)
    batch = () if _opt(rng, 0.15) else (int(rng.integers(1, 3)),)
    x = floats(rng, batch + (cin,) + size, dtype)
    w = floats(rng, (cin, cout // groups) + k, dtype)
    b = floats(rng, (cout,), dtype)
    auto = _opt(rng)
    name = f"conv_transpose{nd}d"
    return Case(lambda m, x, w, b: getattr(m.nn.functional, name)(
        x, w, b, stride=stride, padding=padding, output_padding=opad, groups=groups,
        dilation=dilation, **_auto(m, auto)), [x, w, b], tol=CONV_TOL[dtype],
        info=dict(op=name, stride=stride, padding=padding, dilation=dilation, groups=groups,
                  output_padding=opad))


def pool(rng):
    nd = int(rng.integers(1, 3))
    k = tuple(int(rng.integers(1, 4)) for _ in range(nd))
    stride = None if _opt(rng, 0.3) else tuple(int(rng.integers(1, 4)) for _ in range(nd))
    padding = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    if _opt(rng, 0.05):
        padding = tuple(kk for kk in k)  # more than half the kernel: must raise
    ceil = _opt(rng)
    size = tuple(int(rng.integers(1, 8)) for _ in range(nd))
    batch = (int(rng.integers(1, 3)),) * int(rng.random() < 0.8)
    x = floats(rng, batch + (int(rng.integers(1, 3)),) + size)
    auto = _opt(rng)
    kind = str(rng.choice(["max", "avg", "adaptive_avg", "adaptive_max"]))
    info = dict(kind=kind, k=k, stride=stride, padding=padding, ceil=ceil)
    if kind == "max":
        dilation = tuple(int(rng.integers(1, 3)) for _ in range(nd))
        if any(_empty_window(*a, ceil) for a in zip(size, k, stride or k, padding, dilation)):
            # a window entirely in the padding: torch sends its gradient to an element outside
            # the window (a torch bug), mytorch to none
            padding = tuple(0 for _ in padding)
        ri = _opt(rng)
        info.update(dilation=dilation, indices=ri)
        return Case(lambda m, x: getattr(m.nn.functional, f"max_pool{nd}d")(
            x, k, stride, padding, dilation, ceil_mode=ceil, return_indices=ri,
            **_auto(m, auto)), [x], info=info)
    if kind == "avg":
        cip = _opt(rng)
        extra = {}
        if nd == 2 and _opt(rng, 0.3):
            extra["divisor_override"] = int(rng.integers(1, 5))
        info.update(count_include_pad=cip, **extra)
        return Case(lambda m, x: getattr(m.nn.functional, f"avg_pool{nd}d")(
            x, k, stride, padding, ceil_mode=ceil, count_include_pad=cip, **extra,
            **_auto(m, auto)), [x], info=info)
    out = tuple(int(rng.integers(1, 6)) for _ in range(nd))
    if nd == 2 and _opt(rng, 0.2):
        out = (out[0], None)
    info = dict(kind=kind, out=out)
    if kind == "adaptive_avg":
        return Case(lambda m, x: getattr(m.nn.functional, f"adaptive_avg_pool{nd}d")(
            x, out if nd == 2 else out[0], **_auto(m, auto)), [x], info=info)
    ri = _opt(rng)
    return Case(lambda m, x: getattr(m.nn.functional, f"adaptive_max_pool{nd}d")(
        x, out if nd == 2 else out[0], return_indices=ri), [x], info=info)


def _empty_window(n, k, s, p, d, ceil):
    """Whether some max-pool window reads padding only."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return any(all(not 0 <= i * s - p + j * d < n for j in range(k)) for i in range(out))


def interpolate(rng):
    nd = int(rng.integers(1, 3))
    mode = str(rng.choice(["nearest", "nearest-exact", "area", "linear" if nd == 1 else
                           "bilinear"]))
    x = floats(rng, (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
               + tuple(int(rng.integers(1, 6)) for _ in range(nd)))
    kw = {}
    if _opt(rng):
        kw["size"] = tuple(int(rng.integers(1, 9)) for _ in range(nd))
        if nd == 1 or _opt(rng, 0.3):
            kw["size"] = kw["size"][0]
    else:
        kw["scale_factor"] = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 0.7]))
        if _opt(rng, 0.3):
            kw["recompute_scale_factor"] = True
    if mode == "area" and min(x.shape[2:]) * kw.get("scale_factor", 1.0) < 1:
        # an empty output: torch's area mode returns one where its other modes and mytorch raise
        kw["scale_factor"] = 1.0
    if mode in ("linear", "bilinear") and _opt(rng):
        kw["align_corners"] = _opt(rng)
    auto = _opt(rng)
    return Case(lambda m, x: m.nn.functional.interpolate(x, mode=mode, **kw, **_auto(m, auto)),
                [x], info=dict(mode=mode, **kw))


def pad(rng):
    mode = str(rng.choice(["constant", "reflect", "replicate", "circular"]))
    if mode == "constant":
        shp = shape(rng, lo=1, hi=4)
        n = int(rng.integers(1, len(shp) + 1))
        amounts = tuple(int(rng.integers(-1 if s > 1 else 0, 3)) for s in shp[::-1][:n]
                        for _ in range(2))
        value = float(rng.uniform(-2, 2)) if _opt(rng) else None
        return Case(lambda m, x: m.nn.functional.pad(x, amounts, value=value), [floats(rng, shp)],
                    info=dict(mode=mode, pad=amounts))
    nd = int(rng.integers(1, 3))
    batch = 2 if _opt(rng, 0.8) else 1
    shp = shape(rng, ndim=batch) + tuple(int(rng.integers(1, 5)) for _ in range(nd))
    limit = {"reflect": lambda s: s - 1, "replicate": lambda s: 3, "circular": lambda s: s}[mode]
    amounts = tuple(int(rng.integers(0, max(limit(s), 0) + 1)) for s in shp[::-1][:nd]
                    for _ in range(2))
    if _opt(rng, 0.05):
        amounts = tuple(a + shp[-1] for a in amounts)  # too large for reflect/circular
    return Case(lambda m, x: m.nn.functional.pad(x, amounts, mode=mode), [floats(rng, shp)],
                info=dict(mode=mode, pad=amounts))


def softmax(rng):
    shp = shape(rng, lo=0, hi=4)
    dim = int(rng.integers(-len(shp), len(shp))) if shp else int(rng.choice([0, -1]))
    name = str(rng.choice(["softmax", "log_softmax", "softmin"]))
    dtype = float_dtype(rng)
    if _opt(rng, 0.2):  # a dtype argument: the result is in that dtype
        kw = {"dtype": "float64"}

        def fn(m, x):
            dt = torch.float64 if m is torch else m.float64
            return getattr(m.nn.functional, name)(x, dim=dim, dtype=dt)
        return Case(fn, [floats(rng, shp, np.float32, low=-5, high=5)], info=dict(name=name, **kw))
    return Case(lambda m, x: getattr(m.nn.functional, name)(x, dim=dim),
                [floats(rng, shp, dtype, low=-5, high=5)], info=dict(name=name, dim=dim))


def layer_norm(rng):
    shp = shape(rng, lo=1, hi=4)
    k = int(rng.integers(1, len(shp) + 1))
    ns = shp[len(shp) - k:]
    dtype = float_dtype(rng)
    auto = _opt(rng)
    x = floats(rng, shp, dtype)
    if _opt(rng):
        return Case(lambda m, x, w, b: m.nn.functional.layer_norm(x, ns, w, b, eps=1e-5,
                                                                  **_auto(m, auto)),
                    [x, floats(rng, ns, dtype), floats(rng, ns, dtype)], tol=CONV_TOL[dtype])
    return Case(lambda m, x: m.nn.functional.layer_norm(x, ns, **_auto(m, auto)), [x],
                tol=CONV_TOL[dtype])


def group_norm(rng):
    g = int(rng.integers(1, 4))
    c = g * int(rng.integers(1, 3))
    if _opt(rng, 0.05):
        c += 1  # not divisible: must raise
    shp = (int(rng.integers(1, 4)), c) + shape(rng, lo=0, hi=2)
    dtype = float_dtype(rng)
    x = floats(rng, shp, dtype)
    if _opt(rng):
        return Case(lambda m, x, w, b: m.nn.functional.group_norm(x, g, w, b),
                    [x, floats(rng, (c,), dtype), floats(rng, (c,), dtype)],
                    tol=CONV_TOL[dtype])
    return Case(lambda m, x: m.nn.functional.group_norm(x, g), [x], tol=CONV_TOL[dtype])


def batch_norm(rng):
    c = int(rng.integers(1, 4))
    shp = (int(rng.integers(1, 4)), c) + shape(rng, lo=0, hi=2)
    dtype = float_dtype(rng)
    training = _opt(rng)
    momentum = float(rng.choice([0.1, 0.5]))
    affine = _opt(rng)
    auto = _opt(rng)
    x = floats(rng, shp, dtype)
    rm = floats(rng, (c,), dtype, noncontig=False)
    rv = floats(rng, (c,), dtype, low=0.5, high=2.0, noncontig=False)
    w, b = floats(rng, (c,), dtype), floats(rng, (c,), dtype)

    def fn(m, x, rm, rv, w, b):
        rm, rv = rm.clone(), rv.clone()
        y = m.nn.functional.batch_norm(x, rm, rv, w if affine else None, b if affine else None,
                                       training=training, momentum=momentum,
                                       **_auto(m, auto))
        return y, rm, rv
    return Case(fn, [x, rm, rv, w, b], no_grad_inputs=(1, 2), tol=CONV_TOL[dtype],
                info=dict(training=training, affine=affine))


def dropout(rng):
    p = float(rng.choice([0.0, 1.0]))
    training = _opt(rng, 0.8)
    x = floats(rng, shape(rng, lo=0, hi=3))
    name = str(rng.choice(["dropout", "dropout_d"]))
    if name == "dropout_d" and x.ndim in (2, 3):
        return Case(lambda m, x: m.nn.functional.dropout1d(x, p, training), [x],
                    info=dict(p=p, training=training, name="dropout1d"))
    return Case(lambda m, x: m.nn.functional.dropout(x, p, training), [x],
                info=dict(p=p, training=training))


REDUCTIONS = ["none", "mean", "sum"]


def class_losses(rng):
    c = int(rng.integers(1, 5))
    n = int(rng.integers(1, 4))
    extra = shape(rng, lo=0, hi=2, max_side=3)
    unbatched = _opt(rng, 0.15)
    xshape = (c,) if unbatched else (n, c) + extra
    tshape = () if unbatched else (n,) + extra
    dtype = float_dtype(rng)
    red = str(rng.choice(REDUCTIONS))
    ignore = int(rng.choice([-100, 0, 1])) if _opt(rng) else -100
    t = ints(rng, 0, c, tshape)
    if _opt(rng, 0.3) and t.size:
        t.reshape(-1)[0] = ignore if ignore >= 0 else -100
    if _opt(rng, 0.03) and t.size:
        t.reshape(-1)[-1] = c  # out of range: must raise
    weight = floats(rng, (c,), dtype, low=0.1, high=2.0) if _opt(rng) else None
    x = floats(rng, xshape, dtype)
    info = dict(reduction=red, ignore_index=ignore, weight=weight is not None)
    name = str(rng.choice(["cross_entropy", "cross_entropy", "nll_loss", "ce_probs"]))
    ls = float(rng.choice([0.0, 0.1, 0.5])) if name != "nll_loss" else 0.0
    info.update(name=name, label_smoothing=ls)
    auto = _opt(rng)
    inputs = [x] + ([weight] if weight is not None else [])

    def w_of(ws):
        return ws[0] if ws else None
    if name == "ce_probs":
        probs = rng.dirichlet(np.ones(c), size=int(np.prod(tshape, dtype=int))).astype(dtype)
        probs = np.moveaxis(probs.reshape(tshape + (c,)), -1, 0 if unbatched else 1)
        return Case(lambda m, x, p, *ws: m.nn.functional.cross_entropy(
            x, p, w_of(ws), reduction=red, label_smoothing=ls, **_auto(m, auto)),
            [x, np.ascontiguousarray(probs)] + inputs[1:], info=info, no_grad_inputs=(2,))
    if name == "nll_loss":
        return Case(lambda m, x, t, *ws: m.nn.functional.nll_loss(
            m.nn.functional.log_softmax(x, dim=0 if unbatched else 1), t, w_of(ws),
            ignore_index=ignore, reduction=red), [x, t] + inputs[1:], info=info,
            no_grad_inputs=(2,))  # torch takes no gradient for class weights
    return Case(lambda m, x, t, *ws: m.nn.functional.cross_entropy(
        x, t, w_of(ws), ignore_index=ignore, reduction=red, label_smoothing=ls,
        **_auto(m, auto)), [x, t] + inputs[1:], info=info, no_grad_inputs=(2,))


def pointwise_losses(rng):
    shp = shape(rng, lo=0, hi=3)
    tshape = shp if _opt(rng, 0.9) else _broadcastable(rng, shp)
    dtype = float_dtype(rng)
    red = str(rng.choice(REDUCTIONS))
    name = str(rng.choice(["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                           "binary_cross_entropy", "binary_cross_entropy_with_logits",
                           "kl_div"]))
    info = dict(name=name, reduction=red)
    x = floats(rng, shp, dtype)
    t = floats(rng, tshape, dtype)
    if name == "smooth_l1_loss":
        beta = float(rng.choice([1.0, 0.5, 0.0]))
        return Case(lambda m, x, t: m.nn.functional.smooth_l1_loss(x, t, reduction=red,
                                                                   beta=beta), [x, t], info=info)
    if name == "huber_loss":
        delta = float(rng.choice([1.0, 0.5, 2.0]))
        return Case(lambda m, x, t: m.nn.functional.huber_loss(x, t, reduction=red, delta=delta),
                    [x, t], info=info)
    if name.startswith("binary"):
        t = rng.uniform(0, 1, tshape).astype(dtype)
        if name == "binary_cross_entropy":
            x = rng.uniform(0.05, 0.95, shp).astype(dtype)
        w = floats(rng, _broadcastable(rng, shp), dtype, low=0.1, high=2) if _opt(rng) else None
        if name.endswith("logits") and _opt(rng) and shp:
            pw = floats(rng, shp[-1:], dtype, low=0.1, high=2)
            return Case(lambda m, x, t, pw: m.nn.functional.binary_cross_entropy_with_logits(
                x, t, reduction=red, pos_weight=pw), [x, t, pw], info=info,
                no_grad_inputs=(2,))  # torch takes no gradient for pos_weight
        if w is not None:
            return Case(lambda m, x, t, w: getattr(m.nn.functional, name)(
                x, t, w, reduction=red), [x, t, w], info=info,
                no_grad_inputs=(2,))  # nor for weight
        return Case(lambda m, x, t: getattr(m.nn.functional, name)(x, t, reduction=red),
                    [x, t], info=info)
    if name == "kl_div":
        log_target = _opt(rng)
        red = str(rng.choice(REDUCTIONS + ["batchmean"]))
        t = rng.uniform(0.05, 1, tshape).astype(dtype)
        if log_target:
            t = np.log(t)
        info.update(reduction=red, log_target=log_target)
        return Case(lambda m, x, t: m.nn.functional.kl_div(x, t, reduction=red,
                                                           log_target=log_target),
                    [x, t], info=info)
    return Case(lambda m, x, t: getattr(m.nn.functional, name)(x, t, reduction=red), [x, t],
                info=info)


def _broadcastable(rng, shp):
    drop = int(rng.integers(0, len(shp) + 1))
    return tuple(1 if rng.random() < 0.3 else s for s in shp[drop:])


def fold_unfold(rng):
    k = tuple(int(rng.integers(1, 4)) for _ in range(2))
    stride = tuple(int(rng.integers(1, 3)) for _ in range(2))
    dilation = tuple(int(rng.integers(1, 3)) for _ in range(2))
    padding = tuple(int(rng.integers(0, 2)) for _ in range(2))
    size = tuple(int(rng.integers(1, 7)) for _ in range(2))
    c = int(rng.integers(1, 3))
    batch = (int(rng.integers(1, 3)),) if _opt(rng, 0.8) else ()
    info = dict(k=k, stride=stride, dilation=dilation, padding=padding, size=size)
    if _opt(rng):
        return Case(lambda m, x: m.nn.functional.unfold(x, k, dilation, padding, stride),
                    [floats(rng, batch + (c,) + size)], info=info)
    blocks = [(s + 2 * p - d * (kk - 1) - 1) // st + 1
              for s, p, d, kk, st in zip(size, padding, dilation, k, stride)]
    nblocks = max(blocks[0], 0) * max(blocks[1], 0) + int(_opt(rng, 0.05))
    x = floats(rng, batch + (c * k[0] * k[1], nblocks))
    return Case(lambda m, x: m.nn.functional.fold(x, size, k, dilation, padding, stride), [x],
                info=info)


def pixel_shuffle(rng):
    r = int(rng.integers(1, 4))
    batch = shape(rng, lo=0, hi=2, max_side=2)
    if _opt(rng):
        c = int(rng.integers(1, 3)) * r * r + int(_opt(rng, 0.05))
        x = floats(rng, batch + (c, int(rng.integers(1, 4)), int(rng.integers(1, 4))))
        return Case(lambda m, x: m.nn.functional.pixel_shuffle(x, r), [x], info=dict(r=r))
    x = floats(rng, batch + (int(rng.integers(1, 3)), r * int(rng.integers(1, 3)),
                             r * int(rng.integers(1, 3))))
    return Case(lambda m, x: m.nn.functional.pixel_unshuffle(x, r), [x], info=dict(r=r))


def attention(rng):
    batch = shape(rng, lo=0, hi=2, max_side=3)
    L, S, E, Ev = (int(rng.integers(1, 5)) for _ in range(4))
    dtype = float_dtype(rng)
    q, k, v = (floats(rng, batch + s, dtype) for s in ((L, E), (S, E), (S, Ev)))
    causal = _opt(rng, 0.3)
    scale = float(rng.choice([0.5, 2.0])) if _opt(rng, 0.3) else None
    auto = _opt(rng)
    kind = str(rng.choice(["none", "bool", "float"])) if not causal else "none"
    info = dict(causal=causal, scale=scale, mask=kind)
    if kind == "none":
        return Case(lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=causal, scale=scale, **_auto(m, auto)), [q, k, v],
            tol=CONV_TOL[dtype], info=info)
    mshape = _broadcastable(rng, batch + (L, S))
    if kind == "bool":
        mask = rng.random(mshape) < 0.7
        # a row with every key masked is NaN in torch and zeros in mytorch (documented)
        mask = np.broadcast_to(mask, np.broadcast_shapes(mshape, (L, S))).copy()
        mask[..., 0] = True
        return Case(lambda m, q, k, v, a: m.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=a, scale=scale, **_auto(m, auto)), [q, k, v, mask],
            tol=CONV_TOL[dtype], info=info)
    return Case(lambda m, q, k, v, a: m.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=a, scale=scale, **_auto(m, auto)),
        [q, k, v, floats(rng, mshape, dtype)], tol=CONV_TOL[dtype], info=info)


def misc(rng):
    name = str(rng.choice(["embedding", "normalize", "cosine_similarity", "pairwise_distance",
                           "glu", "one_hot"]))
    dtype = float_dtype(rng)
    if name == "embedding":
        n, d = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        idx = ints(rng, 0, n, shape(rng, lo=0, hi=3))
        pidx = int(rng.integers(-n, n)) if _opt(rng, 0.3) else None
        return Case(lambda m, i, w: m.nn.functional.embedding(i, w, padding_idx=pidx),
                    [idx, floats(rng, (n, d), dtype)], info=dict(padding_idx=pidx))
    if name == "one_hot":
        nc = int(rng.integers(4, 6))
        return Case(lambda m, i: m.nn.functional.one_hot(i, nc),
                    [ints(rng, 0, 4, shape(rng, lo=0, hi=3))])
    shp = shape(rng, lo=1, hi=3)
    dim = int(rng.integers(-len(shp), len(shp)))
    if name == "normalize":
        p = float(rng.choice([1.0, 2.0, 3.0]))
        return Case(lambda m, x: m.nn.functional.normalize(x, p=p, dim=dim),
                    [floats(rng, shp, dtype)], info=dict(p=p, dim=dim))
    if name == "glu":
        shp = tuple(s * 2 if i == dim % len(shp) else s for i, s in enumerate(shp))
        return Case(lambda m, x: m.nn.functional.glu(x, dim=dim), [floats(rng, shp, dtype)])
    if name == "cosine_similarity":
        return Case(lambda m, a, b: m.nn.functional.cosine_similarity(a, b, dim=dim),
                    [floats(rng, shp, dtype), floats(rng, _broadcastable(rng, shp), dtype)],
                    info=dict(dim=dim))
    shp = shape(rng, lo=1, hi=2)
    keep = _opt(rng)
    p = float(rng.choice([1.0, 2.0, 3.0]))
    return Case(lambda m, a, b: m.nn.functional.pairwise_distance(a, b, p=p, keepdim=keep),
                [floats(rng, shp, dtype), floats(rng, shp, dtype)], info=dict(p=p, keep=keep))


FUNCTIONAL = dict(linear=linear, conv=conv, conv_transpose=conv_transpose, pool=pool,
                  interpolate=interpolate, pad=pad, softmax=softmax, layer_norm=layer_norm,
                  group_norm=group_norm, batch_norm=batch_norm, dropout=dropout,
                  class_losses=class_losses, pointwise_losses=pointwise_losses,
                  fold_unfold=fold_unfold, pixel_shuffle=pixel_shuffle, attention=attention,
                  misc=misc)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_fuzz_functional(name, seed):
    assert_case_matches_torch(FUNCTIONAL[name], seed)


# ---- regressions for what the fuzzer found ----

def _F(x):
    return (torch if isinstance(x, torch.Tensor) else mytorch).nn.functional


def test_conv1d_padding_valid():
    check(lambda x, w: _F(x).conv1d(x, w, padding="valid", dilation=2), [(2, 2, 7), (3, 2, 2)],
          dtype=np.float64)


def test_pools_with_ceil_mode_on_inputs_smaller_than_the_kernel():
    check(lambda x: _F(x).avg_pool2d(x, (1, 3), ceil_mode=True), [(1, 2, 5, 2)],
          dtype=np.float64)
    check(lambda x: _F(x).max_pool1d(x, 3, 3, ceil_mode=True), [(1, 2, 2)], dtype=np.float64)
    with pytest.raises(RuntimeError, match="max_pool1d: kernel size"):
        F.max_pool1d(mytorch.zeros((1, 2, 2)), 3, 3)


def test_softmax_of_a_0d_tensor():
    for name in ("softmax", "log_softmax", "softmin"):
        check(lambda x: getattr(_F(x), name)(x, dim=0), [()], dtype=np.float64)


def test_group_norm_needs_more_than_one_value_per_group():
    with pytest.raises(ValueError, match="group_norm: expected more than 1 value"):
        F.group_norm(mytorch.zeros((1, 3)), 3)
    check(lambda x: _F(x).group_norm(x, 3), [(2, 3)], dtype=np.float64)


def test_mse_and_l1_broadcast_target_with_a_warning():
    for name in ("mse_loss", "l1_loss"):
        with pytest.warns(UserWarning, match="target size"):
            check(lambda x, t: getattr(_F(x), name)(x, t), [(3, 4, 1), ()], dtype=np.float64)


@pytest.mark.parametrize("auto", [False, True])
def test_class_losses_with_every_target_ignored_have_zero_gradient(auto):
    t = np.array([1, 1])
    y = check(lambda x: _F(x).cross_entropy(x, _lib(x).tensor(t), ignore_index=1,
                                            **({"auto": auto} if _F(x) is F else {})),
              [(2, 3)], dtype=np.float64)
    assert np.isnan(y.item())
    check(lambda x: _F(x).nll_loss(x, _lib(x).tensor(t), weight=_lib(x).zeros(3,
                                                                              dtype=x.dtype)),
          [(2, 3)], dtype=np.float64)


def _lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch
