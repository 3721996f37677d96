"""Every CuPy name and keyword argument that mytorch/ and miniddp/ use exists in the real CuPy.

An AST scan collects attribute chains on the array module (`xp`, a name bound to
`array_module(...)` / `module_for(...)`, `cupy`, `cp`, `cupyx`, and names imported from them)
and the keywords of calls through them, then resolves each against the installed CuPy wheel,
which imports without a GPU. Branches that only NumPy runs (`if xp is np:`, `xp.__name__ ==
"numpy"`) are left out; so is `np`, which is host NumPy by convention. NumPy-only API on a
generic `xp` is exactly what this catches: it passes every CPU test and fails on the first GPU.
"""
import ast
import importlib
import inspect
import re
import warnings
from pathlib import Path

import pytest

cupy = pytest.importorskip("cupy")  # the test extra installs the real wheel

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mytorch", "miniddp")
GENERIC = {"xp": "cupy", "cupy": "cupy", "cp": "cupy", "cupyx": "cupyx"}
MODULE_FACTORIES = {"array_module", "module_for"}  # calls that return numpy or cupy
UFUNC_KEYWORDS = {"out", "dtype"}  # what CuPy's ufunc.__call__ documents
# Modules that are stubs when their shared library is absent (no libnccl on a CI machine):
# their names are read from the compiled extension's string table instead.
COMPILED = {"cupy.cuda.nccl": "cupy_backends/cuda/libs/nccl"}

# Known breakages, each owned by an issue; remove an entry when its fix lands.
EXPECTED = set()  # none today (ops/index.py's xp.indices(sparse=) was the last, issue 10)


class _Scan(ast.NodeVisitor):
    def __init__(self, path):
        self.path = path
        self.aliases = dict(GENERIC)
        self.generic = {"xp"}  # names that may be numpy or cupy
        self.uses = []  # (line, dotted chain, keywords)

    def visit_Import(self, node):
        for a in node.names:
            if a.name.split(".")[0] in ("cupy", "cupyx"):
                self.aliases[(a.asname or a.name).split(".")[0]] = \
                    a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node):
        if node.module and node.module.split(".")[0] in ("cupy", "cupyx"):
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def visit_Assign(self, node):
        if isinstance(node.value, ast.Call) and _name(node.value.func) in MODULE_FACTORIES:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.aliases[target.id] = "cupy"
                    self.generic.add(target.id)
        for target, value in _pairs(node):
            # `self._nccl = nccl` keeps a module; `self.comm = nccl.NcclCommunicator(...)` an
            # instance, whose methods are the class's (a capitalised callee is a class)
            chain = _chain(target)
            if not (chain and chain[0] == "self" and len(chain) == 2):
                continue
            source = _chain(value.func if isinstance(value, ast.Call) else value)
            # an instance made through a generic `xp` may be NumPy's (random.Generator)
            if source and source[0] in self.aliases and source[0] not in self.generic and (
                    not isinstance(value, ast.Call) or source[-1][:1].isupper()):
                self.aliases[".".join(chain)] = self._dotted(source)
        self.generic_visit(node)

    def visit_If(self, node):
        self._branches(node)

    def visit_IfExp(self, node):
        self._branches(node)

    def _branches(self, node):
        self.visit(node.test)
        numpy_only = _numpy_test(node.test)  # True: body is NumPy-only; False: orelse is
        body = node.body if isinstance(node.body, list) else [node.body]
        orelse = node.orelse if isinstance(node.orelse, list) else [node.orelse]
        for child in ([] if numpy_only is True else body) + \
                ([] if numpy_only is False else orelse):
            self.visit(child)

    def visit_Attribute(self, node):
        chain = self._rooted(_chain(node))
        if chain:
            self.uses.append((node.lineno, self._dotted(chain), ()))
            return
        self.generic_visit(node)

    def visit_Call(self, node):
        chain = self._rooted(_chain(node.func))
        if chain and len(chain) > 1:
            keywords = tuple(k.arg for k in node.keywords if k.arg)
            self.uses.append((node.lineno, self._dotted(chain), keywords))
            for child in node.args + [k.value for k in node.keywords]:
                self.visit(child)
            return
        self.generic_visit(node)

    def _rooted(self, chain):
        """`chain` with its root an alias (a name, or `self.attr` joined into one), or None."""
        if chain and len(chain) > 2 and f"{chain[0]}.{chain[1]}" in self.aliases:
            return [f"{chain[0]}.{chain[1]}"] + chain[2:]
        return chain if chain and chain[0] in self.aliases else None

    def _dotted(self, chain):
        return ".".join([self.aliases[chain[0]]] + chain[1:])


def _pairs(node):
    """(target, value) pairs of an assignment, tuples unpacked: `a, b = x, y`."""
    for target in node.targets:
        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
            yield from zip(target.elts, node.value.elts)
        else:
            yield target, node.value


def _name(func):
    chain = _chain(func)
    return chain[-1] if chain else None


def _chain(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id] + parts[::-1]


