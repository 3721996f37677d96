"""Finding GPT-2 and Llama-family weights: a local file or folder, data/hf/<name>/, the Hugging
Face cache, or (when online and huggingface_hub is installed) a download from the Hub; and
reading Hugging Face folders (sharded, bfloat16) into numpy."""
import json
import os
from pathlib import Path

import numpy as np

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


def _hub_ready():
    """Whether to try the Hub now (HF_HUB_OFFLINE is not 1 and huggingface.co answers); then
    the Hub's metadata requests time out after 5 s."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not reachable("huggingface.co"):
        return False
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
    return True


def _from_hub(repo):
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    if not _hub_ready():
        return None
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


# ---- Hugging Face folders (Llama family): config.json, weights (one file or shards), tokenizer

LLAMA_REPOS = {
    "smollm-135m": "HuggingFaceTB/SmolLM-135M",
    "smollm-360m": "HuggingFaceTB/SmolLM-360M",
    "tinyllama-1.1b": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B-Instruct",
    "llama-3.2-1b": "meta-llama/Llama-3.2-1B",
}
FOLDER_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json",
                "tokenizer.json", "tokenizer_config.json", "generation_config.json")

# safetensors dtype -> numpy dtype; BF16 goes through ml_dtypes (numpy has no bfloat16)
_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path, upcast=True):
    """{name: numpy array} of a safetensors file, reading its header ourselves so that BF16
    tensors load too (as ml_dtypes.bfloat16). With `upcast`, BF16/F16 become float32."""
    import ml_dtypes

    path = Path(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        kind = info["dtype"]
        dtype = ml_dtypes.bfloat16 if kind == "BF16" else _ST_DTYPES.get(kind)
        if dtype is None:
            raise ValueError(f"read_safetensors: {path} tensor {name!r} has dtype {kind}, "
                             f"which is not supported")
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"])
        out[name] = arr.astype(np.float32) if upcast and kind in ("BF16", "F16") else arr
    return out


def read_checkpoint_folder(folder):
    """(weights {HF name: numpy array}, config dict) of a Hugging Face model folder, whether
    it holds model.safetensors or the shards named by model.safetensors.index.json."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{folder}: no config.json (not a Hugging Face model folder)")
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / "model.safetensors").exists():
        shards = ["model.safetensors"]
    else:
        raise FileNotFoundError(f"{folder}: neither model.safetensors nor "
                                "model.safetensors.index.json")
    weights = {}
    for shard in shards:
        if not (folder / shard).exists():
            raise FileNotFoundError(f"{folder}: shard {shard} named by the index is missing")
        weights.update(read_safetensors(folder / shard))
    return weights, json.loads(config_path.read_text())


def _folder_in_hf_cache(repo):
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    config = try_to_load_from_cache(repo, "config.json")
    if not isinstance(config, str):
        return None
    folder = Path(config).parent  # one snapshot folder holds every file of a revision
    has_weights = any((folder / f).exists() for f in FOLDER_FILES[1:3])
    return folder if has_weights else None


def _folder_from_hub(repo):
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    if not _hub_ready():
        return None
    try:
        return Path(snapshot_download(repo, allow_patterns=[*FOLDER_FILES,
                                                            "model-*.safetensors"]))
    except Exception:  # noqa: BLE001 -- offline, gated, unknown repo: the caller explains
        return None


def resolve_folder(path_or_name, root=DATA_ROOT, online=True):
    """The local folder of a Hugging Face checkpoint: `path_or_name` itself when it is a
    folder, else for a zoo name (LLAMA_REPOS) data/hf/<name>/, the HF cache, or a download."""
    path = Path(path_or_name)
    if path.is_dir():
        return path
    name = str(path_or_name)
    if name not in LLAMA_REPOS:
        raise FileNotFoundError(f"Llama.from_pretrained: {name!r} is neither a folder nor one "
                                f"of {sorted(LLAMA_REPOS)}")
    repo = LLAMA_REPOS[name]
    local = Path(root) / "hf" / name
    if (local / "config.json").exists():
        return local
    found = _folder_in_hf_cache(repo) or (online and _folder_from_hub(repo))
    if found:
        return found
    raise FileNotFoundError(
        f"{name!r} weights not found: no network to the Hugging Face Hub and nothing in the HF "
        f"cache or {local}. Download config.json, the model.safetensors file(s) (and "
        f"model.safetensors.index.json when sharded), tokenizer.json and tokenizer_config.json "
        f"from https://huggingface.co/{repo} into {local}/, or pass a folder: "
        f"Llama.from_pretrained('/path/to/folder')")
