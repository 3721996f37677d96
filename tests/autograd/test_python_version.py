"""The declared Python versions: the recursive engine relies on CPython 3.11+, where
Python-to-Python calls use no C stack, so a 10,000-op chain backpropagates on a small thread
stack. pyproject must not declare a version where that would crash."""
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import mytorch
from mytorch.autograd.engine import ENGINES

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_requires_the_version_the_engine_needs():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert spec.replace(" ", "") == ">=3.11"
    assert sys.version_info >= (3, 11)


@pytest.mark.parametrize("engine", ENGINES)
def test_ten_thousand_op_chain_on_a_small_thread_stack(engine):
    # A child process, so a C-stack overflow would show as a dead child, not a dead test run.
    code = textwrap.dedent(f"""
        import threading
        import mytorch

        def run():
            x = mytorch.tensor([2.0], requires_grad=True)
            y = x
            for i in range(10_000):
                y = (y * 1.0001).tanh() * 1.5 if i % 2 else y + 0.5
            y.sum().backward(engine={engine!r})
            out.append(float(x.grad.item()))

        out = []
        threading.stack_size(1 << 20)  # 1 MB: far too small for 10,000 C-level frames
        t = threading.Thread(target=run)
        t.start()
        t.join()
        print(out[0])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    x = mytorch.tensor([2.0], requires_grad=True)
    y = x
    for i in range(10_000):
        y = (y * 1.0001).tanh() * 1.5 if i % 2 else y + 0.5
    y.sum().backward(engine="topological")
    assert float(proc.stdout.split()[-1]) == pytest.approx(x.grad.item(), rel=1e-6)
