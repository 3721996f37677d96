"""Issue #14: gradient buckets leave during backward, on nonblocking allreduces. On 2 real
ranks (tests/distributed/_scripts/overlap.py under our launcher): the Accelerator's and
DistributedDataParallel's gradients and weights equal the blocking path's bit for bit, every
rank starts the same collectives in the same order, and the first bucket leaves before backward
ends; on CPUs over MPI, and on 2 GPUs over NCCL when there are 2 (the CuPy stand-in's in CI).
(One process: the `Request`s in tests/miniddp/test_comm.py, the bucket protocol on a
pretend second rank in tests/miniddp/test_buckets.py.)"""
import re
import sys

import pytest

import mytorch
from tests.faults.jobs import ROOT, Job, job_env

CHECKS = ["accelerator_equal", "accelerator_order", "ddp_equal", "ddp_order"]


@pytest.fixture(scope="module", params=["cpu", "cuda"])
def two_ranks(request):
    if request.param == "cuda" and mytorch.cuda.device_count() < 2:
        pytest.skip("needs 2 GPUs (CUDA_STANDIN_GPUS=2 on the CuPy stand-in)")
    job = Job([sys.executable, "-m", "miniddp.launch", "-n", "2",
               f"{ROOT}/tests/distributed/_scripts/overlap.py"],
              job_env(OVERLAP_DEVICE=request.param))
    rc, _ = job.wait(300)
    assert job.leftovers() == []
    return rc, job.output


@pytest.mark.mpi
@pytest.mark.parametrize("check", CHECKS)
def test_on_two_ranks(two_ranks, check):
    rc, out = two_ranks
    passed = set(re.findall(r"OK (\w+) (\d)", out))
    assert rc == 0 and (check, "0") in passed and (check, "1") in passed, out[-4000:]
