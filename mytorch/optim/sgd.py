"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay."""
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, Tensor, _check_nonneg


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulation:

        g = grad + weight_decay * p;  buf = momentum * buf + (1 - dampening) * g
        p -= lr * (g + momentum * buf if nesterov else buf)

    The first step sets buf = g. `maximize=True` ascends instead.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        _check_nonneg("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        wd, dampening = float(group["weight_decay"]), float(group["dampening"])
        nesterov, maximize = group["nesterov"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = p.data, p.grad.data
            xp = array_module(x)
            if wd != 0:
                t = self._scratch(p, 0)
                if maximize:  # -g + wd * x
                    xp.multiply(x, wd, out=t)
                    t -= g
                else:
                    xp.multiply(x, wd, out=t)
                    t += g
                g = t
            elif maximize:
                g = xp.negative(g, out=self._scratch(p, 0))
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = g.copy()
                    state["momentum_buffer"] = Tensor._wrap(buf)
                else:
                    buf = buf.data
                    buf *= momentum
                    if dampening == 0:
                        buf += g
                    else:
                        t = xp.multiply(g, 1 - dampening, out=self._scratch(p, 0))
                        buf += t
                if nesterov:
                    t = self._scratch(p, 1)
                    xp.multiply(buf, momentum, out=t)
                    t += g
                    g = t
                else:
                    g = buf
            t = self._scratch(p, 1)
            xp.multiply(g, lr, out=t)
            x -= t

