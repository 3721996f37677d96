"""Checkpoints: `save`/`load` as one safetensors file, or in PyTorch's own `.pt` format.

Safetensors (every name but `.pt`/`.pth`/`.bin`): tensors are the file's tensors. A flat
{name: Tensor} dict (a model's state_dict) keeps its names as keys, so
`safetensors.torch.load_file` gives a dict PyTorch's `load_state_dict` accepts, and a
safetensors file written by PyTorch loads here. Anything else (an optimizer's nested state,
numbers, strings) is kept as JSON in the header's metadata, beside a sha256 of that structure
and of every tensor's bytes, so a corrupted file is caught even where the format itself cannot
tell. `.pt`, `.pth` and `.bin` names get torch.save's zip layout (see pt_format), and `load`
reads such files written by PyTorch, weights-only.

Writes go to a temporary file in the same directory, are fsync'ed and renamed over `path`:
a failed save never leaves a half-written checkpoint behind, and what a killed save left is
removed by the next save or load of that path.
"""
import hashlib
import json
import math
import os
import pickle
import socket
import threading
import zipfile

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from mytorch import backend, pt_format
from mytorch.tensor import Tensor
from mytorch.utils.process import pid_alive

FORMAT = "mytorch-1"
_META_FORMAT, _META_TREE, _META_SHA = "mytorch.format", "mytorch.structure", "mytorch.sha256"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read: truncated, corrupt or not a safetensors file."""


# ---- structure <-> JSON ----

def _encode(obj, path, tensors, devices):
    """JSON-able form of `obj`; tensors are replaced by {"t": key} and collected."""
    if isinstance(obj, Tensor) or backend.is_array(obj):
        arr = obj.data if isinstance(obj, Tensor) else obj
        key = ".".join(path) or "tensor"
        if key in tensors:  # a dotted dict key can meet a nested path: keep keys unique
            n = 1
            while f"{key}#{n}" in tensors:
                n += 1
            key = f"{key}#{n}"
        tensors[key] = arr
        devices[key] = str(backend.device_of(arr))
        return {"t": key, "dev": devices[key]}
    if isinstance(obj, dict):
        return {"d": [[_encode_key(k, path), _encode(v, path + [str(k)], tensors, devices)]
                      for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, path + [str(i)], tensors, devices)
                          for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, path + [str(i)], tensors, devices) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"float": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"mytorch.save: cannot store a {type(obj).__name__} at "
                    f"'{'.'.join(path) or '<root>'}'; checkpoints hold nested dicts, lists and "
                    f"tuples of tensors, numbers, strings, bools and None")


def _encode_key(k, path):
    if isinstance(k, (str, bool, int, float)) or k is None:
        return k if isinstance(k, str) else {"key": k}
    if isinstance(k, tuple):
        return {"key_tuple": [_encode_key(x, path) for x in k]}
    raise TypeError(f"mytorch.save: unsupported dict key type {type(k).__name__} at "
                    f"'{'.'.join(path) or '<root>'}'")


def _decode_key(k):
    if isinstance(k, dict):
        if "key_tuple" in k:
            return tuple(_decode_key(x) for x in k["key_tuple"])
        return k["key"]
    return k


def _decode(node, tensors):
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if isinstance(node, dict):
        if "t" in node:
            return tensors[node["t"]]
        if "d" in node:
            return {_decode_key(k): _decode(v, tensors) for k, v in node["d"]}
        if "tuple" in node:
            return tuple(_decode(v, tensors) for v in node["tuple"])
        if "float" in node:
            return float(node["float"])
        raise ValueError(f"unknown node {sorted(node)}")
    return node


def _contiguous(a):
    # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
    return a if a.flags.c_contiguous else a.copy(order="C")


def _digest(tree_json, arrays):
    h = hashlib.sha256(tree_json.encode())
    for key in sorted(arrays):
        a = arrays[key]
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(_contiguous(a).reshape(-1).view(np.uint8))  # bytes, whatever the dtype
    return h.hexdigest()


# ---- save / load ----

TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def save(obj, path):
    """Save `obj` (a state dict, or nested dicts/lists/tuples of tensors and plain values) to
    `path`, atomically.

    `.pt`, `.pth` and `.bin` names get PyTorch's own format (what torch.save writes, readable by
    `torch.load(path, weights_only=True)`); any other name gets a safetensors file.

    >>> mytorch.save({"model": model.state_dict(), "optim": opt.state_dict()}, "ckpt.safetensors")
    """
    path = os.fspath(path)
    if path.lower().endswith(TORCH_SUFFIXES):
        archive = os.path.splitext(os.path.basename(path))[0] or "archive"
        _write_atomically(path, lambda tmp: pt_format.write(obj, tmp, archive))
        return
    tensors, devices = {}, {}
    tree = _encode(obj, [], tensors, devices)
    arrays = {k: _contiguous(backend.to_device(a, "cpu")) for k, a in tensors.items()}
    if any(a.dtype.name == "bfloat16" for a in arrays.values()):
        import ml_dtypes  # noqa: F401 - safetensors names the dtype through NumPy's registry
    tree_json = json.dumps(tree, separators=(",", ":"))
    metadata = {"format": "pt", _META_FORMAT: FORMAT, _META_TREE: tree_json,
                _META_SHA: _digest(tree_json, arrays)}
    _write_atomically(path, lambda tmp: save_file(arrays, tmp, metadata=metadata))


# ---- temporary files ----
#
# A save writes `.<name>.mytorch-tmp.<pid>.<thread>.<host>` beside the target and renames it
# over the target. A process killed mid-save leaves that file behind; the next save or load of
# the same target removes every such file of this host whose process is gone.

_TMP_TAG = ".mytorch-tmp."


def _tmp_name(path):
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}{_TMP_TAG}{os.getpid()}.{threading.get_ident()}."
                                   f"{socket.gethostname()}")


def remove_stale_temporaries(path):
    """Delete the temporary files that killed saves of `path` left behind; returns their
    names. Files of live processes (a save in progress) and of other hosts are kept."""
    directory, name = os.path.split(os.path.abspath(path))
    prefix, host = f".{name}{_TMP_TAG}", socket.gethostname()
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        pid, _, rest = entry[len(prefix):].partition(".")
        owner = rest.partition(".")[2]
        if owner != host or not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(directory, entry))
            removed.append(entry)
        except FileNotFoundError:
            pass
    return removed


def _write_atomically(path, write):
    """Run `write(temporary_path)`, fsync that file and rename it over `path`."""
    remove_stale_temporaries(path)
    tmp = _tmp_name(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path, map_location=None, *, weights_only=True):
    """Load a checkpoint: what `save` wrote, any safetensors file (a flat {name: Tensor}
    dict), or a zip file written by `torch.save`.

    map_location: None (each tensor back on the device it was saved from), a device
    ('cpu', 'cuda', 'cuda:1'), or a dict mapping saved device strings to devices.
    PyTorch files are always loaded weights-only: tensors and plain containers are rebuilt,
    anything else is refused naming its global (pickle.UnpicklingError); `weights_only` is
    accepted for torch.load's signature.
    Raises CheckpointError (a RuntimeError) naming `path` for truncated or corrupt files.
    """
    path = os.fspath(path)
    remove_stale_temporaries(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"mytorch.load: no such checkpoint file: '{path}'")
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(b"PK"):
        return _load_torch(path, map_location)
    # A safetensors file starts with its header's length (8 bytes, little-endian) and then
    # the header's "{"; a length like 0x180 also starts with the byte a pickle starts with.
    is_safetensors = len(head) == 9 and head[8:] == b"{" and \
        8 + int.from_bytes(head[:8], "little") <= os.path.getsize(path)
    if head.startswith(b"\x80") and not is_safetensors:
        raise CheckpointError(f"mytorch.load: '{path}' is a pickle, not a zip: a PyTorch pickle "
                              f"in the legacy (pre-1.6) format or a plain pickle, which mytorch "
                              f"does not read; re-save it with a current torch.save")
    if "BF16" in _header_dtypes(path):
        import ml_dtypes  # noqa: F401 - NumPy learns the bfloat16 dtype that safetensors names
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"mytorch.load: '{path}' is not a readable checkpoint (truncated "
                              f"or corrupt safetensors file): {e}") from e
    tree_json = metadata.get(_META_TREE)
    if tree_json is None:  # a plain safetensors file, e.g. from safetensors.torch.save_file
        return {k: Tensor._wrap(_place(a, "cpu", map_location)) for k, a in arrays.items()}
    if _digest(tree_json, arrays) != metadata.get(_META_SHA):
        raise CheckpointError(f"mytorch.load: '{path}' is corrupt: its sha256 does not match "
                              f"the tensor data and structure it holds")
    try:
        tree = json.loads(tree_json)
        devices = {}
        _collect_devices(tree, devices)
        tensors = {k: Tensor._wrap(_place(a, devices.get(k, "cpu"), map_location))
                   for k, a in arrays.items()}
        return _decode(tree, tensors)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"mytorch.load: '{path}' has an invalid structure: {e}") from e


def _header_dtypes(path):
    """The dtype names a safetensors header lists (empty when it is not readable)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 0 < n <= 100 * 2 ** 20:
                return []
            header = json.loads(f.read(n))
        return [v.get("dtype") for k, v in header.items() if k != "__metadata__"]
    except (OSError, ValueError, AttributeError):
        return []


def _load_torch(path, map_location):
    try:
        return pt_format.read(path, lambda a, loc: _place(a, loc, map_location))
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"mytorch.load: '{path}': {e}") from None
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, TypeError, OSError) as e:
        raise CheckpointError(f"mytorch.load: '{path}' is a PyTorch (zip) checkpoint that "
                              f"cannot be read (truncated or corrupt): {e}") from e


def _collect_devices(node, out):
    if isinstance(node, list):
        for v in node:
            _collect_devices(v, out)
    elif isinstance(node, dict):
        if "t" in node:
            out[node["t"]] = node.get("dev", "cpu")
        for v in node.values():
            if isinstance(v, (list, dict)):
                _collect_devices(v, out)


def _place(arr, saved_device, map_location):
    if map_location is None:
        target = saved_device
    elif isinstance(map_location, dict):
        target = map_location.get(saved_device, saved_device)
    else:
        target = map_location
    target = backend.device(target)
    if target.type == "cuda" and not backend.cuda_available():
        raise RuntimeError(f"mytorch.load: the checkpoint holds tensors saved on {saved_device}, "
                           f"but CUDA is not available; pass map_location='cpu'")
    return backend.to_device(arr, target)
