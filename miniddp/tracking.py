"""Experiment tracking on the main process: a JSON-lines log, plus wandb when asked for and
installed (offline unless a login is configured, so it never waits on the network)."""
import json
import math
import os
import sys
import time


def _wandb_logged_in():
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        with open(netrc) as f:
            return "api.wandb.ai" in f.read()
    except OSError:
        return False


def _plain(v):
    """JSON-friendly scalars: tensors/arrays of one element become numbers."""
    if hasattr(v, "item") and hasattr(v, "tolist"):  # Tensor, NumPy/CuPy array or scalar
        v = v.item() if v.size == 1 or callable(v.size) and v.numel() == 1 else v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)


class JSONLTracker:
    """Appends one JSON object per `log` call to `<logging_dir>/<project>.jsonl`; the first line
    holds the config."""

    name = "jsonl"

    def __init__(self, project, config=None, logging_dir="."):
        os.makedirs(logging_dir, exist_ok=True)
        self.path = os.path.join(logging_dir, f"{project}.jsonl")
        self._f = open(self.path, "a", buffering=1)  # noqa: SIM115 - open until finish()
        self._write({"event": "start", "project": project, "time": time.time(),
                     "config": _plain(dict(config or {}))})

    def _write(self, record):
        self._f.write(json.dumps(record) + "\n")

    def log(self, values, step=None):
        record = {"step": step, "time": time.time()}
        record.update(_plain(dict(values)))
        self._write(record)

    def finish(self):
        if not self._f.closed:
            self._write({"event": "end", "time": time.time()})
            self._f.close()


class WandbTracker:
    """wandb.init on the main process; WANDB_MODE=offline unless set or logged in."""

    name = "wandb"

    def __init__(self, project, config=None, logging_dir=".", **init_kwargs):
        if "WANDB_MODE" not in os.environ and not _wandb_logged_in():
            os.environ["WANDB_MODE"] = "offline"
        import wandb
        init_kwargs.setdefault("dir", logging_dir)
        self.run = wandb.init(project=project, config=dict(config or {}), **init_kwargs)

    def log(self, values, step=None):
        self.run.log(_plain(dict(values)), step=step)

    def finish(self):
        self.run.finish()


def wandb_available():
    try:
        import wandb  # noqa: F401
    except ImportError:
        return False
    return True


def make_trackers(log_with, project, config, logging_dir, init_kwargs=None):
    """Trackers for `log_with` (None, "jsonl", "wandb", "all" or a list): always the JSON-lines
    log; wandb when asked for and importable. A tracker that fails to start is reported on stderr
    and left out: tracking never stops training."""
    names = [log_with] if isinstance(log_with, str) else list(log_with or [])
    unknown = set(names) - {"jsonl", "wandb", "all"}
    if unknown:
        raise ValueError(f"Accelerator: unknown log_with {sorted(unknown)}; use 'jsonl', 'wandb' "
                         "or 'all'")
    trackers = [JSONLTracker(project, config, logging_dir)]
    if ("wandb" in names or "all" in names) and wandb_available():
        try:
            trackers.append(WandbTracker(project, config, logging_dir,
                                         **(init_kwargs or {}).get("wandb", {})))
        except Exception as e:  # noqa: BLE001 - a tracker never stops training
            print(f"miniddp: wandb tracker disabled ({type(e).__name__}: {e})", file=sys.stderr)
    return trackers
