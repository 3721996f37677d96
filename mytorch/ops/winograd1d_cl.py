"""1-D Winograd F(4, 3) with channels-last transformed tensors: the "winograd1dcl" candidate of
conv_select.

The arithmetic is winograd1d.py's (1.5 multiplies per output and channel pair instead of 3);
only the layout differs, as winograd_cl.py's differs from winograd.py's. winograd1d keeps
transformed tensors as (6, C, tiles), whose loops read each tile's 6 inputs 4 apart and do not
vectorize: for a 64 -> 64 channel Conv1d of kernel 3 at length 256, batch 64, its transforms
took 4.2 ms around 5.9 ms of GEMMs, forward and backward. Here they are (6, tiles, C): the
transforms run on contiguous channel vectors (mytorch.ops._kernels_winograd1d_cl), and the GEMMs
take the same operands with the transpose flags of BLAS, (6, tiles, C) @ (6, C, O) ->
(6, tiles, O). Backward is the adjoint: dV = dM @ U (input gradient), dU = dM^T @ V (weight
gradient).

Measured (one thread, CPU time, fwd+bwd of that layer with bias, ms, forced algorithms run
interleaved in one process): 10.0 against 13.0 for winograd1d and 22.6 for im2col; the bench
(scripts/conv_speed.py) went from 1.14-1.26x torch's time to 0.96-0.99x, and conv_select picked
winograd1dcl in 3 of 3 fresh processes. Under cProfile the GEMMs took 4.5 ms instead of 6.3
(forward 1.4, input gradient 1.3, weight gradient 1.8), the transforms 5.8 instead of 4.5
(input transform 1.7, output transform 1.1, output adjoint 1.0, input adjoint 2.0; profiling
inflates these small calls): the gain is in the GEMMs on 2-image chunks and the bias added by
the output transform, not in the transforms, whose transposes to and from NCL rows cost what
vectorizing saves (see mytorch.ops._kernels_winograd1d_cl). Chunks are an eighth of
winograd._CHUNK_ELEMS (2 images): 10.0 ms against 11.3 at a whole or a quarter; keeping the
transformed input for the weight gradient (1.5x the size of x) and transforming x again took
the same time, so the forward keeps it, as winograd1d does. It does not replace winograd1d:
16 -> 16 channels at length 1000 (batch 32) took 3.3 ms against 3.5, 128 -> 128 at length 64
(batch 64) 8.4 against 9.5, but 3 -> 16 at length 256 1.45 against 1.17 (im2col 1.21), where
3-channel vectors are too short; conv_select times both.

The forward's GEMM writes M tiles-last instead, (6, O, tiles), through a transposed output
view, so that winograd1d's output transform runs (no transpose to NCL rows; the bias added
after it, on the chunk in cache): the layer 4-5% faster in alternating conv_speed runs (1.11,
1.11 -> 1.08, 1.03 of torch on a slow hour of the VM).

The numba loops run on NumPy float arrays; the array-module references here (winograd1d.py's
references on transposed views) serve CuPy and the tests. The chunked drivers are winograd.py's
(`winograd.run_forward`), on a Plan with the ChannelsLastIn layout.
"""
import numpy as np

from mytorch.ops import _kernels_winograd1d_cl as _kc
from mytorch.ops import winograd, winograd1d
from mytorch.ops.winograd1d import A, applies

__all__ = ["applies", "conv_backward", "conv_forward", "plan"]


# ---------------------------------------------------------------------------------------
# array-module references: winograd1d.py's, on (6, C, tiles) views of the channels-last
# tensors. Rows are (n, C, L): the conv's height-1 axis dropped.

def input_transform_reference(x, g, out):
    """x (n, C, L) -> out (6, n*T, C) = B^T d for each 6-input tile d (4 apart)."""
    winograd1d.input_transform_reference(x, g, out.transpose(0, 2, 1))
    return out


def output_adjoint_reference(gy, g, out):
    """gy (n, O, Lo) -> out (6, n*T, O) = A gy per zero-extended 4-output tile."""
    winograd1d.output_adjoint_reference(gy, g, out.transpose(0, 2, 1))
    return out


def input_adjoint_reference(dv, g, out):
    """dv (6, n*T, C) -> out (n, C, L) = B dv per tile, summed where tiles overlap, padding
    dropped."""
    return winograd1d.input_adjoint_reference(dv.transpose(0, 2, 1), g, out)


