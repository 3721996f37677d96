import numpy as np
import pytest

import mytorch
from miniddp import GradBuckets, LocalCommunicator
from mytorch import backend
from mytorch.distributed.buckets import _pre_factor
from mytorch.distributed.comm import Request
from mytorch.nn import Parameter

# What a real second rank puts in the sum for a gradient g: g times this (packing divides by
# the world size when that is exact, as torch's DDP does); the fakes below add that.
PRE = float(_pre_factor(2, np.float64))


class FakeTwoRanks(LocalCommunicator):
    """Pretends a second rank had the gradients `other` (flat, same layout): allreduce adds
    them as that rank packs them (times PRE)."""
    size = 2

    def __init__(self):
        super().__init__()
        self.other = None

    def allreduce(self, x, op="sum"):
        self._count("allreduce")
        x += self.other(x) * float(_pre_factor(self.size, np.float64))
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
            x[...] += np.full_like(x, 3.0 * PRE)  # the other rank: gradients 3, flags set
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


# ---- a tied embedding: its head's part leaves first, its rows are exchanged at the end ----

class TiedNet(mytorch.nn.Module):
    """An embedding whose weight is also the output head (GPT-2's wte), a layer between, and a
    position-like second embedding: backward delivers the head's dense gradient first, the
    embeddings' rows last."""

    def __init__(self, V=40, D=6):
        super().__init__()
        self.emb, self.pos = mytorch.nn.Embedding(V, D), mytorch.nn.Embedding(4, D)
        self.mid = mytorch.nn.Linear(D, D)
        self.head = mytorch.nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight  # tied

    def forward(self, idx):
        h = self.emb(idx) + self.pos(mytorch.arange(idx.shape[-1]))
        return self.head(mytorch.tanh(self.mid(h)))


class OtherRankWithRows(LocalCommunicator):
    """A pretend second rank (rank 1): its bucket gradients are 3 everywhere (flags set), its
    later rows of a split weight are `rows` at row numbers `idx`. `log` records each
    collective with `probe()` at its start."""
    size = 2

    def __init__(self, probe, idx=(2, 7), value=5.0, width=6):
        super().__init__()
        self.probe, self.log = probe, []
        self.idx = np.array(idx, np.int64)
        self.rows = np.full((len(idx), width), value, np.float32)

    def iallreduce(self, x, op="sum"):
        self._count("allreduce")
        self.log.append(("start", x.size, self.probe()))

        def finish():
            x[...] += 3.0 * PRE  # gradients 3 as the other rank packs them, flags set
        return Request(x, finish, poll=lambda: False)

    def allgather(self, x):
        from mytorch.distributed.buckets import _pack_rows
        self._count("allgather")
        self.log.append(("allgather", x.size, self.probe()))
        return [x, _pack_rows(self.idx, self.rows)]


def _tied(seed=0, n=6):
    mytorch.manual_seed(seed)
    net = TiedNet()
    idx = mytorch.tensor(np.random.default_rng(seed).integers(0, 40, (2, 4))[:, :n])
    return net, idx


def _local_grads(net, idx, backwards=1):
    """The local gradients of `backwards` plain backwards (cleared after)."""
    for _ in range(backwards):
        net(idx).square().sum().backward()
    out = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    return out


def _expected(net, local, comm, split):
    """The mean over the two ranks: (local + 3 [+ the other rank's rows]) / 2."""
    out = []
    for p, g in zip(net.parameters(), local):
        e = g + 3.0
        if p is split:
            e[comm.idx] += comm.rows
        out.append(e / 2)
    return out


def test_embedding_roles_put_the_tied_weight_first_and_other_embeddings_last():
    from mytorch.distributed.buckets import embedding_roles
    net, _ = _tied()
    roles = embedding_roles(net)
    assert roles["split"] == [net.emb.weight] and roles["last"] == [net.pos.weight]
    b = GradBuckets(net.parameters(), bucket_mb=25, **roles)
    assert [bk.params for bk in b.buckets[:1]] == [[net.emb.weight]]  # a bucket of its own
    assert b.buckets[-1].params == [net.pos.weight] and len(b) == 3  # a small last bucket
    assert sorted(map(id, b.params)) == sorted(map(id, net.parameters()))
    untied = GradBuckets(net.parameters(), bucket_mb=25)
    assert untied.split == [] and untied.params[-1] is net.emb.weight


@pytest.mark.parametrize("unpack", [True, False])
def test_a_tied_weight_leaves_before_backward_reaches_the_embedding(unpack):
    from mytorch.distributed.buckets import embedding_roles
    net, idx = _tied()
    local = _local_grads(net, idx)
    b = GradBuckets(net.parameters(), bucket_mb=40 / 2 ** 20, **embedding_roles(net))
    comm = OtherRankWithRows(lambda: net.mid.weight.grad is not None)
    b.attach(comm, unpack=unpack)
    net(idx).square().sum().backward()
    if not unpack:
        assert b.finish(comm, check_finite=True) is True
    starts = [e for e in comm.log if e[0] == "start"]
    sizes = [bk.numel + len(bk.params) for bk in b.buckets]
    assert [n for _, n, _ in starts] == sizes
    assert starts[0] == ("start", 40 * 6 + 1, False)  # the head's part, before `mid` had grads
    assert comm.log[-1][0] == "allgather" and comm.calls["allgather"] == 1  # rows at the end
    for p, g, e in zip(net.parameters(), local, _expected(net, local, comm, net.emb.weight)):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-6, atol=1e-6)


