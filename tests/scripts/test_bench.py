"""scripts/bench.py's scale section helpers: peak-memory reading, the MNIST example network's
two sides, and the README table written from a run's JSON."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import bench  # noqa: E402
from bench_cases import scale  # noqa: E402


def test_vmhwm_sees_a_new_peak():
    """In a fresh process (this one's peak may already be higher), touching 128 MiB raises
    VmHWM by about that much."""
    code = ("import numpy as np; from bench_cases.scale import vmhwm_mib; a = vmhwm_mib(); "
            "b = np.ones(128 << 20, np.uint8); print(a, vmhwm_mib())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "scripts")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    before, after = map(float, out.stdout.split())
    assert after - before >= 120, (before, after)


def test_mnist_example_sides_agree():
    """Both sides start from the same weights: one step each gives the same loss (dropout
    masks differ, so compare with dropout off) and runs the optimizer."""
    m, t = scale.mnist_example_nets()
    m_step, t_step = scale.mnist_example_pair((m, t))
    m.eval(), t.eval()
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    import mytorch
    np.testing.assert_allclose(m(mytorch.tensor(x)).detach().numpy(),
                               t(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    before = [p.detach().numpy().copy() for p in m.parameters()]
    m.train(), t.train()
    m_step(), t_step()
    assert all(not np.array_equal(b, p.detach().numpy()) for b, p in zip(before, m.parameters()))


def _result():
    cases = [{"name": "conv/Conv2d a", "mytorch_ms": 1.0, "torch_ms": 2.0, "ratio": 0.5},
             {"name": "core/add", "mytorch_ms": 3.0, "torch_ms": 2.0, "ratio": 1.5},
             {"name": "core/mul", "mytorch_ms": 1.0, "torch_ms": 1.0, "ratio": 1.0}]
    sides = {"mytorch": {"s_per_step": 4.0, "mfu": 0.5, "peak_rss_mib": 2000.0},
             "torch eager": {"s_per_step": 5.0, "mfu": 0.4, "peak_rss_mib": 2500.0},
             "torch.compile": {"s_per_step": 4.5, "mfu": 0.45}}
    scale_ = {"matmul_roof_gflops": 40.0, "gpt2_step": {"sides": sides},
              "gpt2_generate_tok_s": {"mytorch": 20.0, "transformers": 10.0},
              "mnist_example": {"mytorch_ms": 90.0, "torch_ms": 100.0, "ratio": 0.9}}
    return {"date": "2026-12-02 12:00 UTC", "commit": "abc1234", "threads": 1,
            "machine": "x86_64", "cases": cases, "scale": scale_}


def test_readme_block_is_rewritten(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.README_START}\nold table\n{bench.README_END}\noutro\n")
    bench.write_readme(_result(), str(readme))
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old table" not in text
    assert "commit abc1234" in text and "| Conv2d a | 0.50 | add | 1.50 |" in text
    assert "| mul | 1.00 |  |  |" in text
    assert "| 4.00 | 5.00 | 4.50 | 0.80 / 0.89 |" in text      # GPT-2 step and its ratios
    assert "| 2000 | 2500 | | 0.80 |" in text                  # peak RSS
    bench.write_readme(_result(), str(readme))                  # idempotent
    assert readme.read_text() == text


def test_readme_without_markers_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="bench:start"):
        bench.write_readme(_result(), str(readme))


def test_gpt2_training_and_generation_plumbing(monkeypatch):
    """The scale section's GPT-2 timings run end to end (on the tiny preset here): every side
    and the interleaved matmul roof are timed, the FLOP count is positive, generation reports
    tokens/s for both sides."""
    from zoo.gpt2 import GPTConfig
    monkeypatch.setattr(scale, "gpt2_config", lambda: GPTConfig.preset("tiny", vocab_size=512,
                                                                       block_size=256))
    roof = scale.matmul_roof_step
    monkeypatch.setattr(scale, "matmul_roof_step", lambda: roof(64, 1))
    secs, flops, compile_s = scale.gpt2_training(rounds=1, compiled=False)
    assert set(secs) == {"mytorch", "torch eager", "roof"} and compile_s is None
    assert all(v > 0 for v in secs.values()) and flops > 0
    gen = scale.gpt2_generation(new_tokens=3, prompt=4, rounds=1)
    assert set(gen) == {"mytorch", "transformers"} and all(v > 0 for v in gen.values())
