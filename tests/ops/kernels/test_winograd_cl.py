"""Winograd F(2x2, 3x3) on channels-last transformed tensors (mytorch.ops.winograd_cl, the
"winograd2cl" algorithm: winograd.F2 at stride 1, F2S2 at stride 2): the numba transforms against
their array-module references (winograd.py's references on transposed views), the exact
adjoints, the whole conv through the references against the numba path and the tiles-last
layout, and the conv layers forced onto it against PyTorch (forward and backward, odd sizes,
H != W, padding 0/1/2 and asymmetric, batch 1, 1/3/17 channels, chunked batches, float64
gradcheck; the retained second backward is tests/nn/test_conv.py's, run for every algorithm)."""
import types

import numpy as np
import pytest
import torch.nn.functional as TF

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from mytorch.ops import winograd as W
from mytorch.ops import winograd_cl as WC
from mytorch.ops.window import geom
from tests.helpers import check
from tests.ops.kernels.test_winograd import CASES, GEOMS

STRIDES = [1, 2]


@pytest.fixture
def algo(request, monkeypatch):
    """Force the conv algorithm named by the test's parameter."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", request.param)
    return request.param


def _geom(shape, pads, stride):
    return geom("test", shape[2:], (3, 3), (stride, stride), pads, (1, 1))


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", GEOMS + [((2, 16, 14, 14), ((1, 1), (1, 1))),
                                                 ((3, 1, 9, 4), ((1, 1), (1, 1))),
                                                 ((2, 33, 7, 7), ((0, 0), (0, 0)))])
def test_transforms_match_reference(shape, pads, dtype, stride):
    """The numba loops equal the references; on a tile axis longer than the tiles (as the
    drivers use) they leave the extra tile alone."""
    rng = np.random.default_rng(0)
    g = _geom(shape, pads, stride)
    P = WC.scheme(g).positions
    n, c = shape[:2]
    o = 5
    t = WC._ntiles(g, n)
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-12}
    x = rng.standard_normal(shape).astype(dtype)
    got = WC._input_transform(x, g, np.full((P, t + 1, c), np.nan, dtype))
    want = WC.input_transform_reference(x, g, np.empty((P, t, c), dtype))
    np.testing.assert_allclose(got[:, :t], want, **tol)
    assert np.isnan(got[:, t]).all()

    m = rng.standard_normal((P, t + 1, o)).astype(dtype)
    got = WC._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype))
    want = WC.output_transform_reference(m[:, :t], g, np.empty_like(got))
    np.testing.assert_allclose(got, want, **tol)
    bias = rng.standard_normal(o).astype(dtype)  # added in the same pass
    got = WC._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype), bias)
    np.testing.assert_allclose(got, want + bias.reshape(-1, 1, 1), **tol)
    np.testing.assert_allclose(WC.output_transform_reference(m[:, :t], g, np.empty_like(got),
                                                             bias), got, **tol)

    gy = rng.standard_normal((n, o) + g.out).astype(dtype)
    got = WC._output_adjoint(gy, g, np.full((P, t + 1, o), np.nan, dtype))
    want = WC.output_adjoint_reference(gy, g, np.empty((P, t, o), dtype))
    np.testing.assert_allclose(got[:, :t], want, **tol)
    assert np.isnan(got[:, t]).all()

    dv = rng.standard_normal((P, t + 1, c)).astype(dtype)
    got = WC._input_adjoint(dv, g, np.full(shape, np.nan, dtype))
    want = WC.input_adjoint_reference(dv[:, :t], g, np.empty_like(got))
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("shape, pads, o", [((2, 3, 14, 14), ((1, 1), (1, 1)), 64),
                                           ((1, 2, 15, 17), ((0, 0), (0, 0)), 48)])
def test_stride_1_output_transform_in_bands(shape, pads, o):
    """At stride 1 the output transform writes y in bands of tile rows (about 32 KiB): here
    several, the last one partial, odd output sizes."""
    rng = np.random.default_rng(1)
    g = _geom(shape, pads, 1)
    t = WC._ntiles(g, shape[0])
    m = rng.standard_normal((16, t, o)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    got = WC._output_transform(m, g, np.full((shape[0], o) + g.out, np.nan, np.float32), bias)
    want = WC.output_transform_reference(m, g, np.empty_like(got), bias)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_stride_1_forward_keeps_no_transform():
    """The forward keeps the transformed input for the weight gradient at stride 2 only (at
    stride 1 it is 4x the size of x; backward transforms x again)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y1, kept1 = WC.conv_forward(x, w, _geom(x.shape, ((1, 1), (1, 1)), 1), keep=True)
    y2, kept2 = WC.conv_forward(x, w, _geom(x.shape, ((1, 1), (1, 1)), 2), keep=True)
    assert kept1 is None and y1.shape == (2, 4, 8, 8)
    assert len(kept2) == 1 and kept2[0].shape[0] == 25 and y2.shape == (2, 4, 4, 4)


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("shape, pads", GEOMS)
def test_adjoints_are_transposes(shape, pads, stride):
    """<T a, b> == <a, T* b> for the input and output transforms (the backward is exact)."""
    rng = np.random.default_rng(2)
    g = _geom(shape, pads, stride)
    P = WC.scheme(g).positions
    n, c = shape[:2]
    t = WC._ntiles(g, n)
    x = rng.standard_normal(shape)
    dv = rng.standard_normal((P, t, c))
    lhs = np.vdot(WC._input_transform(x, g, np.empty((P, t, c))), dv)
    np.testing.assert_allclose(lhs, np.vdot(x, WC._input_adjoint(dv, g, np.empty(shape))),
                               rtol=1e-12)
    m = rng.standard_normal((P, t, 3))
    gy = rng.standard_normal((n, 3) + g.out)
    lhs = np.vdot(WC._output_transform(m, g, np.empty((n, 3) + g.out)), gy)
    np.testing.assert_allclose(lhs, np.vdot(m, WC._output_adjoint(gy, g, np.empty_like(m))),
                               rtol=1e-12)


