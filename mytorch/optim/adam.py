"""Adam and AdamW (decoupled weight decay), with optional AMSGrad."""
import math

from mytorch.backend import array_module
from mytorch.optim import _fused
from mytorch.optim.optimizer import Optimizer, _adam_moments_, _check_betas, _check_nonneg


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's formulation:

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    `weight_decay` adds `wd * p` to the gradient (L2), unless `decoupled_weight_decay=True`
    (AdamW), which shrinks `p *= 1 - lr * wd` instead. `amsgrad` uses the running max of v.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        name = type(self).__name__
        _check_nonneg(name, lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas(name, betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        decoupled = group.get("decoupled_weight_decay", False)
        buffers = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        for p, state in self._params_with_state(group, *buffers):
            step = state["step"]
            bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
            step_size = lr / (1.0 - beta1 ** step)
            ops = [p.data, p.grad.data, state["exp_avg"].data, state["exp_avg_sq"].data]
            if amsgrad:
                ops.append(state["max_exp_avg_sq"].data)
            if _fused.adam_supported(amsgrad, beta1) and _fused.available(*ops):
                _fused.adam(*[a.reshape(-1) for a in ops], lr=lr, beta1=beta1,
                            beta2=beta2, eps=eps, wd=wd, decoupled=decoupled, maximize=maximize,
                            step_size=step_size, bias_correction2_sqrt=bias_correction2_sqrt)
                continue
            self._update_blocks(ops, lr=lr, beta1=beta1, beta2=beta2, eps=eps, wd=wd,
                                decoupled=decoupled, maximize=maximize, step_size=step_size,
                                bias_correction2_sqrt=bias_correction2_sqrt)

    def _block(self, x, g, m, v, vmax=None, *, lr, beta1, beta2, eps, wd, decoupled, maximize,
               step_size, bias_correction2_sqrt):
        xp = array_module(x)
        g = self._grad_with_weight_decay(x, g, lr=lr, wd=wd, decoupled=decoupled,
                                         maximize=maximize)
        t = self._scratch(x, 1)
        _adam_moments_(m, v, g, beta1, beta2, t)
        if vmax is not None:
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        xp.sqrt(v, out=t)
        t /= bias_correction2_sqrt
        t += eps
        xp.divide(m, t, out=t)
        t *= -step_size
        x += t


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): `p *= 1 - lr * weight_decay`
    before the Adam update; weight_decay defaults to 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
