"""NAdam: Adam with Nesterov momentum and a momentum schedule."""
import numpy as np

from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, _adam_moments_, _check_betas, _check_nonneg


class NAdam(Optimizer):
    """NAdam (Dozat), PyTorch's formulation, with mu_t = beta1 * (1 - 0.96**(t * psi) / 2)
    (psi = momentum_decay) and P_t = mu_1 * ... * mu_t:

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2**t)) + eps
        p -= lr * (1 - mu_t) / (1 - P_t) * g / d + lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d

    `decoupled_weight_decay=True` shrinks `p *= 1 - lr * weight_decay` instead of adding the
    L2 term to g. State per parameter: 'step', 'mu_product' (P_t, float32 as in PyTorch),
    'exp_avg' and 'exp_avg_sq'.
    """

    _float_state = ("mu_product",)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        _check_nonneg("NAdam", lr=lr, eps=eps, weight_decay=weight_decay,
                      momentum_decay=momentum_decay)
        _check_betas("NAdam", betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        psi, maximize = float(group["momentum_decay"]), group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p, state in self._params_with_state(group, "exp_avg", "exp_avg_sq", mu_product=1.0):
            step = state["step"]
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
            # PyTorch keeps the product in a float32 scalar tensor: round as it does.
            mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
            state["mu_product"] = mu_product
            coef_g = -lr * (1.0 - mu) / (1.0 - mu_product)
            coef_m = -lr * mu_next / (1.0 - mu_product * mu_next)
            ops = [p.data, p.grad.data, state["exp_avg"].data, state["exp_avg_sq"].data]
            self._update_blocks(ops, lr=lr, beta1=beta1, beta2=beta2, eps=eps, wd=wd,
                                decoupled=decoupled, maximize=maximize,
                                bias_correction2=1.0 - beta2 ** step, coef_g=coef_g, coef_m=coef_m)

    def _block(self, x, g, m, v, *, lr, beta1, beta2, eps, wd, decoupled, maximize,
               bias_correction2, coef_g, coef_m):
        xp = array_module(x)
        g = self._grad_with_weight_decay(x, g, lr=lr, wd=wd, decoupled=decoupled,
                                         maximize=maximize)
        t, d = self._scratch(x, 1), self._scratch(x, 2)
        _adam_moments_(m, v, g, beta1, beta2, t)
        xp.divide(v, bias_correction2, out=d)
        xp.sqrt(d, out=d)
        d += eps
        xp.multiply(g, coef_g, out=t)
        t /= d
        x += t
        xp.multiply(m, coef_m, out=t)
        t /= d
        x += t
