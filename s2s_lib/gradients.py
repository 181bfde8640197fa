"""Measuring vanishing and exploding gradients, the long-term recall task, and gradient clipping.

Chapter 1 ("BPTT and vanishing gradients") and chapter 2 ("GRU and LSTM") use these.

* Bengio, Simard & Frasconi (1994), "Learning Long-Term Dependencies with Gradient Descent
  is Difficult", and Hochreiter (1991): dL/dh_k is a product of T - k Jacobians, which
  shrinks or grows exponentially. :func:`hidden_grad_norms` measures ||dL/dh_t|| for every
  t; :func:`rnn_jacobians` gives the vanilla RNN's factors ``diag(1 - h_t^2) W_hh``.
* Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
  networks": clipping the gradient by its norm (:func:`clip_grad_norm`).
* Hochreiter & Schmidhuber (1997) use tasks where the answer depends on a symbol long
  ago; :func:`recall_batch` is the simplest: recall the first symbol after T - 1
  distractors. :func:`train_recall` trains any of our cells on it with a fixed budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn
from tqdm import tqdm

from s2s_lib.checks import (check_alike, check_bool, check_choice, check_finite, check_int, check_real,
                            check_tensor, check_token_ids, check_type)
from s2s_lib.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "CELL_KINDS",
    "KEEP_GATE",
    "make_cell",
    "scale_spectral_radius",
    "spectral_radius",
    "set_keep_gate_bias",
    "hidden_grad_norms",
    "grad_norm_grid",
    "rnn_jacobians",
    "recall_batch",
    "RecallModel",
    "RecallRun",
    "recall_accuracy",
    "train_recall",
    "clip_grad_norm",
    "grad_norm",
]

#: The three cells of chapters 1-2.
CELL_KINDS = ("rnn", "gru", "lstm")
#: Which gate block "keeps" the old state: GRU's update gate z (block 1 of r, z, g),
#: LSTM's forget gate f (block 1 of i, f, g, o).
KEEP_GATE = {"gru": ("z", 1), "lstm": ("f", 1)}

_CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}
_LAYERS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


# --------------------------------------------------------------------------------------
# Controlling the recurrent weights.
# --------------------------------------------------------------------------------------
def spectral_radius(matrix: torch.Tensor) -> float:
    """Largest absolute eigenvalue of a square (H, H) matrix of finite numbers, H >= 1.

    0.0 for a nilpotent matrix (e.g. all zeros), which :func:`scale_spectral_radius` refuses.
    """
    check_tensor(matrix, "matrix", ndim=2)
    if matrix.size(0) != matrix.size(1) or matrix.numel() == 0:
        raise ValueError(f"matrix must be square (H, H) with H >= 1, got shape {tuple(matrix.shape)}")
    check_finite(matrix, "matrix")  # LAPACK would return nan (and print an MKL error)
    return float(torch.linalg.eigvals(matrix.detach().double()).abs().max())


def scale_spectral_radius(weight_hh: torch.Tensor, radius: float) -> torch.Tensor:
    """Rescale each (H, H) gate block of a recurrent weight to spectral radius ``radius``.

    Args:
        weight_hh: (G*H, H) recurrent weights (G = 1 RNN, 3 GRU, 4 LSTM).
        radius: the wanted largest |eigenvalue| of every block, > 0.
    Returns:
        (G*H, H) a new tensor; ``weight_hh`` is not changed.
    Raises:
        ValueError: a block has spectral radius 0 (all zeros, or nilpotent: no scale reaches
            ``radius``), or the rescaled weights overflow their dtype.
    """
    H = check_tensor(weight_hh, "weight_hh", ndim=2).size(1)
    if H == 0 or weight_hh.size(0) % H:
        raise ValueError(f"weight_hh rows must be a multiple of H={H} >= 1, got {tuple(weight_hh.shape)}")
    check_finite(weight_hh, "weight_hh")
    radius = check_real(radius, "radius", above=0)
    blocks = weight_hh.detach().split(H, dim=0)  # G x (H, H)
    radii = [spectral_radius(b) for b in blocks]
    for k, r in enumerate(radii):
        if r == 0:
            raise ValueError(f"weight_hh block {k} (rows {k * H}-{(k + 1) * H - 1}) has spectral radius 0 "
                             f"(all zeros or nilpotent): no scale gives it radius {radius}")
    scaled = torch.cat([b * (radius / r) for b, r in zip(blocks, radii)], dim=0)
    if not torch.isfinite(scaled).all():
        raise ValueError(f"radius={radius} overflows {weight_hh.dtype}: a block's spectral radius is "
                         f"{min(radii):.3g}, so its entries grow by {radius / min(radii):.3g}")
    return scaled


def set_keep_gate_bias(module: nn.Module, value: float) -> None:
    """Set the bias of the gate that keeps the old state (GRU ``z``, LSTM ``f``) to ``value``.

    ``bias_ih`` of that block becomes ``value`` and ``bias_hh`` zero, so at small inputs the
    gate starts near ``sigmoid(value)`` (e.g. 0.95 for 3). Jozefowicz et al. (2015) recommend
    a forget-gate bias of 1 for the LSTM. Works on our cells and layers (every layer).
    """
    if isinstance(module, (GRUCell, GRU)):
        kind = "gru"
    elif isinstance(module, (LSTMCell, LSTM)):
        kind = "lstm"
    else:
        raise TypeError(f"module must be one of our GRU/LSTM cells or layers, got {type(module).__name__}")
    value = check_real(value, "value")
    H = module.hidden_size
    block = slice(KEEP_GATE[kind][1] * H, (KEEP_GATE[kind][1] + 1) * H)
    suffixes = [""] if isinstance(module, (GRUCell, LSTMCell)) else [f"_l{k}" for k in range(module.num_layers)]
    with torch.no_grad():
        for s in suffixes:
            b_ih, b_hh = getattr(module, "bias_ih" + s), getattr(module, "bias_hh" + s)
            if b_ih is None:
                raise ValueError("module has no biases (bias=False)")
            b_ih[block] = value
            b_hh[block] = 0.0


def make_cell(kind: str, input_size: int, hidden_size: int, *, weight_scale: float | None = None,
              keep_bias: float | None = None, dtype: torch.dtype = torch.float32) -> nn.Module:
    """One of our cells with torch's random init, optionally with controlled recurrent weights.

    Args:
        kind: "rnn", "gru" or "lstm".
        input_size: E. hidden_size: H.
        weight_scale: if given, every (H, H) block of ``weight_hh`` is rescaled to this
            spectral radius (:func:`scale_spectral_radius`).
        keep_bias: if given (GRU/LSTM only; ignored for the RNN), the bias of the keep gate
            (:func:`set_keep_gate_bias`).
        dtype: parameter dtype, a floating ``torch.dtype``.
    """
    check_type(dtype, "dtype", torch.dtype, "a torch.dtype (e.g. torch.float64)")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype}")
    cell = _CELLS[check_choice(kind, "kind", CELL_KINDS)](input_size, hidden_size).to(dtype)
    if weight_scale is not None:
        weight_scale = check_real(weight_scale, "weight_scale", above=0)
    if keep_bias is not None:
        keep_bias = check_real(keep_bias, "keep_bias")
    with torch.no_grad():
        if weight_scale is not None:
            cell.weight_hh.copy_(scale_spectral_radius(cell.weight_hh, weight_scale))
    if keep_bias is not None and kind != "rnn":
        set_keep_gate_bias(cell, keep_bias)
    return cell


# --------------------------------------------------------------------------------------
# ||dL/dh_t|| along a sequence.
# --------------------------------------------------------------------------------------
def hidden_grad_norms(
    kind: str,
    seq_len: int,
    *,
    weight_scale: float | None = None,
    keep_bias: float | None = None,
    hidden_size: int = 32,
    input_size: int = 8,
    batch_size: int = 16,
    seed: int = 0,
    cell: nn.Module | None = None,
    inputs: torch.Tensor | None = None,
    readout: torch.Tensor | None = None,
) -> list[float]:
    """||dL/dh_t|| for t = 1..T of a randomly initialised cell, loss on the last step.

    The cell reads ``inputs`` (default: standard normal, (B, T, E)), and the loss is
    ``L = sum_b v . h_T^(b)`` with a fixed random readout ``v`` (H,). For each t we take the
    gradient with respect to the hidden state h_t itself (all paths from h_t to the loss),
    then average ``||dL/dh_t^(b)||_2`` over the batch. The cell it makes is float64, so
    even norms of 1e-30 are computed exactly (float32 would flush them towards 0).

    Args:
        kind: "rnn", "gru" or "lstm".
        seq_len: T.
        weight_scale: spectral radius of every (H, H) block of ``weight_hh``; ``None`` keeps
            torch's init (uniform +-1/sqrt(H), radius about 0.58).
        keep_bias: GRU update-gate / LSTM forget-gate bias (see :func:`set_keep_gate_bias`).
        hidden_size, input_size, batch_size: H, E, B.
        seed: seeds the weights, inputs and readout.
        cell: use this cell (ours, of ``kind``) instead of making one; ``weight_scale`` etc.
            are then unused. Its dtype is used throughout.
        inputs: (B, T, E) inputs instead of random ones (the cell's dtype).
        readout: (H,) readout ``v`` instead of a random one (the cell's dtype).
    Returns:
        A list of T floats: entry t - 1 is the mean ||dL/dh_t||.
    """
    check_choice(kind, "kind", CELL_KINDS)
    seq_len = check_int(seq_len, "seq_len")
    batch_size = check_int(batch_size, "batch_size")
    seed = check_int(seed, "seed", minimum=None)
    gen = torch.Generator().manual_seed(seed)
    if cell is None:
        torch.manual_seed(seed)
        cell = make_cell(kind, input_size, hidden_size, weight_scale=weight_scale,
                         keep_bias=keep_bias, dtype=torch.float64)
    else:
        check_type(cell, "cell", _CELLS[kind], f"our {kind.upper()} cell")
    H, E, dtype = cell.hidden_size, cell.input_size, cell.weight_hh.dtype
    if inputs is None:
        inputs = torch.randn(batch_size, seq_len, E, generator=gen, dtype=torch.float64).to(dtype)
    else:
        check_finite(check_tensor(inputs, "inputs", shape=(None, seq_len, E)), "inputs")
    if readout is None:
        readout = torch.randn(H, generator=gen, dtype=torch.float64).to(dtype)
    else:
        check_finite(check_tensor(readout, "readout", shape=(H,)), "readout")
    check_alike({"cell.weight_hh": cell.weight_hh, "inputs": inputs, "readout": readout})
    B = inputs.size(0)
    h = inputs.new_zeros(B, H)
    c = inputs.new_zeros(B, H)
    states = []
    for t in range(seq_len):
        if kind == "lstm":
            h, c = cell(inputs[:, t], (h, c))
        else:
            h = cell(inputs[:, t], h)
        states.append(h)
    loss = (h @ readout).sum()
    grads = torch.autograd.grad(loss, states)  # T x (B, H)
    return [float(g.norm(dim=1).mean()) for g in grads]


def grad_norm_grid(
    seq_lens: Iterable[int],
    weight_scales: Iterable[float],
    *,
    kinds: Iterable[str] = CELL_KINDS,
    keep_biases: Iterable[float] | None = None,
    progress: bool = True,
    **kwargs,
) -> dict[tuple, dict[str, list[float]]]:
    """:func:`hidden_grad_norms` for every combination, shaped for ``views.line_grid``.

    Args:
        seq_lens: the sequence lengths T to try.
        weight_scales: the spectral radii to try.
        kinds: which cells (one line each).
        keep_biases: if given, a third control: the GRU/LSTM keep-gate bias.
        progress: show a tqdm bar.
        **kwargs: passed to :func:`hidden_grad_norms` (hidden_size, seed, ...).
    Returns:
        ``{(T, scale[, bias]): {"RNN": [...], "GRU": [...], "LSTM": [...]}}``, each list of
        length T.
    """
    seq_lens, weight_scales = list(seq_lens), list(weight_scales)
    kinds = [check_choice(k, "kinds", CELL_KINDS) for k in kinds]
    biases = [None] if keep_biases is None else list(keep_biases)
    combos = [(T, s, b) for T in seq_lens for s in weight_scales for b in biases]
    grid = {}
    for T, s, b in tqdm(combos, desc="gradient norms", disable=not progress):
        key = (T, s) if keep_biases is None else (T, s, b)
        grid[key] = {k.upper(): hidden_grad_norms(k, T, weight_scale=s, keep_bias=b, **kwargs)
                     for k in kinds}
    return grid


def rnn_jacobians(states: torch.Tensor, weight_hh: torch.Tensor) -> torch.Tensor:
    """The vanilla RNN's step Jacobians ``dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh``.

    Args:
        states: (B, T, H) hidden states h_1..h_T of a tanh RNN.
        weight_hh: (H, H) recurrent weights.
    Returns:
        (B, T, H, H): entry [b, t] is the Jacobian of h_{t+1} (1-based) w.r.t. h_t.
    """
    H = check_tensor(states, "states", ndim=3).size(2)
    check_tensor(weight_hh, "weight_hh", shape=(H, H))
    return (1.0 - states**2).unsqueeze(-1) * weight_hh  # (B, T, H, 1) * (H, H) -> (B, T, H, H)


# --------------------------------------------------------------------------------------
# The long-term recall task.
# --------------------------------------------------------------------------------------
def recall_batch(
    batch_size: int,
    seq_len: int,
    *,
    num_symbols: int = 8,
    num_distractors: int = 8,
    position: str = "first",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences with one symbol among distractors; the answer is that symbol.

    Token ids ``0 .. num_symbols - 1`` are the symbols to remember, ``num_symbols ..
    num_symbols + num_distractors - 1`` the distractors. Each sequence holds one random
    symbol and ``seq_len - 1`` random distractors; the target is the symbol. With
    ``position="first"`` the symbol comes first, T - 1 steps before the answer is due;
    with ``position="random"`` it sits at a random step, so a model must notice *when* to
    store it. A model that forgets scores 1 / num_symbols.

    Args:
        batch_size: B. seq_len: T (>= 1).
        num_symbols: classes to recall. num_distractors: distractor vocabulary size.
        position: "first" or "random".
        generator: a ``torch.Generator`` for reproducible batches.
    Returns:
        ``(tokens, targets)``: tokens (B, T) long, targets (B,) long.
    """
    batch_size = check_int(batch_size, "batch_size")
    seq_len = check_int(seq_len, "seq_len")
    num_symbols = check_int(num_symbols, "num_symbols")
    num_distractors = check_int(num_distractors, "num_distractors")
    check_choice(position, "position", ("first", "random"))
    if generator is not None:
        check_type(generator, "generator", torch.Generator, "a torch.Generator or None")
    targets = torch.randint(num_symbols, (batch_size,), generator=generator)
    tokens = torch.randint(num_symbols, num_symbols + num_distractors,
                           (batch_size, seq_len), generator=generator)  # (B, T) distractors
    if position == "first":
        where = torch.zeros(batch_size, dtype=torch.long)
    else:
        where = torch.randint(seq_len, (batch_size,), generator=generator)
    tokens[torch.arange(batch_size), where] = targets
    return tokens, targets


class RecallModel(nn.Module):
    """Embedding -> one of our recurrent layers -> linear classifier on the last state.

    Args:
        kind: "rnn", "gru" or "lstm".
        vocab_size: V = num_symbols + num_distractors.
        num_classes: num_symbols.
        emb_dim: E. hidden_size: H.
        keep_bias: optional GRU/LSTM keep-gate bias at init.
    """

    def __init__(self, kind: str, vocab_size: int, num_classes: int, *, emb_dim: int = 16,
                 hidden_size: int = 32, keep_bias: float | None = None) -> None:
        super().__init__()
        self.kind = check_choice(kind, "kind", CELL_KINDS)
        vocab_size, num_classes = check_int(vocab_size, "vocab_size"), check_int(num_classes, "num_classes")
        emb_dim, hidden_size = check_int(emb_dim, "emb_dim"), check_int(hidden_size, "hidden_size")
        if keep_bias is not None:
            keep_bias = check_real(keep_bias, "keep_bias")
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.rnn = _LAYERS[kind](emb_dim, hidden_size)
        if keep_bias is not None and kind != "rnn":
            set_keep_gate_bias(self.rnn, keep_bias)
        self.out = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: torch.Tensor, *, return_gates: bool = False):
        """Args: tokens (B, T) long.

        Returns:
            logits (B, C); with ``return_gates`` also the layer's gate dict (each (B, T, H);
            the RNN has none, so ``{"h": states}``).
        """
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError("tokens must be a (B, T) long tensor")
        check_token_ids(tokens, "tokens", self.embedding.num_embeddings)
        emb = self.embedding(tokens)  # (B, T, E)
        if return_gates and self.kind != "rnn":
            out, _, gates = self.rnn(emb, return_gates=True)
            gates = {**gates[0], "h": out}
        else:
            out, _ = self.rnn(emb)
            gates = {"h": out}
        logits = self.out(out[:, -1])  # (B, C)
        return (logits, gates) if return_gates else logits


@dataclass
class RecallRun:
    """The result of :func:`train_recall`.

    Attributes:
        model: the trained :class:`RecallModel`.
        losses: training loss per step.
        grad_norms: total gradient norm per step (before clipping).
        accuracy: accuracy on held-out sequences after training.
        solved_at: the step (1-based) where training stopped early because the task was
            learnt (see ``stop_loss`` of :func:`train_recall`), or ``None``.
    """

    model: RecallModel
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    accuracy: float = float("nan")
    solved_at: int | None = None


@torch.no_grad()
def recall_accuracy(model: RecallModel, seq_len: int, *, num_examples: int = 1000,
                    position: str = "first", seed: int = 12345) -> float:
    """Accuracy of ``model`` on ``num_examples`` fresh recall sequences of length ``seq_len``.

    The numbers of symbols and distractors are read off the model (classes, vocabulary);
    ``seed`` fixes the held-out sequences (different from :func:`train_recall`'s stream).
    """
    check_type(model, "model", RecallModel, "a RecallModel")
    num_examples = check_int(num_examples, "num_examples")
    seed = check_int(seed, "seed", minimum=None)
    K = model.out.out_features
    D = model.embedding.num_embeddings - K
    if D < 1:
        raise ValueError(f"model has a vocabulary of {K + D} for {K} classes: the recall task needs "
                         "vocab_size = num_symbols + num_distractors with at least one distractor")
    gen = torch.Generator().manual_seed(seed)
    tokens, targets = recall_batch(num_examples, seq_len, num_symbols=K, num_distractors=D,
                                   position=position, generator=gen)
    was_training = model.training
    model.eval()
    pred = model(tokens).argmax(dim=-1)
    model.train(was_training)
    return float((pred == targets).float().mean())


def train_recall(
    kind: str,
    seq_len: int,
    *,
    steps: int = 300,
    lr: float = 1e-2,
    batch_size: int = 64,
    hidden_size: int = 32,
    emb_dim: int = 16,
    num_symbols: int = 8,
    num_distractors: int = 8,
    position: str = "first",
    optimizer: str = "adam",
    clip: float | None = None,
    keep_bias: float | None = None,
    weight_scale: float | None = None,
    seed: int = 0,
    stop_loss: float | None = None,
    eval_examples: int = 1000,
    progress: bool = True,
) -> RecallRun:
    """Train a :class:`RecallModel` on fresh recall batches with a fixed budget.

    Every call with the same arguments gives the same run (weights and batches are seeded
    by ``seed``), so the cells can be compared at equal steps, hidden size and learning rate.

    Args:
        kind: "rnn", "gru" or "lstm".
        seq_len: T, the distance to the symbol to recall.
        steps: optimiser steps (one fresh batch each).
        lr: learning rate. optimizer: "adam" or "sgd".
        batch_size, hidden_size, emb_dim: B, H, E.
        num_symbols, num_distractors, position: see :func:`recall_batch`.
        clip: if given, :func:`clip_grad_norm` to this max norm before each step.
        keep_bias: optional GRU/LSTM keep-gate bias at init.
        weight_scale: optional spectral radius for every recurrent weight block at init.
        seed: seeds init and data.
        stop_loss: if given, stop early once the mean training loss of the last 10 steps
            is below it (the task is learnt; later steps would change little). ``steps``
            stays the budget: runs that do not get there use all of it.
        eval_examples: held-out sequences for the final accuracy.
        progress: show a tqdm bar.
    Returns:
        A :class:`RecallRun`.
    """
    check_choice(kind, "kind", CELL_KINDS)
    steps = check_int(steps, "steps")
    lr = check_real(lr, "lr", above=0, maximum=torch.finfo(torch.float32).max)  # float32 parameters
    seed = check_int(seed, "seed", minimum=None)
    eval_examples = check_int(eval_examples, "eval_examples")
    clip = None if clip is None else check_real(clip, "clip", above=0)
    stop_loss = None if stop_loss is None else check_real(stop_loss, "stop_loss", above=0)
    weight_scale = None if weight_scale is None else check_real(weight_scale, "weight_scale", above=0)
    check_choice(optimizer, "optimizer", ("adam", "sgd"))
    check_choice(position, "position", ("first", "random"))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = RecallModel(kind, num_symbols + num_distractors, num_symbols, emb_dim=emb_dim,
                        hidden_size=hidden_size, keep_bias=keep_bias)
    if weight_scale is not None:
        with torch.no_grad():
            w = model.rnn.weight_hh_l0
            w.copy_(scale_spectral_radius(w, weight_scale))
    params = list(model.parameters())
    opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr))
    run = RecallRun(model=model)
    bar = tqdm(range(steps), desc=f"{kind} T={seq_len}", disable=not progress)
    for _ in bar:
        tokens, targets = recall_batch(batch_size, seq_len, num_symbols=num_symbols,
                                       num_distractors=num_distractors, position=position,
                                       generator=gen)
        loss = nn.functional.cross_entropy(model(tokens), targets)
        opt.zero_grad()
        loss.backward()
        norm = clip_grad_norm(params, clip) if clip is not None else grad_norm(params)
        run.losses.append(float(loss.detach()))
        run.grad_norms.append(float(norm))
        opt.step()
        if stop_loss is not None and len(run.losses) >= 10 and sum(run.losses[-10:]) / 10 < stop_loss:
            run.solved_at = len(run.losses)
            break
    bar.close()
    run.accuracy = recall_accuracy(model, seq_len, num_examples=eval_examples, position=position)
    return run


