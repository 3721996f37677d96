"""Optimizer step cases: AdamW and SGD with momentum on a GPT-2-small-ish parameter set
(52 tensors, ~10M floats) and on a small MLP. Gradients are fixed; one call = one step()."""
import numpy as np
import torch

import mytorch
from mytorch import optim

D, LAYERS, VOCAB, CTX = 384, 4, 8192, 256


def _gpt_shapes():
    shapes = [(VOCAB, D), (CTX, D)]
    for _ in range(LAYERS):
        shapes += [(D,), (D,), (D, 3 * D), (3 * D,), (D, D), (D,),
                   (D,), (D,), (D, 4 * D), (4 * D,), (4 * D, D), (D,)]
    return shapes + [(D,), (D,)]


def _mlp_shapes():
    return [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]


def _case(shapes, m_cls, t_cls, **kw):
    def setup():
        rng = np.random.default_rng(0)
        mp, tp = [], []
        for s in shapes:
            w = (rng.standard_normal(s) * 0.02).astype(np.float32)
            g = (rng.standard_normal(s) * 0.01).astype(np.float32)
            m = mytorch.tensor(w.copy()).requires_grad_()
            m.grad = mytorch.tensor(g.copy())
            t = torch.nn.Parameter(torch.from_numpy(w.copy()))
            t.grad = torch.from_numpy(g.copy())
            mp.append(m)
            tp.append(t)
        return m_cls(mp, **kw).step, t_cls(tp, **kw).step
    return setup


CASES = [
    ("AdamW step, GPT-2-ish 52 tensors 10.3M", _case(_gpt_shapes(), optim.AdamW,
                                                     torch.optim.AdamW, lr=1e-3)),
    ("AdamW step, MLP 784-256-256-10", _case(_mlp_shapes(), optim.AdamW, torch.optim.AdamW,
                                             lr=1e-3)),
    ("SGD momentum step, GPT-2-ish 10.3M", _case(_gpt_shapes(), optim.SGD, torch.optim.SGD,
                                                 lr=0.1, momentum=0.9)),
    ("SGD momentum step, MLP 784-256-256-10", _case(_mlp_shapes(), optim.SGD, torch.optim.SGD,
                                                    lr=0.1, momentum=0.9)),
]