def _numpy_test(test):
    """True for `xp is np` / `xp.__name__ == "numpy"`, False for their negations, else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    op, right = test.ops[0], test.comparators[0]
    if isinstance(right, ast.Name) and right.id == "np" and isinstance(op, (ast.Is, ast.IsNot)):
        return isinstance(op, ast.Is)
    if isinstance(right, ast.Constant) and right.value == "numpy" and \
            _chain(test.left) and _chain(test.left)[-1] == "__name__" and \
            isinstance(op, (ast.Eq, ast.NotEq)):
        return isinstance(op, ast.Eq)
    return None


def scan(source, path="<src>"):
    """(path, line, dotted name, keywords) for every CuPy use in `source`."""
    s = _Scan(path)
    s.visit(ast.parse(source))
    return [(path, line, name, kw) for line, name, kw in s.uses]


def scan_packages():
    uses = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            uses += scan(path.read_text(), str(path.relative_to(ROOT)))
    return uses


def _compiled_names(module):
    lib = next((Path(cupy.__file__).parent.parent / COMPILED[module]).parent.glob(
        Path(COMPILED[module]).name + ".*.so"))
    return set(re.findall(rb"[A-Za-z_][A-Za-z0-9_]*", lib.read_bytes()))


def resolve(dotted):
    """The CuPy object `dotted` names, or raise AttributeError naming the missing part."""
    parts = dotted.split(".")
    obj, where = importlib.import_module(parts[0]), parts[0]
    for i, part in enumerate(parts[1:], 1):
        if part.startswith("__") and part.endswith("__"):
            return obj  # module dunders (`xp.__name__`) are Python's
        if not hasattr(obj, part) and inspect.ismodule(obj):
            try:
                with warnings.catch_warnings():  # "nccl library could not be loaded": known
                    warnings.simplefilter("ignore", UserWarning)
                    importlib.import_module(f"{where}.{part}")
            except ImportError:
                pass
        if not hasattr(obj, part) and where in COMPILED and \
                not getattr(obj, "available", True):
            # the module's objects are not loadable here: look the rest up by name
            rest = parts[i:]
            if all(p.encode() in _compiled_names(where) for p in rest):
                return None
            raise AttributeError(f"{where} has no attribute {'.'.join(rest)!r}")
        if not hasattr(obj, part):
            raise AttributeError(f"{where} has no attribute {part!r}")
        obj, where = getattr(obj, part), f"{where}.{part}"
    return obj


def accepted_keywords(obj, keywords):
    """The keywords in `keywords` that `obj` does not accept."""
    if type(obj).__name__ == "ufunc" or isinstance(obj, cupy.ufunc):
        return [k for k in keywords if k not in UFUNC_KEYWORDS]
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return [f"{k} (no signature to check)" for k in keywords]
    bad = [k for k in keywords if k not in params]
    if bad and any(p.kind is p.VAR_KEYWORD for p in params.values()):
        # `def einsum(*operands, **kwargs)` takes its options by name from kwargs
        source = inspect.getsource(obj)
        bad = [k for k in bad if not re.search(rf"""kwargs\.(pop|get)\(\s*['"]{k}['"]""", source)]
    return bad


def failures(uses):
    out = set()
    for path, line, name, keywords in uses:
        try:
            obj = resolve(name)
        except AttributeError as e:
            out.add(f"{path}: {name} ({e})")
            continue
        if obj is not None and keywords:
            for k in accepted_keywords(obj, keywords):
                out.add(f"{path}: {name.replace('cupy.', 'xp.', 1)}({k}=)")
    return out


def test_every_cupy_name_and_keyword_we_use_exists():
    uses = scan_packages()
    assert len(uses) > 300  # the scan sees the ops (a broken scan would pass vacuously)
    unexpected = failures(uses) - EXPECTED
    assert not unexpected, "CuPy lacks these (NumPy-only API on a generic xp?):\n" + \
        "\n".join(sorted(unexpected))


def test_expected_breakages_are_still_there():
    # when a fix lands, its entry must go, so that a regression is caught again
    fixed = EXPECTED - failures(scan_packages())
    assert not fixed, f"fixed, remove from EXPECTED: {sorted(fixed)}"


def test_the_scan_catches_numpy_only_api():
    src = """
import numpy as np
from mytorch.backend import array_module
from cupyx.scipy import special as sp
from cupy.cuda import nccl

def f(x):
    xp = array_module(x)
    y = xp.errstate(divide="ignore") if xp is np else None
    if xp.__name__ != "numpy":
        z = xp.sort(x, stable=True)
    else:
        z = xp.lib.recfunctions
    w = xp.sum(x, axis=0, initial=0) + xp.indices((2,), sparse=True)
    n = nccl.NcclCommunicator, nccl.allreduce_typo

class Comm:
    def __init__(self):
        self._nccl = nccl
        self.comm = nccl.NcclCommunicator(2, None, 0)

    def send(self, buf):
        self.comm.allReduce(buf, self._nccl.NCCL_SUM)
        self.comm.all_reduce(buf, self._nccl.NCCL_AVERAGE_TYPO)
    return sp.erf(x), sp.no_such_function(x), xp.add(x, x, where=x), xp.nonexistent.deep
"""
    uses = scan(src, "m.py")
    assert "cupy.errstate" not in {u[2] for u in uses}  # NumPy-only branch: left out
    assert "cupy.lib.recfunctions" not in {u[2] for u in uses}
    assert failures(uses) == {
        "m.py: xp.sort(stable=)",
        "m.py: xp.sum(initial=)",
        "m.py: xp.indices(sparse=)",
        "m.py: cupy.cuda.nccl.allreduce_typo (cupy.cuda.nccl has no attribute 'allreduce_typo')",
        "m.py: cupy.cuda.nccl.NcclCommunicator.all_reduce (cupy.cuda.nccl has no attribute "
        "'NcclCommunicator.all_reduce')",
        "m.py: cupy.cuda.nccl.NCCL_AVERAGE_TYPO (cupy.cuda.nccl has no attribute "
        "'NCCL_AVERAGE_TYPO')",
        "m.py: cupyx.scipy.special.no_such_function (cupyx.scipy.special has no attribute "
        "'no_such_function')",
        "m.py: xp.add(where=)",
        "m.py: cupy.nonexistent.deep (cupy has no attribute 'nonexistent')",
    }
