"""The shared experiment harness: train one model in mytorch and in PyTorch from the same
initial weights and the same batches, and log what happened step by step.

An experiment (experiments/<name>/run.py) subclasses `Experiment` and says how to load its
data, build its model with either library, cut a batch for a step, compute the loss and
evaluate. Because mytorch has PyTorch's API, the loop below runs unchanged on both sides:
`lib` is `mytorch` or `torch`.

Each side runs in its own process (`python -m experiments <name> --side mytorch|torch`), so
its peak memory is its own. The mytorch side trains through miniddp's Accelerator, so
`GPUS=N` runs N ranks; the PyTorch baseline runs one process over the same global batch.
"""
import dataclasses
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIDES = ("mytorch", "torch")
ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class RunConfig:
    """Fields every experiment has; each is overridable as `--steps 10`, `steps=10` or
    `STEPS=10`."""
    steps: int = 200            # optimizer steps
    batch: int = 64             # global batch size (split across ranks)
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 0.0      # max global gradient norm (0: no clipping)
    seed: int = 0               # initial weights and batch order
    device: str = "cpu"         # "cpu", "cuda", or "auto" (cuda when a GPU is here)
    gpus: int = 1               # ranks for the mytorch side (CPU ranks when there is no GPU)
    baseline: int = 1           # also run the PyTorch baseline (0: mytorch only)
    eval_every: int = 50        # steps between evaluations (0: only at the end)
    ckpt_every: int = 100       # steps between checkpoints (0: none)
    keep_last: int = 2          # checkpoints kept
    resume: int = 0             # continue from the newest checkpoint
    log_every: int = 10         # progress-bar refresh
    out: str = ""               # run folder (default runs/<name>)
    ship: int = 0               # copy the final weights into zoo/checkpoints with a card
    wandb: str = "auto"         # auto (offline unless logged in) | offline | online | disabled

    def validate(self):
        for name in ("steps", "batch"):
            if getattr(self, name) <= 0:
                raise ValueError(f"config: {name} must be positive, got {getattr(self, name)}")
        for name in ("eval_every", "ckpt_every", "keep_last", "log_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"config: {name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"config: lr must be positive, got {self.lr}")
        if self.gpus < 1:
            raise ValueError(f"config: gpus must be >= 1, got {self.gpus}")
        if self.device == "auto":
            self.device = auto_device()
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"config: device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")
        if self.batch % self.gpus:
            raise ValueError(f"config: batch {self.batch} must be divisible by gpus {self.gpus}")
        if self.wandb not in ("auto", "offline", "online", "disabled"):
            raise ValueError(f"config: wandb must be auto, offline, online or disabled, got "
                             f"{self.wandb!r}")


def parse_overrides(cls, argv):
    """Build a `cls` dataclass from `--key value`, `--key=value`, `key=value` or `KEY=value`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values, extra = {}, []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("--"):
            key, eq, val = tok[2:].partition("=")
            if not eq:
                if i + 1 >= len(argv):
                    raise ValueError(f"config: --{key} needs a value")
                val = argv[i + 1]
                i += 1
        elif "=" in tok:
            key, _, val = tok.partition("=")
        else:
            extra.append(tok)
            i += 1
            continue
        key = key.replace("-", "_").lower()
        if key not in fields:
            raise ValueError(f"config: unknown option {key!r} for {cls.__name__}; known: "
                             f"{', '.join(sorted(fields))}")
        values[key] = _convert(fields[key], val)
        i += 1
    if extra:
        raise ValueError(f"config: unexpected arguments {extra}")
    cfg = cls(**values)
    cfg.validate()
    return cfg


def _convert(field, text):
    typ = field.type if isinstance(field.type, type) else type(field.default)
    try:
        if typ is bool:
            return text.lower() in ("1", "true", "yes", "on")
        return typ(text)
    except ValueError:
        raise ValueError(f"config: {field.name} expects {typ.__name__}, got {text!r}") from None


class Experiment:
    """What a concrete experiment provides; `lib` is the `mytorch` or `torch` module."""
    name = ""
    Config = RunConfig
    zoo_name = None     # registry name when `ship=1` copies weights into the zoo
    ship_dtype = None   # e.g. np.float16 to keep a shipped checkpoint small

    def load_data(self, cfg):
        """-> dict of NumPy arrays (the same for both sides)."""
        raise NotImplementedError

    def build(self, lib, cfg):
        raise NotImplementedError

    def optimizer(self, lib, model, cfg):
        return lib.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def batch(self, data, step, cfg):
        """-> tuple of NumPy arrays: the global batch for `step` (deterministic in step)."""
        raise NotImplementedError

    def loss(self, lib, model, batch):
        raise NotImplementedError

    def evaluate(self, lib, model, data, cfg):
        """-> dict of metrics on the eval split."""
        return {}

    def scheduler(self, lib, optimizer, cfg):
        """An lr scheduler stepped after every optimizer step, or None."""
        return None

    def data_note(self, cfg):
        """One line on the data, for a shipped model's card."""
        return ""

    def units(self, batch):
        """Samples (or tokens) a batch holds, for throughput."""
        return len(batch[0])

    unit_name = "samples"


