"""Encoder-decoder models (Chapters "Sequence to sequence" and "Attention").

One :class:`Seq2Seq` class covers the three model families of the book:

* ``attention=None`` -- the context-vector model of Sutskever, Vinyals & Le (2014,
  "Sequence to Sequence Learning with Neural Networks") and Cho et al. (2014): the encoder
  RNN reads the Korean sentence, its final hidden state is the *context vector* (문맥 벡터),
  and the decoder RNN starts from it and writes the English sentence. The whole source has
  to squeeze through that one vector.
* ``attention="bahdanau"`` -- Bahdanau, Cho & Bengio (2015, "Neural Machine Translation by
  Jointly Learning to Align and Translate"): before each step the *previous* decoder state
  ``s_{t-1}`` looks at every encoder state (additive score), and the context ``c_t`` is fed
  *into* the RNN together with the embedding of ``y_{t-1}``.
* ``attention="dot" | "general" | "concat"`` -- Luong, Pham & Manning (2015, "Effective
  Approaches to Attention-based Neural Machine Translation"): the RNN steps first, then
  the *current* decoder output ``h_t`` is the query; ``h~_t = tanh(W_c [c_t; h_t])`` (the
  attentional hidden state) gives the logits. With ``input_feeding=True`` ``h~_{t-1}`` is
  concatenated to the next RNN input.

Which decoder state asks the question (the attention *query*) is the difference between
the two attention families and a classic source of wrong tutorials:

=============  ===================================  ================================
model          query                                context goes to
=============  ===================================  ================================
Bahdanau       ``s_{t-1}`` (state *before* step t)  RNN input of step t and output
Luong          ``h_t`` (RNN output *of* step t)     ``h~_t = tanh(W_c [c_t; h_t])``
=============  ===================================  ================================

The interface that :mod:`s2s_lib.decode` relies on (DESIGN.md)::

    memory = model.encode(src, src_lengths)               # Memory: enc_out, src_mask, ...
    step = model.decode_step(prev_tokens, state, memory)  # DecoderStep(logits, state, weights)
    logits = model(src, src_lengths, tgt_in, teacher_forcing_ratio=1.0)   # (B, T, V)

Speed: the forward pass never loops over time in Python when it does not have to. With
full teacher forcing the context-vector decoder and the Luong decoder without input
feeding run their RNN over the whole target in one call, and Luong attention is computed
for all T steps in one batched product; every loop (Bahdanau, input feeding) still projects
to the vocabulary once, after the loop. ``tests/test_models.py`` checks that these fast
paths give the same logits as stepping with :meth:`Seq2Seq.decode_step`.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s2s_lib.attention import Attention
from s2s_lib.checks import check_int
from s2s_lib.tokenize import PAD_ID

__all__ = [
    "CELLS",
    "ATTENTIONS",
    "LUONG_SCORES",
    "DecoderState",
    "Memory",
    "DecoderStep",
    "Encoder",
    "Decoder",
    "ContextDecoder",
    "BahdanauDecoder",
    "LuongDecoder",
    "Seq2Seq",
    "count_parameters",
]

CELLS = ("gru", "lstm")
LUONG_SCORES = ("dot", "general", "concat")
ATTENTIONS = (None, "bahdanau") + LUONG_SCORES


# --------------------------------------------------------------------------- containers


class DecoderState(NamedTuple):
    """What the decoder carries from one step to the next.

    Attributes:
        hidden: (L, B, H) hidden state of every decoder layer (``s`` in Bahdanau, ``h`` in Luong).
        cell: (L, B, H) LSTM memory cell, ``None`` for a GRU.
        feed: (B, H) attentional vector ``h~_{t-1}`` for Luong input feeding, else ``None``.
    """

    hidden: torch.Tensor
    cell: torch.Tensor | None = None
    feed: torch.Tensor | None = None

    def index_select(self, index: torch.Tensor) -> "DecoderState":
        """Keep / reorder / repeat sentences: row ``i`` of the result is row ``index[i]``.

        Used to drop finished sentences in greedy decoding and to follow beams.

        Args:
            index: (B',) LongTensor of batch positions.
        """
        return DecoderState(
            hidden=self.hidden.index_select(1, index),
            cell=None if self.cell is None else self.cell.index_select(1, index),
            feed=None if self.feed is None else self.feed.index_select(0, index),
        )


class Memory(NamedTuple):
    """Everything the decoder needs from the encoder, computed once per sentence.

    Attributes:
        enc_out: (B, S, He) encoder output at every source position (He = H, or 2H for a
            bidirectional encoder); zeros at padding.
        src_mask: (B, S) bool, True on real source tokens.
        init_state: the decoder's state before its first step.
        proj_keys: the key part of the attention score, ``Attention.project_keys(enc_out)``
            (e.g. ``W_k h_s`` for additive attention), or ``None`` without attention.
    """

    enc_out: torch.Tensor
    src_mask: torch.Tensor
    init_state: DecoderState
    proj_keys: torch.Tensor | None = None

    def index_select(self, index: torch.Tensor) -> "Memory":
        """Row ``i`` of the result is sentence ``index[i]`` (e.g. repeat each sentence K times).

        Args:
            index: (B',) LongTensor of batch positions.
        """
        proj = self.proj_keys
        if isinstance(proj, torch.Tensor):
            proj = proj.index_select(0, index)
        return Memory(
            enc_out=self.enc_out.index_select(0, index),
            src_mask=self.src_mask.index_select(0, index),
            init_state=self.init_state.index_select(index),
            proj_keys=proj,
        )

    @property
    def batch_size(self) -> int:
        """B, the number of sentences."""
        return int(self.enc_out.size(0))


class DecoderStep(NamedTuple):
    """Result of one decoder step.

    Attributes:
        logits: (B, V) unnormalised scores of the next word.
        state: the new :class:`DecoderState`.
        weights: (B, S) attention weights of this step (rows sum to 1, 0 on padding), or
            ``None`` for the context-vector model.
    """

    logits: torch.Tensor
    state: DecoderState
    weights: torch.Tensor | None


# --------------------------------------------------------------------------- helpers


def _make_rnn(cell: str, input_dim: int, hidden_dim: int, num_layers: int, dropout: float,
              bidirectional: bool = False) -> nn.RNNBase:
    """``nn.GRU`` or ``nn.LSTM``, batch-first; dropout between layers only if there are >1."""
    rnn_class = nn.GRU if cell == "gru" else nn.LSTM
    return rnn_class(
        input_dim, hidden_dim, num_layers=num_layers, batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
    )


def _hx(state: DecoderState):
    """The ``hx`` argument of nn.GRU (a tensor) or nn.LSTM (a pair) for ``state``."""
    return state.hidden if state.cell is None else (state.hidden, state.cell)


def _state(hx, feed: torch.Tensor | None = None) -> DecoderState:
    """Wrap the ``hx`` an nn.GRU/nn.LSTM returned into a :class:`DecoderState`."""
    if isinstance(hx, tuple):
        return DecoderState(hidden=hx[0], cell=hx[1], feed=feed)
    return DecoderState(hidden=hx, cell=None, feed=feed)


def _attend(attention: Attention, query: torch.Tensor, memory: "Memory"):
    """One attention step: query (B, Hq) -> context (B, He), weights (B, S).

    The same computation as ``attention(query, memory.enc_out, mask=memory.src_mask,
    projected_keys=memory.proj_keys)``: the module's own score function, a softmax with
    padding set to -inf, and the weighted sum of the encoder outputs. ``Attention.forward``
    re-validates every shape and the mask at every call; here the shapes are fixed per
    sentence and were checked once in :meth:`Seq2Seq.encode` (every sentence has >= 1 real
    token), so the decoder loop skips those checks.
    """
    scores = attention.compute_scores(query, memory.enc_out, memory.proj_keys)  # (B, S)
    weights = torch.softmax(scores.masked_fill(~memory.src_mask, float("-inf")), dim=-1)  # (B, S)
    context = torch.bmm(weights.unsqueeze(1), memory.enc_out).squeeze(1)  # (B, 1, S) @ (B, S, He)
    return context, weights


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_token_ids(x, name: str, vocab_size: int) -> None:
    """A 2-D LongTensor of ids in [0, vocab_size)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.LongTensor, got {type(x).__name__}")
    if x.dtype != torch.long:
        raise TypeError(f"{name} must be a LongTensor (torch.long), got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (B, L), got shape {tuple(x.shape)}")
    if x.size(0) == 0 or x.size(1) == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    low, high = int(x.min()), int(x.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(
            f"{name} holds ids outside [0, {vocab_size}) (min {low}, max {high}); "
            "was it encoded with the other language's vocabulary?"
        )


def _check_lengths(lengths, name: str, batch_size: int, max_len: int) -> None:
    """A 1-D integer tensor of B lengths, each in [1, max_len]."""
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"{name} must be a 1-D integer tensor, got {type(lengths).__name__}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or lengths.size(0) != batch_size:
        raise ValueError(
            f"{name} must have shape ({batch_size},) to match the batch, got {tuple(lengths.shape)}"
        )
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1:
        raise ValueError(f"{name} must be >= 1 (no empty source sentences), got {low}")
    if high > max_len:
        raise ValueError(f"{name} must be <= the padded length {max_len}, got {high}")


def _check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real):
        raise TypeError(f"teacher_forcing_ratio must be a float in [0, 1], got {type(ratio).__name__}")
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0:  # also rejects nan
        raise ValueError(f"teacher_forcing_ratio must be in [0, 1], got {ratio}")
    return ratio


# --------------------------------------------------------------------------- encoder


class Encoder(nn.Module):
    """Embedding -> (bi)directional GRU/LSTM over the packed source.

    Packing (``pack_padded_sequence``) makes the RNN stop at each sentence's real length, so
    the final state -- the context vector -- never sees padding, and ``enc_out`` is zero
    at padded positions.

    Args:
        vocab_size: source vocabulary size.
        emb_dim: E. hidden_dim: H. cell: "gru" or "lstm". num_layers: L.
        dropout: on the embeddings and between layers.
        bidirectional: also run a right-to-left RNN; ``enc_out`` is then (B, S, 2H).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, cell: str = "gru",
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = _make_rnn(cell, emb_dim, hidden_dim, num_layers, dropout, bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.output_dim = hidden_dim * self.num_directions

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """Encode a padded batch.

        Args:
            src: (B, S) source ids. src_lengths: (B,) real lengths.
        Returns:
            ``(enc_out, final)``: enc_out (B, S, D*H); final is the last hidden state
            (L*D, B, H), or for an LSTM the pair (h, c), as ``nn.GRU``/``nn.LSTM`` return it.
        """
        emb = self.dropout(self.embedding(src))  # (B, S, E)
        packed = pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, final = self.rnn(packed)
        enc_out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))
        return enc_out, final  # (B, S, D*H)


# --------------------------------------------------------------------------- decoders


class Decoder(nn.Module):
    """Shared parts of every decoder: target embedding, RNN, output layer.

    A decoder step is split in three so that the teacher-forced forward pass can batch
    the parts that do not depend on the previous step:

    * :meth:`embed` -- ids -> embeddings (for all T steps at once when teacher forcing);
    * :meth:`step_features` -- one RNN (+ attention) step -> the vector the output layer
      reads (``features``), the new state and the attention weights;
    * :meth:`project` -- features -> logits over the target vocabulary (all steps at once).

    :meth:`sequence_features` runs :meth:`step_features` over a whole teacher-forced
    target; subclasses override it with a loop-free version where the maths allows.
    """

    has_attention = False

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, rnn_input_dim: int,
                 feature_dim: int, cell: str, num_layers: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = _make_rnn(cell, rnn_input_dim, hidden_dim, num_layers, dropout)
        self.out = nn.Linear(feature_dim, vocab_size)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B,) or (B, T) ids -> (B, E) or (B, T, E) embeddings (with dropout)."""
        return self.dropout(self.embedding(tokens))

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """(..., F) features -> (..., V) logits."""
        return self.out(self.dropout(features))

    def step_features(self, emb: torch.Tensor, state: DecoderState, memory: Memory):
        """One step. Args: emb (B, E), state, memory.
        Returns ``(features (B, F), new_state, weights (B, S) | None)``."""
        raise NotImplementedError

    def sequence_features(self, emb: torch.Tensor, memory: Memory):
        """All T teacher-forced steps: emb (B, T, E) -> ``(features (B, T, F), weights (B, T, S) | None)``.

        This generic version loops over time; the vocabulary projection still happens once,
        outside, in :meth:`Seq2Seq.forward`.
        """
        state = memory.init_state
        features, weights = [], []
        for t in range(emb.size(1)):
            feat, state, w = self.step_features(emb[:, t], state, memory)
            features.append(feat)
            weights.append(w)
        stacked_w = None if weights[0] is None else torch.stack(weights, dim=1)  # (B, T, S)
        return torch.stack(features, dim=1), stacked_w  # (B, T, F)


class ContextDecoder(Decoder):
    """The decoder of the context-vector model: ``s_t = RNN(emb(y_{t-1}), s_{t-1})``, logits = ``W s_t``.

    It sees the source only through its initial state ``s_0`` (the encoder's final state),
    as in Sutskever et al. (2014).
    """

    def __init__(self, vocab_size, emb_dim, hidden_dim, cell, num_layers, dropout):
        super().__init__(vocab_size, emb_dim, hidden_dim, emb_dim, hidden_dim, cell, num_layers, dropout)

    def step_features(self, emb, state, memory):
        out, hx = self.rnn(emb.unsqueeze(1), _hx(state))  # (B, 1, H)
        return out[:, 0], _state(hx), None

    def sequence_features(self, emb, memory):
        # Each input is known in advance, so one RNN call covers all T steps.
        out, _ = self.rnn(emb, _hx(memory.init_state))  # (B, T, H)
        return out, None


class BahdanauDecoder(Decoder):
    """Bahdanau et al. (2015) decoder: attend with the *previous* state, then step the RNN.

    For step t (``s_{t-1}`` = top layer of the incoming state)::

        c_t, a_t = Attention_additive(query = s_{t-1}, keys = enc_out)
        s_t      = RNN([emb(y_{t-1}); c_t], s_{t-1})
        o_t      = tanh(W_o [s_t; c_t; emb(y_{t-1})])     # "deep output", H units
        logits   = W_out o_t

    The output layer sees the new state, the context and the previous word, as in the
    paper (which used a maxout layer where we use tanh).
    """

    has_attention = True

    def __init__(self, vocab_size, emb_dim, hidden_dim, enc_dim, cell, num_layers, dropout,
                 attn_dim=None):
        super().__init__(vocab_size, emb_dim, hidden_dim, emb_dim + enc_dim, hidden_dim, cell,
                         num_layers, dropout)
        self.attention = Attention("additive", query_dim=hidden_dim, key_dim=enc_dim,
                                   attn_dim=attn_dim or hidden_dim)
        self.pre_output = nn.Linear(hidden_dim + enc_dim + emb_dim, hidden_dim)

    def step_features(self, emb, state, memory):
        query = state.hidden[-1]  # (B, H): s_{t-1}, the state BEFORE this step
        context, weights = _attend(self.attention, query, memory)  # (B, He), (B, S)
        rnn_in = torch.cat([emb, context], dim=-1).unsqueeze(1)  # (B, 1, E + He)
        out, hx = self.rnn(rnn_in, _hx(state))
        s_t = out[:, 0]  # (B, H)
        features = torch.tanh(self.pre_output(torch.cat([s_t, context, emb], dim=-1)))  # (B, H)
        return features, _state(hx), weights


class LuongDecoder(Decoder):
    """Luong et al. (2015) decoder: step the RNN, then attend with the *current* output.

    For step t::

        h_t      = RNN(emb(y_{t-1})  [; h~_{t-1} if input feeding], h_{t-1})
        c_t, a_t = Attention_score(query = h_t, keys = enc_out)    # score: dot/general/concat
        h~_t     = tanh(W_c [c_t; h_t])                            # attentional hidden state
        logits   = W_s h~_t

    Without input feeding nothing in the RNN depends on attention, so with teacher forcing
    the RNN runs over all T steps in one call and attention is computed for all steps at
    once: a (B, T, S) score matrix.
    """

    has_attention = True

    def __init__(self, vocab_size, emb_dim, hidden_dim, enc_dim, score, cell, num_layers,
                 dropout, input_feeding=False, attn_dim=None):
        rnn_input = emb_dim + (hidden_dim if input_feeding else 0)
        super().__init__(vocab_size, emb_dim, hidden_dim, rnn_input, hidden_dim, cell,
                         num_layers, dropout)
        self.input_feeding = input_feeding
        self.attention = Attention(score, query_dim=hidden_dim, key_dim=enc_dim, attn_dim=attn_dim)
        self.combine = nn.Linear(enc_dim + hidden_dim, hidden_dim, bias=False)  # W_c

    def step_features(self, emb, state, memory):
        rnn_in = torch.cat([emb, state.feed], dim=-1) if self.input_feeding else emb  # (B, E [+ H])
        out, hx = self.rnn(rnn_in.unsqueeze(1), _hx(state))
        h_t = out[:, 0]  # (B, H): the CURRENT output is the query
        context, weights = _attend(self.attention, h_t, memory)  # (B, He), (B, S)
        h_tilde = torch.tanh(self.combine(torch.cat([context, h_t], dim=-1)))  # (B, H)
        return h_tilde, _state(hx, feed=h_tilde if self.input_feeding else None), weights

    def sequence_features(self, emb, memory):
        if self.input_feeding:  # h~_{t-1} feeds step t: a loop is unavoidable
            return super().sequence_features(emb, memory)
        out, _ = self.rnn(emb, _hx(memory.init_state))  # (B, T, H): every h_t at once
        scores = self._all_scores(out, memory)  # (B, T, S)
        weights = torch.softmax(scores.masked_fill(~memory.src_mask.unsqueeze(1), float("-inf")),
                                dim=-1)  # (B, T, S), 0 on padding
        context = torch.bmm(weights, memory.enc_out)  # (B, T, S) @ (B, S, He) -> (B, T, He)
        h_tilde = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))  # (B, T, H)
        return h_tilde, weights

    def _all_scores(self, queries: torch.Tensor, memory: Memory) -> torch.Tensor:
        """Luong scores of T queries at once: (B, T, H) -> (B, T, S).

        The same numbers as ``Attention.compute_scores`` applied to each step's query, written
        with one batched product instead of T small ones.
        """
        attn, keys = self.attention, memory.proj_keys  # dot: enc_out; general: W_a h_s; concat: key block
        if attn.score in ("dot", "general"):
            return torch.bmm(queries, keys.transpose(1, 2))  # (B, T, H) @ (B, H, S) -> (B, T, S)
        w_q = attn.W_a.weight[:, : attn.query_dim]  # (A, Hq): the query block of W_a
        hidden = (queries @ w_q.T).unsqueeze(2) + keys.unsqueeze(1)  # (B, T, 1, A) + (B, 1, S, A)
        return attn.v_a(torch.tanh(hidden)).squeeze(3)  # (B, T, S, 1) -> (B, T, S)


