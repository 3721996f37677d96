"""1-D Winograd F(4, 3) on channels-last transformed tensors (mytorch.ops.winograd1d_cl, the
"winograd1dcl" algorithm): the numba transforms against their array-module references
(winograd1d.py's references on transposed views), the exact adjoints, the whole conv through the
references against the numba path and the tiles-last winograd1d, and the Conv1d layers forced
onto it against PyTorch (forward and both backwards, odd lengths, padding 0/1/2/asymmetric/'same',
batch 1, 1/3/17/33 channels, chunked batches, ConvTranspose1d, float64 gradcheck, the float32
error budget, a retained second backward), and that conv_select times it.

Tolerances: float64 uses the `check` helper's; float32 is held to 2e-5 of each result's largest
magnitude against torch in float64 (winograd1d's docstring)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from mytorch.ops import conv_select
from mytorch.ops import winograd as W
from mytorch.ops import winograd1d as W1
from mytorch.ops import winograd1d_cl as WC
from tests.helpers import check
from tests.ops.kernels.test_winograd1d import CASES, ERROR_CASES, GEOMS, _geom


@pytest.fixture
def algo(request, monkeypatch):
    """Force the conv algorithm named by the test's parameter."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", request.param)
    return request.param


# GEOMS plus 1 and 33 channels (a channel count no multiple of the 8 x 8 transpose blocks) and
# real lengths (whole blocks, and a ragged tail of 5)
CL_GEOMS = GEOMS + [((2, 1, 17), (1, 1)), ((2, 33, 29), (2, 2)), ((1, 16, 64), (1, 1)),
                    ((2, 9, 69), (0, 0))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", CL_GEOMS)
def test_transforms_match_reference(shape, pads, dtype):
    """The numba loops equal the references; on a tile axis longer than the tiles (as the
    drivers use) they leave the extra tile alone; the output transform adds the bias."""
    rng = np.random.default_rng(0)
    g = _geom(shape, pads)
    n, c = shape[:2]
    o = 5 if c != 33 else 33
    t = n * W1._tiles(g)
    tol = {"rtol": 1e-6, "atol": 1e-5} if dtype == np.float32 else \
        {"rtol": 1e-13, "atol": 1e-12}
    x4 = rng.standard_normal((n, c, 1, shape[2])).astype(dtype)
    got = WC._input_transform(x4, g, np.full((W1.A, t + 1, c), np.nan, dtype))
    want = WC.input_transform_reference(x4[:, :, 0], g, np.empty((W1.A, t, c), dtype))
    np.testing.assert_allclose(got[:, :t], want, **tol)
    assert np.isnan(got[:, t]).all()
    assert np.abs(want).max() > 0

    m = rng.standard_normal((W1.A, t + 1, o)).astype(dtype)
    got = WC._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype))
    want = WC.output_transform_reference(m[:, :t], g, np.empty((n, o, g.Wo), dtype))
    np.testing.assert_allclose(got[:, :, 0], want, **tol)
    bias = rng.standard_normal(o).astype(dtype)  # added in the same pass
    got = WC._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype), bias)
    np.testing.assert_allclose(got[:, :, 0], want + bias.reshape(-1, 1), **tol)
    np.testing.assert_allclose(
        WC.output_transform_reference(m[:, :t], g, np.empty((n, o, g.Wo), dtype), bias),
        got[:, :, 0], **tol)

    gy = rng.standard_normal((n, o) + g.out).astype(dtype)
    got = WC._output_adjoint(gy, g, np.full((W1.A, t + 1, o), np.nan, dtype))
    want = WC.output_adjoint_reference(gy[:, :, 0], g, np.empty((W1.A, t, o), dtype))
    np.testing.assert_allclose(got[:, :t], want, **tol)
    assert np.isnan(got[:, t]).all()

    dv = rng.standard_normal((W1.A, t + 1, c)).astype(dtype)
    got = WC._input_adjoint(dv, g, np.full(x4.shape, np.nan, dtype))
    want = WC.input_adjoint_reference(dv[:, :t], g, np.empty(shape, dtype))
    np.testing.assert_allclose(got[:, :, 0], want, **tol)


