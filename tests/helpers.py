"""One helper to hold an op to PyTorch: forward values and the gradient of every input."""
import numpy as np
import torch

import mytorch
from mytorch.autograd.engine import ENGINES

TOL = {np.float32: (1e-5, 1e-4), np.float64: (1e-10, 1e-8)}


def make_inputs(shapes, dtype=np.float32, low=-2.0, high=2.0, noncontig=False, seed=0):
    """Random arrays; with noncontig, each is a transposed (non-contiguous) view."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if noncontig and len(s) >= 2:
            a = rng.uniform(low, high, size=tuple(reversed(s))).astype(dtype).T
        else:
            a = np.asarray(rng.uniform(low, high, size=s)).astype(dtype)
        out.append(a)
    return out


def check(fn, shapes=None, torch_fn=None, inputs=None, dtype=np.float32, low=-2.0, high=2.0,
          noncontig=False, grad=True, atol=None, rtol=None, device="cpu", engines=ENGINES):
    """Run `fn` on mytorch tensors and `torch_fn` (default: `fn`) on torch tensors built from
    the same arrays; compare outputs, then the gradients of every floating input under each
    autograd engine. Returns the mytorch output."""
    torch_fn = torch_fn or fn
    arrays = inputs if inputs is not None else make_inputs(shapes, dtype, low, high, noncontig)
    d_atol, d_rtol = TOL.get(np.dtype(arrays[0].dtype).type if hasattr(arrays[0], "dtype")
                             else np.float32, TOL[np.float32])
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    wants = [grad and isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    t_in = [torch.from_numpy(np.array(a)).requires_grad_(w) if isinstance(a, np.ndarray) else a
            for a, w in zip(arrays, wants)]
    t_out = torch_fn(*t_in)
    t_outs = t_out if isinstance(t_out, (tuple, list)) else (t_out,)
    rng = np.random.default_rng(1)
    proj = [rng.standard_normal(tuple(o.shape)).astype(np.float64) for o in t_outs]
    t_grads = None
    if any(wants):
        loss = sum((o.to(torch.float64) * torch.from_numpy(p)).sum()
                   for o, p in zip(t_outs, proj) if o.dtype.is_floating_point and o.requires_grad)
        t_grads = torch.autograd.grad(loss, [t for t, w in zip(t_in, wants) if w],
                                      allow_unused=True)
    result = None
    for eng in (engines if any(wants) else engines[:1]):
        m_in = [mytorch.Tensor(a, device=device, requires_grad=w) if isinstance(a, np.ndarray)
                else a for a, w in zip(arrays, wants)]
        m_out = fn(*m_in)
        m_outs = m_out if isinstance(m_out, (tuple, list)) else (m_out,)
        assert len(m_outs) == len(t_outs), f"{len(m_outs)} outputs vs torch's {len(t_outs)}"
        for m, t in zip(m_outs, t_outs):
            assert tuple(m.shape) == tuple(t.shape), f"shape {tuple(m.shape)} vs {tuple(t.shape)}"
            tv = t.detach().numpy()
            mv = m.detach().cpu().numpy()
            assert str(mv.dtype) == str(tv.dtype).replace("torch.", ""), \
                f"dtype {mv.dtype} vs torch {t.dtype}"
            np.testing.assert_allclose(mv, tv, atol=atol, rtol=rtol, err_msg="forward")
        if any(wants):
            loss = None
            for m, p in zip(m_outs, proj):
                if m.dtype.kind == "f" and m.requires_grad:
                    term = (m.to(mytorch.float64) * mytorch.Tensor(p, device=device)).sum()
                    loss = term if loss is None else loss + term
            leaves = [x for x, w in zip(m_in, wants) if w]
            if loss is not None:
                loss.backward(engine=eng)
            for k, (x, tg) in enumerate(zip(leaves, t_grads)):
                if tg is None:
                    assert x.grad is None or np.allclose(x.grad.cpu().numpy(), 0), \
                        f"input {k}: torch has no gradient, mytorch has one"
                    continue
                assert x.grad is not None, f"input {k}: no gradient (engine {eng})"
                assert x.grad.dtype == x.dtype, f"grad dtype {x.grad.dtype} vs {x.dtype}"
                np.testing.assert_allclose(x.grad.cpu().numpy(), tg.numpy(), atol=atol * 10,
                                           rtol=rtol * 10,
                                           err_msg=f"grad of input {k} (engine {eng})")
        result = m_out
    return result
