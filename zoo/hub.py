"""Finding GPT-2 weights: a local file or folder, data/hf/<name>/, the Hugging Face cache, or
(when online and huggingface_hub is installed) a download from the Hub."""
import json
import os
from pathlib import Path

from zoo.data.download import DATA_ROOT, reachable

HF_REPOS = {name: f"openai-community/{name}"
            for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}


def _read(weights_path, config_path):
    from safetensors.numpy import load_file
    config = json.loads(Path(config_path).read_text()) if config_path and Path(
        config_path).exists() else None
    return load_file(str(weights_path)), config


def _from_hf_cache(repo):
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for rid in (repo, repo.split("/")[-1]):
        w = try_to_load_from_cache(rid, "model.safetensors")
        if isinstance(w, str):
            c = try_to_load_from_cache(rid, "config.json")
            return w, c if isinstance(c, str) else None
    return None


def _from_hub(repo):
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not reachable("huggingface.co"):
        return None
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
    try:
        return (hf_hub_download(repo, "model.safetensors"),
                hf_hub_download(repo, "config.json"))
    except Exception:  # noqa: BLE001 -- offline, blocked, unknown repo (httpx/hub errors):
        # the caller explains what to do
        return None


def resolve_gpt2(path_or_name, root=DATA_ROOT, online=True):
    """(weights {name: numpy array}, Hugging Face config dict or None) for a path or a name."""
    path = Path(path_or_name)
    if path.is_dir():
        return _read(path / "model.safetensors", path / "config.json")
    if path.is_file():
        return _read(path, path.with_name("config.json"))
    name = str(path_or_name)
    if name not in HF_REPOS:
        raise FileNotFoundError(f"GPT2.from_pretrained: {name!r} is neither a file, a folder nor "
                                f"one of {sorted(HF_REPOS)}")
    local = Path(root) / "hf" / name
    if (local / "model.safetensors").exists():
        return _read(local / "model.safetensors", local / "config.json")
    found = _from_hf_cache(HF_REPOS[name]) or (online and _from_hub(HF_REPOS[name]))
    if found:
        return _read(*found)
    url = f"https://huggingface.co/{HF_REPOS[name]}/resolve/main"
    raise FileNotFoundError(
        f"GPT-2 weights {name!r} not found: no network to the Hugging Face Hub and nothing in "
        f"the HF cache or {local}. Download {url}/model.safetensors and {url}/config.json into "
        f"{local}/, or pass a path: GPT2.from_pretrained('/path/to/model.safetensors')")
