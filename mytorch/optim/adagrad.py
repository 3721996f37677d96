"""Adagrad and Adadelta: per-coordinate step sizes from accumulated squared gradients."""
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, _check_nonneg, _ema_square_


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's formulation:

        g = grad + weight_decay * p;  sum += g * g
        p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)

    The accumulators start at `initial_accumulator_value` and exist from construction on,
    as in PyTorch.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        _check_nonneg("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._state_for(p, "sum", fill=initial_accumulator_value)

    def _update_group(self, group):
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        wd, maximize = float(group["weight_decay"]), group["maximize"]
        # PyTorch fills every accumulator with the constructor's value, never a group's.
        fill = self.defaults["initial_accumulator_value"]
        for p, state in self._params_with_state(group, "sum", fill=fill):
            clr = lr / (1 + (state["step"] - 1) * lr_decay)
            self._update_blocks([p.data, p.grad.data, state["sum"].data], clr=clr, eps=eps,
                                wd=wd, maximize=maximize)

    def _block(self, x, g, acc, *, clr, eps, wd, maximize):
        xp = array_module(x)
        g = self._grad_with_decay(x, g, wd, maximize)
        t, u = self._scratch(x, 1), self._scratch(x, 2)
        xp.multiply(g, g, out=t)
        acc += t
        xp.sqrt(acc, out=t)
        t += eps
        xp.multiply(g, -clr, out=u)
        u /= t
        x += u


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's formulation:

        v = rho * v + (1 - rho) * g * g
        d = sqrt(u + eps) / sqrt(v + eps) * g;  u = rho * u + (1 - rho) * d * d
        p -= lr * d

    State per parameter: 'step', 'square_avg' (v) and 'acc_delta' (u).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *,
                 maximize=False):
        _check_nonneg("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value: {rho} (must be in [0, 1])")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        wd, maximize = float(group["weight_decay"]), group["maximize"]
        for p, state in self._params_with_state(group, "square_avg", "acc_delta"):
            ops = [p.data, p.grad.data, state["square_avg"].data, state["acc_delta"].data]
            self._update_blocks(ops, lr=lr, rho=rho, eps=eps, wd=wd, maximize=maximize)

    def _block(self, x, g, sq, acc, *, lr, rho, eps, wd, maximize):
        xp = array_module(x)
        g = self._grad_with_decay(x, g, wd, maximize)
        t, d = self._scratch(x, 1), self._scratch(x, 2)
        _ema_square_(sq, g, rho, t)
        xp.add(sq, eps, out=t)
        xp.sqrt(t, out=t)  # std
        xp.add(acc, eps, out=d)
        xp.sqrt(d, out=d)
        d /= t
        d *= g  # the step, before the learning rate
        _ema_square_(acc, d, rho, t)
        d *= -lr
        x += d
