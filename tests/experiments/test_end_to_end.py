"""Each experiment end to end in a smoke configuration: both sides, logs, checkpoints, report;
then resuming from a checkpoint continues the step count and the loss exactly."""
import subprocess
import sys

import pytest

from experiments.harness import ROOT, read_jsonl

SMOKE = {
    "mnist_mlp": ["steps=4", "batch=16", "eval_every=2", "ckpt_every=2"],
    "convnet": ["steps=4", "batch=8", "eval_every=2", "ckpt_every=2"],
    "gpt2": ["steps=4", "batch=2", "block_size=32", "eval_every=2", "eval_batches=1",
             "ckpt_every=2", "warmup=2"],
}


def run(name, out, *extra):
    cmd = [sys.executable, "-m", "experiments", name, f"out={out}", "wandb=disabled",
           *SMOKE[name], *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def losses(path):
    return [(r["step"], r["loss"]) for r in read_jsonl(path) if r.get("kind") == "train"]


@pytest.mark.parametrize("name", [n if n == "mnist_mlp" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(SMOKE)])
def test_experiment_smoke_both_sides(name, tmp_path):
    run(name, tmp_path)
    mine, theirs = losses(tmp_path / "mytorch.jsonl"), losses(tmp_path / "torch.jsonl")
    assert [s for s, _ in mine] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(mine, theirs):  # same weights, same batches -> same losses
        assert a == pytest.approx(b, rel=1e-4)
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "mytorch").iterdir()) == \
        ["step_0000002", "step_0000004"]
    assert (tmp_path / "final_mytorch.safetensors").exists()
    report = (tmp_path / "report" / "REPORT.md").read_text()
    assert "| final loss |" in report and "mytorch / PyTorch" in report
    assert (tmp_path / "report" / "plots" / "cpu_curves.png").exists()


@pytest.mark.slow
def test_resume_continues_steps_and_loss(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    run("mnist_mlp", full, "steps=6", "baseline=0")
    run("mnist_mlp", part, "steps=4", "baseline=0")
    run("mnist_mlp", part, "steps=6", "baseline=0", "resume=1")
    assert losses(part / "mytorch.jsonl") == losses(full / "mytorch.jsonl")
    envs = [r for r in read_jsonl(part / "mytorch.jsonl") if r.get("kind") == "env"]
    assert [e["resumed_from"] for e in envs] == [0, 4]  # the report shows the latest command


@pytest.mark.parametrize("args, message", [
    (["steps=-1"], "steps must be positive"),
    (["model=nope"], "unknown preset"),
    (["dataset=mnist"], "dataset must be"),
    (["steps=abc"], "steps expects int"),
])
def test_bad_configuration_fails_at_once(args, message, tmp_path):
    cmd = [sys.executable, "-m", "experiments", "gpt2", f"out={tmp_path}", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr  # one clear line, not a stack


def test_cuda_without_a_gpu_fails_at_once(tmp_path):
    from experiments.harness import gpu_count
    if gpu_count():
        pytest.skip("a GPU is here")
    cmd = [sys.executable, "-m", "experiments", "mnist_mlp", f"out={tmp_path}", "device=cuda"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no CUDA GPU" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_experiment_is_refused():
    proc = subprocess.run([sys.executable, "-m", "experiments", "resnet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "unknown experiment 'resnet'" in proc.stderr


@pytest.mark.slow
def test_a_fresh_run_in_a_used_folder_drops_the_old_runs_files(tmp_path):
    run("mnist_mlp", tmp_path, "steps=6")  # both sides, checkpoints at 2, 4, 6
    run("mnist_mlp", tmp_path, "steps=2", "baseline=0")
    assert not (tmp_path / "torch.jsonl").exists()  # no stale baseline to compare against
    # the old run's step_4/step_6 must not outrank (and prune) this run's step_2
    assert [p.name for p in (tmp_path / "checkpoints" / "mytorch").iterdir()] == ["step_0000002"]
    assert not (tmp_path / "checkpoints" / "torch").exists()
    assert "| steps | 2 | — | — |" in (tmp_path / "report" / "REPORT.md").read_text()


@pytest.mark.slow
@pytest.mark.mpi
def test_convnet_on_two_ranks_equals_one_rank(tmp_path):
    # `make train-convnet GPUS=2`: BatchNorm's 0-d num_batches_tracked is broadcast, and its
    # statistics are synchronized (SyncBatchNorm), so 2 ranks with half the batch each train as
    # 1 process with the whole batch: the same losses and evaluation
    logs = {}
    for gpus in (1, 2):
        run("convnet", tmp_path / str(gpus), f"gpus={gpus}", "baseline=0", "batch=16")
        logs[gpus] = read_jsonl(tmp_path / str(gpus) / "mytorch.jsonl")
    one, two = losses_of(logs[1]), losses_of(logs[2])
    assert [s for s, _ in one] == [s for s, _ in two] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(one, two):
        assert abs(a - b) <= 1e-5 * abs(a), (one, two)
    evals = [[r for r in logs[g] if r.get("kind") == "eval"] for g in (1, 2)]
    assert evals[0] and len(evals[0]) == len(evals[1])
    for a, b in zip(*evals):
        assert abs(a["loss"] - b["loss"]) <= 1e-5 * abs(a["loss"]), evals


def losses_of(records):
    return [(r["step"], r["loss"]) for r in records if r.get("kind") == "train"]
