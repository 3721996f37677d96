"""Issue #14: gradient buckets leave during backward, on nonblocking allreduces. On 2 real
ranks (tests/distributed/_scripts/overlap.py under our launcher): the Accelerator's and
DistributedDataParallel's gradients and weights equal the blocking path's bit for bit, every
rank starts the same collectives in the same order, and the first bucket leaves before backward
ends; with .grad copied out of the buckets and with .grad as views of them (the `_view` checks,
gradient_as_bucket_view); on CPUs over MPI, and on 2 GPUs over NCCL when there are 2 (the CuPy
stand-in's in CI). (One process: the `Request`s in tests/miniddp/test_comm.py, the bucket
protocol on a pretend second rank in tests/miniddp/test_buckets.py and test_bucket_view.py.)"""

import pytest

import mytorch
from tests.faults.jobs import assert_both_ranks_passed, run_two_ranks

CHECKS = [f"{what}{view}_{kind}" for view in ("", "_view")
          for what in ("accelerator", "ddp", "tied") for kind in ("equal", "order")]


@pytest.fixture(scope="module", params=["cpu", "cuda"])
def two_ranks(request):
    if request.param == "cuda" and mytorch.cuda.device_count() < 2:
        pytest.skip("needs 2 GPUs (CUDA_STANDIN_GPUS=2 on the CuPy stand-in)")
    return run_two_ranks("overlap.py", OVERLAP_DEVICE=request.param)


@pytest.mark.mpi
@pytest.mark.parametrize("check", CHECKS)
def test_on_two_ranks(two_ranks, check):
    assert_both_ranks_passed(two_ranks, check)
