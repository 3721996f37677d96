"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution and F(2x2, 3x3) at stride 2
(mytorch.ops.winograd): numba transforms
against their array-module references, the conv layers on each Winograd path (forced by
MYTORCH_CONV_ALGO) against PyTorch (forward and backward, chunked batches, odd sizes, padding
0/1/2 and asymmetric, batch 1, 1/3/17 channels), float64 gradcheck, F(4x4)'s float32 error
budget, and the rule used where the algorithm is not timed.

Tolerances: F(2x2) and im2col use the `check` helper's float32 tolerance. F(4x4)'s float32
error is held to 2e-5 of each result's largest magnitude (forward, input and weight gradient,
against torch in float64; measured 3e-6..1e-5), and it meets `check`'s tolerance in float64."""
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

SCHEMES = [W.F2, W.F4, W.F2S2]
WINOGRAD = ["winograd2", "winograd4"]  # the algorithm names of the stride-1 schemes


def _id(s):
    return f"F{s.m}s{s.stride}"

# (N, C, H, W), padding ((pt, pb), (pl, pr)): even and odd outputs, no / asymmetric padding
GEOMS = [((2, 3, 8, 8), ((1, 1), (1, 1))), ((3, 2, 7, 9), ((1, 1), (1, 1))),
         ((2, 4, 6, 5), ((0, 0), (0, 0))), ((1, 3, 5, 6), ((2, 0), (0, 1))),
         ((2, 2, 3, 3), ((0, 0), (0, 0))), ((1, 2, 1, 4), ((2, 2), (1, 1))),
         ((2, 3, 8, 6), ((0, 0), (0, 0))),  # F(2x2)'s tiles cover the input exactly
         ((2, 3, 10, 6), ((0, 0), (0, 0)))]  # F(4x4)'s tiles cover the input exactly


