"""Compile CUDA code without a GPU, for the architectures we target.

- CUDA C sources (CuPy's RawKernel / RawModule / ElementwiseKernel / ReductionKernel) go through
  NVRTC from the `nvidia-cuda-nvrtc-cu12` wheel, called with ctypes, to a cubin per real
  architecture (so ptxas runs too, not only the front end).
- numba-cuda kernels go through NVVM to PTX with `numba.cuda.compile_ptx`; that needs the real
  `numba.cuda`, so `compile_numba_kernels` runs in a child process (the tests run the kernels
  in the CUDA simulator, which replaces `numba.cuda` for the whole process).

`find_kernel_sources` scans Python files for the CuPy kernel constructors and returns their
sources, so a kernel added anywhere is compiled by CI without being registered by hand.
"""
import ast
import ctypes
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ARCHS = ("sm_70", "sm_80", "sm_90")  # V100, A100, H100/H200
KERNEL_CLASSES = ("RawKernel", "RawModule", "ElementwiseKernel", "ReductionKernel")


class CompileError(Exception):
    """A source that does not compile; the message carries the compiler's log."""


# ---------------------------------------------------------------- NVRTC through ctypes

_nvrtc = None


def nvrtc():
    """The NVRTC library of the nvidia-cuda-nvrtc wheel (ctypes.CDLL)."""
    global _nvrtc
    if _nvrtc is None:
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
        if spec is None:
            raise FileNotFoundError("NVRTC: install the nvidia-cuda-nvrtc-cu12 wheel "
                                    "(the `test` extra has it)")
        lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
        path = sorted(lib.glob("libnvrtc.so.*"))[0]
        _nvrtc = ctypes.CDLL(str(path))
        _nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
    return _nvrtc


def nvrtc_version():
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(nvrtc().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


def _check(status, what):
    if status != 0:
        raise CompileError(f"{what}: {nvrtc().nvrtcGetErrorString(status).decode()}")


def include_dirs():
    """CuPy's headers (carray.cuh, complex.cuh, ...), which RawKernel sources may include."""
    spec = importlib.util.find_spec("cupy")
    if spec is None:
        return []
    return [str(Path(spec.origin).parent / "_core" / "include")]


def nvrtc_compile(source, name="kernel.cu", arch="sm_80", options=()):
    """Compile CUDA C++ `source` to a cubin for `arch`; return its size in bytes.

    Raises CompileError with NVRTC's log (file, line and message) when it does not compile.
    """
    lib = nvrtc()
    prog = ctypes.c_void_p()
    _check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None,
                                  None), "nvrtcCreateProgram")
    try:
        opts = [f"--gpu-architecture={arch}", "--std=c++17", *options] + \
            [f"-I{d}" for d in include_dirs()]
        argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        status = lib.nvrtcCompileProgram(prog, len(opts), argv)
        if status != 0:
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            raise CompileError(f"{name} for {arch}: "
                               f"{lib.nvrtcGetErrorString(status).decode()}\n"
                               f"{log.value.decode(errors='replace').strip()}")
        size = ctypes.c_size_t()
        _check(lib.nvrtcGetCUBINSize(prog, ctypes.byref(size)), "nvrtcGetCUBINSize")
        return size.value
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


# ---------------------------------------------------------------- CuPy kernel sources

_TYPES = {"float16": "half", "float32": "float", "float64": "double", "int8": "signed char",
          "int16": "short", "int32": "int", "int64": "long long", "uint8": "unsigned char",
          "uint32": "unsigned int", "uint64": "unsigned long long", "bool": "bool"}


def _params(spec):
    """CuPy's "T x, raw T y, float32 z" -> [(raw, ctype, name)]; type letters become float."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        ctype, name = words[-2], words[-1]
        if re.fullmatch(r"[A-Z]", ctype):
            ctype = "float"  # a type placeholder: compile one instance
        out.append((raw, _TYPES.get(ctype, ctype), name))
    return out


def _signature(params, const):
    return ", ".join(f"{'const ' if const else ''}{t}* {'' if raw else '_raw_'}{n}"
                     for raw, t, n in params)


def _bind(params, index, const):
    return "".join(f"  {'const ' if const else ''}{t}& {n} = _raw_{n}[{index}];\n"
                   for raw, t, n in params if not raw)


def elementwise_source(in_params, out_params, operation, name, preamble=""):
    """A CUDA C kernel equivalent to CuPy's ElementwiseKernel(...), one type instance."""
    ins, outs = _params(in_params), _params(out_params)
    return (f'#include <cupy/carray.cuh>\n{preamble}\n'
            f'extern "C" __global__ void {name}({_signature(ins, True)}, '
            f'{_signature(outs, False)}, long long _n) {{\n'
            f" for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;\n"
            f"      i += (long long)blockDim.x * gridDim.x) {{\n"
            f"{_bind(ins, 'i', True)}{_bind(outs, 'i', False)}  {operation};\n }}\n}}\n")


