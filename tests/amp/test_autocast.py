"""torch.amp on mytorch: autocast's output dtypes against torch's CPU autocast (bf16 and fp16),
values and gradients of an autocast forward against torch's, and GradScaler against torch's
GradScaler("cpu") step by step, including overflow (quiet, logged once, counted)."""
import logging
import warnings

import numpy as np
import pytest
import torch

import mytorch
from mytorch.autograd.engine import ENGINES

RNG = np.random.default_rng(0)
A = {k: RNG.standard_normal(s).astype(np.float32) for k, s in {
    "x": (4, 8), "w": (6, 8), "b": (6,), "m": (8, 8), "bm": (2, 4, 8), "img": (2, 3, 8, 8),
    "k": (4, 3, 3, 3), "seq": (2, 3, 8), "k1": (4, 3, 3), "lo": (4, 6), "z": (4, 6)}.items()}
Y = RNG.integers(0, 6, 4)


def _inputs(lib):
    t = {k: lib.tensor(v) for k, v in A.items()}
    t["lo"] = t["lo"].to(lib.bfloat16)
    t["y"] = lib.tensor(Y)
    return t


OPS = {
    "linear": lambda L, F, t: F.linear(t["x"], t["w"], t["b"]),
    "matmul": lambda L, F, t: t["x"] @ t["m"],
    "mm": lambda L, F, t: L.mm(t["x"], t["m"]),
    "bmm": lambda L, F, t: L.bmm(t["bm"], t["bm"].transpose(1, 2)),
    "addmm": lambda L, F, t: L.addmm(t["z"], t["x"], t["w"].t()),
    "baddbmm": lambda L, F, t: L.baddbmm(t["bm"], t["bm"], t["m"].expand(2, 8, 8)),
    "einsum": lambda L, F, t: L.einsum("ij,jk->ik", t["x"], t["m"]),
    "conv1d": lambda L, F, t: F.conv1d(t["seq"], t["k1"]),
    "conv2d": lambda L, F, t: F.conv2d(t["img"], t["k"]),
    "conv_transpose2d": lambda L, F, t: F.conv_transpose2d(t["img"], t["k"].transpose(0, 1)),
    "sdpa": lambda L, F, t: F.scaled_dot_product_attention(t["bm"], t["bm"], t["bm"]),
    "prelu": lambda L, F, t: F.prelu(t["x"], L.tensor([0.1])),
    "softmax": lambda L, F, t: F.softmax(t["x"], -1),
    "log_softmax": lambda L, F, t: F.log_softmax(t["x"], -1),
    "layer_norm": lambda L, F, t: F.layer_norm(t["x"], (8,)),
    "group_norm": lambda L, F, t: F.group_norm(t["img"], 3),
    "cross_entropy": lambda L, F, t: F.cross_entropy(F.linear(t["x"], t["w"]), t["y"]),
    "nll_loss": lambda L, F, t: F.nll_loss(F.linear(t["x"], t["w"]), t["y"]),
    "mse_loss": lambda L, F, t: F.mse_loss(F.linear(t["x"], t["w"]), t["z"]),
    "l1_loss": lambda L, F, t: F.l1_loss(F.linear(t["x"], t["w"]), t["z"]),
    "smooth_l1": lambda L, F, t: F.smooth_l1_loss(F.linear(t["x"], t["w"]), t["z"]),
    "bce_logits": lambda L, F, t: F.binary_cross_entropy_with_logits(F.linear(t["x"], t["w"]),
                                                                     t["z"].sigmoid()),
    "kl_div": lambda L, F, t: F.kl_div(F.linear(t["x"], t["w"]), t["z"].abs(),
                                       reduction="batchmean"),
    "cdist": lambda L, F, t: L.cdist(t["x"], t["x"]),
    "gelu_low": lambda L, F, t: F.gelu(t["lo"]),
    "exp_low": lambda L, F, t: t["lo"].exp(),
    "sum_low": lambda L, F, t: t["lo"].sum(),
    "mean_low": lambda L, F, t: t["lo"].mean(),
    "softmax_low": lambda L, F, t: F.softmax(t["lo"], -1),
    "layer_norm_low": lambda L, F, t: F.layer_norm(t["lo"], (6,)),
    "cross_entropy_low": lambda L, F, t: F.cross_entropy(t["lo"], t["y"]),
    "mse_low": lambda L, F, t: F.mse_loss(t["lo"], t["z"]),
    "add_mixed": lambda L, F, t: t["lo"] + t["z"],
    "cat_mixed": lambda L, F, t: L.cat([t["lo"], t["z"]]),
    "stack_mixed": lambda L, F, t: L.stack([t["lo"], t["z"]]),
    "embedding": lambda L, F, t: F.embedding(t["y"], t["w"]),
    "relu": lambda L, F, t: F.relu(t["x"]),
    "float64_linear": lambda L, F, t: F.linear(t["x"].double(), t["w"].double()),
}


