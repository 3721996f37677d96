"""DistributedDataParallel(gradient_as_bucket_view=True) and GradBuckets' option of that name:
every `.grad` is a view of its bucket. On one process with a pretend second rank: what a user
sees of `.grad` matches torch's DDP (run in a process of its own), the values are the same bits
as the copying path's over several steps (zero_grad both ways, no_sync accumulation, a tied
embedding reduced in two parts), and the engine leaves out of `.grad` what the buckets took.
(Two real ranks: tests/distributed/test_overlap.py.)"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mytorch
from miniddp import Accelerator, LocalCommunicator
from mytorch import backend
from mytorch.distributed.buckets import GradBuckets, _pack_rows, _pre_factor, embedding_roles
from mytorch.distributed.comm import Request
from mytorch.nn.parallel import DistributedDataParallel as DDP
from tests.miniddp._scripts.bucket_view import build, scenario

# A real second rank's part of a sum: its gradient times this (packing divides by the world
# size when that is exact); the pretend ranks below add that.
PRE = float(_pre_factor(2, np.float64))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class MirrorRank(LocalCommunicator):
    """A pretend second rank that computed exactly what this one did: every sum is twice this
    rank's part, so every mean is this rank's gradient, as on torch's single rank."""
    size = 2

    def iallreduce(self, x, op="sum"):
        self._count("allreduce")
        return Request(x, lambda: x.__iadd__(x.copy()), poll=lambda: False)

    def allgather(self, x):
        self._count("allgather")
        return [x, x.copy()]

    def allgather_object(self, obj):
        return [obj, obj]


