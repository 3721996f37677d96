"""PyTorch-style scripts run unchanged on mytorch (sys.modules aliasing): checkpoint and resume
a training loop; sample greedily from a checkpoint that real torch wrote."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.checkpoint_scripts.gpt import GPT, GPTConfig, get_batch

SCRIPTS = Path(__file__).resolve().parent / "checkpoint_scripts"


def _run(script, *args, real_torch=False):
    prefix = [] if real_torch else [str(SCRIPTS / "run_as_torch.py")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if real_torch:
        env["PYTHONPATH"] = str(SCRIPTS)
    proc = subprocess.run([sys.executable, *prefix, str(SCRIPTS / script), *args],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_aliasing_gives_mytorch(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import torch, torch.nn.functional as F\nimport json\n"
                     "print(json.dumps([torch.__name__, F.__name__]))\n")
    assert _run(str(probe)) == ["mytorch", "mytorch.nn.functional"]


def test_checkpoint_and_resume_gives_the_uninterrupted_losses(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    full.mkdir(), part.mkdir()
    uninterrupted = _run("train.py", "--out_dir", str(full), "--max_iters", "8")
    first = _run("train.py", "--out_dir", str(part), "--max_iters", "4")
    # the checkpoint mytorch wrote is a real PyTorch checkpoint
    ck = torch.load(part / "ckpt.pt", weights_only=True)
    assert ck["iter_num"] == 4 and ck["config"]["betas"] == (0.9, 0.95)
    model = GPT(GPTConfig(**ck["model_args"]))
    model.load_state_dict(ck["model"])
    opt = model.configure_optimizers(0.1, 3e-3, (0.9, 0.95))
    opt.load_state_dict(ck["optimizer"])
    assert set(ck["optimizer"]["state"]) == set(range(len(list(model.parameters()))))
    rest = _run("train.py", "--out_dir", str(part), "--max_iters", "8", "--init_from", "resume")
    assert list(first) == ["1", "2", "3", "4"] and list(rest) == ["5", "6", "7", "8"]
    assert {**first, **rest} == uninterrupted  # bit-exact: same arithmetic, same state
    assert uninterrupted["8"] < uninterrupted["1"]
    # ... and real torch continuing from mytorch's checkpoint follows the same losses
    X, Y = get_batch(4, model.config)
    _, loss = model(X, Y)
    assert loss.item() == pytest.approx(rest["5"], rel=1e-5)


def test_greedy_sample_from_a_checkpoint_written_by_real_torch(tmp_path):
    model_args = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True,
                      vocab_size=32, dropout=0.0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**model_args))
    opt = model.configure_optimizers(0.1, 3e-3, (0.9, 0.95))
    for it in range(30):  # learn the counting pattern a little, so the samples mean something
        X, Y = get_batch(it, model.config)
        _, loss = model(X, Y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "model_args": model_args, "iter_num": 30, "best_val_loss": loss.detach(),
                "config": {"init_from": "scratch", "betas": (0.9, 0.95)}},
               tmp_path / "ckpt.pt")
    model.eval()
    start = [3, 4, 5]
    expected = model.generate(torch.tensor([start]), 20)[0].tolist()
    assert _run("sample.py", "--out_dir", str(tmp_path), "--start", "3,4,5") == expected
    # the same script under real torch agrees (the script itself is plain PyTorch)
    assert _run("sample.py", "--out_dir", str(tmp_path), "--start", "3,4,5",
                real_torch=True) == expected