def _run(lib, op, dtype, enabled=True):
    t = _inputs(lib)
    with lib.autocast("cpu", dtype=getattr(lib, dtype), enabled=enabled):
        return OPS[op](lib, lib.nn.functional, t)


def _name(dt):
    return str(dt).replace("torch.", "")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_output_dtypes_follow_torch_cpu_autocast(op, dtype):
    try:
        want = _name(_run(torch, op, dtype).dtype)
    except RuntimeError:  # torch's CPU fp16 autocast rejects mixed cat/stack
        with pytest.raises(RuntimeError):
            _run(torch, op, dtype)
        want = None
    got = _run(mytorch, op, dtype)
    if want is not None:
        assert str(got.dtype) == want


@pytest.mark.parametrize("op", ["linear", "conv2d", "softmax", "cross_entropy"])
def test_disabled_autocast_changes_nothing(op):
    plain = OPS[op](mytorch, mytorch.nn.functional, _inputs(mytorch))
    off = _run(mytorch, op, "bfloat16", enabled=False)
    assert off.dtype == plain.dtype == np.float32
    np.testing.assert_array_equal(off.numpy(), plain.numpy())


def test_nesting_decorator_and_state():
    x, w = mytorch.randn(2, 3), mytorch.randn(4, 3)
    assert not mytorch.amp.is_autocast_enabled("cpu")
    with mytorch.autocast("cpu"):
        assert mytorch.amp.is_autocast_enabled("cpu")
        assert mytorch.amp.get_autocast_dtype("cpu") == mytorch.bfloat16
        assert (x @ w.t()).dtype == mytorch.bfloat16
        with mytorch.autocast("cpu", enabled=False):
            assert (x @ w.t()).dtype == mytorch.float32
        with mytorch.autocast("cpu", dtype=mytorch.float16):
            assert (x @ w.t()).dtype == mytorch.float16
        assert (x @ w.t()).dtype == mytorch.bfloat16
        with mytorch.autocast("cuda"):  # another device type: CPU tensors untouched by it
            assert (x @ w.t()).dtype == mytorch.bfloat16
    assert (x @ w.t()).dtype == mytorch.float32

    @mytorch.autocast("cpu", dtype=mytorch.float16)
    def f(a, b):
        return a @ b

    assert f(x, w.t()).dtype == mytorch.float16
    assert (x @ w.t()).dtype == mytorch.float32
    for bad in (dict(device_type="tpu"), dict(device_type="cpu", dtype=mytorch.float64)):
        with pytest.raises(RuntimeError, match="autocast"):
            mytorch.autocast(**bad)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("engine", ENGINES)
def test_autocast_forward_and_gradients_match_torch(dtype, engine):
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.GELU(), torch.nn.LayerNorm(32),
                                  torch.nn.Linear(32, 6))
    m_model = mytorch.nn.Sequential(mytorch.nn.Linear(8, 32), mytorch.nn.GELU(),
                                    mytorch.nn.LayerNorm(32), mytorch.nn.Linear(32, 6))
    m_model.load_state_dict({k: mytorch.tensor(v.detach().numpy())
                             for k, v in t_model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32)
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        t_out = t_model(torch.from_numpy(x))
        t_loss = torch.nn.functional.cross_entropy(t_out, torch.from_numpy(Y.repeat(4)))
    with mytorch.autocast("cpu", dtype=getattr(mytorch, dtype)):
        m_out = m_model(mytorch.tensor(x))
        m_loss = mytorch.nn.functional.cross_entropy(m_out, mytorch.tensor(Y.repeat(4)))
    assert str(m_out.dtype) == _name(t_out.dtype) and m_loss.dtype == mytorch.float32
    tol = 2e-2 if dtype == "bfloat16" else 3e-3
    np.testing.assert_allclose(m_out.float().detach().numpy(), t_out.float().detach().numpy(),
                               atol=tol * 4, rtol=tol)
    t_loss.backward()
    m_loss.backward(engine=engine)
    for (name, p), tp in zip(m_model.named_parameters(), t_model.parameters()):
        assert p.grad.dtype == mytorch.float32, name  # fp32 parameters keep fp32 gradients
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=tol, rtol=5 * tol,
                                   err_msg=name)


# ---------------------------------------------------------------- GradScaler