@pytest.mark.parametrize("shape, pads", CL_GEOMS)
def test_references_are_the_tiles_last_ones_transposed(shape, pads):
    """The channels-last references hold winograd1d's tiles-last results, transposed."""
    rng = np.random.default_rng(1)
    g = _geom(shape, pads)
    n, c = shape[:2]
    t = n * W1._tiles(g)
    x = rng.standard_normal(shape)
    np.testing.assert_array_equal(
        WC.input_transform_reference(x, g, np.empty((W1.A, t, c))),
        W1.input_transform_reference(x, g, np.empty((W1.A, c, t))).transpose(0, 2, 1))
    dv = rng.standard_normal((W1.A, t, c))
    np.testing.assert_array_equal(
        WC.input_adjoint_reference(dv, g, np.empty(shape)),
        W1.input_adjoint_reference(np.ascontiguousarray(dv.transpose(0, 2, 1)), g,
                                   np.empty(shape)))


@pytest.mark.parametrize("shape, pads", CL_GEOMS)
def test_adjoints_are_transposes(shape, pads):
    """<T a, b> == <a, T* b> for the input and output transforms (the backward is exact)."""
    rng = np.random.default_rng(2)
    g = _geom(shape, pads)
    n, c = shape[:2]
    t = n * W1._tiles(g)
    x = rng.standard_normal((n, c, 1, shape[2]))
    dv = rng.standard_normal((W1.A, t, c))
    lhs = np.vdot(WC._input_transform(x, g, np.empty((W1.A, t, c))), dv)
    np.testing.assert_allclose(lhs, np.vdot(x, WC._input_adjoint(dv, g, np.empty(x.shape))),
                               rtol=1e-12)
    m = rng.standard_normal((W1.A, t, 3))
    gy = rng.standard_normal((n, 3) + g.out)
    lhs = np.vdot(WC._output_transform(m, g, np.empty((n, 3) + g.out)), gy)
    np.testing.assert_allclose(lhs, np.vdot(m, WC._output_adjoint(gy, g, np.empty_like(m))),
                               rtol=1e-12)


