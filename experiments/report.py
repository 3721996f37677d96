"""Render experiments/<name>/REPORT.md (and its plots) from the JSON-lines logs of a run.

`python -m experiments.report [name ...]` re-renders from the logs committed under
experiments/<name>/logs/<cpu|gpu>/ (a fresh run copies its logs there first).
"""
import json
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIDES = ("mytorch", "torch")
WARMUP = 3  # first steps left out of timing medians
# what an experiment's throughput counts (default: samples)
UNITS = {"gpt2": "tokens", "finetune_gpt2": "tokens", "finetune_llama": "tokens"}


def _read(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(records):
    """Per-side numbers the report shows: final loss, median step time, memory, metrics."""
    env = next((r for r in reversed(records) if r.get("kind") == "env"), {})  # the latest
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    if not train:
        return None
    timed = train[WARMUP:] if len(train) > WARMUP + 2 else train
    tail = train[-max(1, len(train) // 20):]
    cfg = env.get("config", {})
    return {
        "steps": train[-1]["step"],
        "final_loss": train[-1]["loss"],
        "tail_loss": statistics.fmean(r["loss"] for r in tail),
        "step_time_ms": 1000 * statistics.median(r["step_time"] for r in timed),
        "throughput": statistics.median(r["throughput"] for r in timed),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in train),
        "train_mem_mb": max(r["rss_mb"] for r in train) - train[0].get("rss_start_mb", 0),
        "gpu_peak_mb": max((r.get("gpu_peak_mb", 0) for r in train), default=0),
        "wall_time_s": sum(r["step_time"] for r in train),
        "final_eval": {k: v for k, v in (evals[-1] if evals else {}).items()
                       if k not in ("kind", "step")},
        "command": env.get("command", ""),
        "world_size": env.get("world_size", 1),
        "hardware": {"cpu": env.get("processor", ""), "cpus": env.get("cpus"),
                     "gpu": env.get("gpu", "none"), "device": cfg.get("device", "cpu")},
        "env": env,
    }


def collect(name, run_out=None, dest=None):
    """Copy a fresh run's logs into <dest>/logs/<cpu|gpu>/ and return that root."""
    logs = (dest or HERE / name) / "logs"
    if run_out is not None:
        recs = _read(Path(run_out) / "mytorch.jsonl")
        env = next((r for r in reversed(recs) if r.get("kind") == "env"), {})
        kind = "gpu" if env.get("config", {}).get("device") == "cuda" else "cpu"
        dst = logs / kind
        dst.mkdir(parents=True, exist_ok=True)
        for side in SIDES:
            src = Path(run_out) / f"{side}.jsonl"
            if src.exists():
                shutil.copyfile(src, dst / f"{side}.jsonl")
            elif (dst / f"{side}.jsonl").exists():
                (dst / f"{side}.jsonl").unlink()  # a mytorch-only run: drop a stale baseline
    return logs


def _plot(name, kind, data, plots):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = {"mytorch": "tab:red", "torch": "tab:blue"}
    for side, recs in data.items():
        train = [r for r in recs if r.get("kind") == "train"]
        steps = [r["step"] for r in train]
        axes[0].plot(steps, [r["loss"] for r in train], label=side, color=colors[side],
                     alpha=0.8, linewidth=1.2, linestyle="-" if side == "mytorch" else "--")
        axes[1].plot(steps, [1000 * r["step_time"] for r in train], label=side,
                     color=colors[side], alpha=0.7, linewidth=0.8)
        axes[2].plot(steps, [r["rss_mb"] for r in train], label=side, color=colors[side])
    axes[0].set(title="training loss", xlabel="step", ylabel="loss")
    axes[1].set(title="step time", xlabel="step", ylabel="ms", yscale="log")
    axes[2].set(title="process memory (RSS)", xlabel="step", ylabel="MB")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"{name} ({kind}): mytorch vs PyTorch")
    fig.tight_layout()
    path = plots / f"{kind}_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def _torch_line(t):
    """Which torch ran the baseline, on what: "torch 2.13.0+cpu (CPU build) on cpu, 4 threads"."""
    env = t["env"]
    build = f" ({env['torch_build']})" if env.get("torch_build") else ""
    where = f" on {env['ran_on']}" if env.get("ran_on") else ""
    return f"torch {env.get('torch')}{build}{where}, {env.get('torch_threads')} threads"


def _section(name, kind, root, plots):
    data = {side: _read(root / kind / f"{side}.jsonl") for side in SIDES}
    data = {k: v for k, v in data.items() if v}
    if "mytorch" not in data:
        return None
    sums = {side: summarize(recs) for side, recs in data.items()}
    sums = {k: v for k, v in sums.items() if v}
    png = _plot(name, kind, data, plots)
    m, t = sums.get("mytorch"), sums.get("torch")
    lines = [f"## {kind.upper()} run", "", f"![curves](plots/{png.name})", ""]
    hw = m["hardware"]
    lines += [f"- hardware: {hw['cpu']} ({hw['cpus']} cores), GPU: {hw['gpu']}, "
              f"device `{hw['device']}`, mytorch ranks: {m['world_size']}",
              f"- mytorch command: `{m['command']}`",
              *([f"- data: {m['env']['data']}"] if m["env"].get("data") else []),
              f"- git commit: `{m['env'].get('git_commit', '?')}`, numpy "
              f"{m['env'].get('numpy', '?')}" + (f", {_torch_line(t)}" if t else ""), ""]
    rows = [("steps", "steps", "{:d}"), ("final loss", "final_loss", "{:.4f}"),
            ("mean loss, last 5% of steps", "tail_loss", "{:.4f}"),
            ("median step time (ms)", "step_time_ms", "{:.2f}"),
            (f"throughput ({UNITS.get(name, 'samples')}/s)", "throughput", "{:.0f}"),
            ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"),
            ("RSS growth during training (MB)", "train_mem_mb", "{:.0f}")]
    if kind == "gpu":
        rows.append(("peak GPU memory (MB)", "gpu_peak_mb", "{:.0f}"))
    lines += ["| metric | mytorch | PyTorch | mytorch / PyTorch |", "|---|---|---|---|"]
    for label, key, fmt in rows:
        mv = fmt.format(m[key])
        tv = fmt.format(t[key]) if t else "—"
        lines.append(f"| {label} | {mv} | {tv} | {_ratio(m[key], t[key]) if t else '—'} |")
    metrics = sorted(set(m["final_eval"]) | set(t["final_eval"] if t else {}))
    for k in metrics:
        mv, tv = m["final_eval"].get(k), (t["final_eval"].get(k) if t else None)
        lines.append(f"| eval {k} | {_fmt(mv)} | {_fmt(tv)} | "
                     f"{_ratio(mv, tv) if isinstance(mv, float) and tv else '—'} |")
    if t:
        diff = abs(m["tail_loss"] - t["tail_loss"]) / abs(t["tail_loss"])
        lines += ["", f"Final-loss difference (mean of the last 5% of steps): "
                      f"**{100 * diff:.2f}%**."]
    return "\n".join(lines) + "\n"


def _fmt(v):
    if v is None:
        return "—"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def render(name, run_out=None, dest=None):
    """Write <dest>/REPORT.md (default experiments/<name>/) from its logs; returns the path."""
    dest = Path(dest) if dest else HERE / name
    root = collect(name, run_out, dest)
    plots = dest / "plots"
    sections = [s for s in (_section(name, k, root, plots) for k in ("cpu", "gpu")) if s]
    source = (f"Rendered by `make report` from the logs in `experiments/{name}/logs/`."
              if dest == HERE / name else f"Rendered from the logs in `{root}/`.")
    title = {"mnist_mlp": "MNIST MLP", "convnet": "ConvNet with BatchNorm",
             "gpt2": "GPT-2", "finetune_gpt2": "Fine-tuning GPT-2",
             "finetune_llama": "Fine-tuning a Llama-family model"}.get(name, name)
    text = [f"# {title}: mytorch vs PyTorch", "",
            "Both sides start from the same weights (exported through safetensors) and see the "
            "same batches; each runs in its own process. Times are medians over steps after "
            f"the first {WARMUP}; memory is the process's resident set (RSS). " + source, ""]
    if sections:
        text += sections
    else:
        text.append("No run has been logged yet: `make train-...` produces one.")
    if not any(s.startswith("## GPU") for s in sections):
        text += ["", "## GPU run", "", "No GPU run has been logged yet."]
    text += ["", gpu_check_section()]
    path = dest / "REPORT.md"
    path.write_text("\n".join(text) + "\n")
    return path


def gpu_check_section(path=HERE / "gpu" / "gpu_check.json"):
    """`make gpu-check`'s table (experiments/gpu/), or a line saying it has not run on a GPU."""
    from experiments import gpu_check
    path = Path(path)
    if not path.exists():
        return "## GPU check\n\nUnmeasured: `make gpu-check` has not run on a GPU host yet."
    return gpu_check.markdown(json.loads(path.read_text()))


def index():
    """experiments/README.md: one line per report."""
    lines = ["# Experiments", "",
             "Each zoo model trained in mytorch and in PyTorch from the same weights and batches. "
             "`make report` re-renders every report from its logs.", "",
             "| experiment | summary |", "|---|---|"]
    for d in sorted(p for p in HERE.iterdir() if (p / "REPORT.md").exists()):
        data = {s: summarize(_read(d / "logs" / "cpu" / f"{s}.jsonl")) for s in SIDES}
        m, t = data["mytorch"], data["torch"]
        if m and t:
            step = _ratio(m["step_time_ms"], t["step_time_ms"])
            rss = _ratio(m["peak_rss_mb"], t["peak_rss_mb"])
            summary = (f"CPU, {m['steps']} steps: final loss {m['tail_loss']:.4f} vs "
                       f"{t['tail_loss']:.4f}; step time {step}, peak RSS {rss} of PyTorch's")
        elif m:
            summary = f"CPU, {m['steps']} steps: final loss {m['tail_loss']:.4f} (no baseline)"
        else:
            summary = "not run yet"
        lines.append(f"| [{d.name}]({d.name}/REPORT.md) | {summary} |")
    path = HERE / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:]) or sorted(
        p.name for p in HERE.iterdir() if (p / "logs").is_dir())
    for name in names:
        print(render(name))
    print(index())


if __name__ == "__main__":
    main()
