"""The collective watchdog: no collective waits forever.

Every rank keeps a small record in a shared-memory file (how many collectives it entered and
finished, its training step, the collective it is in, whether it has exited). The files are
mapped by every rank of the same machine and unlinked at once, so nothing is left on disk even
after `kill -9`. A daemon thread on each rank looks at its own collective in flight: it aborts
the whole job (MPI_Abort) when the collective has waited longer than the timeout, or at once
when a rank it waits for has left (its process is gone, or its interpreter is exiting) before
reaching that collective. The message names the collective, the rank, the step and what every
other rank of the machine was doing; ranks on other machines are reported as unknown.
"""
import atexit
import mmap
import os
import socket
import struct
import sys
import tempfile
import threading
import time

from mytorch.utils.process import pid_alive

DEFAULT_TIMEOUT = 600.0  # seconds, torch.distributed's default
ENV_TIMEOUT = "MINIDDP_TIMEOUT"
_FORWARD_SECONDS = 0.5  # how long a failing rank lets its last words reach the launcher

# entered, finished, step, exited, entered at (time.time()), collective name
_RECORD = struct.Struct("<qqqqd24s")
_RUNNING, _EXITED = 0, 1


def resolve_timeout(timeout=None):
    """`timeout` in seconds (a number or a timedelta), else $MINIDDP_TIMEOUT, else 600."""
    if timeout is None:
        text = os.environ.get(ENV_TIMEOUT)
        if not text:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(text)
        except ValueError:
            raise ValueError(f"{ENV_TIMEOUT}={text!r}: expected a number of seconds") from None
    if hasattr(timeout, "total_seconds"):
        timeout = timeout.total_seconds()
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"collective timeout must be a positive number of seconds, got {timeout}")
    return timeout


class Watchdog:
    """Watches this rank's collectives on an mpi4py communicator `comm` (see the module doc).

    >>> with watchdog.watch("allreduce"):
    ...     comm.Allreduce(...)
    """

    def __init__(self, comm, timeout=None):
        self.timeout = resolve_timeout(timeout)
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.step = 0
        self._entered = self._finished = 0
        self._inflight = None  # (name, number, monotonic start) while in a collective
        self._failed = False
        host = socket.gethostname()
        # Setting up uses plain MPI calls: nothing is watched yet.
        folder = tempfile.mkdtemp(prefix="miniddp-") if self.rank == 0 else None
        folder = comm.bcast(folder, root=0)
        peers = comm.allgather((host, os.getpid()))
        os.makedirs(folder, exist_ok=True)  # a rank on another machine makes its own
        own = os.path.join(folder, f"rank{self.rank}")
        with open(own, "wb") as f:
            f.write(bytes(_RECORD.size))
        comm.Barrier()
        self._records = {}
        for r, (h, pid) in enumerate(peers):
            if h == host:
                with open(os.path.join(folder, f"rank{r}"), "r+b") as f:
                    self._records[r] = (pid, mmap.mmap(f.fileno(), _RECORD.size))
        comm.Barrier()
        os.unlink(own)
        comm.Barrier()
        try:
            os.rmdir(folder)
        except OSError:  # another rank of this machine removed it first
            pass
        self._hosts = [h for h, _ in peers]
        self._mine = self._records[self.rank][1]
        self._write("")
        atexit.register(self._on_exit)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="miniddp-watchdog", daemon=True)
        self._thread.start()

    # ---- on the training thread ----

    def watch(self, name):
        """Context manager around one collective called `name`."""
        return _Watch(self, name)

    def set_step(self, step):
        self.step = step
        self._write(self._inflight[0] if self._inflight else "")

    def _write(self, name, exited=_RUNNING):
        _RECORD.pack_into(self._mine, 0, self._entered, self._finished, self.step, exited,
                          time.time(), name.encode()[:24])

    def _on_exit(self):
        self._write("", exited=_EXITED)

    def close(self):
        self._stop.set()

    # ---- on the watchdog thread ----

    def _run(self):
        poll = min(0.5, self.timeout / 4)
        while not self._stop.wait(poll):
            inflight = self._inflight
            if inflight is None or self._failed:
                continue
            name, number, start = inflight
            waited = time.monotonic() - start
            left = [r for r in self._records if r != self.rank and self._has_left(r, number)]
            if left:
                rec = self._read(left[0])
                why = "exited" if rec["exited"] else "its process is gone"
                self._fail(f"rank {left[0]} left the job at step {rec['step']} ({why}, after "
                           f"{rec['finished']} collectives) while rank {self.rank} waits in "
                           f"{name} (collective #{number}, step {self.step})")
            elif waited > self.timeout:
                self._fail(f"watchdog: {name} (collective #{number}) on rank {self.rank} at step "
                           f"{self.step} has not completed after {waited:.1f}s (timeout "
                           f"{self.timeout:g}s; set Accelerator(timeout=...) or "
                           f"{ENV_TIMEOUT})")

    def _read(self, r):
        entered, finished, step, exited, since, name = _RECORD.unpack_from(self._records[r][1])
        return {"entered": entered, "finished": finished, "step": step, "exited": exited,
                "since": since, "name": name.rstrip(b"\0").decode(errors="replace")}

    def _has_left(self, r, number):
        """Rank r can no longer join collective `number`: it finished fewer and is gone."""
        rec = self._read(r)
        if rec["finished"] >= number:
            return False
        return rec["exited"] == _EXITED or not pid_alive(self._records[r][0])

    def _describe(self, r):
        if r not in self._records:
            return f"rank {r} (on {self._hosts[r]}): unknown"
        pid = self._records[r][0]
        rec = self._read(r)
        if rec["exited"] == _EXITED:
            state = "exited"
        elif not pid_alive(pid):
            state = "process gone"
        elif rec["entered"] > rec["finished"]:
            state = (f"in {rec['name']} (collective #{rec['entered']}) for "
                     f"{time.time() - rec['since']:.1f}s")
        else:
            state = "computing, outside any collective"
        return (f"rank {r} (pid {pid}): {state}; step {rec['step']}, "
                f"{rec['finished']} collectives done")

    def _fail(self, headline):
        self._failed = True
        lines = [f"miniddp: {headline}; aborting the job."]
        lines += ["  " + self._describe(r) for r in range(self.size) if r != self.rank]
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        # The line reaches the user through the MPI launcher, which forwards each rank's output;
        # MPI_Abort tears that launcher down, and right away it can drop a line not yet
        # forwarded (about 1 job in 10 lost this one). Give it a moment first.
        time.sleep(_FORWARD_SECONDS)
        try:
            self.comm.Abort(1)
        finally:
            os._exit(1)


class _Watch:
    __slots__ = ("dog", "name")

    def __init__(self, dog, name):
        self.dog, self.name = dog, name

    def __enter__(self):
        dog = self.dog
        dog._entered += 1
        dog._write(self.name)
        dog._inflight = (self.name, dog._entered, time.monotonic())

    def __exit__(self, *exc):
        dog = self.dog
        dog._inflight = None
        dog._finished = dog._entered
        dog._write("")
