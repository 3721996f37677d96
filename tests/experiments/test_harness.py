import json

import numpy as np
import pytest

from experiments import report
from experiments.harness import JsonlLog, RunConfig, batch_indices, parse_overrides, read_jsonl


def test_overrides_all_spellings():
    cfg = parse_overrides(RunConfig, ["--steps", "7", "--batch=8", "lr=0.5", "SEED=3"])
    assert (cfg.steps, cfg.batch, cfg.lr, cfg.seed) == (7, 8, 0.5, 3)


@pytest.mark.parametrize("argv, message", [
    (["steps=-1"], "steps must be positive"),
    (["batch=0"], "batch must be positive"),
    (["model=nope"], "unknown option 'model'"),
    (["steps=abc"], "steps expects int"),
    (["device=tpu"], "device must be"),
    (["gpus=0"], "gpus must be >= 1"),
    (["batch=10", "gpus=3"], "divisible"),
    (["stray"], "unexpected arguments"),
])
def test_bad_config_fails_with_a_clear_message(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(RunConfig, argv)


def test_batch_indices_are_deterministic_epoch_permutations():
    a = [batch_indices(10, 4, s, seed=1) for s in range(1, 6)]
    b = [batch_indices(10, 4, s, seed=1) for s in range(1, 6)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    first_epoch = np.concatenate(a)[:10]
    assert sorted(first_epoch.tolist()) == list(range(10))  # each sample once per epoch
    assert not np.array_equal(batch_indices(10, 4, 1, seed=2), a[0])


def test_jsonl_resume_truncates_after_the_checkpoint_step(tmp_path):
    log = JsonlLog(tmp_path / "x.jsonl")
    for s in range(1, 6):
        log.write({"kind": "train", "step": s})
    log.close()
    log = JsonlLog(tmp_path / "x.jsonl", truncate_after_step=3)
    log.write({"kind": "train", "step": 4, "resumed": True})
    log.close()
    steps = [(r["step"], r.get("resumed", False)) for r in read_jsonl(tmp_path / "x.jsonl")]
    assert steps == [(1, False), (2, False), (3, False), (4, True)]


def _fake_log(path, side, loss_scale, step_time):
    env = {"kind": "env", "side": side, "world_size": 1, "gpu": "none", "command": f"run {side}",
           "processor": "x86_64", "cpus": 2, "config": {"device": "cpu"}, "git_commit": "abc"}
    if side == "torch":
        env.update(torch="2.13", torch_threads=2)
    recs = [env]
    for s in range(1, 41):
        recs.append({"kind": "train", "step": s, "loss": loss_scale / s, "lr": 1e-3,
                     "step_time": step_time, "throughput": 64 / step_time, "rss_mb": 100.0 + s,
                     "peak_rss_mb": 150.0, "rss_start_mb": 100.0})
    recs.append({"kind": "eval", "step": 40, "loss": 0.5, "accuracy": 0.9})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_report_renders_from_recorded_logs(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "HERE", tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    _fake_log(run / "mytorch.jsonl", "mytorch", 2.0, 0.010)
    _fake_log(run / "torch.jsonl", "torch", 2.0, 0.020)
    path = report.render("demo", run)
    text = path.read_text()
    assert (tmp_path / "demo" / "plots" / "cpu_curves.png").stat().st_size > 1000
    assert "| median step time (ms) | 10.00 | 20.00 | 0.50x |" in text
    assert "| eval accuracy | 0.9000 | 0.9000 | 1.00x |" in text
    assert "Final-loss difference (mean of the last 5% of steps): **0.00%**" in text
    assert "No GPU run has been logged yet." in text
    index = report.index().read_text()
    assert "[demo](demo/REPORT.md)" in index and "0.50x" in index


def test_summary_of_an_empty_log_is_none():
    assert report.summarize([]) is None


def test_report_of_an_out_run_names_its_own_logs_and_units(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "HERE", tmp_path / "experiments")
    run = tmp_path / "run"
    run.mkdir()
    _fake_log(run / "mytorch.jsonl", "mytorch", 2.0, 0.010)
    text = report.render("gpt2", run, dest=run / "report").read_text()
    assert f"from the logs in `{run / 'report' / 'logs'}/`" in text
    assert "experiments/gpt2/logs" not in text
    assert "| throughput (tokens/s) |" in text
