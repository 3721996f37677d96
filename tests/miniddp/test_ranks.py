"""The Accelerator's promises checked on 2 ranks under mpiexec (and on one plain process).

Each rank script runs once per world size (a module fixture); its checks print `OK <name>`
on the main process and any failure aborts the job with the traceback, shown here.
"""
import functools
import importlib.util
import os
import signal
import subprocess
import sys
import time
import types

import pytest

import mytorch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "tests", "miniddp", "_scripts")
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
HAVE_MPI = os.path.exists(MPIEXEC) and importlib.util.find_spec("mpi4py") is not None

pytestmark = pytest.mark.mpi


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.update(extra)
    return env


def run_script(name, *args, ranks=2, timeout=120, launcher="mpiexec", **env):
    """Run a rank script; ranks=1 runs it as a plain process without mpi4py importable."""
    script = os.path.join(SCRIPTS, name)
    if ranks == 1:
        cmd = [sys.executable, script, *args]
        env.setdefault("MINIDDP_TEST_NO_MPI", "1")
    elif launcher == "launch":
        cmd = [sys.executable, "-m", "miniddp.launch", "-n", str(ranks), script, *args]
    else:
        if not HAVE_MPI:
            pytest.skip("mpi4py/mpiexec not installed (pip install 'mytorch[dist]')")
        cmd = [MPIEXEC, "-n", str(ranks), sys.executable, "-m", "mpi4py", script, *args]
    env = _env(**env)
    if launcher == "launch":  # the launcher must set them
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(var)
    start = time.monotonic()
    # Own process group: on a timeout every rank goes too (no orphan left busy-polling).
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        pytest.fail(f"{name} on {ranks} ranks did not finish in {timeout}s")
    return types.SimpleNamespace(returncode=proc.returncode, stdout=out, stderr=err,
                                 elapsed=time.monotonic() - start)


def _check_ok(proc, name):
    assert proc.returncode == 0 and f"OK {name}\n" in proc.stdout, \
        f"{name} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"


@functools.cache
def equivalence_run(ranks):
    return run_script("equivalence.py", ranks=ranks)


@pytest.fixture(scope="module", params=[1, 2], ids=["1proc", "2ranks"])
def collectives(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"collectives{request.param}")
    return run_script("collectives.py", str(out), ranks=request.param)


@pytest.mark.parametrize("ranks", [1, 2])
@pytest.mark.parametrize("check", ["adamw_1", "adamw_20", "accumulation", "clip"])
def test_same_as_one_big_batch(ranks, check):
    # N ranks x batch b == 1 process x batch N*b: grads and weights after 1 and 20 AdamW steps;
    # k accumulation steps == one k-times bigger batch, with no communication while
    # accumulating; clip_grad_norm_ clips by the averaged gradient's norm.
    _check_ok(equivalence_run(ranks), check)


def test_clip_norm_same_for_any_world_size():
    norms = [[line for line in equivalence_run(r).stdout.splitlines() if line.startswith("NORMS")]
             for r in (1, 2)]
    assert norms[0] and norms[0] == norms[1], norms


@pytest.mark.parametrize("check", ["communicator", "gather_reduce", "gather_for_metrics",
                                   "sharding", "main_process_first", "trackers"])
def test_collectives(collectives, check):
    _check_ok(collectives, check)


def test_print_only_on_main_process(collectives):
    assert collectives.stdout.count("PRINT from") == 1 and "PRINT from 0" in collectives.stdout


@pytest.mark.parametrize("ranks", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_fp16_loss_scaling(ranks):
    proc = run_script("fp16.py", ranks=ranks)
    _check_ok(proc, "fp16_train")
    _check_ok(proc, "fp16_overflow")


@pytest.mark.parametrize("ranks", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_interrupt_and_resume_repeats_the_losses(ranks, tmp_path):
    first = run_script("resume.py", str(tmp_path), "first", ranks=ranks)
    _check_ok(first, "saved")
    assert os.path.isfile(tmp_path / "ckpt" / "state.pkl")
    assert not os.path.exists(str(tmp_path / "ckpt") + ".tmp")
    resumed = run_script("resume.py", str(tmp_path), "resume", ranks=ranks)
    _check_ok(resumed, "resumed")


def test_failing_rank_aborts_the_job():
    if not HAVE_MPI:
        pytest.skip("mpi4py/mpiexec not installed")
    proc = run_script("fail.py", ranks=2, launcher="launch", timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert proc.elapsed < 30, f"took {proc.elapsed:.1f}s to abort"
    assert "Traceback" in out and "ValueError: boom from rank 1" in out, out
    # on CPUs the launcher gave every rank one BLAS/OpenMP thread; on GPU hosts none
    expect = [None, None] if mytorch.cuda.is_available() else ["1", "1"]
    assert f"threads per rank: {expect}" in out, out
