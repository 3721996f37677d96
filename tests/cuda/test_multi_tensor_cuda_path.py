"""mytorch.optim.Adam, AdamW and SGD on CUDA parameters take the multi-tensor kernels of
mytorch.optim.cuda_multi_tensor: one launch per param group per step, the same numbers as
the per-tensor reference path to the last bit, and torch.optim's within float32 rounding.

They run on a real GPU or on the CuPy stand-in, where numba's CUDA simulator runs the kernels
on the stand-in's (host) memory, one Python thread per GPU thread: blocks of 8 threads and
chunks of 64 elements, so a tensor of 1025 elements spans 17 blocks.
"""
import numpy as np
import pytest
import torch

import mytorch
from mytorch import optim
from mytorch.ops import cuda_kernels as ck
from mytorch.optim import cuda_multi_tensor as mt

pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not mytorch.cuda.is_available(),
                                reason="needs CUDA: a GPU or the CuPy stand-in")

SHAPES = [(1,), (7,), (1025,), (3, 5), (2, 1, 3)]
STEPS = 4


@pytest.fixture
def launches(monkeypatch):
    """The fused path on, in blocks of 8 threads over chunks of 64 elements; gives the list
    of the kernels launched so far, with the number of tensors each updated."""
    monkeypatch.setattr(mt, "THREADS", 8)
    monkeypatch.setattr(mt, "CHUNK", 64)
    monkeypatch.setattr(ck, "_enabled", True)
    calls, launch = [], mt._launch

    def counted(name, dtypes, grid, threads, tensors, *args):
        calls.append((name, tensors.shape[0]))
        return launch(name, dtypes, grid, threads, tensors, *args)

    monkeypatch.setattr(mt, "_launch", counted)
    return calls


def grad_fn(x, k):
    # depends on the parameter (errors feed back) and on the step
    return 0.5 * x + 0.3 * np.sin(x + k) + 0.1 * k


def initial(dtype, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def train(name, arrays, kw, fused, steps=STEPS, groups=None, device="cuda"):
    """`steps` steps of optim.<name>(**kw) from `arrays`, the gradient of each step computed
    on the host from the parameter (grad_fn) in the parameter's dtype. Returns the params
    (host arrays) and the optimizer."""
    previous = ck.set_enabled(fused)
    try:
        ps = [mytorch.tensor(a.copy(), device=device).requires_grad_() for a in arrays]
        params = ps if groups is None else [{"params": [ps[i] for i in g], **o}
                                            for g, o in groups]
        opt = getattr(optim, name)(params, **kw)
        step(opt, ps, 0, steps)
        return [p.detach().cpu().numpy() for p in ps], opt, ps
    finally:
        ck.set_enabled(previous)


def step(opt, ps, start, steps):
    for k in range(start, start + steps):
        for p in ps:
            x = p.detach().cpu().numpy()
            p.grad = mytorch.tensor(grad_fn(x.astype(np.float64), k).astype(x.dtype),
                                    device=p.device)
        opt.step()


def torch_train(name, arrays, kw, steps=STEPS, groups=None, grad_dtype=None):
    """The same in torch (float32 or float64 parameters); `grad_dtype` rounds each gradient
    to it first (the float16 gradients of the master-weight runs)."""
    ps = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    params = ps if groups is None else [{"params": [ps[i] for i in g], **o} for g, o in groups]
    opt = getattr(torch.optim, name)(params, **kw)
    for k in range(steps):
        for p in ps:
            x = p.detach().numpy()
            if grad_dtype is not None:  # the fp16 parameter the gradient was computed from
                x = x.astype(grad_dtype)
            g = grad_fn(x.astype(np.float64), k).astype(x.dtype)
            p.grad = torch.tensor(g.astype(np.float32) if grad_dtype else g)
        opt.step()
    return [p.detach().numpy() for p in ps]


CASES = [("AdamW", dict(lr=1e-2, weight_decay=0.1)),
         ("Adam", dict(lr=1e-2, weight_decay=0.05, amsgrad=True)),
         ("Adam", dict(lr=1e-2, betas=(0.3, 0.9), maximize=True)),  # torch.lerp's other form
         ("AdamW", dict(lr=1e-2, amsgrad=True, maximize=True, eps=1e-6)),
         ("SGD", dict(lr=0.05)),
         ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
         ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.25, maximize=True))]


