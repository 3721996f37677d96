"""The flash-attention kernels (mytorch.ops.cuda_flash_attention) against their array-module
reference, and the reference against PyTorch, forward and backward.

Without a GPU the kernels run in numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1) on NumPy arrays; on a GPU host the same tests launch them on the
device. Tiles of 4 rows and blocks of 8 threads keep the simulator quick; the sequence lengths
(1, 5, 6, 7, 9) are below, above and not multiples of the tile.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import mytorch
from mytorch.ops import cuda_flash_attention as fa
from mytorch.ops import cuda_kernels as ck
from tests.cuda.kernel_host import dev, host  # skips without numba-cuda

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TILE, THREADS = 4, 8
TOL = {np.float32: 2e-6, np.float16: 3e-3}  # vs the float64 reference, relative to the scale


def data(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def qkv(B, H, T, S, E, Ev, dtype, seed=0):
    return (data((B, H, T, E), dtype, seed), data((B, H, S, E), dtype, seed + 1),
            data((B, H, S, Ev), dtype, seed + 2), data((B, H, T, Ev), dtype, seed + 3))


def f64(a):
    return None if a is None else a.astype(np.float64)


def assert_close(got, want, dtype):
    got, want = host(got).astype(np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def bool_mask_as_float(allowed, dtype):
    return np.where(allowed, 0, -np.inf).astype(dtype)


def masked_row(T):
    return min(1, T - 1)


def masked_rows(T, S, shape):
    """A bool mask (True = attend) of `shape` (ending in (T, S)) with row masked_row(T) fully
    masked and a few holes elsewhere."""
    allowed = np.random.default_rng(7).random(shape) > 0.3
    allowed[..., 0, 0] = True
    allowed[..., masked_row(T), :] = False
    return allowed


# (B, H, T, S, E, Ev, causal, mask kind, dtype): T and S off the tile, T != S both ways,
# T = 1, D = 1, 3, 64, 128, value dim unlike the query's, every mask kind, float16.
CASES = [
    (1, 2, 5, 7, 3, 3, False, None, np.float32),
    (2, 1, 6, 5, 3, 2, True, None, np.float32),  # T > S: the last rows see every key
    (1, 1, 5, 9, 3, 3, True, None, np.float32),  # T < S
    (1, 1, 1, 3, 1, 1, False, None, np.float32),  # T = 1, D = 1
    (1, 1, 1, 1, 1, 1, True, None, np.float32),  # one query, one key
    (1, 2, 5, 7, 3, 4, False, "bool", np.float32),  # (T, S) bool mask, a fully masked row
    (2, 2, 5, 6, 3, 3, False, "float", np.float32),  # (B, 1, T, S) additive mask
    (1, 2, 5, 7, 3, 3, True, None, np.float16),
    (1, 1, 6, 5, 3, 3, False, "bool", np.float16),
    (1, 1, 5, 7, 64, 64, True, None, np.float32),
    (1, 1, 3, 5, 128, 128, False, None, np.float32),
]


def mask_for(kind, B, H, T, S, dtype):
    if kind == "bool":
        return bool_mask_as_float(masked_rows(T, S, (T, S)), dtype)
    if kind == "float":
        return data((B, 1, T, S), dtype, 9)
    return None


@pytest.mark.parametrize("B, H, T, S, E, Ev, causal, kind, dtype", CASES)
def test_kernels_match_the_reference(B, H, T, S, E, Ev, causal, kind, dtype):
    q, k, v, gy = qkv(B, H, T, S, E, Ev, dtype)
    mask = mask_for(kind, B, H, T, S, dtype)
    scale = 0.7 if kind == "float" else None
    y, lse = fa.flash_attention_forward(dev(q), dev(k), dev(v), dev(mask), causal, scale,
                                        tile=TILE, threads=THREADS)
    assert y.dtype == dtype and lse.dtype == np.float32 and lse.shape == (B, H, T)
    want_y, want_lse = fa.flash_attention_forward_reference(f64(q), f64(k), f64(v), f64(mask),
                                                            causal, scale)
    assert_close(y, want_y, dtype)
    lse = host(lse)
    assert np.array_equal(np.isinf(lse), np.isinf(want_lse))  # fully masked rows: +inf
    finite = np.isfinite(want_lse)
    np.testing.assert_allclose(lse[finite], want_lse[finite], rtol=1e-5, atol=1e-5)
    grads = fa.flash_attention_backward(dev(q), dev(k), dev(v), y, dev(lse), dev(gy),
                                        dev(mask), causal, scale, tile=TILE, threads=THREADS)
    # the reference's gradients from the kernel's (rounded) inputs, in float64
    want = fa.flash_attention_backward_reference(f64(q), f64(k), f64(v), f64(gy), f64(mask),
                                                 causal, scale)
    for got, w, a in zip(grads, want, (q, k, v)):
        assert got.dtype == dtype and got.shape == a.shape
        assert_close(got, w, dtype)
    if kind == "bool":  # the fully masked row: output and query grad 0, as torch
        row = masked_row(T)
        assert not host(y)[..., row, :].any() and not host(grads[0])[..., row, :].any()


def test_kernels_do_not_depend_on_the_tile_or_block():
    q, k, v, gy = qkv(1, 1, 9, 7, 5, 3, np.float32, seed=3)
    out = []
    for tile, threads in ((4, 8), (2, 3), (16, 32)):
        y, lse = fa.flash_attention_forward(dev(q), dev(k), dev(v), None, True, None, 0.25, 11,
                                            tile=tile, threads=threads)
        g = fa.flash_attention_backward(dev(q), dev(k), dev(v), y, lse, dev(gy), None, True,
                                        None, 0.25, 11, tile=tile, threads=threads)
        out.append([host(a) for a in (y, *g)])
    for other in out[1:]:
        for a, b in zip(out[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("causal, dtype", [(False, np.float32), (True, np.float32),
                                           (False, np.float16)])
def test_dropout_matches_the_reference_with_the_same_seed(causal, dtype):
    q, k, v, gy = qkv(2, 2, 5, 7, 3, 3, dtype, seed=5)
    mask = None if causal else bool_mask_as_float(masked_rows(5, 7, (5, 7)), dtype)
    y, lse = fa.flash_attention_forward(dev(q), dev(k), dev(v), dev(mask), causal, None, 0.4,
                                        1234, tile=TILE, threads=THREADS)
    want_y, _ = fa.flash_attention_forward_reference(f64(q), f64(k), f64(v), f64(mask), causal,
                                                     None, 0.4, 1234)
    assert_close(y, want_y, dtype)
    grads = fa.flash_attention_backward(dev(q), dev(k), dev(v), y, lse, dev(gy), dev(mask),
                                        causal, None, 0.4, 1234, tile=TILE, threads=THREADS)
    want = fa.flash_attention_backward_reference(f64(q), f64(k), f64(v), f64(gy), f64(mask),
                                                 causal, None, 0.4, 1234)
    for got, w in zip(grads, want):
        assert_close(got, w, dtype)


def kernel_keep_mask(B, H, T, S, p, seed):
    """The kernel's keep decisions, read off its output: q = k = 0 makes every probability
    1/S, and v = I makes output (i, j) = keep(i, j) / (S (1 - p))."""
    q, k = np.zeros((B, H, T, 2), np.float32), np.zeros((B, H, S, 2), np.float32)
    v = np.broadcast_to(np.eye(S, dtype=np.float32), (B, H, S, S)).copy()
    y, _ = fa.flash_attention_forward(dev(q), dev(k), dev(v), None, False, None, p, seed,
                                      tile=TILE, threads=THREADS)
    scaled = host(y) * S * (1 - p)
    assert np.allclose(scaled, np.round(scaled), atol=1e-4)  # every entry 0 or 1
    return np.round(scaled) == 1


def test_the_kernels_keep_mask_is_the_references():
    keep = kernel_keep_mask(2, 3, 6, 8, 0.5, seed=42)
    assert np.array_equal(keep, fa.dropout_keep_reference(42, (2, 3, 6, 8), 0.5))
    assert not np.array_equal(keep, kernel_keep_mask(2, 3, 6, 8, 0.5, seed=43))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keep_rate_and_scaling(p):
    # the hash's keep rate over 2 * 4 * 96 * 128 draws: within 5 standard deviations of 1 - p,
    # alike over rows, columns and heads
    shape = (2, 4, 96, 128)
    keep = fa.dropout_keep_reference(2024, shape, p)
    n, rate = keep.size, keep.mean()
    assert abs(rate - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    assert keep.mean(axis=(2, 3)).std() < 0.01  # (b, h) alike
    assert abs(keep[..., 0, :].mean() - (1 - p)) < 0.05  # the first row as the rest
    assert abs(keep[..., :, 0].mean() - (1 - p)) < 0.05
    # neighbouring draws are not correlated
    a, b = keep[..., :-1].astype(float).ravel(), keep[..., 1:].astype(float).ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    # scaling: with uniform probabilities and v = 1 the output's mean stays 1
    q, k = np.zeros((2, 4, 96, 1)), np.zeros((2, 4, 128, 1))
    y, _ = fa.flash_attention_forward_reference(q, k, np.ones((2, 4, 128, 1)), None, False,
                                                None, p, 2024)
    assert abs(y.mean() - 1) < 5 * np.sqrt(p / (1 - p) / n)
    assert abs(fa.dropout_keep_reference(7, shape, p).mean() - (1 - p)) < 0.01


def test_dropout_rate_zero_keeps_everything():
    assert fa.dropout_threshold(0.0) == 0
    assert fa.dropout_keep_reference(3, (1, 1, 4, 5), 0.0).all()


# ---------------------------------------------------------------- the reference vs torch


def torch_sdpa(q, k, v, gy, attn_mask, causal, scale):
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    mask = None if attn_mask is None else torch.tensor(attn_mask)
    y = torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=mask, is_causal=causal,
                                                         scale=scale)
    y.backward(torch.tensor(gy))
    return [t.detach().numpy() for t in (y, *(t.grad for t in ts))]


@pytest.mark.parametrize("T, S, causal, kind", [(5, 7, False, None), (6, 5, True, None),
                                                (5, 9, True, None), (1, 4, False, "bool"),
                                                (5, 7, False, "bool"), (5, 6, False, "float")])
def test_the_reference_matches_torch(T, S, causal, kind):
    q, k, v, gy = (a.astype(np.float64) for a in qkv(2, 3, T, S, 4, 5, np.float32, seed=1))
    allowed = masked_rows(T, S, (2, 1, T, S)) if kind == "bool" else None
    torch_mask = {"bool": allowed, "float": data((3, T, S), np.float64, 4), None: None}[kind]
    mask = bool_mask_as_float(allowed, np.float64) if kind == "bool" else torch_mask
    want = torch_sdpa(q, k, v, gy, torch_mask, causal, 0.6)
    y, lse = fa.flash_attention_forward_reference(q, k, v, mask, causal, 0.6)
    got = [y, *fa.flash_attention_backward_reference(q, k, v, gy, mask, causal, 0.6)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_the_reference_gradients_pass_gradcheck():
    q, k, v, _ = (torch.tensor(a.astype(np.float64), requires_grad=True)
                  for a in qkv(1, 2, 4, 5, 3, 2, np.float32, seed=2))
    mask = bool_mask_as_float(masked_rows(4, 5, (4, 5)), np.float64)

    class Reference(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v):
            ctx.save_for_backward(q, k, v)
            arrays = [a.detach().numpy() for a in (q, k, v)]
            y, _ = fa.flash_attention_forward_reference(*arrays, mask, False, None, 0.3, 8)
            return torch.tensor(y)

        @staticmethod
        def backward(ctx, gy):
            arrays = [a.detach().numpy() for a in ctx.saved_tensors]
            return tuple(torch.tensor(g) for g in fa.flash_attention_backward_reference(
                *arrays, gy.numpy(), mask, False, None, 0.3, 8))

    assert torch.autograd.gradcheck(Reference.apply, (q, k, v))


# ---------------------------------------------------------------- checks and fits


def test_bad_inputs_are_named_errors():
    q, k, v, _ = qkv(1, 2, 3, 4, 3, 3, np.float32)
    with pytest.raises(ValueError, match=r"flash_attention_forward: expected 4-D .* query "
                                         r"\(2, 3, 3\)"):
        fa.flash_attention_forward(q[0], k, v)
    with pytest.raises(ValueError, match=r"key \(1, 2, 4, 2\)"):
        fa.flash_attention_forward(q, k[..., :2], v)
    with pytest.raises(ValueError, match=r"head dims must be 1 \.\. 128"):
        fa.flash_attention_forward(*(np.zeros((1, 1, 2, 129), np.float32),) * 3)
    with pytest.raises(TypeError, match=r"float16 or float32 .* float32, float32, float16"):
        fa.flash_attention_forward(q, k, v.astype(np.float16))
    with pytest.raises(TypeError, match=r"got float64, float64, float64"):
        fa.flash_attention_forward(q.astype(np.float64), k.astype(np.float64),
                                   v.astype(np.float64))
    with pytest.raises(ValueError, match=r"mask of shape \(5,\) does not broadcast to the "
                                         r"scores' shape \(1, 2, 3, 4\)"):
        fa.flash_attention_forward(q, k, v, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\), got 1.0"):
        fa.flash_attention_forward(q, k, v, dropout_p=1.0)
    with pytest.raises(ValueError, match=r"need 1 <= tile <= 16 .* got tile 17"):
        fa.flash_attention_forward(q, k, v, tile=17)  # would not fit in shared memory
    with pytest.raises(ValueError, match=r"flash_attention_backward: expected output and grad "
                                         r"of shape \(1, 2, 3, 3\) float32"):
        fa.flash_attention_backward(q, k, v, q, np.zeros((1, 2, 3), np.float32), q[..., :2])


def test_fits_only_cuda_float16_32_four_d_arrays():
    q = np.zeros((1, 1, 2, 3), np.float32)
    assert not fa.fits(q, q, q)  # host arrays take the reference path
    if not mytorch.cuda.is_available():
        return
    cp = mytorch.backend.cupy
    d = cp.zeros((1, 2, 3, 4), np.float32)
    previous = ck.set_enabled(True)
    try:
        assert fa.fits(d, d, d) and fa.fits(d.astype(np.float16), *(d.astype(np.float16),) * 2)
        assert fa.fits(d, d, d, cp.zeros((3, 4), np.float32))
        assert not fa.fits(d, d, d, cp.zeros((3, 4), np.float16))  # mask of another dtype
        assert not fa.fits(*(d.astype(np.float64),) * 3)  # float64: the reference path
        assert not fa.fits(d[0], d[0], d[0])  # 3-D
        assert not fa.fits(*(cp.zeros((1, 1, 2, 129), np.float32),) * 3)  # D > 128
        assert not fa.fits(d[:, :, :0], d, d)  # no queries
        ck.set_enabled(False)
        assert not fa.fits(d, d, d)
    finally:
        ck.set_enabled(previous)


SHARED = """
    import json, re, types
    import numba.cuda
    numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(
        compute_capability=(8, 0))
    from mytorch.ops import cuda_flash_attention as fa
    out = {}
    for name, builds in fa.compile_targets().items():
        for kernel, sig in builds:
            ptx, _ = numba.cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
            sizes = re.findall(r"\\.shared \\.align \\d+ \\.b8 \\S+\\[(\\d+)\\]", ptx)
            out[f"{name} {sig}"] = sum(int(n) for n in sizes)
    print(json.dumps(out))
"""


def test_static_shared_memory_fits_in_48_kib():
    # a launch with more than 48 KiB of static shared memory fails on every target; the
    # production tile (16 rows of up to 128 float32s) must stay under it. Compiled to PTX
    # through NVVM in a child process (this one runs the simulator), as test_sources_compile.
    pytest.importorskip("nvidia.cuda_nvrtc")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SHARED)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    sizes = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(sizes) == 8  # 4 kernels x float16, float32
    assert all(n < 48 * 1024 for n in sizes.values()), sizes
    assert min(n for k, n in sizes.items() if "fwd" in k) >= 3 * 16 * 128 * 4  # q, k, v tiles
