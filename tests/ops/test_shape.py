"""Shape ops against PyTorch: views, permutations, expand/repeat, cat/stack/split/chunk."""
import numpy as np
import pytest
import torch

import mytorch
from tests.helpers import check


def lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [
    lambda x: x.reshape(4, 6),
    lambda x: x.reshape(-1),
    lambda x: x.reshape((3, -1, 2)),
    lambda x: x.view(2, 12),
    lambda x: x.flatten(),
    lambda x: x.flatten(1),
    lambda x: x.flatten(0, 1),
    lambda x: x.unflatten(2, (2, 2)),
    lambda x: x.unflatten(1, (-1, 1)),
    lambda x: x.transpose(0, 2),
    lambda x: x.transpose(-1, 1),
    lambda x: x.permute(2, 0, 1),
    lambda x: x.permute((1, 2, 0)),
    lambda x: x.unsqueeze(0),
    lambda x: x.unsqueeze(-1),
    lambda x: x.unsqueeze(2).squeeze(2),
    lambda x: x.mT,
    lambda x: x.contiguous(),
    lambda x: x.transpose(0, 1).contiguous(),
    lambda x: x.clone(),
    lambda x: x.repeat(2, 1, 3),
    lambda x: x.repeat(2, 1, 1, 2),
    lambda x: x.unsqueeze(1).expand(2, 5, 3, 4),
    lambda x: x[:, :1].expand(-1, 3, -1),
    lambda x: x.sum(1, keepdim=True).expand_as(x),
    lambda x: x.swapaxes(0, 1),
], ids=lambda f: f.__code__.co_firstlineno)
def test_shape_ops(fn, dtype, device):
    check(fn, [(2, 3, 4)], dtype=dtype, device=device)


def test_shape_ops_noncontig(device):
    for fn in (lambda x: x.reshape(-1), lambda x: x.flatten(), lambda x: x.reshape(3, 4),
               lambda x: x.T, lambda x: x.t(), lambda x: x.unsqueeze(0).expand(2, 4, 3)):
        check(fn, [(4, 3)], noncontig=True, device=device)


def test_squeeze_variants(device):
    check(lambda x: x.squeeze(), [(1, 3, 1, 2)], device=device)
    check(lambda x: x.squeeze(0), [(1, 3, 1, 2)], device=device)
    check(lambda x: x.squeeze(1), [(1, 3, 1, 2)], device=device)  # not size 1: a no-op
    check(lambda x: x.squeeze(), [()], device=device)
    check(lambda x: x.unsqueeze(0), [()], device=device)
    check(lambda x: x.reshape(1, 1), [()], device=device)
    check(lambda x: x.flatten(), [()], device=device)


def test_t_on_small_dims(device):
    check(lambda x: x.t(), [(3,)], device=device)
    check(lambda x: x.T, [(2, 3)], device=device)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim, device):
    shapes = {0: [(2, 3), (4, 3), (1, 3)], 1: [(2, 3), (2, 1), (2, 2)],
              -1: [(2, 3), (2, 1), (2, 2)]}[dim]
    check(lambda a, b, c: lib(a).cat([a, b, c], dim=dim), shapes, device=device)
    check(lambda a, b, c: lib(a).cat((a, b, c), dim), shapes, dtype=np.float64, device=device)


def test_cat_one_input_needs_grad(device):
    b = np.ones((2, 3), np.float32)
    out = check(lambda a: lib(a).cat([a, lib(a).tensor(b) if lib(a) is torch else
                                      mytorch.tensor(b, device=a.device)], 0),
                [(2, 3)], device=device)
    assert tuple(out.shape) == (4, 3)


def test_cat_mixed_dtypes_promote():
    a = mytorch.tensor([1, 2])
    b = mytorch.tensor([0.5])
    out = mytorch.cat([a, b])
    assert out.dtype == mytorch.float32
    assert out.tolist() == [1.0, 2.0, 0.5]


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim, device):
    check(lambda a, b: lib(a).stack([a, b], dim), [(2, 3), (2, 3)], device=device)
    check(lambda a, b, c: lib(a).stack([a, b, c], dim=dim), [(2, 3)] * 3, device=device)


def test_stack_0d(device):
    check(lambda a, b: lib(a).stack([a, b]), [(), ()], device=device)


@pytest.mark.parametrize("size,dim", [(2, 0), (3, 1), (1, 0), (5, 1), ([1, 3, 1], 1),
                                      ((2, 3), 0), (4, -1)])
def test_split(size, dim, device):
    shape = (5, 5)
    check(lambda x: tuple(x.split(size, dim)), [shape], device=device)
    check(lambda x: tuple(lib(x).split(x, size, dim)), [shape], dtype=np.float64, device=device)


def test_split_uses_only_some_pieces(device):
    # Only the first piece reaches the loss: the others must get zero gradient.
    check(lambda x: x.split(2, 1)[0] * 3, [(3, 5)], device=device)
    check(lambda x: x.split(2, 1)[-1].exp(), [(3, 5)], device=device)


@pytest.mark.parametrize("chunks,dim", [(2, 0), (3, 1), (5, 0), (4, 1), (1, 0), (6, 1)])
def test_chunk(chunks, dim, device):
    check(lambda x: tuple(x.chunk(chunks, dim)), [(5, 4)], device=device)
    check(lambda x: tuple(lib(x).chunk(x, chunks, dim)), [(5, 4)], device=device)


def test_unbind(device):
    check(lambda x: tuple(x.unbind(1)), [(2, 3)], device=device)


def test_repeat_0d_and_noncontig(device):
    check(lambda x: x.repeat(3), [()], device=device)
    check(lambda x: x.repeat(2, 3), [(3, 2)], noncontig=True, device=device)


def test_views_share_memory_like_torch():
    x = mytorch.zeros(2, 3)
    v = x.reshape(6)
    with mytorch.no_grad():
        v[0] = 5.0
    assert x[0, 0].item() == 5.0


def test_view_of_noncontiguous_raises_like_torch():
    x = mytorch.zeros(4, 3).T
    with pytest.raises(RuntimeError, match="view"):
        x.view(12)
    assert x.reshape(12).shape == (12,)


@pytest.mark.parametrize("fn", [
    lambda x: x.flip(0), lambda x: x.flip(-1, 1), lambda x: x.narrow(2, 1, 2),
    lambda x: x.narrow(-1, -3, 2), lambda x: x.square(), lambda x: x.reciprocal(),
])
def test_flip_narrow_square_reciprocal(fn, device):
    check(fn, [(2, 3, 4)], low=0.5, high=2.0, device=device)


def test_mm_bmm_outer():
    check(lambda a, b: lib(a).mm(a, b), [(3, 4), (4, 5)])
    check(lambda a, b: lib(a).bmm(a, b), [(2, 3, 4), (2, 4, 5)])
    check(lambda a, b: lib(a).outer(a, b), [(3,), (4,)])
    with pytest.raises(RuntimeError, match="bmm"):
        mytorch.bmm(mytorch.ones(3, 4), mytorch.ones(4, 5))
