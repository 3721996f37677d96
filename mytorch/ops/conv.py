"""Convolution on arrays: im2col, col2im, the GEMM drivers and their Functions.

Convolution is im2col into columns (C*prod(kernel), n*prod(out)) for a batch chunk followed by
one GEMM per group, and its input gradient is col2im of the transposed product. On 2-D
geometries (1-D runs as height 1) im2col and col2im run as numba loops
(mytorch.ops._kernels_conv) on NumPy float arrays; the array-module references here (strided
window copies, one slice-add per kernel offset, never `np.add.at`) serve CuPy, 3-D geometries
and the tests. 3x3 convolutions may take Winograd instead of im2col (mytorch.ops.winograd): at
stride 1 F(2x2, 3x3) or F(4x4, 3x3) (4 or 2.25 multiplies per output and channel pair instead of
9), at stride 2 F(2x2, 3x3) (6.25); mytorch.ops.winograd_cl runs F(2x2, 3x3) at either stride
with channels-last transformed tensors, whose transforms vectorize; 1-D convolutions of kernel 3
and stride 1 may take F(4, 3) (mytorch.ops.winograd1d: 1.5 instead of 3; winograd1d_cl with
channels-last transformed tensors). Strided convolutions whose kernel is a multiple of the
stride (4x4 stride 2: the transposed-conv upsampler) may run through the stride phases instead
(mytorch.ops.conv_phase: row copies and adds, no index table). 2-D convolutions may build
channels-last columns instead (mytorch.ops.conv_cl: a row per output position, contiguous
runs of channels, no gather at stride 2). Transposed convolutions may run
with the batch innermost in their columns instead (mytorch.ops.conv_chwn: every copy and add a
run of N values), and 4x4 stride-2 ones as Winograd F(4x4, 2x2) on their stride phases
(mytorch.ops.winograd_t: 2.56x fewer multiplies). mytorch.ops.conv_select picks one per shape by
timing them.

`conv_auto` and `conv_transpose_auto` build the same results from Tensor ops (slicing, stack,
matmul) and let autograd derive the gradient: the `auto=True` path of F.conv*d and the
create_graph form of both Functions. `pad_tensor` and `taps_tensor` are their window helpers,
which pooling's `auto=True` path uses too. The window geometry lives in mytorch.ops.window.
"""
import math

from mytorch.autograd.function import Function
from mytorch.backend import array_module
from mytorch.ops import _kernels_conv as _kc
from mytorch.ops import (
    conv_chwn,
    conv_cl,
    conv_phase,
    conv_select,
    winograd,
    winograd1d,
    winograd1d_cl,
    winograd_cl,
    winograd_t,
)
from mytorch.ops.window import Geom, batch_chunks, crop, geom, offsets, pad, tap, windows

__all__ = ["ConvNd", "ConvTransposeNd", "col2im", "conv_auto", "conv_transpose_auto", "im2col",
           "pad_tensor", "taps_tensor"]

# im2col works on batch chunks whose column buffer holds at most this many elements: small
# enough that a chunk's columns are still in cache when the GEMM reads them (4 MiB of float32
# ran 1.2x faster than 16 MiB on the stride-1 benchmark convs).
_CHUNK_ELEMS = 1 << 20
_KEEP_COLS_BYTES = 16 << 20  # forward keeps a 2-D conv's column matrix up to this size


def _keep_cols_bytes(g):
    # Read at call time (the tests lower the limits). 3-D columns are kd times larger than
    # 2-D ones: forward never keeps them.
    return _KEEP_COLS_BYTES if isinstance(g, Geom) else 0


# ---------------------------------------------------------------------------------------
# im2col / col2im (shared by conv, transposed conv, unfold and fold)

def _im2col_reference(x, g, out):
    """x (n, C, *size) -> out (C, *kernel, n, *out): pad, then copy the window view."""
    nd = len(g.kernel)
    axes = (1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd))
    out[...] = windows(pad(x, g), g).transpose(axes)
    return out


