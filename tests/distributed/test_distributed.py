"""mytorch.distributed and DistributedDataParallel: on 2 real ranks under our launcher (the
rank script checks itself against single-process references and prints `OK <check> <rank>`),
and in this one process (world size 1)."""

import numpy as np
import pytest
import torch

import mytorch
import mytorch.distributed as dist
import mytorch.nn as nn
from mytorch.nn.parallel import DistributedDataParallel as DDP
from tests.faults.jobs import assert_both_ranks_passed, run_two_ranks

CHECKS = ["env", "all_reduce", "broadcast", "all_gather", "reduce_scatter", "objects_barrier",
          "bad_input", "ddp", "ddp_10_buckets", "no_sync", "unused", "buffers", "sync_batchnorm",
          "destroyed"]


@pytest.fixture(scope="module")
def two_ranks():
    return run_two_ranks("dist_api.py")


@pytest.mark.mpi
@pytest.mark.parametrize("check", CHECKS)
def test_on_two_ranks(two_ranks, check):
    assert_both_ranks_passed(two_ranks, check)


@pytest.fixture
def group():
    dist.init_process_group("gloo")
    yield dist.default_comm()
    if dist.is_initialized():
        dist.destroy_process_group()


def test_one_process_world(group):
    assert dist.is_available() and dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "gloo")
    t = mytorch.tensor([1.0, 2.0])
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MAX, dist.ReduceOp.MIN):
        dist.all_reduce(t, op=op)
    dist.broadcast(t, src=0)
    out = [mytorch.zeros(2)]
    dist.all_gather(out, t)
    r = mytorch.zeros(2)
    dist.reduce_scatter(r, [t])
    dist.barrier()
    assert t.tolist() == out[0].tolist() == r.tolist() == [1.0, 2.0]


def test_errors_name_the_problem(group):
    with pytest.raises(RuntimeError, match="initialize the default process group twice"):
        dist.init_process_group("gloo")
    with pytest.raises(NotImplementedError, match="PRODUCT"):
        dist.all_reduce(mytorch.ones(2), op=dist.ReduceOp.PRODUCT)
    with pytest.raises(ValueError, match="src=3 is not a rank of a world of 1"):
        dist.broadcast(mytorch.ones(2), src=3)
    with pytest.raises(TypeError, match="all_reduce: expected a Tensor, got ndarray"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ValueError, match=r"every input must have the output's shape \(2,\)"):
        dist.reduce_scatter(mytorch.zeros(2), [mytorch.zeros(3)])
    dist.destroy_process_group()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="unknown backend 'tcp'"):
        dist.init_process_group("tcp")


def test_torchrun_variables_must_match_the_ranks_that_joined(monkeypatch):
    # a script started by real torchrun (no MPI) would otherwise train alone, silently
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"world size 2 .* but 1 rank\(s\) joined over MPI"):
        dist.init_process_group("gloo")
    assert not dist.is_initialized()


def test_ddp_on_one_process_is_the_module(group):
    mytorch.manual_seed(0)
    torch_model = torch.nn.Linear(5, 3)
    model = nn.Linear(5, 3)
    model.load_state_dict({k: mytorch.tensor(v.numpy()) for k, v in
                           torch_model.state_dict().items()})
    ddp = DDP(model, device_ids=None)
    assert ddp.module is model and list(ddp.state_dict()) == ["module.weight", "module.bias"]
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    ddp(mytorch.tensor(x)).pow(2).sum().backward()
    torch_model(torch.tensor(x)).pow(2).sum().backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), torch_model.weight.grad.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert group.calls["allreduce"] == 0  # nothing to average on one process
    with ddp.no_sync():
        assert not ddp.require_backward_grad_sync
    assert ddp.require_backward_grad_sync


def test_ddp_refuses_what_torch_refuses(group):
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="doesn't have any parameter that requires a gradient"):
        DDP(frozen)
    with pytest.raises(TypeError, match="expected a Module, got function"):
        DDP(lambda x: x)
