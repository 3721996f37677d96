"""Recurrent cells and single-direction layers: the checked fronts over mytorch.ops.rnn.

`auto=True` composes the same math from Tensor ops (mytorch.ops.rnn's `*_auto` cells).
"""
from mytorch.ops.rnn import (
    GRUCellFunction,
    GRULayerFunction,
    LSTMCellFunction,
    LSTMLayerFunction,
    RNNCellFunction,
    RNNLayerFunction,
    gru_cell_auto,
    layer_auto,
    lstm_cell_auto,
    rnn_cell_auto,
)

__all__ = ["gru_cell", "lstm_cell", "recurrent_layer", "rnn_relu_cell", "rnn_tanh_cell"]


def _check_cell(op, x, h, w_ih, w_hh, gates):
    H = w_hh.shape[-1]
    if not x.dtype == h.dtype == w_ih.dtype == w_hh.dtype:
        raise TypeError(f"{op}: input, hidden and weights must share a dtype, got {x.dtype}, "
                        f"{h.dtype}, {w_ih.dtype}, {w_hh.dtype}")
    if x.ndim != 2 or h.ndim != 2:
        raise RuntimeError(f"{op}: expected 2-D input (batch, input_size) and hidden "
                           f"(batch, hidden_size), got input {tuple(x.shape)} and hidden "
                           f"{tuple(h.shape)}")
    if tuple(w_ih.shape) != (gates * H, x.shape[1]) or tuple(w_hh.shape) != (gates * H, H):
        raise RuntimeError(f"{op}: input {tuple(x.shape)} needs w_ih of shape "
                           f"{(gates * H, x.shape[1])} and w_hh {(gates * H, H)}, got "
                           f"{tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    if tuple(h.shape) != (x.shape[0], H):
        raise RuntimeError(f"{op}: expected hidden of shape {(x.shape[0], H)} for input "
                           f"{tuple(x.shape)}, got {tuple(h.shape)}")


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, auto=False):
    """One Elman RNN step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    input (B, I), hx (B, H), w_ih (H, I), w_hh (H, H) -> (B, H).
    """
    _check_cell("rnn_tanh_cell", input, hx, w_ih, w_hh, 1)
    if auto:
        return rnn_cell_auto(input, hx, w_ih, w_hh, b_ih, b_hh, "tanh")
    return RNNCellFunction.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh")


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, auto=False):
    """One Elman RNN step with ReLU; shapes as `rnn_tanh_cell`."""
    _check_cell("rnn_relu_cell", input, hx, w_ih, w_hh, 1)
    if auto:
        return rnn_cell_auto(input, hx, w_ih, w_hh, b_ih, b_hh, "relu")
    return RNNCellFunction.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, auto=False):
    """One LSTM step. hx = (h, c), each (B, H); w_ih (4H, I), w_hh (4H, H). Returns (h', c')."""
    h, c = hx
    _check_cell("lstm_cell", input, h, w_ih, w_hh, 4)
    if tuple(c.shape) != tuple(h.shape):
        raise RuntimeError(f"lstm_cell: expected cell state of shape {tuple(h.shape)}, got "
                           f"{tuple(c.shape)}")
    if auto:
        return lstm_cell_auto(input, h, c, w_ih, w_hh, b_ih, b_hh)
    return LSTMCellFunction.apply(input, h, c, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, auto=False):
    """One GRU step. input (B, I), hx (B, H), w_ih (3H, I), w_hh (3H, H) -> (B, H)."""
    _check_cell("gru_cell", input, hx, w_ih, w_hh, 3)
    if auto:
        return gru_cell_auto(input, hx, w_ih, w_hh, b_ih, b_hh)
    return GRUCellFunction.apply(input, hx, w_ih, w_hh, b_ih, b_hh)


def recurrent_layer(mode, input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                    reverse=False, auto=False):
    """One direction of one recurrent layer over a whole sequence.

    mode: "RNN", "LSTM" or "GRU"; input (T, B, I); hx: (h0,) or, for LSTM, (h0, c0), each
    (B, H). Returns (output (T, B, H), h_n) or, for LSTM, (output, h_n, c_n).
    With `reverse`, the sequence is read from the last step to the first (output stays in
    input order).
    """
    if auto:
        return layer_auto(mode, input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse)
    if mode == "LSTM":
        return LSTMLayerFunction.apply(input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh,
                                       reverse=reverse)
    if mode == "GRU":
        return GRULayerFunction.apply(input, hx[0], w_ih, w_hh, b_ih, b_hh, reverse=reverse)
    return RNNLayerFunction.apply(input, hx[0], w_ih, w_hh, b_ih, b_hh,
                                  nonlinearity=nonlinearity, reverse=reverse)
