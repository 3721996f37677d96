"""Data-parallel throughput: samples/s on 1 and 2 CPU ranks (one BLAS thread each), scaling
efficiency, the no-communication ceiling, and allreduce bandwidth per bucket size.

    python scripts/bench_ddp.py                      # MNIST MLP and tiny GPT-2, 1 and 2 ranks
    python scripts/bench_ddp.py --models gpt2 --repeats 3
    python scripts/bench_ddp.py --models mlp --ranks 1 2 4 --steps 50

The driver starts itself under `python -m miniddp.launch -n R` for every (model, R); each run
prints one RESULT line of JSON. Weak scaling: the per-rank batch stays fixed, so efficiency is
samples/s(R) / (R * samples/s(1)).

Ranks that share a machine also share its memory bandwidth and last-level cache, and any other
work on it: R ranks slow each other down even when they never talk. For every R > 1 the same
run therefore also trains R independent copies at once (same launcher, same per-rank batch, no
communication at all), and reports their efficiency as the "no-comm ceiling": what data
parallelism could reach on this machine at that moment. `cpu ms` is the CPU time a rank spends
per step: unlike the step time it does not grow when other processes take the core away, so a
rise from 1 rank to R ranks in it is the ranks' contention for caches and memory (plus, with
communication, the CPU work of the allreduces and MPI's spinning waits). The `cpu eff` and
`cpu ceil` columns are efficiency and ceiling computed from it: what the wall-clock ones would
read on a machine with nothing else running. `--ops` adds the CPU ms of every op per step, on 1
rank and in the no-comm run, to show which ops the contention slows. `--repeats` runs every
case that many times, interleaved, and reports medians (the machine's load drifts between runs).

    python scripts/bench_ddp.py --models gpt2 --repeats 3 --ops --no-allreduce

`--no-bucket-view` copies the averaged gradients out of the buckets into `.grad` instead of
keeping `.grad` as views of them (the Accelerator's default, `gradient_as_bucket_view`).
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKETS_MB = (0.25, 1.0, 4.0, 16.0, 64.0)


def _model(name, batch, seq):
    """(model, make_batch(rng) -> args, loss_fn(model, args))."""
    import numpy as np

    import mytorch
    if name == "mlp":
        from zoo.mlp import MnistMLP
        model = MnistMLP()
        loss_fn = mytorch.nn.CrossEntropyLoss()

        def make(rng):
            return (mytorch.tensor(rng.standard_normal((batch, 784)).astype(np.float32)),
                    mytorch.tensor(rng.integers(0, 10, batch)))
        return model, make, lambda m, a: loss_fn(m(a[0]), a[1])
    if name == "gpt2":
        from zoo.gpt2 import GPT2, GPTConfig
        model = GPT2(GPTConfig.preset("tiny", block_size=max(seq, 8)))
        vocab = model.config.vocab_size

        def make(rng):
            idx = rng.integers(0, vocab, (batch, seq + 1))
            return mytorch.tensor(idx[:, :-1]), mytorch.tensor(idx[:, 1:])
        return model, make, lambda m, a: m(a[0], a[1])[1]
    raise ValueError(f"bench_ddp: unknown model {name!r}; use mlp or gpt2")


class OpTimes:
    """Context: CPU time (this thread's) spent in every autograd Function's forward and backward,
    and in whatever `time(name, fn)` wraps; `ms` maps "Linear.forward" etc. to milliseconds.
    Run once alone and once beside other ranks, it shows which ops slow down under contention
    for caches and memory. The Functions' methods are wrapped on entry and restored on exit."""

    def __init__(self):
        self.ms = {}
        self._saved = []

    def _add(self, key, seconds):
        self.ms[key] = self.ms.get(key, 0.0) + 1000 * seconds

    def time(self, key, fn):
        def run(*a, **kw):
            t = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                self._add(key, time.thread_time() - t)
        return run

    def __enter__(self):
        from mytorch.autograd.function import Function
        todo, seen = [Function], set()
        while todo:
            for cls in todo.pop().__subclasses__():
                if cls in seen:
                    continue
                seen.add(cls)
                todo.append(cls)
                for kind in ("forward", "backward"):
                    if isinstance(cls.__dict__.get(kind), staticmethod):
                        self._saved.append((cls, kind, cls.__dict__[kind]))
                        fn = self.time(f"{cls.__name__}.{kind}", cls.__dict__[kind].__func__)
                        setattr(cls, kind, staticmethod(fn))
        return self

    def __exit__(self, *exc):
        for cls, kind, original in reversed(self._saved):
            setattr(cls, kind, original)
        self._saved = []


def worker(args):
    import numpy as np

    import mytorch
    from miniddp import Accelerator, GradBuckets
    from mytorch.optim import AdamW
    views = {} if args.bucket_view is None else {"gradient_as_bucket_view": args.bucket_view}
    acc = Accelerator(bucket_mb=args.bucket_mb, **views)
    if args.pin:  # one core per rank (the launcher binds nothing)
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[acc.local_process_index % len(cores)]})
    mytorch.manual_seed(0)
    model, make, loss_of = _model(args.model, args.batch, args.seq)
    n_params = sum(p.numel() for p in model.parameters())
    opt = AdamW(model.parameters(), lr=1e-4)
    if not args.no_comm:  # else every rank trains a model of its own: the ceiling's run
        model, opt = acc.prepare(model, opt)
    rng = np.random.default_rng(acc.process_index)
    batches = [make(rng) for _ in range(4)]
    # Time the training thread spends on gradient communication: packing and starting buckets
    # during backward (on many ranks they leave as they fill; a tied embedding's head part is
    # packed the moment it arrives), then waiting for them, exchanging the tied embedding's
    # rows and unpacking after it.
    comm_time = {"during": 0.0, "after": 0.0}

    def timed(fn, when):
        def run(*a, **kw):
            t = time.perf_counter()
            out = fn(*a, **kw)
            comm_time[when] += time.perf_counter() - t
            return out
        return run
    if not args.no_comm:
        if model.bucket_hooks:
            model.buckets._send = timed(model.buckets._send, "during")
            model.buckets._progress = timed(model.buckets._progress, "during")
            model.buckets._pack_first = timed(model.buckets._pack_first, "during")
        acc._sync_gradients = timed(acc._sync_gradients, "after")

    ops = OpTimes()
    opt_step = ops.time("optimizer.step", opt.step) if args.ops else opt.step

    def step(i):
        acc.backward(loss_of(model, batches[i % len(batches)]))
        opt_step()
        opt.zero_grad()
    for i in range(args.warmup):
        step(i)
    acc.wait_for_everyone()
    comm_time.update(during=0.0, after=0.0)
    t0, cpu0 = time.perf_counter(), time.process_time()
    with ops if args.ops else contextlib.nullcontext():
        for i in range(args.steps):
            step(i)
    cpu = time.process_time() - cpu0
    if not args.no_comm:  # the ranks move in step: the last one to finish ends the run
        acc.wait_for_everyone()
    elapsed = time.perf_counter() - t0
    # Independent ranks finish at different times: the slowest one ends the run. CPU time is
    # the mean over ranks.
    times = acc.comm.allgather_object((elapsed, cpu, ops.ms))
    elapsed = max(t[0] for t in times)
    cpu = sum(t[1] for t in times) / len(times)
    op_ms = {k: sum(t[2].get(k, 0.0) for t in times) / len(times) / args.steps
             for k in ops.ms}  # per step, the mean over ranks
    result = {"model": args.model, "ranks": acc.num_processes, "params": n_params,
              "no_comm": args.no_comm,
              "samples_per_s": acc.num_processes * args.batch * args.steps / elapsed,
              "step_ms": 1000 * elapsed / args.steps, "cpu_ms": 1000 * cpu / args.steps,
              "sync_ms": 1000 * (comm_time["during"] + comm_time["after"]) / args.steps,
              "sync_after_ms": 1000 * comm_time["after"] / args.steps, "op_ms": op_ms}
    if args.allreduce and acc.num_processes > 1:
        result["allreduce"] = _allreduce_bandwidth(acc.comm)
        params = list(acc.unwrap_model(model).parameters())
        for p in params:
            p.grad = mytorch.zeros_like(p)
        result["grad_reduce_ms"] = {}
        for mb in BUCKETS_MB:
            buckets = GradBuckets(params, bucket_mb=mb)
            buckets.reduce(acc.comm)
            acc.wait_for_everyone()
            t = time.perf_counter()
            for _ in range(3):
                buckets.reduce(acc.comm)
            result["grad_reduce_ms"][mb] = 1000 * (time.perf_counter() - t) / 3
    if acc.is_main_process:
        print("RESULT " + json.dumps(result), flush=True)


