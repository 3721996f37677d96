"""Parameter containers (ParameterList, ParameterDict) against PyTorch."""

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn


def _np(t):
    return t.detach().cpu().numpy()


def test_parameter_list_matches_torch():
    arrays = [np.random.default_rng(i).standard_normal(s).astype(np.float32)
              for i, s in enumerate([(2, 3), (4,), (1, 1, 2)])]
    m = nn.ParameterList([mytorch.tensor(arrays[0]), nn.Parameter(mytorch.tensor(arrays[1]))])
    t = torch.nn.ParameterList([torch.from_numpy(arrays[0]),
                                torch.nn.Parameter(torch.from_numpy(arrays[1]))])
    m.append(mytorch.tensor(arrays[2]))
    t.append(torch.from_numpy(arrays[2]))
    assert len(m) == len(t) == 3
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m)
    assert list(m.state_dict()) == list(t.state_dict()) == ["0", "1", "2"]
    assert repr(m).replace("mytorch.", "torch.") == repr(t)
    assert m[-1] is m[2] and len(m[1:]) == 2 and m[1:][0] is m[1]
    assert [id(p) for p in m.parameters()] == [id(p) for p in m]
    m[0] = mytorch.zeros(2, 3)
    assert isinstance(m[0], nn.Parameter) and float(m[0].sum()) == 0.0
    m += [mytorch.ones(1)]
    assert len(m) == 4 and list(m.state_dict())[-1] == "3"
    with pytest.raises(IndexError, match="out of range"):
        m[4]
    with pytest.raises(TypeError, match="iterable"):
        m.extend(mytorch.ones(2))
    with pytest.raises(RuntimeError, match="should not be called"):
        m(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([nn.Parameter(mytorch.ones(3)) for _ in range(2)])

        def forward(self, x):
            for s in self.scales:
                x = x * s
            return x.sum()

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(3))
                                                  for _ in range(2)])

    net = Net()
    assert list(net.state_dict()) == list(TNet().state_dict())
    net(mytorch.tensor([1.0, 2.0, 3.0])).backward()
    np.testing.assert_allclose(_np(net.scales[0].grad), [1.0, 2.0, 3.0])
    net.load_state_dict({"scales.0": np.full(3, 2.0, np.float32),
                         "scales.1": np.full(3, 3.0, np.float32)})
    assert float(net(mytorch.ones(3))) == 18.0


def test_parameter_dict_matches_torch():
    a, b, c = (np.random.default_rng(i).standard_normal((2, i + 1)).astype(np.float32)
               for i in range(3))
    m = nn.ParameterDict({"b": mytorch.tensor(a), "a": nn.Parameter(mytorch.tensor(b))})
    t = torch.nn.ParameterDict({"b": torch.from_numpy(a), "a": torch.nn.Parameter(
        torch.from_numpy(b))})
    assert list(m.keys()) == list(t.keys()) == ["a", "b"]  # a plain dict is added sorted
    assert list(m.state_dict()) == list(t.state_dict())
    m["z"] = mytorch.tensor(c)
    t["z"] = torch.from_numpy(c)
    m.update([("y", mytorch.ones(2)), ("x", mytorch.ones(1))])
    t.update([("y", torch.ones(2)), ("x", torch.ones(1))])
    assert list(m.state_dict()) == list(t.state_dict()) == ["a", "b", "z", "y", "x"]
    assert repr(m).replace("mytorch.", "torch.") == repr(t)
    assert isinstance(m["z"], nn.Parameter) and "z" in m and len(m) == 5
    assert m.get("nope") is None and m.get("a") is m["a"]
    p = m.pop("y")
    assert isinstance(p, nn.Parameter) and "y" not in m and "y" not in m.state_dict()
    assert m.setdefault("w", mytorch.zeros(3)) is m["w"]
    k, v = m.popitem()
    assert k == "w" and "w" not in m
    both = m | nn.ParameterDict({"q": mytorch.ones(1)})
    assert list(both.keys()) == ["a", "b", "z", "x", "q"] and "q" not in m
    del m["a"]
    assert list(m.keys()) == ["b", "z", "x"] and "a" not in dict(m.named_parameters())
    m.clear()
    assert len(m) == 0 and list(m.parameters()) == []
    with pytest.raises(KeyError, match="contain '.'"):
        m["a.b"] = mytorch.ones(1)
    with pytest.raises(TypeError, match="strings"):
        m[1] = mytorch.ones(1)
    with pytest.raises(RuntimeError, match="should not be called"):
        m(1)
