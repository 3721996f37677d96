"""`make gpu-check`: mytorch's CUDA path measured on this GPU host (experiments/gpu_check.py).

    python scripts/gpu_check.py [--out DIR]
    GPU_CHECK_SIMULATE=1 python scripts/gpu_check.py --out /tmp/x   # on the CuPy stand-in
"""
import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "cuda_standin"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "experiments" / "gpu"),
                   help="folder for gpu_check.json and GPU_CHECK.md")
    args = p.parse_args()
    simulate = os.environ.get("GPU_CHECK_SIMULATE") == "1"
    if simulate and not os.environ.get("CUDA_STANDIN_GPUS"):
        # the stand-in must come first on the path of this process and of every child; the
        # fused kernels run in numba's CUDA simulator, and only in the kernels stage (which
        # turns them on itself): elsewhere they would take minutes, as in the tests
        env = dict(os.environ, CUDA_STANDIN_GPUS="2", PYTHONPATH=os.pathsep.join(
            [str(STANDIN), str(ROOT), os.environ.get("PYTHONPATH", "")]))
        env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
        env.setdefault("MYTORCH_FUSED", "0")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    sys.path.insert(0, str(ROOT))
    from experiments import gpu_check
    res = gpu_check.run(simulate=simulate, out=args.out)
    print(gpu_check.markdown(res))
    print(f"written to {args.out}/gpu_check.json and GPU_CHECK.md")


if __name__ == "__main__":
    main()
