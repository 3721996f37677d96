"""Optimizer: parameter groups, per-parameter state and torch-format state dicts.

Subclasses update `p.data` in place with ufuncs writing into preallocated state and a
reusable work buffer (`_work`), so a step allocates no array memory.
"""
from collections import defaultdict
from copy import deepcopy

import numpy as np

from mytorch import backend, dtypes
from mytorch.autograd.function import bump_version
from mytorch.tensor import Tensor

# Elements per block in `_blocks`: one block of each of ~6 float32 operands (~0.8 MB) stays in
# L2 while a dozen ufuncs pass over it, instead of streaming whole tensors through memory.
BLOCK = 32768


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: holds `param_groups` (list of dicts with a 'params' list) and `state`.

    >>> opt = SGD([{"params": model.body.parameters()},
    ...            {"params": model.head.parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)
    """

    # fp32 master copies of float16/bfloat16 parameters (Adam, AdamW and SGD take a
    # `master_weights` argument; see `_master_param`)
    master_weights = False

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._work = {}
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params argument should be an iterable of "
                            f"Tensors or dicts, but got a Tensor")
        if isinstance(params, dict):
            raise TypeError(f"{type(self).__name__}: params argument should be an iterable of "
                            f"Tensors or dicts, but got a dict (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        """Add a group (a dict with 'params' and optional per-group options)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got "
                            f"{type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters must be an ordered collection (list, tuple, "
                            f"generator), not a set")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter '{key}'")
            group.setdefault(key, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group contains the same parameter twice")
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss if given."""
        loss = None
        if closure is not None:
            from mytorch.autograd.grad_mode import enable_grad
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = group["params"]
            with backend.device_scope(params[0].data if params else None):
                self._update_group(group)
            for p in group["params"]:  # written in place: a graph that saved them must know
                if p.grad is not None:
                    bump_version(p.data)
        return loss

    def _update_group(self, group):
        raise NotImplementedError

    def _check_fused(self):
        """torch's `fused` argument, for Adam, AdamW and SGD: None takes the multi-tensor CUDA
        kernels (mytorch.optim.cuda_multi_tensor) for the parameters they fit, False never,
        True demands parameters they can take: CUDA float16/32/64 tensors (float16 with
        master_weights=True). The fused switch (MYTORCH_FUSED=0) still turns them off."""
        fused = self.defaults.get("fused")
        if not fused:
            return
        name = type(self).__name__
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                ok = p.device.type == "cuda" and p.dtype in (np.float16, np.float32, np.float64)
                if not ok or (p.dtype == np.float16 and not self.master_weights):
                    raise ValueError(f"{name}: fused=True needs CUDA float16/32/64 parameters "
                                     f"(float16 with master_weights=True); parameter {i} is "
                                     f"{p.dtype} on {p.device}")
                i += 1

    def _update_blocks(self, arrays, **options):
        """self._block(*arrays, **options) one block at a time (see `_blocks`), on matching
        blocks of the arrays; a None in `arrays` (an optional buffer that is off) stays None."""
        present = [a for a in arrays if a is not None]
        for blk in _blocks(present):
            it = iter(blk)
            self._block(*[None if a is None else next(it) for a in arrays], **options)

    # ---- per-parameter state ----

    def _state_for(self, p, *buffers, fill=0.0, **scalars):
        """p's state. A new one gets 'step' = 0, then `scalars`, then `buffers` (in torch's
        key order); a buffer is an array like p filled with `fill` (float32 for a parameter
        with a master copy), added also when an existing state lacks it (an option switched
        on after the first step)."""
        state = self.state[p]
        if not state:
            state["step"] = 0
            state.update(scalars)
        for name in buffers:
            if name not in state:
                state[name] = Tensor._wrap(backend.array_module(p.data).full_like(
                    p.data, fill, dtype=self._state_dtype(p)))
        return state

    # ---- fp32 master weights ----

    def _has_master(self, p):
        """Whether p is updated through an fp32 master copy: `master_weights` is on and p is
        float16 or bfloat16."""
        return self.master_weights and p.dtype in (np.float16, dtypes.bfloat16)

    def _state_dtype(self, p):
        """The dtype of p's floating state: float32 with a master copy, else p's."""
        return np.dtype(np.float32) if self._has_master(p) else p.dtype

    def _master_param(self, p, state):
        """p's fp32 master copy, state['master_param'] (made from p at its first step), or
        None when p has none. The update runs on it in fp32, and p receives it rounded to
        p's dtype, so updates smaller than half an fp16 ulp of p still add up."""
        if not self._has_master(p):
            return None
        if "master_param" not in state:
            state["master_param"] = Tensor._wrap(p.data.astype(np.float32))
        return state["master_param"].data

    def _params_with_state(self, group, *buffers, fill=0.0, **scalars):
        """(p, state) for each parameter of `group` that has a gradient, its state from
        `_state_for` with this step already counted in 'step'."""
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self._state_for(p, *buffers, fill=fill, **scalars)
            state["step"] += 1
            yield p, state

    # ---- work buffers ----

    def _grad_with_decay(self, x, g, wd, maximize):
        """The gradient an update uses: -g when maximizing, plus the L2 term wd * x; written
        into scratch 0 when it differs from g (g itself is never modified)."""
        xp = backend.array_module(x)
        if wd != 0:
            t = xp.multiply(x, wd, out=self._scratch(x, 0))
            if maximize:
                t -= g
            else:
                t += g
            return t
        if maximize:
            return xp.negative(g, out=self._scratch(x, 0))
        return g

    def _grad_with_weight_decay(self, x, g, *, lr, wd, decoupled, maximize):
        """`_grad_with_decay`, or with `decoupled` (AdamW's decay) no L2 term: x itself shrinks
        in place by 1 - lr * wd first."""
        if not decoupled:
            return self._grad_with_decay(x, g, wd, maximize)
        if wd != 0:
            x *= 1.0 - lr * wd
        return self._grad_with_decay(x, g, 0, maximize)

    def _scratch(self, like, k=0):
        """The k-th reusable work array shaped like the array `like`; grows only while the
        first step runs, then a step allocates nothing."""
        if type(like) is np.ndarray:
            key = (like.dtype, k)
        else:
            key = (backend.device_of(like), like.dtype, k)
        n = like.size
        buf = self._work.get(key)
        if buf is None or buf.size < n:
            buf = backend.array_module(like).empty(n, dtype=like.dtype)
            self._work[key] = buf
        return buf[:n].reshape(like.shape)

    # ---- state dicts (torch's format) ----

    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}.

        Parameters are numbered in group order, as in PyTorch; state tensors are shared, not
        copied. A step count is given as a float32 scalar tensor, as PyTorch does.
        """
        index = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {k: self._pack_value(k, v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    # Scalar state kept as a Python float (beside 'step'), saved as a float32 scalar tensor.
    _float_state = ()

    def _pack_value(self, key, value):
        if (key == "step" or key in self._float_state) and isinstance(value, (int, float)):
            return Tensor._wrap(np.asarray(value, dtype=np.float32))
        return value

    def load_state_dict(self, state_dict):
        """Load a state dict from `state_dict()` (this library's or PyTorch's layout).

        Everything is checked before anything changes; tensors are copied, cast to the
        parameter's dtype (floating state; float32 for a parameter with an fp32 master copy)
        and moved to its device.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict \
                or "state" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has "
                             f"{len(saved_groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        id_map = {}
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has "
                                 f"{len(s['params'])} parameters in the state dict but "
                                 f"{len(g['params'])} in the optimizer")
            for idx, p in zip(s["params"], g["params"]):
                id_map[int(idx)] = p
        new_state = defaultdict(dict)
        for idx, pstate in state_dict["state"].items():
            idx = int(idx)
            if idx not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {idx}, "
                                 f"which no parameter group lists")
            p = id_map[idx]
            new_state[p] = {k: self._unpack_value(p, k, v, idx) for k, v in pstate.items()}
        new_groups = []
        for g, s in zip(self.param_groups, saved_groups):
            ng = {k: deepcopy(v) for k, v in s.items() if k != "params"}
            if isinstance(ng.get("betas"), list):
                ng["betas"] = tuple(ng["betas"])
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.state = new_state
        self.param_groups[:] = new_groups

    def _unpack_value(self, p, key, value, idx):
        if isinstance(value, Tensor):
            value = value.data
        if key == "step":
            return int(value.item()) if backend.is_array(value) else int(value)
        if key in self._float_state:
            return float(value.item()) if backend.is_array(value) else float(value)
        if backend.is_array(value):
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"{type(self).__name__}.load_state_dict: state '{key}' of "
                                 f"parameter {idx} has shape {tuple(value.shape)}, the "
                                 f"parameter has shape {tuple(p.shape)}")
            arr = backend.to_device(value, p.device)
            xp = backend.array_module(arr)
            dtype = self._state_dtype(p) if dtypes.is_floating(arr.dtype) else arr.dtype
            return Tensor._wrap(xp.array(arr, dtype=dtype, order="C", copy=True))
        return deepcopy(value)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups, "master_weights": self.master_weights}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._work = {}

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _blocks(arrays):
    """Matching flat blocks of BLOCK elements of same-shaped NumPy arrays; whole arrays when
    they are small, not all C-contiguous, or on a GPU (where blocking only adds launches)."""
    first = arrays[0]
    if first.size <= BLOCK or type(first) is not np.ndarray \
            or not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flats = [a.reshape(-1) for a in arrays]
    for i in range(0, first.size, BLOCK):
        yield [f[i:i + BLOCK] for f in flats]


