"""F.softmax, F.layer_norm, F.rms_norm, F.gelu and their nn modules on CUDA tensors take the
fused kernels of mytorch.ops.cuda_kernels, and match the reference path and PyTorch.

They run on a real GPU or on the CuPy stand-in (`make test-cuda-standin`), where numba's CUDA
simulator runs the kernels on the stand-in's (host) memory. The simulator runs one Python
thread per GPU thread, so these tests use blocks of 8 threads and small shapes: rows shorter
and longer than a block, and not a multiple of it, one row, float16 and float32.
"""
import gc
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest
import torch

import mytorch
from mytorch import nn
from mytorch.nn import functional as F
from mytorch.ops import cuda_kernels as ck

pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(),
                                reason="needs CUDA: a GPU or the CuPy stand-in")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = {np.float32: (1e-5, 1e-5), np.float16: (3e-3, 3e-3)}  # rtol, atol vs torch in float64


@pytest.fixture
def launches(monkeypatch):
    """The fused path on, in blocks of 8 threads (4 blocks at most for GELU's grid-stride
    loop); gives the list of the kernel names launched so far."""
    monkeypatch.setattr(ck, "THREADS", 8)
    monkeypatch.setattr(ck, "GRID", 4)
    monkeypatch.setattr(ck, "_enabled", True)
    names, launch = [], ck._launch

    def counted(name, *args):
        names.append(name)
        return launch(name, *args)

    monkeypatch.setattr(ck, "_launch", counted)
    return names


def data(shape, dtype, seed):
    return (np.random.default_rng(seed).standard_normal(shape) * 2).astype(dtype)


def run(fn, arrays, fused):
    """fn on CUDA tensors made from `arrays`, forward and backward (against a fixed random
    gy), with the fused kernels on or off: the output and the grads, on the host."""
    previous = ck.set_enabled(fused)
    try:
        ts = [mytorch.tensor(a, device="cuda", requires_grad=True) for a in arrays]
        y = fn(*ts)
        gy = data(y.shape, arrays[0].dtype, 99)
        y.backward(mytorch.tensor(gy, device="cuda"))
        return [t.detach().cpu().numpy() for t in (y, *(t.grad for t in ts))]
    finally:
        ck.set_enabled(previous)


def torch_run(fn, arrays, gy_dtype):
    ts = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(data(tuple(y.shape), gy_dtype, 99).astype(np.float64)))
    return [t.detach().numpy() for t in (y, *(t.grad for t in ts))]


def check(ours, theirs, arrays, launches, kernels):
    """The fused path launches `kernels` (in order), and matches the reference path and torch
    (float64) on the output and every grad."""
    dtype = arrays[0].dtype.type
    fused = run(ours, arrays, True)
    assert launches == kernels
    reference = run(ours, arrays, False)
    assert launches == kernels  # the reference path launched nothing more
    want = torch_run(theirs, arrays, dtype)
    rtol, atol = TOL[dtype]
    for got, ref, w in zip(fused, reference, want):
        assert got.dtype == dtype and got.shape == w.shape
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(got.astype(np.float64), w, rtol=rtol, atol=atol * scale)
        np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=rtol,
                                   atol=atol * scale)


SOFTMAX = [((1, 5), -1, np.float32), ((3, 19), -1, np.float32), ((2, 3, 8), 1, np.float32),
           ((4, 11), 0, np.float16), ((1, 1), -1, np.float32)]


@pytest.mark.parametrize("shape, dim, dtype", SOFTMAX)
def test_softmax_takes_the_fused_kernels(launches, shape, dim, dtype):
    check(lambda x: F.softmax(x, dim), lambda x: torch.softmax(x, dim),
          [data(shape, dtype, 0)], launches, ["softmax_fwd", "softmax_bwd"])


def test_nn_softmax_takes_the_fused_kernels(launches):
    check(nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1), [data((2, 9), np.float32, 0)],
          launches, ["softmax_fwd", "softmax_bwd"])


LAYER_NORM = [((1, 5), (5,), np.float32), ((3, 19), (19,), np.float32),
              ((2, 3, 7), (3, 7), np.float32), ((4, 11), (11,), np.float16)]


