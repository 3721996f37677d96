"""Embedding against PyTorch: lookups, padding_idx, max_norm renormalisation, gradients."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("ishape", [(5,), (3, 4), (2, 2, 3)])
def test_embedding_matches_torch(ishape, padding_idx, auto, device):
    idx = np.random.default_rng(0).integers(0, 6, ishape)
    idx.reshape(-1)[0] = idx.reshape(-1)[1] = 2  # repeats and the padding row
    check(lambda w: F.embedding(mytorch.tensor(idx, device=w.device), w, padding_idx, auto=auto),
          [(6, 3)], torch_fn=lambda w: TF.embedding(torch.from_numpy(idx), w, padding_idx),
          device=device)


@pytest.mark.parametrize("auto", [False, True])
def test_embedding_module_padding_row(auto):
    m = nn.Embedding(10, 4, padding_idx=0, auto=auto)
    t = torch.nn.Embedding(10, 4, padding_idx=0)
    assert repr(m) == repr(t)
    w = m.weight.detach().numpy()
    assert (w[0] == 0).all() and w.dtype == np.float32
    idx = mytorch.tensor([[0, 1, 1], [3, 0, 9]])
    m(idx).sum().backward()
    g = m.weight.grad.numpy()
    assert (g[0] == 0).all() and (g[1] == 2).all() and (g[2] == 0).all()


def test_embedding_init_is_standard_normal():
    w = nn.Embedding(1000, 100).weight.detach().numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_embedding_gradcheck():
    idx = mytorch.tensor([[1, 2, 1], [0, 3, 3]])
    w = mytorch.tensor(np.random.default_rng(0).standard_normal((4, 2)), requires_grad=True)
    assert gradcheck(lambda t: F.embedding(idx, t), [w])  # padding rows differ by design


def test_embedding_bad_input():
    m = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"index 5 is out of range .* 5 rows"):
        m(mytorch.tensor([1, 5]))
    with pytest.raises(TypeError, match="integer"):
        m(mytorch.tensor([1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=7)


def test_embedding_from_pretrained():
    w = mytorch.randn(4, 3)
    m = nn.Embedding.from_pretrained(w)
    assert not m.weight.requires_grad
    np.testing.assert_array_equal(m(mytorch.tensor([2])).numpy()[0], w.numpy()[2])


rng = np.random.default_rng(0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_embedding_max_norm_renormalises_rows(norm_type):
    w = rng.standard_normal((6, 4)) * 3
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    m = nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type, _weight=mytorch.Tensor(w.copy()))
    t = torch.nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type,
                           _weight=torch.tensor(w.copy()))
    out, tout = m(mytorch.Tensor(idx)), t(torch.from_numpy(idx))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.weight.detach().numpy(), t.weight.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(mytorch.Tensor(g))
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12)
    assert repr(m) == repr(t)


def test_embedding_functional_max_norm_in_place():
    w = mytorch.Tensor(rng.standard_normal((4, 3)) * 5)
    tw = torch.from_numpy(w.numpy().copy())
    F.embedding(mytorch.Tensor(np.array([1, 3])), w, max_norm=2.0)
    TF.embedding(torch.tensor([1, 3]), tw, max_norm=2.0)
    np.testing.assert_allclose(w.numpy(), tw.numpy(), rtol=1e-12)
