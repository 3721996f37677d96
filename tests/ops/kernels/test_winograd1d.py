"""1-D Winograd F(4, 3) convolution (mytorch.ops.winograd1d): numba transforms against their
array-module references, the adjoints, the conv layers on the winograd1d path (forced by
MYTORCH_CONV_ALGO) against PyTorch (forward and both backwards, chunked batches, odd lengths,
padding 0/1/2/asymmetric/'same', batch 1, 1/3/17 channels, ConvTranspose1d), float64 gradcheck,
the float32 error budget, where the candidate applies, and that conv_select times it.

Tolerances: forward and gradients in float64 use the `check` helper's tolerance; float32 is held
to 2e-5 of each result's largest magnitude against torch in float64 (winograd1d's docstring)."""
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
from mytorch.ops.window import geom
from tests.helpers import check

# (N, C, L), padding (pl, pr): odd and even outputs, no / asymmetric padding, tiles covering
# the input exactly, an output shorter than one tile
GEOMS = [((2, 3, 11), (1, 1)), ((3, 2, 8), (0, 0)), ((1, 4, 10), (0, 0)), ((2, 3, 7), (2, 0)),
         ((2, 2, 3), (0, 0)), ((1, 2, 1), (2, 2)), ((2, 5, 13), (0, 1)), ((1, 3, 18), (1, 1))]


