"""Launch a training script on N ranks: `python -m miniddp.launch -n N script.py args...`.

Runs `mpiexec -n N python -m miniddp.rank script.py args...` with the mpiexec that sits next to
this Python (the `dist` extra's MPICH). Each rank gets torchrun's variables (RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and runs under mpi4py, so that an
exception on one rank aborts the whole job instead of leaving the others waiting. On CPUs each
rank gets one BLAS/OpenMP thread unless the environment or --threads says otherwise, and keeps
the big arrays it frees for its next step (`MEMORY_VARS`). Where the kernel allows it, ranks on
this machine read each other's messages in one copy instead of two (`CMA_VAR`).
`--hostfile` spreads the ranks over machines.

SIGINT, SIGTERM and SIGHUP stop the job: the signal goes to mpiexec, which stops the ranks;
whatever is left after a grace period is killed. A rank that leaves early is not cleaned up by
MPICH's launcher (`-disable-auto-cleanup`): the watchdog of the ranks still waiting on it
aborts the job with a line naming it, so the job's exit code is never 0.
"""
import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 10.0  # after a stop signal, how long mpiexec gets before everything is killed

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# glibc's malloc gives an array of 32 MiB or more back to the OS when it is freed (smaller ones
# too, above its trim threshold), so the next step's array of that size faults its pages in
# again, each one zeroed by the kernel. A training step frees and reallocates the same big
# arrays every time: the tiny GPT-2's (B*T, vocab) logits and their softmax are 51 MB each, its
# tied weight's gradient 25 MB. Keeping freed memory in the process (no mmap for big blocks, no
# trimming) took its CPU step from about 210 to 190 ms, on 1 rank and on 2. The price: a rank's
# resident memory stays at its peak instead of shrinking after it.
MEMORY_VARS = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2 ** 40)}


# Ranks on one machine pass a large message through shared memory in two copies (into a shared
# cell, out of it) unless MPICH may read the other process's memory directly with Linux's
# cross-memory attach (process_vm_readv): one copy. MPICH leaves that off by default, as kernels
# may forbid it (Yama's ptrace_scope above 0, seccomp). Measured on a 2-core VM, 2 ranks with
# one core each, MPICH 5.0: a 26 MB Iallreduce (the tiny GPT-2's tied-weight bucket) took 8.5 ms
# with two copies and 5.7 with one, a 4 MB one 1.06 and 0.61 ms.
CMA_VAR = "MPIR_CVAR_CH4_CMA_ENABLE"


def find_mpiexec():
    """The mpiexec beside sys.executable (a venv's MPICH), else the first one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError("miniddp.launch: no mpiexec found next to "
                                f"{sys.executable} or on PATH; pip install 'mytorch[dist]' "
                                "(mpi4py and mpich)")
    return found


def _is_hydra(mpiexec):
    """MPICH's launcher (Hydra) takes -f for a hostfile; Open MPI takes --hostfile."""
    return os.path.isfile(os.path.join(os.path.dirname(mpiexec), "mpichversion")) or \
        os.path.basename(os.path.realpath(mpiexec)).endswith("hydra")


def _gpu_present():
    try:
        from mytorch import backend
        return backend.cuda_available()
    except ImportError:
        return False


def build_command(args, mpiexec):
    cmd = [mpiexec, "-n", str(args.nprocs)]
    if _is_hydra(mpiexec):
        cmd.append("-disable-auto-cleanup")
    if args.hostfile:
        cmd += ["-f" if _is_hydra(mpiexec) else "--hostfile", args.hostfile]
    if args.mpi_args:
        cmd += args.mpi_args.split()
    cmd += [sys.executable, "-m", "miniddp.rank"]
    cmd += ["-m", args.module] if args.module else []
    return cmd + args.script


def master_env(env):
    """torchrun's rendezvous variables, for scripts that read them (the ranks meet over MPI)."""
    env = dict(env)
    env.setdefault("MASTER_ADDR", socket.gethostname())
    env.setdefault("MASTER_PORT", "29500")
    return env


def thread_env(env, threads, on_gpu):
    """One BLAS/OpenMP thread per rank on CPUs (ranks share the cores), unless set already;
    an explicit `threads` always wins."""
    env = dict(env)
    for var in THREAD_VARS:
        if threads is not None:
            env[var] = str(threads)
        elif not on_gpu:
            env.setdefault(var, "1")
    return env


