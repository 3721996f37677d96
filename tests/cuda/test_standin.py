"""The CuPy stand-in (tests/cuda_standin) against the real CuPy wheel, and its strictness.

The API file must be what the installed CuPy says today, and every name the stand-in defines
must exist in CuPy: a test that passes on the stand-in must not fail on a GPU for want of a
name. The strictness checks run in a subprocess with the stand-in on the path."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDIN = os.path.join(ROOT, "tests", "cuda_standin")


def _run(code, standin=True, **env):
    path = [STANDIN, ROOT] if standin else [ROOT]
    full = dict(os.environ, PYTHONPATH=os.pathsep.join(path), CUDA_STANDIN_GPUS="2", **env)
    if not standin:
        full.pop("CUDA_STANDIN_GPUS")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd="/", env=full,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_api_file_is_what_the_installed_cupy_has():
    probe = _run("import importlib.util; print(importlib.util.find_spec('cupy').origin)",
                 standin=False)
    if "site-packages" not in probe:
        pytest.skip("the real CuPy wheel is not installed (pip install cupy-cuda12x)")
    now = json.loads(_run(f"import runpy, sys; sys.argv = ['make_api', '--print']; "
                          f"runpy.run_path({os.path.join(STANDIN, 'make_api.py')!r}, "
                          f"run_name='__main__')", standin=False))
    with open(os.path.join(STANDIN, "cupy", "_real_api.json")) as f:
        assert json.load(f) == now, "CuPy changed: rerun tests/cuda_standin/make_api.py"


def test_every_name_the_standin_defines_exists_in_cupy():
    out = _run("""
        import inspect, cupy, cupyx, cupyx.scipy.special
        from cupy import _core
        api = _core.API
        missing = []
        def check(key, obj, skip=()):
            for n, v in vars(obj).items():
                if n.startswith("_") or n in skip or inspect.ismodule(v):
                    continue
                if n not in api[key]:
                    missing.append(f"{key}.{n}")
        check("cupy", cupy, {"STANDIN", "annotations"})
        check("cupy.cuda", cupy.cuda, {"annotations"})
        check("cupy.cuda.runtime", cupy.cuda.runtime, {"annotations"})
        check("cupy.random", cupy.random, {"annotations"})
        check("cupy.random.Generator", cupy.random.Generator)
        check("cupy.ndarray", cupy.ndarray, {"mT"} - set(api["cupy.ndarray"]))
        check("cupy.cuda.Device", cupy.cuda.Device)
        check("cupy.cuda.Stream", cupy.cuda.Stream)
        check("cupy.cuda.MemoryPool", cupy.cuda.MemoryPool)
        check("cupyx", cupyx, {"annotations"})
        check("cupyx.scipy.special", cupyx.scipy.special, {"annotations"})
        print(missing)
    """)
    assert out.strip() == "[]", out


def test_standin_is_strict_like_cupy():
    _run("""
        import numpy as np, pytest, cupy
        a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.asarray(a)
        with pytest.raises(TypeError, match="Implicit conversion"):
            a.__array__()
        with pytest.raises(TypeError, match="numpy.ndarray"):
            a + np.ones(3, np.float32)
        with pytest.raises(TypeError, match="numpy.ndarray"):
            cupy.maximum(a, np.zeros(3))
        with pytest.raises(TypeError, match="sparse"):
            cupy.indices((2, 3), sparse=True)  # not a CuPy keyword
        with pytest.raises(AttributeError):
            cupy.random.Generator(cupy.random.XORWOW(0)).permutation(3)  # not in CuPy
        s = a.sum()
        assert type(s) is cupy.ndarray and s.shape == ()  # 0-d, never a NumPy scalar
        assert type(a[0, 0]) is cupy.ndarray
        before = cupy._core.syncs
        assert float(s) == 15.0 and a.get().sum() == 15  # explicit host copies are counted
        assert cupy._core.syncs == before + 2
        with cupy.cuda.Device(1):
            b = cupy.ones(3)
            assert b.device.id == 1 and cupy.cuda.Device().id == 1
        assert cupy.cuda.Device().id == 0
        with pytest.raises(ValueError, match="different from the current device"):
            b + 1  # computing on device 0 with an array on device 1
        with pytest.raises(ValueError, match="different from the current device"):
            a[:1] + b
        with cupy.cuda.Device(1):
            c = cupy.asarray(a)  # a copy between devices
        assert c.device.id == 1 and cupy.asnumpy(c).tolist() == a.get().tolist()
        assert cupy.cuda.runtime.getDeviceCount() == 2
        with pytest.raises(RuntimeError, match="invalid device ordinal"):
            cupy.cuda.Device(2).use()
        np.testing.assert_array_equal(cupy.asnumpy(np.exp(a)), np.exp(a.get()))
        z = cupy.zeros((2, 3))
        assert z.T.base is z and z[0].base is z and z.T[0].base is z  # views: base is the owner
    """)


def test_cuda_visible_devices_renumbers_the_standin_gpus():
    out = _run("import cupy; print(cupy.cuda.runtime.getDeviceCount())",
               CUDA_VISIBLE_DEVICES="1")
    assert out.strip() == "1"
