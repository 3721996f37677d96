"""The two backward engines.

Both first count, for every node reachable from the roots, how many edges lead into it
from other reachable nodes (its pending "children" -- the consumers of its output). Then:

* ``"topological"`` (default): Kahn's algorithm. A node runs once every consumer has
  delivered its gradient; ready nodes wait on an explicit stack. Iterative.
* ``"recursive"``: depth-first, as in the design document. A node delivers its input
  gradients, each delivery decrements the receiver's pending count, and the node recurses
  into the receivers whose count hit zero, so a node shared by two branches waits for both.
  Counting from the roots (not at graph construction) means a branch that never reaches the
  loss, like an accuracy computed with grad on, cannot stall it. Recursing into the ready
  inputs last-first visits nodes in the topological engine's order, so both engines add
  gradients in the same order and give bitwise-identical results.

Broadcasting is undone here, in `sum_to`, and nowhere else.
"""
import sys
import warnings
import weakref

import numpy as np

from mytorch import backend
from mytorch.autograd import function as _function
from mytorch.autograd.function import AccumulateGrad
from mytorch.autograd.grad_mode import _anomaly, set_grad_enabled
from mytorch.autograd.row_grad import RowGrad
from mytorch.autograd.tensor_xp import DArray
from mytorch.backend import is_array

_default_engine = "topological"
ENGINES = ("topological", "recursive")


def set_default_engine(name):
    """Pick the engine `backward()` uses when none is named: "topological" or "recursive"."""
    global _default_engine
    if name not in ENGINES:
        raise ValueError(f"set_default_engine: unknown engine {name!r}; choose from {ENGINES}")
    _default_engine = name


def get_default_engine():
    return _default_engine


def sum_to(g, shape):
    """Sum a broadcast gradient back to `shape` (the single place broadcasting is undone)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:  # a gradient smaller than its input (e.g. a scalar): broadcast it out
        from mytorch.backend import array_module
        return array_module(g).broadcast_to(g, shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _scope_of_grads(grads):
    for g in grads:
        if g is not None:
            return None if type(g) is np.ndarray else backend.scope_of(g)
    return None


def _run_node(node, grads, retain_graph):
    """Run one node's backward on its output gradients; return one gradient per input edge,
    summed back to the input's shape and cast to its dtype."""
    if node._freed:
        raise RuntimeError(
            f"{node.name()}: trying to backward through the graph a second time (or to access "
            "saved tensors after they have been freed). Pass retain_graph=True to the first "
            "backward() if you need to backward twice.")
    if "_saved_versions" in node.__dict__:
        _function.check_versions(node)
    if node._hooks:
        _run_hooks(node, grads)
    if node.n_outputs > 1:
        _fill_missing(node, grads)
    if not retain_graph:
        node.__dict__["_last_use"] = True  # see Function.saved_last_use and rows_for_leaf
    g0 = grads[0]
    scope = None if type(g0) is np.ndarray else _scope_of_grads(grads)
    if scope is not None:  # backward runs on the gradients' GPU, whichever is current
        with scope:
            gx = _backward_anomaly(node, grads) if _anomaly.enabled else \
                type(node).backward(node, *grads)
    elif _anomaly.enabled:
        gx = _backward_anomaly(node, grads)
    else:
        gx = type(node).backward(node, *grads)
    if type(gx) is not tuple:
        gx = (gx,)
    edges = node.next_edges
    if len(gx) > len(edges):
        raise RuntimeError(f"{node.name()}: backward returned {len(gx)} gradients, "
                           f"expected {len(edges)} (one per forward input)")
    if not retain_graph:
        saved = node.__dict__  # everything but the slots' bookkeeping is saved state
        if saved:
            saved.clear()
            node._freed = True
    # Trailing inputs that backward left out (dims, flags) get no gradient.
    out = [None] * len(edges)
    for i, (g, meta) in enumerate(zip(gx, node.input_meta)):
        if g is not None and meta is not None:
            shape, dtype = meta
            if g.shape != shape:
                g = sum_to(g, shape)
            if g.dtype != dtype:
                g = g.astype(dtype)
            out[i] = g
    return out