def memory_env(env, on_gpu):
    """On CPUs, ranks keep the memory they free for their next step (see MEMORY_VARS), unless
    the environment sets those variables already."""
    env = dict(env)
    if not on_gpu:
        for var, value in MEMORY_VARS.items():
            env.setdefault(var, value)
    return env


def cross_memory_attach_allowed():
    """True when processes of one user may read each other's memory here: Linux, Yama absent or
    its ptrace_scope 0 (at 1 only a process's descendants may be read, and ranks are siblings),
    and a process_vm_readv into a child of this process works (a seccomp filter may refuse it)."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if f.read().strip() != "0":
                return False
    except FileNotFoundError:
        pass  # no Yama: ordinary same-user rules
    except OSError:
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        return _read_other_process(child.pid)
    finally:
        child.kill()
        child.wait()


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _read_other_process(pid):
    """Whether process_vm_readv reads 8 bytes of `pid`'s first readable mapping."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            start = next(int(line.split("-")[0], 16) for line in f
                         if line.split()[1].startswith("r"))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.process_vm_readv.restype = ctypes.c_ssize_t
        buf = ctypes.create_string_buffer(8)
        local = _IOVec(ctypes.cast(buf, ctypes.c_void_p), 8)
        remote = _IOVec(start, 8)
        return libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1,
                                     0) == 8
    except (OSError, StopIteration, ValueError, IndexError, AttributeError):
        return False


def comm_env(env, hostfile, allowed=cross_memory_attach_allowed):
    """Single-copy messages between ranks on this machine (see CMA_VAR) when the kernel allows
    it (`allowed()`), unless the environment sets CMA_VAR already (0 turns it off) or the ranks
    spread over a hostfile's machines (the probe sees only this one)."""
    env = dict(env)
    if CMA_VAR not in env and not hostfile and allowed():
        env[CMA_VAR] = "1"
    return env


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m miniddp.launch",
                                description="Run a script on N MPI ranks.")
    p.add_argument("-n", "--nprocs", type=int, default=1, help="number of ranks (default 1)")
    p.add_argument("--hostfile", help="MPI hostfile: one host per line, optionally host:slots")
    p.add_argument("--threads", type=int, help="BLAS/OpenMP threads per rank (default 1 on CPU)")
    p.add_argument("--mpiexec", help="path to mpiexec (default: next to this Python)")
    p.add_argument("--mpi-args", default="", help="extra mpiexec flags, quoted, e.g. '-ppn 2'")
    p.add_argument("-m", dest="module", help="run a module instead of a script")
    p.add_argument("script", nargs=argparse.REMAINDER, help="script.py and its arguments")
    args = p.parse_args(argv)
    if args.nprocs < 1:
        p.error(f"-n must be >= 1, got {args.nprocs}")
    if not args.module and not args.script:
        p.error("give a script (script.py args...) or -m module")
    if args.script and args.script[0] == "--":
        args.script = args.script[1:]
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.module and not os.path.isfile(args.script[0]):
        raise SystemExit(f"python -m miniddp.launch: no such script: {args.script[0]}")
    mpiexec = args.mpiexec or find_mpiexec()
    on_gpu = _gpu_present()
    env = master_env(memory_env(thread_env(os.environ, args.threads, on_gpu), on_gpu))
    env = comm_env(env, args.hostfile)
    return run_job(build_command(args, mpiexec), env)


def run_job(cmd, env=None, cwd=None, grace=GRACE_SECONDS, name="miniddp.launch"):
    """Run `cmd` (mpiexec, or any child that must not outlive us) in its own session and wait.
    SIGINT, SIGTERM and SIGHUP are passed on to it; whatever of its process tree is still
    there `grace` seconds later is killed. The child gets SIGTERM if we die, even by SIGKILL.
    Returns the exit code (128 + the signal's number when a signal stopped the job)."""
    received = []

    def on_signal(signum, frame):
        if not received:
            print(f"{name}: got {signal.Signals(signum).name}, stopping the job",
                  file=sys.stderr, flush=True)
        received.append(signum)
        _signal_group(proc.pid, signum)

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True,
                                preexec_fn=_die_with_parent)
        while True:
            try:
                rc = proc.wait(timeout=grace if received else None)
                break
            except subprocess.TimeoutExpired:  # MPICH puts each rank in a session of its own
                for pid in [proc.pid] + process_tree(proc.pid):
                    _kill(pid, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 + received[0] if received else rc


def process_tree(pid):
    """PIDs of every descendant of `pid` (Linux /proc), parents before children."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill(pid, signum):
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent():
    """In the child before exec: get SIGTERM if the launcher dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
