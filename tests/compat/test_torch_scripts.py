"""PyTorch scripts run unchanged on mytorch through `sys.modules` aliasing (run_as_torch.py):
each runs under real torch and under mytorch, and their outputs agree."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _run(script, *args, mytorch=True, env=None):
    cmd = [sys.executable] + ([str(HERE / "run_as_torch.py")] if mytorch else []) + \
        [str(HERE / "scripts" / script), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=None if env is None else {**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _steps(out):
    return [re.match(r"step (\d+) loss ([\d.]+) dtype (\w+) scale ([\d.e+]+)", line).groups()
            for line in out.splitlines() if line.startswith("step")]


# The script calls torch.compile. Under real torch, inductor compiles it with a C++ compiler
# (10-25 s here); the fast case runs the torch side with TORCH_COMPILE_DISABLE=1 (torch's
# eager numerics, the same script), the slow ones let inductor compile. mytorch runs it as is.
@pytest.mark.parametrize("dtype, tol, torch_compiles", [
    ("float16", 2e-3, False),
    pytest.param("float16", 2e-3, True, marks=pytest.mark.slow),
    pytest.param("bfloat16", 2e-2, True, marks=pytest.mark.slow),
    pytest.param("float32", 2e-5, True, marks=pytest.mark.slow)])
def test_amp_training_loop_with_grad_scaler(dtype, tol, torch_compiles):
    env = None if torch_compiles else {"TORCH_COMPILE_DISABLE": "1"}
    ours, theirs = _run("amp_train.py", "--dtype", dtype), \
        _run("amp_train.py", "--dtype", dtype, mytorch=False, env=env)
    assert ours.splitlines()[0] == theirs.splitlines()[0]  # parameter count
    a, b = _steps(ours), _steps(theirs)
    assert len(a) == len(b) == 12
    for (step, loss, out_dtype, scale), (_, t_loss, t_dtype, t_scale) in zip(a, b):
        assert out_dtype == t_dtype == (dtype if dtype != "float32" else "float32")
        assert float(scale) == float(t_scale), f"step {step}: scale {scale} vs {t_scale}"
        assert float(loss) == pytest.approx(float(t_loss), rel=tol, abs=tol), f"step {step}"
    if dtype == "float16":  # the injected overflow halved the scale, growth doubled it later
        scales = [float(s) for *_, s in a]
        assert scales[4] == scales[3] / 2 and max(scales) > scales[4]


@pytest.mark.parametrize("workers", [pytest.param(0, marks=pytest.mark.slow), 2])
def test_infinite_sampler_loop(workers):
    outs = [_run("infinite_loader.py", "--workers", workers, mytorch=m) for m in (True, False)]
    for out in outs:
        first, last = map(float, re.search(r"first_loss ([\d.]+) last_loss ([\d.]+)",
                                           out).groups())
        assert "batches 60" in out and last < first * 0.6
