"""fp16 overflow under Accelerator(mixed_precision="fp16") is routine: the step is skipped
without NumPy RuntimeWarnings, logged once at debug level and counted in the scaler's state."""
import logging
import warnings

import numpy as np

import miniddp
import mytorch
from miniddp import Accelerator


def test_overflowing_steps_are_quiet_logged_once_and_counted(caplog):
    mytorch.manual_seed(0)
    acc = Accelerator(mixed_precision="fp16")
    net = mytorch.nn.Sequential(mytorch.nn.Linear(4, 8), mytorch.nn.GELU(),
                                mytorch.nn.Linear(8, 1))
    model, opt = acc.prepare(net, mytorch.optim.AdamW(net.parameters(), lr=1e-2))
    x = mytorch.randn(16, 4, device=acc.device)  # a GPU when there is one (or the stand-in)
    before = [p.detach().cpu().clone() for p in net.parameters()]
    caplog.set_level(logging.DEBUG, logger="mytorch.amp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):  # fp16 activations overflow (1e5 * weights > 65504), then the grads
            acc.backward(model(x * 1e5).pow(2).mean() * 1e30)
            opt.step()
            opt.zero_grad()
            assert opt.step_was_skipped
        acc.backward(model(x).pow(2).mean())
        opt.step()
        assert not opt.step_was_skipped
    state = acc.scaler.state_dict()
    assert state["skipped_steps"] == 3 and state["scale"] == 2.0 ** 16 / 8
    logged = [r for r in caplog.records if r.name == "mytorch.amp"]
    assert len(logged) == 1 and logged[0].levelno == logging.DEBUG
    assert any(not np.array_equal(p.detach().cpu().numpy(), b.numpy())
               for p, b in zip(net.parameters(), before))


def test_miniddp_keeps_its_amp_names():
    from miniddp import amp
    assert miniddp.LossScaler is mytorch.amp.LossScaler is amp.LossScaler
    assert callable(amp.forward_fp16) and callable(amp.half_weights)
