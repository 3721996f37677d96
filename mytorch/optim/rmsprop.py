"""RMSprop, optionally centered and with momentum."""
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, Tensor, _check_nonneg


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's formulation:

        v = alpha * v + (1 - alpha) * g * g;  avg = sqrt(v - mean_g**2 if centered else v) + eps
        buf = momentum * buf + g / avg;  p -= lr * buf      (momentum > 0)
        p -= lr * g / avg                                     (otherwise)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        _check_nonneg("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                      momentum=momentum)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        wd, momentum = float(group["weight_decay"]), float(group["momentum"])
        centered, maximize = group["centered"], group["maximize"]
        w = 1.0 - alpha
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = p.data, p.grad.data
            xp = array_module(x)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = Tensor._wrap(xp.zeros_like(x))
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = Tensor._wrap(xp.zeros_like(x))
            if centered and "grad_avg" not in state:
                state["grad_avg"] = Tensor._wrap(xp.zeros_like(x))
            state["step"] += 1

            if wd != 0:  # g + wd * x (or -g + wd * x when maximizing)
                t = xp.multiply(x, wd, out=self._scratch(p, 0))
                if maximize:
                    t -= g
                else:
                    t += g
                g = t
            elif maximize:
                g = xp.negative(g, out=self._scratch(p, 0))

            sq = state["square_avg"].data
            t = self._scratch(p, 1)
            sq *= alpha
            xp.multiply(g, w, out=t)
            t *= g
            sq += t
            if centered:  # ga.lerp_(g, 1 - alpha); avg = sqrt(sq - ga * ga)
                ga = state["grad_avg"].data
                xp.subtract(g, ga, out=t)
                if w < 0.5:
                    t *= w
                    ga += t
                else:
                    t *= alpha
                    xp.subtract(g, t, out=ga)
                xp.multiply(ga, ga, out=t)
                xp.subtract(sq, t, out=t)
                xp.sqrt(t, out=t)
            else:
                xp.sqrt(sq, out=t)
            t += eps
            xp.divide(g, t, out=t)
            if momentum > 0:
                buf = state["momentum_buffer"].data
                buf *= momentum
                buf += t
                xp.multiply(buf, lr, out=t)
                x -= t
            else:
                t *= -lr
                x += t
