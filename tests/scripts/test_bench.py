"""scripts/bench.py: the scale section's helpers (peak-memory reading, the MNIST example
network's two sides, the FLOP count, MFU against the interleaved roof), the README table
written from a run's JSON, and the driver run end to end on a tiny filter."""
import json
import os
import subprocess
import sys
import time

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
    gpt = {"model": "GPT-2 124M", "batch": 2, "seq": 256, "sides": sides,
           "flops_per_step": 4e11, "compile": {"status": "ok", "child_s": 60.0, "in_run_s": 20.0},
           "roof_gflops": {"before": 41.0, "interleaved": 40.0, "after": 39.0,
                           "samples": [40.0, 41.0, 39.0]}}
    scale_ = {"matmul_roof_gflops": 40.0, "gpt2_step": gpt,
              "gpt2_generate_tok_s": {"mytorch": 20.0, "transformers": 10.0},
              "mnist_example": {"mytorch_ms": 90.0, "torch_ms": 100.0, "ratio": 0.9}}
    return {"date": "2026-12-02 12:00 UTC", "commit": "abc1234", "threads": 1,
            "machine": "x86_64", "full": True, "quick": False, "filters": [], "cases": cases,
            "scale": scale_, "timing": {"sections_s": {"cases": 60.0}, "total_s": 300.0,
                                        "budget_s": 600.0}}


def test_readme_block_is_rewritten(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.README_START}\nold table\n{bench.README_END}\noutro\n")
    bench.write_readme(_result(), str(readme))
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old table" not in text
    assert "Last full run: 2026-12-02 12:00 UTC, commit abc1234" in text and "took 5.0 min" in text
    assert "| Conv2d a | 0.50 | add | 1.50 |" in text and "| mul | 1.00 |  |  |" in text
    assert "roof 40.0 GFLOP/s" in text and "41.0 before the steps, 39.0 after" in text
    assert "| GPT-2 124M train step B=2 T=256 AdamW, s | 4.00 | 5.00 | 4.50 | 0.80 / 0.89 |" \
        in text                                                  # GPT-2 step and its ratios
    assert "| model FLOP utilisation | 50% | 40% | 45% | |" in text
    # 4e11 FLOPs at 40 GFLOP/s: 10 s, twice eager's 5 s and 10 / 4.5 of compile's
    assert "| floor: every model FLOP at the roof, s | 10.00 | | | 2.00 / 2.22 |" in text
    assert "| 2000 | 2500 | | 0.80 |" in text                  # peak RSS
    bench.write_readme(_result(), str(readme))                  # idempotent
    assert readme.read_text() == text


def test_readme_table_when_compile_timed_out(tmp_path):
    """No torch.compile side: its cells read "-" and the table says why."""
    result = _result()
    gpt = result["scale"]["gpt2_step"]
    del gpt["sides"]["torch.compile"]
    gpt["compile"] = {"status": "compile timed out after 240 s"}
    text = bench.readme_tables(result)
    assert "| 4.00 | 5.00 | - | 0.80 / - |" in text and "| 50% | 40% | - | |" in text
    assert "| 10.00 | | | 2.00 / - |" in text
    assert "| torch.compile | | | compile timed out after 240 s | |" in text
    assert "nan" not in text


def test_readme_without_markers_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="bench:start"):
        bench.write_readme(_result(), str(readme))


def _small_gpt2(monkeypatch):
    """The scale section on the tiny preset with a 512-token vocabulary (the 50257-row head
    is most of a tiny step's time) and a 64x64 roof matmul: the same code paths, seconds
    less per test."""
    from zoo.gpt2 import GPTConfig
    monkeypatch.setattr(scale, "PRESET", "tiny")
    monkeypatch.setattr(scale, "gpt2_config", lambda: GPTConfig.preset(
        "tiny", vocab_size=512, block_size=1024, dropout=0.0))
    roof = scale.matmul_roof_step
    monkeypatch.setattr(scale, "matmul_roof_step", lambda: roof(64, 1))


def test_gpt2_sides_start_from_the_same_weights(monkeypatch):
    """The timed torch side loads mytorch's initial weights: the first losses agree (torch's
    default init would start near loss 480 and fill AdamW's state with subnormals)."""
    import mytorch
    _small_gpt2(monkeypatch)
    m_model, _ = scale.mytorch_gpt2_step()
    t_model, _ = scale.torch_gpt2_step(weights=m_model.state_dict())
    x, y = scale._batch(scale.gpt2_config())
    m_loss = float(m_model(mytorch.tensor(x), mytorch.tensor(y))[1].item())
    with torch.no_grad():
        t_loss = float(t_model(torch.from_numpy(x), torch.from_numpy(y))[1])
    assert m_loss == pytest.approx(t_loss, rel=1e-5)
    assert m_loss < 2 * np.log(512)  # a sane init: about log(vocab)


