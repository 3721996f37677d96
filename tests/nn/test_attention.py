import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from mytorch.ops.attention import AttentionFunction
from tests.helpers import check

TF = torch.nn.functional


def _np(t):
    return t.detach().cpu().numpy()


# ---- scaled_dot_product_attention ----

@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("shapes", [[(4, 5), (6, 5), (6, 3)], [(2, 3, 4, 5), (2, 3, 6, 5),
                                                                (2, 3, 6, 7)]])
@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.3}])
def test_sdpa_matches_torch(auto, shapes, kw, device):
    check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, auto=auto, **kw)
          if isinstance(q, mytorch.Tensor) else TF.scaled_dot_product_attention(q, k, v, **kw),
          shapes, device=device)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("mshape", [(4, 6), (2, 1, 4, 6), (2, 3, 4, 6)])
def test_sdpa_bool_mask_matches_torch(auto, mshape, device):
    rng = np.random.default_rng(0)
    mask = rng.random(mshape) > 0.4
    mask[..., 0] = True
    mask[..., 1, :] = False  # a fully masked query row: zeros out, zero grads (as torch)
    q, k, v = (rng.standard_normal(s).astype(np.float32)
               for s in [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)])
    out = check(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, auto=auto)
                if isinstance(q, mytorch.Tensor)
                else TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
                inputs=[q, k, v, mask], device=device)
    assert np.all(_np(out)[:, :, 1] == 0)


@pytest.mark.parametrize("auto", [False, True])
def test_sdpa_float_mask_matches_torch_with_grad(auto, device):
    # The float mask is an input too: its gradient is compared with torch's.
    check(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, auto=auto)
          if isinstance(q, mytorch.Tensor) else TF.scaled_dot_product_attention(q, k, v,
                                                                                attn_mask=m),
          [(2, 4, 5), (2, 6, 5), (2, 6, 3), (4, 6)], device=device)


def test_sdpa_gradcheck():
    rng = np.random.default_rng(0)
    q, k, v, m = (mytorch.tensor(rng.standard_normal(s), requires_grad=True)
                  for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)])
    assert gradcheck(lambda q, k, v, m: AttentionFunction.apply(q, k, v, m, scale=0.5),
                     [q, k, v, m])
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                     [q, k, v])


def test_sdpa_dropout_backward_gradcheck():
    # Same seed in every call: the dropout pattern is fixed, so finite differences apply.
    rng = np.random.default_rng(0)
    q, k, v = (mytorch.tensor(rng.standard_normal(s), requires_grad=True)
               for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)])

    def fn(q, k, v):
        out, w = AttentionFunction.apply(q, k, v, None, scale=0.5, dropout_p=0.3,
                                         rng=np.random.default_rng(7), return_weights=True)
        return out, w
    assert gradcheck(fn, [q, k, v])


def test_sdpa_dropout_changes_output():
    rng = np.random.default_rng(0)
    q, k, v = (mytorch.tensor(rng.standard_normal((2, 8, 4)).astype(np.float32))
               for _ in range(3))
    y0 = _np(F.scaled_dot_product_attention(q, k, v))
    for auto in (False, True):
        y1 = _np(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, auto=auto))
        y2 = _np(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, auto=auto))
        assert not np.allclose(y1, y0) and not np.allclose(y1, y2)
    np.testing.assert_allclose(_np(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)), y0)


