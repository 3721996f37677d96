"""`mytorch.compile` and `mytorch.compiler`: torch's compilation entry points, running eagerly.

mytorch has no graph compiler. `mytorch.compile` takes torch's arguments, checks them as
torch does, and gives back the model or function itself, which then runs eagerly: what
torch does with `backend="eager"`. Scripts that compile their model run unchanged.
"""
import builtins

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,
            options=None, disable=False):
    """Return `model` (an nn.Module or a function) unchanged: it runs eagerly.

    Usable as `model = mytorch.compile(model)`, `@mytorch.compile` and
    `@mytorch.compile(mode="max-autotune")`. Arguments are validated as in torch.
    """
    if mode is not None and options is not None:
        raise RuntimeError("compile: either mode or options can be given, not both")
    if mode not in _MODES:
        raise RuntimeError(f"compile: unknown mode {mode!r}; expected one of "
                           f"{[m for m in _MODES if m]}")
    if not (isinstance(backend, str) or builtins.callable(backend)):
        raise TypeError(f"compile: backend must be a name or a callable, got "
                        f"{type(backend).__name__}")
    if model is None:
        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                           mode=mode, options=options, disable=disable)
        return decorate
    if not builtins.callable(model):
        raise RuntimeError(f"compile: model must be a callable (a Module or a function), got "
                           f"{type(model).__name__}")
    return model


def is_compiling():
    """False: mytorch never traces."""
    return False


def disable(fn=None, recursive=True, reason=None):
    """Decorator that excludes `fn` from compilation: a no-op here."""
    if fn is None:
        return lambda f: f
    return fn


def reset():
    """Clear compilation caches: there are none."""
