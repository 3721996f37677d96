"""Model-level parity, as llm.c checks it: the same weights and the same batches give the same
losses for 10 AdamW steps in mytorch and in a PyTorch reference written with torch.nn."""
import math

import numpy as np
import pytest

import mytorch
import mytorch.nn.functional as F
from zoo.convnet import ConvNet, ConvNetConfig
from zoo.gpt2 import GPT2, GPTConfig
from zoo.mlp import MnistMLP

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

STEPS = 10


# ---- the PyTorch references ----

class TorchMLP(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = tnn.Linear(784, 128), tnn.Linear(128, 64)
        self.fc3, self.fc4 = tnn.Linear(64, 32), tnn.Linear(32, 10)

    def forward(self, x):
        x = x.flatten(1)
        for fc in (self.fc1, self.fc2, self.fc3):
            x = torch.sigmoid(fc(x))
        return self.fc4(x)


class TorchConvBlock(tnn.Module):
    def __init__(self, c_in, c_out, dropout):
        super().__init__()
        self.conv = tnn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False)
        self.bn = tnn.BatchNorm2d(c_out)
        self.act = tnn.ReLU()
        self.drop = tnn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.act(self.bn(self.conv(x))))


class TorchConvNet(tnn.Module):
    def __init__(self, channels, dropout):
        super().__init__()
        widths = [1, *channels]
        self.blocks = tnn.Sequential(*[TorchConvBlock(widths[i], widths[i + 1], dropout)
                                       for i in range(len(channels))])
        self.pool = tnn.AdaptiveAvgPool2d(1)
        self.head = tnn.Linear(widths[-1], 10)

    def forward(self, x):
        return self.head(self.pool(self.blocks(x)).flatten(1))


class TorchBlock(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head = c.n_head
        self.ln_1, self.ln_2 = tnn.LayerNorm(c.n_embd), tnn.LayerNorm(c.n_embd)
        self.attn = tnn.Module()
        self.attn.c_attn = tnn.Linear(c.n_embd, 3 * c.n_embd)
        self.attn.c_proj = tnn.Linear(c.n_embd, c.n_embd)
        self.mlp = tnn.Module()
        self.mlp.c_fc = tnn.Linear(c.n_embd, 4 * c.n_embd)
        self.mlp.c_proj = tnn.Linear(4 * c.n_embd, c.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp.c_proj(TF.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class TorchGPT(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = tnn.ModuleDict({
            "wte": tnn.Embedding(c.vocab_size, c.n_embd),
            "wpe": tnn.Embedding(c.block_size, c.n_embd),
            "h": tnn.ModuleList([TorchBlock(c) for _ in range(c.n_layer)]),
            "ln_f": tnn.LayerNorm(c.n_embd)})
        self.lm_head = tnn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx, targets):
        t = self.transformer
        x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1]))
        for block in t.h:
            x = block(x)
        logits = self.lm_head(t.ln_f(x))
        return TF.cross_entropy(logits.flatten(0, 1), targets.flatten())


# ---- the harness ----

def copy_weights(model, ref):
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})


def decay_groups(params, wd):
    params = list(params)
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": wd},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def run_both(model, ref, batches, my_loss, torch_loss, lr=1e-3, wd=0.1):
    copy_weights(model, ref)
    opt = mytorch.optim.AdamW(decay_groups(model.parameters(), wd), lr=lr)
    ref_opt = torch.optim.AdamW(decay_groups(ref.parameters(), wd), lr=lr)
    ours, theirs = [], []
    for x, y in batches:
        loss = my_loss(model, mytorch.tensor(x), mytorch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ours.append(loss.item())
        ref_l = torch_loss(ref, torch.from_numpy(x), torch.from_numpy(y))
        ref_opt.zero_grad()
        ref_l.backward()
        ref_opt.step()
        theirs.append(ref_l.item())
    return np.array(ours), np.array(theirs)


def assert_same_state(model, ref, atol):
    ref_state = ref.state_dict()
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(v.numpy(), ref_state[k].detach().numpy(), atol=atol,
                                   rtol=1e-3, err_msg=k)


def _classify(model, x, y):
    return F.cross_entropy(model(x), y)


def _torch_classify(model, x, y):
    return TF.cross_entropy(model(x), y)


def _digit_batches(seed, batch=32):
    """Noise images with a bright band at rows 2y..2y+3 for label y: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(STEPS):
        y = rng.integers(0, 10, batch)
        x = rng.random((batch, 1, 28, 28), dtype=np.float32) * 0.5
        for i, label in enumerate(y):
            x[i, 0, 2 * label:2 * label + 4] += 0.5
        out.append((x, y))
    return out


def test_mlp_adamw_parity():
    mytorch.manual_seed(0)
    model, ref = MnistMLP(), TorchMLP()
    ours, theirs = run_both(model, ref, _digit_batches(0), _classify, _torch_classify,
                            lr=1e-2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert ours[-1] < ours[0]
    assert_same_state(model, ref, atol=1e-5)


def test_convnet_adamw_parity_batchnorm_train_mode():
    mytorch.manual_seed(0)
    cfg = ConvNetConfig(channels=(8, 16, 16), dropout=0.0)  # dropout off: RNGs differ
    model, ref = ConvNet(cfg), TorchConvNet(cfg.channels, 0.0)
    ours, theirs = run_both(model, ref, _digit_batches(1, batch=16), _classify,
                            _torch_classify, lr=3e-3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert ours[-1] < ours[0]
    assert_same_state(model, ref, atol=1e-4)  # running_mean/var/num_batches_tracked too
    x = np.random.default_rng(2).random((4, 1, 28, 28), dtype=np.float32)
    with mytorch.no_grad():
        got = model.eval()(mytorch.tensor(x)).numpy()
    want = ref.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)  # eval uses running stats


def test_tiny_gpt2_adamw_parity():
    mytorch.manual_seed(0)
    cfg = GPTConfig.preset("tiny")
    model, ref = GPT2(cfg), TorchGPT(cfg)
    rng = np.random.default_rng(3)
    data = rng.integers(0, 1000, 2 * 33 * STEPS).reshape(STEPS, 2, 33)  # a small vocab range
    batches = [(d[:, :-1].copy(), d[:, 1:].copy()) for d in data]
    ours, theirs = run_both(model, ref, batches, lambda m, x, y: m(x, y)[1],
                            lambda m, x, y: m(x, y), lr=1e-3)
    assert abs(ours[0] - math.log(cfg.vocab_size)) < 0.2  # GPT-2 init starts near uniform
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert ours[-1] < ours[0] - 0.2
    assert_same_state(model, ref, atol=1e-4)
