"""Adamax: Adam with the infinity norm of past gradients in place of the second moment."""
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, _check_betas, _check_nonneg, _lerp_


class Adamax(Optimizer):
    """Adamax (Kingma & Ba), PyTorch's formulation:

        m = beta1 * m + (1 - beta1) * g;  u = max(beta2 * u, |g| + eps)
        p -= lr / (1 - beta1**t) * m / u

    State per parameter: 'step', 'exp_avg' (m) and 'exp_inf' (u).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False):
        _check_nonneg("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("Adamax", betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        maximize = group["maximize"]
        for p, state in self._params_with_state(group, "exp_avg", "exp_inf"):
            clr = lr / (1 - beta1 ** state["step"])
            ops = [p.data, p.grad.data, state["exp_avg"].data, state["exp_inf"].data]
            self._update_blocks(ops, clr=clr, beta1=beta1, beta2=beta2, eps=eps, wd=wd,
                                maximize=maximize)

    def _block(self, x, g, m, u, *, clr, beta1, beta2, eps, wd, maximize):
        xp = array_module(x)
        g = self._grad_with_decay(x, g, wd, maximize)
        t = self._scratch(x, 1)
        _lerp_(m, g, 1 - beta1, t)
        u *= beta2
        xp.abs(g, out=t)
        t += eps
        xp.maximum(u, t, out=u)
        xp.multiply(m, -clr, out=t)
        t /= u
        x += t