def _pair(init_scale=2.0 ** 4, growth_interval=3):
    torch.manual_seed(0)
    t_model = torch.nn.Linear(4, 2)
    m_model = mytorch.nn.Linear(4, 2)
    m_model.load_state_dict({k: mytorch.tensor(v.detach().numpy())
                             for k, v in t_model.state_dict().items()})
    kw = dict(init_scale=init_scale, growth_interval=growth_interval)
    return (t_model, torch.optim.SGD(t_model.parameters(), lr=0.1),
            torch.amp.GradScaler("cpu", **kw),
            m_model, mytorch.optim.SGD(m_model.parameters(), lr=0.1),
            mytorch.amp.GradScaler("cpu", **kw))


def test_grad_scaler_follows_torch_through_overflow_and_growth(caplog):
    t_model, t_opt, t_sc, m_model, m_opt, m_sc = _pair()
    x = np.random.default_rng(2).standard_normal((8, 4)).astype(np.float32)
    # steps 2 and 5 overflow (an inf in the loss); the others are clean
    factors = [1.0, 1.0, np.inf, 1.0, 1.0, np.nan, 1.0, 1.0, 1.0, 1.0]
    caplog.set_level(logging.DEBUG, logger="mytorch.amp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning on overflow
        for f in factors:
            for model, opt, sc, lib in ((t_model, t_opt, t_sc, torch),
                                        (m_model, m_opt, m_sc, mytorch)):
                loss = (model(lib.tensor(x)) ** 2).mean() * float(f)
                sc.scale(loss).backward()
                sc.unscale_(opt)
                sc.step(opt)
                sc.update()
                opt.zero_grad()
            assert m_sc.get_scale() == t_sc.get_scale()
            for (name, p), tp in zip(m_model.named_parameters(), t_model.parameters()):
                np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(),
                                           rtol=1e-5, atol=1e-6, err_msg=name)
    assert m_sc.skipped_steps == 2
    state, t_state = m_sc.state_dict(), t_sc.state_dict()
    assert {k: state[k] for k in t_state} == t_state
    logged = [r for r in caplog.records if r.name == "mytorch.amp"]
    assert len(logged) == 1 and logged[0].levelno == logging.DEBUG


def test_grad_scaler_state_dict_crosses_with_torch():
    t_sc = torch.amp.GradScaler("cpu", init_scale=128.0, growth_interval=7)
    m_sc = mytorch.amp.GradScaler("cpu")
    m_sc.load_state_dict(t_sc.state_dict())
    assert m_sc.get_scale() == 128.0 and m_sc.get_growth_interval() == 7
    back = torch.amp.GradScaler("cpu")
    back.load_state_dict(m_sc.state_dict())
    assert back.get_scale() == 128.0 and back.get_growth_interval() == 7


def test_disabled_grad_scaler_is_a_pass_through():
    m = mytorch.nn.Linear(3, 1)
    opt = mytorch.optim.SGD(m.parameters(), lr=0.1)
    sc = mytorch.amp.GradScaler("cpu", enabled=False)
    loss = m(mytorch.ones(2, 3)).sum()
    assert sc.scale(loss) is loss
    loss.backward()
    before = m.weight.detach().clone()
    sc.step(opt)
    sc.update()
    assert not np.array_equal(m.weight.detach().numpy(), before.numpy())
    assert sc.get_scale() == torch.amp.GradScaler("cpu", enabled=False).get_scale() == 1.0
    assert sc.state_dict() == torch.amp.GradScaler("cpu", enabled=False).state_dict() == {}


def test_cuda_scaler_without_a_gpu_disables_itself_as_torch():
    if mytorch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        sc = mytorch.amp.GradScaler("cuda")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        tsc = torch.amp.GradScaler("cuda")
    assert sc.is_enabled() is tsc.is_enabled() is False
    from mytorch.cuda.amp import GradScaler, autocast
    with pytest.warns(UserWarning):
        assert not GradScaler().is_enabled()
    with autocast():
        assert mytorch.amp.get_autocast_dtype("cuda") == mytorch.float16


def test_grad_scaler_misuse_errors():
    m = mytorch.nn.Linear(3, 1)
    opt = mytorch.optim.SGD(m.parameters(), lr=0.1)
    sc = mytorch.amp.GradScaler("cpu")
    with pytest.raises(RuntimeError, match="no inf checks"):
        sc.update()
    sc.scale(m(mytorch.ones(2, 3)).sum()).backward()
    sc.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        sc.unscale_(opt)
    half = mytorch.nn.Linear(3, 1).half()
    opt16 = mytorch.optim.SGD(half.parameters(), lr=0.1)
    half(mytorch.ones(2, 3, dtype=mytorch.float16)).sum().backward()
    with pytest.raises(ValueError, match="FP16 gradients"):
        mytorch.amp.GradScaler("cpu").unscale_(opt16)
