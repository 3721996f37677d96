"""Zoo models train on a GPU (real, or the CuPy stand-in of `make test-cuda-standin`) exactly
as on the CPU: same initial weights, same batches, same losses."""
import numpy as np
import pytest

import mytorch
from zoo.convnet import ConvNet, ConvNetConfig
from zoo.gpt2 import GPT2, GPTConfig

pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(), reason="no CUDA GPU")


def _gpt2_losses(device, steps=3):
    mytorch.manual_seed(0)
    model = GPT2(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=32))
    model.to(device)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-2)
    idx = mytorch.tensor(np.random.default_rng(0).integers(0, 64, (4, 16)), device=device)
    losses = []
    for _ in range(steps):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        mytorch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses, model


def test_gpt2_trains_on_cuda_as_on_the_cpu():
    cpu, _ = _gpt2_losses("cpu")
    gpu, model = _gpt2_losses("cuda")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4)
    assert gpu[-1] < gpu[0]
    out = model.generate(mytorch.zeros((1, 1), dtype=mytorch.int64, device="cuda"), 4,
                         temperature=0)
    assert out.shape == (1, 5) and out.device.type == "cuda"


def test_convnet_with_batchnorm_trains_on_cuda_as_on_the_cpu():
    def run(device):
        mytorch.manual_seed(0)
        model = ConvNet(ConvNetConfig(dropout=0.0)).to(device)  # GPU draws differ
        opt = mytorch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(1)
        losses = []
        for _ in range(2):
            x = mytorch.tensor(rng.standard_normal((4, 1, 28, 28)).astype(np.float32),
                               device=device)
            t = mytorch.tensor(rng.integers(0, 10, 4), device=device)
            loss = mytorch.nn.functional.cross_entropy(model(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses
    np.testing.assert_allclose(run("cuda"), run("cpu"), rtol=1e-4)