def run_dir(exp, cfg):
    return Path(cfg.out) if cfg.out else ROOT / "runs" / exp.name


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return peak_rss_mb()


def environment(lib_name):
    import numpy
    env = {"python": platform.python_version(), "numpy": numpy.__version__,
           "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "host": platform.node(),
           "command": os.environ.get("MYTORCH_EXP_COMMAND") or " ".join(
               shlex.quote(a) for a in ["python"] + sys.argv)}
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                           capture_output=True, text=True,
                                           timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        env["git_commit"] = "unknown"
    if lib_name == "torch":
        import torch
        env["torch"] = torch.__version__
        env["torch_build"] = torch_build(torch)
        env["torch_threads"] = torch.get_num_threads()
    else:
        import mytorch
        env["mytorch"] = mytorch.__version__
    return env


def torch_build(torch):
    """"CUDA 12.8 build" or "CPU build": which torch a baseline ran."""
    return f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"


def torch_device_for(torch, device):
    """The baseline's device: CUDA when asked for and this torch is a CUDA build that sees a
    GPU; otherwise the CPU, said in one line (a CPU build of torch cannot use the GPU)."""
    if device != "cuda":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    print(f"PyTorch baseline: torch {torch.__version__} ({torch_build(torch)}) sees no GPU, so "
          "the baseline runs on the CPU; install a CUDA build of torch to compare on the GPU "
          "(https://pytorch.org/get-started/locally/)", flush=True)
    return "cpu"


def _gpu_name(lib_name, device):
    if device != "cuda":
        return "none"
    if lib_name == "torch":
        import torch
        return torch.cuda.get_device_name(0)
    import cupy
    return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()


