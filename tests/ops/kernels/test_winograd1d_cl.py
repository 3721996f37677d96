"""1-D Winograd F(4, 3) on channels-last transformed tensors (mytorch.ops.winograd1d_cl, the
"winograd1dcl" algorithm): the numba transforms against their array-module references
(winograd1d.py's references on transposed views), the exact adjoints, the whole conv through the
references against the numba path and the tiles-last winograd1d, and that conv_select times it.
The Conv1d layers forced onto it against PyTorch (forward and both backwards, odd lengths,
padding 0/1/2/'same', batch 1, chunked batches, ConvTranspose1d, float64 gradcheck, the float32
error budget, a retained second backward) are test_winograd1d.py's, run for both algorithms.

Tolerances: float64 uses the `check` helper's; float32 is held to 2e-5 of each result's largest
magnitude against torch in float64 (winograd1d's docstring)."""
import numpy as np
import pytest
import torch.nn.functional as TF

import mytorch.nn.functional as F
from mytorch.ops import conv_select
from mytorch.ops import winograd as W
from mytorch.ops import winograd1d as W1
from mytorch.ops import winograd1d_cl as WC
from tests.helpers import check
from tests.ops.kernels.test_winograd1d import GEOMS, _geom, check_adjoints

# GEOMS plus 1 and 33 channels (a channel count no multiple of the 8 x 8 transpose blocks) and
# real lengths (whole blocks, and a ragged tail of 5)
CL_GEOMS = GEOMS + [((2, 1, 17), (1, 1)), ((2, 33, 29), (2, 2)), ((1, 16, 64), (1, 1)),
                    ((2, 9, 69), (0, 0))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", CL_GEOMS)
def test_transforms_match_reference(shape, pads, dtype):
    """The numba loops equal the references; on a tile axis longer than the tiles (as the
    drivers use) they leave the extra tile alone; the (tiles-last) output transform adds the
    bias."""
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

    # the output transform takes M tiles-last (ChannelsLastIn) and adds the bias
    m = rng.standard_normal((W1.A, o, t + 1)).astype(dtype)
    want = W1.output_transform_reference(m[:, :, :t], g, np.empty((n, o, g.Wo), dtype))
    bias = rng.standard_normal(o).astype(dtype)
    got = WC._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype), bias)
    np.testing.assert_allclose(got[:, :, 0], want + bias.reshape(-1, 1), **tol)
    got = WC._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype))
    np.testing.assert_allclose(got[:, :, 0], want, **tol)

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
    check_adjoints(WC, shape, pads, channels_last=True)


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


def test_plan_takes_smaller_chunks():
    """The Plan's batch chunks hold 1/_CHUNK_SHARE of winograd._CHUNK_ELEMS (see the module
    docstring); the layout is channels-last with 6 positions, except the forward's M, which its
    GEMM writes tiles-last (on NumPy through a transposed output view, elsewhere a copy)."""
    p = WC.plan(_geom((2, 8, 9), (1, 1)))
    assert p.chunk_elems == W._CHUNK_ELEMS // WC._CHUNK_SHARE > 0
    assert isinstance(p.layout, W.ChannelsLast) and p.layout.positions == 6
    assert p.tiles == 3
    lay = p.layout
    buf = np.zeros(lay.size(5, 7), np.float32)
    assert lay.view(buf, 5, 7).shape == (6, 7, 5) and lay.output_view(buf, 5, 7).shape == (6, 5, 7)
    rng = np.random.default_rng(5)
    v = rng.standard_normal((6, 7, 4)).astype(np.float32)
    u = rng.standard_normal((6, 5, 4)).astype(np.float32)
    ut = lay.forward_weight(np, u)
    m = lay.output_view(buf, 5, 7)
    lay.forward(np, ut, v, m)
    np.testing.assert_allclose(m, u @ v.transpose(0, 2, 1), rtol=1e-6)

    class Other:  # an array module other than NumPy: the copy branch
        matmul = staticmethod(np.matmul)

    m2 = lay.output_view(np.zeros_like(buf), 5, 7)
    lay.forward(Other, ut, v, m2)
    np.testing.assert_array_equal(m2, m)


def test_conv_select_offers_it_for_a_conv1d_layer(monkeypatch):
    """A training Conv1d of kernel 3 offers im2col, im2colcl, winograd1d and winograd1dcl as
    whole layers; the chosen one runs both passes and matches torch."""
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
        assert offered and offered[0] == ["im2col", "im2colcl", "winograd1d", "winograd1dcl"], \
            offered
        assert "winograd1dcl" in conv_select._cache.values()
    finally:
        conv_select.clear_cache()
