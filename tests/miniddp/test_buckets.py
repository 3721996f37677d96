import numpy as np
import pytest

import mytorch
from miniddp import GradBuckets, LocalCommunicator
from mytorch import backend
from mytorch.distributed.comm import Request
from mytorch.nn import Parameter


class FakeTwoRanks(LocalCommunicator):
    """Pretends a second rank sent `other` (flat, same layout): allreduce adds it."""
    size = 2

    def __init__(self):
        super().__init__()
        self.other = None

    def allreduce(self, x, op="sum"):
        self._count("allreduce")
        x += self.other(x)
        return x


def _params(*shapes):
    return [Parameter(mytorch.randn(*s)) for s in shapes]


def test_buckets_respect_the_size_and_hold_each_param_once():
    ps = _params((256, 256), (256,), (64, 256), (1024, 300), (10,))  # 1024*300 > 1 MB alone
    tied = ps + [ps[0]]
    b = GradBuckets(tied, bucket_mb=0.5)
    assert sorted(map(id, b.params)) == sorted(map(id, ps))
    assert b.params[0] is ps[-1]  # reverse registration order, as backward produces them
    limit = 0.5 * 2 ** 20
    for bucket in b.buckets:
        assert bucket.numel * 4 <= limit or len(bucket.params) == 1
    assert len(GradBuckets(ps, bucket_mb=25)) == 1
    with pytest.raises(ValueError, match="bucket_mb"):
        GradBuckets(ps, bucket_mb=0)


def test_reduce_averages_one_call_per_bucket_and_keeps_unused_none():
    ps = _params((3, 4), (4,), (5,))
    for p in ps[:2]:
        p.grad = mytorch.ones(*p.shape)
    comm = FakeTwoRanks()
    comm.other = lambda x: np.full_like(x, 3.0)  # the other rank: grads 3, flags 3 (=has grad)
    b = GradBuckets(ps, bucket_mb=25)
    assert b.reduce(comm, check_finite=True) is True
    assert comm.calls["allreduce"] == 1
    np.testing.assert_allclose(ps[0].grad.numpy(), np.full((3, 4), 2.0))
    np.testing.assert_allclose(ps[1].grad.numpy(), np.full(4, 2.0))
    np.testing.assert_allclose(ps[2].grad.numpy(), np.full(5, 1.5))  # only the other rank had it
    comm.other = lambda x: np.zeros_like(x)
    ps[2].grad = None
    b.reduce(comm, average=False, scale=0.5)
    assert ps[2].grad is None, "no rank produced a gradient: stays None"
    np.testing.assert_allclose(ps[0].grad.numpy(), np.full((3, 4), 1.0))


def test_reduce_flags_non_finite_and_casts_to_the_param_dtype():
    (p,) = _params((4,))
    p.grad = mytorch.tensor(np.array([1, 2, np.inf, 4], np.float16))
    b = GradBuckets([p])
    assert b.reduce(LocalCommunicator(), check_finite=True) is False
    assert p.grad.dtype == np.float32


@pytest.mark.skipif(not mytorch.cuda.is_available() or
                    not hasattr(backend.cupy, "_core") or
                    not hasattr(backend.cupy._core, "syncs"), reason="needs the CuPy stand-in")
def test_reduce_on_cuda_waits_for_the_gpu_once_for_all_buckets():
    # the stand-in counts device->host copies: the per-parameter flags and the finite checks
    # of every bucket must come back in one, not two per bucket
    ps = [mytorch.randn(300, device="cuda", requires_grad=True) for _ in range(4)]
    b = GradBuckets(ps, bucket_mb=300 * 4 / 2 ** 20)  # one bucket per parameter
    assert len(b) == 4
    for p in ps[:3]:
        p.grad = mytorch.ones(300, device="cuda")
    ps[1].grad.data[5] = float("inf")
    before = backend.cupy._core.syncs
    assert b.reduce(LocalCommunicator(), check_finite=True) is False
    assert backend.cupy._core.syncs - before == 1
    assert ps[3].grad is None and ps[0].grad.device.type == "cuda"
    np.testing.assert_array_equal(ps[0].grad.cpu().numpy(), np.ones(300, np.float32))