@pytest.fixture
def algo(request, monkeypatch):
    """Force the conv algorithm named by the test's parameter."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", request.param)
    return request.param


def _geom(shape, pads):
    """The height-1 geometry a Conv1d of kernel 3 runs as; shape (N, C, L)."""
    return geom("test", (1, shape[2]), (1, 3), (1, 1), ((0, 0), pads), (1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", GEOMS)
def test_transforms_match_reference(shape, pads, dtype):
    """The numba loops equal the einsum references; on a tile axis longer than the tiles (as
    the drivers use) they leave the extra column alone."""
    rng = np.random.default_rng(0)
    g = _geom(shape, pads)
    n, c = shape[:2]
    o = 5
    t = n * W1._tiles(g)
    tol = {"rtol": 1e-6, "atol": 1e-5} if dtype == np.float32 else \
        {"rtol": 1e-13, "atol": 1e-12}
    x4 = rng.standard_normal((n, c, 1, shape[2])).astype(dtype)
    got = W1._input_transform(x4, g, np.full((W1.A, c, t + 1), np.nan, dtype))
    want = W1.input_transform_reference(x4[:, :, 0], g, np.empty((W1.A, c, t), dtype))
    np.testing.assert_allclose(got[:, :, :t], want, **tol)
    assert np.isnan(got[:, :, t]).all()

    m = rng.standard_normal((W1.A, o, t + 1)).astype(dtype)
    got = W1._output_transform(m, g, np.full((n, o) + g.out, np.nan, dtype))
    want = W1.output_transform_reference(m[:, :, :t], g, np.empty((n, o, g.Wo), dtype))
    np.testing.assert_allclose(got[:, :, 0], want, **tol)

    gy = rng.standard_normal((n, o) + g.out).astype(dtype)
    got = W1._output_adjoint(gy, g, np.full((W1.A, o, t + 1), np.nan, dtype))
    want = W1.output_adjoint_reference(gy[:, :, 0], g, np.empty((W1.A, o, t), dtype))
    np.testing.assert_allclose(got[:, :, :t], want, **tol)
    assert np.isnan(got[:, :, t]).all()

    dv = rng.standard_normal((W1.A, c, t + 1)).astype(dtype)
    got = W1._input_adjoint(dv, g, np.full(x4.shape, np.nan, dtype))
    want = W1.input_adjoint_reference(dv[:, :, :t], g, np.empty(shape, dtype))
    np.testing.assert_allclose(got[:, :, 0], want, **tol)


def test_matrices_compute_a_3_tap_correlation():
    """A^T [(G w) * (B^T d)] = the 'valid' correlation of d (6 inputs) with w (3 taps)."""
    rng = np.random.default_rng(7)
    d, w = rng.standard_normal(W1.A), rng.standard_normal(3)
    bt, gm, at = (np.array(a, np.float64) for a in (W1.BT, W1.G, W1.AT))
    want = np.array([d[i:i + 3] @ w for i in range(W1.M)])
    np.testing.assert_allclose(at @ ((gm @ w) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


def check_adjoints(module, shape, pads, channels_last):
    """<T a, b> == <a, T* b> for `module`'s input and output transforms (the backward is
    exact). channels_last: winograd1d_cl's transformed tensors (6, tiles, channels), except the
    forward's M, which its GEMM writes tiles-last for winograd1d's output transform."""
    rng = np.random.default_rng(2)
    g = _geom(shape, pads)
    n, c = shape[:2]
    t = n * W1._tiles(g)

    def layout(ch):
        return (W1.A, t, ch) if channels_last else (W1.A, ch, t)

    x = rng.standard_normal((n, c, 1, shape[2]))
    dv = rng.standard_normal(layout(c))
    lhs = np.vdot(module._input_transform(x, g, np.empty(layout(c))), dv)
    np.testing.assert_allclose(lhs, np.vdot(x, module._input_adjoint(dv, g, np.empty(x.shape))),
                               rtol=1e-12)
    m = rng.standard_normal(layout(3))  # as the output adjoint writes it
    mt = np.ascontiguousarray(m.transpose(0, 2, 1)) if channels_last else m  # tiles-last
    gy = rng.standard_normal((n, 3) + g.out)
    lhs = np.vdot(module._output_transform(mt, g, np.empty((n, 3) + g.out)), gy)
    np.testing.assert_allclose(lhs, np.vdot(m, module._output_adjoint(gy, g, np.empty_like(m))),
                               rtol=1e-12)


@pytest.mark.parametrize("shape, pads", GEOMS)
def test_adjoints_are_transposes(shape, pads):
    check_adjoints(W1, shape, pads, channels_last=False)


def test_reference_drivers_match_numba(monkeypatch):
    """The whole conv through the array-module references (the CuPy path) equals the numba one."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 1, 15)).astype(np.float32)
    w = rng.standard_normal((4, 8, 1, 3)).astype(np.float32)
    g = _geom((3, 8, 15), (1, 1))
    gy = rng.standard_normal((3, 4) + g.out).astype(np.float32)
    y = W1.conv_forward(x, w, g)
    gx, gw = W1.conv_backward(gy, w, g, x, True)
    monkeypatch.setattr(W1._kw, "available", lambda *arrays: False)
    tol = {"rtol": 1e-5, "atol": 1e-4}
    np.testing.assert_allclose(W1.conv_forward(x, w, g), y, **tol)
    for got, want in zip(W1.conv_backward(gy, w, g, x, True), (gx, gw)):
        np.testing.assert_allclose(got, want, **tol)


def test_applies_to_1d_kernel_3_stride_1_only():
    assert W1.applies(_geom((2, 8, 9), (1, 1)), 1)
    assert not W1.applies(_geom((2, 8, 9), (1, 1)), 2)  # groups
    assert not W1.applies(geom("t", (1, 9), (1, 3), (1, 2), ((0, 0), (1, 1)), (1, 1)), 1)
    assert not W1.applies(geom("t", (1, 9), (1, 3), (1, 1), ((0, 0), (2, 2)), (1, 2)), 1)
    assert not W1.applies(geom("t", (1, 9), (1, 5), (1, 1), ((0, 0), (2, 2)), (1, 1)), 1)
    assert not W1.applies(geom("t", (3, 9), (1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1)), 1)
    assert not W1.applies(geom("t", (9, 9), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)), 1)


