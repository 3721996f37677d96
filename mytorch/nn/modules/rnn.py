"""Recurrent layers: RNNCell, LSTMCell, GRUCell and the sequence modules RNN, LSTM, GRU.

Parameter names, shapes, gate order and initialisation follow PyTorch, so state dicts move
between the two unchanged. `auto=True` picks the composed (autograd) path.
"""
import math

import mytorch
from mytorch.nn import functional as F
from mytorch.nn.modules.module import Module
from mytorch.nn.parameter import Parameter

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _new_param(*shape, device, dtype):
    return Parameter(mytorch.empty(*shape, dtype=dtype, device=device))


def _check_dtype(name, input, weight):
    if input.dtype != weight.dtype:
        raise TypeError(f"{name}: input dtype {input.dtype} does not match the parameters' "
                        f"dtype {weight.dtype} (use module.to(dtype) or input.to(dtype))")


def _reset_uniform(module):
    k = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    with mytorch.no_grad():
        for p in module.parameters():
            p.uniform_(-k, k)


class RNNCellBase(Module):
    """Holds weight_ih (G*H, I), weight_hh (G*H, H) and optional bias_ih, bias_hh (G*H,)."""

    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, auto=False, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias, self.auto = (input_size, hidden_size, bias,
                                                                   auto)
        G = self._gates * hidden_size
        self.weight_ih = _new_param(G, input_size, device=device, dtype=dtype)
        self.weight_hh = _new_param(G, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = _new_param(G, device=device, dtype=dtype)
            self.bias_hh = _new_param(G, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every parameter, as PyTorch."""
        _reset_uniform(self)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, hx):
        """Validate shapes; returns (2-D input, list of 2-D states, batched?)."""
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(input.shape)}")
        _check_dtype(name, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        want = (x.shape[0], self.hidden_size)
        n_states = 2 if self._gates == 4 else 1
        if hx is None:
            states = [mytorch.zeros(*want, dtype=x.dtype, device=x.device)
                      for _ in range(n_states)]
        else:
            states = list(hx) if n_states == 2 else [hx]
            if len(states) != n_states:
                raise ValueError(f"{name}: expected hx = (h, c), got {len(states)} tensors")
            for i, s in enumerate(states):
                shape = want if batched else want[1:]
                if tuple(s.shape) != shape:
                    what = "hidden" if i == 0 else "cell"
                    raise ValueError(f"{name}: expected {what} state of shape {shape} for input "
                                     f"{tuple(input.shape)}, got {tuple(s.shape)}")
            if not batched:
                states = [s.unsqueeze(0) for s in states]
        return x, states, batched


class RNNCell(RNNCellBase):
    """Elman RNN cell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    >>> cell = nn.RNNCell(10, 20); h = cell(mytorch.randn(3, 10))   # (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", auto=False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} (tanh or relu)")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, auto, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, hx)
        fn = F.rnn_tanh_cell if self.nonlinearity == "tanh" else F.rnn_relu_cell
        y = fn(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, auto=self.auto)
        return y if batched else y.squeeze(0)


class LSTMCell(RNNCellBase):
    """LSTM cell; forward(input, (h, c)) -> (h', c'). Gates (i, f, g, o) as PyTorch.

    >>> cell = nn.LSTMCell(10, 20); h, c = cell(mytorch.randn(3, 10))
    """

    _gates = 4

    def forward(self, input, hx=None):
        x, (h, c), batched = self._prepare(input, hx)
        h, c = F.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih,
                           self.bias_hh, auto=self.auto)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """GRU cell; gates (r, z, n) as PyTorch.

    >>> cell = nn.GRUCell(10, 20); h = cell(mytorch.randn(3, 10))
    """

    _gates = 3

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, hx)
        y = F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                       auto=self.auto)
        return y if batched else y.squeeze(0)


