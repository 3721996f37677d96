import numpy as np
import pytest

import mytorch
from miniddp import GradBuckets, LocalCommunicator
from mytorch import backend
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
