"""How much of PyTorch's public API mytorch has: for torch, torch.Tensor, torch.nn,
torch.nn.functional, torch.optim and torch.utils.data (read from the installed torch), the
public names mytorch lacks.

    python scripts/api_coverage.py            # a summary per namespace
    python scripts/api_coverage.py --missing  # and every missing name
"""
import argparse
import importlib
import types

# (torch's namespace, mytorch's): a module path, or "module:attribute" for a class
NAMESPACES = [("torch", "mytorch"), ("torch:Tensor", "mytorch:Tensor"), ("torch.nn", "mytorch.nn"),
              ("torch.nn.functional", "mytorch.nn.functional"), ("torch.optim", "mytorch.optim"),
              ("torch.utils.data", "mytorch.utils.data")]


def _resolve(spec):
    mod, _, attr = spec.partition(":")
    obj = importlib.import_module(mod)
    return getattr(obj, attr) if attr else obj


def public_names(obj):
    """Names a user may call: no leading underscore, and for a module no submodule of another
    package (torch re-exports `os`, `math`, ... by accident) and nothing typing-only."""
    names = set()
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name, None)
        if isinstance(value, types.ModuleType) and not value.__name__.startswith("torch"):
            continue
        if getattr(value, "__module__", "") in ("typing", "typing_extensions"):
            continue
        names.add(name)
    return names


def coverage():
    """{torch namespace: (number of public names, sorted names mytorch lacks)}."""
    out = {}
    for theirs, ours in NAMESPACES:
        want = public_names(_resolve(theirs))
        have = set(dir(_resolve(ours)))
        out[theirs.replace(":", ".")] = (len(want), sorted(want - have))
    return out


def total(cov):
    """Overall share of torch's public names present in mytorch, in percent."""
    n = sum(c for c, _ in cov.values())
    missing = sum(len(m) for _, m in cov.values())
    return 100.0 * (n - missing) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", action="store_true", help="list every missing name")
    args = parser.parse_args()
    cov = coverage()
    for ns, (n, missing) in cov.items():
        print(f"{ns:22s} {n - len(missing):5d} / {n:5d}  ({100 * (n - len(missing)) / n:5.1f}%)")
        if args.missing:
            print("    missing: " + " ".join(missing))
    print(f"{'overall':22s} {total(cov):.1f}%")


if __name__ == "__main__":
    main()
