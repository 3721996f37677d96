"""The numba softmax loops of AttentionFunction against their NumPy references, and the
fused path of scaled_dot_product_attention against torch."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from mytorch.ops import _kernels_attention as KA


def _scores(rng, shape, special=False):
    s = (rng.standard_normal(shape) * 4).astype(np.float32)
    if special:
        s[0, 1, :] = -np.inf  # a row with every key masked: zeros, lse = +inf
        s[0, 2, 0] = np.nan  # NaN spreads over its row, as in the reference
        s[0, 3, 1] = -np.inf  # one masked key: an exact zero
        s[0, 4, 2] = -200.0  # exp underflows to 0
    return s


def _forward_both(s, scale, causal):
    got, want = s.copy(), s.copy()
    lse_got = KA.softmax_scores_(got, scale, causal)
    with np.errstate(invalid="ignore"):
        lse_want = KA.softmax_scores_reference(want, scale, causal)
    return got, want, lse_got, lse_want


@pytest.mark.parametrize("L,S", [(37, 37), (5, 40), (40, 5), (1, 1), (19, 33)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scale", [0.125, -0.7])
def test_softmax_scores_match_reference(L, S, causal, scale):
    rng = np.random.default_rng(L * 100 + S)
    s = _scores(rng, (2, 3, L, S))
    got, want, lse_got, lse_want = _forward_both(s, scale, causal)
    assert lse_got.shape == (2, 3, L, 1) and lse_got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(lse_got, lse_want, rtol=1e-6, atol=1e-6)
    if causal:  # exact zeros past each query's keys
        assert (got[..., np.triu_indices(L, 1, S)[0], np.triu_indices(L, 1, S)[1]] == 0).all()
    dpd = rng.standard_normal(s.shape).astype(np.float32)
    p_got, g_got, p_want, g_want = s.copy(), dpd.copy(), s.copy(), dpd.copy()
    KA.softmax_scores_backward_(p_got, g_got, scale, causal, lse_got)
    KA.softmax_scores_backward_reference(p_want, g_want, scale, causal, lse_want)
    np.testing.assert_allclose(p_got, got, rtol=2e-6, atol=1e-7)  # recomputed probabilities
    np.testing.assert_allclose(p_got, p_want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(g_got, g_want, rtol=1e-5, atol=1e-6)


def test_softmax_scores_special_values():
    s = _scores(np.random.default_rng(0), (1, 6, 9), special=True)
    got, want, lse_got, lse_want = _forward_both(s, 0.5, False)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)  # NaNs compare equal
    np.testing.assert_array_equal(lse_got[0, :3, 0], [lse_want[0, 0, 0], np.inf, np.nan])
    assert (got[0, 1] == 0).all() and got[0, 3, 1] == 0 and got[0, 4, 2] == 0
    dpd = np.ones_like(s)
    p, g = s.copy(), dpd.copy()
    KA.softmax_scores_backward_(p, g, 0.5, False, lse_got)
    assert (p[0, 1] == 0).all() and (g[0, 1] == 0).all()
    assert np.isnan(p[0, 2]).all()


def test_fits_only_numpy_float32():
    assert KA.fits(np.zeros((2, 3), np.float32))
    assert not KA.fits(np.zeros((2, 3), np.float64)) and not KA.fits(np.zeros(3, np.float32))


@pytest.mark.parametrize("causal", [False, True])
def test_fused_sdpa_matches_torch_on_strided_heads(causal):
    # GPT-2's layout: q, k, v are head views of one (B, T, 3C) array, not contiguous
    B, T, H, D = 2, 70, 3, 16
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
