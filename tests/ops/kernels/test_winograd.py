"""Winograd F(2x2, 3x3) convolution (mytorch.ops.winograd): numba transforms against their
array-module references, the conv layers that take this path against PyTorch (forward and
backward, chunked batches, odd sizes, asymmetric padding), float64 gradcheck, and the rule
that picks it."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from mytorch.ops import winograd as W
from mytorch.ops.window import geom
from tests.helpers import check

# (N, C, H, W), padding ((pt, pb), (pl, pr)): even and odd outputs, no / asymmetric padding
GEOMS = [((2, 3, 8, 8), ((1, 1), (1, 1))), ((3, 2, 7, 9), ((1, 1), (1, 1))),
         ((2, 4, 6, 5), ((0, 0), (0, 0))), ((1, 3, 5, 6), ((2, 0), (0, 1))),
         ((2, 2, 3, 3), ((0, 0), (0, 0))), ((1, 2, 1, 4), ((2, 2), (1, 1))),
         ((2, 3, 8, 6), ((0, 0), (0, 0)))]  # the last: tiles cover the input exactly


def _geom(shape, pads):
    return geom("test", shape[2:], (3, 3), (1, 1), pads, (1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", GEOMS)
def test_transforms_match_reference(shape, pads, dtype):
    """The numba loops equal the einsum references; on a tile axis longer than the tiles (as
    the drivers use) they leave the extra column alone."""
    rng = np.random.default_rng(0)
    g = _geom(shape, pads)
    n, c = shape[:2]
    o = 5
    th, tw = W._tiles(g)
    t = n * th * tw
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-13}
    x = rng.standard_normal(shape).astype(dtype)
    got = W._input_transform(x, g, np.full((16, c, t + 1), np.nan, dtype))
    want = W.input_transform_reference(x, g, np.empty((16, c, t), dtype))
    np.testing.assert_allclose(got[:, :, :t], want, **tol)
    assert np.isnan(got[:, :, t]).all()

    m = rng.standard_normal((16, o, t + 1)).astype(dtype)
    got = W._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype))
    want = W.output_transform_reference(m[:, :, :t], g, np.empty_like(got))
    np.testing.assert_allclose(got, want, **tol)

    gy = rng.standard_normal((n, o) + g.out).astype(dtype)
    got = W._output_adjoint(gy, g, np.full((16, o, t + 1), np.nan, dtype))
    want = W.output_adjoint_reference(gy, g, np.empty((16, o, t), dtype))
    np.testing.assert_allclose(got[:, :, :t], want, **tol)
    assert np.isnan(got[:, :, t]).all()

    dv = rng.standard_normal((16, c, t + 1)).astype(dtype)
    got = W._input_adjoint(dv, g, np.full(shape, np.nan, dtype))
    want = W.input_adjoint_reference(dv[:, :, :t], g, np.empty_like(got))
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("shape, pads", GEOMS)
def test_adjoints_are_transposes(shape, pads):
    """<T a, b> == <a, T* b> for the input and output transforms (the backward is exact)."""
    rng = np.random.default_rng(2)
    g = _geom(shape, pads)
    n, c = shape[:2]
    th, tw = W._tiles(g)
    t = n * th * tw
    x = rng.standard_normal(shape)
    dv = rng.standard_normal((16, c, t))
    lhs = np.vdot(W._input_transform(x, g, np.empty((16, c, t))), dv)
    np.testing.assert_allclose(lhs, np.vdot(x, W._input_adjoint(dv, g, np.empty(shape))),
                               rtol=1e-12)
    m = rng.standard_normal((16, 3, t))
    gy = rng.standard_normal((n, 3) + g.out)
    lhs = np.vdot(W._output_transform(m, g, np.empty((n, 3) + g.out)), gy)
    np.testing.assert_allclose(lhs, np.vdot(m, W._output_adjoint(gy, g, np.empty_like(m))),
                               rtol=1e-12)


def test_reference_drivers_match_numba(monkeypatch):
    """The whole conv through the array-module references (the CuPy path) equals the numba one."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((3, 4, 7, 6)).astype(np.float32)
    g = _geom(x.shape, ((1, 1), (1, 1)))
    y = W.conv_forward(x, w, g)
    gx, gw = W.conv_backward(gy, w, g, x)
    monkeypatch.setattr(W._kw, "available", lambda *arrays: False)
    np.testing.assert_allclose(W.conv_forward(x, w, g), y, rtol=1e-5, atol=1e-5)
    for got, want in zip(W.conv_backward(gy, w, g, x), (gx, gw)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_rule_picks_winograd_for_3x3_stride_1_only():
    g = _geom((2, 8, 9, 9), ((1, 1), (1, 1)))
    assert W.applies(g, 1, 16)
    assert not W.applies(g, 1, 1)      # too few input channels: im2col measured faster
    assert not W.applies(g, 2, 16)     # groups
    assert not W.applies(geom("t", (9, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)), 1, 16)
    assert not W.applies(geom("t", (9, 9), (3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2)), 1, 16)
    assert not W.applies(geom("t", (9, 9), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)), 1, 16)
    assert not W.applies(geom("t", (1, 9), (1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1)), 1, 16)


# (x shape, out channels, padding, bias): C_in >= 8 takes the Winograd path
CASES = [((2, 8, 7, 9), 6, 1, True), ((3, 9, 6, 6), 4, 0, False), ((2, 16, 28, 28), 8, 1, True),
         ((1, 8, 5, 4), 3, (2, 0), True), ((2, 12, 3, 3), 5, "same", False),
         ((4, 8, 14, 14), 16, 1, True)]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv2d_matches_torch(case, device):
    xs, o, p, bias = case
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, 1, p), device=device)


@pytest.mark.parametrize("case", CASES[:4], ids=range(4))
def test_conv_transpose2d_matches_torch(case, device):
    xs, o, p, bias = case
    p = p if isinstance(p, int) else 0
    shapes = [xs, (xs[1], o, 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, 1, p), device=device)


def test_chunked_batches_and_float64(monkeypatch):
    monkeypatch.setattr(W, "_CHUNK_ELEMS", 3000)  # several batch chunks
    check(lambda x, w, b: F.conv2d(x, w, b, 1, 1), [(5, 8, 6, 7), (4, 8, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 1, 1), dtype=np.float64)
    check(lambda x, w: F.conv_transpose2d(x, w, None, 1, 1), [(5, 8, 6, 6), (8, 3, 3, 3)],
          torch_fn=lambda x, w: TF.conv_transpose2d(x, w, None, 1, 1))


def test_float32_error_against_torch_is_small():
    """At a real layer size (C = 64, K = 576) the float32 error stays at im2col's level."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 64, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    want = TF.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1)
    got = F.conv2d(mytorch.tensor(x), mytorch.tensor(w), padding=1).numpy()
    ref32 = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    err, torch_err = np.abs(got - want.numpy()).max(), np.abs(ref32 - want.numpy()).max()
    assert err < 1e-4 and err < 8 * torch_err, (err, torch_err)


def test_gradcheck(monkeypatch):
    monkeypatch.setattr(W, "_MIN_C", 1)
    rng = np.random.default_rng(5)
    x = mytorch.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = mytorch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = mytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 1), (x, w, b))
    wt = mytorch.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 1, 0), (x, wt))