def test_sdpa_bad_input():
    q, k, v = mytorch.randn(2, 4, 5), mytorch.randn(2, 6, 5), mytorch.randn(2, 6, 3)
    with pytest.raises(RuntimeError, match=r"scaled_dot_product_attention.*\(2, 6, 4\)"):
        F.scaled_dot_product_attention(q, mytorch.randn(2, 6, 4), v)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(3, 6\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mytorch.zeros(3, 6))
    with pytest.raises(RuntimeError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mytorch.zeros(4, 6), is_causal=True)
    with pytest.raises(TypeError, match="dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)


# ---- MultiheadAttention ----

E, NH, L, S, N = 8, 2, 4, 5, 3


def _copy_to_torch(m, tm):
    tm.load_state_dict({k: torch.from_numpy(_np(v).copy()) for k, v in m.state_dict().items()})


def _check_mha_parity(m, tm, q, k, v, kwargs, device="cpu", self_attn=False):
    _copy_to_torch(m, tm)
    m.to(device)
    mq, tq = mytorch.Tensor(q, device=device, requires_grad=True), torch.from_numpy(q.copy())
    tq.requires_grad_()
    if self_attn:
        margs, targs = (mq, mq, mq), (tq, tq, tq)
    else:
        mk, mv = (mytorch.Tensor(a, device=device, requires_grad=True) for a in (k, v))
        tk, tv = (torch.from_numpy(a.copy()).requires_grad_() for a in (k, v))
        margs, targs = (mq, mk, mv), (tq, tk, tv)
    mkw = {n: mytorch.Tensor(a, device=device) if isinstance(a, np.ndarray) else a
           for n, a in kwargs.items()}
    tkw = {n: torch.from_numpy(a) if isinstance(a, np.ndarray) else a for n, a in kwargs.items()}
    y, w = m(*margs, **mkw)
    ty, tw = tm(*targs, **tkw)
    np.testing.assert_allclose(_np(y), _np(ty), atol=1e-5, rtol=1e-4)
    assert (w is None) == (tw is None)
    rng = np.random.default_rng(5)
    py = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    loss_m = (y * mytorch.Tensor(py, device=device)).sum()
    loss_t = (ty * torch.from_numpy(py)).sum()
    if w is not None:
        np.testing.assert_allclose(_np(w), _np(tw), atol=1e-5, rtol=1e-4)
        pw = rng.standard_normal(tuple(tw.shape)).astype(np.float32)
        loss_m = loss_m + (w * mytorch.Tensor(pw, device=device)).sum()
        loss_t = loss_t + (tw * torch.from_numpy(pw)).sum()
    loss_m.backward()
    loss_t.backward()
    for a, b in zip(margs if not self_attn else margs[:1], targs if not self_attn else targs[:1]):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), atol=1e-4, rtol=1e-3)
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(_np(p.grad), tp[name].grad.numpy(), atol=1e-4, rtol=1e-3,
                                   err_msg=name)
    return y, w


def _inputs(batch_first, kdim=E, vdim=E, batched=True, seed=0):
    rng = np.random.default_rng(seed)

    def arr(n, d):
        shape = ((N, n, d) if batch_first else (n, N, d)) if batched else (n, d)
        return rng.standard_normal(shape).astype(np.float32)
    return arr(L, E), arr(S, kdim), arr(S, vdim)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("average", [True, False])
def test_mha_self_attention_matches_torch(auto, batch_first, average, device):
    m = nn.MultiheadAttention(E, NH, batch_first=batch_first, auto=auto)
    tm = torch.nn.MultiheadAttention(E, NH, batch_first=batch_first)
    q = _inputs(batch_first)[0]
    causal = ~np.tril(np.ones((L, L), dtype=bool))  # True = masked, as torch's MHA
    y, w = _check_mha_parity(m, tm, q, q, q, {"attn_mask": causal, "average_attn_weights": average,
                                        "is_causal": True}, device, self_attn=True)
    assert tuple(w.shape) == ((N, L, L) if average else (N, NH, L, L))


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["kpm_bool", "both_bool", "float_3d", "kpm_float"])
def test_mha_cross_attention_masks_match_torch(auto, batch_first, masks, device):
    m = nn.MultiheadAttention(E, NH, batch_first=batch_first, auto=auto)
    tm = torch.nn.MultiheadAttention(E, NH, batch_first=batch_first)
    rng = np.random.default_rng(1)
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, 3:] = True
    kpm[2, 0] = True
    am = rng.random((L, S)) > 0.7
    am[:, 1] = False
    kwargs = {"kpm_bool": {"key_padding_mask": kpm},
              "both_bool": {"key_padding_mask": kpm, "attn_mask": am},
              "float_3d": {"attn_mask": rng.standard_normal((N * NH, L, S)).astype(np.float32)},
              "kpm_float": {"key_padding_mask": np.where(kpm, -1e9, 0).astype(np.float32),
                            "attn_mask": rng.standard_normal((L, S)).astype(np.float32)}}[masks]
    _check_mha_parity(m, tm, *_inputs(batch_first), kwargs, device)


