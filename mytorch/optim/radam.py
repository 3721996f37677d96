"""RAdam: Adam with the variance of the adaptive step rectified."""
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, _adam_moments_, _check_betas, _check_nonneg


class RAdam(Optimizer):
    """RAdam (Liu et al.), PyTorch's formulation. With Adam's moments m and v,
    rho_inf = 2 / (1 - beta2) - 1 and rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t):

        p -= lr * m / (1 - beta1**t) * r_t * sqrt(1 - beta2**t) / (sqrt(v) + eps)  (rho_t > 5)
        p -= lr * m / (1 - beta1**t)                                  (the first few steps)

    where r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).
    `decoupled_weight_decay=True` shrinks `p *= 1 - lr * weight_decay` instead of adding the
    L2 term to g.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        _check_nonneg("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("RAdam", betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        maximize, decoupled = group["maximize"], group["decoupled_weight_decay"]
        rho_inf = 2 / (1 - beta2) - 1
        for p, state in self._params_with_state(group, "exp_avg", "exp_avg_sq"):
            step = state["step"]
            bias_correction2 = 1 - beta2 ** step
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            rect = None
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            ops = [p.data, p.grad.data, state["exp_avg"].data, state["exp_avg_sq"].data]
            self._update_blocks(ops, lr=lr, beta1=beta1, beta2=beta2, eps=eps, wd=wd,
                                decoupled=decoupled, maximize=maximize,
                                bias_correction1=1 - beta1 ** step,
                                bias_correction2_sqrt=bias_correction2 ** 0.5, rect=rect)

    def _block(self, x, g, m, v, *, lr, beta1, beta2, eps, wd, decoupled, maximize,
               bias_correction1, bias_correction2_sqrt, rect):
        xp = array_module(x)
        g = self._grad_with_weight_decay(x, g, lr=lr, wd=wd, decoupled=decoupled,
                                         maximize=maximize)
        t = self._scratch(x, 1)
        _adam_moments_(m, v, g, beta1, beta2, t)
        xp.divide(m, bias_correction1, out=t)
        t *= lr
        if rect is not None:  # the rectified adaptive step
            a = self._scratch(x, 2)
            xp.sqrt(v, out=a)
            a += eps
            xp.reciprocal(a, out=a)
            a *= bias_correction2_sqrt
            t *= a
            t *= rect
        x -= t
