"""mytorch.ops.conv_select: the per-shape choice of convolution algorithm. Timing picks the
fastest candidate once per shape and caches it; MYTORCH_CONV_ALGO forces one where it applies;
the rule decides in deterministic mode; every choice gives torch's result."""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
import mytorch.nn.functional as F
from mytorch.ops import conv_select

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.delenv("MYTORCH_CONV_ALGO", raising=False)
    conv_select.clear_cache()
    yield
    conv_select.clear_cache()


def _counting(calls, work):
    """Candidates that record their calls; `work` (seconds of busy CPU) makes some slower (busy,
    not asleep: with one thread the selection times CPU time)."""
    def make(name):
        def fn():
            calls.append(name)
            end = time.process_time() + work.get(name, 0.0)
            while time.process_time() < end:
                pass
            return name
        return fn
    return {name: make(name) for name in conv_select.ALGORITHMS}


@pytest.mark.parametrize("work, rounds", [(0.03, conv_select._ROUNDS),
                                          (0.005, conv_select._SMALL_ROUNDS)])
def test_times_once_then_uses_the_cached_fastest(work, rounds):
    calls = []
    cands = _counting(calls, {"im2col": work, "winograd4": work, "winograd2cl": work,
                              "winograd1d": work, "phase": work, "chwn": work})
    x = np.zeros((2, 3), np.float32)
    assert conv_select.run(("k",), cands, "im2col", (x,)) == "winograd2"
    # a warm-up and the timed rounds of every candidate (more rounds for small ops)
    assert calls.count("im2col") == calls.count("winograd4") == calls.count("chwn") == 1 + rounds
    calls.clear()
    assert conv_select.run(("k",), cands, "im2col", (x,)) == "winograd2"
    assert calls == ["winograd2"]  # cached: no more timing


def test_env_forces_an_algorithm_and_rejects_unknown_names(monkeypatch):
    calls = []
    cands = _counting(calls, {})
    x = np.zeros(3, np.float32)
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "winograd4")
    assert conv_select.run(("k",), cands, "im2col", (x,)) == "winograd4"
    assert calls == ["winograd4"]
    # forcing an algorithm that does not apply leaves the usual choice (here: the only one)
    assert conv_select.run(("k2",), {"im2col": cands["im2col"]}, "im2col", (x,)) == "im2col"
    monkeypatch.setenv("MYTORCH_CONV_ALGO", "fft")
    with pytest.raises(ValueError, match="MYTORCH_CONV_ALGO='fft'"):
        conv_select.run(("k",), cands, "im2col", (x,))


def test_rule_without_timing_in_deterministic_mode_and_for_other_arrays():
    calls = []
    cands = _counting(calls, {})
    mytorch.use_deterministic_algorithms(True)
    try:
        assert conv_select.run(("k",), cands, "winograd2", (np.zeros(3, np.float32),)) == \
            "winograd2"
    finally:
        mytorch.use_deterministic_algorithms(False)
    # integer arrays (as a stand-in for arrays the numba loops do not take): the rule
    assert conv_select.run(("k",), cands, "im2col", (np.zeros(3, np.int64),)) == "im2col"
    assert calls == ["winograd2", "im2col"]
    assert conv_select.choose(("k", mytorch.get_num_threads())) is None  # nothing cached


@pytest.mark.parametrize("xs, o, p", [((4, 16, 10, 10), 8, 1), ((2, 1, 9, 9), 4, 0)])
def test_timed_choice_is_cached_per_shape_and_matches_torch(xs, o, p):
    """A 3x3 stride-1 conv through the timed choice (whichever wins here) equals torch; the
    choices for the forward and the backward are cached under their shapes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((o, xs[1], 3, 3)).astype(np.float32)
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    ty = TF.conv2d(tx, tw, padding=p)
    ty.sum().backward()
    for _ in range(2):  # timed, then cached
        mx, mw = mytorch.tensor(x, requires_grad=True), mytorch.tensor(w, requires_grad=True)
        my = F.conv2d(mx, mw, padding=p)
        my.sum().backward()
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-3)
    kinds = sorted(k[0] for k in conv_select._cache)
    assert kinds == ["backward", "forward"]
    assert set(conv_select._cache.values()) <= set(conv_select.ALGORITHMS)


def test_choosing_an_algorithm_leaves_torchs_threads_alone():
    # the choice keys on mytorch.get_num_threads(); reading numba's thread count would start
    # numba's threading layer, which resets the OpenMP pool torch shares (torch at 1 thread
    # ran on 2 beside mytorch, and the bench compared 1 thread against 2)
    code = textwrap.dedent("""
        import torch
        torch.set_num_threads(1)
        import mytorch
        from mytorch.nn import functional as F
        x = mytorch.randn(2, 8, 12, 12, requires_grad=True)
        F.conv2d(x, mytorch.randn(16, 8, 3, 3), padding=1).sum().backward()
        from numba.np.ufunc import parallel
        print(torch.get_num_threads(), parallel._is_initialized, mytorch.get_num_threads() >= 1)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "False", "True"]