@pytest.mark.parametrize("auto", [False, True])
def test_mha_kdim_vdim_no_weights_no_bias(auto):
    kw = dict(kdim=3, vdim=6, bias=False)
    m, tm = nn.MultiheadAttention(E, NH, auto=auto, **kw), torch.nn.MultiheadAttention(E, NH, **kw)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    y, w = _check_mha_parity(m, tm, *_inputs(False, 3, 6), {"need_weights": False})
    assert w is None


def test_mha_bias_kv_zero_attn_unbatched():
    kw = dict(add_bias_kv=True, add_zero_attn=True)
    m, tm = nn.MultiheadAttention(E, NH, **kw), torch.nn.MultiheadAttention(E, NH, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    kpm = np.zeros(S, dtype=bool)
    kpm[0] = True
    y, w = _check_mha_parity(m, tm, *_inputs(False, batched=False), {"key_padding_mask": kpm})
    assert tuple(y.shape) == (L, E) and tuple(w.shape) == (L, S + 2)


def test_mha_keys_repr_and_init():
    m, tm = nn.MultiheadAttention(16, 4), torch.nn.MultiheadAttention(16, 4)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    assert repr(m).splitlines()[0] == repr(tm).splitlines()[0]
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform on (48, 16)
    w = _np(m.in_proj_weight)
    assert np.abs(w).max() <= bound and w.std() > bound / 4
    assert np.all(_np(m.in_proj_bias) == 0) and np.all(_np(m.out_proj.bias) == 0)


@pytest.mark.parametrize("auto", [False, True])
def test_mha_dropout_train_eval(auto):
    m = nn.MultiheadAttention(E, NH, dropout=0.5, auto=auto)
    tm = torch.nn.MultiheadAttention(E, NH, dropout=0.5)
    _copy_to_torch(m, tm)
    q, k, v = (mytorch.Tensor(a) for a in _inputs(False))
    y1, y2 = _np(m(q, k, v)[0]), _np(m(q, k, v)[0])
    assert not np.allclose(y1, y2)
    m.eval()
    tm.eval()
    ye = _np(m(q, k, v)[0])
    np.testing.assert_allclose(ye, _np(m(q, k, v)[0]))
    ty = tm(*(torch.from_numpy(a) for a in _inputs(False)))[0]
    np.testing.assert_allclose(ye, _np(ty), atol=1e-5)


def test_mha_bad_input():
    m = nn.MultiheadAttention(E, NH)
    q, k, v = (mytorch.Tensor(a) for a in _inputs(False))
    with pytest.raises(ValueError, match=r"MultiheadAttention.*query.*\(4, 3, 5\)"):
        m(mytorch.randn(L, N, 5), k, v)
    with pytest.raises(ValueError, match=r"key_padding_mask.*\(3, 5\).*\(3, 4\)"):
        m(q, k, v, key_padding_mask=mytorch.zeros(N, 4, dtype=mytorch.bool))
    with pytest.raises(ValueError, match=r"attn_mask.*\(4, 5\).*\(4, 4\)"):
        m(q, k, v, attn_mask=mytorch.zeros(L, 4))
    with pytest.raises(ValueError, match="batch size"):
        m(q, mytorch.randn(S, 2, E), mytorch.randn(S, 2, E))
    with pytest.raises(RuntimeError, match="is_causal.*attn_mask"):
        m(q, q, q, is_causal=True)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
