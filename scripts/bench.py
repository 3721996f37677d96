"""mytorch vs PyTorch, timed in one run: `python scripts/bench.py [filter ...] [--threads N]`.

Cases come from scripts/bench_cases/*.py (each defines CASES = [(name, setup)], where setup()
returns (mytorch_step, torch_step)). A filter keeps the cases whose "module/name" contains it.
Both sides get the same thread count (default 1): NumPy's BLAS via threadpoolctl, torch's
intra-op pool via torch.set_num_threads.

Then the "scale" section (scripts/bench_cases/scale.py; run when there is no filter, or the
filter "scale"): GPT-2 124M training steps against torch eager and torch.compile with MFU
against a matmul roof timed between the steps, each side's peak RSS in its own process,
generation tokens/s, and the MNIST example network. `--quick` runs a short subset. Results go
to --json (default runs/bench/last.json); `--readme` rewrites README.md's performance tables
from a full run (`--readme PATH` writes any run's tables into another file).

Time: a full run is meant to take under 10 minutes on a quiet 2-core machine and `--quick`
under 2. The driver prints each section's seconds against --budget (600 s, 120 s with --quick)
and warns when a run went over. torch.compile compiles first in a child process limited to
--compile-timeout seconds; inductor's cache (runs/bench/inductor-cache unless
TORCHINDUCTOR_CACHE_DIR is set) is kept, so later runs compile from it.
"""
import argparse
import datetime
import importlib
import json
import os
import pkgutil
import platform
import re
import statistics
import subprocess
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


