"""Recurrent cells from scratch: vanilla RNN, GRU and LSTM, plus backpropagation through time by hand.

Chapter 1 ("BPTT and vanishing gradients") and chapter 2 ("GRU and LSTM") build these.

* Elman (1990), "Finding Structure in Time": the vanilla RNN
  ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.
* Werbos (1990), "Backpropagation Through Time: What It Does and How to Do It": the
  backward pass of an unrolled RNN (:func:`rnn_bptt` writes it out step by step).
* Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", with the forget gate of
  Gers, Schmidhuber & Cummins (2000): :class:`LSTMCell`.
* Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder for
  Statistical Machine Translation": the gated recurrent unit, :class:`GRUCell`.

Every module uses **torch's parameter names and layouts** (``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh`` for cells; ``weight_ih_l0`` ... for layers; gate blocks stacked in
torch's order: GRU ``r, z, n``, LSTM ``i, f, g, o``), so
``ours.load_state_dict(torch_module.state_dict())`` works in both directions and the tests
compare outputs and gradients with ``nn.RNNCell``/``nn.GRUCell``/``nn.LSTMCell`` and
``nn.RNN``/``nn.GRU``/``nn.LSTM(batch_first=True)``.

Notation (the book's): x_t input (E), h_t hidden state (H), c_t LSTM cell state (H);
GRU reset gate r_t, update gate z_t, candidate g_t; LSTM input/forget/output gates
i_t, f_t, o_t and candidate g_t. Layers are batch-first: inputs (B, T, E).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from s2s_lib import count_parameters
from s2s_lib.checks import (check_alike, check_bool, check_choice, check_int, check_real, check_tensor,
                            validated_by)

__all__ = [
    "rnn_cell_step",
    "gru_cell_step",
    "lstm_cell_step",
    "gru_gates",
    "tanh",
    "lstm_gates",
    "RNNCell",
    "GRUCell",
    "LSTMCell",
    "RNN",
    "GRU",
    "LSTM",
    "BPTTResult",
    "rnn_forward_states",
    "rnn_bptt",
    "count_parameters",
    "expected_num_parameters",
    "GATES_PER_CELL",
]

class _Tanh(torch.autograd.Function):
    """tanh(x) = 2 sigmoid(2x) - 1, with tanh's own backward ``grad * (1 - y^2)``."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x * 2).mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh``, computed on the CPU as ``2 sigmoid(2x) - 1`` (the same function, to ~1e-7).

    torch's CPU tanh kernel is not vectorised: on our 2-core machine it takes 260 us for a
    (64, 16, 256) tensor where sigmoid takes 32 us, and the additive attention score applies it
    to such a tensor at every decoder step (``benchmarks/bench_training.py``). The decoders and
    the attention scores call this one; elsewhere (other devices) it is ``torch.tanh``.
    """
    if x.device.type == "cpu" and x.is_floating_point():
        return _Tanh.apply(x)
    return torch.tanh(x)


#: How many H-row blocks each cell stacks in ``weight_ih``/``weight_hh``.
GATES_PER_CELL = {"rnn": 1, "gru": 3, "lstm": 4}

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


# --------------------------------------------------------------------------------------
# One time step, as plain functions of tensors. They check their arguments; the cells and
# layers below check once at their own boundary and call ``step.unchecked`` in their loops.
# --------------------------------------------------------------------------------------
def _step_tensors(gates: int, x, h, weight_ih, weight_hh, bias_ih, bias_hh, c=None) -> None:
    """The tensors of one step: x (B, E), h and c (B, H), weight_ih (G*H, E), weight_hh (G*H, H),
    biases (G*H,) or None, all of one floating dtype and device (G = ``gates``)."""
    check_tensor(x, "x", dtype="float", ndim=2)
    B, E = x.shape
    H = check_tensor(weight_hh, "weight_hh", dtype="float", ndim=2).size(1)
    check_tensor(weight_hh, "weight_hh", shape=(gates * H, H))
    check_tensor(weight_ih, "weight_ih", dtype="float", shape=(gates * H, E))
    check_tensor(h, "h", shape=(B, H))
    for name, t, shape in (("c", c, (B, H)), ("bias_ih", bias_ih, (gates * H,)), ("bias_hh", bias_hh, (gates * H,))):
        if t is not None:
            check_tensor(t, name, shape=shape)
    check_alike({"weight_ih": weight_ih, "weight_hh": weight_hh, "x": x, "h": h, "c": c,
                 "bias_ih": bias_ih, "bias_hh": bias_hh})


def _rnn_step_args(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    check_choice(nonlinearity, "nonlinearity", _NONLINEARITIES)
    _step_tensors(1, x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def _gru_step_args(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    _step_tensors(3, x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def _lstm_step_args(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    _step_tensors(4, x, h, weight_ih, weight_hh, bias_ih, bias_hh, c=c)


@validated_by(_rnn_step_args)
def rnn_cell_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
) -> torch.Tensor:
    """One step of the vanilla (Elman) RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Args:
        x: (B, E) input at step t.
        h: (B, H) previous hidden state h_{t-1}.
        weight_ih: (H, E) input-to-hidden weights W_ih (``W_hx`` in some texts).
        weight_hh: (H, H) hidden-to-hidden (recurrent) weights W_hh.
        bias_ih, bias_hh: (H,) biases, or ``None`` for none.
        nonlinearity: "tanh" (default) or "relu", as in ``nn.RNNCell``.
    Returns:
        (B, H) the new hidden state h_t.
    Raises:
        TypeError / ValueError: a tensor of another dtype, device or shape than the weights
            imply, naming it (``rnn_cell_step.unchecked`` skips the checks).
    """
    pre = x @ weight_ih.T + h @ weight_hh.T  # (B, H)
    if bias_ih is not None:
        pre = pre + bias_ih
    if bias_hh is not None:
        pre = pre + bias_hh
    return _NONLINEARITIES[nonlinearity](pre)


@validated_by(_gru_step_args)
def gru_cell_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One GRU step, in torch's convention (the reset gate acts *after* the hidden matmul).

    .. math::
        r_t &= \\sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\\\
        z_t &= \\sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\\\
        g_t &= \\tanh(W_{ig} x_t + b_{ig} + r_t \\odot (W_{hg} h_{t-1} + b_{hg})) \\\\
        h_t &= z_t \\odot h_{t-1} + (1 - z_t) \\odot g_t

    Cho et al. (2014) put the reset gate *inside* the matmul, ``W_hg (r_t * h_{t-1})``;
    torch (and cuDNN) apply it to ``W_hg h_{t-1} + b_hg`` so that all three hidden matmuls
    can run as one. We match torch exactly. torch calls the candidate ``n_t``; we call it
    ``g_t`` like the book. The update gate z_t *keeps* the old state: z_t = 1 copies h_{t-1}.

    Args:
        x: (B, E) input at step t.
        h: (B, H) previous hidden state h_{t-1}.
        weight_ih: (3H, E) input weights, row blocks in order r, z, g (torch's r, z, n).
        weight_hh: (3H, H) recurrent weights, same block order.
        bias_ih, bias_hh: (3H,) biases or ``None``.
    Returns:
        ``(h_t, gates)``: h_t (B, H) and ``gates = {"r": (B, H), "z": (B, H), "g": (B, H)}``.

    Raises:
        TypeError / ValueError: as :func:`rnn_cell_step`.
    """
    gi = x @ weight_ih.T  # (B, 3H)
    gh = h @ weight_hh.T  # (B, 3H)
    if bias_ih is not None:
        gi = gi + bias_ih
    if bias_hh is not None:
        gh = gh + bias_hh
    return gru_gates(gi, gh, h)