@pytest.mark.parametrize("shape, normalized, dtype", LAYER_NORM)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_takes_the_fused_kernels(launches, shape, normalized, dtype, affine):
    # "weight" (no bias): the kernel gets a temporary zero bias, which must outlive the launch
    arrays = [data(shape, dtype, 0) + 0.5]
    arrays += [data(normalized, dtype, s) for s in {"both": (1, 2), "weight": (1,),
                                                    "none": ()}[affine]]
    check(lambda x, *wb: F.layer_norm(x, normalized, *wb, eps=1e-5),
          lambda x, *wb: torch.nn.functional.layer_norm(x, normalized, *wb, eps=1e-5),
          arrays, launches, ["layer_norm_fwd", "layer_norm_bwd"])


def test_nn_layer_norm_takes_the_fused_kernels(launches):
    ours, theirs = nn.LayerNorm(10).to("cuda"), torch.nn.LayerNorm(10, dtype=torch.float64)
    x = mytorch.tensor(data((3, 10), np.float32, 0), device="cuda", requires_grad=True)
    ours(x).sum().backward()
    assert launches == ["layer_norm_fwd", "layer_norm_bwd"]
    xt = torch.tensor(x.detach().cpu().numpy().astype(np.float64), requires_grad=True)
    theirs(xt).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.cpu().numpy(), theirs.weight.grad.numpy(),
                               rtol=1e-5, atol=1e-5)


RMS_NORM = [((1, 6), (6,), np.float32), ((3, 19), (19,), np.float32), ((7,), (7,), np.float32),
            ((2, 2, 5), (2, 5), np.float32), ((4, 11), (11,), np.float16)]


@pytest.mark.parametrize("shape, normalized, dtype", RMS_NORM)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_rms_norm_takes_the_fused_kernels(launches, shape, normalized, dtype, affine):
    arrays = [data(shape, dtype, 0)] + ([data(normalized, dtype, 1)] if affine else [])
    check(lambda x, *w: F.rms_norm(x, normalized, *w, eps=1e-6),
          lambda x, *w: torch.nn.functional.rms_norm(x, normalized, *w, eps=1e-6),
          arrays, launches, ["rms_norm_fwd", "rms_norm_bwd"])


def test_nn_rms_norm_takes_the_fused_kernels(launches):
    ours = nn.RMSNorm(7, eps=1e-6).to("cuda")
    x = mytorch.tensor(data((2, 7), np.float32, 0), device="cuda", requires_grad=True)
    ours(x).sum().backward()
    assert launches == ["rms_norm_fwd", "rms_norm_bwd"]
    xt = torch.tensor(x.detach().cpu().numpy().astype(np.float64), requires_grad=True)
    torch.nn.functional.rms_norm(xt, (7,), torch.ones(7, dtype=torch.float64),
                                 1e-6).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), atol=1e-5)
    assert ours.weight.grad is not None and ours.weight.grad.shape == (7,)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape, dtype", [((5, 13), np.float32), ((1,), np.float32),
                                          ((3, 7), np.float16)])
def test_gelu_takes_the_fused_kernels(launches, approximate, shape, dtype):
    check(lambda x: F.gelu(x, approximate=approximate),
          lambda x: torch.nn.functional.gelu(x, approximate=approximate),
          [data(shape, dtype, 0)], launches, ["gelu_fwd", "gelu_bwd"])


def test_nn_gelu_takes_the_fused_kernels(launches):
    check(nn.GELU(approximate="tanh"), torch.nn.GELU(approximate="tanh"),
          [data((4, 6), np.float32, 0)], launches, ["gelu_fwd", "gelu_bwd"])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape, dtype", [((5, 13), np.float32), ((1, 1), np.float32),
                                          ((2, 3, 7), np.float32), ((3, 7), np.float16)])
def test_bias_gelu_takes_the_fused_kernels(launches, approximate, shape, dtype):
    check(lambda x, b: F.bias_gelu(x, b, approximate),
          lambda x, b: torch.nn.functional.gelu(x + b, approximate=approximate),
          [data(shape, dtype, 0), data(shape[-1:], dtype, 1)], launches,
          ["bias_gelu_fwd", "bias_gelu_bwd"])


