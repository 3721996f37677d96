"""Recurrent cells and whole-sequence layers.

Two paths, as for every layer: the default is hand-written (`Function`s below: each step
does one matmul for all gates of the input and one for all gates of the hidden state, and
saves only the gate activations its backward needs); `auto=True` composes the same math
from Tensor ops and lets autograd differentiate it.

Gate order follows PyTorch: LSTM (i, f, g, o), GRU (r, z, n).
"""
from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops._kernels_rnn import lstm_step, lstm_step_back, sigmoid_

__all__ = ["GRUCellFunction", "GRULayerFunction", "LSTMCellFunction", "LSTMLayerFunction",
           "RNNCellFunction", "RNNLayerFunction", "gru_cell_auto", "lstm_cell_auto",
           "rnn_cell_auto", "layer_auto"]


# ---- array-level step kernels shared by the cell and the layer Functions ----
# (the LSTM's are in _kernels_rnn: numba loops beside their NumPy references)

def _rnn_step(gates, nonlinearity):
    """gates: x W_ih^T + h W_hh^T + biases, (B, H), overwritten with h'."""
    xp = array_module(gates)
    if nonlinearity == "tanh":
        return xp.tanh(gates, out=gates)
    return xp.maximum(gates, 0, out=gates)


def _rnn_step_back(gh, h_new, nonlinearity):
    """Grad of the pre-activation from the grad of h'."""
    if nonlinearity == "tanh":
        return gh * (1 - h_new * h_new)
    return gh * (h_new > 0)


def _gru_step(gi, gh, h):
    """gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh, (B, 3H). Returns h' and what backward needs."""
    xp = array_module(gi)
    H = h.shape[-1]
    rz = gi[..., :2 * H] + gh[..., :2 * H]
    sigmoid_(xp, rz)
    r, z = rz[..., :H], rz[..., H:]
    ghn = gh[..., 2 * H:]
    n = r * ghn
    n += gi[..., 2 * H:]
    xp.tanh(n, out=n)
    h_new = h - n
    h_new *= z
    h_new += n
    return h_new, (rz, n, ghn.copy())


def _gru_step_back(saved, h, gy):
    """Returns (grad of gi, grad of gh, direct grad of h)."""
    xp = array_module(gy)
    rz, n, ghn = saved
    H = h.shape[-1]
    r, z = rz[..., :H], rz[..., H:]
    dgi = xp.empty(rz.shape[:-1] + (3 * H,), dtype=gy.dtype)
    dn = gy * (1 - z) * (1 - n * n)
    dgi[..., 2 * H:] = dn
    dgi[..., :H] = dn * ghn * r * (1 - r)
    dgi[..., H:2 * H] = gy * (h - n) * z * (1 - z)
    dgh = dgi.copy()
    dgh[..., 2 * H:] *= r
    return dgi, dgh, gy * z


def _proj(x, w, b):
    """x (..., I) @ w^T (+ b) on arrays; one matmul for all gates, rows folded into 2-D (a
    stacked matmul runs one small GEMM per leading index)."""
    y = array_module(x).matmul(x.reshape(-1, x.shape[-1]), w.T)
    if b is not None:
        y += b
    return y.reshape(x.shape[:-1] + (w.shape[0],))


def _weight_t(w):
    """w^T made contiguous, once per sequence: h @ w^T on a transposed view is a slower
    (NT) GEMM, up to 2x on the small per-step products in float32."""
    return array_module(w).ascontiguousarray(w.T)


def _unproj(d, w):
    """d (..., G) @ w (G, I), rows folded as in _proj."""
    y = array_module(d).matmul(d.reshape(-1, d.shape[-1]), w)
    return y.reshape(d.shape[:-1] + (w.shape[1],))


def _bias_grads(ctx, d_ih, d_hh, i_ih, i_hh):
    axes = tuple(range(d_ih.ndim - 1))
    b_ih = d_ih.sum(axes) if ctx.needs_input_grad[i_ih] else None
    b_hh = d_hh.sum(axes) if ctx.needs_input_grad[i_hh] else None
    return b_ih, b_hh


