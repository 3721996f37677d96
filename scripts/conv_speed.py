"""Conv speed against PyTorch, one thread each side: `python scripts/conv_speed.py [filter ...]`.

Runs the conv cases of scripts/bench_cases (conv.py's Conv2d cases and the ConvNet, layers
added for Conv1d/ConvTranspose2d) and the MNIST example network's training step
(scale.mnist_example_pair). Each sample times a few mytorch steps and then a few torch steps
back to back, so both see the same machine load; the ratio is taken per sample and the median
of `--repeat` ratios is printed (the machine may be shared: compare ratios, not times).
`--clock cpu` times by the process's CPU time instead of wall time: with one thread each side it
leaves out the time slices other processes take on a busy machine.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]


def cases():
    from bench_cases import conv, scale
    for name, setup in conv.CASES:
        if "Conv" in name:
            yield name, setup
    yield "MNIST example net train step b64", scale.mnist_example_pair


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _ms(step, inner, clock):
    start = clock()
    for _ in range(inner):
        step()
    return (clock() - start) / inner * 1e3


def ratio(m_step, t_step, repeat, inner, clock=time.perf_counter):
    """Median of per-sample (mytorch ms / torch ms), and the median ms of each side."""
    for _ in range(2):  # warm-up: compile numba loops, fill caches, run algorithm selection
        m_step()
        t_step()
    rs, ms, ts = [], [], []
    for _ in range(repeat):
        m, t = _ms(m_step, inner, clock), _ms(t_step, inner, clock)
        rs.append(m / t)
        ms.append(m)
        ts.append(t)
    return statistics.median(rs), statistics.median(ms), statistics.median(ts)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("filters", nargs="*", help="keep cases whose name contains one of these")
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--inner", type=int, default=3)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = p.parse_args()
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    threadpool_limits(1)
    import mytorch
    mytorch.set_num_threads(1)
    for name, setup in cases():
        if args.filters and not any(f in name for f in args.filters):
            continue
        r, m, t = ratio(*setup(), args.repeat, args.inner, CLOCKS[args.clock])
        print(f"{name:58s} mytorch {m:8.2f} ms  torch {t:8.2f} ms  ratio {r:5.2f}", flush=True)


if __name__ == "__main__":
    main()