def test_bias_gelu_double_backward_differentiates_its_composite(launches):
    a, b, gy = (data(s, np.float32, i) for i, s in enumerate([(3, 6), (6,), (3, 6)]))
    x, bias = (mytorch.tensor(v, device="cuda", requires_grad=True) for v in (a, b))
    gx, gb = mytorch.autograd.grad(F.bias_gelu(x, bias, "tanh"), (x, bias),
                                   mytorch.tensor(gy, device="cuda"), create_graph=True)
    ((gx * gx).sum() + (gb * gb).sum()).backward()
    assert launches[0] == "bias_gelu_fwd"
    xt, bt = (torch.tensor(v.astype(np.float64), requires_grad=True) for v in (a, b))
    gxt, gbt = torch.autograd.grad(torch.nn.functional.gelu(xt + bt, approximate="tanh"),
                                   (xt, bt), torch.tensor(gy.astype(np.float64)),
                                   create_graph=True)
    ((gxt * gxt).sum() + (gbt * gbt).sum()).backward()
    for got, want in ((gx, gxt), (gb, gbt), (x.grad, xt.grad), (bias.grad, bt.grad)):
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(),
                                   rtol=1e-4, atol=1e-4)


def test_bias_gelu_checks_its_input():
    x = mytorch.tensor(data((2, 5), np.float32, 0), device="cuda")
    with pytest.raises(ValueError, match=r"bias_gelu: expected input \(\.\.\., N\) and bias "
                                         r"\(N,\), got \(2, 5\) and \(4,\)"):
        F.bias_gelu(x, mytorch.zeros(4, device="cuda"))
    with pytest.raises(RuntimeError, match="bias_gelu: input is on cuda:0 but bias is on cpu"):
        F.bias_gelu(x, mytorch.zeros(5))
    with pytest.raises(ValueError, match="bias_gelu: approximate must be"):
        F.bias_gelu(x, mytorch.zeros(5, device="cuda"), approximate="erf")


def test_gpt2_mlp_on_cuda_fuses_bias_and_gelu(launches):
    # the zoo's GPT-2 MLP: c_fc's bias add and the tanh GELU are one kernel each way on CUDA,
    # with the same output and grads as the module path (fused off)
    from zoo.gpt2 import MLP, GPTConfig
    mytorch.manual_seed(0)
    mlp = MLP(GPTConfig(n_embd=8, n_head=2, n_layer=1, vocab_size=11, block_size=4,
                        dropout=0.0)).to("cuda")
    a = data((2, 3, 8), np.float32, 0)
    outs = []
    for fused in (True, False):
        previous = ck.set_enabled(fused)
        try:
            x = mytorch.tensor(a, device="cuda", requires_grad=True)
            mlp.zero_grad()
            y = mlp(x)
            y.backward(mytorch.ones_like(y))
            outs.append([t.detach().cpu().numpy() for t in (y, x.grad, mlp.c_fc.weight.grad,
                                                            mlp.c_fc.bias.grad)])
        finally:
            ck.set_enabled(previous)
    assert launches == ["bias_gelu_fwd", "bias_gelu_bwd"]
    for got, want in zip(*outs):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["softmax", "layer_norm", "rms_norm", "gelu"])