def _allreduce_bandwidth(comm):
    """Seconds and GB/s (bytes of the buffer / time) of one float32 allreduce per bucket size."""
    import numpy as np
    out = {}
    for mb in BUCKETS_MB:
        buf = np.ones(int(mb * 2 ** 20) // 4, np.float32)
        comm.allreduce(buf)
        reps = max(2, int(64 / mb))
        comm.barrier()
        t = time.perf_counter()
        for _ in range(reps):
            comm.allreduce(buf)
        dt = (time.perf_counter() - t) / reps
        out[mb] = {"ms": 1000 * dt, "GB_per_s": buf.nbytes / dt / 1e9}
    return out


def driver(args):
    have_gpt2 = os.path.exists(os.path.join(ROOT, "zoo", "gpt2.py"))
    models = [m for m in args.models if m != "gpt2" or have_gpt2]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = {}  # (model, ranks, no_comm) -> one RESULT per repeat
    for rep in range(args.repeats):
        for model in models:
            batch, steps = (args.batch or (64 if model == "mlp" else 4),
                            args.steps or (40 if model == "mlp" else 8))
            for ranks in args.ranks:
                for no_comm in ((False, True) if ranks > 1 else (False,)):
                    cmd = [sys.executable, "-m", "miniddp.launch", "-n", str(ranks),
                           "--threads", "1", os.path.abspath(__file__), "--worker", "--model",
                           model, "--batch", str(batch), "--steps", str(steps), "--seq",
                           str(args.seq), "--bucket-mb", str(args.bucket_mb), "--warmup",
                           str(args.warmup)]
                    cmd += ["--no-comm"] if no_comm else []
                    if args.bucket_view is not None:
                        cmd.append("--bucket-view" if args.bucket_view else "--no-bucket-view")
                    cmd += ["--pin"] if args.pin else []
                    if args.ops and (ranks == 1 or no_comm):
                        cmd.append("--ops")
                    if rep == 0 and ranks > 1 and not no_comm and model == models[-1] \
                            and ranks == max(args.ranks) and not args.no_allreduce:
                        cmd.append("--allreduce")
                    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True,
                                          text=True, check=False)
                    lines = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
                    if proc.returncode != 0 or not lines:
                        print(proc.stdout + proc.stderr, file=sys.stderr)
                        raise SystemExit(f"bench_ddp: {model} on {ranks} ranks failed")
                    runs.setdefault((model, ranks, no_comm), []).append(
                        json.loads(lines[0][len("RESULT "):]))
    _report(runs, models, args.ranks)


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _summary(runs):
    """The median of every timing over the repeats."""
    out = {k: _median([r[k] for r in runs]) for k in
           ("samples_per_s", "step_ms", "cpu_ms", "sync_ms", "sync_after_ms")}
    out["params"] = runs[0]["params"]
    return out


