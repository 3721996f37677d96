from collections import OrderedDict

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
        self.norm = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight  # tied
        self.register_buffer("scale", mytorch.ones(1))
        self.register_buffer("cache", mytorch.zeros(2), persistent=False)

    def forward(self, idx):
        return self.head(self.norm(self.body(self.emb(idx))))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                        torch.nn.Linear(8, 4))
        self.norm = torch.nn.BatchNorm1d(4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("cache", torch.zeros(2), persistent=False)


def test_registration_and_tied_parameters_match_torch():
    m, t = Net(), TorchNet()
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert len(list(m.parameters())) == 7
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [type(c).__name__ for c in m.children()] == [type(c).__name__ for c in t.children()]
    assert repr(m) == repr(t).replace("TorchNet", "Net")


def test_state_dict_roundtrip_with_torch_and_tied_grads():
    m, t = Net(), TorchNet()
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    idx = np.array([[1, 2, 3], [4, 5, 6]])
    y = m(mytorch.tensor(idx).reshape(-1))
    ty = t.head(t.norm(t.body(t.emb(torch.from_numpy(idx).reshape(-1)))))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(m.emb.weight.grad.numpy(), t.emb.weight.grad.numpy(), atol=1e-4)
    assert m.head.weight.grad is m.emb.weight.grad


def test_load_state_dict_errors_list_keys_and_leave_model_unchanged():
    m = Net()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    sd = {k: v.numpy().copy() + 1 for k, v in m.state_dict().items()}
    del sd["body.0.bias"]
    sd["extra.weight"] = np.zeros(3)
    sd["body.2.weight"] = np.zeros((5, 5))
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: body.0.bias" in msg and "unexpected keys: extra.weight" in msg
    assert "body.2.weight: checkpoint (5, 5) vs model (4, 8)" in msg
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    del sd["body.2.weight"]
    res = m.load_state_dict({**sd, "body.2.weight": before["body.2.weight"]}, strict=False)
    assert res.missing_keys == ["body.0.bias"] and res.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(m.norm.running_mean.numpy(), before["norm.running_mean"] + 1)


def test_train_eval_to_dtype_zero_grad_apply_requires_grad():
    m = Net()
    assert m.training and m.eval() is m and not m.norm.training and not m.body[0].training
    assert m.train() is m and m.body[1].training
    m.to(mytorch.float64)
    assert m.body[0].weight.dtype == np.float64 and m.norm.num_batches_tracked.dtype == np.int64
    m.to(dtype=mytorch.float32)
    m(mytorch.tensor([1, 2, 3])).sum().backward()
    assert m.body[0].weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert (m.body[0].weight.grad.numpy() == 0).all()
    m.zero_grad()
    assert m.body[0].weight.grad is None
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen[-1] == "Net" and seen.count("Linear") == 3
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_containers():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.Tanh())]))
    assert isinstance(seq[0], nn.Linear) and seq[-1] is seq.act and len(seq) == 2
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    assert tuple(seq(mytorch.randn(4, 2)).shape) == (4, 3)
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    assert [n for n, _ in ml.named_parameters()][0] == "0.weight"
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    tseq = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)),
                                            ("act", torch.nn.Tanh())]))
    assert repr(seq) == repr(tseq)
    with pytest.raises(IndexError):
        ml[7]


def test_assignment_errors_and_extra_repr():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = mytorch.randn(2, 2)
    m.bias = None
    assert "bias" not in dict(m.named_parameters())

    class Custom(nn.Module):
        def extra_repr(self):
            return "k=3"
    assert repr(Custom()) == "Custom(k=3)"
