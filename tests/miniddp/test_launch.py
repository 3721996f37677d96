import os
import subprocess
import sys

import pytest

from miniddp import launch


def test_command_runs_mpi4py_with_the_script_and_its_args():
    args = launch.parse_args(["-n", "4", "train.py", "--lr", "0.1"])
    cmd = launch.build_command(args, "/venv/bin/mpiexec")
    assert cmd == ["/venv/bin/mpiexec", "-n", "4", sys.executable, "-m", "miniddp.rank",
                   "train.py", "--lr", "0.1"]
    args = launch.parse_args(["-n", "2", "-m", "pkg.train", "--", "x"])
    assert launch.build_command(args, "mpiexec")[-4:] == ["miniddp.rank", "-m", "pkg.train", "x"]


def test_hostfile_flag_follows_the_launcher(tmp_path):
    hydra = tmp_path / "mpiexec"
    hydra.write_text("")
    (tmp_path / "mpichversion").write_text("")
    args = launch.parse_args(["-n", "8", "--hostfile", "hosts", "--mpi-args", "-ppn 4", "t.py"])
    cmd = launch.build_command(args, str(hydra))
    assert cmd[3:8] == ["-disable-auto-cleanup", "-f", "hosts", "-ppn", "4"]
    other = tmp_path / "ompi" / "mpiexec"
    other.parent.mkdir()
    other.write_text("")
    assert launch.build_command(args, str(other))[3:5] == ["--hostfile", "hosts"]


def test_one_thread_per_rank_unless_told():
    env = launch.thread_env({"MKL_NUM_THREADS": "3"}, None, on_gpu=False)
    assert env["OMP_NUM_THREADS"] == "1" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["MKL_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in launch.thread_env({}, None, on_gpu=True)
    assert launch.thread_env({"OMP_NUM_THREADS": "8"}, 2, on_gpu=False)["OMP_NUM_THREADS"] == "2"


def test_cpu_ranks_keep_their_freed_memory_unless_told():
    env = launch.memory_env({"MALLOC_TRIM_THRESHOLD_": "131072"}, on_gpu=False)
    assert env["MALLOC_MMAP_MAX_"] == "0"
    assert env["MALLOC_TRIM_THRESHOLD_"] == "131072"  # the user's own setting stays
    assert not set(launch.MEMORY_VARS) & set(launch.memory_env({}, on_gpu=True))


def test_a_rank_reuses_a_freed_big_array_without_page_faults():
    """Under the launcher's MEMORY_VARS, freeing and reallocating a 64 MB array (above glibc's
    largest mmap threshold) faults no pages in again; without them every round does."""
    code = ("import resource, numpy as np\n"
            "def minor(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "np.ones(16 << 20, np.float32)\n"
            "before = minor()\n"
            "for _ in range(5): np.ones(16 << 20, np.float32)\n"
            "print(minor() - before)\n")
    env = {k: v for k, v in os.environ.items() if k not in launch.MEMORY_VARS}
    faults = {}
    for keep in (False, True):
        run_env = launch.memory_env(env, on_gpu=False) if keep else env
        out = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True,
                             text=True, timeout=120, check=True)
        faults[keep] = int(out.stdout)
    # 5 x 64 MB is 80k 4 KiB pages (or 160 huge pages): without, at least one fault per 2 MB
    assert faults[False] >= 5 * 32, faults
    assert faults[True] < 32, faults


def test_finds_the_venv_mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(here):
        pytest.skip("no mpiexec next to this Python")
    assert launch.find_mpiexec() == here


@pytest.mark.parametrize("argv", [["-n", "0", "t.py"], ["-n", "2"]])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit):
        launch.parse_args(argv)


def test_a_missing_script_fails_before_starting_ranks(tmp_path):
    with pytest.raises(SystemExit, match="no such script"):
        launch.main(["-n", "2", str(tmp_path / "nope.py")])


def test_single_copy_messages_only_where_allowed_and_not_overridden():
    assert launch.comm_env({}, None, allowed=lambda: True)[launch.CMA_VAR] == "1"
    assert launch.CMA_VAR not in launch.comm_env({}, None, allowed=lambda: False)
    assert launch.CMA_VAR not in launch.comm_env({}, "hosts", allowed=lambda: True)
    assert launch.comm_env({launch.CMA_VAR: "0"}, None, allowed=lambda: True)[launch.CMA_VAR] \
        == "0"


def test_the_probe_reads_a_live_child_and_not_a_dead_one():
    child = subprocess.Popen(["sleep", "30"])
    try:
        alive = launch._read_other_process(child.pid)
    finally:
        child.kill()
        child.wait()
    assert alive == launch.cross_memory_attach_allowed()
    assert launch._read_other_process(child.pid) is False  # gone: nothing to read


@pytest.mark.mpi
def test_ranks_sum_large_buffers_with_the_launchers_settings(tmp_path):
    """A real 2-rank job under the launcher: the ranks get single-copy messages exactly when
    this machine allows them, and a 26 MB allreduce (one copy or two) sums exactly."""
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "mpiexec")):
        pytest.skip("no mpiexec next to this Python")
    script = tmp_path / "sum.py"
    script.write_text(
        "import os, numpy as np\n"
        "from mpi4py import MPI\n"
        "comm = MPI.COMM_WORLD\n"
        "buf = np.arange(26 << 18, dtype=np.float32) * (comm.rank + 1)\n"
        "comm.Iallreduce(MPI.IN_PLACE, buf).Wait()\n"
        "ok = bool(np.array_equal(buf, np.arange(26 << 18, dtype=np.float32) * 3))\n"
        f"seen = comm.allgather((ok, os.environ.get({launch.CMA_VAR!r})))\n"
        "if comm.rank == 0:\n"  # one writer: two ranks' lines can interleave mid-line
        "    print('RESULT', seen, flush=True)\n")
    env = {k: v for k, v in os.environ.items() if k != launch.CMA_VAR}
    out = subprocess.run([sys.executable, "-m", "miniddp.launch", "-n", "2", str(script)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    want = "1" if launch.cross_memory_attach_allowed() else None
    [line] = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    assert line == f"RESULT {[(True, want), (True, want)]}"