def _col2im_reference(cols, g, out):
    """cols (C, *kernel, n, *out) summed into out (n, C, *size) (zero on entry): one strided
    slice-add per kernel offset into a padded buffer."""
    xp = array_module(cols)
    gpad = xp.zeros(out.shape[:2] + g.padded, out.dtype)
    swap = (1, 0) + tuple(range(2, 2 + len(g.kernel)))
    for off in offsets(g):
        tap(gpad, g, off)[...] += cols[(slice(None),) + off].transpose(swap)
    out += crop(gpad, g)
    return out


def im2col(x, g, out):
    """x (n, C, *size) -> out (C, *kernel, n, *out), the columns of a conv's GEMM."""
    if isinstance(g, Geom) and _kc.available(x, out):
        return _kc.im2col(x, out, g)
    return _im2col_reference(x, g, out)


def col2im(cols, g, out):
    """Columns (C, *kernel, n, *out) added into out (n, C, *size): im2col's adjoint."""
    if isinstance(g, Geom) and _kc.available(cols, out):
        return _kc.col2im(cols, out, g)
    return _col2im_reference(cols, g, out)


def _rule(g, groups, c):
    """The algorithm used where conv_select does not time them (see there)."""
    return "winograd2" if winograd.applies(g, groups, c) else "im2col"


def _conv_forward(x, w, g, groups, keep_cols=False, algo=None, b=None):
    """x (N, C, H, W) contiguous, w (O, C/groups, kh, kw) -> (N, O, Ho, Wo), plus the bias `b`
    (O,) if given (with one more spatial dim throughout for a 3-D geometry `g`; im2col and the
    channels-last Winograd add it in the pass that writes y, the others after). With `keep_cols`,
    returns (y, kept): what the algorithm that ran keeps for the weight gradient, or None:
    im2col's column matrix (see `_im2col_forward`) or (Winograd algorithm name, transformed
    input chunks).

    3x3 convolutions of stride 1 or 2 may run as Winograd instead: `algo` (the layer's choice,
    see `_layer_algorithm`) or, without it, conv_select's timed choice for this pass.
    """
    candidates = {"im2col": lambda: _im2col_forward(x, w, g, groups, keep_cols, b)}
    if conv_cl.applies(g, groups):  # channels-last columns: contiguous copies
        candidates["im2colcl"] = lambda: _im2col_cl_forward(x, w, g, keep_cols, b)
    for name, s in winograd.schemes(g, groups).items():  # 3x3: fewer multiplies
        candidates[name] = lambda s=s, name=name: _plus_bias(
            _winograd_forward(x, w, g, s, name, keep_cols), b)
    if winograd_cl.applies(g, groups):  # 3x3 stride 1 or 2: F(2x2), channels-last transforms
        candidates["winograd2cl"] = lambda: _winograd_cl_forward(x, w, g, keep_cols, b)
    if winograd1d.applies(g, groups):  # 1-D kernel 3: F(4, 3), 1.5 multiplies instead of 3
        candidates["winograd1d"] = lambda: _plus_bias(_winograd1d_forward(x, w, g, keep_cols),
                                                      b)
        candidates["winograd1dcl"] = lambda: _winograd1d_cl_forward(x, w, g, keep_cols, b)
    if conv_phase.applies(g, groups):  # strided, kernel a multiple of the stride: keeps nothing
        candidates["phase"] = lambda: _plus_bias(_phase_forward(x, w, g, groups, keep_cols), b)
    if algo in candidates:
        return candidates[algo]()
    key = ("forward", x.shape, w.shape, g, x.dtype.str, keep_cols)
    return conv_select.run(key, candidates, _rule(g, groups, x.shape[1]), (x,))


