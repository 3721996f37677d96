"""`python -m experiments NAME [overrides]` runs one experiment; `python -m experiments list`."""
import importlib
import sys

NAMES = ("mnist_mlp", "convnet", "gpt2", "finetune_gpt2", "finetune_llama")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("usage: python -m experiments {" + ",".join(NAMES) + "} [key=value ...]")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in NAMES:
        raise SystemExit(f"unknown experiment {name!r}; choose from {', '.join(NAMES)}")
    module = importlib.import_module(f"experiments.{name}.run")
    from experiments.harness import main as run
    return run(module.EXPERIMENT, rest)


if __name__ == "__main__":
    sys.exit(main())
