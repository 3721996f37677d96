import json

import numpy as np
import pytest

import mytorch
from miniddp import tracking


def test_jsonl_log(tmp_path):
    (t,) = tracking.make_trackers(None, "run", {"lr": 0.1, "dims": (1, 2)}, str(tmp_path))
    t.log({"loss": mytorch.tensor(0.5), "acc": np.float32(0.75), "v": np.arange(2),
           "bad": float("nan")}, step=7)
    t.finish()
    with open(tmp_path / "run.jsonl") as f:
        lines = [json.loads(s) for s in f]
    assert lines[0]["config"] == {"lr": 0.1, "dims": [1, 2]}
    assert lines[1]["step"] == 7 and lines[1]["loss"] == 0.5 and lines[1]["acc"] == 0.75
    assert lines[1]["v"] == [0, 1] and lines[1]["bad"] == "nan"
    assert lines[-1]["event"] == "end"


def test_wandb_is_optional_and_offline_without_login(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    trackers = tracking.make_trackers("wandb", "run", {}, str(tmp_path))
    names = [t.name for t in trackers]
    assert names[0] == "jsonl"
    if tracking.wandb_available():
        assert names == ["jsonl", "wandb"]
        import os
        assert os.environ["WANDB_MODE"] == "offline"
    else:
        assert names == ["jsonl"]
    for t in trackers:
        t.finish()


def test_unknown_tracker(tmp_path):
    with pytest.raises(ValueError, match="unknown log_with"):
        tracking.make_trackers("tensorboard", "run", {}, str(tmp_path))
