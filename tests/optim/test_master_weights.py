"""`master_weights=True` (Adam, AdamW, SGD): float16/bfloat16 parameters are updated through
fp32 master copies kept in the optimizer state, on every device and path; the CUDA kernels'
side is in tests/cuda/test_multi_tensor_cuda_path.py."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch import dtypes, optim

SHAPES = [(5, 4), (7,), (1,)]
CASES = [("AdamW", dict(lr=1e-2, weight_decay=0.1)),
         ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.01)),
         ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True))]


def grad_fn(x, k):
    return 0.5 * x + 0.3 * np.sin(x + k) + 0.1 * k


def run(name, kw, dtype, device, steps=4):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ps = [mytorch.tensor(a, device=device).to(dtype).requires_grad_() for a in arrays]
    opt = getattr(optim, name)(ps, master_weights=True, **kw)
    tp = [torch.nn.Parameter(torch.tensor(p.detach().float().cpu().numpy())) for p in ps]
    topt = getattr(torch.optim, name)(tp, **kw)
    for k in range(steps):
        for p, t in zip(ps, tp):
            x = p.detach().float().cpu().numpy().astype(np.float64)  # what p holds
            g = mytorch.tensor(grad_fn(x, k).astype(np.float32), device=device).to(dtype)
            p.grad = g
            t.grad = torch.tensor(g.float().cpu().numpy())  # the same rounded gradient
        opt.step()
        topt.step()
    return opt, ps, tp


@pytest.mark.parametrize("name, kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_the_master_copy_follows_torch_in_fp32(device, name, kw, dtype):
    dtype = getattr(dtypes, dtype)
    opt, ps, tp = run(name, kw, dtype, device)
    for p, t in zip(ps, tp):
        state = opt.state[p]
        master = state["master_param"]
        assert master.dtype == np.float32 and p.dtype == dtype
        assert all(v.dtype == np.float32 for k, v in state.items() if k != "step")
        np.testing.assert_allclose(master.cpu().numpy(), t.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        # the parameter is its master copy rounded to nearest
        np.testing.assert_array_equal(p.detach().float().cpu().numpy(),
                                      master.to(dtype).float().cpu().numpy())


def test_fp32_params_have_no_master_copy():
    p = mytorch.tensor(np.ones(3, np.float32)).requires_grad_()
    opt = optim.AdamW([p], master_weights=True)
    p.grad = mytorch.tensor(np.ones(3, np.float32))
    opt.step()
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"}


@pytest.mark.parametrize("name, kw", CASES, ids=[c[0] for c in CASES])
def test_state_dict_saves_and_restores_the_fp32_state(device, name, kw):
    opt, ps, _ = run(name, kw, dtypes.float16, device, steps=2)
    sd = opt.state_dict()
    ps2 = [mytorch.tensor(p.detach().cpu().numpy(), device=device).requires_grad_()
           for p in ps]
    opt2 = getattr(optim, name)(ps2, master_weights=True, **kw)
    opt2.load_state_dict(sd)
    for p, p2 in zip(ps, ps2):
        for key, v in opt.state[p].items():
            if key != "step":
                assert opt2.state[p2][key].dtype == np.float32  # not cast to the param's fp16
                np.testing.assert_array_equal(opt2.state[p2][key].cpu().numpy(),
                                              v.cpu().numpy())
    for opt_, ps_ in ((opt, ps), (opt2, ps2)):
        for k in (2, 3):
            for p in ps_:
                x = p.detach().float().cpu().numpy().astype(np.float64)
                p.grad = mytorch.tensor(grad_fn(x, k).astype(np.float16), device=device)
            opt_.step()
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.detach().cpu().numpy(), p2.detach().cpu().numpy())
        np.testing.assert_array_equal(opt.state[p]["master_param"].cpu().numpy(),
                                      opt2.state[p2]["master_param"].cpu().numpy())
