import numpy as np
import pytest

import mytorch
from zoo.data.mnist import RandomShift
from zoo.data.tokens import TokenStream, write_tokens
from zoo.gpt2 import GPT2, GPTConfig
from zoo.mlp import MLPConfig, MnistMLP
from zoo.train import image_collate, lr_at, train_classifier, train_lm


def test_lr_schedule():
    assert lr_at(0, 100, 1.0, warmup=10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, warmup=10) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, warmup=10, min_lr=0.1) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, warmup=10, min_lr=0.1) == pytest.approx(0.1)
    assert lr_at(55, 100, 1.0, warmup=10, min_lr=0.0) == pytest.approx(0.5)


def test_random_shift():
    image = np.zeros((28, 28), np.uint8)
    image[10:14, 10:14] = 255
    shift = RandomShift(2, seed=0)
    for _ in range(20):
        out = shift(image)
        assert out.shape == image.shape and out.sum() == image.sum()  # the blob stays inside
        ys, xs = np.nonzero(out)
        assert 8 <= ys.min() <= 12 and 8 <= xs.min() <= 12
    edge = np.zeros((5, 5), np.uint8)
    edge[0, 0] = 1
    assert RandomShift(0)(edge)[0, 0] == 1


class _Bands:
    """Images with a bright band whose row encodes the label."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.y = rng.integers(0, 10, n)
        self.x = (rng.random((n, 28, 28)) * 100).astype(np.uint8)
        for i, label in enumerate(self.y):
            self.x[i, 2 * label:2 * label + 4] = 255

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def test_image_collate():
    x, y = image_collate([(np.full((28, 28), 255, np.uint8), 3), (np.zeros((28, 28)), 1)])
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32 and float(x.max()) == 1.0
    assert y.tolist() == [3, 1]


def test_train_classifier_learns():
    model = MnistMLP(MLPConfig(hidden=(32,), activation="relu"))
    result = train_classifier(model, _Bands(256, 0), _Bands(100, 1), epochs=3, batch_size=32,
                              lr=1e-2, cosine=True, progress=False)
    assert result["steps"] == 24 and len(result["history"]) == 3
    assert result["final"]["accuracy"] > 0.8


def test_train_lm_smoke(tmp_path):
    ids = np.tile(np.arange(20), 50)  # a repeating sequence: easy to learn
    write_tokens(tmp_path / "t.bin", ids)
    stream = TokenStream(tmp_path / "t.bin", 16)
    mytorch.manual_seed(0)
    model = GPT2(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=32))
    result = train_lm(model, stream, stream, steps=30, batch_size=4, lr=1e-2, warmup=3,
                      eval_every=15, eval_batches=2, progress=False)
    losses = [r["train_loss"] for r in result["history"]]
    assert losses[-1] < 0.5 * losses[0]
    assert "val_loss" in result["history"][14] and "val_loss" in result["final"]


_RESUMABLE = """
import sys, time
import numpy as np
import mytorch
from zoo.data.tokens import TokenStream
from zoo.gpt2 import GPT2, GPTConfig
from zoo.train import train_lm

stream = TokenStream(sys.argv[1], 16)
get_batch = stream.get_batch
def slow_batch(*args):  # room for the test to kill the run between checkpoints
    time.sleep(float(sys.argv[3]))
    return get_batch(*args)
stream.get_batch = slow_batch
mytorch.manual_seed(0)
model = GPT2(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=32,
                       dropout=0.1))
train_lm(model, stream, stream, steps=12, batch_size=4, lr=1e-2, warmup=3, eval_every=4,
         eval_batches=2, progress=False, checkpoint=sys.argv[2], checkpoint_every=1)
"""


def _run_resumable(tmp_path, ckpt, delay, wait=True):
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _RESUMABLE, str(tmp_path / "t.bin"), str(ckpt), str(delay)]
    if wait:
        subprocess.run(cmd, env=env, check=True, timeout=120)
        return None
    return subprocess.Popen(cmd, env=env)


def test_train_lm_resumes_bit_exactly_after_sigkill(tmp_path):
    """A run killed (SIGKILL) between checkpoints, restarted with the same command, ends with
    the same weights, optimizer state and history as an uninterrupted run (dropout on, so
    the RNG states matter)."""
    import signal
    import time
    write_tokens(tmp_path / "t.bin", np.tile(np.arange(20), 50))
    _run_resumable(tmp_path, tmp_path / "whole.st", 0.0)
    proc = _run_resumable(tmp_path, tmp_path / "cut.st", 0.3, wait=False)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (tmp_path / "cut.st").exists() and mytorch.load(tmp_path / "cut.st")["step"] >= 4:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    cut_at = mytorch.load(tmp_path / "cut.st")["step"]
    assert 4 <= cut_at < 12
    _run_resumable(tmp_path, tmp_path / "cut.st", 0.0)
    whole, cut = mytorch.load(tmp_path / "whole.st"), mytorch.load(tmp_path / "cut.st")
    assert cut["step"] == whole["step"] == 12
    for k, v in whole["model"].items():
        np.testing.assert_array_equal(cut["model"][k].numpy(), v.numpy(), err_msg=k)
    for i, state in whole["optim"]["state"].items():
        np.testing.assert_array_equal(cut["optim"]["state"][i]["exp_avg"].numpy(),
                                      state["exp_avg"].numpy())
    assert [r["train_loss"] for r in cut["history"]] == [r["train_loss"]
                                                        for r in whole["history"]]
    assert cut["rng"] == whole["rng"] and cut["mytorch_rng"] == whole["mytorch_rng"]


def test_shakespeare_char_data_and_cli(tmp_path):
    """Character ids decode back to the text's last 10% (the held-out split), and the
    training command runs, checkpoints and resumes (no shipping)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from zoo.data.download import DATA_ROOT
    from zoo.data.text import shakespeare
    from zoo.data.tokens import CharTokenizer, prepare_shakespeare_char, read_tokens
    try:
        meta = prepare_shakespeare_char()
    except RuntimeError as e:
        pytest.skip(f"Shakespeare text unavailable: {e}")
    tok = CharTokenizer(meta["chars"])
    text, _ = shakespeare()
    val = read_tokens(DATA_ROOT / "shakespeare_char" / "val.bin")
    assert meta["train"]["tokens"] + len(val) == len(text)
    assert tok.decode(val[:200]) == text[meta["train"]["tokens"]:][:200]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "zoo.train", "gpt2-shakespeare-char", "--steps", "3",
           "--batch-size", "2", "--set", "n_layer=1", "n_embd=32", "n_head=2", "block_size=16",
           "--eval-batches", "1", "--checkpoint", str(tmp_path / "c.st")]
    for _ in range(2):  # the second run finds the finished checkpoint and only evaluates
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from" in proc.stdout and "after 3 steps" in proc.stdout
    assert mytorch.load(tmp_path / "c.st")["step"] == 3
