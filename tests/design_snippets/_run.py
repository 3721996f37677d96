"""Run a design-document snippet as a user would paste it: unchanged where CuPy sees a GPU,
with `import cupy as cp` replaced by `import numpy as cp` otherwise.

    python tests/design_snippets/_run.py tests/design_snippets/mnist.py
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CUPY_IMPORT = "import cupy as cp"


def gpu_available():
    try:
        import cupy
        return cupy.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken CUDA install means no GPU
        return False


def source(path, gpu=None):
    """The snippet's text, with the CuPy import swapped for NumPy when there is no GPU."""
    text = Path(path).read_text()
    if not (gpu_available() if gpu is None else gpu):
        text = text.replace(CUPY_IMPORT, "import numpy as cp")
    return text


def run(path, gpu=None, argv=None):
    """Execute the snippet as `__main__` from its own folder (so the document's
    "../../data" is the repository's data/); return its globals."""
    path = Path(path).resolve()
    scope = {"__name__": "__main__", "__file__": str(path)}
    cwd, old_argv = os.getcwd(), sys.argv
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(path.parent)
    sys.argv = [str(path)] + list(argv or [])
    try:
        exec(compile(source(path, gpu), str(path), "exec"), scope)  # noqa: S102
    finally:
        os.chdir(cwd)
        sys.argv = old_argv
    return scope


if __name__ == "__main__":
    run(sys.argv[1], argv=sys.argv[2:])
