"""Write `cupy/_real_api.json`: every public name of the real CuPy modules the stand-in mimics,
with the parameter names each callable accepts (None where CuPy takes **kwargs or says nothing).

Run with the real CuPy importable and the stand-in NOT on the path:
    python tests/cuda_standin/make_api.py            # rewrite the file
    python tests/cuda_standin/make_api.py --print    # print the JSON (the conformance test)
"""
import importlib
import inspect
import json
import os
import pathlib
import re
import sys
import warnings

MODULES = ("cupy", "cupy.linalg", "cupy.random", "cupy.lib.stride_tricks", "cupy.cuda",
           "cupy.cuda.runtime", "cupyx", "cupyx.scipy.special")
CLASSES = ("cupy.ndarray", "cupy.random.Generator", "cupy.ufunc", "cupy.cuda.Device",
           "cupy.cuda.Stream", "cupy.cuda.MemoryPool")
OUT = pathlib.Path(__file__).parent / "cupy" / "_real_api.json"


def _params_from_doc(obj):
    doc = (getattr(obj, "__doc__", None) or "").strip()
    m = re.match(r"[\w.]*\((.*?)\)", doc.splitlines()[0] if doc else "")
    if not m:
        return None
    names = []
    for part in m.group(1).split(","):
        part = part.strip().replace("\\", "").split("=")[0].strip().lstrip("*")
        if part in ("", "/", "self"):
            continue
        if part == "kwargs" or part == "args":
            return None
        names.append(part)
    return names


def params(obj):
    """Parameter names, or None when any keyword may be accepted (or none can be read)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return _params_from_doc(obj)
    out = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is not p.VAR_POSITIONAL and p.name != "self":
            out.append(p.name)
    return out


def describe(obj):
    return {n: (params(getattr(obj, n)) if callable(getattr(obj, n)) else "attribute")
            for n in dir(obj) if not n.startswith("_") or n in ("__array__", "__float__")}


def main():
    here = os.path.dirname(os.path.abspath(__file__))  # never the stand-in itself
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    warnings.simplefilter("ignore")
    if getattr(importlib.import_module("cupy"), "STANDIN", False):
        sys.exit("make_api.py: this is the stand-in; take tests/cuda_standin off PYTHONPATH")
    api = {}
    for name in MODULES:
        api[name] = describe(importlib.import_module(name))
    for name in CLASSES:
        mod, _, cls = name.rpartition(".")
        api[name] = describe(getattr(importlib.import_module(mod), cls))
        api[mod][cls] = params(getattr(importlib.import_module(mod), cls))  # dir() may hide it
    text = json.dumps(api, indent=0, sort_keys=True)
    if "--print" in sys.argv:
        print(text)
    else:
        OUT.write_text(text + "\n")


if __name__ == "__main__":
    main()
