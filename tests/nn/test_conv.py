"""Conv1d/2d and ConvTranspose1d/2d: both paths against PyTorch, gradcheck, modules, bad input."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.autograd import gradcheck
from tests.helpers import check

# (x shape, out channels, kernel, stride, padding, dilation, groups, bias)
CONV2D = [
    ((2, 4, 7, 9), 6, 3, 1, 1, 1, 1, True),
    ((1, 4, 8, 7), 6, (2, 3), (2, 1), (1, 0), (1, 2), 2, False),
    ((3, 6, 6, 6), 6, 3, 2, 0, 1, 6, True),             # depthwise
    ((2, 3, 9, 8), 5, 1, 1, 0, 1, 1, True),             # 1x1
    ((2, 3, 9, 8), 4, 1, 2, 1, 1, 1, False),            # strided 1x1 with padding
    ((2, 2, 10, 11), 4, 4, 3, 2, 2, 2, True),
    ((2, 3, 5, 5), 2, 5, 1, 0, 1, 1, True),             # kernel == input
    ((2, 3, 6, 5), 4, 3, 1, "same", 2, 1, True),
    ((2, 3, 6, 5), 4, (2, 4), 1, "same", 1, 1, False),  # even kernel: asymmetric padding
    ((2, 3, 6, 5), 4, 3, 2, "valid", 1, 1, True),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("case", CONV2D, ids=range(len(CONV2D)))
def test_conv2d_matches_torch(case, auto, device):
    xs, o, k, s, p, d, g, bias = case
    ks = (k, k) if isinstance(k, int) else k
    shapes = [xs, (o, xs[1] // g) + ks] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, s, p, d, g, auto=auto), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, s, p, d, g), device=device)


@pytest.mark.parametrize("auto", [False, True])
def test_conv2d_noncontig_and_unbatched(auto):
    check(lambda x, w, b: F.conv2d(x, w, b, 2, 1, auto=auto), [(2, 3, 6, 5), (4, 3, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 2, 1), noncontig=True)
    check(lambda x, w: F.conv2d(x, w, padding=1, auto=auto), [(3, 6, 5), (4, 3, 3, 3)],
          torch_fn=lambda x, w: TF.conv2d(x, w, padding=1))


def test_conv2d_float64_and_big_batch_chunks(monkeypatch):
    from mytorch.ops import conv as C
    monkeypatch.setattr(C, "_CHUNK_ELEMS", 200)  # forces several im2col chunks
    monkeypatch.setattr(C, "_KEEP_COLS_BYTES", 0)  # ... in backward too (no kept columns)
    check(lambda x, w, b: F.conv2d(x, w, b, 1, 1), [(5, 3, 6, 6), (4, 3, 3, 3), (4,)],
          torch_fn=lambda x, w, b: TF.conv2d(x, w, b, 1, 1), dtype=np.float64)
    check(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 1), [(5, 3, 4, 4), (3, 2, 3, 3)],
          torch_fn=lambda x, w: TF.conv_transpose2d(x, w, None, 2, 1, 1))


CONV1D = [((2, 3, 9), 4, 3, 1, 1, 1, 1, True), ((1, 4, 12), 6, 4, 3, 2, 2, 2, False),
          ((2, 3, 7), 5, 4, 1, "same", 2, 1, True), ((2, 4, 8), 4, 3, 2, 0, 1, 4, True)]


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("case", CONV1D, ids=range(len(CONV1D)))
def test_conv1d_matches_torch(case, auto, device):
    xs, o, k, s, p, d, g, bias = case
    shapes = [xs, (o, xs[1] // g, k)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv1d(x, w, b, s, p, d, g, auto=auto), shapes,
          torch_fn=lambda x, w, b=None: TF.conv1d(x, w, b, s, p, d, g), device=device)


# (x shape, out channels, kernel, stride, padding, output_padding, groups, dilation, bias)
CONVT2D = [
    ((2, 4, 5, 6), 6, 3, 1, 0, 0, 1, 1, True),
    ((2, 4, 5, 6), 6, 3, 2, 1, 1, 1, 1, True),
    ((1, 4, 4, 5), 6, (2, 3), (3, 2), (1, 2), (2, 1), 2, 1, False),
    ((2, 4, 5, 4), 4, 3, 1, 1, (1, 1), 2, 2, True),     # output_padding < dilation
    ((2, 4, 3, 3), 8, 2, 2, 0, 0, 4, 1, True),
    ((2, 3, 4, 4), 2, 4, 2, 3, 0, 1, 2, False),         # padding crops the full output
]


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("case", CONVT2D, ids=range(len(CONVT2D)))
def test_conv_transpose2d_matches_torch(case, auto, device):
    xs, o, k, s, p, op, g, d, bias = case
    ks = (k, k) if isinstance(k, int) else k
    shapes = [xs, (xs[1], o // g) + ks] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, s, p, op, g, d, auto=auto), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, s, p, op, g, d),
          device=device)


@pytest.mark.parametrize("auto", [False, True])
def test_conv_transpose1d_and_noncontig(auto):
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1, auto=auto),
          [(2, 3, 7), (3, 5, 3), (5,)],
          torch_fn=lambda x, w, b: TF.conv_transpose1d(x, w, b, 2, 1, 1))
    check(lambda x, w: F.conv_transpose1d(x, w, None, 3, 0, 0, 2, 2, auto=auto),
          [(1, 4, 6), (4, 3, 2)], torch_fn=lambda x, w: TF.conv_transpose1d(x, w, None, 3, 0, 0,
                                                                            2, 2))
    check(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, auto=auto),
          [(2, 3, 4, 5), (3, 2, 3, 3)], torch_fn=lambda x, w: TF.conv_transpose2d(x, w, None, 2,
                                                                                  1),
          noncontig=True)


def _t64(rng, *shapes):
    return [mytorch.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_gradcheck_hand_written_backwards():
    rng = np.random.default_rng(0)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, (2, 1), 1, (1, 2), 2),
                     _t64(rng, (2, 4, 5, 6), (4, 2, 2, 3), (4,)))
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, 1, "same", 2),
                     _t64(rng, (1, 2, 6), (3, 2, 3), (3,)))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1, 2),
                     _t64(rng, (1, 4, 3, 3), (4, 1, 3, 2), (2,)))
    assert gradcheck(lambda x, w: F.conv_transpose1d(x, w, None, 3, 1, 2, 1, 1),
                     _t64(rng, (2, 2, 4), (2, 3, 3)))


# Strided kernels that are a multiple of the stride through the phase path, forced (the timing
# would pick it only where it runs faster): (x shape, out channels, kernel, stride, padding,
# output_padding, groups, bias).
PHASE_T2D = [
    ((2, 6, 7, 7), 4, 4, 2, 1, 0, 1, True),           # the DCGAN/U-Net upsampler
    ((1, 3, 5, 6), 2, 4, 2, 0, 0, 1, False),          # batch 1, no padding, odd sizes
    ((2, 4, 4, 3), 6, 4, 2, 2, 1, 2, True),           # padding over half a kernel, groups
    ((2, 2, 3, 5), 3, (6, 4), (3, 2), (1, 2), (2, 1), 1, True),  # stride 3, output_padding
    ((1, 2, 6, 6), 2, 2, 2, 0, 1, 1, False),          # k = s: each phase is a 1x1 conv
]


@pytest.mark.parametrize("case", PHASE_T2D, ids=range(len(PHASE_T2D)))
def test_phase_path_matches_torch(case, device, monkeypatch):
    """Forced MYTORCH_CONV_ALGO=phase: the transposed conv's forward (col2im into the phases)
    and both backwards (im2col from the phases), and the strided conv2d it is the gradient
    of, against torch."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "phase")
    xs, o, k, s, p, op, g, bias = case
    ks = (k, k) if isinstance(k, int) else k
    shapes = [xs, (xs[1], o // g) + ks] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, s, p, op, g), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, s, p, op, g),
          device=device)
    y = TF.conv_transpose2d(torch.zeros(xs), torch.zeros(shapes[1]), None, s, p, op, g)
    shapes = [tuple(y.shape), (xs[1], o // g) + ks] + ([(xs[1],)] if bias else [])
    check(lambda x, w, b=None: F.conv2d(x, w, b, s, p, 1, g), shapes,
          torch_fn=lambda x, w, b=None: TF.conv2d(x, w, b, s, p, 1, g), device=device)


def test_phase_path_conv_transpose1d_and_gradcheck(monkeypatch):
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "phase")
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1),
          [(2, 3, 9), (3, 5, 4), (5,)],
          torch_fn=lambda x, w, b: TF.conv_transpose1d(x, w, b, 2, 1, 1))
    rng = np.random.default_rng(0)
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1),
                     _t64(rng, (1, 3, 3, 4), (3, 2, 4, 4), (2,)))
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, (3, 2), (2, 0), (1, 1), 2),
                     _t64(rng, (2, 4, 3, 2), (4, 1, 6, 2)))
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, 2, 1), _t64(rng, (2, 2, 7, 6), (3, 2, 4, 4)))


