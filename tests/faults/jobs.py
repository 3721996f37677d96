"""Run a real job (launcher, mpiexec, ranks) under a wall-clock limit and check what is left.

A job starts in a session of its own; its process tree is read from /proc (MPICH puts each
rank in a session of its own, so a process group would not find them). Processes are found by
PID, never by name.
"""
import os
import signal
import subprocess
import sys
import threading
import time

from miniddp.launch import process_tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "tests", "faults", "_scripts")


def job_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def alive(pid):
    """Running (a zombie counts as gone: it has exited and waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Job:
    """`cmd` running in its own session; output collected line by line on a thread."""

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        self.lines = []
        self.seen = set()  # every PID ever seen in the tree
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env or job_env(), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.seen.add(self.proc.pid)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return "".join(self.lines)

    def tree(self):
        pids = [self.proc.pid] + process_tree(self.proc.pid)
        self.seen.update(pids)
        return pids

    def wait_for(self, text, timeout):
        """Wait until `text` appears in the output (recording the process tree meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tree()
            if text in self.output:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen in {timeout}s (exit {self.proc.poll()}):\n"
                             f"{self.output[-4000:]}")

    def signal(self, signum):
        self.tree()
        self.signalled_at = time.monotonic()
        os.kill(self.proc.pid, signum)

    def wait(self, timeout):
        """Exit code and seconds from start (or from the signal) to exit; the test fails if the
        job outlives `timeout`, and then everything it started is killed."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.tree()
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.kill()
            raise AssertionError(f"{self.cmd} still running after {timeout}s:\n"
                                 f"{self.output[-4000:]}")
        self._reader.join(5)
        since = getattr(self, "signalled_at", self.start)
        return self.proc.returncode, time.monotonic() - since

    def leftovers(self, within=5.0):
        """PIDs of this job still running `within` seconds after it exited (then killed, so
        that a failing test leaves nothing behind either)."""
        deadline = time.monotonic() + within
        while True:
            left = sorted(p for p in self.seen if alive(p))
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left

    def kill(self):
        for pid in self.tree():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


def launch(script, *args, ranks=2, **env):
    """`python -m miniddp.launch -n ranks script args` as a Job."""
    cmd = [sys.executable, "-m", "miniddp.launch", "-n", str(ranks),
           os.path.join(SCRIPTS, script), *args]
    return Job(cmd, job_env(**env))


def run_two_ranks(script, **env):
    """Run tests/distributed/_scripts/<script> on 2 ranks under miniddp.launch (5-minute
    limit); checks no process is left behind and returns (exit code, output)."""
    job = Job([sys.executable, "-m", "miniddp.launch", "-n", "2",
               f"{ROOT}/tests/distributed/_scripts/{script}"], job_env(**env))
    rc, _ = job.wait(300)
    assert job.leftovers() == []
    return rc, job.output


def assert_both_ranks_passed(result, check):
    """The script printed `OK <check> 0` and `OK <check> 1`, and the job exited 0."""
    import re
    rc, out = result
    passed = set(re.findall(r"OK (\w+) (\d)", out))
    assert rc == 0 and (check, "0") in passed and (check, "1") in passed, out[-4000:]
