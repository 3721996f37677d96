"""End to end: a GPT trainer written for torch's DDP (tests/distributed/_scripts/gpt_ddp.py)
run unchanged on mytorch through `sys.modules` aliasing. 2 ranks under our launcher with half
the batch each give the losses of 1 process with the whole batch, and those are real torch's;
real torch's own DDP also runs under our launcher (it reads the torchrun variables we set)."""
import functools
import re
import sys

import numpy as np
import pytest

from tests.faults.jobs import ROOT, Job, job_env

SCRIPT = f"{ROOT}/tests/distributed/_scripts/gpt_ddp.py"
pytestmark = pytest.mark.mpi


@functools.cache
def losses(lib, ranks):
    cmd = [sys.executable, SCRIPT] if ranks == 1 else \
        [sys.executable, "-m", "miniddp.launch", "-n", str(ranks), SCRIPT]
    job = Job(cmd, job_env(USE_MYTORCH="1" if lib == "mytorch" else "0"))
    rc, _ = job.wait(300)
    assert rc == 0 and job.leftovers() == [], job.output[-4000:]
    found = re.findall(r"step (\d+) loss (\S+) norm (\S+)", job.output)
    assert [int(s) for s, _, _ in found] == list(range(10)), job.output[-4000:]
    return np.array([[float(v), float(n)] for _, v, n in found])


def test_two_ranks_equal_one_process_with_the_whole_batch():
    one, two = losses("mytorch", 1), losses("mytorch", 2)
    assert one[-1, 0] < one[0, 0] - 0.1  # it learns
    np.testing.assert_allclose(two, one, rtol=2e-5)


def test_mytorch_equals_torch():
    np.testing.assert_allclose(losses("mytorch", 1), losses("torch", 1), rtol=2e-5)


@pytest.mark.slow
def test_a_torchrun_script_with_real_torch_runs_under_our_launcher():
    np.testing.assert_allclose(losses("torch", 2), losses("torch", 1), rtol=2e-5)