def ids(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("name, kw", CASES, ids=[ids(c) for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_launch_per_group_matches_the_reference_and_torch(launches, name, kw, dtype):
    arrays = initial(dtype)
    fused, _, _ = train(name, arrays, kw, fused=True)
    kernel = "adam" if name != "SGD" else "sgd"
    assert launches == [(kernel, len(SHAPES))] * STEPS
    reference, _, _ = train(name, arrays, kw, fused=False)
    assert len(launches) == STEPS  # the reference path launched nothing
    want = torch_train(name, arrays, kw)
    for got, ref, w in zip(fused, reference, want):
        assert got.dtype == dtype and got.shape == w.shape
        np.testing.assert_array_equal(got, ref)  # the same arithmetic, to the last bit
        np.testing.assert_allclose(got, w, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-13)


def test_each_param_group_is_one_launch_with_its_own_options(launches):
    arrays = initial(np.float32)
    groups = [([0, 2], {}), ([1, 3, 4], {"lr": 0.1, "weight_decay": 0.0})]
    kw = dict(lr=1e-2, weight_decay=0.1)
    fused, _, _ = train("AdamW", arrays, kw, fused=True, steps=2, groups=groups)
    assert launches == [("adam", 2), ("adam", 3)] * 2
    reference, _, _ = train("AdamW", arrays, kw, fused=False, steps=2, groups=groups)
    for got, ref in zip(fused, reference):
        np.testing.assert_array_equal(got, ref)


def test_params_without_a_grad_are_left_out_and_steps_may_differ(launches):
    # tensor 0 has no gradient in the first two steps: then it joins with step count 1 while
    # the others are at 3 (per-tensor bias corrections)
    arrays = initial(np.float32)

    def run(fused):
        previous = ck.set_enabled(fused)
        try:
            ps = [mytorch.tensor(a.copy(), device="cuda").requires_grad_() for a in arrays]
            opt = optim.Adam(ps, lr=1e-2)
            step(opt, ps[1:], 0, 2)
            step(opt, ps, 2, 2)
            return [p.detach().cpu().numpy() for p in ps], opt, ps
        finally:
            ck.set_enabled(previous)

    fused, opt, ps = run(True)
    assert launches == [("adam", 4)] * 2 + [("adam", 5)] * 2
    assert opt.state[ps[0]]["step"] == 2 and opt.state[ps[1]]["step"] == 4
    reference, _, _ = run(False)
    for got, ref in zip(fused, reference):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name, kw", [CASES[0], CASES[1], CASES[5]],
                         ids=[ids(c) for c in (CASES[0], CASES[1], CASES[5])])
def test_fp16_params_with_fp32_master_weights(launches, name, kw):
    # the kernel updates the fp32 master (and fp32 state) and writes the fp16 parameter in the
    # same launch: its master follows torch's fp32 run on the same (fp16-rounded) gradients
    arrays = initial(np.float16)
    kw = dict(kw, master_weights=True)
    fused, opt, ps = train(name, arrays, kw, fused=True)
    assert launches == [("adam" if name != "SGD" else "sgd", len(SHAPES))] * STEPS
    masters = [opt.state[p]["master_param"] for p in ps]
    reference, ropt, rps = train(name, arrays, kw, fused=False)
    tkw = {k: v for k, v in kw.items() if k != "master_weights"}
    want = torch_train(name, [a.astype(np.float32) for a in arrays], tkw,
                       grad_dtype=np.float16)
    for i, (got, ref, w) in enumerate(zip(fused, reference, want)):
        master = masters[i].cpu().numpy()
        assert got.dtype == np.float16 and master.dtype == np.float32
        np.testing.assert_array_equal(got, master.astype(np.float16))
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(master, ropt.state[rps[i]]["master_param"].cpu().numpy())
        np.testing.assert_allclose(master, w, rtol=1e-5, atol=1e-6)
    state = opt.state[ps[2]]
    assert all(v.dtype == np.float32 for k, v in state.items() if k != "step")


def test_small_updates_add_up_in_the_master_copy(launches):
    # 1 + 1e-4 is 1 in fp16: without a master copy SGD never moves the weight
    x = np.ones(5, np.float16)
    p = mytorch.tensor(x, device="cuda").requires_grad_()
    opt = optim.SGD([p], lr=1e-4, master_weights=True)
    for _ in range(20):
        p.grad = mytorch.tensor(-np.ones(5, np.float16), device="cuda")
        opt.step()
    assert launches == [("sgd", 1)] * 20
    master = opt.state[p]["master_param"].cpu().numpy()
    np.testing.assert_allclose(master, 1.002, rtol=1e-6)
    np.testing.assert_array_equal(p.detach().cpu().numpy(), master.astype(np.float16))


def test_fp16_params_without_master_weights_take_the_reference_path(launches):
    # their state is fp16 and the reference path computes in fp16: the kernels leave them be
    kw = dict(lr=1e-2, eps=1e-3)  # eps=1e-8 is 0 in fp16
    fused, _, _ = train("AdamW", initial(np.float16), kw, fused=True, steps=2)
    assert launches == []
    reference, _, _ = train("AdamW", initial(np.float16), kw, fused=False, steps=2)
    for got, ref in zip(fused, reference):
        assert got.dtype == np.float16 and np.isfinite(got).all()
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name, kw", [CASES[1], CASES[5]], ids=[ids(CASES[1]), ids(CASES[5])])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_state_dict_resume_gives_identical_steps(launches, name, kw, dtype):
    kw = dict(kw, master_weights=dtype == np.float16)
    arrays = initial(dtype)
    _, opt, ps = train(name, arrays, kw, fused=True, steps=2)
    sd = opt.state_dict()
    if dtype == np.float16:  # the master copies are saved, in fp32
        assert all(s["master_param"].dtype == np.float32 for s in sd["state"].values())
    ps2 = [mytorch.tensor(p.detach().cpu().numpy(), device="cuda").requires_grad_()
           for p in ps]
    opt2 = getattr(optim, name)(ps2, **kw)
    opt2.load_state_dict(sd)
    for p, p2 in zip(ps, ps2):
        for key, v in opt.state[p].items():
            v2 = opt2.state[p2][key]
            if key == "step":
                assert v2 == v
            else:
                assert v2.dtype == v.dtype and v2.data is not v.data
                np.testing.assert_array_equal(v2.cpu().numpy(), v.cpu().numpy())
    launches.clear()
    previous = ck.set_enabled(True)
    try:
        step(opt, ps, 2, 2)
        step(opt2, ps2, 2, 2)
    finally:
        ck.set_enabled(previous)
    assert len(launches) == 4
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.detach().cpu().numpy(), p2.detach().cpu().numpy())


def test_the_switch_and_fused_false_keep_the_reference_path(launches):
    arrays = initial(np.float32)
    train("AdamW", arrays, dict(lr=1e-2), fused=False, steps=1)
    train("AdamW", arrays, dict(lr=1e-2, fused=False), fused=True, steps=1)
    train("SGD", arrays, dict(lr=1e-2, momentum=0.9, fused=False), fused=True, steps=1)
    assert launches == []
    train("SGD", arrays, dict(lr=1e-2, fused=True), fused=True, steps=1)
    assert launches == [("sgd", len(SHAPES))]


def test_fused_true_needs_cuda_params_the_kernels_take():
    cpu = [mytorch.tensor(np.ones(3, np.float32)).requires_grad_()]
    with pytest.raises(ValueError, match=r"AdamW: fused=True needs CUDA float16/32/64 "
                                         r"parameters .* parameter 0 is float32 on cpu"):
        optim.AdamW(cpu, fused=True)
    half = [mytorch.tensor(np.ones(3, np.float16), device="cuda").requires_grad_()]
    with pytest.raises(ValueError, match="float16 with master_weights=True"):
        optim.SGD(half, lr=0.1, fused=True)
    optim.SGD(half, lr=0.1, fused=True, master_weights=True)  # accepted


def test_a_group_on_the_second_gpu(launches):
    if mytorch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs (CUDA_STANDIN_GPUS=2 on the stand-in)")
    arrays = initial(np.float32)
    kw = dict(lr=0.05, momentum=0.9)
    fused, _, ps = train("SGD", arrays, kw, fused=True, steps=2, device="cuda:1")
    assert launches == [("sgd", len(SHAPES))] * 2 and ps[0].device.index == 1
    reference, _, _ = train("SGD", arrays, kw, fused=False, steps=2, device="cuda:1")
    for got, ref in zip(fused, reference):
        np.testing.assert_array_equal(got, ref)


def test_a_step_does_not_wait_on_the_gpu(launches, host_syncs):
    # the tables go host -> device; nothing comes back (the stand-in counts device -> host)
    ps = [mytorch.tensor(a, device="cuda").requires_grad_() for a in initial(np.float16)]
    opt = optim.AdamW(ps, lr=1e-2, amsgrad=True, master_weights=True)
    for p in ps:
        p.grad = mytorch.ones_like(p)
    before = host_syncs()
    opt.step()
    opt.step()
    assert host_syncs() == before and launches == [("adam", len(SHAPES))] * 2
