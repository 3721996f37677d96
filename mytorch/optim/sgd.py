"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay."""
from mytorch.backend import array_module
from mytorch.optim import _fused
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
            ops = [p.data, p.grad.data]
            first = False
            if momentum != 0:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = Tensor._wrap(array_module(p.data).zeros_like(p.data))
                    first = True  # the first step sets buf = g
                ops.append(state["momentum_buffer"].data)
            if _fused.available(*ops):
                flat = [a.reshape(-1) for a in ops]
                _fused.sgd(flat[0], flat[1], flat[2] if momentum != 0 else None, lr=lr,
                           momentum=momentum, wd=wd, dampening=dampening, nesterov=nesterov,
                           maximize=maximize, first=first)
                continue
            self._update_blocks(ops, lr=lr, momentum=momentum, wd=wd, dampening=dampening,
                                nesterov=nesterov, maximize=maximize, first=first)

    def _block(self, x, g, buf=None, *, lr, momentum, wd, dampening, nesterov, maximize,
               first):
        xp = array_module(x)
        g = self._grad_with_decay(x, g, wd, maximize)
        if buf is not None:
            if first:
                buf[...] = g
            else:
                buf *= momentum
                if dampening == 0:
                    buf += g
                else:
                    buf += xp.multiply(g, 1 - dampening, out=self._scratch(x, 1))
            if nesterov:
                t = xp.multiply(buf, momentum, out=self._scratch(x, 1))
                t += g
                g = t
            else:
                g = buf
        x -= xp.multiply(g, lr, out=self._scratch(x, 1))
