"""torch.backends flags, torch.accelerator and torch.compile: the same names, defaults and
behaviour as the installed torch (a CPU build), so scripts that touch them run unchanged."""
import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn

FLAGS = [("cuda.matmul", "allow_tf32"), ("cudnn", "allow_tf32"), ("cudnn", "benchmark"),
         ("cudnn", "deterministic"), ("cudnn", "enabled")]


def _ns(root, path):
    for part in path.split("."):
        root = getattr(root, part)
    return root


@pytest.mark.parametrize("path, name", FLAGS)
def test_backend_flags_have_torchs_defaults_and_are_settable(path, name):
    ours, theirs = _ns(mytorch.backends, path), _ns(torch.backends, path)
    assert getattr(ours, name) == getattr(theirs, name)
    old = getattr(ours, name)
    try:
        setattr(ours, name, not old)
        assert getattr(ours, name) == (not old)
    finally:
        setattr(ours, name, old)
    assert getattr(ours, name) == old


def test_availability_queries_match_a_cpu_torch():
    assert mytorch.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert mytorch.backends.mps.is_built() is False
    assert mytorch.backends.cudnn.is_available() is False
    if not mytorch.cuda.is_available():
        assert mytorch.accelerator.is_available() is torch.accelerator.is_available() is False
        assert mytorch.accelerator.current_accelerator() is None
        assert torch.accelerator.current_accelerator() is None
        assert mytorch.accelerator.device_count() == torch.accelerator.device_count() == 0
        with pytest.raises(RuntimeError, match="no accelerator"):
            mytorch.accelerator.current_device_index()
        with pytest.raises(RuntimeError):
            torch.accelerator.current_device_index()


def test_device_pick_idiom():
    dev = mytorch.accelerator.current_accelerator() or mytorch.device("cpu")
    assert mytorch.zeros(2, device=dev).device == dev


def test_float32_matmul_precision_round_trip():
    assert mytorch.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
    try:
        mytorch.set_float32_matmul_precision("high")
        assert mytorch.backends.cuda.matmul.allow_tf32 is True
        assert mytorch.get_float32_matmul_precision() == "high"
    finally:
        mytorch.set_float32_matmul_precision("highest")
    assert mytorch.backends.cuda.matmul.allow_tf32 is False
    with pytest.raises(ValueError, match="set_float32_matmul_precision"):
        mytorch.set_float32_matmul_precision("fast")


@pytest.mark.skipif(not mytorch.cuda.is_available(), reason="needs a GPU: TF32 is a CUDA mode")
def test_allow_tf32_sets_cupys_compute_type():
    from cupy._core import _routines_linalg as core  # CuPy's GEMM compute types live here
    try:
        mytorch.backends.cuda.matmul.allow_tf32 = True
        assert core.get_compute_type(np.dtype(np.float32)) == core.COMPUTE_TYPE_TF32
    finally:
        mytorch.backends.cuda.matmul.allow_tf32 = False
    assert core.get_compute_type(np.dtype(np.float32)) == core.COMPUTE_TYPE_DEFAULT


def test_compile_module_runs_eagerly_and_trains():
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 2)
    m = nn.Linear(3, 2)
    m.load_state_dict({k: mytorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    cm = mytorch.compile(m)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = cm(mytorch.tensor(x))
    ty = torch.compile(tm, backend="eager")(torch.from_numpy(x))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6)
    y.sum().backward()
    assert m.weight.grad is not None
    assert list(cm.state_dict()) == list(m.state_dict())


def test_compile_as_decorator_with_and_without_arguments():
    @mytorch.compile
    def f(x):
        return x * 2

    @mytorch.compile(mode="max-autotune", fullgraph=True, dynamic=False)
    def g(x):
        return x + 1

    assert f(mytorch.tensor([1.0])).tolist() == [2.0]
    assert g(mytorch.tensor([1.0])).tolist() == [2.0]
    h = mytorch.compile(f, backend="eager", disable=True)
    assert h(mytorch.tensor([3.0])).tolist() == [6.0]
    assert "eager" in mytorch.compile.__doc__


def test_compile_rejects_what_torch_rejects():
    with pytest.raises(RuntimeError, match="mode or options"):
        mytorch.compile(lambda x: x, mode="default", options={"a": 1})
    with pytest.raises(RuntimeError):
        torch.compile(lambda x: x, mode="default", options={"a": 1})
    with pytest.raises(RuntimeError, match="unknown mode"):
        mytorch.compile(lambda x: x, mode="fastest")
    with pytest.raises(RuntimeError, match="callable"):
        mytorch.compile(3)
    assert mytorch.compiler.is_compiling() is torch.compiler.is_compiling() is False