def test_double_backward_through_the_fused_path(launches, op):
    # create_graph differentiates each op's composite; the first forward is still fused
    ours = {"softmax": lambda x: F.softmax(x, -1), "layer_norm": lambda x: F.layer_norm(x, (6,)),
            "rms_norm": lambda x: F.rms_norm(x, (6,), eps=1e-6), "gelu": F.gelu}[op]
    theirs = {"softmax": lambda x: torch.softmax(x, -1),
              "layer_norm": lambda x: torch.nn.functional.layer_norm(x, (6,)),
              "rms_norm": lambda x: torch.nn.functional.rms_norm(x, (6,), eps=1e-6),
              "gelu": torch.nn.functional.gelu}[op]
    a, gy = data((3, 6), np.float32, 0), data((3, 6), np.float32, 1)
    x = mytorch.tensor(a, device="cuda", requires_grad=True)
    (g,) = mytorch.autograd.grad(ours(x), x, mytorch.tensor(gy, device="cuda"),
                                 create_graph=True)
    (g * g).sum().backward()
    assert launches[0] == f"{op}_fwd"
    xt = torch.tensor(a.astype(np.float64), requires_grad=True)
    (gt,) = torch.autograd.grad(theirs(xt), xt, torch.tensor(gy.astype(np.float64)),
                                create_graph=True)
    (gt * gt).sum().backward()
    np.testing.assert_allclose(g.detach().cpu().numpy(), gt.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_the_reference_path_is_kept_where_the_kernels_do_not_apply(launches, monkeypatch):
    x = mytorch.tensor(data((2, 5), np.float32, 0), device="cuda")
    F.layer_norm(x, (5,), mytorch.ones(5, dtype=mytorch.float64, device="cuda"))  # mixed dtypes
    F.rms_norm(x, (5,), mytorch.ones(5, dtype=mytorch.float16, device="cuda"))
    F.softmax(mytorch.tensor(data((2, 5), np.float32, 0)), -1)  # CPU
    F.gelu(mytorch.tensor(data((2, 5), np.float32, 0)))
    assert launches == []
    monkeypatch.setattr(ck, "_available", False)  # numba cannot launch here (no numba-cuda)
    F.softmax(x, -1)
    F.gelu(x)
    assert launches == []
    monkeypatch.setattr(ck, "_available", True)
    F.softmax(x, -1)
    assert launches == ["softmax_fwd"]


def test_set_enabled_false_turns_the_fused_path_off(launches):
    x = mytorch.tensor(data((2, 5), np.float32, 0), device="cuda")
    F.softmax(x, -1)
    assert launches == ["softmax_fwd"]
    previous = ck.set_enabled(False)
    try:
        for op in (lambda: F.softmax(x, -1), lambda: F.layer_norm(x, (5,)),
                   lambda: F.rms_norm(x, (5,)), lambda: F.gelu(x)):
            assert op().device == x.device
    finally:
        ck.set_enabled(previous)
    assert launches == ["softmax_fwd"]


def test_a_simulator_view_keeps_its_array_alive():
    # under the simulator a kernel gets NumPy views of device arrays; a temporary made for a
    # launch (a norm's default weights) is referenced by its view alone, and must not be freed
    from numba.cuda.core import config
    if not config.ENABLE_CUDASIM:
        pytest.skip("numba's simulator only: a real GPU takes the device arrays")
    a = mytorch.backend.cupy.arange(5, dtype=np.float32)
    alive = weakref.ref(a)
    view = ck._host_view(a)
    del a
    gc.collect()
    assert alive() is not None and type(view) is np.ndarray
    view[1] = 7.0  # the view is the device array's memory
    assert alive().get().tolist() == [0.0, 7.0, 2.0, 3.0, 4.0]


LAUNCHES = """
    import numpy as np, mytorch
    from mytorch.nn import functional as F
    from mytorch.ops import cuda_kernels as ck
    ck.THREADS, names, launch = 8, [], ck._launch
    ck._launch = lambda name, *args: (names.append(name), launch(name, *args))
    x = mytorch.tensor(np.ones((2, 5), np.float32), device="cuda", requires_grad=True)
    F.gelu(F.rms_norm(F.layer_norm(F.softmax(x, -1), (5,)), (5,))).sum().backward()
    print(names)
"""


@pytest.mark.parametrize("value, want", [
    ("0", []), ("1", ["softmax_fwd", "layer_norm_fwd", "rms_norm_fwd", "gelu_fwd", "gelu_bwd",
                      "rms_norm_bwd", "layer_norm_bwd", "softmax_bwd"])])
def test_the_environment_switch_in_a_new_process(value, want):
    # the process inherits the CUDA setting of this one (the stand-in's path, the simulator)
    env = dict(os.environ, MYTORCH_FUSED=value)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(LAUNCHES)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == str(want)
