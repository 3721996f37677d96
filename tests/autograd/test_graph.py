"""mytorch.autograd.graph: DOT text, each engine's visit order, rendering with and without `dot`."""
import shutil
from pathlib import Path

import numpy as np
import pydot
import pytest

import mytorch
import mytorch.nn.functional as F
from mytorch.autograd import engine, graph
from mytorch.autograd.engine import ENGINES
from mytorch.autograd.function import AccumulateGrad

# pydot's parser uses pyparsing names that newer pyparsing deprecates
pytestmark = pytest.mark.filterwarnings("ignore:'.*' deprecated - use")


def leaf(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return mytorch.tensor(a, requires_grad=True)


def example_tree():
    """The design document's example 1: two branches that never meet."""
    a, b, c, d = (leaf(3, seed=i) for i in range(4))
    return (a + b) * (c + d), dict(a=a, b=b, c=c, d=d)


def example_shared():
    """Example 2: a node reached from two branches must wait for both."""
    a, b, c, d = (leaf(3, seed=i) for i in range(4))
    h = a * b
    return ((h + c) * (h * d)).sum(), dict(a=a, b=b, c=c, d=d, h=h)


def example_mlp():
    x, w1, w2 = leaf(4, 5), leaf(6, 5, seed=1), leaf(2, 6, seed=2)
    h = F.relu(F.linear(x, w1))
    y = F.linear(h, w2)
    return F.mse_loss(y, y.detach() * 0.5) + (w1 * w1).sum(), dict(x=x, w1=w1, w2=w2)


def example_multi_output():
    x = leaf(4, 6)
    p, q = x.chunk(2, dim=1)
    vals, _ = x.max(dim=0)
    return (p * q).sum() + vals.sum() + (x * x).mean(), dict(x=x)


EXAMPLES = [example_tree, example_shared, example_mlp, example_multi_output]


def walk(root):
    """The graph's nodes and edges, found independently of the module under test."""
    start = root.grad_fn
    nodes, edges, stack = {start}, [], [start]
    while stack:
        n = stack.pop()
        for e in n.next_edges:
            if e is None:
                continue
            edges.append((n, e[0]))
            if e[0] not in nodes:
                nodes.add(e[0])
                stack.append(e[0])
    return nodes, edges


def parse(text):
    (g,) = pydot.graph_from_dot_data(text)
    return g


def drawn_nodes(g):
    """The graph's nodes, without the `graph`/`node`/`edge` default-attribute statements."""
    return [n for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")]


@pytest.mark.parametrize("make", EXAMPLES)
@pytest.mark.parametrize("engine_name", [None, *ENGINES])
def test_dot_parses_with_one_node_per_function_and_one_edge_per_input(make, engine_name):
    root, names = make()
    nodes, edges = walk(root)
    g = parse(graph.to_dot(root, engine=engine_name, names=names))
    drawn = drawn_nodes(g)
    assert len(drawn) == len(nodes)
    assert len(g.get_edges()) == len(edges)
    labels = [n.get("label").strip('"') for n in drawn]
    leaves = [n for n in nodes if type(n) is AccumulateGrad]
    for name, t in names.items():
        if any(n.variable is t for n in leaves):
            shape = "(" + ", ".join(map(str, t.shape)) + ("," if t.ndim == 1 else "") + ")"
            assert any(lab.endswith(f"{name}\\n{shape}") for lab in labels), (name, labels)
    for n in nodes:
        if type(n) is not AccumulateGrad:
            assert any(n.name() in lab for lab in labels)
    if "h" in names:  # a named non-leaf labels the node that made it
        assert sum(lab.endswith("h = MulBackward") for lab in labels) == 1
    if engine_name is not None:
        numbers = sorted(int(lab.split(".")[0]) for lab in labels)
        assert numbers == list(range(1, len(nodes) + 1))


def test_edges_point_from_consumer_to_input_with_gradient_shapes():
    a, b = leaf(2, 3), leaf(3, seed=1)
    y = (a * b).sum()
    g = parse(graph.to_dot(y, names={"a": a, "b": b}))
    label = {n.get_name(): n.get("label").strip('"') for n in drawn_nodes(g)}
    pairs = {(label[e.get_source()], label[e.get_destination()], e.get("label").strip('"'))
             for e in g.get_edges()}
    assert pairs == {("SumBackward", "MulBackward", "(2, 3)"),
                     ("MulBackward", "a\\n(2, 3)", "(2, 3)"),
                     ("MulBackward", "b\\n(3,)", "(3,)")}
    g = parse(graph.to_dot(y, show_shapes=False))
    assert all(e.get("label") is None for e in g.get_edges())
    assert {n.get("label").strip('"') for n in drawn_nodes(g)} == {"SumBackward", "MulBackward",
                                                                 "leaf"}


def _engine_run_order(monkeypatch, root, engine_name):
    """The order the real engine runs its nodes, recorded by wrapping its two node runners."""
    seen = []
    run_node, accumulate = engine._run_node, engine._accumulate_leaf

    def record_run(node, *args):
        seen.append(node)
        return run_node(node, *args)

    def record_leaf(node, *args):
        seen.append(node)
        return accumulate(node, *args)
    monkeypatch.setattr(engine, "_run_node", record_run)
    monkeypatch.setattr(engine, "_accumulate_leaf", record_leaf)
    root.backward(mytorch.ones_like(root), engine=engine_name, retain_graph=True)
    monkeypatch.undo()
    return seen


@pytest.mark.parametrize("make", EXAMPLES)
@pytest.mark.parametrize("engine_name", ENGINES)
def test_visit_order_is_the_engines_and_respects_its_rule(monkeypatch, make, engine_name):
    root, _ = make()
    nodes, edges = walk(root)
    order = graph._visit_nodes([root.grad_fn], engine_name)
    assert sorted(map(id, order)) == sorted(map(id, nodes))  # each node exactly once
    place = {n: i for i, n in enumerate(order)}
    for consumer, inp in edges:  # a node only after all its consumers
        assert place[consumer] < place[inp], (consumer.name(), inp.name())
    assert graph.visit_order(root, engine_name) == [n.name() for n in order]
    assert _engine_run_order(monkeypatch, root, engine_name) == order


def test_visit_order_of_the_shared_example_waits_for_both_branches():
    root, _ = example_shared()
    order = graph.visit_order(root, "recursive")
    assert order == graph.visit_order(root, "topological")
    assert order[:2] == ["SumBackward", "MulBackward"]
    # h = a * b (a MulBackward feeding two consumers) comes after both AddBackward and the
    # MulBackward of h * d
    h_node = root.grad_fn.next_edges[0][0].next_edges[0][0].next_edges[0][0]
    nodes = graph._visit_nodes([root.grad_fn], "recursive")
    assert nodes.index(h_node) > nodes.index(root.grad_fn.next_edges[0][0].next_edges[1][0])


def test_several_roots_and_a_leaf_root():
    a, b = leaf(3), leaf(3, seed=1)
    y1, y2 = (a * b).sum(), (a + b).sum()
    order = graph.visit_order([y1, y2])
    assert sorted(order) == sorted(["SumBackward", "SumBackward", "MulBackward", "AddBackward",
                                    "AccumulateGrad", "AccumulateGrad"])
    assert graph.visit_order(a) == ["AccumulateGrad"]
    assert drawn_nodes(parse(graph.to_dot(a, names={"a": a})))[0].get("label") == '"a\\n(3,)"'


def test_bad_arguments_are_named():
    a = leaf(3)
    with pytest.raises(RuntimeError, match="to_dot: the tensor of shape \\(3,\\) does not"):
        graph.to_dot(a.detach())
    with pytest.raises(TypeError, match="visit_order: expected a Tensor"):
        graph.visit_order(np.ones(3))
    with pytest.raises(ValueError, match="unknown engine 'bfs'"):
        graph.visit_order(a * 2, "bfs")
    with pytest.raises(ValueError, match="draw: path should end in .svg or .png"):
        graph.draw(a * 2, "graph.pdf")


needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz `dot` not installed (apt-get install graphviz)")


@needs_dot
@pytest.mark.parametrize("suffix, magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_draw_renders_with_dot(tmp_path, suffix, magic):
    root, names = example_shared()
    path = tmp_path / f"g.{suffix}"
    assert graph.draw(root, path, engine="recursive", names=names) == path
    data = path.read_bytes()
    assert magic in data[:400]
    if suffix == "svg":
        text = data.decode()
        assert "MulBackward" in text and "recursive engine" in text


@needs_dot
def test_make_graph_script_draws_both_examples_with_both_engines(tmp_path):
    import subprocess
    import sys
    script = Path(__file__).resolve().parents[2] / "scripts" / "draw_graphs.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for example in ("example_1", "example_2"):
        for engine_name in ENGINES:
            text = (tmp_path / f"{example}_{engine_name}.svg").read_text()
            assert f"{engine_name} engine" in text and "AccumulateGrad" not in text
            assert "<svg" in text


def test_draw_without_dot_says_how_to_install_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere
    root, _ = example_tree()
    with pytest.raises(RuntimeError) as info:
        graph.draw(root, tmp_path / "g.svg")
    msg = str(info.value)
    assert "\n" not in msg and "apt-get install graphviz" in msg
    assert not (tmp_path / "g.svg").exists()
