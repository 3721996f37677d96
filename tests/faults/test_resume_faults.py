"""Resume after a run was killed around a checkpoint: between `save_state` and the `STEP`
marker, inside `save_state`, or with a damaged newest checkpoint. The states on disk are the
ones those kills leave; the last test really runs an experiment twice around one."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mytorch
from experiments.harness import ROOT, _checkpoint, _resume, read_jsonl
from miniddp import Accelerator

pytestmark = pytest.mark.faults


def _setup(seed):
    mytorch.manual_seed(seed)
    model = mytorch.nn.Linear(3, 2)
    opt = mytorch.optim.SGD(model.parameters(), lr=0.1)
    acc = Accelerator(project_dir=None)
    model, opt = acc.prepare(model, opt)
    return acc, model, opt


def _train_and_save(ckpt_dir, steps):
    """Checkpoints at every step; returns the weights after each step."""
    acc, model, opt = _setup(0)
    weights = {}
    for step in range(1, steps + 1):
        loss = model(mytorch.ones(4, 3)).pow(2).sum()
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
        weights[step] = model.module.weight.detach().numpy().copy()
        _checkpoint("mytorch", model, opt, None, step, ckpt_dir, 0, acc)
    return weights


def _resume_fresh(ckpt_dir, capsys):
    acc, model, opt = _setup(1)  # other weights: the loaded ones must replace them
    step = _resume("mytorch", model, opt, None, ckpt_dir, acc)
    return step, model.module.weight.detach().numpy(), capsys.readouterr().err


def test_killed_between_save_state_and_step_marker(tmp_path, capsys):
    weights = _train_and_save(tmp_path, 3)
    (tmp_path / "step_0000003" / "STEP").unlink()  # what a kill right after save_state leaves
    step, w, err = _resume_fresh(tmp_path, capsys)
    assert step == 3
    np.testing.assert_array_equal(w, weights[3])
    assert "step_0000003 has no STEP marker" in err and "the checkpoint records, 3" in err


def test_killed_inside_save_state_falls_back_to_previous_complete(tmp_path, capsys):
    weights = _train_and_save(tmp_path, 3)
    # save_state writes into step_N.tmp and renames it last: killed before the rename
    (tmp_path / "step_0000003").rename(tmp_path / "step_0000003.tmp")
    (tmp_path / "step_0000003.tmp" / "state.pkl").unlink()
    step, w, err = _resume_fresh(tmp_path, capsys)
    assert step == 2
    np.testing.assert_array_equal(w, weights[2])
    assert "step_0000003.tmp is an unfinished save" in err
    assert "resumed from step_0000002 (step 2)" in err
    # the next checkpoint removes what the killed save left
    acc, model, opt = _setup(0)
    _checkpoint("mytorch", model, opt, None, 3, tmp_path, 2, acc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0000002", "step_0000003"]


def test_damaged_newest_checkpoint_falls_back_and_says_so(tmp_path, capsys):
    weights = _train_and_save(tmp_path, 3)
    model_file = tmp_path / "step_0000003" / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:-7])  # truncated
    step, w, err = _resume_fresh(tmp_path, capsys)
    assert step == 2
    np.testing.assert_array_equal(w, weights[2])
    assert "step_0000003 cannot be loaded (CheckpointError" in err
    assert "resumed from the previous complete checkpoint, step_0000002 (step 2)" in err


def test_killed_while_replacing_a_checkpoint_resumes_from_its_old_copy(tmp_path, capsys):
    weights = _train_and_save(tmp_path, 2)
    # save_state moved step_N to step_N.old and was killed before moving the new one in
    (tmp_path / "step_0000002").rename(tmp_path / "step_0000002.old")
    step, w, err = _resume_fresh(tmp_path, capsys)
    assert step == 2
    np.testing.assert_array_equal(w, weights[2])
    assert "resumed from step_0000002.old (step 2)" in err


def test_nothing_complete_starts_from_zero(tmp_path, capsys):
    (tmp_path / "step_0000002.tmp").mkdir()
    step, _, err = _resume_fresh(tmp_path, capsys)
    assert step == 0
    assert "unfinished save" in err and "starting from step 0" in err


SMOKE = ["mnist_mlp", "wandb=disabled", "batch=16", "eval_every=0", "ckpt_every=2",
         "baseline=0"]


def _run(out, *extra):
    proc = subprocess.run([sys.executable, "-m", "experiments", *SMOKE, f"out={out}", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _losses(path):
    return [(r["step"], r["loss"]) for r in read_jsonl(path) if r.get("kind") == "train"]


@pytest.mark.slow
def test_experiment_resumes_after_a_missing_step_marker_with_the_same_losses(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    _run(full, "steps=6")
    _run(part, "steps=4")
    (part / "checkpoints" / "mytorch" / "step_0000004" / "STEP").unlink()
    shutil.rmtree(part / "checkpoints" / "mytorch" / "step_0000002")  # no older one to use
    proc = _run(part, "steps=6", "resume=1")
    assert "using the step the checkpoint records, 4" in proc.stderr
    assert _losses(part / "mytorch.jsonl") == _losses(full / "mytorch.jsonl")
