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
