"""Module: PyTorch's conventions -- registration by assignment, state_dict, train/eval, repr."""
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from mytorch import backend, dtypes
from mytorch.autograd import grad_mode
from mytorch.autograd.function import Function
from mytorch.nn.parameter import Buffer, Parameter
from mytorch.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model.

    Assigning a Parameter, a Module or (via `register_buffer`) a Tensor to an attribute
    registers it; `parameters()`, `state_dict()`, `to()` and `train()` then see it.
    """

    training: bool
    _version = 1  # of the state_dict layout; a module that changes its layout raises it

    def __new__(cls, *args, **kwargs):
        # Set up the registries here so a subclass that forgets super().__init__() still works.
        self = super().__new__(cls)
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        return self

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward() method")

    def __call__(self, *args, **kwargs):
        for hook in self._forward_pre_hooks.values():
            new = hook(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        bw = None
        if (self._backward_hooks or self._backward_pre_hooks) and grad_mode.is_grad_enabled():
            bw = _BackwardHookState(self)
            args = bw.wrap_inputs(args)
        out = self.forward(*args, **kwargs)
        for hook in self._forward_hooks.values():
            new = hook(self, args, out)
            if new is not None:
                out = new
        if bw is not None:
            out = bw.wrap_outputs(out)
        return out

    def register_forward_hook(self, hook):
        return _Handle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook):
        return _Handle(self._forward_pre_hooks, hook)

    def register_full_backward_hook(self, hook, prepend=False):
        """Call `hook(module, grad_input, grad_output)` once the gradients w.r.t. the module's
        tensor inputs are computed (tuples, None where there is none); a returned tuple
        replaces grad_input. Returns a handle whose `remove()` unregisters it."""
        return _Handle(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Call `hook(module, grad_output)` when the gradients w.r.t. the module's tensor
        outputs are known, before the module's own backward; a returned tuple replaces
        grad_output."""
        return _Handle(self._backward_pre_hooks, hook, prepend)

    # ---- registration ----

    def __setattr__(self, name, value):
        d = self.__dict__
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        if isinstance(value, Parameter):
            _drop(d, name, buffers, modules)
            params[name] = value
        elif isinstance(value, Module):
            _drop(d, name, params, buffers)
            modules[name] = value
        elif isinstance(value, Buffer):
            _drop(d, name, params, modules)
            self.register_buffer(name, value, value.persistent)
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                "(nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                "(Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for reg in (self._parameters, self._buffers, self._modules):
            if name in reg:
                del reg[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got "
                            f"{type(param).__name__}")
        _check_name(name, "register_parameter")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-learnable tensor (e.g. running statistics) saved in state_dict
        unless `persistent=False`."""
        _check_name(name, "register_buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: '{name}' must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        if name in self.__dict__ and name not in self._buffers:
            raise KeyError(f"register_buffer: attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module")
        _check_name(name, "add_module")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}'")
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target):
        """The Parameter at dotted path `target`, e.g. "encoder.0.weight"."""
        mod, name = self._owner_of(target)
        if name not in mod._parameters:
            if not hasattr(mod, name):
                raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return mod._parameters[name]

    def get_buffer(self, target):
        """The buffer at dotted path `target`, e.g. "bn.running_mean"."""
        mod, name = self._owner_of(target)
        if name not in mod._buffers:
            if not hasattr(mod, name):
                raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    def _owner_of(self, target):
        path, _, name = target.rpartition(".")
        return self.get_submodule(path), name

    # ---- iteration ----

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, mod in self._modules.items():
            if mod is None:
                continue
            yield from mod.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                         remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, mod in self._modules.items():
            if mod is not None and mod not in seen:
                seen.add(mod)
                yield name, mod

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, v in getattr(mod, attr).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a tied parameter is listed once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- state ----

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name (tensors share memory).

        Like torch's, the dict carries `_metadata`: each module's layout version by prefix,
        so that load_state_dict can tell an older checkpoint from a key that is missing."""
        out = OrderedDict() if destination is None else destination
        if destination is None:
            out._metadata = OrderedDict()
        if hasattr(out, "_metadata"):
            out._metadata[prefix[:-1]] = {"version": self._version}
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, mod in self._modules.items():
            if mod is not None:
                mod.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy tensors into this module's parameters and buffers.

        Everything is checked first (missing, unexpected and shape-mismatched keys are listed
        in one error), so a failed load leaves the model unchanged.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        versions = getattr(state_dict, "_metadata", None) or {}
        state_dict = dict(state_dict)  # older layouts are upgraded in this copy, not the caller's
        for name, m in self.named_modules():
            version = versions.get(name, {}).get("version")
            m._upgrade_state_dict(state_dict, name + "." if name else "", version)
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, target in own.items():
            if k in state_dict:
                shape = tuple(getattr(state_dict[k], "shape", np.shape(state_dict[k])))
                if shape != tuple(target.shape):
                    mismatched.append(f"{k}: checkpoint {shape} vs model {tuple(target.shape)}")
        errors = []
        if mismatched:
            errors.append("size mismatch for " + "; ".join(mismatched))
        if strict and missing:
            errors.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            errors.append("unexpected keys: " + ", ".join(unexpected))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                               + "\n  ".join(errors))
        for k, target in own.items():
            if k in state_dict:
                v = state_dict[k]
                arr = v.data if isinstance(v, Tensor) else np.asarray(v)
                target.data[...] = backend.to_device(arr, target.device).astype(
                    target.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    def _upgrade_state_dict(self, state_dict, prefix, version):
        """Fill in what checkpoints of an older layout (`version` from torch's `_metadata`, None
        when absent) lack; the keys of this module start with `prefix`."""

    # ---- modes and conversion ----

    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("train: mode is expected to be a bool")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_arrays(self, fn):
        for m in self.modules():
            for reg in (m._parameters, m._buffers):
                for t in reg.values():
                    if t is None:
                        continue
                    t.data = fn(t.data)
                    if t.grad is not None:
                        t.grad.data = fn(t.grad.data)
        return self

    def to(self, *args, **kwargs):
        """Move/cast parameters and buffers in place: `.to(device)`, `.to(dtype)`, or both.
        Only floating tensors change dtype."""
        dev = kwargs.get("device")
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, (str, backend.device)):
                dev = a
            elif isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            elif a is not None:
                dtype = a
        dtype = None if dtype is None else np.dtype(dtype)

        def convert(arr):
            if dev is not None:
                arr = backend.to_device(arr, dev)
            if dtype is not None and dtypes.is_floating(arr.dtype) and arr.dtype != dtype:
                arr = arr.astype(dtype)
            return arr
        return self._apply_arrays(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def half(self):
        return self.to(np.float16)

    # ---- repr ----

    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, mod in self._modules.items():
            body = repr(mod).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not lines:
            return f"{self._get_name()}()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"


def _drop(d, name, *regs):
    for reg in regs:
        reg.pop(name, None)
    d.pop(name, None)


def _check_name(name, op):
    if not isinstance(name, str):
        raise TypeError(f"{op}: name must be a string, got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{op}: name {name!r} can't be empty or contain '.'")


class _Handle:
    _next = 0

    def __init__(self, registry, hook, prepend=False):
        _Handle._next += 1
        self.id, self.registry = _Handle._next, registry
        registry[self.id] = hook
        if prepend:
            registry.move_to_end(self.id, last=False)

    def remove(self):
        self.registry.pop(self.id, None)


class _BackwardHookFn(Function):
    """Identity on a group of tensors whose backward hands their gradients to `on_grad`
    (the seam where a module's backward hooks see grad_input / grad_output)."""

    @staticmethod
    def forward(ctx, *arrays, on_grad):
        ctx.on_grad = on_grad
        out = tuple(a.view() for a in arrays)
        # As in PyTorch, inputs that did not require grad stay so (their grad is zeros).
        ctx.mark_non_differentiable(*[o for o, n in zip(out, ctx.needs_input_grad) if not n])
        return out

    @staticmethod
    def backward(ctx, *grads):
        return ctx.on_grad(grads)


def _as_tensors(grads):
    return tuple(None if g is None else Tensor._wrap(g) for g in grads)


def _as_arrays(grads):
    return tuple(g.data if isinstance(g, Tensor) else g for g in grads)


class _BackwardHookState:
    """One forward call's link between the module's backward hooks and the graph: the tensor
    inputs and outputs pass through `_BackwardHookFn` so their gradients can be seen."""

    def __init__(self, module):
        self.module = module
        self.n_inputs = 0
        self.inputs_need_grad = None  # per tensor input; None when no input requires grad
        self.grad_output = None

    def wrap_inputs(self, args):
        pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(pos)
        need = [args[i].requires_grad for i in pos]
        if not any(need):
            return args
        self.inputs_need_grad = need
        wrapped = _BackwardHookFn.apply(*[args[i] for i in pos], on_grad=self._on_input_grad)
        args = list(args)
        for i, w in zip(pos, wrapped):
            args[i] = w
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        outs = (out,) if single else out
        if not isinstance(outs, tuple):
            return out
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return out
        wrapped = _BackwardHookFn.apply(*[outs[i] for i in pos], on_grad=self._on_output_grad)
        outs = list(outs)
        for i, w in zip(pos, wrapped):
            outs[i] = w
        return outs[0] if single else tuple(outs)

    def _on_output_grad(self, grads):
        m = self.module
        grads = _as_tensors(grads)
        for hook in list(m._backward_pre_hooks.values()):
            new = hook(m, grads)
            if new is not None:
                new = new if isinstance(new, tuple) else (new,)
                if len(new) != len(grads):
                    raise RuntimeError(f"backward pre hook of {m._get_name()} returned "
                                       f"{len(new)} gradients, expected {len(grads)}")
                grads = new
        self.grad_output = grads
        if self.inputs_need_grad is None:
            # No input requires grad: the hooks run now, with grad_input all None.
            none = (None,) * self.n_inputs
            for hook in list(m._backward_hooks.values()):
                new = hook(m, none, grads)
                if new is not None and any(g is not None for g in new):
                    raise RuntimeError(f"backward hook of {m._get_name()}: no input requires "
                                       "gradient, so it must return None or all None")
        return _as_arrays(grads)

    def _on_input_grad(self, grads):
        m = self.module
        grad_input = _as_tensors(grads)
        for hook in list(m._backward_hooks.values()):
            new = hook(m, grad_input, self.grad_output)
            if new is not None:
                new = new if isinstance(new, tuple) else (new,)
                if len(new) != len(grad_input):
                    raise RuntimeError(f"backward hook of {m._get_name()} returned "
                                       f"{len(new)} gradients, expected {len(grad_input)}")
                grad_input = new
        return _as_arrays(grad_input)