def _cpu_s():
    """CPU seconds of this process and of its finished children (the compile and RSS probes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Clock:
    """Wall time of the run against its budget: `lap(name)` records and prints how long the
    section since the previous lap took and how much of the budget is spent. It also prints
    the CPU seconds of the section: with one thread per side a section's CPU time is about
    its wall time on a quiet machine, so wall >> CPU shows time lost to other jobs."""

    def __init__(self, budget_s):
        self.budget_s = budget_s
        self.start = self.last = time.perf_counter()
        self.last_cpu = _cpu_s()
        self.sections, self.cpu = {}, {}

    def elapsed(self):
        return time.perf_counter() - self.start

    def lap(self, name):
        now, cpu = time.perf_counter(), _cpu_s()
        self.sections[name] = self.sections.get(name, 0.0) + now - self.last
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu - self.last_cpu
        self.last, self.last_cpu = now, cpu
        print(f"[time] {name}: {self.sections[name]:.0f} s (CPU {self.cpu[name]:.0f} s); run so "
              f"far {self.elapsed():.0f} s of the {self.budget_s:.0f} s budget", flush=True)

    def summary(self):
        return {"sections_s": self.sections, "sections_cpu_s": self.cpu,
                "total_s": self.elapsed(), "total_cpu_s": _cpu_s(), "budget_s": self.budget_s}


# Cases of the --quick subset: the convolutions and a few core ops.
QUICK = ("conv/Conv2d", "core/add", "layers/Linear", "layers/LayerNorm")


def run_scale(threads, quick, clock, compile_timeout):
    """The scale section: prints its table, returns its JSON dict."""
    from bench_cases import scale

    out = {}
    print("\n# scale")
    m_step, t_step = scale.mnist_example_pair()
    m_ms, t_ms = time_pair(m_step, t_step, 2, 3 if quick else 5, 0.2)
    out["mnist_example"] = {"mytorch_ms": m_ms, "torch_ms": t_ms, "ratio": m_ms / t_ms}
    print(f"MNIST example net train step b64 (Adadelta): mytorch {m_ms:.1f} ms, torch "
          f"{t_ms:.1f} ms, ratio {m_ms / t_ms:.2f}", flush=True)
    del m_step, t_step
    clock.lap("scale: MNIST example")

    gpt = out["gpt2_step"] = scale.gpt2_training(rounds=1 if quick else 3, compiled=not quick,
                                                 threads=threads,
                                                 compile_timeout=compile_timeout)
    sides, roof, comp = gpt["sides"], gpt["roof_gflops"], gpt["compile"]
    out["matmul_roof_gflops"] = roof["interleaved"]
    clock.lap("scale: GPT-2 training steps")
    if not quick:
        peaks = scale.measure_rss(threads)
        sides["mytorch"]["peak_rss_mib"] = peaks["mytorch"]
        sides["torch eager"]["peak_rss_mib"] = peaks["torch"]
        clock.lap("scale: peak RSS probes")
        out["gpt2_generate_tok_s"] = scale.gpt2_generation()
        clock.lap("scale: generation")
    print(f"fp32 matmul roof {roof['interleaved']:.1f} GFLOP/s (median of 2048^3 NumPy matmuls "
          f"timed between the steps; {roof['before']:.1f} before the steps, {roof['after']:.1f} "
          f"after, samples {min(roof['samples']):.1f}-{max(roof['samples']):.1f})")
    print(f"{gpt['model']} train step B={gpt['batch']} T={gpt['seq']} AdamW, "
          f"{gpt['flops_per_step'] / 1e9:.1f} GFLOP/step; torch.compile: {comp['status']}"
          + (f" (child compile {comp['child_s']:.0f} s, from its cache in this run "
             f"{comp['in_run_s']:.0f} s)" if "in_run_s" in comp else ""))
    print(f"{'side':<14} | {'s/step':>7} | {'MFU':>6} | {'peak RSS MiB':>12} | ratio mytorch/side")
    for name, r in sides.items():
        rss = f"{r['peak_rss_mib']:12.0f}" if "peak_rss_mib" in r else f"{'-':>12}"
        print(f"{name:<14} | {r['s_per_step']:7.2f} | {r['mfu']:6.1%} | {rss} | "
              f"{sides['mytorch']['s_per_step'] / r['s_per_step']:.2f}")
    floor = gpt["flops_per_step"] / 1e9 / roof["interleaved"]
    print(f"floor: every model FLOP at the roof would take {floor:.2f} s/step, "
          + ", ".join(f"{floor / r['s_per_step']:.2f}x {name}" for name, r in sides.items()
                      if name != "mytorch")
          + " (no side's ratio can go under this)")
    over = [name for name, r in sides.items() if r["mfu"] > 1]
    if over:
        print(f"WARNING: MFU over 100% for {', '.join(over)}: the roof was mismeasured (load "
              "changed between the roof samples and the steps); rerun on a quieter machine")
    if "peak_rss_mib" in sides["mytorch"]:
        ratio = sides["mytorch"]["peak_rss_mib"] / sides["torch eager"]["peak_rss_mib"]
        print(f"peak RSS ratio mytorch/torch: {ratio:.2f}")
    if "gpt2_generate_tok_s" in out:
        gen = out["gpt2_generate_tok_s"]
        print(f"GPT-2 greedy generation (KV cache): mytorch {gen['mytorch']:.1f} tok/s, "
              f"transformers {gen['transformers']:.1f} tok/s, time ratio "
              f"{gen['transformers'] / gen['mytorch']:.2f}")
    return out


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _fmt_case(name):
    return name.split("/", 1)[1]


def _cell(value, fmt):
    """A table cell: `value` formatted, or "-" where the run has no such number."""
    return "-" if value is None else format(value, fmt)


def readme_tables(result):
    """Markdown for README.md's performance section from a run's JSON."""
    load = f", load average {result['load_average']:.1f} at the start" \
        if "load_average" in result else ""
    took = f", took {result['timing']['total_s'] / 60:.1f} min" if "timing" in result else ""
    if result.get("full", True):
        what = "Last full run"
    else:
        filters, preset = result.get("filters"), result.get("gpt2_preset", "gpt2")
        what = "Partial run (" + "; ".join(
            (["--quick"] if result.get("quick") else []) +
            ([f"filters {', '.join(filters)}"] if filters else []) +
            ([f"--gpt2 {preset}"] if preset != "gpt2" else [])) + ")"
    lines = [f"{what}: {result['date']}, commit {result['commit']}, "
             f"{result['threads']} thread(s) each side, {result['machine']}{load}{took}; "
             "fwd+bwd unless noted, mytorch time / PyTorch time:", "",
             "| case | ratio | case | ratio |", "|---|---|---|---|"]
    cases = result["cases"]
    for i in range(0, len(cases), 2):
        pair = cases[i:i + 2]
        cells = [f"{_fmt_case(c['name'])} | {c['ratio']:.2f}" for c in pair]
        lines.append("| " + " | ".join(cells + ([" | "] if len(pair) == 1 else [])) + " |")
    sc = result.get("scale")
    if sc:
        gpt = sc["gpt2_step"]
        sides = gpt["sides"]
        m, e, c = sides["mytorch"], sides["torch eager"], sides.get("torch.compile", {})
        roof = gpt.get("roof_gflops", {})
        drift = f"; {roof['before']:.1f} before the steps, {roof['after']:.1f} after" \
            if "before" in roof else ""
        lines += ["", f"Scale (fp32 matmul roof {sc['matmul_roof_gflops']:.1f} GFLOP/s, median "
                  f"of samples timed between the GPT-2 steps{drift}; MFU = model FLOPs per "
                  "second / roof):", "",
                  "| workload | mytorch | torch eager | torch.compile | ratio vs eager / compile |",
                  "|---|---|---|---|---|"]
        c_s = c.get("s_per_step")
        vs_c = _cell(c_s and m["s_per_step"] / c_s, ".2f")
        shape = f"B={gpt.get('batch', 2)} T={gpt.get('seq', 256)}"
        lines.append(f"| {gpt.get('model', 'GPT-2 124M')} train step {shape} AdamW, s | "
                     f"{m['s_per_step']:.2f} | "
                     f"{e['s_per_step']:.2f} | {_cell(c_s, '.2f')} | "
                     f"{m['s_per_step'] / e['s_per_step']:.2f} / {vs_c} |")
        over = any(side["mfu"] > 1 for side in sides.values())
        lines.append(f"| model FLOP utilisation{' (over 100%: roof mismeasured)' if over else ''} "
                     f"| {m['mfu']:.0%} | {e['mfu']:.0%} | {_cell(c.get('mfu'), '.0%')} | |")
        floor = gpt["flops_per_step"] / 1e9 / sc["matmul_roof_gflops"]
        vs_c = _cell(c_s and floor / c_s, ".2f")
        lines.append(f"| floor: every model FLOP at the roof, s | {floor:.2f} | | | "
                     f"{floor / e['s_per_step']:.2f} / {vs_c} |")
        status = gpt.get("compile", {}).get("status", "ok")
        if status != "ok":
            lines.append(f"| torch.compile | | | {status} | |")
        if "peak_rss_mib" in m:
            t_rss = e["peak_rss_mib"]
            lines.append(f"| peak RSS of the step, MiB | {m['peak_rss_mib']:.0f} | {t_rss:.0f} | | "
                         f"{m['peak_rss_mib'] / t_rss:.2f} |")
        gen = sc.get("gpt2_generate_tok_s")
        if gen:
            lines.append(f"| greedy generation, tok/s (vs transformers) | {gen['mytorch']:.1f} | "
                         f"{gen['transformers']:.1f} | | "
                         f"{gen['transformers'] / gen['mytorch']:.2f} (time) |")
        mn = sc["mnist_example"]
        lines.append(f"| MNIST example net train step b64, ms | {mn['mytorch_ms']:.1f} | "
                     f"{mn['torch_ms']:.1f} | | {mn['ratio']:.2f} |")
    return "\n".join(lines)


README = os.path.join(ROOT, "README.md")
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def write_readme(result, path):
    """Replace the README_START ... README_END block of `path` with `readme_tables(result)`."""
    with open(path) as f:
        text = f.read()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"bench: {path} has no {README_START} ... {README_END} block")
    block = f"{README_START}\n{readme_tables(result)}\n{README_END}"
    with open(path, "w") as f:
        f.write(pattern.sub(lambda _: block, text))


def main(argv=None):
    clock = Clock(600)  # the budget is set once the arguments are read
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", help="substrings of 'module/case' to run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds each timing sample lasts at least")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both sides: NumPy's BLAS and torch's intra-op pool")
    parser.add_argument("--quick", action="store_true",
                        help="a short subset: the conv cases, a few core ops, a shorter scale run")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds the run should take; tracked and printed (default 600, "
                             "120 with --quick)")
    parser.add_argument("--compile-timeout", type=float, default=240,
                        help="seconds torch.compile may take to compile the GPT-2 step in its "
                             "child process before it is reported as timed out")
    parser.add_argument("--gpt2", default="gpt2",
                        help="GPT-2 preset of the scale section (gpt2 = 124M; tiny for a smoke "
                             "test)")
    parser.add_argument("--json", default=os.path.join(ROOT, "runs", "bench", "last.json"),
                        help="where to write the results")
    parser.add_argument("--readme", nargs="?", const=README, default=None, metavar="PATH",
                        help="rewrite the performance tables of README.md (full runs only) or "
                             "of PATH (any run)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    full = not (args.quick or args.filters or args.gpt2 != "gpt2")
    if args.readme and os.path.abspath(args.readme) == README and not full:
        parser.error("--readme into README.md takes a full run: no filters, no --quick, no "
                     "--gpt2; give a PATH to write a partial run's tables elsewhere")
    filters = list(args.filters)
    if args.quick:
        args.filters = args.filters or list(QUICK) + ["scale"]
        args.repeat, args.min_time = min(args.repeat, 3), min(args.min_time, 0.02)
    if args.budget is None:
        args.budget = 120 if args.quick else 600
    scale_on = not args.filters or "scale" in args.filters

    # inductor's compiled kernels are kept between runs (runs/ is not tracked); set before torch
    # is imported, and inherited by the compile child
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR",
                          os.path.join(ROOT, "runs", "bench", "inductor-cache"))
    import numpy as np
    import torch
    from bench_cases import scale
    from threadpoolctl import threadpool_limits

    # after the imports: threadpoolctl only sees libraries already loaded
    threadpool_limits(args.threads, user_api="blas")
    torch.set_num_threads(args.threads)
    scale.PRESET = args.gpt2
    clock.budget_s = args.budget
    clock.lap("imports")

    cases = list(discover([f for f in args.filters if f != "scale"] or None)) \
        if args.filters != ["scale"] else []
    if not cases and not scale_on:
        print(f"no benchmark case matches {args.filters}")
        return 1
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, " \
        f"torch {torch.__version__}"
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": git_commit(), "threads": args.threads, "machine": machine,
              "load_average": os.getloadavg()[0], "quick": args.quick, "filters": filters,
              "full": full, "gpt2_preset": args.gpt2, "cases": []}
    print(f"# mytorch (numpy {np.__version__}, BLAS threads: {numpy_threads()}) vs "
          f"torch {torch.__version__} (intra-op threads: {torch.get_num_threads()}); "
          f"{os.cpu_count()} CPUs; median of {args.repeat}; load average "
          f"{result['load_average']:.1f}")
    width = max([len(name) for name, _ in cases] + [4])
    print(f"{'case':<{width}} | {'mytorch ms':>10} | {'torch ms':>10} | {'ratio':>6}")
    print(f"{'-' * width}-|-{'-' * 10}-|-{'-' * 10}-|-{'-' * 6}")
    for name, setup in cases:
        m_step, t_step = setup()
        m_ms, t_ms = time_pair(m_step, t_step, args.warmup, args.repeat, args.min_time)
        result["cases"].append({"name": name, "mytorch_ms": m_ms, "torch_ms": t_ms,
                                "ratio": m_ms / t_ms})
        print(f"{name:<{width}} | {m_ms:10.3f} | {t_ms:10.3f} | {m_ms / t_ms:6.2f}", flush=True)
        del m_step, t_step
    if cases:
        clock.lap("cases")
    if scale_on:
        result["scale"] = run_scale(args.threads, args.quick, clock, args.compile_timeout)
    result["timing"] = clock.summary()
    total = result["timing"]["total_s"]
    print(f"\ntotal {total:.0f} s ({total / 60:.1f} min; CPU {result['timing']['total_cpu_s']:.0f} "
          f"s) of the {args.budget:.0f} s budget; load average now {os.getloadavg()[0]:.1f}")
    if total > args.budget:
        print(f"WARNING: the run took {total - args.budget:.0f} s longer than its budget (a "
              "loaded machine, or a cold torch.compile cache?)")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"results: {args.json}")
    if args.readme:
        write_readme(result, args.readme)
        print(f"{args.readme}: performance tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
