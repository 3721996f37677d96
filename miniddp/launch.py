"""Launch a training script on N ranks: `python -m miniddp.launch -n N script.py args...`.

Runs `mpiexec -n N python -m mpi4py script.py args...` with the mpiexec that sits next to this
Python (the `dist` extra's MPICH), so that an exception on one rank aborts the whole job instead
of leaving the others waiting. On CPUs each rank gets one BLAS/OpenMP thread unless the
environment or --threads says otherwise. `--hostfile` spreads the ranks over machines.
"""
import argparse
import os
import shutil
import subprocess
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
    if args.hostfile:
        cmd += ["-f" if _is_hydra(mpiexec) else "--hostfile", args.hostfile]
    if args.mpi_args:
        cmd += args.mpi_args.split()
    cmd += [sys.executable, "-m", "mpi4py"]
    cmd += ["-m", args.module] if args.module else []
    return cmd + args.script


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
    env = thread_env(os.environ, args.threads, _gpu_present())
    proc = subprocess.Popen(build_command(args, mpiexec), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # mpiexec forwards the signal to the ranks
        proc.terminate()
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
