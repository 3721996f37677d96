"""L-BFGS with an optional strong-Wolfe line search (closure-based, one parameter group)."""
from copy import deepcopy
from functools import partial

import numpy as np

from mytorch import backend
from mytorch.autograd.function import bump_version
from mytorch.autograd.grad_mode import enable_grad
from mytorch.backend import array_module
from mytorch.optim.optimizer import Optimizer, Tensor

# State holding flat vectors over all parameters (or lists of them), checked on load.
_FLAT_STATE = ("d", "prev_flat_grad", "old_dirs", "old_stps")


class LBFGS(Optimizer):
    """L-BFGS, PyTorch's formulation (after minFunc). Each `step(closure)` runs up to
    `max_iter` iterations and `max_eval` closure calls and returns the first loss:

        d = -H g  (two-loop recursion over the last `history_size` pairs s, y)
        x += t * d,  t = lr, or found by the strong-Wolfe line search

    The closure re-evaluates the model, calls backward and returns the loss. All parameters
    are treated as one flat vector, so there is a single group and all state (`d`, `t`,
    `old_dirs`, `old_stps`, `ro`, `H_diag`, `prev_flat_grad`, `prev_loss`, `al`, `n_iter`,
    `func_evals`) is kept under the first parameter, as PyTorch does.

    >>> opt = LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = loss_fn(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if not lr >= 0:
            raise ValueError(f"LBFGS: invalid learning rate: {lr} (must be >= 0)")
        if history_size < 1:
            raise ValueError(f"LBFGS: invalid history_size: {history_size} (must be >= 1)")
        _check_line_search(line_search_fn)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): "
                             "give it one list of parameters")
        super().add_param_group(param_group)

    # ---- flat views of all parameters ----

    def _params(self):
        if len(self.param_groups) != 1:
            raise RuntimeError(f"LBFGS: expected exactly one parameter group, got "
                               f"{len(self.param_groups)}")
        return self.param_groups[0]["params"]

    def _gather_flat_grad(self, params):
        """All gradients as one new flat array (zeros for a parameter without one)."""
        xp = array_module(params[0].data)
        views = [xp.zeros(p.data.size, dtype=p.data.dtype) if p.grad is None
                 else p.grad.data.reshape(-1) for p in params]
        return xp.concatenate(views)

    def _add_direction(self, params, t, d):
        """x += t * d over the flat vector d."""
        alpha = float(t)
        offset = 0
        for p in params:
            n = p.data.size
            p.data += alpha * d[offset:offset + n].reshape(p.data.shape)
            bump_version(p.data)
            offset += n

    def _set_params(self, params, xs):
        for p, x in zip(params, xs):
            p.data[...] = x
            bump_version(p.data)

    def _directional_evaluate(self, evaluate, params, x, t, d):
        """(loss, flat gradient) at x + t * d; the parameters are left at x."""
        self._add_direction(params, t, d)
        f = float(evaluate())
        g = self._gather_flat_grad(params)
        self._set_params(params, x)
        return f, g

    # ---- the step ----

    def step(self, closure=None):
        """Run up to max_iter L-BFGS iterations; returns the loss closure() gave first."""
        if closure is None or not callable(closure):
            raise TypeError("LBFGS.step: requires a closure that re-evaluates the model, calls "
                            "backward and returns the loss")
        params = self._params()
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        _check_line_search(line_search_fn)

        def evaluate():
            with enable_grad():
                return closure()

        state = self.state[params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = evaluate()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        xp = array_module(params[0].data)
        flat_grad = self._gather_flat_grad(params)
        if xp.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss, al = (
            _raw(state.get(k)) for k in ("d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                                         "prev_flat_grad", "prev_loss", "al"))
        tmp = None  # scratch for the two-loop recursion
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- direction ----
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = xp.dot(y, s)
                if ys > 1e-10:  # keep the pair only under positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / xp.dot(y, y)  # scale of the initial inverse Hessian

                num_old = len(old_dirs)
                if al is None:
                    al = [None] * history_size
                if tmp is None:
                    tmp = xp.empty_like(flat_grad)
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = xp.dot(old_stps[i], q) * ro[i]
                    q -= xp.multiply(old_dirs[i], al[i], out=tmp)
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = xp.dot(old_dirs[i], r) * ro[i]
                    r += xp.multiply(old_stps[i], al[i] - be_i, out=tmp)

            prev_flat_grad = flat_grad  # flat gradients are new arrays, never written in place
            prev_loss = loss

            # ---- step length ----
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = xp.dot(flat_grad, d)  # directional derivative
            if gtd > -tolerance_change:
                break

            if line_search_fn is not None:
                x_init = [p.data.copy() for p in params]
                obj_func = partial(self._directional_evaluate, evaluate, params, x_init)
                # the search keeps its own tolerance_change (1e-9), as PyTorch's does
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_direction(params, t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_direction(params, t, d)
                ls_func_evals = 0
                if n_iter != max_iter:  # the last iteration's point is not evaluated
                    loss = float(evaluate())
                    flat_grad = self._gather_flat_grad(params)
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping ----
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if xp.abs(d * t).max() <= tolerance_change:  # no progress in x
                break
            if abs(loss - prev_loss) < tolerance_change:  # no progress in f
                break

        for k, v in (("d", d), ("t", t), ("old_dirs", old_dirs), ("old_stps", old_stps),
                     ("ro", ro), ("H_diag", H_diag), ("prev_flat_grad", prev_flat_grad),
                     ("prev_loss", prev_loss)):
            state[k] = _wrapped(v)
        if al is not None:
            state["al"] = _wrapped(al)
        return orig_loss

    # ---- state dicts: flat vectors, lists and scalars, not parameter-shaped tensors ----

    def _unpack_value(self, p, key, value, idx):
        if isinstance(value, (list, tuple)):
            return [self._unpack_value(p, key, v, idx) for v in value]
        if isinstance(value, Tensor):
            value = value.data
        if not backend.is_array(value):
            return deepcopy(value)
        if key in _FLAT_STATE:
            n = sum(q.data.size for q in self.param_groups[0]["params"])
            if value.ndim != 1 or value.size != n:
                raise ValueError(f"LBFGS.load_state_dict: state '{key}' has shape "
                                 f"{tuple(value.shape)}, expected ({n},) (all parameters "
                                 f"flattened)")
        arr = backend.to_device(value, p.device)
        xp = array_module(arr)
        dtype = p.dtype if arr.dtype.kind == "f" else arr.dtype
        return Tensor._wrap(xp.array(arr, dtype=dtype, copy=True))


def _check_line_search(fn):
    if fn not in (None, "strong_wolfe"):
        raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {fn!r}")


def _raw(v):
    """State as the step computes with it: arrays (0-d ones as scalars) instead of Tensors."""
    if isinstance(v, list):
        return [_raw(a) for a in v]
    if isinstance(v, Tensor):
        return v.data[()] if v.data.ndim == 0 else v.data
    return v


def _wrapped(v):
    """State as it is kept: arrays and array scalars as Tensors; Python numbers as they are."""
    if isinstance(v, list):
        return [_wrapped(a) for a in v]
    if backend.is_array(v) or isinstance(v, np.generic):
        return Tensor._wrap(array_module(v).asarray(v))
    return v


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    `bounds` (default: between x1 and x2); their midpoint when the cubic has no minimum."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if not d2_square >= 0:  # no real minimum (or NaN)
        return (lo + hi) / 2.0
    d2 = array_module(d2_square).sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


def _strong_wolfe(obj_func, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Line search along d from the current point (loss f, gradient g, slope gtd) for a step
    t meeting the strong Wolfe conditions: bracket such a step, then zoom in on it by cubic
    interpolation. obj_func(t, d) gives (loss, flat gradient) at x + t * d.

    Returns (loss, flat gradient, t, number of obj_func calls).
    """
    xp = array_module(d)
    d_norm = xp.abs(d).max()
    f_new, g_new = obj_func(t, d)
    ls_func_evals = 1
    gtd_new = xp.dot(g_new, d)

    # Bracketing phase: grow t until [t_prev, t] contains a good step (or t is one).
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break

        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                          bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj_func(t, d)
        ls_func_evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1

    if ls_iter >= max_ls:  # out of evaluations: fall back to [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # Zoom phase: shrink the bracket until a point meets the conditions.
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])

        # A trial too close to an end of the bracket (twice running, or outside it) is
        # moved to 0.1 of the bracket's length from that end.
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(t, d)
        ls_func_evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # not enough decrease, or no better than the low end: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
