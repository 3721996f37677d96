"""The Accelerator in one process (world size 1); multi-rank behaviour is in test_ranks.py."""
import os

import numpy as np
import pytest

import mytorch
from miniddp import (
    AcceleratedOptimizer,
    AcceleratedScheduler,
    Accelerator,
    DataLoaderShard,
    DistributedModel,
)
from miniddp.accelerate import Accelerator as Accelerator2
from mytorch import nn
from mytorch.optim import SGD
from mytorch.optim.lr_scheduler import StepLR
from mytorch.utils.data import DataLoader, TensorDataset


def _setup(k=1, n=8):
    acc = Accelerator(gradient_accumulation_steps=k, project_dir=None, device="cpu")
    model = nn.Linear(3, 2)
    opt = SGD(model.parameters(), lr=0.1)
    x = mytorch.randn(n, 3)
    loader = DataLoader(TensorDataset(x, mytorch.randn(n, 2)), batch_size=2)
    return acc, model, opt, loader


def test_prepare_keeps_order_and_the_users_objects():
    acc, model, opt, loader = _setup()
    sched = StepLR(opt, step_size=1)
    weights = [p for p in model.parameters()]
    out = acc.prepare(loader, model, 3, sched, opt)
    assert [type(o) for o in out] == [DataLoaderShard, DistributedModel, int,
                                     AcceleratedScheduler, AcceleratedOptimizer]
    assert acc.unwrap_model(out[1]) is model and out[4].optimizer is opt
    assert out[0].loader is loader and out[3].scheduler is sched
    assert list(model.parameters()) == weights and opt.param_groups[0]["params"] == weights
    assert isinstance(acc.prepare(nn.Linear(1, 1)), DistributedModel)  # one in, one out
    assert list(out[1].state_dict()) == ["module.weight", "module.bias"]
    assert Accelerator2 is Accelerator


def test_process_facts_on_one_process():
    acc = Accelerator()
    assert (acc.process_index, acc.local_process_index, acc.num_processes) == (0, 0, 1)
    assert acc.is_main_process and acc.is_local_main_process
    assert acc.device == ("cuda" if mytorch.cuda.is_available() else "cpu")  # the default
    assert acc.is_main_process() is True  # the design document calls it
    assert acc.comm.name == "local"
    acc.wait_for_everyone()
    with acc.main_process_first():
        pass


def test_accumulate_syncs_every_k_steps_and_at_the_end_of_the_loader():
    acc, model, opt, loader = _setup(k=3, n=10)  # 5 batches per epoch
    model, opt, loader = acc.prepare(model, opt, loader)
    flags = []
    for _ in range(2):
        for xb, yb in loader:
            with acc.accumulate(model):
                flags.append(acc.sync_gradients)
    assert flags == [False, False, True, False, True] * 2


def test_backward_scales_for_accumulation_and_optimizer_waits_for_sync():
    acc, model, opt, loader = _setup(k=2)
    ref = nn.Linear(3, 2)
    ref.load_state_dict(model.state_dict())
    model, opt, loader = acc.prepare(model, opt, loader)
    xb, yb = next(iter(loader))
    w0 = model.module.weight.detach().numpy().copy()
    with acc.accumulate(model):
        acc.backward(((model(xb) - yb) ** 2).mean())
        opt.step()
        opt.zero_grad()
    assert not acc.sync_gradients
    np.testing.assert_array_equal(model.module.weight.detach().numpy(), w0)  # no step
    ((ref(xb) - yb) ** 2).mean().backward()
    np.testing.assert_allclose(model.module.weight.grad.numpy(), ref.weight.grad.numpy() / 2,
                               rtol=1e-6)
    with acc.accumulate(model):
        acc.backward(((model(xb) - yb) ** 2).mean())
        opt.step()
        opt.zero_grad()
    assert acc.sync_gradients and model.module.weight.grad is None
    assert not np.array_equal(model.module.weight.detach().numpy(), w0)


def test_gather_reduce_on_one_process():
    acc = Accelerator()
    g = acc.gather([mytorch.tensor(2.0), mytorch.ones(2, 3)])
    assert g[0].shape == (1,) and g[1].shape == (2, 3)
    assert acc.reduce(mytorch.tensor([1.0, 2.0]), "mean").tolist() == [1.0, 2.0]
    assert acc.gather_for_metrics(["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="reduction"):
        acc.reduce(mytorch.ones(1), "prod")


def test_save_state_is_atomic_and_load_checks_the_layout(tmp_path):
    acc, model, opt, _ = _setup()
    model, opt = acc.prepare(model, opt)
    ckpt = str(tmp_path / "ckpt")
    acc.save_state(ckpt)
    acc.save_state(ckpt)  # overwriting swaps the folder
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]
    saved = mytorch.load(os.path.join(ckpt, "model.safetensors"))
    assert sorted(saved) == ["bias", "weight"]  # the user's model's keys, loadable by itself
    np.testing.assert_array_equal(saved["weight"].numpy(), model.module.weight.detach().numpy())
    w = model.module.weight.detach().numpy().copy()
    model.module.weight.data[...] = 0
    acc.load_state(ckpt)
    np.testing.assert_array_equal(model.module.weight.detach().numpy(), w)
    other = Accelerator()
    other.prepare(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="1 optimizers but 0"):
        other.load_state(ckpt)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        acc.load_state(str(tmp_path / "missing"))


@pytest.mark.parametrize("kw,match", [({"mixed_precision": "bf16"}, "mixed_precision"),
                                      ({"gradient_accumulation_steps": 0}, "accumulation")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        Accelerator(**kw)


def test_cuda_device_without_gpu_is_a_clear_error():
    if mytorch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="asked for CUDA, which is not available"):
        Accelerator(device="cuda")


@pytest.mark.cuda
def test_one_gpu_step_matches_the_cpu(cuda_device):
    results = []
    for device in ("cpu", cuda_device):
        mytorch.manual_seed(0)
        acc = Accelerator(device=device)
        model = nn.Linear(3, 2)
        opt = SGD(model.parameters(), lr=0.1)
        x, y = mytorch.randn(8, 3), mytorch.randn(8, 2)
        model, opt, loader = acc.prepare(model, opt, DataLoader(TensorDataset(x, y), batch_size=4))
        for xb, yb in loader:
            assert xb.device == acc.device
            acc.backward(((model(xb) - yb) ** 2).mean())
            opt.step()
            opt.zero_grad()
        results.append(model.module.weight.detach().cpu().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)