# --------------------------------------------------------------------------- the model


class Seq2Seq(nn.Module):
    """Encoder-decoder translation model (Korean -> English), with or without attention.

    Args:
        src_vocab_size: source (Korean) vocabulary size, >= 4 (the special ids).
        tgt_vocab_size: target (English) vocabulary size, >= 4.
        emb_dim: E, word embedding size (source and target).
        hidden_dim: H, RNN state size (encoder and decoder).
        cell: ``"gru"`` or ``"lstm"``.
        attention: ``None`` (context vector), ``"bahdanau"`` (additive, query ``s_{t-1}``), or
            a Luong score ``"dot" | "general" | "concat"`` (query ``h_t``).
        num_layers: L, stacked RNN layers in encoder and decoder.
        dropout: probability on embeddings, between RNN layers and before the output
            layer (off in ``model.eval()``).
        input_feeding: Luong input feeding (only with a Luong score).
        bidirectional: bidirectional encoder. The decoder's initial state is then
            ``tanh(W_b [h_fwd_S; h_bwd_1])`` per layer (the last forward and the first
            backward state; for an LSTM the memory cell gets its own ``W_b``).
            Unidirectional: the decoder starts from the encoder's final state as is.
        attn_dim: hidden size of the additive/concat score (default H).

    The arguments are kept in ``model.config`` (a plain dict) so a checkpoint can rebuild
    the model: ``Seq2Seq(**model.config)``.

    After each :meth:`forward`, ``model.teacher_forcing_coins`` holds the (B, T) bool coins
    of that call: True where the decoder was fed the reference token (column 0 is always
    the ``<sos>``), False where it was fed its own previous prediction.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, emb_dim: int = 128,
                 hidden_dim: int = 256, cell: str = "gru", attention: str | None = None,
                 num_layers: int = 1, dropout: float = 0.0, input_feeding: bool = False,
                 bidirectional: bool = False, attn_dim: int | None = None):
        super().__init__()
        check_int(src_vocab_size, "src_vocab_size", 4)
        check_int(tgt_vocab_size, "tgt_vocab_size", 4)
        check_int(emb_dim, "emb_dim")
        check_int(hidden_dim, "hidden_dim")
        check_int(num_layers, "num_layers")
        if attn_dim is not None:
            check_int(attn_dim, "attn_dim")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        for name, flag in (("input_feeding", input_feeding), ("bidirectional", bidirectional)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        if input_feeding and attention not in LUONG_SCORES:
            raise ValueError(f"input_feeding needs a Luong attention {LUONG_SCORES}, got attention={attention!r}")
        if attention == "dot" and bidirectional:
            raise ValueError("attention='dot' needs equal query and key sizes; it does not work "
                             "with bidirectional=True (use 'general' or 'concat')")
        self.config = dict(
            src_vocab_size=int(src_vocab_size), tgt_vocab_size=int(tgt_vocab_size),
            emb_dim=int(emb_dim), hidden_dim=int(hidden_dim), cell=cell, attention=attention,
            num_layers=int(num_layers), dropout=float(dropout), input_feeding=input_feeding,
            bidirectional=bidirectional, attn_dim=None if attn_dim is None else int(attn_dim),
        )
        self.src_vocab_size, self.tgt_vocab_size = int(src_vocab_size), int(tgt_vocab_size)
        self.cell, self.attention_type = cell, attention

        self.encoder = Encoder(src_vocab_size, emb_dim, hidden_dim, cell, num_layers, dropout,
                               bidirectional)
        enc_dim = self.encoder.output_dim
        if attention is None:
            self.decoder = ContextDecoder(tgt_vocab_size, emb_dim, hidden_dim, cell, num_layers, dropout)
        elif attention == "bahdanau":
            self.decoder = BahdanauDecoder(tgt_vocab_size, emb_dim, hidden_dim, enc_dim, cell,
                                           num_layers, dropout, attn_dim)
        else:
            self.decoder = LuongDecoder(tgt_vocab_size, emb_dim, hidden_dim, enc_dim, attention,
                                        cell, num_layers, dropout, input_feeding, attn_dim)
        if bidirectional:
            self.bridge = nn.Linear(2 * hidden_dim, hidden_dim)
            self.bridge_cell = nn.Linear(2 * hidden_dim, hidden_dim) if cell == "lstm" else None
        self.teacher_forcing_coins: torch.Tensor | None = None

    @property
    def has_attention(self) -> bool:
        """True if :meth:`decode_step` returns attention weights."""
        return self.decoder.has_attention

    # ------------------------------------------------------------------ encode

    def _bridge(self, final: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        """(L*2, B, H) final states of a bidirectional encoder -> (L, B, H) decoder start."""
        L = self.config["num_layers"]
        _, B, H = final.shape
        both = final.view(L, 2, B, H).permute(0, 2, 1, 3).reshape(L, B, 2 * H)  # [fwd; bwd] per layer
        return torch.tanh(layer(both))  # (L, B, H)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Memory:
        """Run the encoder once and precompute what every decoder step reuses.

        Args:
            src: (B, S) LongTensor of source ids padded with ``PAD_ID``.
            src_lengths: (B,) integer tensor of real lengths, each in [1, S].
        Returns:
            :class:`Memory` with enc_out (B, S, He), src_mask (B, S), the initial decoder
            state and the projected attention keys.
        """
        _check_token_ids(src, "src", self.src_vocab_size)
        _check_lengths(src_lengths, "src_lengths", src.size(0), src.size(1))
        return self._encode(src, src_lengths)

    def _encode(self, src, src_lengths) -> Memory:
        enc_out, final = self.encoder(src, src_lengths)  # (B, S, He)
        hidden, cell = final if isinstance(final, tuple) else (final, None)
        if self.config["bidirectional"]:
            hidden = self._bridge(hidden, self.bridge)
            if cell is not None:
                cell = self._bridge(cell, self.bridge_cell)
        positions = torch.arange(src.size(1), device=src.device)  # (S,)
        src_mask = positions.unsqueeze(0) < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        feed = None
        if getattr(self.decoder, "input_feeding", False):
            feed = enc_out.new_zeros(src.size(0), self.config["hidden_dim"])  # h~_0 = 0
        proj_keys = None
        if self.decoder.has_attention:
            proj_keys = self.decoder.attention.project_keys(enc_out)
        return Memory(enc_out, src_mask, DecoderState(hidden, cell, feed), proj_keys)

    # ------------------------------------------------------------------ decode

    def decode_step(self, prev_tokens: torch.Tensor, state: DecoderState, memory: Memory) -> DecoderStep:
        """One decoder step for every sentence of the batch.

        Args:
            prev_tokens: (B,) LongTensor, the previous output word ``y_{t-1}`` (``<sos>`` at t=1).
            state: the decoder state after step t-1 (``memory.init_state`` at the start).
            memory: what :meth:`encode` returned (same B).
        Returns:
            :class:`DecoderStep` with logits (B, V), the new state and the attention
            weights (B, S) (``None`` without attention).
        """
        if not isinstance(prev_tokens, torch.Tensor) or prev_tokens.dtype != torch.long:
            raise TypeError("prev_tokens must be a 1-D LongTensor (torch.long) of token ids")
        if prev_tokens.dim() != 1 or prev_tokens.size(0) != memory.batch_size:
            raise ValueError(
                f"prev_tokens must have shape ({memory.batch_size},), got {tuple(prev_tokens.shape)}"
            )
        emb = self.decoder.embed(prev_tokens)  # (B, E)
        features, state, weights = self.decoder.step_features(emb, state, memory)
        return DecoderStep(self.decoder.project(features), state, weights)

    # ------------------------------------------------------------------ training pass

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits for every target position, with teacher forcing (교사 강요) per step.

        For each sentence and each step t >= 1 a coin with P(heads) = ``teacher_forcing_ratio``
        decides the decoder input: heads, the reference ``tgt_in[:, t]``; tails, the
        model's own previous prediction (argmax of step t-1, no gradient through it). Step 0
        always reads ``<sos>``. ``ratio == 1`` is plain teacher forcing and takes the fast
        paths; ``ratio == 0`` is free running.

        Args:
            src: (B, S) LongTensor source ids. src_lengths: (B,) real lengths in [1, S].
            tgt_in: (B, T) LongTensor decoder inputs ``<sos> y1 ... yn <pad> ...``.
            teacher_forcing_ratio: probability of feeding the reference token, in [0, 1].
            generator: ``torch.Generator`` for the coins (default: torch's global RNG).
        Returns:
            (B, T, V) logits.
        """
        _check_token_ids(src, "src", self.src_vocab_size)
        _check_lengths(src_lengths, "src_lengths", src.size(0), src.size(1))
        _check_token_ids(tgt_in, "tgt_in", self.tgt_vocab_size)
        if tgt_in.size(0) != src.size(0):
            raise ValueError(f"tgt_in has batch size {tgt_in.size(0)} but src has {src.size(0)}")
        ratio = _check_ratio(teacher_forcing_ratio)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

        memory = self._encode(src, src_lengths)
        B, T = tgt_in.shape
        if ratio == 1.0:
            self.teacher_forcing_coins = torch.ones(B, T, dtype=torch.bool, device=tgt_in.device)
            emb = self.decoder.embed(tgt_in)  # (B, T, E)
            features, _ = self.decoder.sequence_features(emb, memory)  # (B, T, F)
            return self.decoder.project(features)  # (B, T, V): one big matmul

        if ratio == 0.0:
            coins = torch.zeros(B, T, dtype=torch.bool, device=tgt_in.device)
        else:
            gen_device = generator.device if generator is not None else tgt_in.device
            coins = (torch.rand(B, T, generator=generator, device=gen_device) < ratio).to(tgt_in.device)
        coins[:, 0] = True  # <sos>: there is no previous prediction yet
        self.teacher_forcing_coins = coins
        return self._forward_free(tgt_in, memory, coins)

    def _forward_free(self, tgt_in, memory, coins) -> torch.Tensor:
        """Step-by-step pass where inputs depend on earlier predictions (coins: (B, T) bool)."""
        state = memory.init_state
        prev = tgt_in[:, 0]  # (B,) <sos>
        logits = []
        for t in range(tgt_in.size(1)):
            emb = self.decoder.embed(prev)  # (B, E)
            features, state, _ = self.decoder.step_features(emb, state, memory)
            step_logits = self.decoder.project(features)  # (B, V)
            logits.append(step_logits)
            if t + 1 < tgt_in.size(1):
                prediction = step_logits.detach().argmax(dim=-1)  # (B,)
                prev = torch.where(coins[:, t + 1], tgt_in[:, t + 1], prediction)
        return torch.stack(logits, dim=1)  # (B, T, V)
