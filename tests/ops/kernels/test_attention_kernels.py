"""The numba softmax loops of AttentionFunction against their NumPy references, and the
fused path of scaled_dot_product_attention against torch."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from mytorch.ops import _kernels_attention as KA
from mytorch.ops.attention import QUERY_BLOCK


def _scores(rng, shape, special=False):
    s = (rng.standard_normal(shape) * 4).astype(np.float32)
    if special:
        s[0, 1, :] = -np.inf  # a row with every key masked: zeros, lse = +inf
        s[0, 2, 0] = np.nan  # NaN spreads over its row, as in the reference
        s[0, 3, 1] = -np.inf  # one masked key: an exact zero
        s[0, 4, 2] = -200.0  # exp underflows to 0
    return s


def _forward_both(s, scale, n_keys):
    got, want = s.copy(), s.copy()
    N, R = int(np.prod(s.shape[:-2])), s.shape[-2]
    lse_got, lse_want = np.empty((N, R), np.float32), np.empty((N, R), np.float32)
    KA.softmax_scores_(got, scale, n_keys, lse_got)
    with np.errstate(invalid="ignore"):
        KA.softmax_scores_reference(want, scale, n_keys, lse_want)
    return got, want, lse_got, lse_want


@pytest.mark.parametrize("L,S", [(37, 37), (5, 40), (40, 5), (1, 1), (19, 33)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scale", [0.125, -0.7])
def test_softmax_scores_match_reference(L, S, causal, scale):
    rng = np.random.default_rng(L * 100 + S)
    s = _scores(rng, (2, 3, L, S))
    n_keys = KA.valid_keys(L, S, causal)
    got, want, lse_got, lse_want = _forward_both(s, scale, n_keys)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(lse_got, lse_want, rtol=1e-6, atol=1e-6)
    if causal:  # exact zeros past each query's keys
        assert (got[..., np.triu_indices(L, 1, S)[0], np.triu_indices(L, 1, S)[1]] == 0).all()
    dpd = rng.standard_normal(s.shape).astype(np.float32)
    p_got, g_got, p_want, g_want = s.copy(), dpd.copy(), s.copy(), dpd.copy()
    KA.softmax_scores_backward_(p_got, g_got, scale, n_keys, lse_got)
    KA.softmax_scores_backward_reference(p_want, g_want, scale, n_keys, lse_want)
    np.testing.assert_allclose(p_got, got, rtol=2e-6, atol=1e-7)  # recomputed probabilities
    np.testing.assert_allclose(p_got, p_want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(g_got, g_want, rtol=1e-5, atol=1e-6)


def test_softmax_scores_on_a_block_of_rows():
    # AttentionFunction's causal blocks: rows 8..15 of a causal (16, 16) matrix see their
    # first 9..16 keys; the lse goes to a strided column block of the whole (N, L) array
    rng = np.random.default_rng(9)
    s = _scores(rng, (3, 8, 16))
    n_keys = KA.valid_keys(16, 16, True)[8:]
    lse_all = np.full((3, 16), 7.0, np.float32)
    KA.softmax_scores_(s.copy(), 0.3, n_keys, lse_all[:, 8:])
    _, _, _, lse_want = _forward_both(s, 0.3, n_keys)
    np.testing.assert_allclose(lse_all[:, 8:], lse_want, rtol=1e-6, atol=1e-6)
    assert (lse_all[:, :8] == 7.0).all()


def test_softmax_scores_special_values():
    s = _scores(np.random.default_rng(0), (1, 6, 9), special=True)
    n_keys = KA.valid_keys(6, 9, False)
    got, want, lse_got, lse_want = _forward_both(s, 0.5, n_keys)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)  # NaNs compare equal
    np.testing.assert_array_equal(lse_got[0, :3], [lse_want[0, 0], np.inf, np.nan])
    assert (got[0, 1] == 0).all() and got[0, 3, 1] == 0 and got[0, 4, 2] == 0
    dpd = np.ones_like(s)
    p, g = s.copy(), dpd.copy()
    KA.softmax_scores_backward_(p, g, 0.5, n_keys, lse_got)
    assert (p[0, 1] == 0).all() and (g[0, 1] == 0).all()
    assert np.isnan(p[0, 2]).all()


def test_fits_only_numpy_float32():
    assert KA.fits(np.zeros((2, 3), np.float32))
    assert not KA.fits(np.zeros((2, 3), np.float64)) and not KA.fits(np.zeros(3, np.float32))


@pytest.mark.parametrize("causal", [False, True])
def test_fused_sdpa_matches_torch_on_strided_heads(causal):
    # GPT-2's layout: q, k, v are head views of one (B, T, 3C) array, not contiguous; T spans
    # three causal query blocks, the last one partial
    B, T, H, D = 2, 2 * QUERY_BLOCK + 7, 3, 16
    rng = np.random.default_rng(5)
    qkv = rng.standard_normal((B, T, 3 * H * D)).astype(np.float32)
    g = rng.standard_normal((B, H, T, D)).astype(np.float32)

    def heads(t):
        return [t[..., i * H * D:(i + 1) * H * D].reshape(B, T, H, D).transpose(1, 2)
                for i in range(3)]
    mqkv = mytorch.tensor(qkv, requires_grad=True)
    tqkv = torch.from_numpy(qkv).requires_grad_()
    my = F.scaled_dot_product_attention(*heads(mqkv), is_causal=causal)
    ty = torch.nn.functional.scaled_dot_product_attention(*heads(tqkv), is_causal=causal)
    my.backward(mytorch.tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mqkv.grad.numpy(), tqkv.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("L,S", [(QUERY_BLOCK + 5, 9), (9, QUERY_BLOCK + 5), (1, 3)])
def test_fused_sdpa_causal_matches_torch_when_lengths_differ(L, S):
    rng = np.random.default_rng(L + S)
    arrays = [rng.standard_normal((2, n, 8)).astype(np.float32) for n in (L, S, S)]
    g = rng.standard_normal((2, L, 8)).astype(np.float32)
    mine = [mytorch.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.from_numpy(a).requires_grad_() for a in arrays]
    my = F.scaled_dot_product_attention(*mine, is_causal=True)
    ty = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    my.backward(mytorch.tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_fused_attention_weights_and_their_gradient_match_the_general_path():
    # return_weights (MultiheadAttention's need_weights) takes the fused path as one block;
    # a float64 copy goes down the general path
    from mytorch.nn.functional.attention import attention
    rng = np.random.default_rng(11)
    L = QUERY_BLOCK + 3
    arrays = [rng.standard_normal((2, 3, n, 8)) for n in (L, 20, 20)]
    gy, gw = rng.standard_normal((2, 3, L, 8)), rng.standard_normal((2, 3, L, 20))
    results = []
    for dtype in (np.float32, np.float64):
        ts = [mytorch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        y, w = attention(*ts, None, 0.4, return_weights=True, is_causal=True)
        (y * mytorch.tensor(gy.astype(dtype))).sum().backward(retain_graph=True)
        (w * mytorch.tensor(gw.astype(dtype))).sum().backward()
        results.append([y.detach().numpy(), w.detach().numpy()] + [t.grad.numpy() for t in ts])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_is_causal_adds_to_a_mask():
    # AttentionFunction with a float mask and is_causal: the general path adds the two
    from mytorch.nn.functional.attention import attention
    from mytorch.ops.attention import causal_mask
    rng = np.random.default_rng(12)
    q, k, v = (mytorch.tensor(rng.standard_normal((2, 6, 4)).astype(np.float32))
               for _ in range(3))
    mask = mytorch.tensor(rng.standard_normal((6, 6)).astype(np.float32))
    got = attention(q, k, v, mask, 0.5, is_causal=True)
    want = attention(q, k, v, mask + causal_mask(6, 6, q), 0.5)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    assert np.abs(got.numpy() - attention(q, k, v, mask, 0.5).numpy()).max() > 1e-3