class JsonlLog:
    """Append-only JSON-lines log (one record per line), flushed each write."""

    def __init__(self, path, truncate_after_step=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if truncate_after_step is not None and self.path.exists():
            keep = [line for line in self.path.read_text().splitlines()
                    if line and json.loads(line).get("step", 0) <= truncate_after_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        elif truncate_after_step is None and self.path.exists():
            self.path.unlink()
        self._f = open(self.path, "a")

    def write(self, record):
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self):
        self._f.close()


def read_jsonl(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- the two sides

def init_weights_path(exp, cfg):
    return run_dir(exp, cfg) / "init.safetensors"


def make_initial_weights(exp, cfg):
    """Build the mytorch model with the seed and export its weights for both sides."""
    import mytorch
    mytorch.manual_seed(cfg.seed)
    model = exp.build(mytorch, cfg)
    path = init_weights_path(exp, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    mytorch.save(model.state_dict(), path)
    return path


def _load_init(lib_name, model, path):
    if lib_name == "mytorch":
        import mytorch
        model.load_state_dict(mytorch.load(path))
    else:
        import torch
        from safetensors.torch import load_file
        state = load_file(str(path))
        own = model.state_dict()
        # Buffers a torch module has and the mytorch one doesn't persist are left alone.
        missing = [k for k in own if k not in state]
        model.load_state_dict(state, strict=not missing)
        torch.manual_seed(0)


def _to_lib(lib_name, arrays, device):
    if lib_name == "torch":
        import torch
        return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)
    import mytorch
    return tuple(mytorch.tensor(a, device=device) for a in arrays)


def run_side(exp, cfg, side):
    """Train one side and write runs/<name>/<side>.jsonl (called inside its own process)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    out = run_dir(exp, cfg)
    if side == "torch":
        import torch as lib
        torch_device = torch_device_for(lib, cfg.device)
        acc = None
        rank, world = 0, 1
    else:
        import mytorch as lib
        from miniddp import Accelerator
        acc = Accelerator(device=cfg.device, project_dir=str(out / "tracking"),
                          mixed_precision=getattr(cfg, "mixed_precision", "no"),
                          log_with=None if cfg.wandb == "disabled" else "wandb")
        rank, world = acc.process_index, acc.num_processes
        torch_device = str(acc.device)
    main = rank == 0
    kind = "cuda" if torch_device.startswith("cuda") else "cpu"  # where this side runs
    data = exp.load_data(cfg)
    lib.manual_seed(cfg.seed)
    model = exp.build(lib, cfg)
    _load_init(side, model, init_weights_path(exp, cfg))
    if side == "torch":
        model = model.to(torch_device)
    elif world > 1:  # batch statistics over the global batch, as the 1-process run has them
        model = lib.nn.SyncBatchNorm.convert_sync_batchnorm(model, acc.comm)
    optimizer = exp.optimizer(lib, model, cfg)
    scheduler = exp.scheduler(lib, optimizer, cfg)
    if acc is not None:
        prepared = acc.prepare(model, optimizer, *([scheduler] if scheduler else []))
        model, optimizer = prepared[0], prepared[1]
        scheduler = prepared[2] if scheduler else None

    ckpt_dir = out / "checkpoints" / side
    start = 0
    if cfg.resume:
        start = _resume(side, model, optimizer, scheduler, ckpt_dir, acc)
    log = JsonlLog(out / f"{side}.jsonl", truncate_after_step=start if cfg.resume else None) \
        if main else None
    if main:  # a resumed run adds its own record: the report shows the latest command
        log.write({"kind": "env", "side": side, "world_size": world, "resumed_from": start,
                   "gpu": _gpu_name(side, kind), "ran_on": kind, "config": dataclasses.asdict(cfg),
                   "data": exp.data_note(cfg),
                   **environment(side)})
    tracker = _start_tracking(exp, cfg, side, acc, out) if main else None
    rss_start = current_rss_mb()
    bar = _progress(cfg, start, main, side)
    model.train()
    for step in range(start + 1, cfg.steps + 1):
        full = exp.batch(data, step, cfg)
        shard = tuple(a[rank * len(a) // world:(rank + 1) * len(a) // world] for a in full)
        t0 = time.perf_counter()
        tensors = _to_lib(side, shard, torch_device)
        loss = exp.loss(lib, model, tensors)
        if acc is not None:
            acc.backward(loss)
            if cfg.grad_clip:
                acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        else:
            loss.backward()
            if cfg.grad_clip:
                lib.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad()
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        loss_value = float(acc.reduce(loss.detach(), "mean").item() if acc is not None and world > 1
                           else loss.item())
        _sync(side, kind)
        dt = time.perf_counter() - t0
        rec = {"kind": "train", "step": step, "loss": loss_value,
               "lr": lr, "step_time": dt,
               "throughput": exp.units(full) / dt, "rss_mb": current_rss_mb(),
               "peak_rss_mb": peak_rss_mb(), "rss_start_mb": rss_start,
               **_device_memory(side, kind)}
        if main:
            log.write(rec)
            tracker.log({k: v for k, v in rec.items() if k not in ("kind", "step")}, step)
            if bar is not None:
                bar.set_postfix(loss=f"{loss_value:.4f}",
                                **{exp.unit_name[:3] + "/s": f"{rec['throughput']:.0f}"})
                bar.update(1)
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
            model.eval()
            metrics = exp.evaluate(lib, _unwrap(model, acc), data, cfg)
            model.train()
            if main:
                log.write({"kind": "eval", "step": step, **metrics})
                tracker.log({f"eval/{k}": v for k, v in metrics.items()}, step)
        if cfg.ckpt_every and (step % cfg.ckpt_every == 0 or step == cfg.steps):
            _checkpoint(side, model, optimizer, scheduler, step, ckpt_dir, cfg.keep_last, acc)
    if bar is not None:
        bar.close()
    if main:
        _save_final(side, _unwrap(model, acc), out)
        log.close()
        tracker.finish()
    if acc is not None:
        acc.end_training()


class _Tracking:
    """wandb for one side: through the Accelerator on the mytorch side, directly on the
    PyTorch side (which must not import mytorch, so that its memory stays its own)."""

    def __init__(self, log, finish):
        self.log, self.finish = log, finish


def _start_tracking(exp, cfg, side, acc, out):
    config = {**dataclasses.asdict(cfg), "side": side}
    project = f"mytorch-{exp.name}"
    if acc is not None:
        acc.init_trackers(project, config, {"wandb": {"name": f"{exp.name}-{side}"}})
        return _Tracking(acc.log, lambda: None)
    if cfg.wandb == "disabled":
        return _Tracking(lambda values, step: None, lambda: None)
    try:
        netrc = Path.home() / ".netrc"
        logged_in = bool(os.environ.get("WANDB_API_KEY")) or (
            netrc.exists() and "api.wandb.ai" in netrc.read_text())
        if "WANDB_MODE" not in os.environ and not logged_in:
            os.environ["WANDB_MODE"] = "offline"  # never block on a login prompt
        import wandb
        run = wandb.init(project=project, name=f"{exp.name}-{side}", config=config,
                         dir=str(out / "tracking"))
    except Exception as e:  # noqa: BLE001 - tracking never stops training
        print(f"wandb disabled ({type(e).__name__}: {e})", file=sys.stderr)
        return _Tracking(lambda values, step: None, lambda: None)
    return _Tracking(lambda values, step: run.log(values, step=step), run.finish)


def _unwrap(model, acc):
    return acc.unwrap_model(model) if acc is not None else model


def _progress(cfg, start, main, side):
    if not main:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=cfg.steps, initial=start, desc=side, mininterval=1.0,
                disable=not sys.stderr.isatty() and not os.environ.get("FORCE_TQDM"))


def _sync(side, device):
    if device != "cuda":
        return
    if side == "torch":
        import torch
        torch.cuda.synchronize()
    else:
        import mytorch
        mytorch.cuda.synchronize()


def _device_memory(side, device):
    if device != "cuda":
        return {}
    if side == "torch":
        import torch
        return {"gpu_peak_mb": torch.cuda.max_memory_allocated() / 2 ** 20}
    import mytorch
    return {"gpu_peak_mb": mytorch.cuda.max_memory_allocated() / 2 ** 20}


def _checkpoint(side, model, optimizer, scheduler, step, ckpt_dir, keep_last, acc):
    """Periodic, atomic checkpoints; the newest `keep_last` are kept."""
    if acc is not None:
        path = ckpt_dir / f"step_{step:07d}"
        acc.save_state(str(path))
        if acc.is_main_process:
            tmp = path / "STEP.tmp"
            tmp.write_text(str(step))
            os.replace(tmp, path / "STEP")
    else:
        import torch
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = ckpt_dir / f"step_{step:07d}.pt"
        tmp = path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler else None,
                    "step": step, "rng": torch.get_rng_state()}, tmp)
        os.replace(tmp, path)
    if acc is None or acc.is_main_process:
        import shutil
        done = _checkpoints(ckpt_dir)
        keep = {p for _, p in done[-keep_last:]} if keep_last else {p for _, p in done}
        for p in ckpt_dir.glob("step_*"):  # older checkpoints and what killed saves left
            if p not in keep:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
    if acc is not None:
        acc.wait_for_everyone()


_CHECKPOINT_NAME = re.compile(r"step_(\d+)(\.pt|\.old)?")


def _checkpoints(ckpt_dir):
    """[(step, path)] of the complete checkpoints in `ckpt_dir`, oldest first.

    A checkpoint is written under a temporary name and renamed when complete, so `step_N`
    (a folder, or `step_N.pt` on the PyTorch side) is complete, and `step_N.tmp` never is.
    `step_N.old` is the complete previous copy that a save killed while replacing `step_N`
    leaves (miniddp's save_state); load_state reads it when `step_N` is missing."""
    found = {}
    for p in ckpt_dir.glob("step_*"):
        m = _CHECKPOINT_NAME.fullmatch(p.name)
        if m and not (m.group(2) == ".old" and (ckpt_dir / f"step_{m.group(1)}").exists()):
            found[int(m.group(1))] = p
    return sorted(found.items())


def _resume(side, model, optimizer, scheduler, ckpt_dir, acc):
    """Load the newest complete checkpoint and return its step; say on stderr which it was,
    and why when it is not simply the newest one with its STEP marker."""
    main = acc is None or acc.is_main_process

    def say(text):
        if main:
            print(f"resume: {text}", file=sys.stderr)

    found = _checkpoints(ckpt_dir)
    partial = sorted(p.name for p in ckpt_dir.glob("step_*.tmp")) if ckpt_dir.exists() else []
    if partial and (not found or _step_of(partial[-1]) > found[-1][0]):
        say(f"{partial[-1]} is an unfinished save (the run was killed while writing it); "
            f"ignoring it")
    if not found:
        say(f"no complete checkpoint in {ckpt_dir}; starting from step 0")
        return 0
    for i, (step, path) in enumerate(reversed(found)):
        try:
            step = _load_checkpoint(side, model, optimizer, scheduler, path, step, acc, say)
        except Exception as e:  # noqa: BLE001 - a damaged checkpoint: try the one before
            say(f"{path.name} cannot be loaded ({type(e).__name__}: {e}); trying the previous "
                f"checkpoint")
            continue
        if i:
            say(f"resumed from the previous complete checkpoint, {path.name} (step {step})")
        else:
            say(f"resumed from {path.name} (step {step})")
        return step
    raise RuntimeError(f"resume: none of the {len(found)} checkpoints in {ckpt_dir} loads")


def _step_of(name):
    m = re.match(r"step_(\d+)", name)
    return int(m.group(1)) if m else -1


def _load_checkpoint(side, model, optimizer, scheduler, path, step, acc, say):
    if acc is not None:
        acc.load_state(str(path))
        marker = path / "STEP"
        try:
            return int(marker.read_text())
        except (OSError, ValueError):
            # killed between save_state and the marker: the checkpoint itself is complete
            # (save_state renames it into place last) and its name records its step
            say(f"{path.name} has no STEP marker (the run stopped right after saving it); "
                f"using the step the checkpoint records, {step}")
            return step
    import torch
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler"):
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return state["step"]


def _save_final(side, model, out):
    if side == "mytorch":
        import mytorch
        mytorch.save(model.state_dict(), out / "final_mytorch.safetensors")
    else:
        from safetensors.torch import save_model
        save_model(model, str(out / "final_torch.safetensors"))  # stores tied weights once


# ---------------------------------------------------------------- orchestration

def gpu_count():
    try:
        import mytorch
        return mytorch.cuda.device_count()
    except Exception:
        return 0


def auto_device():
    """"cuda" when CuPy sees a GPU, "cpu" when the host has none. A host whose GPUs CuPy
    cannot use is an error that says how to install it: never a silent run on CPU ranks."""
    if gpu_count():
        return "cuda"
    problem = unusable_gpus()
    if problem is None:
        return "cpu"
    raise ValueError(problem)


def unusable_gpus():
    """None when the host has no NVIDIA GPU; else one line on why CuPy cannot use them and
    how to install it."""
    from miniddp import host
    gpus = host.probe()
    if gpus is None:
        return None
    try:
        import cupy
        problem = f"CuPy {cupy.__version__} cannot use them (built for another CUDA major?)"
    except ImportError:
        problem = "CuPy is not installed"
    return (f"{host.describe(gpus)} but {problem}: run `make setup GPU=1` to install CuPy and "
            "NCCL for this driver, or pass DEVICE=cpu to train on CPU ranks")


def main(exp, argv=None):
    """Entry point of `python -m experiments.<name>`: run both sides, then render the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    side = None
    if "--side" in argv:
        i = argv.index("--side")
        side = argv[i + 1]
        del argv[i:i + 2]
    try:
        cfg = parse_overrides(exp.Config, argv)
    except ValueError as e:  # a bad value is the user's mistake: one line, no traceback
        raise SystemExit(f"{exp.name}: {e}") from None
    if side is not None:
        run_side(exp, cfg, side)
        return 0
    n_gpus = gpu_count()
    if cfg.device == "cuda" and n_gpus == 0:
        raise SystemExit(f"{exp.name}: {unusable_gpus() or 'device=cuda but no CUDA GPU is here'}")
    if cfg.device == "cuda" and cfg.gpus > n_gpus:
        raise SystemExit(f"config: GPUS={cfg.gpus} but only {n_gpus} GPU(s) are available")
    if cfg.device == "cpu" and cfg.gpus > 1:
        print(f"No GPU requested or none here: running {cfg.gpus} CPU ranks instead of GPUs.")
    out = run_dir(exp, cfg)
    out.mkdir(parents=True, exist_ok=True)
    if not cfg.baseline:  # a mytorch-only run: an earlier baseline in `out` is not this run's
        for stale in ("torch.jsonl", "final_torch.safetensors"):
            (out / stale).unlink(missing_ok=True)
    if not cfg.resume:  # a fresh run: older checkpoints would outrank its own when pruning
        import shutil
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    if not (cfg.resume and init_weights_path(exp, cfg).exists()):
        make_initial_weights(exp, cfg)
    args = [f"{f.name}={getattr(cfg, f.name)}" for f in dataclasses.fields(cfg)]
    env = dict(os.environ)
    if cfg.wandb != "auto":
        env["WANDB_MODE"] = cfg.wandb
    env["MYTORCH_EXP_COMMAND"] = os.environ.get("MYTORCH_EXP_COMMAND") or " ".join(
        ["python -m", f"experiments {exp.name}"] + [shlex.quote(a) for a in argv])
    module = f"experiments.{exp.name}"
    if cfg.gpus > 1:
        cmd = [sys.executable, "-m", "miniddp.launch", "-n", str(cfg.gpus), "-m", module]
    else:
        cmd = [sys.executable, "-m", module]
    _run_side_process(cmd + args + ["--side", "mytorch"], env)
    if cfg.baseline:
        _run_side_process([sys.executable, "-m", module] + args + ["--side", "torch"], env)
    from experiments import report
    # A run in the default folder updates experiments/<name>/; one given `out=` keeps its
    # report beside its logs.
    path = report.render(exp.name, out, dest=out / "report" if cfg.out else None)
    print(f"report: {path}")
    if cfg.ship:
        _ship(exp, cfg, out)
    return 0


def _run_side_process(cmd, env):
    """Run one side in a child that SIGINT, SIGTERM and SIGHUP to us stop too (with its ranks),
    and that dies with us; a failure ends this run with the child's exit code."""
    from miniddp.launch import run_job
    rc = run_job(cmd, env=env, cwd=ROOT, name="experiments")
    if rc != 0:
        print(f"experiments: the {cmd[-1]} side exited with code {rc}", file=sys.stderr)
        raise SystemExit(rc)


def _ship(exp, cfg, out):
    """Put the final mytorch weights into the zoo as a shipped checkpoint with its card."""
    import mytorch
    from experiments import report
    from zoo import registry
    if exp.zoo_name is None:
        raise SystemExit(f"{exp.name}: nothing to ship (no zoo entry)")
    model = exp.build(mytorch, cfg)
    model.load_state_dict(mytorch.load(out / "final_mytorch.safetensors"))
    s = report.summarize(read_jsonl(out / "mytorch.jsonl"))
    hw = s["hardware"]
    card = registry.ship(
        exp.zoo_name, model, dtype=exp.ship_dtype, command=s["command"], data=exp.data_note(cfg),
        steps=cfg.steps, wall_time_s=round(s["wall_time_s"], 1),
        hardware=f"{hw['cpu']} ({hw['cpus']} cores), GPU: {hw['gpu']}",
        metrics=s["final_eval"])
    print(f"shipped {exp.zoo_name}: {card.file} ({card.size_bytes} bytes)")


def batch_indices(n, batch, step, seed):
    """Indices of the global batch for `step` (1-based): a fresh seeded permutation per epoch,
    read in order; a batch that runs past the end of an epoch continues into the next."""
    start = (step - 1) * batch
    out = []
    while len(out) < batch:
        epoch, offset = divmod(start + len(out), n)
        perm = np.random.default_rng((seed, epoch)).permutation(n)
        out.extend(perm[offset:offset + batch - len(out)].tolist())
    return np.asarray(out, dtype=np.int64)