class OtherRank(MirrorRank):
    """A pretend second rank with gradients of its own: its part of the n-th allreduce is made
    from seed n (positive, so every flag is set), its later rows of a split weight from the
    n-th allgather's seed. Two of these called alike give the same numbers."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def iallreduce(self, x, op="sum"):
        self._count("allreduce")
        self.n += 1
        other = (np.random.default_rng(self.n).integers(1, 9, x.size) / 4 * PRE).astype(x.dtype)

        def finish():
            x[...] += backend.to_device(other, backend.device_of(x))
        return Request(x, finish, poll=lambda: False)

    def allgather(self, x):
        self._count("allgather")
        self.n += 1
        rng = np.random.default_rng(1000 + self.n)
        idx = np.sort(rng.choice(64, 3, replace=False)).astype(np.int64)
        rows = rng.standard_normal((3, 16)).astype(np.float32)
        return [x, _pack_rows(idx, rows)]


# ---- what a user sees: torch's DDP in a process of its own against ours ----

def _torch_scenario(view, tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "miniddp", "_scripts", "bucket_view.py"),
         "1" if view else "0", str(tmp_path / "gloo_init")],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = [s for s in out.stdout.splitlines() if s.startswith("{")]
    assert out.returncode == 0 and lines, out.stdout + out.stderr
    return json.loads(lines[-1])


@pytest.mark.parametrize("view", [True, False])
def test_grad_objects_and_values_follow_torch(view, tmp_path):
    # .grad's identity through zero_grad(set_to_none=False/True), no_sync and a .grad the user
    # set, and what a reference kept to it holds: as torch's users see it (torch on one gloo
    # rank, ours on two ranks that computed the same, so the means are the same)
    expected = _torch_scenario(view, tmp_path)
    net, batches = build(mytorch)
    ddp = DDP(net, process_group=MirrorRank(), gradient_as_bucket_view=view)
    opt = mytorch.optim.SGD(ddp.parameters(), lr=0.1)
    got = scenario(mytorch, ddp, opt, net[0].weight, batches)
    assert got["seen"] == expected["seen"]
    assert len(got["values"]) == len(expected["values"]) == 8
    for ours, theirs in zip(got["values"], expected["values"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)  # float32, 8 steps


# ---- where the gradients live ----

class TiedNet(mytorch.nn.Module):
    """GPT-2's wte and head in small (the embedding's weight is the head's), a position
    embedding, a layer between, and a layer this rank never uses (OtherRank's gradients for it
    make it a parameter only the other rank used)."""

    def __init__(self):
        super().__init__()
        self.unused = mytorch.nn.Linear(3, 3)
        self.emb, self.pos = mytorch.nn.Embedding(64, 16), mytorch.nn.Embedding(6, 16)
        self.mid = mytorch.nn.Linear(16, 16)
        self.head = mytorch.nn.Linear(16, 64, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        h = self.emb(idx) + self.pos(mytorch.arange(idx.shape[1], device=idx.device))
        return self.head(mytorch.tanh(self.mid(h)))


def _tied(device):
    mytorch.manual_seed(3)
    return TiedNet().to(device)


def _batches(device, n):
    rng = np.random.default_rng(7)
    return [mytorch.tensor(rng.integers(0, 64, (2, 6)), device=device) for _ in range(n)]


def _loss(model, idx):
    return model(idx).square().mean()


def _bucket_of(buckets, p):
    return next(b for b in buckets.buckets if any(q is p for q in b.params))


def test_every_grad_is_a_view_of_its_bucket(device):
    model = DDP(_tied(device), process_group=OtherRank(), bucket_cap_mb=2000 / 2 ** 20,
                gradient_as_bucket_view=True)
    net = model.module
    assert len(model.buckets) == 3
    assert model.buckets.split == ([net.emb.weight] if device == "cpu" else [])
    grads = None
    for idx in _batches(device, 3):
        _loss(model, idx).backward()
        for name, p in net.named_parameters():
            b = _bucket_of(model.buckets, p)
            # .grad's array is a slice of the bucket's buffer: no memory of its own
            assert backend.array_module(b.buffer).shares_memory(p.grad.data, b.buffer), name
            assert p.grad.shape == p.shape and p.grad.dtype == p.dtype
        if grads is not None:  # the same Tensor objects every step
            assert all(p.grad is g for p, g in zip(net.parameters(), grads))
        grads = [p.grad for p in net.parameters()]
        net.zero_grad(set_to_none=True)


def test_a_grad_that_exists_moves_into_its_bucket_at_construction():
    # as torch does: the values are kept, .grad becomes the bucket's view
    net = _tied("cpu")
    net.mid.weight.grad = mytorch.ones(16, 16) * 3
    old = net.mid.weight.grad
    buckets = GradBuckets(net.parameters(), gradient_as_bucket_view=True)
    b = _bucket_of(buckets, net.mid.weight)
    assert net.mid.weight.grad is not old and np.shares_memory(net.mid.weight.grad.data,
                                                               b.buffer)
    np.testing.assert_array_equal(net.mid.weight.grad.numpy(), np.full((16, 16), 3.0))
    assert net.mid.bias.grad is None


def test_a_parameter_no_rank_used_keeps_none_one_the_other_rank_used_gets_the_view():
    ps = [mytorch.nn.Parameter(mytorch.randn(3, 4)), mytorch.nn.Parameter(mytorch.randn(5))]
    ps[0].grad = mytorch.ones(3, 4)

    class Other(LocalCommunicator):
        size = 2
        flag = 1.0

        def allreduce(self, x, op="sum"):
            x[:17] += 3.0 * PRE  # the other rank's gradients, 3 everywhere, packed
            x[17:] += [self.flag, 1.0]  # its flags (ps[1] first): maybe ps[1], surely ps[0]
            return x
    comm = Other()
    b = GradBuckets(ps, gradient_as_bucket_view=True)
    b.reduce(comm)
    np.testing.assert_array_equal(ps[0].grad.numpy(), np.full((3, 4), 2.0))
    np.testing.assert_array_equal(ps[1].grad.numpy(), np.full(5, 1.5))
    assert ps[1].grad is b.buckets[0].view(0)  # reverse registration order: ps[1] first
    ps[1].grad, comm.flag = None, 0.0
    b.reduce(comm)
    assert ps[1].grad is None, "no rank produced a gradient: stays None"


# ---- the same bits as copying ----

def _train(device, view, set_to_none, via):
    """Five optimizer steps of the tied net on a pretend second rank, the second one
    accumulated over three micro-batches (two in no_sync); the .grads and weights after each
    (NumPy copies)."""
    model = _tied(device)
    comm = OtherRank()
    if via == "accelerator":
        acc = Accelerator(comm=comm, device=device, bucket_mb=2000 / 2 ** 20,
                          gradient_as_bucket_view=view)
        wrapped = acc.prepare(model)
        opt = acc.prepare(mytorch.optim.AdamW(model.parameters(), lr=1e-2))
        backward, no_sync = (lambda loss: acc.backward(loss)), acc.no_sync
        buckets = wrapped.buckets
    else:
        wrapped = DDP(model, process_group=comm, bucket_cap_mb=2000 / 2 ** 20,
                      gradient_as_bucket_view=view)
        opt = mytorch.optim.AdamW(model.parameters(), lr=1e-2)
        backward, no_sync = (lambda loss: loss.backward()), wrapped.no_sync
        buckets = wrapped.buckets
    assert buckets.gradient_as_bucket_view is view
    batches = iter(_batches(device, 7))
    out = []
    for step in range(5):
        for _ in range(2 if step == 1 else 0):
            with no_sync():
                backward(_loss(wrapped, next(batches)))
        backward(_loss(wrapped, next(batches)))
        out.append([None if p.grad is None else p.grad.cpu().numpy().copy()
                    for p in model.parameters()])
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)
        out.append([p.detach().cpu().numpy().copy() for p in model.parameters()])
    return out, comm


@pytest.mark.parametrize("via", ["ddp", "accelerator"])
@pytest.mark.parametrize("set_to_none", [True, False])
def test_views_give_the_same_bits_as_copies(device, via, set_to_none):
    views, comm_v = _train(device, True, set_to_none, via)
    copies, comm_c = _train(device, False, set_to_none, via)
    assert comm_v.calls == comm_c.calls
    assert comm_v.calls["allgather"] == (5 if device == "cpu" else 0)  # the split weight's rows
    for i, (a, b) in enumerate(zip(views, copies)):
        for x, y in zip(a, b):
            assert np.array_equal(x, y), i


def test_a_split_weight_skips_grad_while_its_bucket_is_in_flight():
    # with views, the engine must not add the head's part (taken by the bucket) nor the rows
    # into .grad: .grad is that bucket, travelling. It stays as it was until the end.
    net = _tied("cpu")
    comm = OtherRank()
    b = GradBuckets(net.parameters(), gradient_as_bucket_view=True, **embedding_roles(net))
    seen = []
    net.mid.weight.register_post_accumulate_grad_hook(
        lambda p: seen.append(net.emb.weight.grad))
    b.attach(comm, unpack=False)
    idx = _batches("cpu", 1)[0]
    _loss(net, idx).backward()
    assert seen == [None] and net.emb.weight.grad is None  # still in flight: untouched
    b.finish(comm)
    assert net.emb.weight.grad is b.buckets[0].view(0)