def test_gpt2_training_and_generation_plumbing(monkeypatch):
    """The scale section's GPT-2 timings run end to end (on the tiny preset here): every side
    and the roof between the steps are timed, the FLOP count is positive, generation reports
    tokens/s for both sides."""
    _small_gpt2(monkeypatch)
    gpt = scale.gpt2_training(rounds=2, compiled=False)
    assert set(gpt["sides"]) == {"mytorch", "torch eager"}
    assert gpt["compile"]["status"].startswith("not run") and gpt["flops_per_step"] > 0
    assert gpt["model"].startswith("GPT-2 ") and "tiny" in gpt["model"]
    assert all(r["s_per_step"] > 0 and r["mfu"] > 0 for r in gpt["sides"].values())
    roofs = gpt["roof_gflops"]
    assert len(roofs["samples"]) == 2 * (1 + 2)  # per round: one before, one after each step
    assert all(roofs[k] > 0 for k in ("before", "interleaved", "after"))
    gen = scale.gpt2_generation(new_tokens=3, prompt=4, rounds=1)
    assert set(gen) == {"mytorch", "transformers"} and all(v > 0 for v in gen.values())


def test_step_flops_counts_every_matmul():
    """6 * params * tokens plus attention equals a count made matmul by matmul: per token and
    layer, c_attn (d x 3d), attention's c_proj (d x d), c_fc (d x 4d) and the MLP's c_proj
    (4d x d), the tied lm_head (d x V) once, and q @ K^T and att @ V over T positions, each
    2 FLOPs per multiply-add forward and 3x that with backward. Biases and LayerNorm make the
    parameter count differ from the weight count by under 1%."""
    import mytorch  # noqa: F401  (zoo imports it)
    from zoo.gpt2 import GPT2, GPTConfig
    cfg = GPTConfig.preset("tiny", block_size=1024)
    model = GPT2(cfg)
    L, d, V, T, tokens = cfg.n_layer, cfg.n_embd, cfg.vocab_size, scale.SEQ, \
        scale.BATCH * scale.SEQ
    weights = L * (3 * d * d + d * d + 4 * d * d + 4 * d * d) + d * V
    by_hand = 3 * tokens * (2 * weights + L * (2 * T * d + 2 * T * d))
    got = scale.step_flops(cfg, model.num_parameters())
    assert abs(got - by_hand) / by_hand < 0.01, (got, by_hand)
    # the tied embedding is one matrix: counting it twice would be about 2x here
    assert model.num_parameters() < 1.1 * weights


def test_mfu_uses_the_roof_sampled_between_the_steps(monkeypatch):
    """A fake clock: the roof gets faster sample by sample (100, 200, 300 ... GFLOP/s), step a
    takes 2 s and step b 4 s. A roof sample comes before the first step of each round and after
    every step; MFU is the step's FLOP rate over the median of those samples."""
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    speeds = iter(range(100, 10_000, 100))  # GFLOP/s of successive roof samples

    def roof():
        now[0] += 1.0 / next(speeds)  # 1 GFLOP at this sample's speed

    def step_a():
        now[0] += 2.0

    def step_b():
        now[0] += 4.0
    sides, roofs = scale.time_interleaved({"a": step_a, "b": step_b}, roof, 1e9, flops=8e11,
                                          rounds=2)
    np.testing.assert_allclose(roofs, [100, 200, 300, 400, 500, 600])
    assert sides["a"]["s_per_step"] == pytest.approx(2.0)
    assert sides["b"]["s_per_step"] == pytest.approx(4.0)
    np.testing.assert_allclose(sides["a"]["mfu"], 400 / 350)  # 8e11 FLOPs in 2 s; median roof
    np.testing.assert_allclose(sides["b"]["mfu"], 200 / 350)