def _linear_grads(ctx, d_ih, d_hh, x, h, w_ih, w_hh, ix, ih, iw):
    """Grads of x, h, w_ih, w_hh from the gate grads (rows folded into one matmul)."""
    xp = array_module(d_ih)
    gx = _unproj(d_ih, w_ih) if ctx.needs_input_grad[ix] else None
    gh = _unproj(d_hh, w_hh) if ctx.needs_input_grad[ih] else None
    gw_ih = gw_hh = None
    if ctx.needs_input_grad[iw]:
        gw_ih = xp.matmul(d_ih.reshape(-1, d_ih.shape[-1]).T, x.reshape(-1, x.shape[-1]))
    if ctx.needs_input_grad[iw + 1]:
        gw_hh = xp.matmul(d_hh.reshape(-1, d_hh.shape[-1]).T, h.reshape(-1, h.shape[-1]))
    return gx, gh, gw_ih, gw_hh


# ---- single-step cells ----

class RNNCellFunction(Function):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh). Saves x, h, h' and the weights."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
        gates = _proj(x, w_ih, b_ih)
        gates += _proj(h, w_hh, b_hh)
        h_new = _rnn_step(gates, nonlinearity)
        ctx.save_for_backward(x, h, w_ih, w_hh, h_new)
        ctx.nonlinearity = nonlinearity
        return h_new

    @staticmethod
    def backward(ctx, gy):
        x, h, w_ih, w_hh, h_new = ctx.saved_tensors
        d = _rnn_step_back(gy, h_new, ctx.nonlinearity)
        gx, gh, gw_ih, gw_hh = _linear_grads(ctx, d, d, x, h, w_ih, w_hh, 0, 1, 2)
        return (gx, gh, gw_ih, gw_hh) + _bias_grads(ctx, d, d, 4, 5)

    @staticmethod
    def composite(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):  # create_graph: in place
        return rnn_cell_auto(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)


class LSTMCellFunction(Function):
    """One LSTM step. Saves x, h, c, the weights, the 4 gate activations and tanh(c')."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        xp = array_module(x)
        gates = _proj(x, w_ih, b_ih)  # (B, 4H), becomes the activations in place
        h_new, c_new, tc = (xp.empty(h.shape, dtype=x.dtype) for _ in range(3))
        lstm_step(gates, _proj(h, w_hh, b_hh), c, h_new, c_new, tc)
        ctx.save_for_backward(x, h, c, w_ih, w_hh, gates, tc)
        return h_new, c_new

    @staticmethod
    def backward(ctx, gy, gc):
        x, h, c, w_ih, w_hh, act, tc = ctx.saved_tensors
        xp = array_module(act)
        d, gc_prev = xp.empty_like(act), xp.empty(c.shape, dtype=act.dtype)
        lstm_step_back(act, c, tc, gy, gc, d, gc_prev)
        gx, gh, gw_ih, gw_hh = _linear_grads(ctx, d, d, x, h, w_ih, w_hh, 0, 1, 3)
        gc_prev = gc_prev if ctx.needs_input_grad[2] else None
        return (gx, gh, gc_prev, gw_ih, gw_hh) + _bias_grads(ctx, d, d, 5, 6)

    @staticmethod
    def composite(x, h, c, w_ih, w_hh, b_ih, b_hh):  # create_graph: backward is a numba kernel
        return lstm_cell_auto(x, h, c, w_ih, w_hh, b_ih, b_hh)


class GRUCellFunction(Function):
    """One GRU step. Saves x, h, the weights, r, z, n and the hidden part of n's pre-activation."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        gi = _proj(x, w_ih, b_ih)
        gh = _proj(h, w_hh, b_hh)
        h_new, saved = _gru_step(gi, gh, h)
        ctx.save_for_backward(x, h, w_ih, w_hh, *saved)
        return h_new

    @staticmethod
    def backward(ctx, gy):
        x, h, w_ih, w_hh, *saved = ctx.saved_tensors
        dgi, dgh, gh_direct = _gru_step_back(saved, h, gy)
        gx, gh, gw_ih, gw_hh = _linear_grads(ctx, dgi, dgh, x, h, w_ih, w_hh, 0, 1, 2)
        if gh is not None:
            gh += gh_direct
        return (gx, gh, gw_ih, gw_hh) + _bias_grads(ctx, dgi, dgh, 4, 5)

    @staticmethod
    def composite(x, h, w_ih, w_hh, b_ih, b_hh):  # create_graph: backward reads r, z, n
        return gru_cell_auto(x, h, w_ih, w_hh, b_ih, b_hh)


# ---- composed (auto) cells ----

def _auto_proj(x, w, b):
    y = x.matmul(w.t())
    return y if b is None else y + b