def table(runs, models, ranks):
    """One row per (model, ranks): the medians of its runs, and against the first rank count's
    run: efficiency and no-comm ceiling from samples/s (wall clock), the same two from CPU time
    per step (cpu_eff, cpu_ceiling: what the machine allows when nothing else runs on it)."""
    rows = []
    for model in models:
        first = _summary(runs[(model, ranks[0], False)])
        base = first["samples_per_s"] / ranks[0]
        for r in ranks:
            res = _summary(runs[(model, r, False)])
            row = dict(res, model=model, ranks=r, efficiency=res["samples_per_s"] / (r * base),
                       cpu_eff=first["cpu_ms"] / res["cpu_ms"],
                       idle=first["step_ms"] / (first["step_ms"] + res["sync_ms"]),
                       ceiling=None, cpu_ceiling=None)
            if (model, r, True) in runs:
                free = _summary(runs[(model, r, True)])
                row["ceiling"] = free["samples_per_s"] / (r * base)
                row["cpu_ceiling"] = first["cpu_ms"] / free["cpu_ms"]
            rows.append(row)
    return rows


def _report(runs, models, ranks):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    repeats = len(next(iter(runs.values())))
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f} at the end (other work on the "
          f"machine slows the ranks down); medians of {repeats} run(s) each")
    print("efficiency = samples/s(R) / (R x samples/s(1)); ceiling: the same for R independent "
          "trainings at once (no communication); cpu eff, cpu ceil: the same two from CPU ms "
          "(cpu ms(1) / cpu ms(R)), which other processes on the machine do not inflate; "
          "est. idle = step(1) / (step(1) + sync(R)), what it would be with a free core per rank")
    print("sync ms: gradient communication on the training thread per step (packing, starting, "
          "waiting, unpacking); after bwd: the part left once backward has ended; cpu ms: CPU "
          "time per step and rank (MPI's waits spin: they count)")
    print(f"{'model':6} {'params':>9} {'ranks':>5} {'samples/s':>10} {'step ms':>8} "
          f"{'cpu ms':>7} {'sync ms':>8} {'after bwd':>9} {'efficiency':>10} {'ceiling':>8} "
          f"{'cpu eff':>8} {'cpu ceil':>8} {'est. idle':>9}")

    def pct(x):
        return "" if x is None else f"{100 * x:.0f}%"
    for row in table(runs, models, ranks):
        print(f"{row['model']:6} {row['params']:>9,} {row['ranks']:>5} "
              f"{row['samples_per_s']:>10.1f} {row['step_ms']:>8.1f} {row['cpu_ms']:>7.1f} "
              f"{row['sync_ms']:>8.1f} {row['sync_after_ms']:>9.1f} "
              f"{pct(row['efficiency']):>10} {pct(row['ceiling']):>8} "
              f"{pct(row['cpu_eff']):>8} {pct(row['cpu_ceiling']):>8} {pct(row['idle']):>9}")
    if repeats > 1:
        for model in models:
            print(f"{model}: samples/s of every run: " + "; ".join(
                f"{r}{' no-comm' if c else ''}: "
                + " ".join(f"{x['samples_per_s']:.1f}" for x in runs[(model, r, c)])
                for r in ranks for c in (False, True) if (model, r, c) in runs))
    for model in models:
        for r in ranks[1:]:
            alone, beside = runs[(model, ranks[0], False)], runs.get((model, r, True), [])
            if alone[0]["op_ms"] and beside and beside[0]["op_ms"]:
                _report_ops(model, r, op_table(alone, beside))
    for group in runs.values():
        for res in group:
            if "allreduce" in res:
                print(f"\nallreduce on {res['ranks']} ranks (float32, one buffer):")
                print(f"{'bucket MB':>9} {'ms':>8} {'GB/s':>7}   {res['model']} grads by bucket")
                for mb, v in res["allreduce"].items():
                    print(f"{float(mb):>9.2f} {v['ms']:>8.2f} {v['GB_per_s']:>7.2f}   "
                          f"{res['grad_reduce_ms'][mb]:>7.1f} ms")