# The dispatchers take transformed buffers (6, tp, channels) whose tile axis may be longer
# than the n*T tiles; the references see only the tiles. Rows are (n, C, 1, L) arrays here.

def _rows(a):
    return a.reshape(a.shape[0], a.shape[1], a.shape[3])


def _input_transform(x, g, out):
    x = _rows(x)
    if _kc.available(x, out):
        return _kc.input_transform(x, out, g.pl, winograd1d._padded(g))
    return input_transform_reference(x, g, out[:, :x.shape[0] * winograd1d._tiles(g)])


def _output_transform(m, g, out, bias=None):
    """m (6, O, tiles) tiles-last (see `ChannelsLastIn`) -> out (n, O, 1, Lo), plus `bias`
    (O,) if given, through winograd1d's output transform."""
    winograd1d._output_transform(m, g, out)
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    return out


def _output_adjoint(gy, g, out):
    gy = _rows(gy)
    if _kc.available(gy, out):
        return _kc.output_adjoint(gy, out)
    return output_adjoint_reference(gy, g, out[:, :gy.shape[0] * winograd1d._tiles(g)])


def _input_adjoint(dv, g, out):
    gx = _rows(out)
    if _kc.available(dv, gx):
        _kc.input_adjoint(dv, gx, g.pl, winograd1d._padded(g))
    else:
        input_adjoint_reference(dv[:, :gx.shape[0] * winograd1d._tiles(g)], g, gx)
    return out


# ---------------------------------------------------------------------------------------
# convolution drivers: winograd.py's chunked ones, on a channels-last Plan


class ChannelsLastIn(winograd.ChannelsLast):
    """winograd.ChannelsLast, except that the forward writes M tiles-last, (6, O, tiles): its
    GEMM takes M's transposed view as the output (40 against 38 us for 2 images of 64 x 256),
    and winograd1d's tiles-last output transform needs no transpose to NCL rows (7.6 us
    against 21.7 for the channels-last loop; the layer's forward and backward 3% faster). The
    backward keeps dM channels-last: its channels-last output adjoint is the faster one."""

    def output_view(self, buf, channels, tp):
        return buf[:self.positions * channels * tp].reshape(self.positions, channels, tp)

    def forward(self, xp, ut, v, m):
        """m (6, O, tiles) = (V @ U^T)^T, `ut` from `forward_weight`."""
        if xp is np:
            np.matmul(v, ut, out=m.transpose(0, 2, 1))
        else:
            m[...] = xp.matmul(v, ut).transpose(0, 2, 1)

# A batch chunk's transformed tensors hold an eighth of winograd._CHUNK_ELEMS (128 Ki elements,
# 2 images at 64 -> 64 channels, length 256; see the module docstring).
_CHUNK_SHARE = 8


def plan(g, bias=None):
    """The winograd.Plan of F(4, 3) on the 1-D geometry `g` with channels-last transformed
    tensors; the forward's output transform adds `bias` (O,) if given."""
    return winograd.Plan(ChannelsLastIn(A), winograd1d._tiles(g),
                         winograd1d.weight_transform, winograd1d.weight_transform_adjoint,
                         lambda x, v: _input_transform(x, g, v),
                         lambda m, y: _output_transform(m, g, y, bias),
                         lambda gy, dm: _output_adjoint(gy, g, dm),
                         lambda dv, gx: _input_adjoint(dv, g, gx),
                         winograd._CHUNK_ELEMS // _CHUNK_SHARE)


def conv_forward(x, w, g, keep=False, bias=None):
    """x (N, C, 1, L) contiguous, w (O, C, 1, 3) -> y (N, O, 1, Lo), plus `bias` (O,) if given
    (see winograd.run_forward: with `keep` also the transformed input, or None)."""
    return winograd.run_forward(x, w, g, plan(g, bias), keep)


def conv_backward(gy, w, g, x=None, need_x=True, vs=None):
    """gy (N, O, 1, Lo) contiguous -> (gx (N, C, 1, L) or None, gw (O, C, 1, 3) or None) (see
    winograd.run_backward)."""
    return winograd.run_backward(gy, w, g, plan(g), x, need_x, vs)