# ---------------------------------------------------------------------------------------
# create_graph=True: the same backward code, run on differentiable arrays.

# ctx entries that are bookkeeping, not state a backward computes with
_BOOKKEEPING = frozenset(("saved_tensors", "_saved_versions", "_saved_ids", "_call",
                          "_forward_stack", "_non_diff"))


def _differentiable(g):
    """A root gradient (array or Tensor) as a DArray; a Tensor keeps its graph."""
    from mytorch.tensor import Tensor
    if type(g) is DArray:
        return g
    return DArray(g if isinstance(g, Tensor) else _function._wrap(g))


def _input_tensor(node, i, arr):
    """Forward input i of `node` (whose array is `arr`) as a Tensor linked where it was."""
    edge = node.next_edges[i]
    if edge is None:
        return _function._wrap(arr)
    fn, nr = edge
    if type(fn) is AccumulateGrad:
        leaf = fn.variable
        if leaf.data is arr:
            return leaf
        t = _function._wrap(arr)  # the leaf's data was replaced since: link to its node
        t._requires_grad = True
        t._accum = weakref.ref(fn)
        t._accum_node = fn
        return t
    return _function._wrap(arr, fn, nr)


def _not_supported(node, why):
    return RuntimeError(f"{node.name()}: double backward (create_graph=True) is not supported "
                        f"for this op: {why}")


def _saved_differentiable(node, saved):
    """The saved arrays as DArrays: inputs and outputs linked into the graph, integer and
    bool arrays (indices, masks) as constants; any other floating array was computed in
    forward, so its dependence on the inputs would be lost: refuse."""
    ids = node.__dict__.get("_saved_ids", ())  # inputs' array ids, then outputs'
    n_in = len(node.next_edges)
    constants = getattr(node, "graph_constants", ())
    out = []
    for j, s in enumerate(saved):
        if not (is_array(s) or isinstance(s, np.generic)):  # 0-d results can be NumPy scalars
            out.append(s)
            continue
        k = ids.index(id(s)) if id(s) in ids else None
        if k is not None and k < n_in:
            t = _input_tensor(node, k, s)
        elif k is not None:
            t = _function._wrap(s, node, k - n_in)
        elif s.dtype.kind in "fc" and j not in constants:
            raise _not_supported(node, f"it saves a floating-point array of shape "
                                       f"{tuple(s.shape)} computed in forward")
        else:
            t = _function._wrap(s)
        out.append(DArray(t))
    return tuple(out)


def _check_state(node):
    for k, v in node.__dict__.items():
        if k in _BOOKKEEPING or k in getattr(node, "graph_constants", ()):
            continue
        for a in (v if type(v) in (tuple, list) else (v,)):
            if (is_array(a) or isinstance(a, np.generic)) and a.dtype.kind in "fc":
                raise _not_supported(node, f"its backward reads ctx.{k}, a floating-point "
                                           "array computed in forward")


def _run_node_graph(node, grads, retain_graph):
    """`_run_node` for create_graph: backward runs on DArrays (saved inputs and outputs linked
    into the graph), or, for an op with a `composite`, the composite is differentiated."""
    saved = None
    if not node._freed and "_call" in node.__dict__:
        if type(node).linear_in is not None:
            gx = _run_linear(node, grads)
            if not retain_graph:
                node.__dict__.clear()
                node._freed = True
            return gx
        if type(node).composite is not None:
            gx = _run_composite(node, grads)
            if not retain_graph:
                node.__dict__.clear()
                node._freed = True
            return gx
    if not node._freed:
        _check_state(node)
        saved = node.__dict__.get("saved_tensors")
        if saved is not None:
            node.saved_tensors = _saved_differentiable(node, saved)
    try:
        gx = _run_node(node, grads, True)
    except (TypeError, AttributeError, NotImplementedError) as err:
        raise _not_supported(node, f"its backward failed on differentiable arrays ({err})") \
            from err
    finally:
        if not node._freed and saved is not None:
            node.saved_tensors = saved
    if not retain_graph:
        node.__dict__.clear()
        node._freed = True
    return [g if g is None or type(g) is DArray else DArray(_function._wrap(g)) for g in gx]


