"""`make gpu-check` end to end on the CuPy stand-in (GPU_CHECK_SIMULATE=1, tiny sizes): every
stage runs and lands in the JSON and markdown; `make report` shows the table."""
import json
import math
import os
import subprocess
import sys

import pytest

from experiments import gpu_check, report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# not `slow`: CI's stand-in run must prove the script end to end (issue #10)
@pytest.mark.skipif(not os.environ.get("CUDA_STANDIN_GPUS"),
                    reason="runs once, in make test-cuda-standin")
def test_gpu_check_runs_end_to_end_on_the_cuda_standin(tmp_path):
    env = dict(os.environ, GPU_CHECK_SIMULATE="1")
    env.pop("CUDA_STANDIN_GPUS", None)  # the script must select the stand-in by itself
    proc = subprocess.run([sys.executable, "scripts/gpu_check.py", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=480)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    assert res["simulated"] and res["environment"]["gpus"] == 2
    assert res["cuda_tests"]["ok"] and "passed" in res["cuda_tests"]["summary"]
    assert res["ddp_2gpu_equivalence"]["ok"], res["ddp_2gpu_equivalence"]
    for prec in ("fp32", "fp16"):
        m = res[f"gpt2_{prec}"]["mytorch"]
        assert m["step_ms"] > 0 and m["peak_mb"] > 0, m
        assert "skipped" in res[f"gpt2_{prec}"]["torch"]  # the CPU torch build has no CUDA
    assert res["generation"]["tokens_per_s"] > 0 and res["convnet"]["step_ms"] > 0
    # the fp16 step's targets: judged only with both sides measured (no CUDA torch here)
    assert {v["met"] for v in res["gpt2_fp16"]["targets"].values()} == {None}
    assert res["gpt2_fp16"]["targets"]["time"]["target"] == gpu_check.TARGETS["time"]
    check_kernels_table(res["kernels"])
    md = (tmp_path / "GPU_CHECK.md").read_text()
    assert "SIMULATED" in md and "| fp16 |" in md
    assert "time <= 1.0x —; memory <= 0.9x —" in md
    for r in res["kernels"]["rows"]:  # one markdown row each, with its verdict
        assert f"| {r['name']} | {r['dtype']} | {'x'.join(map(str, r['shape']))} | " in md
    assert md.count("<= 1.0x met") + md.count("<= 1.0x MISSED") == sum(
        r["target"] == 1.0 for r in res["kernels"]["rows"])
    assert report.gpu_check_section(tmp_path / "gpu_check.json") == gpu_check.markdown(res)


def check_kernels_table(k):
    """Every KernelCase has its row: measured on both sides (torch on the CPU when simulated),
    numbers finite and positive, ratios the quotients of the times, the verdict the target's."""
    assert k["fused_available"] is True  # numba's simulator ran the fused path
    assert k["torch_device"] == "cpu" and k["seconds"] > 0
    rows = k["rows"]
    assert [(r["name"], r["dtype"]) for r in rows] == [(c.name, c.dtype)
                                                       for c in gpu_check.KERNELS]
    for r, case in zip(rows, gpu_check.KERNELS):
        assert "error" not in r, r
        assert r["shape"] == list(case.tiny) and r["target"] == case.target and r["api"]
        for key in ("mytorch_ms", "unfused_ms", "torch_ms"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["ratio"] == pytest.approx(r["mytorch_ms"] / r["torch_ms"])
        assert r["unfused_ratio"] == pytest.approx(r["unfused_ms"] / r["torch_ms"])
        assert r["met"] == (r["ratio"] <= case.target)
    names = {r["name"] for r in rows}
    assert {"softmax", "layer_norm", "rms_norm", "gelu_tanh", "gelu_exact", "bias_gelu_tanh",
            "flash_attention", "cross_entropy", "embedding_backward", "dropout_add",
            "adamw_step", "sgd_step"} <= names


def test_the_real_gpt2_step_is_gpt2_124m_at_b8_t1024():
    from zoo.gpt2 import GPTConfig
    cfg_over, B, T, _ = gpu_check.SIZES["real"]
    c = GPTConfig(**cfg_over)
    assert (B, T) == (8, 1024) and c.block_size >= T
    assert (c.n_layer, c.n_head, c.n_embd, c.vocab_size) == (12, 12, 768, 50257)
    assert gpu_check.TARGETS == {"time": 1.0, "memory": 0.9}


def test_gpt2_param_shapes_are_gpt2_124m():
    shapes = gpu_check.gpt2_param_shapes(12, 768, 50257, 1024)
    assert len(shapes) == 148
    assert sum(math.prod(s) for s in shapes) == 124_439_808  # GPT-2 small, the LM head tied


def test_gpt2_targets_judge_the_fp16_ratios():
    t = gpu_check.gpt2_targets({"step_ms": 90.0, "peak_mb": 950.0},
                               {"step_ms": 100.0, "peak_mb": 1000.0})
    assert t["time"] == {"ratio": 0.9, "target": 1.0, "met": True}
    assert t["memory"]["ratio"] == pytest.approx(0.95) and t["memory"]["met"] is False
    assert gpu_check.gpt2_targets({"error": "x"}, {"skipped": "y"})["time"]["met"] is None
    # torch's reserved peak, where reported, is what mytorch's pool high-water mark is set against
    r = gpu_check.gpt2_targets({"step_ms": 90.0, "peak_mb": 950.0},
                               {"step_ms": 100.0, "peak_mb": 800.0, "peak_reserved_mb": 1100.0})
    assert r["memory"]["ratio"] == pytest.approx(950 / 1100) and r["memory"]["met"] is True


def test_kernels_markdown_shows_errors_and_skipped_torch():
    rows = [{"name": "softmax", "dtype": "float16", "error": "RuntimeError: boom"},
            {"name": "rms_norm", "dtype": "float32", "shape": [2, 3], "target": 1.0,
             "api": "F.rms_norm", "mytorch_ms": 1.0, "unfused_ms": 2.0, "torch": "skipped"}]
    md = "\n".join(gpu_check.kernels_markdown({"fused_available": False, "torch_device": None,
                                                "rows": rows}))
    assert "| softmax | float16 | | RuntimeError: boom |" in md
    # torch skipped: no torch time, no ratios, no verdict; the fused-off time still shown
    assert ("| rms_norm | float32 | 2x3 | F.rms_norm | 1.000 | — | — | 2.000 | — | "
            "<= 1.0x — |") in md
    assert gpu_check.kernels_markdown(None) == []


def test_report_says_when_the_gpu_check_has_not_run(tmp_path):
    assert "Unmeasured" in report.gpu_check_section(tmp_path / "missing.json")