def test_applies_to_3x3_stride_1_and_2():
    g1 = _geom((2, 8, 9, 9), ((1, 1), (1, 1)), 1)
    g2 = _geom((2, 8, 9, 9), ((1, 1), (1, 1)), 2)
    assert WC.applies(g1, 1) and WC.scheme(g1) is W.F2
    assert WC.applies(g2, 1) and WC.scheme(g2) is W.F2S2
    assert not WC.applies(g2, 2)  # groups
    assert not WC.applies(geom("t", (9, 9), (3, 3), (3, 3), ((1, 1), (1, 1)), (1, 1)), 1)
    assert not WC.applies(geom("t", (9, 9), (3, 3), (2, 1), ((1, 1), (1, 1)), (1, 1)), 1)
    assert not WC.applies(geom("t", (9, 9), (3, 3), (2, 2), ((2, 2), (2, 2)), (2, 2)), 1)
    assert not WC.applies(geom("t", (9, 9), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)), 1)


@pytest.mark.parametrize("stride", STRIDES)
def test_reference_drivers_match_numba_and_the_tiles_last_layout(stride, monkeypatch):
    """The whole conv through the array-module references (the CuPy path) equals the numba
    one, and both equal winograd.py's scheme (the same arithmetic in another layout)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    g = _geom(x.shape, ((1, 1), (1, 1)), stride)
    s = WC.scheme(g)
    gy = rng.standard_normal((3, 4) + g.out).astype(np.float32)
    y = WC.conv_forward(x, w, g)
    gx, gw = WC.conv_backward(gy, w, g, x, True)
    tol = {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(W.conv_forward(x, w, g, s), y, **tol)
    for got, want in zip(W.conv_backward(gy, w, g, x, True, s), (gx, gw)):
        np.testing.assert_allclose(got, want, **tol)
    monkeypatch.setattr(WC._kc, "available", lambda *arrays: False)
    np.testing.assert_allclose(WC.conv_forward(x, w, g), y, **tol)
    for got, want in zip(WC.conv_backward(gy, w, g, x, True), (gx, gw)):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", GEOMS + [((2, 16, 14, 14), ((1, 1), (1, 1))),
                                                 ((1, 3, 9, 5), ((0, 2), (1, 0)))])
def test_stride_2_distinct_output_adjoint(shape, pads, dtype):
    """At stride 2 the output adjoint into 9 planes (numba and reference) holds dM's positions
    (i, j), i, j < 3, of the 25-plane one; the numba loop leaves the extra tile alone; rows and
    columns 3 and 4 of the 25 repeat 0 and 2."""
    rng = np.random.default_rng(1)
    g = _geom(shape, pads, 2)
    n, o = shape[0], 5
    t = WC._ntiles(g, n)
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-12}
    gy = rng.standard_normal((n, o) + g.out).astype(dtype)
    full = WC.output_adjoint_reference(gy, g, np.empty((25, t, o), dtype)).reshape(5, 5, t, o)
    for r, r3 in ((3, 0), (4, 2)):
        np.testing.assert_array_equal(full[r], full[r3])
        np.testing.assert_array_equal(full[:, r], full[:, r3])
    want = full[:3, :3].reshape(9, t, o)
    got = WC._output_adjoint(gy, g, np.full((9, t + 1, o), np.nan, dtype))
    np.testing.assert_allclose(got[:, :t], want, **tol)
    assert np.isnan(got[:, t]).all()
    np.testing.assert_allclose(WC.output_adjoint_reference(gy, g, np.empty((9, t, o), dtype)),
                               want, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stride_2_layout_gemms_match_channels_last(dtype):
    """ChannelsLastS2's GEMMs on the 9 distinct dM planes equal ChannelsLast's on all 25
    (the input and the weight gradient, the tile sum)."""
    rng = np.random.default_rng(2)
    t, o, c = 13, 6, 4
    d9 = rng.standard_normal((3, 3, t, o)).astype(dtype)
    rows = [0, 1, 2, 0, 2]
    d25 = d9[rows][:, rows].reshape(25, t, o)
    u = rng.standard_normal((25, o, c)).astype(dtype)
    v = rng.standard_normal((25, t, c)).astype(dtype)
    a, b = WC.ChannelsLastS2(25), W.ChannelsLast(25)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    dm = a.adjoint_view(np.concatenate([d9.ravel(), np.zeros(25 * t * o - 9 * t * o, dtype)]),
                        o, t)
    np.testing.assert_array_equal(dm, d9.reshape(9, t, o))
    got, want = np.empty((25, t, c), dtype), np.empty((25, t, c), dtype)
    a.input_grad(np, u, dm, got)
    b.input_grad(np, u, d25, want)
    np.testing.assert_allclose(got, want, **tol)
    got, want = np.empty((25, o, c), dtype), np.empty((25, o, c), dtype)
    a.weight_grad(np, dm, v, got)
    b.weight_grad(np, d25, v, want)
    np.testing.assert_allclose(got, want, **tol)
    for p in range(25):
        np.testing.assert_allclose(a.tile_sum(dm, p), b.tile_sum(d25, p), **tol)
    # another array module (CuPy) gets its products copied into the strided views
    other = types.SimpleNamespace(matmul=np.matmul)
    got2 = np.empty_like(got)
    a.weight_grad(other, dm, v, got2)
    np.testing.assert_array_equal(got2, got)
    a.input_grad(other, u, dm, got3 := np.empty((25, t, c), dtype))
    a.input_grad(np, u, dm, got4 := np.empty((25, t, c), dtype))
    np.testing.assert_array_equal(got3, got4)


def test_tile_sum_positions():
    """The output adjoint's position holding each tile's sum of gy: (1, 1) of F2, F2S2 and F4
    (their A^T column 1 is all ones); a scheme without such a column has none."""
    assert [W.tile_sum_position(s) for s in (W.F2, W.F2S2, W.F4)] == [5, 6, 7]
    assert W.tile_sum_position(W.Scheme(2, bt=W.F2.bt, g=W.F2.g,
                                        at=((1, 1, 1, 0), (0, 2, -1, -1)))) == -1


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", [((3, 8, 7, 6), ((1, 1), (1, 1))),
                                         ((2, 5, 9, 11), ((0, 2), (1, 0))),
                                         ((1, 3, 5, 5), ((0, 0), (0, 0)))])
@pytest.mark.parametrize("reference", [False, True])
def test_backward_forms_the_bias_gradient(shape, pads, dtype, stride, reference, monkeypatch):
    """conv_backward's `gb` (from the output adjoint's tile sums, chunk by chunk) is gy summed
    over batch and space, whichever gradients run, numba or reference path; other plans
    (no tile_sum position) sum gy directly."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((6, shape[1], 3, 3)).astype(dtype)
    g = _geom(shape, pads, stride)
    gy = rng.standard_normal((shape[0], 6) + g.out).astype(dtype)
    want = gy.sum(axis=(0, 2, 3))
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    if reference:
        monkeypatch.setattr(WC._kc, "available", lambda *arrays: False)
    monkeypatch.setattr(W, "_CHUNK_ELEMS", 1)  # one image per chunk: the sums add up
    for xx, need_x in ((x, True), (None, True), (x, False), (None, False)):
        gb = np.full(6, np.nan, dtype)
        gx, gw = WC.conv_backward(gy, w, g, xx, need_x, gb=gb)
        np.testing.assert_allclose(gb, want, **tol)
        assert (gx is None) != need_x and (gw is None) == (xx is None)
    plan = WC.plan(g)._replace(tile_sum=-1)
    gb = np.full(6, np.nan, dtype)
    W.run_backward(gy, w, g, plan, x, True, gb=gb)
    np.testing.assert_allclose(gb, want, **tol)


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv2d_stride_1_matches_torch(case, algo, device):
    xs, o, p, bias = case
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, 1, p), device=device)


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
@pytest.mark.parametrize("case", CASES[:4] + CASES[6:], ids=range(7))
def test_conv_transpose2d_stride_1_matches_torch(case, algo, device):
    xs, o, p, bias = case
    p = p if isinstance(p, int) else 0
    shapes = [xs, (xs[1], o, 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, 1, p), device=device)


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv2d_stride_2_matches_torch(case, algo, device):
    xs, o, p, bias = case
    p = 1 if p == "same" else p  # torch allows 'same' at stride 1 only
    shapes = [xs, (o, xs[1], 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, 2, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, 2, p), device=device)


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[6]], ids=range(3))
def test_conv_transpose2d_stride_2_matches_torch(case, algo, device):
    xs, o, p, bias = case
    shapes = [xs, (xs[1], o, 3, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, 2, p, 1), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, 2, p, 1), device=device)


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
@pytest.mark.parametrize("stride", STRIDES)
def test_chunked_batches_and_float64(algo, stride, monkeypatch):
    monkeypatch.setattr(W, "_CHUNK_ELEMS", 3000)  # several batch chunks
    check(lambda x, w, b: F.conv2d(x, w, b, stride, 1), [(5, 8, 9, 7), (4, 8, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, stride, 1), dtype=np.float64)
    monkeypatch.setattr(W, "_KEEP_BYTES", 0)  # the weight gradient transforms x again
    check(lambda x, w: F.conv2d(x, w, None, stride, 0), [(5, 8, 10, 10), (4, 8, 3, 3)],
          torch_fn=lambda x, w: TF.conv2d(x, w, None, stride, 0), dtype=np.float64)


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
@pytest.mark.parametrize("stride", STRIDES)
def test_gradcheck(algo, stride):
    rng = np.random.default_rng(5)
    x = mytorch.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = mytorch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = mytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, 1), (x, w, b))
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, stride, (2, 0)), (x, w))
    wt = mytorch.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, stride, 1), (x, wt))


@pytest.mark.parametrize("algo", ["winograd2cl"], indirect=True)
def test_float64_matches_torch_at_stride_1(algo):
    """The gradients at stride 1 in float64 against torch (1 input channel, H != W, an image
    smaller than one tile row of 4 tiles)."""
    for xs, o, p in (((3, 1, 6, 9), 4, 1), ((2, 5, 3, 2), 3, 1), ((2, 4, 4, 4), 6, 0)):
        check(lambda x, w, b: F.conv2d(x, w, b, 1, p), [xs, (o, xs[1], 3, 3), (o,)],
              torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 1, p), dtype=np.float64)
