"""F.scaled_dot_product_attention on CUDA tensors takes the flash-attention kernels of
mytorch.ops.cuda_flash_attention where they fit, and matches the reference path and PyTorch,
forward and backward.

Runs on a real GPU or on the CuPy stand-in, where numba's simulator runs the kernels on the
stand-in's host memory; tiles of 4 rows and blocks of 8 threads keep it quick.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

import mytorch
from mytorch.nn import functional as F
from mytorch.nn.functional import attention as attention_module
from mytorch.ops import cuda_flash_attention as fa
from mytorch.ops import cuda_kernels as ck

pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(),
                                reason="needs CUDA: a GPU or the CuPy stand-in")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = {np.float32: (1e-5, 1e-5), np.float16: (5e-3, 5e-3)}  # rtol, atol vs torch in float64
KERNELS = ["flash_attn_fwd", "flash_attn_bwd_pre", "flash_attn_bwd_kv", "flash_attn_bwd_q"]


@pytest.fixture
def launches(monkeypatch):
    """The fused path on, in tiles of 4 rows and blocks of 8 threads; gives the list of the
    flash kernels launched so far."""
    monkeypatch.setattr(fa, "TILE", 4)
    monkeypatch.setattr(fa, "THREADS", 8)
    monkeypatch.setattr(ck, "_enabled", True)
    names, launch = [], fa._launch

    def counted(name, *args):
        names.append(name)
        return launch(name, *args)

    monkeypatch.setattr(fa, "_launch", counted)
    return names


def data(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run(arrays, kwargs, fused, mask=None):
    """F.scaled_dot_product_attention on CUDA tensors made from q, k, v `arrays`, forward and
    backward against a fixed gy, with the fused kernels on or off: output and grads on the
    host."""
    previous = ck.set_enabled(fused)
    try:
        ts = [mytorch.tensor(a, device="cuda", requires_grad=True) for a in arrays]
        m = None if mask is None else mytorch.tensor(mask, device="cuda")
        y = F.scaled_dot_product_attention(*ts, attn_mask=m, **kwargs)
        gy = data(y.shape, arrays[0].dtype, 99)
        y.backward(mytorch.tensor(gy, device="cuda"))
        return [t.detach().cpu().numpy() for t in (y, *(t.grad for t in ts))]
    finally:
        ck.set_enabled(previous)


def torch_run(arrays, kwargs, mask=None):
    ts = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    if mask is not None:
        mask = torch.tensor(mask if mask.dtype == bool else mask.astype(np.float64))
    y = torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=mask, **kwargs)
    y.backward(torch.tensor(data(tuple(y.shape), arrays[0].dtype, 99).astype(np.float64)))
    return [t.detach().numpy() for t in (y, *(t.grad for t in ts))]


def check(arrays, launches, mask=None, kernels=KERNELS, **kwargs):
    """The call launches `kernels` (in order), and fused == reference == torch (float64) on the
    output and every grad."""
    dtype = arrays[0].dtype.type
    fused = run(arrays, kwargs, True, mask)
    assert launches == kernels
    reference = run(arrays, kwargs, False, mask)
    assert launches == kernels  # the reference path launched nothing more
    want = torch_run(arrays, kwargs, mask)
    rtol, atol = TOL[dtype]
    for got, ref, w in zip(fused, reference, want):
        assert got.dtype == dtype and got.shape == w.shape
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(got.astype(np.float64), w, rtol=rtol, atol=atol * scale)
        np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=rtol,
                                   atol=atol * scale)


def qkv(B, H, T, S, E, Ev, dtype, seed=0):
    return [data((B, H, T, E), dtype, seed), data((B, H, S, E), dtype, seed + 1),
            data((B, H, S, Ev), dtype, seed + 2)]


# (B, H, T, S, E, Ev, dtype, is_causal): T != S both ways, T = 1, D = 1, odd D, float16
SHAPES = [(2, 2, 5, 7, 3, 3, np.float32, False), (1, 2, 6, 5, 5, 5, np.float32, True),
          (1, 1, 5, 9, 3, 2, np.float32, True), (2, 1, 1, 6, 3, 3, np.float32, False),
          (1, 2, 5, 5, 1, 1, np.float32, True), (1, 2, 7, 6, 3, 3, np.float16, True),
          (1, 1, 1, 1, 4, 4, np.float16, False)]


@pytest.mark.parametrize("B, H, T, S, E, Ev, dtype, is_causal", SHAPES)
def test_sdpa_takes_the_flash_kernels(launches, B, H, T, S, E, Ev, dtype, is_causal):
    check(qkv(B, H, T, S, E, Ev, dtype), launches, is_causal=is_causal)


@pytest.mark.parametrize("shape", [(5, 7), (2, 1, 5, 7), (1, 2, 1, 7)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_a_boolean_mask_with_a_fully_masked_row(launches, shape, dtype):
    allowed = np.random.default_rng(3).random(shape) > 0.4
    if shape[-2] > 1:
        allowed[..., 0, :] = True
        allowed[..., 2, :] = False  # every key masked: output and grads 0, as torch
    else:  # one row for every query: mask all of head 1's keys
        allowed[..., 0, 0, :] = True
        allowed[..., 1, 0, :] = False
    check(qkv(2, 2, 5, 7, 3, 4, dtype), launches, mask=allowed)


@pytest.mark.parametrize("shape", [(5, 6), (2, 1, 5, 6), (2, 2, 5, 6)], ids=str)
def test_an_additive_float_mask(launches, shape):
    mask = data(shape, np.float32, 5)
    mask[..., 1, 3] = -np.inf
    check(qkv(2, 2, 5, 6, 3, 3, np.float32), launches, mask=mask, scale=0.4)


def test_dropout_matches_the_kernels_reference_for_its_seed(launches, monkeypatch):
    # the path draws a seed from mytorch's CUDA generator; fixed here to compare with the
    # reference for that seed
    monkeypatch.setattr(attention_module, "_dropout_seed", lambda q: 777)
    q, k, v = qkv(2, 2, 5, 7, 3, 3, np.float32)
    gy = data((2, 2, 5, 3), np.float32, 1)
    ts = [mytorch.tensor(a, device="cuda", requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, dropout_p=0.3, is_causal=True)
    y.backward(mytorch.tensor(gy, device="cuda"))
    assert launches == KERNELS
    f64 = [a.astype(np.float64) for a in (q, k, v, gy)]
    want_y, _ = fa.flash_attention_forward_reference(*f64[:3], None, True, None, 0.3, 777)
    want = fa.flash_attention_backward_reference(*f64, None, True, None, 0.3, 777)
    for got, w in zip((y, *(t.grad for t in ts)), (want_y, *want)):
        np.testing.assert_allclose(got.detach().cpu().numpy(), w, rtol=1e-5, atol=1e-5)


def test_dropout_seeds_come_from_the_cuda_generator(launches):
    q, k, v = (mytorch.tensor(a, device="cuda") for a in qkv(1, 2, 4, 6, 3, 3, np.float32))

    def draw():
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).cpu().numpy()

    mytorch.manual_seed(5)
    first, second = draw(), draw()
    mytorch.manual_seed(5)
    assert np.array_equal(draw(), first)  # reproducible under manual_seed
    assert not np.array_equal(first, second)  # a new mask each call
    assert launches == ["flash_attn_fwd"] * 3


def test_the_reference_path_is_kept_where_the_kernels_do_not_apply(launches):
    q, k, v = qkv(1, 2, 3, 4, 3, 3, np.float32)
    cuda = [mytorch.tensor(a, device="cuda") for a in (q, k, v)]
    F.scaled_dot_product_attention(*(t.double() for t in cuda))  # float64
    F.scaled_dot_product_attention(*(t[0] for t in cuda))  # 3-D
    F.scaled_dot_product_attention(*(mytorch.tensor(a) for a in (q, k, v)))  # CPU
    F.scaled_dot_product_attention(*cuda, auto=True)
    big = mytorch.zeros((1, 1, 2, 129), device="cuda")
    F.scaled_dot_product_attention(big, big, big)  # head dim over 128
    assert launches == []
    # a mask that needs a gradient: the kernels give none, so the reference path runs
    mask = mytorch.zeros((3, 4), device="cuda", requires_grad=True)
    F.scaled_dot_product_attention(*cuda, attn_mask=mask).sum().backward()
    assert launches == [] and mask.grad is not None and mask.grad.shape == (3, 4)
    F.scaled_dot_product_attention(*cuda)
    assert launches == ["flash_attn_fwd"]


def test_bfloat16_computes_in_float32_through_the_kernels(launches):
    q, k, v = qkv(1, 2, 5, 6, 3, 3, np.float32)
    ts = [mytorch.tensor(a, device="cuda").to(mytorch.bfloat16) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, is_causal=True)
    assert y.dtype == mytorch.bfloat16 and launches == ["flash_attn_fwd"]
    tt = [torch.tensor(a).to(torch.bfloat16) for a in (q, k, v)]
    want = torch.nn.functional.scaled_dot_product_attention(*(t.double() for t in tt),
                                                            is_causal=True)
    np.testing.assert_allclose(y.float().cpu().numpy(), want.numpy(), rtol=1e-2, atol=1e-2)


def test_double_backward_through_the_flash_path(launches):
    # create_graph differentiates FlashAttentionFunction's composite; forward is the kernel's
    q, k, v = qkv(1, 2, 4, 5, 3, 3, np.float32)
    gy = data((1, 2, 4, 3), np.float32, 1)
    ts = [mytorch.tensor(a, device="cuda", requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, is_causal=True)
    (g,) = mytorch.autograd.grad(y, ts[0], mytorch.tensor(gy, device="cuda"), create_graph=True)
    (g * g).sum().backward()
    assert launches[0] == "flash_attn_fwd"
    tt = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in (q, k, v)]
    with sdpa_kernel(SDPBackend.MATH):  # torch's fused CPU kernel has no double backward
        yt = torch.nn.functional.scaled_dot_product_attention(*tt, is_causal=True)
    (gt,) = torch.autograd.grad(yt, tt[0], torch.tensor(gy.astype(np.float64)),
                                create_graph=True)
    (gt * gt).sum().backward()
    np.testing.assert_allclose(g.detach().cpu().numpy(), gt.detach().numpy(), atol=1e-5)
    for ours, theirs in zip(ts, tt):
        np.testing.assert_allclose(ours.grad.cpu().numpy(), theirs.grad.numpy(), rtol=1e-4,
                                   atol=1e-5)


def test_errors_are_unchanged_on_the_flash_path(launches):
    q = mytorch.zeros((1, 1, 3, 4), device="cuda")
    with pytest.raises(RuntimeError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=mytorch.ones((3, 3), device="cuda"),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(2, 3\) does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=mytorch.zeros((2, 3), device="cuda"))
    assert launches == []


LAUNCHES = """
    import numpy as np, mytorch
    from mytorch.nn import functional as F
    from mytorch.ops import cuda_flash_attention as fa
    fa.TILE, fa.THREADS, names, launch = 4, 8, [], fa._launch
    fa._launch = lambda name, *args: (names.append(name), launch(name, *args))
    q = mytorch.tensor(np.ones((1, 1, 3, 2), np.float32), device="cuda", requires_grad=True)
    F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
    print(names)
"""


@pytest.mark.parametrize("value, want", [("0", []), ("1", KERNELS)])
def test_the_environment_switch_in_a_new_process(value, want):
    env = dict(os.environ, MYTORCH_FUSED=value)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(LAUNCHES)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == str(want)