def rnn_cell_auto(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    pre = _auto_proj(x, w_ih, b_ih) + _auto_proj(h, w_hh, b_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_cell_auto(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gates = _auto_proj(x, w_ih, b_ih) + _auto_proj(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_new.tanh(), c_new


def gru_cell_auto(x, h, w_ih, w_hh, b_ih, b_hh):
    ir, iz, in_ = _auto_proj(x, w_ih, b_ih).chunk(3, dim=-1)
    hr, hz, hn = _auto_proj(h, w_hh, b_hh).chunk(3, dim=-1)
    r = (ir + hr).sigmoid()
    z = (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    return n + z * (h - n)


# ---- whole-sequence layers (one direction of one layer) ----

def _time_order(a, reverse):
    return a[::-1] if reverse else a


def _contig(a):
    return array_module(a).ascontiguousarray(a)


class RNNLayerFunction(Function):
    """A full sequence through one Elman RNN layer.

    Hand-written for speed: one matmul for the input projection of every time step, one
    matmul per step for the recurrence, and the weight grads as one matmul each at the end.
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False):
        xp = array_module(x)
        xs = _time_order(x, reverse)  # (T, B, I), in processing order
        gi = _proj(xs, w_ih, b_ih)  # (T, B, H)
        if b_hh is not None:
            gi += b_hh
        hs = xp.empty((x.shape[0] + 1,) + h0.shape, dtype=x.dtype)  # h_0 .. h_T
        hs[0] = h0
        w_hh_t, gh = _weight_t(w_hh), xp.empty(h0.shape, dtype=x.dtype)
        for t in range(x.shape[0]):
            gt = gi[t]
            gt += xp.matmul(hs[t], w_hh_t, out=gh)
            hs[t + 1] = _rnn_step(gt, nonlinearity)
        ctx.save_for_backward(xs, w_ih, w_hh, hs)
        ctx.nonlinearity, ctx.reverse = nonlinearity, reverse
        return _contig(_time_order(hs[1:], reverse)), hs[-1].copy()

    @staticmethod
    def backward(ctx, gy, ghn):
        xs, w_ih, w_hh, hs = ctx.saved_tensors
        xp = array_module(gy)
        gy = _time_order(gy, ctx.reverse)
        d = xp.empty(gy.shape, dtype=gy.dtype)
        dh = ghn.copy()
        for t in range(gy.shape[0] - 1, -1, -1):
            dh += gy[t]
            d[t] = _rnn_step_back(dh, hs[t + 1], ctx.nonlinearity)
            dh = xp.matmul(d[t], w_hh)
        return _layer_grads(ctx, d, d, xs, hs[:-1], w_ih, dh)

    @staticmethod
    def composite(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False):
        # create_graph: backward reads the hidden states computed in forward
        return layer_auto("RNN", x, (h0,), w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse)


def _layer_grads(ctx, d_ih, d_hh, xs, h_prev, w_ih, dh0, dc0=None):
    xp = array_module(d_ih)
    needs = ctx.needs_input_grad
    k = 3 if dc0 is not None else 2  # index of w_ih among the inputs
    gx = None
    if needs[0]:
        gx = _contig(_time_order(_unproj(d_ih, w_ih), ctx.reverse))
    gw_ih = gw_hh = None
    if needs[k]:
        gw_ih = xp.matmul(d_ih.reshape(-1, d_ih.shape[-1]).T, xs.reshape(-1, xs.shape[-1]))
    if needs[k + 1]:
        gw_hh = xp.matmul(d_hh.reshape(-1, d_hh.shape[-1]).T,
                          h_prev.reshape(-1, h_prev.shape[-1]))
    b_ih, b_hh = _bias_grads(ctx, d_ih, d_hh, k + 2, k + 3)
    states = (dh0,) if dc0 is None else (dh0, dc0)
    return (gx,) + states + (gw_ih, gw_hh, b_ih, b_hh)


class LSTMLayerFunction(Function):
    """A full sequence through one LSTM layer (see RNNLayerFunction). Saves the gate
    activations, the cell states and tanh of them: what backward needs, nothing recomputed."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        xp = array_module(x)
        T = x.shape[0]
        xs = _time_order(x, reverse)
        acts = _proj(xs, w_ih, b_ih)  # (T, B, 4H), becomes the activations in place
        if b_hh is not None:
            acts += b_hh
        hs = xp.empty((T + 1,) + h0.shape, dtype=x.dtype)
        cs = xp.empty((T + 1,) + c0.shape, dtype=x.dtype)
        tcs = xp.empty((T,) + c0.shape, dtype=x.dtype)
        hs[0], cs[0] = h0, c0
        w_hh_t, gh = _weight_t(w_hh), xp.empty(acts.shape[1:], dtype=x.dtype)
        for t in range(T):
            lstm_step(acts[t], xp.matmul(hs[t], w_hh_t, out=gh), cs[t], hs[t + 1], cs[t + 1],
                      tcs[t])
        ctx.save_for_backward(xs, w_ih, w_hh, hs, cs, tcs, acts)
        ctx.reverse = reverse
        return _contig(_time_order(hs[1:], reverse)), hs[-1].copy(), cs[-1].copy()

    @staticmethod
    def backward(ctx, gy, ghn, gcn):
        xs, w_ih, w_hh, hs, cs, tcs, acts = ctx.saved_tensors
        xp = array_module(gy)
        gy = _time_order(gy, ctx.reverse)
        d = xp.empty(acts.shape, dtype=gy.dtype)
        dh, dc = (g.astype(gy.dtype, order="C") for g in (ghn, gcn))  # own, updated in place
        dc_prev = xp.empty_like(dc)
        for t in range(gy.shape[0] - 1, -1, -1):
            dh += gy[t]
            lstm_step_back(acts[t], cs[t], tcs[t], dh, dc, d[t], dc_prev)
            dc, dc_prev = dc_prev, dc
            xp.matmul(d[t], w_hh, out=dh)
        return _layer_grads(ctx, d, d, xs, hs[:-1], w_ih, dh, dc)

    @staticmethod
    def composite(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        # create_graph: backward is a numba kernel on states computed in forward
        return layer_auto("LSTM", x, (h0, c0), w_ih, w_hh, b_ih, b_hh, "tanh", reverse)


class GRULayerFunction(Function):
    """A full sequence through one GRU layer (see RNNLayerFunction)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        xp = array_module(x)
        T = x.shape[0]
        xs = _time_order(x, reverse)
        gi = _proj(xs, w_ih, b_ih)  # (T, B, 3H)
        hs = xp.empty((T + 1,) + h0.shape, dtype=x.dtype)
        hs[0] = h0
        H = h0.shape[-1]
        rzs = xp.empty(gi.shape[:-1] + (2 * H,), dtype=x.dtype)
        ns = xp.empty((T,) + h0.shape, dtype=x.dtype)
        ghns = xp.empty_like(ns)
        w_hh_t = _weight_t(w_hh)
        for t in range(T):
            gh = xp.matmul(hs[t], w_hh_t)
            if b_hh is not None:
                gh += b_hh
            hs[t + 1], (rzs[t], ns[t], ghns[t]) = _gru_step(gi[t], gh, hs[t])
        ctx.save_for_backward(xs, w_ih, w_hh, hs, rzs, ns, ghns)
        ctx.reverse = reverse
        return _contig(_time_order(hs[1:], reverse)), hs[-1].copy()

    @staticmethod
    def backward(ctx, gy, ghn):
        xs, w_ih, w_hh, hs, rzs, ns, ghns = ctx.saved_tensors
        xp = array_module(gy)
        gy = _time_order(gy, ctx.reverse)
        T, H = gy.shape[0], hs.shape[-1]
        d_ih = xp.empty(gy.shape[:-1] + (3 * H,), dtype=gy.dtype)
        d_hh = xp.empty_like(d_ih)
        dh = ghn.copy()
        for t in range(T - 1, -1, -1):
            dh += gy[t]
            d_ih[t], d_hh[t], direct = _gru_step_back((rzs[t], ns[t], ghns[t]), hs[t], dh)
            dh = xp.matmul(d_hh[t], w_hh)
            dh += direct
        return _layer_grads(ctx, d_ih, d_hh, xs, hs[:-1], w_ih, dh)

    @staticmethod
    def composite(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        # create_graph: backward reads the gates computed in forward
        return layer_auto("GRU", x, (h0,), w_ih, w_hh, b_ih, b_hh, "tanh", reverse)


def layer_auto(mode, x, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse):
    """One direction of one recurrent layer composed from Tensor ops (the `auto=True` path, and
    the layers' create_graph composite). mode: "RNN", "LSTM" or "GRU"."""
    from mytorch.ops.shape import stack
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    outs = [None] * x.shape[0]
    h = hx[0]
    c = hx[1] if mode == "LSTM" else None
    for t in steps:
        if mode == "LSTM":
            h, c = lstm_cell_auto(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        elif mode == "GRU":
            h = gru_cell_auto(x[t], h, w_ih, w_hh, b_ih, b_hh)
        else:
            h = rnn_cell_auto(x[t], h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
        outs[t] = h
    y = stack(outs, 0)
    return (y, h, c) if mode == "LSTM" else (y, h)
