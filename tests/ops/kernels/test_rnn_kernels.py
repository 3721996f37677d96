"""numba LSTM step loops of mytorch.ops._kernels_rnn against their NumPy references and torch."""
import numpy as np
import pytest
import torch

from mytorch.nn import functional as F
from mytorch.ops import _kernels_rnn as K
from mytorch.ops import rnn as R
from tests.helpers import check

TIGHT = {np.float32: 1e-6, np.float64: 1e-14}
SHAPES = [(1, 1), (3, 7), (5, 33), (32, 128)]  # odd widths leave vector remainders


def _step_inputs(rng, B, H, dtype):
    gi = rng.uniform(-4, 4, (B, 4 * H)).astype(dtype)
    gh = rng.uniform(-4, 4, (B, 4 * H)).astype(dtype)
    c = rng.uniform(-2, 2, (B, H)).astype(dtype)
    return gi, gh, c


def _run_step(fn, gi, gh, c, order="C"):
    gi = gi.copy()
    h, c_new, tc = (np.full(c.shape, np.nan, c.dtype, order=order) for _ in range(3))
    fn(gi, gh, c, h, c_new, tc)
    return gi, h, c_new, tc


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,H", SHAPES)
def test_lstm_step_matches_reference(dtype, B, H):
    gi, gh, c = _step_inputs(np.random.default_rng(0), B, H, dtype)
    got = _run_step(K.lstm_step, gi, gh, c)
    ref = _run_step(K.lstm_step_reference, gi, gh, c)
    for a, b in zip(got, ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=TIGHT[dtype], atol=TIGHT[dtype])


def _back_inputs(rng, B, H, dtype):
    gi, gh, c = _step_inputs(rng, B, H, dtype)
    act, _, _, tc = _run_step(K.lstm_step_reference, gi, gh, c)
    dh = rng.standard_normal((B, H)).astype(dtype)
    dc = rng.standard_normal((B, H)).astype(dtype)
    return act, c, tc, dh, dc


def _run_back(fn, act, c, tc, dh, dc, order="C"):
    d = np.full(act.shape, np.nan, act.dtype)
    dc_prev = np.full(c.shape, np.nan, c.dtype, order=order)
    fn(act, c, tc, dh, dc, d, dc_prev)
    return d, dc_prev


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,H", SHAPES)
def test_lstm_step_back_matches_reference(dtype, B, H):
    args = _back_inputs(np.random.default_rng(1), B, H, dtype)
    got = _run_back(K.lstm_step_back, *args)
    ref = _run_back(K.lstm_step_back_reference, *args)
    for a, b in zip(got, ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=TIGHT[dtype], atol=TIGHT[dtype])


def test_steps_take_non_contiguous_and_broadcast_arrays():
    # column-major inputs and (B, H) outputs, and a zero-stride grad (what autograd hands for
    # an unused output)
    rng = np.random.default_rng(2)
    B, H = 4, 9
    gi, gh, c = _step_inputs(rng, B, H, np.float32)
    gh_t, c_t = np.asfortranarray(gh), np.asfortranarray(c)
    for a, b in zip(_run_step(K.lstm_step, gi, gh_t, c_t, order="F"),
                    _run_step(K.lstm_step_reference, gi, gh, c)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    act, c, tc, dh, _ = _back_inputs(rng, B, H, np.float32)
    zero = np.broadcast_to(np.float32(0), (B, H))
    for a, b in zip(_run_back(K.lstm_step_back, np.asfortranarray(act), c, tc, dh, zero, "F"),
                    _run_back(K.lstm_step_back_reference, act, c, tc, dh, np.zeros((B, H),
                                                                                  np.float32))):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_steps_fall_back_to_reference_off_the_kernel_path():
    # non-contiguous gate array (written through a view) and mixed dtypes take the reference
    rng = np.random.default_rng(3)
    B, H = 3, 5
    gi, gh, c = _step_inputs(rng, B, H, np.float64)
    gi_f, c32 = np.asfortranarray(gi), c.astype(np.float32)
    got = [gi_f] + [np.empty((B, H)) for _ in range(3)]
    ref = [gi.copy()] + [np.empty((B, H)) for _ in range(3)]
    K.lstm_step(gi_f, gh, c32, *got[1:])
    K.lstm_step_reference(ref[0], gh, c32, *ref[1:])
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def _torch_layer(x, h, c, w_ih, w_hh, b_ih, b_hh, reverse):
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    ys = [None] * x.shape[0]
    for t in steps:
        h, c = torch.lstm_cell(x[t], (h, c), w_ih, w_hh, b_ih, b_hh)
        ys[t] = h
    return torch.stack(ys), h, c


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("noncontig", [False, True])
def test_lstm_layer_through_kernels_matches_torch(dtype, reverse, noncontig):
    T, B, In, H = 6, 5, 7, 33
    shapes = [(T, B, In), (B, H), (B, H), (4 * H, In), (4 * H, H), (4 * H,), (4 * H,)]
    check(lambda x, h, c, *w: F.recurrent_layer("LSTM", x, [h, c], *w, reverse=reverse),
          shapes, torch_fn=lambda *a: _torch_layer(*a, reverse), dtype=dtype,
          noncontig=noncontig, low=-1.0, high=1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_cell_through_kernels_matches_torch(dtype):
    B, In, H = 5, 7, 33
    shapes = [(B, In), (B, H), (B, H), (4 * H, In), (4 * H, H), (4 * H,), (4 * H,)]
    check(lambda x, h, c, *w: F.lstm_cell(x, (h, c), *w), shapes,
          torch_fn=lambda x, h, c, *w: torch.lstm_cell(x, (h, c), *w), dtype=dtype,
          noncontig=True, low=-1.0, high=1.0)


def test_lstm_layer_kernels_match_reference_path(monkeypatch):
    # the whole layer (forward and all grads) with the numba steps vs the NumPy references
    import mytorch
    rng = np.random.default_rng(4)
    T, B, In, H = 8, 6, 5, 17
    arrays = [rng.uniform(-1, 1, s).astype(np.float32) for s in
              [(T, B, In), (B, H), (B, H), (4 * H, In), (4 * H, H), (4 * H,), (4 * H,)]]

    def run():
        ts = [mytorch.tensor(a, requires_grad=True) for a in arrays]
        y, h, c = F.recurrent_layer("LSTM", ts[0], ts[1:3], *ts[3:])
        ((y * y).sum() + h.sum() + (c * c).sum()).backward()
        return [o.detach().numpy() for o in (y, h, c)] + [t.grad.numpy() for t in ts]

    got = run()
    monkeypatch.setattr(R, "lstm_step", K.lstm_step_reference)
    monkeypatch.setattr(R, "lstm_step_back", K.lstm_step_back_reference)
    ref = run()
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