def test_a_tied_weight_keeps_the_gradient_accumulated_before_the_synced_backward():
    # no_sync-style accumulation: the first part sent is the earlier .grad plus the head's part
    from mytorch.distributed.buckets import embedding_roles
    net, idx = _tied(seed=1)
    local = _local_grads(net, idx, backwards=2)
    b = GradBuckets(net.parameters(), bucket_mb=25, **embedding_roles(net))
    comm = OtherRankWithRows(lambda: None)
    syncing = [False]
    b.attach(comm, enabled=lambda: syncing[0])
    net(idx).square().sum().backward()  # local only
    assert comm.log == []
    syncing[0] = True
    net(idx).square().sum().backward()
    for p, g, e in zip(net.parameters(), local, _expected(net, local, comm, net.emb.weight)):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", ["tensor_hook", "rows_first", "dense_later"])
def test_a_split_weight_falls_back_to_its_whole_gradient(case):
    # tensor_hook: a hook may change the summed gradient, so nothing leaves before it ran;
    # rows_first: an untied embedding named split gets its rows first and whole at the end;
    # dense_later: a lookup touching most of the table sends the rest as a dense array, which
    # is exchanged as every row
    from mytorch.distributed.buckets import embedding_roles
    net, idx = _tied(seed=2)
    if case == "rows_first":  # untied: the embedding's only gradient is its rows
        net.head.weight = mytorch.nn.Parameter(net.emb.weight.detach().clone())
    if case == "dense_later":
        idx = mytorch.tensor(np.arange(36).reshape(9, 4) % 40)  # 36 lookups of 40 rows
    if case == "tensor_hook":
        net.emb.weight.register_hook(lambda g: g * 2)
    local = _local_grads(net, idx)
    split = net.emb.weight
    b = GradBuckets(net.parameters(), bucket_mb=25,
                    **(embedding_roles(net) if case != "rows_first" else {"split": [split]}))
    assert b.split == [split]
    # the other rank has rows to add only where its first part went early
    comm = OtherRankWithRows(lambda: split.grad is not None,
                             idx=(2, 7) if case != "rows_first" else ())
    b.attach(comm)
    net(idx).square().sum().backward()
    first = comm.log[0]
    assert first[1] == split.numel() + 1
    rows_sent = case == "dense_later"
    assert first[2] is not rows_sent  # else the whole gradient left once accumulated
    gathered = [n for what, n, _ in comm.log if what == "allgather"]
    assert gathered == [40 * (8 + 6 * 4) if rows_sent else 0]  # bytes: every row, or none
    for p, g, e in zip(net.parameters(), local, _expected(net, local, comm, split)):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-6, atol=1e-6)


def test_reduce_exchanges_no_rows_and_finish_exchanges_empty_ones():
    # The rows exchange is part of the attached protocol only; a rank whose backward gave no
    # gradient still joins it (with no rows), or the other rank would wait forever
    from mytorch.distributed.buckets import embedding_roles
    net, idx = _tied(seed=3)
    local = _local_grads(net, idx)
    for p, g in zip(net.parameters(), local):
        p.grad = mytorch.tensor(g)
    b = GradBuckets(net.parameters(), bucket_mb=25, **embedding_roles(net))
    comm = OtherRankWithRows(lambda: None)
    b.reduce(comm)
    assert comm.calls["allgather"] == 0
    for p, g in zip(net.parameters(), local):
        np.testing.assert_allclose(p.grad.numpy(), (g + 3.0) / 2, rtol=1e-6)
    net.zero_grad(set_to_none=True)
    b.attach(comm, unpack=False)
    b.finish(comm)  # no backward ran here
    assert comm.calls["allgather"] == 1
    expect = np.full((40, 6), 1.5, np.float32)
    expect[comm.idx] += comm.rows / 2
    np.testing.assert_allclose(net.emb.weight.grad.numpy(), expect)


def test_three_ranks_sum_then_divide():
    """World size 3: 1/3 is not exact, so packing copies the gradients as they are and the
    mean is taken after the sum (the same floats as summing whole gradients, then dividing)."""
    assert float(_pre_factor(3, np.float32)) == 1.0 and float(_pre_factor(4, np.float32)) == 0.25
    ps = _params((3, 4), (5,))
    for p in ps:
        p.grad = mytorch.full(tuple(p.shape), 0.1)
    comm = FakeTwoRanks()
    comm.size = 3
    comm.other = lambda x: np.full_like(x, 0.7)  # the two other ranks' gradients, summed
    b = GradBuckets(ps, bucket_mb=25)
    b.reduce(comm)
    want = (np.float32(0.1) + np.float32(0.7)) * np.float32(1 / 3)
    for p in ps:
        np.testing.assert_array_equal(p.grad.numpy(), np.full(tuple(p.shape), want, np.float32))
