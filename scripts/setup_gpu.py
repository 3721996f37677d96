"""Install CuPy, its CUDA libraries and NCCL for this host's CUDA major (`make setup GPU=1`).

    python scripts/setup_gpu.py [--cuda 12|13] [--dry-run]

Reads the driver's CUDA version from nvidia-smi; `--cuda` (the Makefile's `CUDA=`) overrides
it, e.g. to prepare a venv for another machine. `--dry-run` prints the commands only.
"""
import argparse
import importlib.metadata
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from miniddp import host  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", default=None, help="CUDA major to install for (12 or 13)")
    parser.add_argument("--dry-run", action="store_true", help="print the pip commands only")
    args = parser.parse_args(argv)
    gpus = host.probe()
    print(f"setup-gpu: {host.describe(gpus)}")
    try:
        major = host.choose_cuda_major(gpus, args.cuda)
    except ValueError as e:
        raise SystemExit(f"setup-gpu: {e}") from None
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    remove, add = host.install_plan(major, installed)
    pip = [sys.executable, "-m", "pip"]
    commands = ([pip + ["uninstall", "-y", "-q"] + remove] if remove else []) + \
        [pip + ["install", "-q"] + add]
    print(f"setup-gpu: CUDA {major}" + (" (CUDA= given)" if args.cuda else " (from the driver)"))
    for cmd in commands:
        print("setup-gpu: " + " ".join(cmd))
        if not args.dry_run:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
