"""Signals to `python -m experiments ...`: the harness runs its trainer (and, with gpus=2, the
launcher, mpiexec and the ranks) as children; a scheduler's SIGTERM or a closed terminal's
SIGHUP to the harness alone must stop all of them, as Ctrl-C does."""
import json
import signal
import sys
import time

import pytest

from tests.faults.jobs import Job, job_env

pytestmark = [pytest.mark.faults, pytest.mark.mpi]


def wait_for_training(job, log, timeout):
    """Until the trainer has logged a loss (its data is loaded and steps are running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and job.proc.poll() is None:
        job.tree()
        if log.exists() and any('"loss"' in line for line in log.read_text().splitlines()):
            return
        time.sleep(0.2)
    raise AssertionError(f"no loss logged in {timeout}s (exit {job.proc.poll()}):\n{job.output}")


@pytest.mark.parametrize("signum, gpus", [
    (signal.SIGTERM, 1),
    pytest.param(signal.SIGHUP, 2, marks=pytest.mark.slow),
    pytest.param(signal.SIGTERM, 2, marks=pytest.mark.slow),
])
def test_a_signal_to_the_experiment_stops_its_trainer(tmp_path, signum, gpus):
    cmd = [sys.executable, "-m", "experiments", "mnist_mlp", "steps=1000000", f"gpus={gpus}",
           "batch=8", "baseline=0", "eval_every=0", "ckpt_every=0", "log_every=1",
           "wandb=disabled", f"out={tmp_path}"]
    job = Job(cmd, job_env())
    wait_for_training(job, tmp_path / "mytorch.jsonl", timeout=240)
    assert len(job.tree()) >= (2 if gpus == 1 else 6), job.tree()
    job.signal(signum)
    rc, seconds = job.wait(60)
    assert job.leftovers() == [], f"processes of the job left running:\n{job.output}"
    assert rc == 128 + signum, job.output
    assert f"experiments: got {signal.Signals(signum).name}, stopping the job" in job.output
    steps = [json.loads(line).get("step") for line in
             (tmp_path / "mytorch.jsonl").read_text().splitlines() if '"loss"' in line]
    assert steps and max(steps) < 1000000  # stopped mid-run, not finished