def _lerp_(m, g, weight, t):
    """m.lerp_(g, weight) in place as torch computes it (two formulas, by the size of the
    weight in m's dtype); t is scratch shaped like m."""
    xp = backend.array_module(m)
    w = m.dtype.type(weight)
    xp.subtract(g, m, out=t)
    if w < 0.5:
        t *= w
        m += t
    else:
        t *= 1.0 - float(w)
        xp.subtract(g, t, out=m)


def _ema_square_(v, g, beta, t):
    """v = beta * v + (1 - beta) * g * g in place (Adam's second moment); t is scratch."""
    xp = backend.array_module(v)
    v *= beta
    xp.multiply(g, 1.0 - beta, out=t)
    t *= g
    v += t


def _adam_moments_(m, v, g, beta1, beta2, t):
    """Adam's moments in place: m.lerp_(g, 1 - beta1), v = beta2 * v + (1 - beta2) * g * g."""
    _lerp_(m, g, 1.0 - beta1, t)
    _ema_square_(v, g, beta2, t)


def _check_betas(opt, betas):
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{opt}: invalid betas {betas}; expected two values in [0, 1)")


def _check_nonneg(opt, **values):
    for k, v in values.items():
        if v < 0:
            raise ValueError(f"{opt}: invalid {k} value: {v} (must be >= 0)")