def _layer_algorithm(x, w, g, groups, need_x, need_w, b=None):
    """The algorithm for a layer's forward and backward together (None: each pass chooses
    its own, as for inference): conv_select times each candidate running the forward (keeping
    what its weight gradient reuses) and the gradients `need_x` / `need_w` the backward will
    form, on y itself as the output gradient (the values do not change the time)."""
    def layer(name):
        def fn():
            if need_w:
                y, kept = _conv_forward(x, w, g, groups, keep_cols=True, algo=name, b=b)
            else:
                y, kept = _conv_forward(x, w, g, groups, algo=name, b=b), None
            _conv_backward(y, w, g, groups, x if need_w else None, need_x, kept, algo=name)
        return fn

    names = ["im2col"] + ["im2colcl"] * conv_cl.applies(g, groups) \
        + list(winograd.schemes(g, groups))
    names += [name for name, fits in (("winograd2cl", winograd_cl.applies),
                                      ("winograd1d", winograd1d.applies),
                                      ("winograd1dcl", winograd1d.applies),
                                      ("phase", conv_phase.applies)) if fits(g, groups)]
    if len(names) == 1 or conv_select.forced() is not None:
        return None
    key = ("layer", x.shape, w.shape, g, x.dtype.str, need_x, need_w)
    return conv_select.pick(key, {name: layer(name) for name in names},
                            _rule(g, groups, x.shape[1]), (x,))


def _winograd_forward(x, w, g, s, name, keep_cols):
    if not keep_cols:
        return winograd.conv_forward(x, w, g, s)
    y, vs = winograd.conv_forward(x, w, g, s, keep=True)
    return y, (None if vs is None else (name, vs))


def _im2col_cl_forward(x, w, g, keep_cols, b):
    if not keep_cols:
        return conv_cl.conv_forward(x, w, g, b)
    y, cols = conv_cl.conv_forward(x, w, g, b, keep=True)
    return y, (None if cols is None else ("im2colcl", cols))


def _plus_bias(result, b):
    """A forward's result (y or (y, kept)) with the bias b (O,) added to y, if given."""
    if b is not None:
        y = result[0] if isinstance(result, tuple) else result
        y += b.reshape((-1,) + (1,) * (y.ndim - 2))
    return result


def _winograd_cl_forward(x, w, g, keep_cols, b):
    if not keep_cols:
        return winograd_cl.conv_forward(x, w, g, bias=b)
    y, vs = winograd_cl.conv_forward(x, w, g, keep=True, bias=b)
    return y, (None if vs is None else ("winograd2cl", vs))


def _winograd1d_forward(x, w, g, keep_cols):
    if not keep_cols:
        return winograd1d.conv_forward(x, w, g)
    y, vs = winograd1d.conv_forward(x, w, g, keep=True)
    return y, (None if vs is None else ("winograd1d", vs))


def _winograd1d_cl_forward(x, w, g, keep_cols, b):
    if not keep_cols:
        return winograd1d_cl.conv_forward(x, w, g, bias=b)
    y, vs = winograd1d_cl.conv_forward(x, w, g, keep=True, bias=b)
    return y, (None if vs is None else ("winograd1dcl", vs))


def _phase_forward(x, w, g, groups, keep_cols):
    y = conv_phase.conv_forward(x, w, g, groups)
    return (y, None) if keep_cols else y


