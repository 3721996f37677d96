"""mytorch vs PyTorch, timed in one run: `python scripts/bench.py [filter ...] [--threads N]`.

Cases come from scripts/bench_cases/*.py (each defines CASES = [(name, setup)], where setup()
returns (mytorch_step, torch_step)). A filter keeps the cases whose "module/name" contains it.
Both sides get the same thread count (default 1): NumPy's BLAS via threadpoolctl, torch's
intra-op pool via torch.set_num_threads.

Then the "scale" section (scripts/bench_cases/scale.py; run when there is no filter, or the
filter "scale"): GPT-2 124M training steps against torch eager and torch.compile with MFU
against a matmul roof measured in the same run, each side's peak RSS in its own process,
generation tokens/s, and the MNIST example network. `--quick` runs a short subset. Results go
to --json (default runs/bench/last.json); `--readme` rewrites README.md's performance tables
from a full run.
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


# Cases of the --quick subset: the convolutions and a few core ops.
QUICK = ("conv/Conv2d", "core/add", "layers/Linear", "layers/LayerNorm")


def run_scale(threads, quick):
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

    secs, flops, compile_s = scale.gpt2_training(rounds=1 if quick else 3, compiled=not quick)
    roof = out["matmul_roof_gflops"] = secs.pop("roof")
    gpt = {name: {"s_per_step": s, "mfu": flops / s / 1e9 / roof} for name, s in secs.items()}
    out["gpt2_step"] = {"sides": gpt, "flops_per_step": flops, "compile_s": compile_s}
    if not quick:
        for side in ("mytorch", "torch"):
            gpt["torch eager" if side == "torch" else side]["peak_rss_mib"] = \
                scale.measure_rss(side, threads)["peak_mib"]
        out["gpt2_generate_tok_s"] = scale.gpt2_generation()
    print(f"fp32 matmul roof {roof:.1f} GFLOP/s (2048^3 NumPy matmuls timed between the steps)")
    print(f"GPT-2 124M train step B={scale.BATCH} T={scale.SEQ} AdamW"
          + (f" (torch.compile took {compile_s:.0f} s to compile)" if compile_s else ""))
    print(f"{'side':<14} | {'s/step':>7} | {'MFU':>6} | {'peak RSS MiB':>12} | ratio mytorch/side")
    for name, r in gpt.items():
        rss = f"{r['peak_rss_mib']:12.0f}" if "peak_rss_mib" in r else f"{'-':>12}"
        print(f"{name:<14} | {r['s_per_step']:7.2f} | {r['mfu']:6.1%} | {rss} | "
              f"{gpt['mytorch']['s_per_step'] / r['s_per_step']:.2f}")
    if "peak_rss_mib" in gpt["mytorch"]:
        ratio = gpt["mytorch"]["peak_rss_mib"] / gpt["torch eager"]["peak_rss_mib"]
        print(f"peak RSS ratio mytorch/torch: {ratio:.2f}")
    if "gpt2_generate_tok_s" in out:
        gen = out["gpt2_generate_tok_s"]
        print(f"GPT-2 124M greedy generation (KV cache): mytorch {gen['mytorch']:.1f} tok/s, "
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


def readme_tables(result):
    """Markdown for README.md's performance section from a full run's JSON."""
    load = f", load average {result['load_average']:.1f} at the start" \
        if "load_average" in result else ""
    lines = [f"Last full run: {result['date']}, commit {result['commit']}, "
             f"{result['threads']} thread(s) each side, {result['machine']}{load}; fwd+bwd "
             "unless noted, mytorch time / PyTorch time:", "",
             "| case | ratio | case | ratio |", "|---|---|---|---|"]
    cases = result["cases"]
    for i in range(0, len(cases), 2):
        pair = cases[i:i + 2]
        cells = [f"{_fmt_case(c['name'])} | {c['ratio']:.2f}" for c in pair]
        lines.append("| " + " | ".join(cells + ([" | "] if len(pair) == 1 else [])) + " |")
    sc = result.get("scale")
    if sc:
        gpt = sc["gpt2_step"]["sides"]
        m = gpt["mytorch"]
        lines += ["", f"Scale (fp32 matmul roof {sc['matmul_roof_gflops']:.1f} GFLOP/s, "
                  "timed between the GPT-2 steps):", "",
                  "| workload | mytorch | torch eager | torch.compile | ratio vs eager / compile |",
                  "|---|---|---|---|---|"]
        c = gpt.get("torch.compile", {})
        lines.append(f"| GPT-2 124M train step B=2 T=256 AdamW, s | {m['s_per_step']:.2f} | "
                     f"{gpt['torch eager']['s_per_step']:.2f} | "
                     f"{c.get('s_per_step', float('nan')):.2f} | "
                     f"{m['s_per_step'] / gpt['torch eager']['s_per_step']:.2f} / "
                     f"{m['s_per_step'] / c.get('s_per_step', float('nan')):.2f} |")
        lines.append(f"| model FLOP utilisation | {m['mfu']:.0%} | {gpt['torch eager']['mfu']:.0%} "
                     f"| {c.get('mfu', float('nan')):.0%} | |")
        if "peak_rss_mib" in m:
            t_rss = gpt["torch eager"]["peak_rss_mib"]
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
    parser.add_argument("--json", default=os.path.join(ROOT, "runs", "bench", "last.json"),
                        help="where to write the results")
    parser.add_argument("--readme", action="store_true",
                        help="rewrite README.md's performance tables (full runs only)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.readme and (args.quick or args.filters):
        parser.error("--readme takes a full run: no filters, no --quick")
    if args.quick:
        args.filters = args.filters or list(QUICK) + ["scale"]
        args.repeat, args.min_time = min(args.repeat, 3), min(args.min_time, 0.02)
    scale_on = not args.filters or "scale" in args.filters

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    # after the imports: threadpoolctl only sees libraries already loaded
    threadpool_limits(args.threads, user_api="blas")
    torch.set_num_threads(args.threads)

    cases = list(discover([f for f in args.filters if f != "scale"] or None)) \
        if args.filters != ["scale"] else []
    if not cases and not scale_on:
        print(f"no benchmark case matches {args.filters}")
        return 1
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, " \
        f"torch {torch.__version__}"
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": git_commit(), "threads": args.threads, "machine": machine,
              "load_average": os.getloadavg()[0], "quick": args.quick, "cases": []}
    print(f"# mytorch (numpy {np.__version__}, BLAS threads: {numpy_threads()}) vs "
          f"torch {torch.__version__} (intra-op threads: {torch.get_num_threads()}); "
          f"{os.cpu_count()} CPUs; median of {args.repeat}")
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
    if scale_on:
        result["scale"] = run_scale(args.threads, args.quick)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nresults: {args.json}")
    if args.readme:
        write_readme(result, os.path.join(ROOT, "README.md"))
        print("README.md performance tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
