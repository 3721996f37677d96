"""CPU helpers for the recurrent layers in mytorch.ops.rnn.

The pointwise part of an LSTM step is ~15 NumPy calls on (B, H) slices; on the small arrays
of a time step each call costs more in overhead than in arithmetic. `lstm_step` keeps NumPy's
SIMD tanh (numba's is a scalar libm call) and fuses the arithmetic around it into two numba
row loops; `lstm_step_back` is one numba loop (the backward needs no transcendentals). Each
sits beside its array-module reference, which CuPy and other dtypes use.
"""
import functools

import numpy as np

from mytorch.backend import array_module

# The LSTM gates in their order along the 4H axis (and the `4` axis of the loops' views).
GATE_I, GATE_F, GATE_G, GATE_O = range(4)


def sigmoid_(xp, x):
    """In-place logistic; tanh form is stable in both tails."""
    x *= 0.5
    xp.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def lstm_step_reference(gi, gh, c, h, c_new, tc):
    """One LSTM step after the matmuls. gi + gh: pre-activation gates (B, 4H) in order
    (i, f, g, o); gi is overwritten with the activations. c (B, H); writes h', c' and
    tanh(c') into h, c_new, tc (B, H)."""
    xp = array_module(gi)
    H = c.shape[-1]
    gi += gh
    sigmoid_(xp, gi[..., :2 * H])
    xp.tanh(gi[..., 2 * H:3 * H], out=gi[..., 2 * H:3 * H])
    sigmoid_(xp, gi[..., 3 * H:])
    i, f, g, o = gi[..., :H], gi[..., H:2 * H], gi[..., 2 * H:3 * H], gi[..., 3 * H:]
    xp.multiply(f, c, out=c_new)
    c_new += i * g
    xp.tanh(c_new, out=tc)
    xp.multiply(o, tc, out=h)


def lstm_step_back_reference(act, c, tc, gh, gc, d, gc_prev):
    """Backward of one step from the activations act (B, 4H), c, tanh(c') and the grads of
    h' and c' (B, H): writes the grad of the pre-activation gates into d (B, 4H) and the grad
    of c into gc_prev (B, H)."""
    xp = array_module(act)
    H = c.shape[-1]
    i, f, g, o = act[..., :H], act[..., H:2 * H], act[..., 2 * H:3 * H], act[..., 3 * H:]
    dc = gh * o
    dc *= 1 - tc * tc
    dc += gc
    d[..., :H] = dc * g * i * (1 - i)
    d[..., H:2 * H] = dc * c * f * (1 - f)
    d[..., 2 * H:3 * H] = dc * i * (1 - g * g)
    d[..., 3 * H:] = gh * tc * o * (1 - o)
    xp.multiply(dc, f, out=gc_prev)


@functools.cache
def _compiled_lstm():
    # Gate arrays come in as (B, 4, H) views, so that each gate row is a plain contiguous
    # 1-D array indexed by the loop variable (offset indexing defeats vectorization). Each
    # inner loop touches only a few rows: LLVM must prove at run time that the rows it writes
    # overlap none it reads, and past a few such checks it leaves the loop scalar (2-3x
    # slower). The operation order is the reference's, so results match it to the last bit.
    from numba import njit

    opts = dict(cache=True, nogil=True, error_model="numpy")

    @njit(**opts)
    def gates_in(a, gh):
        # a = (a + gh) halved on i, f, o: the argument of sigmoid's tanh form
        half = a.dtype.type(0.5)
        for b in range(a.shape[0]):
            for k in range(4):
                ar, gr = a[b, k], gh[b, k]
                if k == GATE_G:  # tanh's argument as is
                    for j in range(a.shape[2]):
                        ar[j] += gr[j]
                else:
                    for j in range(a.shape[2]):
                        ar[j] = (ar[j] + gr[j]) * half

    @njit(**opts)
    def cell(a, c, c_new):
        # a holds tanh of gates_in's result: finish the sigmoids, then c' = f c + i g
        half = a.dtype.type(0.5)
        H = a.shape[2]
        for b in range(a.shape[0]):
            for k in (GATE_I, GATE_F, GATE_O):
                ar = a[b, k]
                for j in range(H):
                    ar[j] = ar[j] * half + half
            ai, af, ag = a[b, GATE_I], a[b, GATE_F], a[b, GATE_G]
            cb, cn = c[b], c_new[b]
            for j in range(H):
                cn[j] = af[j] * cb[j] + ai[j] * ag[j]

    @njit(**opts)
    def back(a, c, tc, gh, gc, d, gc_prev):
        one = a.dtype.type(1)
        H = a.shape[2]
        dc = np.empty(H, a.dtype)  # grad of c' for one row
        for b in range(a.shape[0]):
            ai, af, ag, ao = a[b, GATE_I], a[b, GATE_F], a[b, GATE_G], a[b, GATE_O]
            di, df, dg, do = d[b, GATE_I], d[b, GATE_F], d[b, GATE_G], d[b, GATE_O]
            cb, tb, hb, gb, pb = c[b], tc[b], gh[b], gc[b], gc_prev[b]
            for j in range(H):
                dc[j] = hb[j] * ao[j] * (one - tb[j] * tb[j]) + gb[j]
            for j in range(H):
                pb[j] = dc[j] * af[j]
            for j in range(H):
                di[j] = dc[j] * ag[j] * ai[j] * (one - ai[j])
            for j in range(H):
                df[j] = dc[j] * cb[j] * af[j] * (one - af[j])
            for j in range(H):
                dg[j] = dc[j] * ai[j] * (one - ag[j] * ag[j])
            for j in range(H):
                do[j] = hb[j] * tb[j] * ao[j] * (one - ao[j])

    return (gates_in, cell, back)


def _fits(written, *others):
    """2-D NumPy float32/float64 arrays of one dtype; `written` C-contiguous, as the loops
    write it through a reshaped view."""
    if (type(written) is not np.ndarray or written.dtype not in (np.float32, np.float64)
            or not written.flags.c_contiguous):
        return False
    return all(type(a) is np.ndarray and a.dtype == written.dtype and a.ndim == 2
               for a in (written,) + others)


def lstm_step(gi, gh, c, h, c_new, tc):
    """Same as lstm_step_reference; numba loops around NumPy's tanh for NumPy floats."""
    if not _fits(gi, gh, c, h, c_new, tc):
        return lstm_step_reference(gi, gh, c, h, c_new, tc)
    gates_in, cell, _ = _compiled_lstm()
    B, H = c.shape
    a = gi.reshape(B, 4, H)
    gates_in(a, np.ascontiguousarray(gh).reshape(B, 4, H))
    np.tanh(gi, out=gi)
    cell(a, np.ascontiguousarray(c), c_new)
    np.tanh(c_new, out=tc)
    np.multiply(gi[:, 3 * H:], tc, out=h)


def lstm_step_back(act, c, tc, gh, gc, d, gc_prev):
    """Same as lstm_step_back_reference; one numba loop for NumPy floats."""
    if not _fits(d, act, c, tc, gh, gc, gc_prev):
        return lstm_step_back_reference(act, c, tc, gh, gc, d, gc_prev)
    B, H = c.shape
    _compiled_lstm()[2](np.ascontiguousarray(act).reshape(B, 4, H), np.ascontiguousarray(c),
                        np.ascontiguousarray(tc), np.ascontiguousarray(gh),
                        np.ascontiguousarray(gc), d.reshape(B, 4, H), gc_prev)
