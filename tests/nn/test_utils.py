"""nn.utils.parameters_to_vector / vector_to_parameters and nn.utils.rnn.pad_sequence against
PyTorch."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
from mytorch.nn.utils import parameters_to_vector, vector_to_parameters
from mytorch.nn.utils.rnn import pad_sequence
from tests.helpers import check

tpad = torch.nn.utils.rnn.pad_sequence


def _np(t):
    return t.detach().cpu().numpy()


# ---- pad_sequence ----

SHAPE_SETS = [
    [(3,), (5,), (1,)],                 # 1-D sequences
    [(3, 2), (5, 2), (1, 2)],           # (L, C)
    [(2, 3, 4), (4, 3, 4)],             # (L, C, W)
    [(4, 2), (0, 2), (4, 2)],           # an empty sequence; equal lengths need no padding
    [(1, 1)],                           # one sequence, size-1 dims
]


@pytest.mark.parametrize("shapes", SHAPE_SETS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(shapes, batch_first, padding_side, device):
    kw = {"batch_first": batch_first, "padding_side": padding_side, "padding_value": -1.5}
    check(lambda *xs: pad_sequence(list(xs), **kw), shapes,
          torch_fn=lambda *xs: tpad(list(xs), **kw), device=device)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_noncontig_float64(padding_side):
    kw = {"batch_first": True, "padding_side": padding_side}
    check(lambda *xs: pad_sequence(xs, **kw), [(3, 4), (6, 4), (2, 4)], dtype=np.float64,
          torch_fn=lambda *xs: tpad(xs, **kw), noncontig=True)


def test_pad_sequence_values_dtypes_and_iterables():
    ints = [np.array([1, 2, 3]), np.array([4]), np.array([], np.int64)]
    for side in ("right", "left"):
        m = pad_sequence([mytorch.tensor(a) for a in ints], padding_value=-1.5,
                         padding_side=side)
        t = tpad([torch.from_numpy(a) for a in ints], padding_value=-1.5, padding_side=side)
        assert m.dtype == np.int64
        np.testing.assert_array_equal(_np(m), t.numpy())
    bools = [np.array([True]), np.array([False, True])]
    m = pad_sequence([mytorch.tensor(a) for a in bools], batch_first=True, padding_value=1)
    t = tpad([torch.from_numpy(a) for a in bools], batch_first=True, padding_value=1)
    assert m.dtype == np.bool_
    np.testing.assert_array_equal(_np(m), t.numpy())
    # the first sequence's dtype wins, as in PyTorch
    mixed = [np.zeros((2, 3), np.float32), np.ones((3, 3))]
    m = pad_sequence([mytorch.tensor(a) for a in mixed])
    t = tpad([torch.from_numpy(a) for a in mixed])
    assert m.dtype == np.float32 and t.dtype == torch.float32
    np.testing.assert_array_equal(_np(m), t.numpy())
    # a Tensor is an iterable of its rows; a generator works too
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(_np(pad_sequence(mytorch.tensor(x))),
                                  tpad(torch.from_numpy(x)).numpy())
    m = pad_sequence(mytorch.tensor(a) for a in mixed)
    assert tuple(m.shape) == (3, 2, 3)


def test_pad_sequence_gradient_skips_padding():
    a = mytorch.randn(2, 3, requires_grad=True)
    b = mytorch.randn(4, 3, requires_grad=True)
    y = pad_sequence([a, b], batch_first=True, padding_side="left", padding_value=7.0)
    assert tuple(y.shape) == (2, 4, 3)
    np.testing.assert_array_equal(_np(y[0, :2]), np.full((2, 3), 7.0, np.float32))
    np.testing.assert_array_equal(_np(y[0, 2:]), _np(a))
    (y * y).sum().backward()
    np.testing.assert_allclose(_np(a.grad), 2 * _np(a))
    np.testing.assert_allclose(_np(b.grad), 2 * _np(b))


def test_pad_sequence_errors():
    with pytest.raises(RuntimeError, match="pad_sequence: received an empty list"):
        pad_sequence([])
    with pytest.raises(RuntimeError, match=r"entry 0 has shape \(2, 3\), entry 1 .*\(3, 4\)"):
        pad_sequence([mytorch.zeros(2, 3), mytorch.zeros(3, 4)])
    with pytest.raises(RuntimeError, match=r"entry 1 has shape \(3, 1\)"):
        pad_sequence([mytorch.zeros(2), mytorch.zeros(3, 1)])
    with pytest.raises(RuntimeError, match=r"entry 0 has shape \(\)"):
        pad_sequence([mytorch.zeros(())])
    with pytest.raises(RuntimeError, match="padding_side must be 'left' or 'right', got 'up'"):
        pad_sequence([mytorch.zeros(2, 3)], padding_side="up")
    with pytest.raises(RuntimeError, match="expected an iterable of Tensors, but got int"):
        pad_sequence(3)
    with pytest.raises(TypeError, match="expected Tensors, got ndarray at entry 1"):
        pad_sequence([mytorch.zeros(2), np.zeros(3)])


# ---- parameters_to_vector / vector_to_parameters ----

def test_parameters_to_vector_matches_torch(device):
    check(lambda *ps: parameters_to_vector(ps), [(2, 3), (4,), (), (1, 1, 5)], device=device,
          torch_fn=lambda *ps: torch.nn.utils.parameters_to_vector(ps))


def test_parameters_to_vector_module_and_dtypes():
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    vm = parameters_to_vector(m.parameters())
    vt = torch.nn.utils.parameters_to_vector(t.parameters())
    assert tuple(vm.shape) == (26,) and vm.dtype == np.float32
    np.testing.assert_array_equal(_np(vm), _np(vt))
    # promotion across dtypes, as torch.cat
    ps = [nn.Parameter(mytorch.zeros(2)), nn.Parameter(mytorch.ones(1, dtype=mytorch.float64))]
    assert parameters_to_vector(ps).dtype == np.float64
    with pytest.raises(ValueError, match="parameters_to_vector: expected a non-empty"):
        parameters_to_vector([])


def test_vector_to_parameters_matches_torch_and_shares_memory():
    shapes = [(2, 3), (4,), ()]
    mps = [nn.Parameter(mytorch.zeros(*s)) for s in shapes]
    tps = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    vec = np.arange(13, dtype=np.float32) * 0.5   # two more elements than needed: ignored
    mv = mytorch.tensor(vec)
    vector_to_parameters(mv, (p for p in mps))
    torch.nn.utils.vector_to_parameters(torch.from_numpy(vec.copy()), tps)
    for m, t in zip(mps, tps):
        assert tuple(m.shape) == tuple(t.shape) and m.requires_grad and m.is_leaf
        np.testing.assert_array_equal(_np(m), _np(t))
    # the parameters view vec's memory, as in PyTorch
    mv.data[0] = 100.0
    assert mps[0].data[0, 0] == 100.0
    # round trip, and the parameters take vec's dtype
    v64 = mytorch.tensor(np.linspace(0, 1, 11))
    vector_to_parameters(v64, mps)
    assert all(p.dtype == np.float64 for p in mps)
    np.testing.assert_array_equal(_np(parameters_to_vector(mps)), _np(v64))


def test_vector_to_parameters_then_train_step():
    """Parameters written from a vector still train: a gradient step moves them."""
    lin = nn.Linear(3, 2)
    vec = mytorch.randn(8)
    vector_to_parameters(vec, lin.parameters())
    opt = mytorch.optim.SGD(lin.parameters(), lr=0.1)
    before = _np(parameters_to_vector(lin.parameters())).copy()
    lin(mytorch.randn(4, 3)).pow(2).sum().backward()
    opt.step()
    assert not np.allclose(_np(parameters_to_vector(lin.parameters())), before)


def test_vector_to_parameters_errors():
    ps = [nn.Parameter(mytorch.zeros(2, 3))]
    with pytest.raises(TypeError, match="expected a Tensor, but got: list"):
        vector_to_parameters([1.0] * 6, ps)
    with pytest.raises(RuntimeError, match="vec has 3 elements but the parameters need 6"):
        vector_to_parameters(mytorch.zeros(3), ps)
    with pytest.raises(ValueError, match=r"vec must be 1-D, got shape \(2, 3\)"):
        vector_to_parameters(mytorch.zeros(2, 3), ps)


def test_utils_exports():
    assert nn.utils.parameters_to_vector is parameters_to_vector
    assert nn.utils.vector_to_parameters is vector_to_parameters
    assert nn.utils.rnn.pad_sequence is pad_sequence
