"""Distances against PyTorch: normalize, cosine_similarity, pairwise_distance and their modules."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from tests.helpers import check


def _lib(x):
    return (torch, TF, torch.nn) if isinstance(x, torch.Tensor) else (mytorch, F, nn)




def test_distance_modules():
    check(lambda a, b: _lib(a)[2].CosineSimilarity(dim=-1, eps=1e-6)(a, b),
          shapes=[(3, 4), (1, 4)])
    check(lambda a, b: _lib(a)[2].PairwiseDistance(p=3.0, keepdim=True)(a, b),
          shapes=[(3, 4), (3, 4)], noncontig=True)
    assert repr(nn.PairwiseDistance()) == repr(torch.nn.PairwiseDistance())
    assert nn.PairwiseDistance(1.5).norm == torch.nn.PairwiseDistance(1.5).norm


@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((2, 3, 4), -1), ((2, 3, 4), 0), ((7,), 0)])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_normalize(shape, dim, p, device):
    check(lambda x: F.normalize(x, p=p, dim=dim), [shape],
          torch_fn=lambda x: TF.normalize(x, p=p, dim=dim), device=device)
    check(lambda x: F.normalize(x, p=p, dim=dim), [shape],
          torch_fn=lambda x: TF.normalize(x, p=p, dim=dim), dtype=np.float64, noncontig=True,
          device=device)


def test_normalize_zero_rows_have_zero_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[1] = 0.0
    x[2] = 1e-14  # norm below eps: clamped
    for p in (2.0, 3.0):
        check(lambda x: F.normalize(x, p=p), inputs=[x],
              torch_fn=lambda x: TF.normalize(x, p=p))


@pytest.mark.parametrize("shapes,dim", [([(4, 5), (4, 5)], 1), ([(2, 3, 4), (2, 3, 4)], -1),
                                        ([(2, 1, 4), (3, 4)], 1), ([(5,), (5,)], 0),
                                        ([(3, 4), (1, 4)], 0)])
def test_cosine_similarity(shapes, dim, device):
    check(lambda a, b: F.cosine_similarity(a, b, dim=dim), shapes,
          torch_fn=lambda a, b: TF.cosine_similarity(a, b, dim=dim), device=device)
    check(lambda a, b: F.cosine_similarity(a, b, dim=dim), shapes,
          torch_fn=lambda a, b: TF.cosine_similarity(a, b, dim=dim), dtype=np.float64,
          noncontig=True, device=device)


def test_cosine_similarity_zero_and_tiny_vectors():
    a = np.random.default_rng(0).standard_normal((4, 3))
    b = np.random.default_rng(1).standard_normal((4, 3))
    a[1] = 0.0
    a[2] = 1e-10  # norm below eps: clamped in value, gradient still flows (as torch)
    check(lambda a, b: F.cosine_similarity(a, b), inputs=[a, b],
          torch_fn=lambda a, b: TF.cosine_similarity(a, b))


@pytest.mark.parametrize("shapes", [[(4, 5), (4, 5)], [(2, 3, 4), (3, 4)], [(5,), (5,)],
                                    [(4, 5), (1, 5)]])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(shapes, p, keepdim, device):
    check(lambda a, b: F.pairwise_distance(a, b, p=p, keepdim=keepdim), shapes,
          torch_fn=lambda a, b: TF.pairwise_distance(a, b, p=p, keepdim=keepdim),
          device=device)
    check(lambda a, b: F.pairwise_distance(a, b, p=p, eps=0.0, keepdim=keepdim), shapes,
          torch_fn=lambda a, b: TF.pairwise_distance(a, b, p=p, eps=0.0, keepdim=keepdim),
          dtype=np.float64, noncontig=True, device=device)


def test_distances_bad_input():
    with pytest.raises(RuntimeError, match="cosine_similarity.*\\(2, 3\\).*\\(2, 4\\)"):
        F.cosine_similarity(mytorch.randn(2, 3), mytorch.randn(2, 4))
    with pytest.raises(RuntimeError, match="pairwise_distance.*\\(2, 3\\).*\\(2, 4\\)"):
        F.pairwise_distance(mytorch.randn(2, 3), mytorch.randn(2, 4))
    with pytest.raises(IndexError, match="normalize"):
        F.normalize(mytorch.randn(2, 3), dim=2)
    with pytest.raises(TypeError, match="normalize.*int64"):
        F.normalize(mytorch.tensor([1, 2]), dim=0)