# (x shape, out channels, padding, bias): odd and even lengths, padding 0/1/2/'same', batch 1,
# 1/3/17 input channels, an output shorter than one tile
CASES = [((2, 8, 9), 6, 1, True), ((3, 9, 16), 4, 0, False), ((2, 16, 28), 8, 1, True),
         ((1, 8, 5), 3, 2, True), ((2, 12, 3), 5, "same", False), ((4, 8, 14), 16, 1, True),
         ((1, 1, 11), 4, 2, True), ((2, 3, 13), 5, 0, False), ((1, 17, 7), 6, "valid", True),
         ((3, 4, 4), 2, 0, True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algo", ["winograd1d", "winograd1dcl"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_conv1d_matches_torch(case, algo, dtype, device):
    xs, o, p, bias = case
    shapes = [xs, (o, xs[1], 3)] + ([(o,)] if bias else [])
    kw = {} if dtype == np.float64 else {"atol": 1e-4, "rtol": 1e-4}
    check(lambda x, w, b=None: F.conv1d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv1d(x, w, b, 1, p), device=device, dtype=dtype,
          **kw)


@pytest.mark.parametrize("algo", ["winograd1d", "winograd1dcl"], indirect=True)
@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c[2], int)], ids=range(8))
def test_conv_transpose1d_matches_torch(case, algo, device):
    """A stride-1 ConvTranspose1d of kernel 3 runs its forward as this conv's backward."""
    xs, o, p, bias = case
    shapes = [xs, (xs[1], o, 3)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose1d(x, w, b, 1, p), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose1d(x, w, b, 1, p), device=device,
          dtype=np.float64)


@pytest.mark.parametrize("algo", ["winograd1d", "winograd1dcl"], indirect=True)
def test_chunked_batches(algo, monkeypatch):
    # the drivers are winograd.py's (W1.plan on winograd.run_forward)
    monkeypatch.setattr(W, "batch_chunks",
                        lambda n, per, limit: [(i, min(i + 2, n)) for i in range(0, n, 2)])
    check(lambda x, w, b: F.conv1d(x, w, b, 1, 1), [(5, 8, 13), (4, 8, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv1d(x, w, b, 1, 1), dtype=np.float64)
    monkeypatch.setattr(W, "_KEEP_BYTES", 0)  # backward transforms x again
    check(lambda x, w, b: F.conv1d(x, w, b, 1, 1), [(5, 8, 13), (4, 8, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv1d(x, w, b, 1, 1), dtype=np.float64)


# (x shape, out channels, padding): real layer sizes and odd ones
ERROR_CASES = [((8, 64, 256), 64, 1), ((2, 256, 37), 32, 0), ((3, 17, 101), 8, 2)]


@pytest.mark.parametrize("algo", ["winograd1d", "winograd1dcl"], indirect=True)
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


@pytest.mark.parametrize("algo", ["winograd1d", "winograd1dcl"], indirect=True)
def test_gradcheck(algo):
    rng = np.random.default_rng(5)
    x = mytorch.tensor(rng.standard_normal((2, 2, 9)), requires_grad=True)
    w = mytorch.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    b = mytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, 1, 1), (x, w, b))
    assert gradcheck(lambda x, w: F.conv1d(x, w, None, 1, 0), (x, w))
    assert gradcheck(lambda x, w: F.conv1d(x, w, None, 1, 2), (x, w))
    wt = mytorch.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose1d(x, w, None, 1, 1), (x, wt))


def test_conv_select_times_it_for_conv1d(monkeypatch):
    """Without MYTORCH_CONV_ALGO a Conv1d of kernel 3 times winograd1d and winograd1dcl
    against im2col and im2colcl (both passes) and the pick, whichever it is, matches torch."""
    monkeypatch.delenv("MYTORCH_CONV_ALGO", raising=False)
    conv_select.clear_cache()
    seen = []
    real = conv_select._timed

    def spy(candidates, clock):
        seen.append(sorted(candidates))
        return real(candidates, clock)

    monkeypatch.setattr(conv_select, "_timed", spy)
    check(lambda x, w: F.conv1d(x, w, None, 1, 1), [(2, 8, 19), (5, 8, 3)],
          torch_fn=lambda x, w: TF.conv1d(x, w, None, 1, 1), atol=1e-4, rtol=1e-4)
    assert seen and all(s == ["im2col", "im2colcl", "winograd1d", "winograd1dcl"]
                        for s in seen), seen
    conv_select.clear_cache()


@pytest.mark.parametrize("algo", ["winograd1d", "winograd1dcl"], indirect=True)
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