def _run_linear(node, grads):
    if "_saved_versions" in node.__dict__:
        _function.check_versions(node)
    if node._hooks:
        _run_hooks(node, grads)
    gx = [None] * len(node.next_edges)
    if grads[0] is not None:
        gx[node.linear_in] = DArray(_function.linear_graph_backward(node, grads[0].t))
    return gx


def _run_composite(node, grads):
    from mytorch.autograd import grad
    if "_saved_versions" in node.__dict__:
        _function.check_versions(node)
    if node._hooks:
        _run_hooks(node, grads)
    from mytorch.tensor import Tensor
    arrays, kwargs, types = node._call
    op = type(node)
    if op.rebuilt_inputs is not None:
        arrays = list(arrays)
        for i in op.rebuilt_inputs(node):
            arrays[i] = op.rebuild_input(node, i)
    inputs = [_input_tensor(node, i, a) if issubclass(t, Tensor) else a
              for i, (a, t) in enumerate(zip(arrays, types))]
    try:
        outs = type(node).composite(*inputs, **kwargs)
    except NotImplementedError as err:
        raise _not_supported(node, str(err)) from err
    outs = outs if type(outs) is tuple else (outs,)
    pairs = [(o, g.t) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
    wanted = [i for i, e in enumerate(node.next_edges) if e is not None]
    gx = [None] * len(node.next_edges)
    if pairs and wanted:
        got = grad([o for o, _ in pairs], [inputs[i] for i in wanted], [g for _, g in pairs],
                   create_graph=True, allow_unused=True)
        for i, g in zip(wanted, got):
            gx[i] = None if g is None else DArray(g)
    return gx


def _forward_trace(node):
    stack = getattr(node, "_forward_stack", None)
    if stack is None:
        return ("No forward pass information available. Enable detect anomaly during forward "
                "pass for more information.")
    return "Traceback of forward call that caused the error:\n" + "".join(stack)


def _backward_anomaly(node, grads):
    """`node`'s backward under anomaly detection: name the forward call of a failing op and
    refuse NaN gradients (torch's wording)."""
    try:
        gx = type(node).backward(node, *grads)
    except Exception:
        warnings.warn(f"Error detected in {node.name()}. {_forward_trace(node)}", stacklevel=2)
        raise
    if _anomaly.check_nan:
        from mytorch.backend import array_module
        for i, g in enumerate(gx if type(gx) is tuple else (gx,)):
            if g is not None and g.dtype.kind in "fc" and bool(array_module(g).isnan(g).any()):
                raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th "
                                   f"output.\n{_forward_trace(node)}")
    return gx


def _run_hooks(node, grads):
    for nr, hooks in node._hooks.items():
        for hook in hooks:
            if grads[nr] is not None:
                new = hook(grads[nr])
                if new is not None:
                    grads[nr] = new


def _fill_missing(node, grads):
    # A multi-output node whose other outputs got no gradient: they contribute zeros.
    from mytorch.backend import array_module
    ref = next(x for x in grads if x is not None)
    for i, g in enumerate(grads):
        if g is None:
            shape, dtype = node.output_meta[i]
            grads[i] = array_module(ref).zeros(shape, dtype)


def _accumulate_leaf(node, g, capture, owned=False):
    leaf = node.variable
    hooks = node._hooks
    if type(g) is RowGrad and (capture is not None or (hooks and 0 in hooks)):
        g, owned = g.dense(), True  # a hook sees (and autograd.grad returns) a whole array
    if hooks:
        for hook in hooks.get(0, ()):
            new = hook(g)
            if new is not None:
                g, owned = new, False
    if capture is not None:
        return
    if type(g) is np.ndarray:
        _add_into_grad(leaf, g, owned)
    elif type(g) is RowGrad:  # only its rows are added into an existing .grad
        if leaf.grad is None:
            leaf.grad = _function._wrap(g.dense(), None, 0)
        else:
            g.add_into(leaf.grad.data)
    elif type(g) is DArray:  # create_graph: .grad is a Tensor with a graph, added out of place
        leaf.grad = g.t if leaf.grad is None else leaf.grad + g.t
    else:  # a GPU array: copied or added on its own device
        with backend.device_scope(g):
            _add_into_grad(leaf, g, owned)
    if hooks and "post" in hooks:
        for hook in hooks["post"]:
            hook(leaf)