def reduction_source(in_params, out_params, map_expr, reduce_expr, post_map_expr, identity,
                     name, reduce_type=None, preamble=""):
    """A CUDA C kernel equivalent to CuPy's ReductionKernel(...) (one thread, one type)."""
    ins, outs = _params(in_params), _params(out_params)
    rtype = _TYPES.get(reduce_type, reduce_type) if reduce_type else outs[0][1]
    return (f'#include <cupy/carray.cuh>\n{preamble}\ntypedef {rtype} _type_reduce;\n'
            f"#define REDUCE(a, b) ({reduce_expr})\n#define POST_MAP(a) ({post_map_expr})\n"
            f'extern "C" __global__ void {name}({_signature(ins, True)}, '
            f'{_signature(outs, False)}, long long _n) {{\n'
            f" _type_reduce _s = _type_reduce({identity});\n"
            f" for (long long i = 0; i < _n; ++i) {{\n{_bind(ins, 'i', True)}"
            f"  _type_reduce a = _s, b = _type_reduce({map_expr});\n  _s = REDUCE(a, b);\n }}\n"
            f"{_bind(outs, '0', False)} _type_reduce a = _s;\n POST_MAP(a);\n}}\n")


_POSITIONAL = {
    "RawKernel": ("code", "name", "options"),
    "RawModule": ("code",),
    "ElementwiseKernel": ("in_params", "out_params", "operation", "name"),
    "ReductionKernel": ("in_params", "out_params", "map_expr", "reduce_expr", "post_map_expr",
                        "identity", "name", "reduce_type"),
}


def find_kernel_sources(paths, root):
    """[(where, source)] for every CuPy kernel constructed in the Python files `paths`.

    String arguments may be literals or module-level string constants. A kernel whose source
    cannot be read statically is an error: CI must compile every kernel.
    """
    found = []
    for path in paths:
        text = Path(path).read_text()
        if not any(c in text for c in KERNEL_CLASSES):
            continue
        tree = ast.parse(text)
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
        for node in ast.walk(tree):
            kind = _kernel_class(node)
            if kind is None:
                continue
            where = f"{Path(path).relative_to(root)}:{node.lineno} {kind}"
            args = dict(zip(_POSITIONAL[kind], node.args))
            args.update({k.arg: k.value for k in node.keywords if k.arg})
            values = {}
            for key, value in args.items():
                if isinstance(value, ast.Constant):
                    values[key] = value.value
                elif isinstance(value, ast.Name) and value.id in constants:
                    values[key] = constants[value.id]
                elif key != "options":
                    raise CompileError(f"{where}: argument {key!r} is not a string literal or "
                                       "a module-level string constant; CI cannot compile it")
            found.append((where, _source_of(kind, values)))
    return found


def _kernel_class(node):
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name if name in KERNEL_CLASSES else None


def _source_of(kind, v):
    if kind in ("RawKernel", "RawModule"):
        return v["code"]
    if kind == "ElementwiseKernel":
        return elementwise_source(v["in_params"], v["out_params"], v["operation"],
                                  v.get("name", "kernel"), v.get("preamble", ""))
    return reduction_source(v["in_params"], v["out_params"], v["map_expr"], v["reduce_expr"],
                            v["post_map_expr"], v["identity"], v.get("name", "kernel"),
                            v.get("reduce_type"), v.get("preamble", ""))


# ---------------------------------------------------------------- numba-cuda kernels

_NUMBA_CHILD = """
import json, sys, types
import numba.cuda.dispatcher
from numba import cuda
from mytorch.ops import cuda_kernels

arch = sys.argv[1]
cc = (int(arch[3:-1]), int(arch[-1]))
# Device functions compile on first use for the current device's compute capability, and
# there is no device here: report the target's.
numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
results = []
for name, builds in sorted(cuda_kernels.all_compile_targets().items()):
    for kernel, sig in builds:
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
            results.append([name, str(sig), arch, len(ptx), "", ptx.count(".f64")])
        except Exception as e:
            results.append([name, str(sig), arch, 0, f"{type(e).__name__}: {e}", 0])
print(json.dumps(results))
"""


def compile_numba_kernels(archs=ARCHS, timeout=600):
    """Compile every kernel of mytorch.ops.cuda_kernels.all_compile_targets() to PTX for `archs`
    through NVVM, in child processes with the real numba.cuda.

    Returns [(kernel name, signature, arch, PTX length, error or "", float64 instructions)].
    """
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    # one process per arch (device functions are cached per process), run side by side
    procs = {arch: subprocess.Popen([sys.executable, "-c", _NUMBA_CHILD, arch], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for arch in archs}
    results, failed = [], []
    try:
        for arch, proc in procs.items():
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                failed.append(f"numba-cuda compile run for {arch} failed:\n{err[-4000:]}")
            else:
                results += [tuple(r) for r in json.loads(out.strip().splitlines()[-1])]
    finally:
        for proc in procs.values():  # a timeout leaves no compiler behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failed:
        raise CompileError("\n".join(failed))
    return results