def gru_gates(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The gate arithmetic of one GRU step, after the matmuls (:func:`gru_cell_step`'s second half).

    Args:
        gi: (B, 3H) ``W_ih x_t + b_ih``, blocks r, z, g. gh: (B, 3H) ``W_hh h_{t-1} + b_hh``.
        h: (B, H) h_{t-1}.
    Returns:
        ``(h_t, {"r", "z", "g"})`` as :func:`gru_cell_step`. Unchecked: the decoders call it
        every step with the pre-activations they computed (some parts once per sequence).
    """
    i_r, i_z, i_g = gi.chunk(3, dim=1)  # 3 x (B, H)
    h_r, h_z, h_g = gh.chunk(3, dim=1)  # 3 x (B, H)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    g = tanh(i_g + r * h_g)
    h_new = z * h + (1.0 - z) * g
    return h_new, {"r": r, "z": z, "g": g}


@validated_by(_lstm_step_args)
def lstm_cell_step(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One LSTM step (with the forget gate of Gers et al. 2000), as in ``nn.LSTMCell``.

    .. math::
        i_t &= \\sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\\\
        f_t &= \\sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\\\
        g_t &= \\tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\\\
        o_t &= \\sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot g_t \\\\
        h_t &= o_t \\odot \\tanh(c_t)

    Args:
        x: (B, E) input at step t.
        h: (B, H) previous hidden state h_{t-1}.
        c: (B, H) previous cell state c_{t-1}.
        weight_ih: (4H, E) input weights, row blocks in order i, f, g, o.
        weight_hh: (4H, H) recurrent weights, same block order.
        bias_ih, bias_hh: (4H,) biases or ``None``.
    Returns:
        ``(h_t, c_t, gates)`` with h_t, c_t (B, H) and
        ``gates = {"i", "f", "g", "o"}`` each (B, H).

    Raises:
        TypeError / ValueError: as :func:`rnn_cell_step`.
    """
    pre = x @ weight_ih.T + h @ weight_hh.T  # (B, 4H)
    if bias_ih is not None:
        pre = pre + bias_ih
    if bias_hh is not None:
        pre = pre + bias_hh
    return lstm_gates(pre, c)


def lstm_gates(pre: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The gate arithmetic of one LSTM step, after the matmuls (:func:`lstm_cell_step`'s second half).

    Args:
        pre: (B, 4H) ``W_ih x_t + b_ih + W_hh h_{t-1} + b_hh``, blocks i, f, g, o. c: (B, H) c_{t-1}.
    Returns:
        ``(h_t, c_t, {"i", "f", "g", "o"})`` as :func:`lstm_cell_step`. Unchecked, like :func:`gru_gates`.
    """
    p_i, p_f, p_g, p_o = pre.chunk(4, dim=1)  # 4 x (B, H)
    i = torch.sigmoid(p_i)
    f = torch.sigmoid(p_f)
    g = tanh(p_g)
    o = torch.sigmoid(p_o)
    c_new = f * c + i * g
    h_new = o * tanh(c_new)
    return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}


# --------------------------------------------------------------------------------------
# Cells: one step, torch's parameter names.
# --------------------------------------------------------------------------------------
class _CellBase(nn.Module):
    """Holds ``weight_ih (G*H, E)``, ``weight_hh (G*H, H)``, ``bias_ih``, ``bias_hh (G*H,)``."""

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.bias = check_bool(bias, "bias")
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initialisation: every entry uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.size(0), self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """Vanilla RNN cell ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (like ``nn.RNNCell``).

    Args:
        input_size: E.
        hidden_size: H.
        bias: learn ``bias_ih``/``bias_hh`` (H,).
        nonlinearity: "tanh" or "relu".
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        self.nonlinearity = check_choice(nonlinearity, "nonlinearity", _NONLINEARITIES)
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Args: x (B, E); h (B, H) or ``None`` for zeros. Returns h_t (B, H)."""
        check_tensor(x, "x", dtype="float", shape=(None, self.input_size))
        h = self._zeros(x) if h is None else check_tensor(h, "h", shape=(x.size(0), self.hidden_size))
        check_alike({"weight_ih": self.weight_ih, "x": x, "h": h})
        return rnn_cell_step.unchecked(x, h, self.weight_ih, self.weight_hh, self.bias_ih,
                                       self.bias_hh, self.nonlinearity)


class GRUCell(_CellBase):
    """GRU cell (Cho et al. 2014) with torch's reset-gate placement; loads ``nn.GRUCell`` weights.

    ``h_t = z_t * h_{t-1} + (1 - z_t) * g_t`` with ``g_t = tanh(W_ig x + b_ig + r_t * (W_hg h + b_hg))``:
    torch applies the reset gate r_t after the hidden matmul, Cho et al. before it
    (``W_hg (r_t * h_{t-1})``). See :func:`gru_cell_step`.

    Args:
        input_size: E.
        hidden_size: H. ``weight_ih`` is (3H, E), ``weight_hh`` (3H, H), gate order r, z, g.
        bias: learn the (3H,) biases.
    """

    num_gates = 3

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None, *,
                return_gates: bool = False):
        """Args: x (B, E); h (B, H) or ``None`` for zeros.

        Returns:
            h_t (B, H), or ``(h_t, gates)`` with ``gates = {"r", "z", "g"}`` (B, H) when
            ``return_gates``.
        """
        check_tensor(x, "x", dtype="float", shape=(None, self.input_size))
        h = self._zeros(x) if h is None else check_tensor(h, "h", shape=(x.size(0), self.hidden_size))
        check_alike({"weight_ih": self.weight_ih, "x": x, "h": h})
        check_bool(return_gates, "return_gates")
        h_new, gates = gru_cell_step.unchecked(x, h, self.weight_ih, self.weight_hh, self.bias_ih,
                                               self.bias_hh)
        return (h_new, gates) if return_gates else h_new


class LSTMCell(_CellBase):
    """LSTM cell (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000); loads ``nn.LSTMCell``.

    Args:
        input_size: E.
        hidden_size: H. ``weight_ih`` is (4H, E), ``weight_hh`` (4H, H), gate order i, f, g, o.
        bias: learn the (4H,) biases.
    """

    num_gates = 4

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                *, return_gates: bool = False):
        """Args: x (B, E); state ``(h, c)`` each (B, H), or ``None`` for zeros.

        Returns:
            ``(h_t, c_t)``, or ``((h_t, c_t), gates)`` with ``gates = {"i", "f", "g", "o"}``
            each (B, H) when ``return_gates``.
        """
        check_tensor(x, "x", dtype="float", shape=(None, self.input_size))
        if state is None:
            h, c = self._zeros(x), self._zeros(x)
        else:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError("state must be a tuple (h, c) of two tensors")
            shape = (x.size(0), self.hidden_size)
            h = check_tensor(state[0], "state[0] (h)", shape=shape)
            c = check_tensor(state[1], "state[1] (c)", shape=shape)
        check_alike({"weight_ih": self.weight_ih, "x": x, "state[0] (h)": h, "state[1] (c)": c})
        check_bool(return_gates, "return_gates")
        h_new, c_new, gates = lstm_cell_step.unchecked(x, h, c, self.weight_ih, self.weight_hh,
                                                       self.bias_ih, self.bias_hh)
        return ((h_new, c_new), gates) if return_gates else (h_new, c_new)


# --------------------------------------------------------------------------------------
# Layers: a (B, T, E) sequence, stacked layers, torch's nn.RNN/GRU/LSTM parameter names.
# --------------------------------------------------------------------------------------
class _LayerBase(nn.Module):
    """Multi-step, multi-layer recurrent layer over a batch-first (B, T, E) sequence.

    Parameters are named like torch's ``nn.RNN``/``nn.GRU``/``nn.LSTM``: ``weight_ih_l{k}``
    (G*H, E or H), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,),
    so ``load_state_dict`` accepts a torch layer's ``state_dict()`` (unidirectional).
    The time loop is plain Python: readable, and ``benchmarks/bench_rnn_cells.py``
    measures how much slower it is than torch's fused kernels.
    """

    num_gates = 1
    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.num_layers = check_int(num_layers, "num_layers")
        self.bias = check_bool(bias, "bias")
        self.dropout = check_real(dropout, "dropout", 0.0, below=1.0)
        rows = self.num_gates * hidden_size
        for k in range(num_layers):
            in_size = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(rows, in_size)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(rows, hidden_size)))
            if bias:
                self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(rows)))
                self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(rows)))
            else:
                self.register_parameter(f"bias_ih_l{k}", None)
                self.register_parameter(f"bias_hh_l{k}", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initialisation: every entry uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def layer_weights(self, k: int) -> tuple[torch.Tensor, ...]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of layer ``k`` (biases may be ``None``)."""
        return tuple(getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, batch_first=True"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s

    def _between_layers(self, out: torch.Tensor, k: int) -> torch.Tensor:
        if self.dropout and self.training and k < self.num_layers - 1:
            out = nn.functional.dropout(out, p=self.dropout, training=True)
        return out


class RNN(_LayerBase):
    """Vanilla RNN over a (B, T, E) sequence; same parameters as ``nn.RNN(batch_first=True)``.

    Args:
        input_size: E. hidden_size: H. num_layers: stacked layers.
        bias: learn biases. dropout: between layers (training only), as in torch.
        nonlinearity: "tanh" or "relu".
    """

    num_gates = 1
    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0, nonlinearity: str = "tanh") -> None:
        self.nonlinearity = check_choice(nonlinearity, "nonlinearity", _NONLINEARITIES)
        super().__init__(input_size, hidden_size, num_layers, bias, dropout)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        """Run the sequence.

        Args:
            x: (B, T, E) inputs.
            h0: (L, B, H) initial hidden states (L = num_layers), ``None`` for zeros.
        Returns:
            ``(output, h_n)``: output (B, T, H) the top layer's h_1..h_T, h_n (L, B, H).
        """
        check_tensor(x, "x", dtype="float", shape=(None, None, self.input_size))
        if x.size(1) == 0:
            raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
        B, T, _ = x.shape
        shape = (self.num_layers, B, self.hidden_size)
        h0 = x.new_zeros(shape) if h0 is None else check_tensor(h0, "h0", shape=shape)
        check_alike({"weight_ih_l0": self.weight_ih_l0, "x": x, "h0": h0})
        layer_in, finals = x, []
        for k in range(self.num_layers):
            w = self.layer_weights(k)
            h, outs = h0[k], []
            for t in range(T):
                h = rnn_cell_step.unchecked(layer_in[:, t], h, *w, nonlinearity=self.nonlinearity)
                outs.append(h)
            finals.append(h)
            layer_in = self._between_layers(torch.stack(outs, dim=1), k)  # (B, T, H)
        return layer_in, torch.stack(finals, dim=0)  # (B, T, H), (L, B, H)


class GRU(_LayerBase):
    """GRU over a (B, T, E) sequence; same parameters as ``nn.GRU(batch_first=True)``.

    Uses :func:`gru_cell_step` (torch's reset-gate convention). Args as :class:`RNN`.
    """

    num_gates = 3
    kind = "gru"

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, *,
                return_gates: bool = False):
        """Run the sequence.

        Args:
            x: (B, T, E) inputs.
            h0: (L, B, H) initial hidden states, ``None`` for zeros.
            return_gates: also return every layer's gate activations.
        Returns:
            ``(output, h_n)`` with output (B, T, H) and h_n (L, B, H); with ``return_gates``
            a third item, a list (one per layer) of ``{"r", "z", "g"}`` each (B, T, H).
        """
        check_tensor(x, "x", dtype="float", shape=(None, None, self.input_size))
        if x.size(1) == 0:
            raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
        B, T, _ = x.shape
        shape = (self.num_layers, B, self.hidden_size)
        h0 = x.new_zeros(shape) if h0 is None else check_tensor(h0, "h0", shape=shape)
        check_alike({"weight_ih_l0": self.weight_ih_l0, "x": x, "h0": h0})
        check_bool(return_gates, "return_gates")
        layer_in, finals, all_gates = x, [], []
        for k in range(self.num_layers):
            w = self.layer_weights(k)
            h, outs, gate_steps = h0[k], [], []
            for t in range(T):
                h, gates = gru_cell_step.unchecked(layer_in[:, t], h, *w)
                outs.append(h)
                if return_gates:
                    gate_steps.append(gates)
            finals.append(h)
            if return_gates:
                all_gates.append({n: torch.stack([g[n] for g in gate_steps], dim=1)  # (B, T, H)
                                  for n in ("r", "z", "g")})
            layer_in = self._between_layers(torch.stack(outs, dim=1), k)  # (B, T, H)
        h_n = torch.stack(finals, dim=0)  # (L, B, H)
        return (layer_in, h_n, all_gates) if return_gates else (layer_in, h_n)


class LSTM(_LayerBase):
    """LSTM over a (B, T, E) sequence; same parameters as ``nn.LSTM(batch_first=True)``.

    Uses :func:`lstm_cell_step`. Args as :class:`RNN`.
    """

    num_gates = 4
    kind = "lstm"

    def forward(self, x: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                return_gates: bool = False):
        """Run the sequence.

        Args:
            x: (B, T, E) inputs.
            state: ``(h0, c0)`` each (L, B, H), or ``None`` for zeros.
            return_gates: also return every layer's gate activations.
        Returns:
            ``(output, (h_n, c_n))`` with output (B, T, H) and h_n, c_n (L, B, H); with
            ``return_gates`` a third item, a list (one per layer) of
            ``{"i", "f", "g", "o", "c"}`` each (B, T, H) (``c`` is the cell state c_t).
        """
        check_tensor(x, "x", dtype="float", shape=(None, None, self.input_size))
        if x.size(1) == 0:
            raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
        B, T, _ = x.shape
        shape = (self.num_layers, B, self.hidden_size)
        if state is None:
            h0, c0 = x.new_zeros(shape), x.new_zeros(shape)
        else:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError("state must be a tuple (h0, c0) of two tensors")
            h0 = check_tensor(state[0], "state[0] (h0)", shape=shape)
            c0 = check_tensor(state[1], "state[1] (c0)", shape=shape)
        check_alike({"weight_ih_l0": self.weight_ih_l0, "x": x, "state[0] (h0)": h0, "state[1] (c0)": c0})
        check_bool(return_gates, "return_gates")
        layer_in, h_finals, c_finals, all_gates = x, [], [], []
        for k in range(self.num_layers):
            w = self.layer_weights(k)
            h, c, outs, gate_steps = h0[k], c0[k], [], []
            for t in range(T):
                h, c, gates = lstm_cell_step.unchecked(layer_in[:, t], h, c, *w)
                outs.append(h)
                if return_gates:
                    gate_steps.append({**gates, "c": c})
            h_finals.append(h)
            c_finals.append(c)
            if return_gates:
                all_gates.append({n: torch.stack([g[n] for g in gate_steps], dim=1)  # (B, T, H)
                                  for n in ("i", "f", "g", "o", "c")})
            layer_in = self._between_layers(torch.stack(outs, dim=1), k)  # (B, T, H)
        final = (torch.stack(h_finals, dim=0), torch.stack(c_finals, dim=0))  # 2 x (L, B, H)
        return (layer_in, final, all_gates) if return_gates else (layer_in, final)


# --------------------------------------------------------------------------------------
# Backpropagation through time, by hand, for the vanilla RNN.
# --------------------------------------------------------------------------------------
@dataclass
class BPTTResult:
    """What :func:`rnn_bptt` computes.

    Attributes:
        states: (B, T, H) the forward hidden states h_1..h_T.
        grad_h: (B, T, H) total dL/dh_t: the direct part from the loss at step t plus
            everything that flows back from later steps through W_hh.
        grad_h0: (B, H) dL/dh_0.
        grad_x: (B, T, E) dL/dx_t.
        grad_weight_ih: (H, E) dL/dW_ih.
        grad_weight_hh: (H, H) dL/dW_hh.
        grad_bias_ih: (H,) dL/db_ih.
        grad_bias_hh: (H,) dL/db_hh (equal to ``grad_bias_ih``: both biases are added
            at the same place).
    """

    states: torch.Tensor
    grad_h: torch.Tensor
    grad_h0: torch.Tensor
    grad_x: torch.Tensor
    grad_weight_ih: torch.Tensor
    grad_weight_hh: torch.Tensor
    grad_bias_ih: torch.Tensor
    grad_bias_hh: torch.Tensor


def rnn_forward_states(
    x: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run the tanh RNN and return every hidden state.

    Args:
        x: (B, T, E) inputs.
        weight_ih: (H, E). weight_hh: (H, H). bias_ih, bias_hh: (H,) or ``None``.
        h0: (B, H) initial state, ``None`` for zeros.
    Returns:
        (B, T, H) the states h_1..h_T.
    """
    check_tensor(x, "x", dtype="float", ndim=3)
    B, T, E = x.shape
    if T == 0:
        raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
    H = check_tensor(weight_ih, "weight_ih", dtype="float", shape=(None, E)).size(0)
    check_tensor(weight_hh, "weight_hh", dtype="float", shape=(H, H))
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            check_tensor(b, name, shape=(H,))
    h = x.new_zeros(B, H) if h0 is None else check_tensor(h0, "h0", shape=(B, H))
    check_alike({"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh,
                 "x": x, "h0": h})
    states = []
    for t in range(x.size(1)):
        h = rnn_cell_step.unchecked(x[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)


def rnn_bptt(
    x: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None,
    bias_hh: torch.Tensor | None,
    grad_output: torch.Tensor,
    h0: torch.Tensor | None = None,
) -> BPTTResult:
    """Backpropagation through time for the tanh RNN, written out step by step.

    With ``a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` and ``h_t = tanh(a_t)``, walk from
    t = T down to 1 keeping ``dh`` = total dL/dh_t:

    1. ``dh_t = grad_output_t + da_{t+1} W_hh`` (direct gradient + what comes back from t+1),
    2. ``da_t = dh_t * (1 - h_t^2)`` (tanh'),
    3. accumulate ``dW_ih += da_t^T x_t``, ``dW_hh += da_t^T h_{t-1}``, ``db += sum_b da_t``.

    So ``dL/dh_k`` carries the product of Jacobians
    ``dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh`` from every later step: the source of vanishing
    (norms < 1) and exploding (norms > 1) gradients.

    Args:
        x: (B, T, E) inputs.
        weight_ih: (H, E). weight_hh: (H, H). bias_ih, bias_hh: (H,) or ``None``.
        grad_output: (B, T, H) the *direct* gradient dL/dh_t of the loss at each step
            (for a loss on the last state only, zeros except ``[:, -1]``).
        h0: (B, H) initial state, ``None`` for zeros.
    Returns:
        A :class:`BPTTResult` with the states and every gradient.
    """
    with torch.no_grad():
        # The forward pass checks x, the weights and h0.
        states = rnn_forward_states(x, weight_ih, weight_hh, bias_ih, bias_hh, h0)  # (B, T, H)
        B, T, H = states.shape
        check_tensor(grad_output, "grad_output", shape=(B, T, H))
        check_alike({"x": x, "grad_output": grad_output})
        h0 = x.new_zeros(B, H) if h0 is None else h0
        prev = torch.cat([h0.unsqueeze(1), states[:, :-1]], dim=1)  # (B, T, H): h_0..h_{T-1}
        grad_h = torch.zeros_like(states)
        grad_x = torch.zeros_like(x)
        d_w_ih = torch.zeros_like(weight_ih)
        d_w_hh = torch.zeros_like(weight_hh)
        d_b = x.new_zeros(H)
        from_later = x.new_zeros(B, H)  # dL/dh_t that arrives from step t+1
        for t in reversed(range(T)):
            dh = grad_output[:, t] + from_later  # (B, H) total dL/dh_t
            grad_h[:, t] = dh
            da = dh * (1.0 - states[:, t] ** 2)  # (B, H) dL/da_t
            d_w_ih += da.T @ x[:, t]  # (H, E)
            d_w_hh += da.T @ prev[:, t]  # (H, H)
            d_b += da.sum(dim=0)
            grad_x[:, t] = da @ weight_ih  # (B, E)
            from_later = da @ weight_hh  # (B, H) = dL/dh_{t-1} through step t
    return BPTTResult(
        states=states,
        grad_h=grad_h,
        grad_h0=from_later,
        grad_x=grad_x,
        grad_weight_ih=d_w_ih,
        grad_weight_hh=d_w_hh,
        grad_bias_ih=d_b if bias_ih is not None else None,
        grad_bias_hh=d_b.clone() if bias_hh is not None else None,
    )


# --------------------------------------------------------------------------------------
# Parameter counts (count_parameters, imported above, lives in s2s_lib/__init__.py).
# --------------------------------------------------------------------------------------
def expected_num_parameters(kind: str, input_size: int, hidden_size: int, bias: bool = True) -> int:
    """``G * (H*E + H*H + 2H)`` for one layer, with G = 1 (RNN), 3 (GRU), 4 (LSTM).

    Args:
        kind: "rnn", "gru" or "lstm".
        input_size: E. hidden_size: H. bias: two bias vectors (torch keeps b_ih and b_hh).
    """
    check_choice(kind, "kind", GATES_PER_CELL)
    E, H = check_int(input_size, "input_size"), check_int(hidden_size, "hidden_size")
    check_bool(bias, "bias")
    return GATES_PER_CELL[kind] * (H * E + H * H + (2 * H if bias else 0))