def _add_into_grad(leaf, g, owned):
    """leaf.grad += g, in place. The leaf takes the array over when nothing else can hold it
    (see `_owns`); otherwise (Add returns gy twice, a broadcast view, the caller's own
    gradient) it gets its own copy."""
    grad = leaf.grad
    if grad is None:
        leaf.grad = _function._wrap(g if owned else g.copy(), None, 0)
    elif grad.shape != g.shape:
        raise RuntimeError(f"AccumulateGrad: existing .grad has shape {tuple(grad.shape)} "
                           f"but the new gradient has shape {tuple(g.shape)}")
    else:
        grad.data += g


def _count_dependencies(roots):
    deps = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if edge is None:
                continue
            nxt = edge[0]
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps


def run_backward(edges, grads, retain_graph=False, engine=None, capture=None,
                 create_graph=False):
    """Propagate `grads` (arrays) from `edges` ((node, output_nr) pairs) to the leaves.

    capture: optional {(node, output_nr): slot} -- instead of accumulating into `.grad`,
    store the total gradient reaching those places (used by `autograd.grad`) and return them;
    only nodes from which a captured place can be reached run.
    create_graph: run every backward on differentiable arrays (`tensor_xp.DArray`) with grad
    mode on, so the gradients are Tensors with a graph of their own; `grads` may be Tensors.
    """
    engine = engine or _default_engine
    if engine not in ENGINES:
        raise ValueError(f"backward: unknown engine {engine!r}; choose from {ENGINES}")
    roots = list(dict.fromkeys(e[0] for e in edges))
    deps = _count_dependencies(roots)
    if capture is not None:
        capture = _Capture(capture, _needed(roots, {node for node, _ in capture}))
    run_node = _run_node
    if create_graph:
        grads = [_differentiable(g) for g in grads]
        run_node = _run_node_graph
    buffers = {}
    for (node, nr), g in zip(edges, grads):
        buf = buffers.setdefault(node, [None] * node.n_outputs)
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    captured = {} if capture is not None else None
    runner = _topological if engine == "topological" else _recursive
    # PyTorch never warns about inf/nan arising in arithmetic; neither does backward here
    # (one context for the whole pass, not one per node).
    _callbacks.append([])  # one list per pass: a backward inside a hook has its own
    try:
        with np.errstate(all="ignore"):
            if create_graph:  # the backward's own ops record a graph
                with set_grad_enabled(True):
                    runner(roots, deps, buffers, retain_graph, capture, captured, run_node)
            else:
                runner(roots, deps, buffers, retain_graph, capture, captured, run_node)
    finally:
        callbacks = _callbacks.pop()
    for fn in callbacks:
        fn()
    return captured


_callbacks = []


def queue_callback(fn):
    """Run `fn()` once when the backward pass now running ends (torch's
    `Variable._execution_engine.queue_callback`; DDP flushes its gradient buckets with it)."""
    if not _callbacks:
        raise RuntimeError("queue_callback: no backward pass is running")
    _callbacks[-1].append(fn)


def register_delivery_hook(leaf, hook):
    """Call `hook(g)` with each gradient that backward delivers to the leaf tensor `leaf`, as
    it arrives and before it is summed with the others into `.grad`: a leaf used twice (a tied
    embedding and output head) gets two calls, the head's dense array first, the embedding's
    `RowGrad` at the end. g is a NumPy or CuPy array or a RowGrad; the hook must not change g,
    nor keep an array without copying it (the engine may add later gradients into it in place;
    a RowGrad is never changed). A hook that returns True takes g over: the engine leaves it
    out of the leaf's sum, so `.grad` never gets it (and when every contribution of a backward
    is taken, `.grad` is not touched and the leaf's post-accumulate hooks do not run). Like
    torch's tensor hooks but per contribution; not called by autograd.grad, nor under
    create_graph. Data-parallel buckets use it to send the head's part of a tied weight's
    gradient long before backward ends, and, when gradients live in the buckets, to keep the
    engine from adding the parts they took into `.grad` (mytorch.distributed.buckets).
    Returns a handle whose `remove()` unregisters it."""
    if leaf.grad_fn is not None or not leaf.requires_grad:
        raise RuntimeError(f"register_delivery_hook: only leaf tensors that require grad get "
                           f"gradients delivered; got a tensor of shape {tuple(leaf.shape)} "
                           f"with requires_grad={leaf.requires_grad} and grad_fn "
                           f"{leaf.grad_fn.name() if leaf.grad_fn is not None else None}")
    return leaf._add_leaf_hook("deliver", hook)


