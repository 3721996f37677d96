"""A small MLP and a small ConvNet learn synthetic tasks end to end (layers, losses, autograd,
optimizer and DataLoader together)."""
import numpy as np

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from mytorch.utils.data import DataLoader, TensorDataset


def _accuracy(model, x, y):
    with mytorch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_mlp_learns_two_spirals():
    rng = np.random.default_rng(0)
    n = 400
    t = rng.uniform(0.5, 3 * np.pi, n)
    label = rng.integers(0, 2, n)
    sign = np.where(label == 0, 1.0, -1.0)
    pts = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], 1) / 10
    x = mytorch.tensor(pts.astype(np.float32))
    y = mytorch.tensor(label)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 2))
    opt = mytorch.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True,
                        generator=mytorch.Generator().manual_seed(0))
    before = _accuracy(model, x, y)
    for _ in range(60):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert before < 0.8
    assert _accuracy(model, x, y) > 0.95


def test_convnet_learns_bar_orientation():
    # 12x12 images holding one horizontal or vertical bar at a random place, plus noise.
    rng = np.random.default_rng(1)
    n = 256
    imgs = rng.normal(0, 0.3, (n, 1, 12, 12)).astype(np.float32)
    label = rng.integers(0, 2, n)
    for i in range(n):
        r, c = rng.integers(2, 10, 2)
        if label[i]:
            imgs[i, 0, r, c - 2:c + 3] += 2.0
        else:
            imgs[i, 0, r - 2:r + 3, c] += 2.0
    x, y = mytorch.tensor(imgs), mytorch.tensor(label)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))
    opt = mytorch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        for i in range(0, n, 64):
            loss = F.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    assert _accuracy(model, x, y) > 0.95
