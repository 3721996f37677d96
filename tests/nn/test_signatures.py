"""Layer and functional signatures match PyTorch's, parameter for parameter."""

import inspect

import pytest
import torch
import torch.nn.functional as TF

import mytorch.nn as nn
import mytorch.nn.functional as F

NEW = {"MarginRankingLoss": "margin_ranking_loss", "HingeEmbeddingLoss": "hinge_embedding_loss",
       "SoftMarginLoss": "soft_margin_loss", "CosineEmbeddingLoss": "cosine_embedding_loss",
       "TripletMarginLoss": "triplet_margin_loss", "PoissonNLLLoss": "poisson_nll_loss",
       "GaussianNLLLoss": "gaussian_nll_loss",
       "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss",
       "MultiMarginLoss": "multi_margin_loss", "MultiLabelMarginLoss": "multilabel_margin_loss",
       "Threshold": "threshold", "LocalResponseNorm": "local_response_norm",
       "LPPool1d": "lp_pool1d", "LPPool2d": "lp_pool2d", "MaxUnpool1d": "max_unpool1d",
       "MaxUnpool2d": "max_unpool2d", "Bilinear": None, "CosineSimilarity": None,
       "PairwiseDistance": None, "ChannelShuffle": None}


@pytest.mark.parametrize("name", sorted(NEW))
def test_signatures_match_torch(name):
    def params(f):
        return [(p.name, p.default, p.kind) for p in inspect.signature(f).parameters.values()]
    assert params(getattr(nn, name)) == params(getattr(torch.nn, name))
    if NEW[name]:
        assert params(getattr(F, NEW[name])) == params(getattr(TF, NEW[name]))