@pytest.fixture
def algo(request, monkeypatch):
    """Force the conv algorithm named by the test's parameter."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", request.param)
    return request.param


def _geom(shape, pads, stride=1):
    return geom("test", shape[2:], (3, 3), (stride, stride), pads, (1, 1))


@pytest.mark.parametrize("s", SCHEMES, ids=_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", GEOMS)
def test_transforms_match_reference(shape, pads, dtype, s):
    """The numba loops equal the einsum references; on a tile axis longer than the tiles (as
    the drivers use) they leave the extra column alone."""
    rng = np.random.default_rng(0)
    g = _geom(shape, pads, s.stride)
    n, c = shape[:2]
    o = 5
    th, tw = W._tiles(g, s)
    t = n * th * tw
    P = s.positions
    # F(4x4)'s transforms scale by up to 8 per axis: relative error of the larger sums
    tol = {"rtol": 1e-6, "atol": 1e-6 * 8 ** (s.m // 2)} if dtype == np.float32 else \
        {"rtol": 1e-13, "atol": 1e-12}
    x = rng.standard_normal(shape).astype(dtype)
    got = W._input_transform(x, g, np.full((P, c, t + 1), np.nan, dtype), s)
    want = W.input_transform_reference(x, g, np.empty((P, c, t), dtype), s)
    np.testing.assert_allclose(got[:, :, :t], want, **tol)
    assert np.isnan(got[:, :, t]).all()

    m = rng.standard_normal((P, o, t + 1)).astype(dtype)
    got = W._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype), s)
    want = W.output_transform_reference(m[:, :, :t], g, np.empty_like(got), s)
    np.testing.assert_allclose(got, want, **tol)

    gy = rng.standard_normal((n, o) + g.out).astype(dtype)
    got = W._output_adjoint(gy, g, np.full((P, o, t + 1), np.nan, dtype), s)
    want = W.output_adjoint_reference(gy, g, np.empty((P, o, t), dtype), s)
    np.testing.assert_allclose(got[:, :, :t], want, **tol)
    assert np.isnan(got[:, :, t]).all()

    dv = rng.standard_normal((P, c, t + 1)).astype(dtype)
    got = W._input_adjoint(dv, g, np.full(shape, np.nan, dtype), s)
    want = W.input_adjoint_reference(dv[:, :, :t], g, np.empty_like(got), s)
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("s", SCHEMES, ids=_id)
def test_matrices_compute_a_3_tap_correlation(s):
    """A^T [(G w) * (B^T d)] = the 'valid' correlation of d (length a) with w (length 3) at the
    scheme's stride: the named matrices of each scheme are a Winograd algorithm."""
    rng = np.random.default_rng(7)
    d, w = rng.standard_normal(s.a), rng.standard_normal(3)
    bt, gm, at = (np.array(a, np.float64) for a in (s.bt, s.g, s.at))
    want = np.array([d[i * s.stride:i * s.stride + 3] @ w for i in range(s.m)])
    np.testing.assert_allclose(at @ ((gm @ w) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s", SCHEMES, ids=_id)
@pytest.mark.parametrize("shape, pads", GEOMS)
def test_adjoints_are_transposes(shape, pads, s):
    """<T a, b> == <a, T* b> for the input and output transforms (the backward is exact)."""
    rng = np.random.default_rng(2)
    g = _geom(shape, pads, s.stride)
    n, c = shape[:2]
    th, tw = W._tiles(g, s)
    t = n * th * tw
    P = s.positions
    x = rng.standard_normal(shape)
    dv = rng.standard_normal((P, c, t))
    lhs = np.vdot(W._input_transform(x, g, np.empty((P, c, t)), s), dv)
    np.testing.assert_allclose(lhs, np.vdot(x, W._input_adjoint(dv, g, np.empty(shape), s)),
                               rtol=1e-12)
    m = rng.standard_normal((P, 3, t))
    gy = rng.standard_normal((n, 3) + g.out)
    lhs = np.vdot(W._output_transform(m, g, np.empty((n, 3) + g.out), s), gy)
    np.testing.assert_allclose(lhs, np.vdot(m, W._output_adjoint(gy, g, np.empty_like(m), s)),
                               rtol=1e-12)


@pytest.mark.parametrize("s", SCHEMES, ids=_id)
def test_reference_drivers_match_numba(s, monkeypatch):
    """The whole conv through the array-module references (the CuPy path) equals the numba one."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    g = _geom(x.shape, ((1, 1), (1, 1)), s.stride)
    gy = rng.standard_normal((3, 4) + g.out).astype(np.float32)
    y = W.conv_forward(x, w, g, s)
    gx, gw = W.conv_backward(gy, w, g, x, True, s)
    monkeypatch.setattr(W._kw, "available", lambda *arrays: False)
    tol = {"rtol": 1e-5, "atol": 1e-5 * s.m ** 2}
    np.testing.assert_allclose(W.conv_forward(x, w, g, s), y, **tol)
    for got, want in zip(W.conv_backward(gy, w, g, x, True, s), (gx, gw)):
        np.testing.assert_allclose(got, want, **tol)


def test_winograd_schemes_fit_3x3_stride_1_and_2_only():
    g = _geom((2, 8, 9, 9), ((1, 1), (1, 1)))
    assert W.schemes(g, 1) == {"winograd2": W.F2, "winograd4": W.F4} and W.applies(g, 1, 16)
    assert not W.applies(g, 1, 1)  # the rule: too few input channels
    assert not W.schemes(g, 2)      # groups
    g2 = geom("t", (9, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1))
    assert W.schemes(g2, 1) == {"winograd2": W.F2S2} and not W.applies(g2, 1, 16)
    assert not W.schemes(geom("t", (9, 9), (3, 3), (3, 3), ((1, 1), (1, 1)), (1, 1)), 1)
    assert not W.schemes(geom("t", (9, 9), (3, 3), (1, 2), ((1, 1), (1, 1)), (1, 1)), 1)
    assert not W.schemes(geom("t", (9, 9), (3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2)), 1)
    assert not W.schemes(geom("t", (9, 9), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)), 1)
    assert not W.schemes(geom("t", (1, 9), (1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1)), 1)


# (x shape, out channels, padding, bias): odd and even sizes, padding 0/1/2/asymmetric/'same',
# batch 1, 1/3/17 input channels
CASES = [((2, 8, 7, 9), 6, 1, True), ((3, 9, 6, 6), 4, 0, False), ((2, 16, 28, 28), 8, 1, True),
         ((1, 8, 5, 4), 3, (2, 0), True), ((2, 12, 3, 3), 5, "same", False),
         ((4, 8, 14, 14), 16, 1, True), ((1, 1, 9, 11), 4, 2, True),
         ((2, 3, 13, 10), 5, 1, False), ((1, 17, 11, 7), 6, 2, True)]


@pytest.mark.parametrize("algo", ["im2col", "winograd2"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv2d_matches_torch(case, algo, device):
    xs, o, p, bias = case
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, 1, p), device=device)


@pytest.mark.parametrize("algo", ["winograd4"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv2d_f4_matches_torch_float64(case, algo, device):
    xs, o, p, bias = case
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, 1, p), device=device,
          dtype=np.float64)


@pytest.mark.parametrize("algo", WINOGRAD, indirect=True)
@pytest.mark.parametrize("case", CASES[:4] + CASES[6:], ids=range(7))
def test_conv_transpose2d_matches_torch(case, algo, device):
    xs, o, p, bias = case
    p = p if isinstance(p, int) else 0
    shapes = [xs, (xs[1], o, 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, 1, p), device=device,
          dtype=np.float64 if algo == "winograd4" else np.float32)


@pytest.mark.parametrize("algo", ["im2col", "winograd2"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv2d_stride_2_matches_torch(case, algo, device):
    xs, o, p, bias = case
    p = 1 if p == "same" else p  # torch allows 'same' at stride 1 only
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, 2, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, 2, p), device=device)


@pytest.mark.parametrize("algo", WINOGRAD, indirect=True)
def test_chunked_batches_and_float64(algo, monkeypatch):
    monkeypatch.setattr(W, "_CHUNK_ELEMS", 3000)  # several batch chunks
    check(lambda x, w, b: F.conv2d(x, w, b, 1, 1), [(5, 8, 6, 7), (4, 8, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 1, 1), dtype=np.float64)
    check(lambda x, w: F.conv_transpose2d(x, w, None, 1, 1), [(5, 8, 6, 6), (8, 3, 3, 3)],
          torch_fn=lambda x, w: TF.conv_transpose2d(x, w, None, 1, 1), dtype=np.float64)
    check(lambda x, w: F.conv2d(x, w, None, 2, 1), [(5, 8, 9, 7), (4, 8, 3, 3)],
          torch_fn=lambda x, w: TF.conv2d(x, w, None, 2, 1), dtype=np.float64)


@pytest.mark.parametrize("algo", ["winograd2"], indirect=True)
def test_float32_error_against_torch_is_small(algo):
    """At a real layer size (C = 64, K = 576) F(2x2)'s float32 error stays at im2col's level."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 64, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    want = TF.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1)
    got = F.conv2d(mytorch.tensor(x), mytorch.tensor(w), padding=1).numpy()
    ref32 = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    err, torch_err = np.abs(got - want.numpy()).max(), np.abs(ref32 - want.numpy()).max()
    assert err < 1e-4 and err < 8 * torch_err, (err, torch_err)


# (x shape, out channels, padding): real layer sizes and odd ones
F4_ERROR_CASES = [((4, 64, 14, 14), 64, 1), ((2, 32, 26, 26), 64, 0), ((2, 17, 11, 9), 8, 2),
                  ((1, 256, 9, 9), 32, 1), ((3, 8, 30, 30), 8, 1)]


@pytest.mark.parametrize("algo", ["winograd4"], indirect=True)
@pytest.mark.parametrize("case", F4_ERROR_CASES, ids=range(len(F4_ERROR_CASES)))
def test_f4_float32_error_budget(case, algo):
    """F(4x4) in float32: forward, input and weight gradient within 2e-5 of each result's
    largest magnitude of torch's float64 result (the budget in this file's docstring)."""
    xs, o, p = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((o, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(np.float32)
    tx = torch.from_numpy(x).double().requires_grad_()
    tw = torch.from_numpy(w).double().requires_grad_()
    ty = TF.conv2d(tx, tw, padding=p)
    gy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(gy).double())
    mx, mw = mytorch.tensor(x, requires_grad=True), mytorch.tensor(w, requires_grad=True)
    my = F.conv2d(mx, mw, padding=p)
    my.backward(mytorch.tensor(gy))
    for name, got, want in [("y", my, ty), ("gx", mx.grad, tx.grad), ("gw", mw.grad, tw.grad)]:
        want = want.detach().numpy()
        rel = np.abs(got.detach().numpy() - want).max() / np.abs(want).max()
        assert rel < 2e-5, (name, rel)


@pytest.mark.parametrize("algo", WINOGRAD, indirect=True)
def test_gradcheck(algo):
    rng = np.random.default_rng(5)
    x = mytorch.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = mytorch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = mytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 1), (x, w, b))
    wt = mytorch.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 1, 0), (x, wt))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1), (x, w, b))  # stride 2
