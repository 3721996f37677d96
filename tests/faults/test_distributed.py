"""Distributed faults, each a real 2-rank job under `python -m miniddp.launch`: the job must end
(never hang), with a non-zero exit code, a message naming the rank, the step and the collective,
and no process of the job left behind."""
import re
import signal

import pytest

from tests.faults.jobs import launch

pytestmark = [pytest.mark.faults, pytest.mark.mpi]

LIMIT = 120  # seconds: start-up of two ranks on a loaded machine, plus the fault


def finished(job, limit=LIMIT):
    rc, seconds = job.wait(limit)
    assert job.leftovers() == [], f"processes of the job left running:\n{job.output}"
    return rc, seconds


@pytest.mark.parametrize("mode, step", [("exit0", 2),
                                        pytest.param("os_exit", 2, marks=pytest.mark.slow),
                                        pytest.param("fewer_steps", 3, marks=pytest.mark.slow)])
def test_a_rank_that_leaves_early_fails_the_job(mode, step):
    # sys.exit(0) or os._exit(0) on rank 1 mid-training, or a loop with fewer steps on rank 1:
    # rank 0 is left waiting in the gradient allreduce; the job stops at once.
    job = launch("rank_faults.py", mode, MINIDDP_TIMEOUT=600)
    job.wait_for("STEP 0 2", LIMIT)
    rc, _ = finished(job)
    out = job.output
    assert rc != 0, out
    assert f"rank 1 left the job at step {step}" in out, out
    assert "while rank 0 waits in allreduce" in out, out
    assert "DONE 0" not in out, out


@pytest.mark.parametrize("how", ["env", pytest.param("argument", marks=pytest.mark.slow)])
def test_a_hung_rank_trips_the_watchdog(how):
    # rank 1 stops in the middle of step 3 (outside any collective); rank 0 waits in its
    # allreduce until the 3-second timeout (MINIDDP_TIMEOUT, or Accelerator(timeout=3) over a
    # 600 s MINIDDP_TIMEOUT), then aborts the job naming both.
    env = {"MINIDDP_TIMEOUT": 3} if how == "env" else {"MINIDDP_TIMEOUT": 600, "FAULT_TIMEOUT": 3}
    job = launch("rank_faults.py", "hang", **env)
    job.wait_for("STEP 1 2", LIMIT)
    rc, _ = finished(job)
    out = job.output
    assert rc != 0, out
    assert "watchdog: allreduce (collective #" in out and "on rank 0 at step 3" in out, out
    assert "has not completed after 3." in out and "MINIDDP_TIMEOUT" in out, out
    assert "rank 1 (pid" in out and "computing, outside any collective; step 2" in out, out


@pytest.mark.parametrize("mode, views", [("tied_exit_mid_backward", 1),
                                         ("tied_hang_mid_backward", 1),
                                         ("tied_exit_mid_backward", 0)])
def test_a_rank_that_fails_with_a_bucket_in_flight_stops_the_job(mode, views):
    # rank 1 vanishes (os._exit) or hangs in the middle of step 3's backward, after its
    # buckets (the tied embedding's first part among them) left on nonblocking allreduces:
    # rank 0 finishes its backward and waits, for a bucket still in flight (an allreduce) or,
    # when MPI moved the buckets before rank 1 stopped, in the exchange of the embedding's
    # rows (an allgather) that rank 1 never joins; the launcher (exit) or the watchdog (hang,
    # 3 s) stops the job, naming that collective. With .grad as views of the buckets (the
    # Accelerator's default) and with .grad copied out of them.
    job = launch("rank_faults.py", mode, MINIDDP_TIMEOUT=3 if "hang" in mode else 600,
                 FAULT_BUCKET_VIEW=views)
    job.wait_for("FAILING 1 with a bucket in flight", LIMIT)
    rc, _ = finished(job)
    out = job.output
    assert rc != 0, out
    if "exit" in mode:
        assert "rank 1 left the job at step 3 (its process is gone" in out, out
        assert re.search(r"while rank 0 waits in (allreduce|allgather) \(collective #\d+, "
                         r"step 3\)", out), out
    else:
        assert re.search(r"watchdog: (allreduce|allgather) \(collective #\d+\) on rank 0 at "
                         r"step 3 has not completed after 3\.", out), out
        assert "rank 1 (pid" in out and "computing, outside any collective; step 3" in out, out
    assert "STEP 0 3" not in out and "DONE" not in out, out


@pytest.mark.parametrize("mode, first", [
    ("extra_layer", "nothing at position 4 on rank 0 but parameter '3.weight' of shape [1, 1]"),
    pytest.param("shape_mismatch", "parameter 'weight' of shape [4, 6] and dtype float32 on "
                 "rank 0 but parameter 'weight' of shape [6, 4]", marks=pytest.mark.slow),
])
def test_prepare_refuses_models_that_differ_between_ranks(mode, first):
    # an extra layer used to hang in prepare's broadcast; equal sizes with different shapes
    # used to train silently on unrelated gradients
    job = launch("rank_faults.py", mode)
    rc, _ = finished(job)
    out = job.output
    assert rc != 0, out
    assert "ValueError: prepare: the model differs between ranks" in out, out
    assert first in out, out
    assert "PREPARED" not in out, out


@pytest.mark.slow
def test_integer_mean_is_rejected_before_touching_the_buffer():
    job = launch("rank_faults.py", "int_mean")
    rc, _ = finished(job)
    out = job.output
    assert rc == 0, out
    for rank in (0, 1):
        assert f"INT_MEAN_REJECTED {rank}: allreduce: op='mean' needs a floating array, " \
               "got int64 (shape (4,))" in out, out
        assert f"DONE {rank}" in out, out


@pytest.mark.parametrize("signum", [signal.SIGTERM,
                                    pytest.param(signal.SIGHUP, marks=pytest.mark.slow),
                                    pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_to_the_launcher_stops_every_rank(signum):
    # what a scheduler does (SIGTERM), a closed terminal (SIGHUP), Ctrl-C (SIGINT)
    job = launch("rank_faults.py", "loop")
    job.wait_for("STEP 1 2", LIMIT)
    assert len(job.tree()) >= 4, job.tree()  # launcher, mpiexec, proxy, two ranks
    job.signal(signum)
    rc, seconds = finished(job, limit=60)
    assert rc == 128 + signum, job.output
    assert f"miniddp.launch: got {signal.Signals(signum).name}, stopping the job" in job.output


def test_killing_the_launcher_stops_the_job():
    # kill -9 of the launcher (an OOM killer, a scheduler's hard kill): mpiexec gets SIGTERM
    # through the parent-death signal and takes the ranks with it
    job = launch("rank_faults.py", "loop")
    job.wait_for("STEP 1 2", LIMIT)
    job.signal(signal.SIGKILL)
    rc, _ = finished(job, limit=60)
    assert rc == -signal.SIGKILL, job.output
