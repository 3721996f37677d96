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