# The transposed conv with the batch innermost in its columns (mytorch.ops.conv_chwn), forced:
# (x shape, out channels, kernel, stride, padding, output_padding, groups, dilation, bias).
CHWN_T2D = [
    ((4, 8, 7, 7), 4, 4, 2, 1, 0, 1, 1, True),          # the DCGAN/U-Net upsampler
    ((1, 3, 5, 6), 2, 4, 2, 0, 0, 1, 1, False),         # batch 1, no padding, odd sizes
    ((3, 4, 5, 4), 6, 3, 1, 1, 0, 2, 1, True),          # stride 1, groups
    ((2, 3, 4, 5), 5, 3, 3, 1, 2, 1, 1, True),          # stride 3, output_padding
    ((2, 2, 3, 3), 4, 2, 2, 0, 1, 1, 1, False),         # kernel 2, output_padding
    ((2, 4, 5, 4), 4, (2, 3), (1, 2), (1, 0), (0, 1), 2, 2, True),  # dilation 2
    ((9, 3, 4, 4), 2, 4, 2, 3, 0, 1, 2, False),         # padding crops the full output
]


@pytest.mark.parametrize("case", CHWN_T2D, ids=range(len(CHWN_T2D)))
def test_chwn_path_matches_torch(case, device, monkeypatch):
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "chwn")
    xs, o, k, s, p, op, g, d, bias = case
    ks = (k, k) if isinstance(k, int) else k
    shapes = [xs, (xs[1], o // g) + ks] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, s, p, op, g, d), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, s, p, op, g, d),
          device=device)


def _transpose_partial_grads_match_torch(rng, needs_list, atol):
    """A float64 4x4 stride-2 ConvTranspose2d with only some of x, w, b needing a gradient
    (the forward keeps nothing when the weight needs none): outputs and the gradients that
    exist equal torch's, and the same ones are None."""
    x, w, b = (rng.standard_normal(s) for s in ((3, 4, 5, 5), (4, 3, 4, 4), (3,)))
    for needs in needs_list:
        mt = [mytorch.tensor(a, requires_grad=r) for a, r in zip((x, w, b), needs)]
        tt = [torch.tensor(a, requires_grad=r) for a, r in zip((x, w, b), needs)]
        y = F.conv_transpose2d(*mt, 2, 1)
        ty = TF.conv_transpose2d(*tt, 2, 1)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10)
        gy = rng.standard_normal(tuple(ty.shape))
        y.backward(mytorch.tensor(gy))
        ty.backward(torch.tensor(gy))
        for m, t in zip(mt, tt):
            assert (m.grad is None) == (t.grad is None)
            if t.grad is not None:
                np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10,
                                           atol=atol)