class RNNBase(Module):
    """Multi-layer recurrent network over a whole sequence.

    Parameters per layer k (and direction suffix "_reverse"): weight_ih_l{k}, weight_hh_l{k},
    bias_ih_l{k}, bias_hh_l{k}, as PyTorch.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, auto=False, device=None,
                 dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in [0, 1], got {dropout}")
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be at least 1, got {num_layers}")
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size is not supported")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.auto = bidirectional, proj_size, auto
        G = _GATES[mode] * hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (G, in_size)), ("weight_hh", (G, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                for pname, shape in shapes:
                    setattr(self, pname + sfx, _new_param(*shape, device=device, dtype=dtype))
                    self._flat_weights_names.append(pname + sfx)
        self.reset_parameters()

    def reset_parameters(self):
        """uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every parameter, as PyTorch."""
        _reset_uniform(self)

    def _layer_params(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = self._parameters.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx))

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _check_state(self, s, want, what, input):
        if tuple(s.shape) != want:
            raise ValueError(f"{type(self).__name__}: expected {what} of shape {want} for input "
                             f"{tuple(input.shape)} (num_layers * num_directions, batch, "
                             f"hidden_size), got {tuple(s.shape)}")

    def forward(self, input, hx=None):
        """input (T, B, I) ((B, T, I) with batch_first, or unbatched (T, I)); hx as PyTorch.
        Returns (output (T, B, D*H), h_n) -- for LSTM (output, (h_n, c_n))."""
        name = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            layout = "(batch, seq_len" if self.batch_first else "(seq_len, batch"
            raise ValueError(f"{name}: expected input of shape {layout}, {self.input_size}) or "
                             f"unbatched (seq_len, {self.input_size}), got {tuple(input.shape)}")
        _check_dtype(name, input, self.weight_ih_l0)
        batched = input.ndim == 3
        x = input if not batched or not self.batch_first else input.transpose(0, 1)
        if not batched:
            x = x.unsqueeze(1)
        D = 2 if self.bidirectional else 1
        want = (self.num_layers * D, x.shape[1], self.hidden_size)
        is_lstm = self.mode == "LSTM"
        if hx is None:
            states = [mytorch.zeros(*want, dtype=x.dtype, device=x.device)
                      for _ in range(2 if is_lstm else 1)]
        else:
            if is_lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise ValueError(f"{name}: expected hx = (h_0, c_0)")
            states = list(hx) if is_lstm else [hx]
            for s, what in zip(states, ("h_0", "c_0")):
                self._check_state(s, want if batched else (want[0], want[2]), what, input)
            if not batched:
                states = [s.unsqueeze(1) for s in states]
        nonlin = "relu" if self.mode == "RNN_RELU" else "tanh"
        mode = "RNN" if self.mode.startswith("RNN") else self.mode
        last = [[] for _ in states]  # final states per layer and direction
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                idx = layer * D + d
                res = F.recurrent_layer(mode, x, [s[idx] for s in states],
                                        *self._layer_params(layer, d), nonlinearity=nonlin,
                                        reverse=bool(d), auto=self.auto)
                outs.append(res[0])
                for lst, r in zip(last, res[1:]):
                    lst.append(r)
            x = outs[0] if D == 1 else mytorch.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        finals = [mytorch.stack(lst, 0) for lst in last]
        if not batched:
            x = x.squeeze(1)
            finals = [f.squeeze(1) for f in finals]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return (x, tuple(finals)) if is_lstm else (x, finals[0])


class RNN(RNNBase):
    """Multi-layer Elman RNN (tanh or relu).

    >>> rnn = nn.RNN(10, 20, num_layers=2); out, h_n = rnn(mytorch.randn(5, 3, 10))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, auto=False, device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (tanh or relu)")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, auto, device, dtype)


class LSTM(RNNBase):
    """Multi-layer LSTM; forward(input, (h_0, c_0)) -> (output, (h_n, c_n)).

    >>> lstm = nn.LSTM(10, 20, batch_first=True); out, (h, c) = lstm(mytorch.randn(3, 5, 10))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, auto=False, device=None,
                 dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, auto, device, dtype)


class GRU(RNNBase):
    """Multi-layer GRU.

    >>> gru = nn.GRU(10, 20, num_layers=2); out, h_n = gru(mytorch.randn(5, 3, 10))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, auto=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, auto, device, dtype)
