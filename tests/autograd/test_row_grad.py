"""An embedding's gradient reaches its weight as rows (mytorch.autograd.row_grad.RowGrad),
never as a dense (num_embeddings, D) array: the sums must be the dense path's, bit for bit,
and every place that needs a whole array (hooks, autograd.grad, a first .grad) gets one."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd.engine import _add_row_grad
from mytorch.autograd.row_grad import RowGrad
from mytorch.ops._kernels import embedding_grad
from tests.autograd.test_backward_memory import MB, peak_of

ENGINES = ["topological", "recursive"]


def _lookup(V=80, D=6, n=30, seed=0):
    # at most V / 2 lookups: Embedding sends rows only then (a dense fill is cheaper otherwise)
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((V, D)).astype(np.float32)
    idx = rng.integers(0, V // 2, n)  # repeats, and rows never touched
    return w0, idx


def _dense(n_rows, idx, gy):
    """The dense path's gradient: each row added into zeros in lookup order."""
    return embedding_grad(n_rows, idx.reshape(-1), gy.reshape(idx.size, -1))


def test_from_lookup_is_the_dense_gradient_bit_for_bit():
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 9, (4, 7))
    gy = rng.standard_normal((4, 7, 5)).astype(np.float32)
    g = RowGrad.from_lookup(12, idx, gy)
    assert g.shape == (12, 5) and g.dtype == np.float32
    assert np.array_equal(g.idx, np.unique(idx))
    np.testing.assert_array_equal(g.dense(), _dense(12, idx, gy))
    pad = RowGrad.from_lookup(12, idx, gy, padding_idx=int(idx[0, 0])).dense()
    expect = _dense(12, idx, gy)
    expect[idx[0, 0]] = 0
    np.testing.assert_array_equal(pad, expect)


def test_add_row_grad_every_branch_matches_dense_sums():
    rng = np.random.default_rng(2)
    shape = (10, 3)
    a = rng.standard_normal(shape).astype(np.float32)
    i1, i2 = rng.integers(0, 10, 8), rng.integers(0, 10, 5)
    g1 = RowGrad.from_lookup(10, i1, rng.standard_normal((8, 3)).astype(np.float32))
    g2 = RowGrad.from_lookup(10, i2, rng.standard_normal((5, 3)).astype(np.float32))
    # dense first, rows second: into a copy when the engine does not own `a`, in place when it does
    out, owned = _add_row_grad(a, False, g1, False)
    assert owned and out is not a
    np.testing.assert_array_equal(out, a + g1.dense())
    b = a.copy()
    out, _ = _add_row_grad(b, True, g1, False)
    assert out is b
    # rows first, dense second
    out, owned = _add_row_grad(g1, False, a, False)
    assert owned and out is not a
    np.testing.assert_array_equal(out, g1.dense() + a)
    # two lookups merge into one RowGrad
    out, owned = _add_row_grad(g1, False, g2, False)
    assert type(out) is RowGrad and not owned
    np.testing.assert_array_equal(out.dense(), g1.dense() + g2.dense())
    with pytest.raises(RuntimeError, match=r"AccumulateGrad: existing .grad has shape \(9, 3\)"):
        g1.add_into(np.zeros((9, 3), np.float32))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("head_first", [True, False])