# --------------------------------------------------------------------------------------
# Gradient norm and clipping.
# --------------------------------------------------------------------------------------
def _grads(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"parameters must be a tensor or an iterable of tensors, "
                        f"got {type(parameters).__name__}") from None
    for i, p in enumerate(params):
        check_type(p, f"parameters[{i}]", torch.Tensor, "a tensor")
    return [p.grad for p in params if p.grad is not None]


def _total_norm(grads: list[torch.Tensor], norm_type: float) -> torch.Tensor:
    if not grads:
        return torch.tensor(0.0)
    if norm_type == math.inf:
        return torch.stack([g.detach().abs().max() for g in grads]).max()
    per_tensor = torch.stack([torch.linalg.vector_norm(g.detach(), norm_type) for g in grads])
    return torch.linalg.vector_norm(per_tensor, norm_type)


def grad_norm(parameters, norm_type: float = 2.0) -> torch.Tensor:
    """The norm of all gradients together, as if concatenated into one vector (no change)."""
    grads = _grads(parameters)
    return _total_norm(grads, check_real(norm_type, "norm_type", above=0, finite=False))


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> torch.Tensor:
    """Clip gradients by their total norm: keep the direction, cut the size (Pascanu et al. 2013).

    With ``n = ||(g_1, ..., g_k)||`` the norm of all gradients together, every gradient is
    multiplied in place by ``min(1, max_norm / (n + 1e-6))``; the same as
    ``torch.nn.utils.clip_grad_norm_``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` to clip.
        max_norm: the largest allowed total norm, > 0.
        norm_type: the p of the p-norm (``math.inf`` for the max-norm).
        error_if_nonfinite: raise ``RuntimeError`` if the total norm is nan or inf.
    Returns:
        The total norm before clipping (a 0-d tensor).
    """
    grads = _grads(parameters)
    max_norm = check_real(max_norm, "max_norm", above=0, finite=False)
    norm_type = check_real(norm_type, "norm_type", above=0, finite=False)
    check_bool(error_if_nonfinite, "error_if_nonfinite")
    total = _total_norm(grads, norm_type)
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite")
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.detach().mul_(coef.to(g.device, g.dtype))
    return total
