"""Checkpoints: `save`/`load` of state dicts as one safetensors file.

Tensors are the file's tensors. A flat {name: Tensor} dict (a model's state_dict) keeps its
names as keys, so `safetensors.torch.load_file` gives a dict PyTorch's `load_state_dict`
accepts, and a safetensors file written by PyTorch loads here. Anything else (an optimizer's
nested state, numbers, strings) is kept as JSON in the header's metadata, beside a sha256 of
that structure and of every tensor's bytes, so a corrupted file is caught even where the
format itself cannot tell.

Writes go to a temporary file in the same directory, are fsync'ed and renamed over `path`:
a failed save never leaves a half-written checkpoint behind.
"""
import hashlib
import json
import math
import os
import tempfile

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from mytorch import backend
from mytorch.tensor import Tensor

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
        h.update(memoryview(_contiguous(a)).cast("B"))
    return h.hexdigest()


# ---- save / load ----

def save(obj, path):
    """Save `obj` (a state dict, or nested dicts/lists of tensors and plain values) to `path`
    as a safetensors file, atomically.

    >>> mytorch.save({"model": model.state_dict(), "optim": opt.state_dict()}, "ckpt.safetensors")
    """
    path = os.fspath(path)
    tensors, devices = {}, {}
    tree = _encode(obj, [], tensors, devices)
    arrays = {k: _contiguous(backend.to_device(a, "cpu")) for k, a in tensors.items()}
    tree_json = json.dumps(tree, separators=(",", ":"))
    metadata = {"format": "pt", _META_FORMAT: FORMAT, _META_TREE: tree_json,
                _META_SHA: _digest(tree_json, arrays)}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata=metadata)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path, map_location=None):
    """Load what `save` wrote (or any safetensors file: a flat {name: Tensor} dict).

    map_location: None (each tensor back on the device it was saved from), a device
    ('cpu', 'cuda', 'cuda:1'), or a dict mapping saved device strings to devices.
    Raises CheckpointError (a RuntimeError) naming `path` for truncated or corrupt files.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"mytorch.load: no such checkpoint file: '{path}'")
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
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