def test_tied_weight_gradient_is_the_dense_sum_and_torch_s(engine, head_first):
    # The embedding's rows and the head's dense gradient meet in one leaf, in either order
    w0, idx = _lookup()
    x0 = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)

    def parts(lib, w, x, ids):
        emb = lib.nn.functional.embedding(ids, w).square().sum()
        head = lib.nn.functional.linear(x, w).tanh().sum()
        return (head, emb) if head_first else (emb, head)

    w = mytorch.tensor(w0, requires_grad=True)
    a, b = parts(mytorch, w, mytorch.tensor(x0), mytorch.tensor(idx))
    (a + b).backward(engine=engine)
    # each part on its own (dense arrays), then summed the way the dense path would
    alone = []
    for k in range(2):
        wk = mytorch.tensor(w0, requires_grad=True)
        parts(mytorch, wk, mytorch.tensor(x0), mytorch.tensor(idx))[k].backward(engine=engine)
        alone.append(wk.grad.numpy())
    np.testing.assert_array_equal(w.grad.numpy(), alone[0] + alone[1])
    wt = torch.tensor(w0, requires_grad=True)
    sum(parts(torch, wt, torch.from_numpy(x0), torch.from_numpy(idx))).backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_lookups_accumulation_and_padding_match_torch(engine):
    w0, idx = _lookup(seed=4)
    w = mytorch.tensor(w0, requires_grad=True)
    wt = torch.tensor(w0, requires_grad=True)
    for step in range(2):  # the second backward adds its rows into the existing .grad
        for lib, t in ((mytorch, w), (torch, wt)):
            i = (mytorch.tensor if lib is mytorch else torch.from_numpy)(idx + step)
            f = lib.nn.functional
            loss = (f.embedding(i, t, padding_idx=3) * 2).sum() + f.embedding(i[:7], t).pow(2).sum()
            loss.backward(engine=engine) if lib is mytorch else loss.backward()
        np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_hooks_and_autograd_grad_see_a_whole_array():
    w0, idx = _lookup(seed=5)
    w = mytorch.tensor(w0, requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append((tuple(g.shape), type(g.data))))
    F.embedding(mytorch.tensor(idx), w).sum().backward()
    assert seen == [(w0.shape, np.ndarray)]
    w2 = mytorch.tensor(w0, requires_grad=True)
    (g,) = mytorch.autograd.grad(F.embedding(mytorch.tensor(idx), w2).sum(), [w2])
    assert type(g.data) is np.ndarray and g.shape == w0.shape
    np.testing.assert_array_equal(g.numpy(), w.grad.numpy())
    np.testing.assert_array_equal(w.grad.numpy(), _dense(w0.shape[0], idx, np.ones((idx.size, 6),
                                                                                  np.float32)))


def test_a_second_backward_adds_rows_without_a_dense_array():
    # With .grad already there (gradient accumulation), backward adds only the touched rows
    V, D, n = 16384, 128, 32  # the weight is 8 MiB
    w0 = np.random.default_rng(6).standard_normal((V, D)).astype(np.float32)
    idx = np.random.default_rng(7).integers(0, V, n)
    w = mytorch.tensor(w0, requires_grad=True)
    F.embedding(mytorch.tensor(idx), w).sum().backward()
    loss = F.embedding(mytorch.tensor(idx), w).square().sum()
    _, peak = peak_of(loss.backward)
    assert peak < 0.5 * MB, f"backward peak {peak / MB:.2f} MiB for an 8 MiB weight"
    wt = torch.tensor(w0, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(idx), wt).sum().backward()
    torch.nn.functional.embedding(torch.from_numpy(idx), wt).square().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_double_backward_and_a_non_leaf_weight_still_get_dense_gradients():
    w0, idx = _lookup(seed=8)
    w = mytorch.tensor(w0.astype(np.float64), requires_grad=True)
    (g,) = mytorch.autograd.grad(F.embedding(mytorch.tensor(idx), w * 2).square().sum(), [w],
                                 create_graph=True)
    assert type(g.data) is np.ndarray and g.shape == w0.shape
    g.sum().backward()
    wt = torch.tensor(w0.astype(np.float64), requires_grad=True)
    (gt,) = torch.autograd.grad(torch.nn.functional.embedding(torch.from_numpy(idx), wt * 2)
                                .square().sum(), [wt], create_graph=True)
    gt.sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("n, rows", [(30, True), (41, False)])
def test_rows_only_for_a_lookup_touching_at_most_half_the_table(monkeypatch, n, rows):
    made = []
    real = RowGrad.from_lookup.__func__
    monkeypatch.setattr(RowGrad, "from_lookup",
                        classmethod(lambda cls, *a, **k: made.append(1) or real(cls, *a, **k)))
    w0, idx = _lookup(n=n, seed=9)
    w = mytorch.tensor(w0, requires_grad=True)
    F.embedding(mytorch.tensor(idx), w).square().sum().backward()
    assert bool(made) == rows
    wt = torch.tensor(w0, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(idx), wt).square().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_a_retained_graph_gets_dense_gradients_twice():
    # Rows only on the last use of the graph; with retain_graph the dense path runs, twice
    w0, idx = _lookup(seed=10)
    w = mytorch.tensor(w0, requires_grad=True)
    wt = torch.tensor(w0, requires_grad=True)
    loss = F.embedding(mytorch.tensor(idx), w).square().sum()
    lt = torch.nn.functional.embedding(torch.from_numpy(idx), wt).square().sum()
    loss.backward(retain_graph=True), lt.backward(retain_graph=True)
    loss.backward(), lt.backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)