class PendingTwoRanks(LocalCommunicator):
    """A pretend second rank whose nonblocking allreduces stay in flight until waited for:
    wait() adds `other(x)`. `log` records (event, bucket size, first layer has a gradient)."""
    size = 2

    def __init__(self, first_weight):
        super().__init__()
        self.first_weight, self.log = first_weight, []

    def iallreduce(self, x, op="sum"):
        self._count("allreduce")
        self.log.append(("start", x.size, self.first_weight.grad is not None))

        def finish():
            self.log.append(("wait", x.size, self.first_weight.grad is not None))
            x[...] += np.full_like(x, 3.0)  # the other rank: every gradient 3, every flag set
        return Request(x, finish, poll=lambda: False)


def _mlp_and_grads():
    mytorch.manual_seed(0)
    net = mytorch.nn.Sequential(mytorch.nn.Linear(4, 8), mytorch.nn.Tanh(),
                                mytorch.nn.Linear(8, 8), mytorch.nn.Tanh(),
                                mytorch.nn.Linear(8, 2))
    x = mytorch.randn(5, 4)
    net(x).sum().backward()
    local = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    return net, x, local


@pytest.mark.parametrize("unpack", [True, False])
def test_attached_buckets_leave_during_backward_and_are_waited_for_at_its_end(unpack):
    net, x, local = _mlp_and_grads()
    b = GradBuckets(net.parameters(), bucket_mb=40 / 2 ** 20)  # a bucket per parameter
    comm = PendingTwoRanks(net[0].weight)
    b.attach(comm, unpack=unpack)
    net(x).sum().backward()
    sizes = [bk.numel + len(bk.params) for bk in b.buckets]
    starts = [e for e in comm.log if e[0] == "start"]
    assert [n for _, n, _ in starts] == sizes  # every bucket, in the fixed order
    assert starts[0][2] is False  # the first left before backward reached the first layer
    if unpack:  # DDP: waited for at the end of backward, after every bucket had left
        assert [e[0] for e in comm.log] == ["start"] * len(sizes) + ["wait"] * len(sizes)
        assert comm.calls["allreduce"] == len(sizes)
    else:  # the Accelerator: still in flight, .grad untouched until finish()
        assert [e[0] for e in comm.log] == ["start"] * len(sizes)
        for p, g in zip(net.parameters(), local):
            np.testing.assert_array_equal(p.grad.numpy(), g)
        assert b.finish(comm, scale=0.5, check_finite=True) is True
    for p, g in zip(net.parameters(), local):
        factor = 0.5 if unpack else 0.25
        np.testing.assert_allclose(p.grad.numpy(), (g + 3.0) * factor, rtol=1e-6)


def test_finish_sends_every_bucket_when_backward_gave_no_gradient():
    # this rank's loss did not reach the model: the hooks never ran, the other ranks' buckets
    # must still be matched
    net, _, _ = _mlp_and_grads()
    b = GradBuckets(net.parameters(), bucket_mb=40 / 2 ** 20)
    comm = PendingTwoRanks(net[0].weight)
    b.attach(comm, unpack=False)
    b.finish(comm)
    assert comm.calls["allreduce"] == len(b)
    np.testing.assert_allclose(net[0].weight.grad.numpy(), np.full((8, 4), 1.5))


def test_reset_waits_for_the_buckets_of_a_backward_that_failed():
    class Boom(mytorch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, gy):
            raise RuntimeError("boom")

    net, x, _ = _mlp_and_grads()
    b = GradBuckets(net.parameters(), bucket_mb=40 / 2 ** 20)
    comm = PendingTwoRanks(net[0].weight)
    b.attach(comm)
    h = Boom.apply(net[1](net[0](x)))  # fails after the last two Linear layers (4 buckets)
    with pytest.raises(RuntimeError, match="boom"):
        net[4](net[3](net[2](h))).sum().backward()
    started = sum(e[0] == "start" for e in comm.log)
    assert started == 4 and not any(e[0] == "wait" for e in comm.log)
    b.reset()  # what DDP's next forward does: nothing may stay in flight on the buffers
    assert sum(e[0] == "wait" for e in comm.log) == started
