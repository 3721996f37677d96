"""Adam and AdamW (decoupled weight decay), with optional AMSGrad."""
import math

from mytorch.backend import array_module
from mytorch.optim import _fused, cuda_multi_tensor
from mytorch.optim.optimizer import Optimizer, _adam_moments_, _check_betas, _check_nonneg


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's formulation:

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    `weight_decay` adds `wd * p` to the gradient (L2), unless `decoupled_weight_decay=True`
    (AdamW), which shrinks `p *= 1 - lr * wd` instead. `amsgrad` uses the running max of v.

    On CUDA, the parameters of a group are updated by one multi-tensor kernel launch
    (mytorch.optim.cuda_multi_tensor) wherever it fits; `fused=False` keeps the per-tensor
    path, `fused=True` demands the kernel (see `Optimizer._check_fused`).
    `master_weights=True` keeps an fp32 copy of each float16/bfloat16 parameter in its state
    ('master_param', with fp32 moments): the update runs on the copy, and the parameter gets
    it rounded to its dtype.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False, fused=None,
                 master_weights=False):
        name = type(self).__name__
        _check_nonneg(name, lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas(name, betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        self.master_weights = bool(master_weights)
        super().__init__(params, defaults)
        self._check_fused()

    def _update_group(self, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        decoupled = group.get("decoupled_weight_decay", False)
        buffers = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        options = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, wd=wd, decoupled=decoupled,
                       maximize=maximize)
        items = [(p, state, self._master_param(p, state) if self.master_weights else None)
                 for p, state in self._params_with_state(group, *buffers)]
        if group.get("fused") is not False:
            items = self._multi_tensor(items, buffers, options)
        for p, state, master in items:
            step = state["step"]
            bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
            step_size = lr / (1.0 - beta1 ** step)
            x, g = p.data, p.grad.data
            if master is not None:  # update the fp32 copy, then round it into p
                x, g = master, g.astype(master.dtype, copy=False)
            ops = [x, g] + [state[b].data for b in buffers]
            if _fused.adam_supported(amsgrad, beta1) and _fused.available(*ops):
                _fused.adam(*[a.reshape(-1) for a in ops], lr=lr, beta1=beta1,
                            beta2=beta2, eps=eps, wd=wd, decoupled=decoupled, maximize=maximize,
                            step_size=step_size, bias_correction2_sqrt=bias_correction2_sqrt)
            else:
                self._update_blocks(ops, step_size=step_size,
                                    bias_correction2_sqrt=bias_correction2_sqrt, **options)
            if master is not None:
                p.data[...] = master

    def _multi_tensor(self, items, buffers, options):
        """Update the (p, state, master) items the multi-tensor kernel takes, one launch per
        device and dtype pair; returns the others, for the per-tensor path."""
        if not cuda_multi_tensor.may_fit([item[0] for item in items]):
            return items  # the CPU's step pays nothing more
        entries = [(p.data, p.grad.data, [state[b].data for b in buffers], master)
                   for p, state, master in items]
        launches, rest = cuda_multi_tensor.batches(entries)
        for idx in launches.values():
            states = [list(column) for column in zip(*[entries[i][2] for i in idx])]
            masters = [entries[i][3] for i in idx]
            cuda_multi_tensor.adam(
                [entries[i][0] for i in idx], [entries[i][1] for i in idx], states[0],
                states[1], max_exp_avg_sqs=states[2] if len(buffers) > 2 else None,
                masters=None if masters[0] is None else masters,
                steps=[items[i][1]["step"] for i in idx], lr=options["lr"],
                beta1=options["beta1"], beta2=options["beta2"], eps=options["eps"],
                weight_decay=options["wd"], decoupled=options["decoupled"],
                maximize=options["maximize"])
        return [items[i] for i in rest]

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
                 amsgrad=False, *, maximize=False, fused=None, master_weights=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, fused=fused,
                         master_weights=master_weights)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