class _Capture(dict):
    """autograd.grad's {(node, output_nr): slot}, with the set of nodes worth running."""

    def __init__(self, places, needed):
        super().__init__(places)
        self.needed = needed


def _needed(roots, targets):
    """The nodes from which one of `targets` can be reached (the targets included)."""
    needed, done = set(), set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if node in targets or any(e is not None and e[0] in needed
                                          for e in node.next_edges):
                    needed.add(node)
                continue
            if node in done:
                continue
            done.add(node)
            stack.append((node, True))
            stack.extend((e[0], False) for e in node.next_edges if e is not None)
    return needed


def _take(node, buf, capture, captured):
    """Record captured gradients of a node that is about to run; True if it is a leaf (or,
    under capture, a node that leads to no captured place: it need not run)."""
    if capture is not None:
        for nr, g in enumerate(buf):
            slot = capture.get((node, nr))
            if slot is not None and g is not None:
                captured[slot] = g.dense() if type(g) is RowGrad else g
        if node not in capture.needed or (
                type(node) is not AccumulateGrad and not any(
                    e is not None and e[0] in capture.needed for e in node.next_edges)):
            return True
    if type(node) is AccumulateGrad:
        if buf[0] is not None:
            _accumulate_leaf(node, buf[0], capture, len(buf) > 1 and buf[1])
        return True
    return False


def _owns(g, gx, incoming):
    """True when `g`, a gradient returned by a backward, can only be reached through this
    edge: its memory (its own, or a base it spans whole, as after a reshape) is writeable,
    returned once, and is not one of the node's incoming gradients passed straight through."""
    if type(g) is DArray:  # create_graph: the leaf gets the Tensor itself, never a copy
        return False
    mem = _memory(g)
    if mem is None:
        return False
    n = 0
    for x in gx:
        if x is not None and _memory(x) is mem:
            n += 1
    if n != 1:
        return False
    for x in incoming:
        if x is not None and _memory(x) is mem:
            return False
    return True


def _memory(a):
    """The array owning a's whole buffer (a itself, or the base a reshapes or views with
    another dtype, as mytorch.ops.buffers hands out), or None."""
    if not getattr(a.flags, "writeable", True):
        return None
    if a.flags.owndata:
        return a
    base = a.base
    if base is None or base.nbytes != a.nbytes or not getattr(base.flags, "owndata", False) \
            or not (a.flags.c_contiguous and base.flags.c_contiguous):
        return None
    return base


def _deliver_leaf(buffers, leaf_node, g, gx, incoming, retain_graph, capture):
    # A leaf's buffer is [grad, owned]. A second contribution is added into whichever of the
    # two arrays this engine owns (a tied weight's two (V, D) gradients need no third array);
    # otherwise their sum is a fresh array, which the buffer then owns.
    hooks = leaf_node._hooks
    if hooks and "deliver" in hooks and capture is None and type(g) is not DArray:
        taken = False
        for hook in hooks["deliver"]:
            taken = hook(g) is True or taken
        if taken:  # a hook took this gradient over: it is not part of the leaf's sum
            return
    buf = buffers.get(leaf_node)
    if buf is None or buf[0] is None:
        owned = type(g) is not RowGrad and not retain_graph and _owns(g, gx, incoming)
        buffers[leaf_node] = [g, owned]
        return
    a = buf[0]
    if type(a) is RowGrad or type(g) is RowGrad:
        buf[:] = _add_row_grad(a, buf[1], g, not retain_graph and type(g) is not RowGrad
                               and _owns(g, gx, incoming))
        return
    if type(a) is DArray or type(g) is DArray or a.shape != g.shape or a.dtype != g.dtype:
        buf[0] = a + g
    elif buf[1]:
        a += g
        buf[0] = a  # a 0-d sum may be a NumPy scalar, which += rebinds
    elif not retain_graph and _owns(g, gx, incoming):
        g += a
        buf[0] = g
    else:
        buf[0] = a + g
    buf[1:] = [True]


