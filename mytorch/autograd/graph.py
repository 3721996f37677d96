"""Pictures of the backward graph: Graphviz DOT text, each engine's visit order, rendering.

    y = (a + b) * (c + d)
    print(visit_order(y))                  # ['MulBackward', 'AddBackward', ...]
    draw(y, "y.svg", engine="recursive", names={"a": a, "b": b, "c": c, "d": d})

Nodes are the backward Functions (`MulBackward`) and the leaves' `AccumulateGrad` nodes (drawn
with the leaf's name and shape); an edge goes from a node to each of its inputs, the way
gradients flow. With `engine=` every node is numbered in the order that engine runs it.
"""
import shutil

from mytorch.autograd.engine import ENGINES
from mytorch.autograd.function import AccumulateGrad

__all__ = ["draw", "to_dot", "visit_order"]

INSTALL_HINT = ("the Graphviz `dot` program is not on PATH: install it (apt-get install graphviz, "
                "brew install graphviz or conda install graphviz) to render, or render the text "
                "of to_dot() elsewhere")


def _roots(root, fn_name):
    from mytorch.tensor import Tensor
    tensors = list(root) if isinstance(root, (list, tuple)) else [root]
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn_name}: expected a Tensor or a list of Tensors, got "
                            f"{type(t).__name__} at position {i}")
        if not t.requires_grad:
            raise RuntimeError(f"{fn_name}: the tensor of shape {tuple(t.shape)} does not require "
                               "grad, so it has no backward graph")
    return list(dict.fromkeys(t._edge()[0] for t in tensors))


def _edges(node):
    return [e for e in node.next_edges if e is not None]


def _consumer_counts(roots):
    """For every reachable node, how many edges lead into it (the engines' dependency count)."""
    deps, seen, stack = {}, set(roots), list(roots)
    order = list(roots)  # discovery order: a stable layout for the picture
    while stack:
        node = stack.pop()
        for nxt, _ in _edges(node):
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                stack.append(nxt)
    return deps, order


def _visit_nodes(roots, engine):
    """The nodes in the order `engine` runs them, replaying its rule without running backward:
    a node runs once every consumer has delivered, ready inputs are taken last-first."""
    if engine not in ENGINES:
        raise ValueError(f"visit_order: unknown engine {engine!r}; choose from {ENGINES}")
    deps, _ = _consumer_counts(roots)
    # The topological engine pops ready nodes off a stack; the recursive one recurses into the
    # ready inputs last-first, which visits them in exactly the same order (engine.py), so one
    # replay serves both. tests/autograd/test_graph.py checks it against both engines.
    out = []
    ready = [n for n in roots if deps.get(n, 0) == 0]
    while ready:
        node = ready.pop()
        out.append(node)
        for nxt, _ in _edges(node):
            deps[nxt] -= 1
            if not deps[nxt]:
                ready.append(nxt)
    return out


def visit_order(root, engine="topological"):
    """Names of the backward nodes in the order `engine` ("topological" or "recursive") runs
    them from `root` (a Tensor or a list of Tensors), without running backward.

    >>> visit_order((a * b).sum())    # ['SumBackward', 'MulBackward', 'AccumulateGrad', ...]
    """
    return [n.name() for n in _visit_nodes(_roots(root, "visit_order"), engine)]


def _quote(s):
    s = str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def to_dot(root, engine=None, show_shapes=True, names=None):
    """Graphviz DOT text of the backward graph from `root` (a Tensor or a list of Tensors).

    One node per backward Function and per leaf; `names` (a dict name -> Tensor) labels leaves
    (with their shape) and the nodes that made named non-leaf tensors. Edges point from a node
    to its inputs. With `engine=` ("topological" or "recursive") each node is prefixed with its
    place in that engine's run;
    with `show_shapes`, leaves show their shape and edges the shape of the gradient they carry.
    """
    roots = _roots(root, "to_dot")
    _, nodes = _consumer_counts(roots)
    leaf_names, made = {}, {}  # leaf id -> name; node -> name of the tensor it made
    for name, t in (names or {}).items():
        if t.grad_fn is not None:
            made[t.grad_fn] = name
        elif t.requires_grad:
            leaf_names[id(t)] = name
    rank = {}
    if engine is not None:
        rank = {n: i + 1 for i, n in enumerate(_visit_nodes(roots, engine))}
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["digraph backward {",
             '  graph [rankdir=TB, fontname="Helvetica"];',
             '  node [shape=box, style="rounded,filled", fillcolor="#dbe9f6", '
             'fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    if engine is not None:
        lines.append(f"  label={_quote(f'{engine} engine: nodes numbered in visit order')};")
        lines.append("  labelloc=t;")
    for n in nodes:
        label = n.name() if n not in made else f"{made[n]} = {n.name()}"
        attrs = ""
        if type(n) is AccumulateGrad:
            leaf = n.variable
            label = leaf_names.get(id(leaf), "leaf")
            if show_shapes:
                label += f"\n{_shape(leaf.shape)}"
            attrs = ', fillcolor="#f6e3c6"'
        if n in rank:
            label = f"{rank[n]}. {label}"
        lines.append(f"  {ids[n]} [label={_quote(label)}{attrs}];")
    for n in nodes:
        for i, edge in enumerate(n.next_edges):
            if edge is None:
                continue
            attrs = ""
            meta = n.input_meta[i] if show_shapes and type(n) is not AccumulateGrad else None
            if meta is not None:
                attrs = f" [label={_quote(_shape(meta[0]))}]"
            lines.append(f"  {ids[n]} -> {ids[edge[0]]}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(root, path, engine=None, show_shapes=True, names=None):
    """Render the backward graph from `root` to `path` (.svg or .png) with Graphviz; see
    `to_dot` for the other arguments. Raises RuntimeError, in one line saying how to install
    it, when the `dot` program is missing."""
    fmt = str(path).rsplit(".", 1)[-1].lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"draw: path should end in .svg or .png, got {str(path)!r}")
    text = to_dot(root, engine=engine, show_shapes=show_shapes, names=names)
    if shutil.which("dot") is None:
        raise RuntimeError(f"draw: {INSTALL_HINT}")
    try:
        import graphviz
    except ImportError as err:
        raise RuntimeError("draw: the `graphviz` Python package is missing: pip install "
                           "graphviz") from err
    data = graphviz.Source(text).pipe(format=fmt)
    with open(path, "wb") as f:
        f.write(data)
    return path