def test_reference_drivers_match_numba_and_the_tiles_last_layout(monkeypatch):
    """The whole conv through the array-module references (the CuPy path) equals the numba
    one, and both equal winograd1d (the same arithmetic in another layout); the bias is added
    by the output transform."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 1, 15)).astype(np.float32)
    w = rng.standard_normal((4, 8, 1, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    g = _geom((3, 8, 15), (1, 1))
    gy = rng.standard_normal((3, 4) + g.out).astype(np.float32)
    y = WC.conv_forward(x, w, g, bias=b)
    gx, gw = WC.conv_backward(gy, w, g, x, True)
    tol = {"rtol": 1e-5, "atol": 1e-4}
    np.testing.assert_allclose(W1.conv_forward(x, w, g) + b.reshape(-1, 1, 1), y, **tol)
    for got, want in zip(W1.conv_backward(gy, w, g, x, True), (gx, gw)):
        np.testing.assert_allclose(got, want, **tol)
    monkeypatch.setattr(WC._kc, "available", lambda *arrays: False)
    np.testing.assert_allclose(WC.conv_forward(x, w, g, bias=b), y, **tol)
    for got, want in zip(WC.conv_backward(gy, w, g, x, True), (gx, gw)):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algo", ["winograd1dcl"], indirect=True)
@pytest.mark.parametrize("case", CASES + [((2, 33, 21), 33, 1, True)], ids=range(len(CASES) + 1))
def test_conv1d_matches_torch(case, algo, dtype, device):
    xs, o, p, bias = case
    shapes = [xs, (o, xs[1], 3)] + ([(o,)] if bias else [])
    kw = {} if dtype == np.float64 else {"atol": 1e-4, "rtol": 1e-4}
    check(lambda x, w, b=None: F.conv1d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv1d(x, w, b, 1, p), device=device, dtype=dtype,
          **kw)


@pytest.mark.parametrize("algo", ["winograd1dcl"], indirect=True)
@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c[2], int)], ids=range(8))
def test_conv_transpose1d_matches_torch(case, algo, device):
    """A stride-1 ConvTranspose1d of kernel 3 runs its forward as this conv's backward."""
    xs, o, p, bias = case
    shapes = [xs, (xs[1], o, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose1d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose1d(x, w, b, 1, p), device=device,
          dtype=np.float64)


@pytest.mark.parametrize("algo", ["winograd1dcl"], indirect=True)
def test_chunked_batches(algo, monkeypatch):
    monkeypatch.setattr(W, "_CHUNK_ELEMS", 3000)  # several batch chunks
    check(lambda x, w, b: F.conv1d(x, w, b, 1, 1), [(5, 8, 13), (4, 8, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv1d(x, w, b, 1, 1), dtype=np.float64)
    monkeypatch.setattr(W, "_KEEP_BYTES", 0)  # backward transforms x again
    check(lambda x, w: F.conv1d(x, w, None, 1, 0), [(5, 8, 13), (4, 8, 3)],
          torch_fn=lambda x, w: TF.conv1d(x, w, None, 1, 0), dtype=np.float64)


def test_plan_takes_smaller_chunks():
    """The Plan's batch chunks hold 1/_CHUNK_SHARE of winograd._CHUNK_ELEMS (see the module
    docstring); the layout is channels-last with 6 positions."""
    p = WC.plan(_geom((2, 8, 9), (1, 1)))
    assert p.chunk_elems == W._CHUNK_ELEMS // WC._CHUNK_SHARE > 0
    assert isinstance(p.layout, W.ChannelsLast) and p.layout.positions == 6
    assert p.tiles == 3


@pytest.mark.parametrize("algo", ["winograd1dcl"], indirect=True)
@pytest.mark.parametrize("case", ERROR_CASES, ids=range(len(ERROR_CASES)))
def test_float32_error_budget(case, algo):
    """F(4, 3) in float32: forward, input and weight gradient within 2e-5 of each result's
    largest magnitude of torch's float64 result."""
    xs, o, p = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((o, xs[1], 3)) / np.sqrt(3 * xs[1])).astype(np.float32)
    tx = torch.from_numpy(x).double().requires_grad_()
    tw = torch.from_numpy(w).double().requires_grad_()
    ty = TF.conv1d(tx, tw, padding=p)
    gy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(gy).double())
    mx, mw = mytorch.tensor(x, requires_grad=True), mytorch.tensor(w, requires_grad=True)
    my = F.conv1d(mx, mw, padding=p)
    my.backward(mytorch.tensor(gy))
    for name, got, want in [("y", my, ty), ("gx", mx.grad, tx.grad), ("gw", mw.grad, tw.grad)]:
        want = want.detach().numpy()
        rel = np.abs(got.detach().numpy() - want).max() / np.abs(want).max()
        assert rel < 2e-5, (name, rel)


@pytest.mark.parametrize("algo", ["winograd1dcl"], indirect=True)
def test_gradcheck(algo):
    rng = np.random.default_rng(5)
    x = mytorch.tensor(rng.standard_normal((2, 2, 9)), requires_grad=True)
    w = mytorch.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    b = mytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, 1, 1), (x, w, b))
    assert gradcheck(lambda x, w: F.conv1d(x, w, None, 1, 2), (x, w))
    wt = mytorch.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose1d(x, w, None, 1, 1), (x, wt))


@pytest.mark.parametrize("algo", ["winograd1dcl"], indirect=True)
def test_kept_transform_survives_a_retained_second_backward(algo):
    """Forward keeps the transformed input for the weight gradient; backward must not
    overwrite it, so a retained graph gives the same gradient twice."""
    conv = mytorch.nn.Conv1d(3, 4, 3, padding=1)
    x = mytorch.randn(2, 3, 10, requires_grad=True)
    y = conv(x).sum()
    y.backward(retain_graph=True)
    first_w, first_x = conv.weight.grad.numpy().copy(), x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(conv.weight.grad.numpy(), 2 * first_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_x, rtol=1e-5, atol=1e-6)


def test_conv_select_offers_it_for_a_conv1d_layer(monkeypatch):
    """A training Conv1d of kernel 3 offers im2col, winograd1d and winograd1dcl as whole
    layers; the chosen one runs both passes and matches torch."""
    monkeypatch.delenv("MYTORCH_CONV_ALGO", raising=False)
    conv_select.clear_cache()
    offered = []

    def fake_timed(candidates, clock):
        offered.append(list(candidates))
        return "winograd1dcl", candidates["winograd1dcl"]()

    monkeypatch.setattr(conv_select, "_timed", fake_timed)
    try:
        check(lambda x, w, b: F.conv1d(x, w, b, 1, 1), [(2, 8, 19), (5, 8, 3), (5,)],
              torch_fn=lambda x, w, b: TF.conv1d(x, w, b, 1, 1), atol=1e-4, rtol=1e-4)
        assert offered and offered[0] == ["im2col", "winograd1d", "winograd1dcl"], offered
        assert "winograd1dcl" in conv_select._cache.values()
    finally:
        conv_select.clear_cache()