def test_chwn_path_partial_grads_1d_and_gradcheck(monkeypatch):
    """Forced chwn: only some inputs needing a gradient (the forward keeps nothing when the
    weight needs none), ConvTranspose1d, and float64 gradcheck."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "chwn")
    rng = np.random.default_rng(0)
    _transpose_partial_grads_match_torch(
        rng, ((True, False, False), (False, True, True), (False, False, True)), 1e-12)
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1),
          [(2, 3, 9), (3, 5, 4), (5,)],
          torch_fn=lambda x, w, b: TF.conv_transpose1d(x, w, b, 2, 1, 1))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1),
                     _t64(rng, (2, 3, 3, 4), (3, 2, 4, 4), (2,)))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, (3, 1), (1, 0), (2, 0), 2, 2),
                     _t64(rng, (1, 4, 3, 2), (4, 1, 3, 2), (2,)))


# Winograd F(m x m, 2x2) on the stride phases of a 4x4 stride-2 transposed conv
# (mytorch.ops.winograd_t), forced: (x shape, out channels, padding, output_padding, bias).
WINOGRADT_T2D = [
    ((4, 8, 7, 7), 4, 1, 0, True),          # the DCGAN/U-Net upsampler
    ((1, 3, 5, 6), 2, 0, 0, False),         # batch 1, no padding, odd sizes
    ((3, 4, 6, 5), 5, 1, 1, True),          # output_padding
    ((2, 3, 9, 4), 3, 2, (1, 0), True),     # output_padding on one axis, two tiles a row
    ((9, 3, 4, 4), 2, 3, 0, False),         # padding crops the full output
    ((2, 2, 1, 1), 3, 0, 1, True),          # one input pixel
    ((2, 3, 13, 15), 4, 1, 0, True),        # several tiles per axis
]


@pytest.mark.parametrize("case", WINOGRADT_T2D, ids=range(len(WINOGRADT_T2D)))
def test_winogradt_path_matches_torch(case, device, monkeypatch):
    from mytorch.ops import winograd_t as WT
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "winogradt")
    runs = []
    for name in ("transpose_forward", "transpose_backward"):
        fn = getattr(WT, name)
        monkeypatch.setattr(WT, name, lambda *a, fn=fn, name=name, **k: (runs.append(name),
                                                                          fn(*a, **k))[1])
    xs, o, p, op, bias = case
    shapes = [xs, (xs[1], o, 4, 4)] + ([(o,)] if bias else [])
    check(lambda x, w, b=None: F.conv_transpose2d(x, w, b, 2, p, op), shapes,
          torch_fn=lambda x, w, b=None: TF.conv_transpose2d(x, w, b, 2, p, op), device=device)
    assert {"transpose_forward", "transpose_backward"} <= set(runs)  # this path ran


def test_winogradt_path_partial_grads_fallback_and_gradcheck(monkeypatch):
    """Forced winogradt: only some inputs needing a gradient (the forward keeps nothing when
    the weight needs none), geometries it does not run (kernel 3, groups, dilation, 1-D) falling
    back to the usual choice, and float64 gradcheck."""
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "winogradt")
    rng = np.random.default_rng(0)
    _transpose_partial_grads_match_torch(
        rng, ((True, False, False), (False, True, True), (False, False, True),
              (True, True, False)), 1e-10)
    check(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1), [(2, 4, 5, 5), (4, 3, 3, 3), (3,)],
          torch_fn=lambda x, w, b: TF.conv_transpose2d(x, w, b, 2, 1, 1))
    check(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 0, 2), [(2, 4, 5, 5), (4, 2, 4, 4)],
          torch_fn=lambda x, w: TF.conv_transpose2d(x, w, None, 2, 1, 0, 2))
    check(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 0, 1, 2), [(2, 4, 5, 5), (4, 2, 4, 4)],
          torch_fn=lambda x, w: TF.conv_transpose2d(x, w, None, 2, 1, 0, 1, 2))
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1), [(2, 3, 9), (3, 5, 4), (5,)],
          torch_fn=lambda x, w, b: TF.conv_transpose1d(x, w, b, 2, 1))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1),
                     _t64(rng, (2, 3, 3, 4), (3, 2, 4, 4), (2,)))
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 2, 2, 1),
                     _t64(rng, (1, 2, 5, 3), (2, 3, 4, 4)))


def test_phase_and_im2col_choices_agree(monkeypatch):
    """The phase and im2col choices of the timing give the same transposed conv (same GEMMs,
    same order of summation into each output): that choice does not change the rounding."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 7, 7)).astype(np.float32)
    w = rng.standard_normal((8, 4, 4, 4)).astype(np.float32)
    outs = []
    for algo in ("im2col", "phase", "chwn", "winogradt"):
        monkeypatch.setenv("MYTORCH_CONV_ALGO", algo)
        outs.append(F.conv_transpose2d(mytorch.tensor(x), mytorch.tensor(w), None, 2, 1).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    # chwn orders the GEMM's columns differently, so BLAS may round them differently; winogradt
    # sums other products (the transforms' rounding)
    np.testing.assert_allclose(outs[2], outs[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[3], outs[0], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("auto", [False, True])
def test_conv_modules_match_torch_modules(auto):
    pairs = [(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, auto=auto),
              torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 7, 7)),
             (nn.Conv1d(3, 5, 3, padding="same", dilation=2, bias=False, auto=auto),
              torch.nn.Conv1d(3, 5, 3, padding="same", dilation=2, bias=False), (2, 3, 8)),
             (nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, auto=auto),
              torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
              (2, 4, 4, 5)),
             (nn.ConvTranspose1d(4, 6, 2, stride=2, groups=2, auto=auto),
              torch.nn.ConvTranspose1d(4, 6, 2, stride=2, groups=2), (2, 4, 5))]
    for m, t, xs in pairs:
        assert repr(m) == repr(t)
        assert [k for k, _ in m.named_parameters()] == [k for k, _ in t.named_parameters()]
        with torch.no_grad():
            for (_, p), (_, tp) in zip(m.named_parameters(), t.named_parameters()):
                assert tuple(p.shape) == tuple(tp.shape)
                tp.copy_(torch.from_numpy(p.detach().numpy()))
        x = np.random.default_rng(0).standard_normal(xs).astype(np.float32)
        y = m(mytorch.tensor(x))
        ty = t(torch.from_numpy(x))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-5, rtol=1e-4)
        y.sum().backward()
        ty.sum().backward()
        for (_, p), (_, tp) in zip(m.named_parameters(), t.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_conv_default_init_follows_torch():
    # torch: weight and bias uniform in +-1/sqrt(fan_in); the std of U(-b, b) is b/sqrt(3)
    mytorch.manual_seed(0)
    torch.manual_seed(0)
    for m, t in [(nn.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)),
                 (nn.ConvTranspose2d(16, 8, 4, groups=2), torch.nn.ConvTranspose2d(16, 8, 4,
                                                                                    groups=2))]:
        fan_in = m.weight.shape[1] * math.prod(m.kernel_size)
        bound = 1 / math.sqrt(fan_in)
        for p, tp in [(m.weight, t.weight), (m.bias, t.bias)]:
            a, ta = p.detach().numpy(), tp.detach().numpy()
            assert a.shape == ta.shape and a.dtype == np.float32
            assert np.abs(a).max() <= bound and np.abs(ta).max() <= bound
        # only the weights have enough elements (1k-5k) for a tight spread check
        w, tw = m.weight.detach().numpy(), t.weight.detach().numpy()
        for spread in (w.std(), tw.std()):
            assert abs(spread - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)


