"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay."""
from mytorch.backend import array_module
from mytorch.optim import _fused, cuda_multi_tensor
from mytorch.optim.optimizer import Optimizer, Tensor, _check_nonneg


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulation:

        g = grad + weight_decay * p;  buf = momentum * buf + (1 - dampening) * g
        p -= lr * (g + momentum * buf if nesterov else buf)

    The first step sets buf = g. `maximize=True` ascends instead. `fused` and
    `master_weights` are as in Adam: one multi-tensor kernel launch per group on CUDA where it
    fits, and fp32 master copies of float16/bfloat16 parameters ('master_param' in the state,
    with an fp32 momentum buffer).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, fused=None, master_weights=False):
        _check_nonneg("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        fused=fused)
        self.master_weights = bool(master_weights)
        super().__init__(params, defaults)
        self._check_fused()

    def _update_group(self, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        wd, dampening = float(group["weight_decay"]), float(group["dampening"])
        nesterov, maximize = group["nesterov"], group["maximize"]
        options = dict(lr=lr, momentum=momentum, wd=wd, dampening=dampening,
                       nesterov=nesterov, maximize=maximize)
        items = []  # (p, master copy or None, momentum buffer or None, first step)
        for p in group["params"]:
            if p.grad is None:
                continue
            buf, first = None, False
            # no state at all for plain SGD, as in torch
            state = self.state[p] if momentum != 0 or self._has_master(p) else None
            master = None if state is None else self._master_param(p, state)
            if momentum != 0:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = Tensor._wrap(array_module(p.data).zeros_like(
                        p.data, dtype=self._state_dtype(p)))
                    first = True  # the first step sets buf = g
                buf = state["momentum_buffer"].data
            items.append((p, master, buf, first))
        if group.get("fused") is not False:
            items = self._multi_tensor(items, options)
        for p, master, buf, first in items:
            x, g = p.data, p.grad.data
            if master is not None:  # update the fp32 copy, then round it into p
                x, g = master, g.astype(master.dtype, copy=False)
            ops = [x, g] + ([] if buf is None else [buf])
            if _fused.available(*ops):
                flat = [a.reshape(-1) for a in ops]
                _fused.sgd(flat[0], flat[1], flat[2] if buf is not None else None, lr=lr,
                           momentum=momentum, wd=wd, dampening=dampening, nesterov=nesterov,
                           maximize=maximize, first=first)
            else:
                self._update_blocks(ops, first=first, **options)
            if master is not None:
                p.data[...] = master

    def _multi_tensor(self, items, options):
        """Update the items the multi-tensor kernel takes, one launch per device and dtype
        pair; returns the others, for the per-tensor path."""
        if not cuda_multi_tensor.may_fit([item[0] for item in items]):
            return items  # the CPU's step pays nothing more
        entries = [(p.data, p.grad.data, [] if buf is None else [buf], master)
                   for p, master, buf, _ in items]
        launches, rest = cuda_multi_tensor.batches(entries)
        for idx in launches.values():
            masters = [items[i][1] for i in idx]
            cuda_multi_tensor.sgd(
                [entries[i][0] for i in idx], [entries[i][1] for i in idx],
                None if options["momentum"] == 0 else [items[i][2] for i in idx],
                masters=None if masters[0] is None else masters,
                first=[items[i][3] for i in idx], lr=options["lr"],
                momentum=options["momentum"], dampening=options["dampening"],
                weight_decay=options["wd"], nesterov=options["nesterov"],
                maximize=options["maximize"])
        return [items[i] for i in rest]

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