def _add_row_grad(a, a_owned, g, g_owned):
    """[a + g, whether the engine owns it] when a or g is a RowGrad (an embedding's gradient):
    the rows are added in place into a dense array the engine owns, or into a copy of one;
    two RowGrads merge into one."""
    if type(a) is RowGrad and type(g) is RowGrad:
        return [a.merge(g), False]
    if type(g) is RowGrad:
        return [g.add_into(a if a_owned else a.copy()), True]
    return [a.add_into(g if g_owned else g.copy()), True]


def _topological(roots, deps, buffers, retain_graph, capture, captured, run_node):
    ready = [n for n in roots if deps.get(n, 0) == 0]
    pop, push = ready.pop, ready.append
    while ready:
        node = pop()
        buf = buffers.pop(node, None)
        if (capture is not None or type(node) is AccumulateGrad) and \
                _take(node, buf or [None], capture, captured):
            continue
        if buf is None:  # nothing reached this node (e.g. only unused outputs)
            gx = [None] * len(node.next_edges)
        else:
            gx = run_node(node, buf, retain_graph)
        for edge, g in zip(node.next_edges, gx):
            if edge is None:
                continue
            nxt, nr = edge
            if g is not None:
                if type(nxt) is AccumulateGrad:
                    _deliver_leaf(buffers, nxt, g, gx, buf, retain_graph, capture)
                else:
                    nbuf = buffers.get(nxt)
                    if nbuf is None:
                        nbuf = buffers[nxt] = [None] * nxt.n_outputs
                        nbuf[nr] = g
                    elif nbuf[nr] is None:
                        nbuf[nr] = g
                    else:
                        nbuf[nr] = nbuf[nr] + g
            left = deps[nxt] - 1
            deps[nxt] = left
            if not left:
                push(nxt)


def _recursive(roots, deps, buffers, retain_graph, capture, captured, run_node):
    def visit(node):
        buf = buffers.pop(node, None)
        if (capture is not None or type(node) is AccumulateGrad) and \
                _take(node, buf or [None], capture, captured):
            return
        if buf is None:
            gx = [None] * len(node.next_edges)
        else:
            gx = run_node(node, buf, retain_graph)
        ready = []
        for edge, g in zip(node.next_edges, gx):
            if edge is None:
                continue
            if g is not None and type(edge[0]) is AccumulateGrad:
                _deliver_leaf(buffers, edge[0], g, gx, buf, retain_graph, capture)
                g = None
            if deliver(edge[0], edge[1], g):
                ready.append(edge[0])
        # Go deeper only into inputs whose every consumer has delivered. Visiting them
        # last-first makes the order (and so every floating-point sum) the same as the
        # topological engine's stack.
        for nxt in reversed(ready):
            visit(nxt)

    def deliver(node, nr, g):
        if g is not None:
            buf = buffers.get(node)
            if buf is None:
                buf = buffers[node] = [None] * node.n_outputs
            buf[nr] = g if buf[nr] is None else buf[nr] + g
        left = deps[node] - 1
        deps[node] = left
        return left == 0

    # Pure-Python recursion costs no C stack on CPython >= 3.11, so a deep graph only
    # needs a higher limit for the duration of this call.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, len(deps) + 1000))
    try:
        for node in reversed([n for n in roots if deps.get(n, 0) == 0]):
            visit(node)
    finally:
        sys.setrecursionlimit(old)


def hook_retain_grad(tensor):
    """A hook that stores the gradient flowing through a non-leaf tensor on `tensor.grad`."""
    ref = weakref.ref(tensor)

    def hook(g):
        t = ref()
        if t is not None:
            from mytorch.tensor import Tensor
            if type(g) is DArray:
                t.grad = g.t if t.grad is None else t.grad + g.t
            elif t.grad is None:
                t.grad = Tensor._wrap(g.copy())
            else:
                t.grad.data = t.grad.data + g
    return hook
