"""Draw the design document's two example graphs, numbered in each engine's visit order:
`python scripts/draw_graphs.py [outdir]` (default docs/graphs) -- what `make graph` runs."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

import mytorch  # noqa: E402
from mytorch.autograd import graph  # noqa: E402
from mytorch.autograd.engine import ENGINES  # noqa: E402


def _leaves():
    return {name: mytorch.tensor([1.0, 2.0, 3.0], requires_grad=True) for name in "abcd"}


def example_1():
    """Two branches that never meet: y = (a + b) * (c + d)."""
    t = _leaves()
    return (t["a"] + t["b"]) * (t["c"] + t["d"]), t


def example_2():
    """h = a * b feeds two branches, so it runs only after both delivered its gradient."""
    t = _leaves()
    h = t["a"] * t["b"]
    return (h + t["c"]) * (h * t["d"]), dict(t, h=h)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    outdir = argv[0] if argv else os.path.join(ROOT, "docs", "graphs")
    os.makedirs(outdir, exist_ok=True)
    for name, make in (("example_1", example_1), ("example_2", example_2)):
        for engine in ENGINES:
            root, names = make()
            path = os.path.join(outdir, f"{name}_{engine}.svg")
            try:
                graph.draw(root, path, engine=engine, names=names)
            except RuntimeError as err:
                print(err, file=sys.stderr)
                return 1
            print(f"{path}: {' -> '.join(graph.visit_order(root, engine))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
