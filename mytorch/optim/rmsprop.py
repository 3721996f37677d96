"""RMSprop, optionally centered and with momentum."""
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, _check_nonneg, _ema_square_, _lerp_


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
        buffers = ["square_avg"]
        if momentum > 0:
            buffers.append("momentum_buffer")
        if centered:
            buffers.append("grad_avg")
        for p, state in self._params_with_state(group, *buffers):
            ops = [p.data, p.grad.data, state["square_avg"].data,
                   state["momentum_buffer"].data if momentum > 0 else None,
                   state["grad_avg"].data if centered else None]
            self._update_blocks(ops, lr=lr, alpha=alpha, eps=eps, wd=wd, momentum=momentum,
                                maximize=maximize)

    def _block(self, x, g, sq, buf, ga, *, lr, alpha, eps, wd, momentum, maximize):
        xp = array_module(x)
        g = self._grad_with_decay(x, g, wd, maximize)

        t = self._scratch(x, 1)
        _ema_square_(sq, g, alpha, t)
        if ga is not None:  # avg = sqrt(sq - ga * ga)
            _lerp_(ga, g, 1.0 - alpha, t)
            xp.multiply(ga, ga, out=t)
            xp.subtract(sq, t, out=t)
            xp.sqrt(t, out=t)
        else:
            xp.sqrt(sq, out=t)
        t += eps
        xp.divide(g, t, out=t)
        if buf is not None:
            buf *= momentum
            buf += t
            x -= xp.multiply(buf, lr, out=t)
        else:
            t *= -lr
            x += t