def _im2col_forward(x, w, g, groups, keep_cols=False, b=None):
    """`_conv_forward` by im2col: per batch chunk of n, cols (C*kh*kw, n*Ho*Wo), then one GEMM
    per group (a batch of tiny per-image GEMMs is several times slower at these image sizes),
    whose (O, n, *out) product is copied to y with the bias `b` added on the way.
    With `keep_cols`, returns (y, cols) where cols is the whole batch's column matrix if it
    takes at most _keep_cols_bytes(g) (built in one chunk; else None), so backward need not
    build it again.
    """
    n, c = x.shape[:2]
    xp = array_module(x)
    o = w.shape[0]
    kernel, out = g.kernel, g.out
    k = c * math.prod(kernel)
    L = math.prod(out)
    wm = w.reshape(groups, o // groups, k // groups)
    y = xp.empty((n, o) + out, x.dtype)
    keep = keep_cols and k * n * L * x.itemsize <= _keep_cols_bytes(g)
    chunks = [(0, n)] if keep else batch_chunks(n, k * L, _CHUNK_ELEMS)
    nb = chunks[0][1]
    cbuf = xp.empty(k * nb * L, x.dtype)
    ybuf = xp.empty(o * nb * L, x.dtype)
    bias = None if b is None else b.reshape((o,) + (1,) * len(out))
    for a, e in chunks:
        m = e - a
        cols = im2col(x[a:e], g, cbuf[:k * m * L].reshape((c,) + kernel + (m,) + out))
        cols = cols.reshape(groups, k // groups, m * L)
        yt = ybuf[:o * m * L].reshape(groups, o // groups, m * L)
        for q in range(groups):
            xp.matmul(wm[q], cols[q], out=yt[q])
        yt = yt.reshape((o, m) + out).swapaxes(0, 1)
        if bias is None:
            y[a:e] = yt
        else:
            xp.add(yt, bias, out=y[a:e])
    if not keep_cols:
        return y
    return y, (cbuf.reshape(groups, k // groups, n * L) if keep else None)


def _conv_backward(gy, w, g, groups, x=None, need_x=True, cols=None, algo=None, gb=None):
    """Conv gradients: gy (N, O, Ho, Wo) -> (gx (N, C, H, W) or None, gw or None) (3-D as in
    `_conv_forward`), and with `gb` (O,) the bias gradient into it (winograd2cl forms it from
    its output adjoint, the others by `_bias_grad`).

    `x` is the (contiguous) input; without it no weight gradient is formed. `cols`: what the
    forward kept (see `_conv_forward`), used by the same algorithm instead of transforming x
    again. 3x3 convolutions of stride 1 or 2 may run as Winograd instead (`algo`, the layer's
    choice, or conv_select's for this pass).
    """
    kept = "im2col" if cols is not None and not isinstance(cols, tuple) else \
        (cols[0] if cols is not None else None)
    candidates = {"im2col": lambda: _im2col_backward(
        gy, w, g, groups, x, need_x, cols if kept == "im2col" else None)}
    if conv_cl.applies(g, groups):
        kc = cols[1] if kept == "im2colcl" else None
        candidates["im2colcl"] = lambda: conv_cl.conv_backward(gy, w, g, x, need_x, kc)
    for name, s in winograd.schemes(g, groups).items():
        vs = cols[1] if kept == name else None
        candidates[name] = lambda s=s, vs=vs: winograd.conv_backward(gy, w, g, x, need_x, s, vs)
    filled = []  # whether a run filled gb (any run does it alike: the same gy)
    if winograd_cl.applies(g, groups):
        vs = cols[1] if kept == "winograd2cl" else None

        def winograd2cl(vs=vs):
            result = winograd_cl.conv_backward(gy, w, g, x, need_x, vs, gb)
            filled.append(gb is not None)
            return result
        candidates["winograd2cl"] = winograd2cl
    if winograd1d.applies(g, groups):
        vs = cols[1] if kept == "winograd1d" else None
        candidates["winograd1d"] = lambda vs=vs: winograd1d.conv_backward(gy, w, g, x, need_x, vs)
        vs = cols[1] if kept == "winograd1dcl" else None
        candidates["winograd1dcl"] = lambda vs=vs: winograd1d_cl.conv_backward(gy, w, g, x,
                                                                               need_x, vs)
    if conv_phase.applies(g, groups):  # the transposed conv's forward among others
        candidates["phase"] = lambda: conv_phase.conv_backward(gy, w, g, groups, x, need_x)
    if algo in candidates:
        result = candidates[algo]()
    else:
        key = ("backward", gy.shape, w.shape, g, gy.dtype.str, x is not None, need_x, kept)
        result = conv_select.run(key, candidates, _rule(g, groups, w.shape[1] * groups), (gy,))
    if gb is not None and not filled:
        gb[...] = _bias_grad(gy)
    return result


def _im2col_backward(gy, w, g, groups, x=None, need_x=True, cols=None):
    """`_conv_backward` by im2col: one pass over batch chunks shares the transposed gy
    (O, n*Ho*Wo) between both gradients."""
    n, o = gy.shape[:2]
    c = w.shape[1] * groups
    xp = array_module(gy)
    kernel, out = g.kernel, g.out
    k = c * math.prod(kernel)
    L = math.prod(out)
    wm = w.reshape(groups, o // groups, k // groups)
    chunks = [(0, n)] if cols is not None else batch_chunks(n, k * L, _CHUNK_ELEMS)
    nb = chunks[0][1]
    gbuf = xp.empty(o * nb * L, gy.dtype)
    cbuf = xp.empty(k * nb * L, gy.dtype)
    gx = xp.zeros((n, c) + g.size, gy.dtype) if need_x else None
    gw = xp.empty((groups, o // groups, k // groups), gy.dtype) if x is not None else None
    for a, b in chunks:
        m = b - a
        gt = gbuf[:o * m * L].reshape(o, m, L)
        gt[...] = gy[a:b].reshape(m, o, L).transpose(1, 0, 2)
        gt = gt.reshape(groups, o // groups, m * L)
        cshape = (c,) + kernel + (m,) + out
        if x is not None:
            if cols is None:
                cols = im2col(x[a:b], g, cbuf[:k * m * L].reshape(cshape))
                cols = cols.reshape(groups, k // groups, m * L)
            for q in range(groups):
                if a == 0:
                    xp.matmul(gt[q], cols[q].T, out=gw[q])
                else:
                    gw[q] += xp.matmul(gt[q], cols[q].T)
            cols = None
        if need_x:
            gcols = cbuf[:k * m * L].reshape(groups, k // groups, m * L)
            for q in range(groups):
                xp.matmul(wm[q].T, gt[q], out=gcols[q])
            col2im(gcols.reshape(cshape), g, gx[a:b])
    return gx, None if gw is None else gw.reshape(w.shape)


def _bias_grad(gy):
    """gy (N, O, *out) summed to (O,): over the batch first (whole planes add as vectors), then
    over each channel's plane; one reduction over (0, 2, 3) took 2.4x as long (0.25 ms at
    64 x 64 x 14 x 14)."""
    return gy.sum(axis=0).reshape(gy.shape[1], -1).sum(axis=1)


def _transpose_candidates(candidates, g, groups):
    """The transposed conv's candidates: `candidates` ({"im2col": the conv's own drivers,
    which choose among im2col, Winograd and the phases themselves}), the batch-innermost path
    and Winograd on the stride phases (4x4 stride 2) where they apply, unless
    MYTORCH_CONV_ALGO forces one of the others."""
    forced = conv_select.forced()
    out = {"im2col": candidates["im2col"]}
    for name, applies in (("chwn", conv_chwn.applies), ("winogradt", winograd_t.applies)):
        if applies(g, groups) and forced in (None, name):
            out[name] = candidates[name]
    return out


def _transpose_layer_algorithm(x, w, b, g, groups, need):
    """The algorithm for a transposed conv layer's forward and backward together (None: each
    pass chooses its own), as `_layer_algorithm` does for a conv: winogradt's forward alone
    was no faster than chwn's (2.2 ms both on the bench's 64->32 7x7 layer, so either was
    kept), but it keeps the transformed input that its backward (3.7 ms against chwn's 4.5)
    reads; chosen pass by pass, the layer ran chwn's forward and either backward."""
    def layer(name):
        def fn():
            y, kept = _transpose_forward(x, w, b, g, groups, algo=name)
            _transpose_backward(y, x, w, g, groups, need, kept if need[1] else None, algo=name)
        return fn

    names = list(_transpose_candidates(dict.fromkeys(("im2col", "chwn", "winogradt")), g,
                                       groups))
    if len(names) == 1 or conv_select.forced() is not None:
        return None
    key = ("transpose_layer", x.shape, w.shape, g, x.dtype.str, b is not None, tuple(need))
    return conv_select.pick(key, {name: layer(name) for name in names}, "im2col", (x,))


def _transpose_forward(x, w, b, g, groups, algo=None):
    """conv_transpose(x, w) + b -> (y, what the backward may reuse or None: (name of the
    algorithm that kept it, what it kept)). `algo`: the layer's choice, or None for
    conv_select's timed choice for this pass."""
    def conv_pair():
        y = _conv_backward(x, w, g, groups)[0]
        if b is not None:
            y += b.reshape((-1,) + (1,) * (y.ndim - 2))
        return y, None

    def tagged(name, fn):
        def run():
            y, kept = fn()
            return y, (name, kept)
        return run

    candidates = _transpose_candidates({
        "im2col": conv_pair,
        "chwn": tagged("chwn", lambda: conv_chwn.transpose_forward(x, w, g, groups, b)),
        "winogradt": tagged("winogradt", lambda: winograd_t.transpose_forward(x, w, g, b))},
        g, groups)
    if algo in candidates:
        return candidates[algo]()
    key = ("transpose_forward", x.shape, w.shape, g, x.dtype.str, b is not None)
    return conv_select.run(key, candidates, "im2col", (x,))


def _transpose_backward(gy, x, w, g, groups, need, kept, algo=None):
    """Gradients (gx, gw, gb) of conv_transpose(x, w) + b from gy, each None unless `need`
    asks for it. `kept`: (name, what it kept) from the forward's chwn or winogradt path, or
    None; the other paths compute it again. On the im2col side gx is
    the conv of gy and gw the conv weight gradient with the roles of x and gy swapped; the
    columns (or Winograd transform) of gy that the first builds are handed to the second."""
    def conv_pair():
        gx = gw = None
        if need[0] and need[1]:
            gx, cols = _conv_forward(gy, w, g, groups, keep_cols=True)
            gw = _conv_backward(x, w, g, groups, gy, need_x=False, cols=cols)[1]
        elif need[0]:
            gx = _conv_forward(gy, w, g, groups)
        elif need[1]:
            gw = _conv_backward(x, w, g, groups, gy, need_x=False)[1]
        gb = _bias_grad(gy) if need[2] else None
        return gx, gw, gb

    def kept_by(name):
        return kept[1] if kept is not None and kept[0] == name else None

    candidates = _transpose_candidates({
        "im2col": conv_pair,
        "chwn": lambda: conv_chwn.transpose_backward(gy, w, g, groups, x, kept_by("chwn"),
                                                     need),
        "winogradt": lambda: winograd_t.transpose_backward(gy, w, g, x, kept_by("winogradt"),
                                                           need)},
        g, groups)
    if algo in candidates:
        return candidates[algo]()
    key = ("transpose_backward", gy.shape, w.shape, g, gy.dtype.str, tuple(need),
           None if kept is None else kept[0])
    return conv_select.run(key, candidates, "im2col", (gy,))


class ConvNd(Function):
    """y = conv(x, w) + b over any geometry `g` (1-D runs as height 1); see F.conv2d."""

    @staticmethod
    def forward(ctx, x, w, b, g, groups):
        x = array_module(x).ascontiguousarray(x)
        ctx.save_for_backward(x, w)
        ctx.g, ctx.groups, ctx.has_bias = g, groups, b is not None
        need_x, need_w = ctx.needs_input_grad[:2]
        ctx.algo = _layer_algorithm(x, w, g, groups, need_x, need_w, b) if need_x or need_w \
            else None
        # Small column matrices are kept for the weight gradient (memory for one im2col).
        if need_w:
            y, ctx.cols = _conv_forward(x, w, g, groups, keep_cols=True, algo=ctx.algo, b=b)
        else:
            y, ctx.cols = _conv_forward(x, w, g, groups, algo=ctx.algo, b=b), None
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gy = array_module(gy).ascontiguousarray(gy)
        need = ctx.needs_input_grad
        gb = array_module(gy).empty(gy.shape[1], gy.dtype) if ctx.has_bias and need[2] \
            else None
        gx, gw = _conv_backward(gy, w, ctx.g, ctx.groups, x if need[1] else None, need[0],
                                cols=ctx.cols if need[1] else None, algo=ctx.algo, gb=gb)
        return gx, gw, gb

    @staticmethod
    def composite(x, w, b, g, groups):  # create_graph: backward runs im2col/col2im kernels
        return conv_auto(x, w, b, g, groups)


class ConvTransposeNd(Function):
    """y = conv_transpose(x, w) + b: the input-gradient of the conv that maps y's shape to x's."""

    @staticmethod
    def forward(ctx, x, w, b, g, groups):
        x = array_module(x).ascontiguousarray(x)
        ctx.save_for_backward(x, w)
        ctx.g, ctx.groups, ctx.has_bias = g, groups, b is not None
        need = ctx.needs_input_grad
        need = (need[0], need[1], b is not None and need[2])
        ctx.algo = _transpose_layer_algorithm(x, w, b, g, groups, need) if any(need) else None
        y, ctx.kept = _transpose_forward(x, w, b, g, groups, ctx.algo)
        if not ctx.needs_input_grad[1]:
            ctx.kept = None
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gy = array_module(gy).ascontiguousarray(gy)
        need = ctx.needs_input_grad
        need = (need[0], need[1], ctx.has_bias and need[2])
        return _transpose_backward(gy, x, w, ctx.g, ctx.groups, need, ctx.kept, ctx.algo)

    @staticmethod
    def composite(x, w, b, g, groups):  # create_graph: backward runs im2col/col2im kernels
        opad = tuple(n - ((m - 1) * s - lo - hi + d * (k - 1) + 1) for n, m, s, lo, hi, d, k
                     in zip(g.size, x.shape[2:], g.stride, g.lo, g.hi, g.dilation, g.kernel))
        return conv_transpose_auto(x, w, b, g, groups, opad)


# ---------------------------------------------------------------------------------------
# composite convolution: Tensor ops only, autograd derives the backward

def pad_tensor(x, g, value=0.0):
    """Tensor (N, C, *size) -> (N, C, *padded) by writing x into a constant tensor."""
    if g.padded == g.size:
        return x
    from mytorch import creation
    out = creation.full((x.shape[0], x.shape[1]) + g.padded, value, dtype=x.dtype,
                        device=x.device)
    out[(slice(None), slice(None)) + tuple(slice(a, a + n) for a, n in zip(g.lo, g.size))] = x
    return out


def taps_tensor(xpad, g):
    """Every kernel offset's strided slice of a padded Tensor, stacked: (N, C, K, *out)."""
    from mytorch.ops.shape import stack
    return stack([tap(xpad, g, off) for off in offsets(g)], dim=2)


def conv_auto(x, w, b, g, groups):
    """conv(x, w) + b from Tensor ops: x (N, C, *size), w (O, C/groups, *kernel)."""
    n, c = x.shape[:2]
    o = w.shape[0]
    cols = taps_tensor(pad_tensor(x, g), g)  # (N, C, K, *out)
    cols = cols.reshape(n, groups, (c // groups) * math.prod(g.kernel), math.prod(g.out))
    y = w.reshape(groups, o // groups, -1) @ cols  # (N, groups, O/groups, L)
    y = y.reshape((n, o) + g.out)
    return y if b is None else y + b.reshape((1, o) + (1,) * len(g.out))


def conv_transpose_auto(x, w, b, g, groups, opad):
    """Transposed conv as a plain conv: spread x by the stride with zeros, pad by
    dilation*(k-1) - padding (crop where negative), convolve with the flipped, in/out-swapped
    weight."""
    from mytorch import creation
    nd = len(g.kernel)
    n, c_in = x.shape[:2]
    c_out = w.shape[1] * groups
    spread = tuple((m - 1) * s + 1 for m, s in zip(x.shape[2:], g.stride))
    if any(s > 1 for s in g.stride):
        z = creation.zeros((n, c_in) + spread, dtype=x.dtype, device=x.device)
        z[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in g.stride)] = x
        x = z
    # Padding of the equivalent stride-1 conv on each side; output_padding adds at the end.
    lo = tuple(d * (k - 1) - p for d, k, p in zip(g.dilation, g.kernel, g.lo))
    hi = tuple(a + o for a, o in zip(lo, opad))
    if any(a < 0 for a in lo + hi):
        x = x[(slice(None), slice(None)) + tuple(
            slice(max(-a, 0), m - max(-e, 0)) for a, e, m in zip(lo, hi, spread))]
    gg = geom(f"conv_transpose{nd}d", tuple(x.shape[2:]), g.kernel, (1,) * nd,
              tuple((max(a, 0), max(e, 0)) for a, e in zip(lo, hi)), g.dilation)
    # (C_in, C_out/g, *kernel) -> (C_out, C_in/g, *kernel), kernel flipped.
    wt = w.reshape((groups, c_in // groups, c_out // groups) + g.kernel).transpose(1, 2)
    wt = wt.reshape((c_out, c_in // groups) + g.kernel).flip(tuple(range(2, 2 + nd)))
    return conv_auto(x, wt, b, gg, groups)