def op_table(alone, beside):
    """[(op, ms alone, ms beside others)], the medians over the repeats, biggest rise first."""
    keys = set().union(*(run["op_ms"] for run in alone + beside))
    rows = [(k, _median([run["op_ms"].get(k, 0.0) for run in alone]),
             _median([run["op_ms"].get(k, 0.0) for run in beside])) for k in keys]
    return sorted(rows, key=lambda row: row[1] - row[2])


def _report_ops(model, ranks, rows, top=12):
    total_a, total_b = sum(a for _, a, _ in rows), sum(b for _, _, b in rows)
    print(f"\n{model}: CPU ms per step in each op, 1 rank alone vs {ranks} no-comm ranks at once "
          f"(all ops: {total_a:.1f} -> {total_b:.1f} ms)")
    print(f"{'op':32} {'alone':>7} {'beside':>7} {'+ms':>6} {'+%':>5}")
    for name, a, b in rows[:top]:
        rise = 100 * (b / a - 1) if a else 0.0
        print(f"{name:32} {a:>7.2f} {b:>7.2f} {b - a:>+6.2f} {rise:>4.0f}%")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["mlp", "gpt2"])
    p.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    p.add_argument("--batch", type=int, help="per-rank batch (default 64 MLP, 4 GPT-2)")
    p.add_argument("--seq", type=int, default=64, help="GPT-2 sequence length")
    p.add_argument("--steps", type=int, help="timed steps (default 40 MLP, 8 GPT-2)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--bucket-view", action=argparse.BooleanOptionalAction, default=None,
                   help="gradients as views of the buckets (default: the Accelerator's)")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of every case, interleaved; the report shows medians")
    p.add_argument("--pin", action="store_true", help="pin each rank to a core of its own")
    p.add_argument("--no-allreduce", action="store_true",
                   help="skip the allreduce bandwidth table")
    p.add_argument("--ops", action="store_true",
                   help="CPU ms per op on 1 rank and in the no-comm runs: which ops slow down")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--allreduce", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-comm", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