def test_conv_bad_input():
    m = nn.Conv2d(3, 8, 3)
    with pytest.raises(RuntimeError, match=r"Conv2d.*3 channels.*\(2, 4, 5, 5\)"):
        m(mytorch.randn(2, 4, 5, 5))
    with pytest.raises(RuntimeError, match=r"Conv2d.*4-D.*\(5, 5\)"):
        m(mytorch.randn(5, 5))
    with pytest.raises(RuntimeError, match=r"Conv2d.*kernel size.*larger than the padded input"):
        m(mytorch.randn(1, 3, 2, 5))
    with pytest.raises(RuntimeError, match=r"Conv1d.*3 channels"):
        nn.Conv1d(3, 4, 2)(mytorch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(RuntimeError, match=r"conv2d.*groups=3.*weight of shape \(4, 1, 3, 3\)"):
        F.conv2d(mytorch.randn(1, 3, 5, 5), mytorch.randn(4, 1, 3, 3), groups=3)
    with pytest.raises(RuntimeError, match="float64"):
        F.conv2d(mytorch.randn(1, 3, 5, 5), mytorch.randn(4, 3, 3, 3, dtype=mytorch.float64))
    with pytest.raises(ValueError, match="same"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(mytorch.randn(1, 3, 4, 4), mytorch.randn(3, 2, 3, 3), stride=2,
                           output_padding=2)
    for conv_t, x, w in ((F.conv_transpose1d, (1, 3, 4), (3, 2, 3)),
                         (F.conv_transpose2d, (1, 3, 4, 4), (3, 2, 3, 3))):
        for padding in ("same", "valid"):  # torch: padding must be ints for these
            with pytest.raises(TypeError, match=f"conv_transpose.d: padding.*'{padding}'"):
                conv_t(mytorch.randn(*x), mytorch.randn(*w), padding=padding)


@pytest.mark.parametrize("algo, stride", [("im2col", 1), ("winograd2", 1), ("winograd4", 1),
                                          ("winograd2cl", 1), ("winograd2cl", 2),
                                          ("im2colcl", 1), ("im2colcl", 2)])
def test_kept_columns_survive_a_retained_second_backward(algo, stride, monkeypatch):
    # The forward keeps small column matrices (im2col, im2colcl) or the transformed input
    # (Winograd) for the weight gradient; backward must not overwrite them, so a retained graph
    # gives the same gradient twice.
    monkeypatch.setenv("MYTORCH_CONV_ALGO", algo)
    conv = mytorch.nn.Conv2d(3, 4, 3, stride=stride, padding=1)
    x = mytorch.randn(2, 3, 9, 8, requires_grad=True)
    y = conv(x).sum()
    y.backward(retain_graph=True)
    first_w, first_x = conv.weight.grad.numpy().copy(), x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(conv.weight.grad.numpy(), 2 * first_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_x, rtol=1e-5, atol=1e-6)
