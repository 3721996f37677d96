"""mytorch vs PyTorch, timed in one run: `python scripts/bench.py [filter ...] [--threads N]`.

Cases come from scripts/bench_cases/*.py (each defines CASES = [(name, setup)], where setup()
returns (mytorch_step, torch_step)). A filter keeps the cases whose "module/name" contains it.
Both sides get the same thread count (default 1): NumPy's BLAS via threadpoolctl, torch's
intra-op pool via torch.set_num_threads.
"""
import argparse
import importlib
import os
import pkgutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]


def numpy_threads():
    from threadpoolctl import threadpool_info
    blas = [f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    return ", ".join(blas) or "unknown"


def discover(filters):
    import bench_cases
    for info in sorted(pkgutil.iter_modules(bench_cases.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"bench_cases.{info.name}")
        for name, setup in getattr(module, "CASES", ()):
            full = f"{info.name}/{name}"
            if not filters or any(f in full for f in filters):
                yield full, setup


def calibrate(step, warmup, min_time):
    """Warm up; return how many calls make one sample last about `min_time` seconds."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    step()
    return max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))


def sample(step, inner):
    start = time.perf_counter()
    for _ in range(inner):
        step()
    return (time.perf_counter() - start) / inner * 1e3


def time_pair(m_step, t_step, warmup, repeat, min_time):
    """Median ms per call of each side; samples alternate so both see the same load."""
    m_inner = calibrate(m_step, warmup, min_time)
    t_inner = calibrate(t_step, warmup, min_time)
    m_ms, t_ms = [], []
    for _ in range(repeat):
        m_ms.append(sample(m_step, m_inner))
        t_ms.append(sample(t_step, t_inner))
    return statistics.median(m_ms), statistics.median(t_ms)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", help="substrings of 'module/case' to run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds each timing sample lasts at least")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both sides: NumPy's BLAS and torch's intra-op pool")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    # after the imports: threadpoolctl only sees libraries already loaded
    threadpool_limits(args.threads, user_api="blas")
    torch.set_num_threads(args.threads)

    cases = list(discover(args.filters))
    if not cases:
        print(f"no benchmark case matches {args.filters}")
        return 1
    print(f"# mytorch (numpy {np.__version__}, BLAS threads: {numpy_threads()}) vs "
          f"torch {torch.__version__} (intra-op threads: {torch.get_num_threads()}); "
          f"{os.cpu_count()} CPUs; median of {args.repeat}")
    width = max(len(name) for name, _ in cases)
    print(f"{'case':<{width}} | {'mytorch ms':>10} | {'torch ms':>10} | {'ratio':>6}")
    print(f"{'-' * width}-|-{'-' * 10}-|-{'-' * 10}-|-{'-' * 6}")
    for name, setup in cases:
        m_step, t_step = setup()
        m_ms, t_ms = time_pair(m_step, t_step, args.warmup, args.repeat, args.min_time)
        print(f"{name:<{width}} | {m_ms:10.3f} | {t_ms:10.3f} | {m_ms / t_ms:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