def _run_bench(*args, timeout=900):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench.py"), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_driver_on_a_tiny_filter_writes_json_and_readme(tmp_path):
    """bench.py in a subprocess, --quick on one core case and the scale section with the tiny
    GPT-2: the JSON holds the case, the scale section and the timing, and --readme PATH
    rewrites only the marked block of a README copy."""
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n{bench.README_START}\nold table\n{bench.README_END}\ntail\n")
    out_json = tmp_path / "last.json"
    run = _run_bench("--quick", "core/tiny_add", "scale", "--gpt2", "tiny", "--json",
                     str(out_json), "--readme", str(readme))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out_json.read_text())
    assert not result["full"] and result["quick"] and result["filters"] == ["core/tiny_add",
                                                                              "scale"]
    [case] = result["cases"]
    assert case["name"] == "core/tiny_add_fwd_bwd"
    assert case["mytorch_ms"] > 0 and case["torch_ms"] > 0
    assert case["ratio"] == pytest.approx(case["mytorch_ms"] / case["torch_ms"])
    gpt = result["scale"]["gpt2_step"]
    assert set(gpt["sides"]) == {"mytorch", "torch eager"} and "tiny" in gpt["model"]
    assert result["scale"]["matmul_roof_gflops"] == gpt["roof_gflops"]["interleaved"] > 0
    assert result["scale"]["mnist_example"]["mytorch_ms"] > 0
    timing = result["timing"]
    assert timing["budget_s"] == 120 and timing["total_s"] >= sum(timing["sections_s"].values())
    assert {"imports", "cases", "scale: MNIST example", "scale: GPT-2 training steps"} \
        == set(timing["sections_s"])
    assert "of the 120 s budget" in run.stdout and "fp32 matmul roof" in run.stdout
    text = readme.read_text()
    assert text.startswith(f"# title\n{bench.README_START}\nPartial run (--quick; filters "
                           "core/tiny_add, scale; --gpt2 tiny)")
    assert text.endswith(f"{bench.README_END}\ntail\n")
    assert "old table" not in text and "| tiny_add_fwd_bwd | " in text
    assert "| model FLOP utilisation |" in text and "not run (--quick)" in text


def test_driver_keeps_partial_runs_out_of_the_readme():
    """--readme without a PATH writes README.md, which only a full run may do."""
    run = _run_bench("core/tiny_add", "--readme", timeout=120)
    assert run.returncode == 2 and "takes a full run" in run.stderr


def _gone(pid):
    """True once `pid` has exited (a zombie waiting for its new parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.split()[1] == "Z" for line in f if line.startswith("State:"))
    except FileNotFoundError:
        return True


def test_a_child_past_its_time_limit_is_killed_with_its_group():
    """The bounded torch.compile child: past its limit, _wait_child returns None and kills the
    child's whole process group, so workers it started (inductor's compile pool) die too."""
    code = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(120)']); print(p.pid, flush=True); p.wait()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    worker = int(proc.stdout.readline())
    assert scale._wait_child(proc, 0.5, "sleeper") is None
    assert proc.returncode is not None
    for _ in range(100):  # the kill is delivered at once; give the kernel a moment
        if _gone(worker):
            break
        time.sleep(0.1)
    assert _gone(worker)


def test_a_failing_child_raises_with_its_stderr():
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('no cache dir')"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    with pytest.raises(RuntimeError, match=r"probe failed \(exit 1\):\n.*no cache dir"):
        scale._wait_child(proc, 60, "probe")


def test_readme_flags_an_mfu_over_100_percent():
    result = _result()
    result["scale"]["gpt2_step"]["sides"]["mytorch"]["mfu"] = 1.05
    assert "| model FLOP utilisation (over 100%: roof mismeasured) | 105% |" \
        in bench.readme_tables(result)
    result["full"], result["gpt2_preset"] = False, "tiny"
    assert bench.readme_tables(result).startswith("Partial run (--gpt2 tiny): ")


@pytest.mark.parametrize("child, timeout, status", [
    ("import time; time.sleep(120)", 1, "compile timed out after 1 s (raise --compile-timeout)"),
    ("raise SystemExit('InductorError: no C++ compiler')", 120,
     "compile failed: InductorError: no C++ compiler")])
def test_gpt2_training_without_a_compile(monkeypatch, child, timeout, status):
    """A compile child that runs out of time or fails leaves the torch.compile side out and
    says why; mytorch and torch eager are still timed."""
    _small_gpt2(monkeypatch)
    monkeypatch.setattr(scale, "_start_child", lambda *args: subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True))
    gpt = scale.gpt2_training(rounds=1, compiled=True, compile_timeout=timeout)
    assert gpt["compile"] == {"status": status}
    assert set(gpt["sides"]) == {"mytorch", "torch eager"}
