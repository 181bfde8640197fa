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

Every decoder is *defined* by its ``step`` -- one time step, the equations of its paper.
Where nothing in the RNN depends on the previous step's output (the context-vector decoder;
Luong without input feeding), a ``run`` method right beside ``step`` computes the whole
teacher-forced target at once: one RNN call over T steps and, for Luong, the attention of
all T queries in one (B, T, S) product. Bahdanau's decoder must loop (its query is the
previous state), and its ``run`` takes out of the loop what does not depend on t. It is the
same computation, only arranged for speed; ``tests/test_models.py`` checks that it gives the
same logits (and gradients) as stepping with :meth:`Seq2Seq.decode_step`. Attention always goes through :func:`s2s_lib.attention.attend`.

The model's hyperparameters are a :class:`Seq2SeqConfig` (validated when it is made);
``Seq2Seq(config)`` builds the model, ``Seq2Seq(src_vocab_size, tgt_vocab_size, **fields)``
is short for ``Seq2Seq(Seq2SeqConfig(src_vocab_size, tgt_vocab_size, **fields))``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s2s_lib import count_parameters  # noqa: F401  (re-exported: s2s_lib.models.count_parameters)
from s2s_lib.attention import Attention, attend
from s2s_lib.checks import (check_bool, check_choice, check_int, check_lengths, check_mask, check_prob,
                            check_real, check_tensor, check_token_ids, check_type)
from s2s_lib.rnn import gru_gates, lstm_gates, tanh
from s2s_lib.tokenize import PAD_ID

__all__ = ["CELLS", "ATTENTIONS", "LUONG_SCORES", "Seq2SeqConfig", "DecoderState", "Memory",
           "DecoderStep", "Encoder", "Decoder", "ContextDecoder", "BahdanauDecoder", "LuongDecoder",
           "Seq2Seq", "count_parameters", "reverse_real_tokens"]

CELLS = ("gru", "lstm")
LUONG_SCORES = ("dot", "general", "concat")
ATTENTIONS = (None, "bahdanau") + LUONG_SCORES


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything that decides the architecture of a :class:`Seq2Seq` (validated on creation)."""

    src_vocab_size: int          # source (Korean) vocabulary size, >= 4 (the special ids)
    tgt_vocab_size: int          # target (English) vocabulary size, >= 4
    emb_dim: int = 128           # E, word embedding size (source and target)
    hidden_dim: int = 256        # H, RNN state size (encoder and decoder)
    cell: str = "gru"            # "gru" or "lstm"
    attention: str | None = None  # None (context vector), "bahdanau", or a Luong score "dot"|"general"|"concat"
    num_layers: int = 1          # L, stacked RNN layers in encoder and decoder
    dropout: float = 0.0         # on embeddings, between RNN layers and before the output layer
    input_feeding: bool = False  # Luong input feeding: h~_{t-1} joins the RNN input of step t
    bidirectional: bool = False  # bidirectional encoder (enc_out is then 2H wide)
    attn_dim: int | None = None  # hidden size of the additive/concat score (default H)
    word_dropout: float = 0.0    # training only: drop whole source and target word embeddings with this probability
    tie_embeddings: bool = False  # the output layer's weights are the target embeddings (Press & Wolf 2017)
    reverse_source: bool = False  # the encoder reads each source backwards (Sutskever et al. 2014)

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size"):
            check_int(getattr(self, name), name, 4)
        for name in ("emb_dim", "hidden_dim", "num_layers"):
            check_int(getattr(self, name), name)
        if self.attn_dim is not None:
            check_int(self.attn_dim, "attn_dim")
        check_choice(self.cell, "cell", CELLS)
        check_choice(self.attention, "attention", ATTENTIONS)
        check_real(self.dropout, "dropout", 0.0, below=1.0)
        check_real(self.word_dropout, "word_dropout", 0.0, below=1.0)
        check_bool(self.tie_embeddings, "tie_embeddings")
        check_bool(self.reverse_source, "reverse_source")
        if self.tie_embeddings and self.attention != "bahdanau" and self.emb_dim != self.hidden_dim:
            raise ValueError(f"tie_embeddings=True needs emb_dim == hidden_dim for attention={self.attention!r} "
                             f"(the output layer reads H = {self.hidden_dim} features; the target embeddings "
                             f"have E = {self.emb_dim}); Bahdanau's deep output is E wide when tied")
        check_bool(self.input_feeding, "input_feeding")
        check_bool(self.bidirectional, "bidirectional")
        if self.input_feeding and self.attention not in LUONG_SCORES:
            raise ValueError(f"input_feeding needs a Luong attention {LUONG_SCORES}, got attention={self.attention!r}")
        if self.attention == "dot" and self.bidirectional:
            raise ValueError("attention='dot' needs equal query and key sizes; it does not work "
                             "with bidirectional=True (use 'general' or 'concat')")
        for name in ("src_vocab_size", "tgt_vocab_size", "emb_dim", "hidden_dim", "num_layers", "attn_dim"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))  # numpy ints -> int
        object.__setattr__(self, "dropout", float(self.dropout))
        object.__setattr__(self, "word_dropout", float(self.word_dropout))

    @property
    def output_dim(self) -> int:
        """The width of the features the output layer reads: H, or E for a tied Bahdanau deep output."""
        return self.emb_dim if self.tie_embeddings and self.attention == "bahdanau" else self.hidden_dim

    @property
    def enc_dim(self) -> int:
        """He, the width of the encoder outputs: H, or 2H for a bidirectional encoder."""
        return self.hidden_dim * (2 if self.bidirectional else 1)

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a checkpoint stores)."""
        return dataclasses.asdict(self)


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


@dataclass(frozen=True)
class Memory:
    """Everything the decoder needs from the encoder, computed once per sentence.

    Attributes:
        enc_out: (B, S, He) encoder output at every source position (He = H, or 2H for a
            bidirectional encoder); zeros at padding.
        src_mask: (B, S) bool, True on real source tokens; every row has at least one (checked
            when a Memory is made, so attention weights are never 0/0 = nan).
        init_state: the decoder's state before its first step.
        proj_keys: the key part of the attention score, ``Attention.project_keys(enc_out)``
            (e.g. ``U_k h_s`` for additive attention), or ``None`` without attention; for the
            :class:`~s2s_lib.transformer.Transformer`, every decoder layer's cross-attention
            keys and values (B, N, 2, h, S, d_k).
    """

    enc_out: torch.Tensor
    src_mask: torch.Tensor
    init_state: DecoderState
    proj_keys: torch.Tensor | None = None

    def __post_init__(self):
        B, S = check_tensor(self.enc_out, "memory.enc_out", dtype="float", ndim=3).shape[:2]
        check_mask(self.src_mask, "memory.src_mask", shape=(B, S), every_row=True)

    def index_select(self, index: torch.Tensor) -> "Memory":
        """Row ``i`` of the result is sentence ``index[i]`` (e.g. repeat each sentence K times).

        Args:
            index: (B',) LongTensor of batch positions.
        """
        rows = object.__new__(Memory)  # rows of a checked Memory need no new check (decoding loops call this)
        for name, value in (("enc_out", self.enc_out.index_select(0, index)),
                            ("src_mask", self.src_mask.index_select(0, index)),
                            ("init_state", self.init_state.index_select(index)),
                            ("proj_keys", None if self.proj_keys is None else self.proj_keys.index_select(0, index))):
            object.__setattr__(rows, name, value)
        return rows

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


def _make_rnn(config: Seq2SeqConfig, input_dim: int, bidirectional: bool = False) -> nn.RNNBase:
    """``nn.GRU`` or ``nn.LSTM``, batch-first; dropout between layers only if there are >1."""
    rnn_class = nn.GRU if config.cell == "gru" else nn.LSTM
    return rnn_class(input_dim, config.hidden_dim, num_layers=config.num_layers, batch_first=True,
                     dropout=config.dropout if config.num_layers > 1 else 0.0,
                     bidirectional=bidirectional)


def _hx(state: DecoderState):
    """The ``hx`` argument of nn.GRU (a tensor) or nn.LSTM (a pair) for ``state``."""
    return state.hidden if state.cell is None else (state.hidden, state.cell)


def _state(hx, feed: torch.Tensor | None = None) -> DecoderState:
    """Wrap the ``hx`` an nn.GRU/nn.LSTM returned into a :class:`DecoderState`."""
    if isinstance(hx, tuple):
        return DecoderState(hidden=hx[0], cell=hx[1], feed=feed)
    return DecoderState(hidden=hx, cell=None, feed=feed)


def reverse_real_tokens(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[b]`` entries of each row of a padded batch; padding stays put.

    ``x`` is (B, S) ids or (B, S, ...) features; applying it twice gives ``x`` back.
    """
    S = x.size(1)
    t = torch.arange(S, device=x.device).unsqueeze(0)  # (1, S)
    n = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(t < n, n - 1 - t, t)  # (B, S): position read at t
    if x.dim() > 2:
        index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def _drop_words(emb: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Word dropout: zero whole embedding vectors (..., E) with probability p, scale the rest by 1/(1-p).

    Sennrich, Haddow & Birch (2016, WMT) drop entire words on both sides; Sennrich & Zhang
    (2019) find it among the most useful settings for small corpora. Draws nothing when p = 0.
    """
    if not training or p == 0.0:
        return emb
    keep = torch.empty(emb.shape[:-1] + (1,), dtype=emb.dtype, device=emb.device).bernoulli_(1.0 - p)
    return emb * keep / (1.0 - p)


def _attend_memory(attention: Attention, queries: torch.Tensor, memory: Memory):
    """Attention of T queries over the encoder outputs: (B, T, Hq) -> context (B, T, He), weights (B, T, S).

    :meth:`Seq2Seq.encode` checked the memory once (every sentence has a real token), so the
    decoder loop calls the unchecked pieces of :meth:`Attention.forward` directly.
    """
    scores = attention.compute_scores(queries, memory.enc_out, memory.proj_keys)  # (B, T, S)
    return attend(scores, memory.enc_out, memory.src_mask.unsqueeze(1))


# --------------------------------------------------------------------------- encoder


class Encoder(nn.Module):
    """Embedding -> (bi)directional GRU/LSTM over the packed source.

    Packing (``pack_padded_sequence``) makes the RNN stop at each sentence's real length, so
    the final state -- the context vector -- never sees padding, and ``enc_out`` is zero
    at padded positions. Built from a :class:`Seq2SeqConfig` (source vocabulary, E, H, cell,
    L, dropout on the embeddings and between layers, bidirectional). With ``reverse_source``
    it reads each sentence backwards, x_S, ..., x_1 (Sutskever et al. 2014), and puts
    ``enc_out`` back into the source's order, so attention weights still line up with the source.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        check_type(config, "config", Seq2SeqConfig)
        self.embedding = nn.Embedding(config.src_vocab_size, config.emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(config.dropout)
        self.word_dropout = config.word_dropout
        self.rnn = _make_rnn(config, config.emb_dim, config.bidirectional)
        self.output_dim = config.enc_dim
        # Packing is needed where a state depends on what comes after a sentence's end (the
        # backward direction) or the final state is not an output (LSTM's cell, lower layers).
        self.reads_padding_exactly = config.cell == "gru" and config.num_layers == 1 and not config.bidirectional
        self.reverse_source = config.reverse_source

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """Encode a padded batch.

        Args:
            src: (B, S) source ids. src_lengths: (B,) real lengths.
        Returns:
            ``(enc_out, final)``: enc_out (B, S, D*H); final is the last hidden state
            (L*D, B, H), or for an LSTM the pair (h, c), as ``nn.GRU``/``nn.LSTM`` return it.
        """
        if self.reverse_source:  # read x_S .. x_1; the outputs go back to the source's order below
            src = reverse_real_tokens(src, src_lengths)
        emb = self.dropout(_drop_words(self.embedding(src), self.word_dropout, self.training))  # (B, S, E)
        if self.reads_padding_exactly:
            # One GRU layer, one direction: the output at t < length only saw tokens 0..t, so
            # run over the padded batch and take each sentence's state at its last real token.
            # Same values as packing, faster to train (the CPU backward of a packed RNN zeroes
            # a buffer of the whole input at every time step).
            out, _ = self.rnn(emb)  # (B, S, H)
            last = (src_lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))  # (B, 1, H)
            final = out.gather(1, last).transpose(0, 1).contiguous()  # (1, B, H)
            real = torch.arange(src.size(1), device=src.device) < src_lengths.unsqueeze(1)  # (B, S)
            enc_out = out * real.unsqueeze(2).to(out.dtype)
        else:
            packed = pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_out, final = self.rnn(packed)
            enc_out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))
        if self.reverse_source:  # enc_out[:, j] belongs to source token j again (for attention)
            enc_out = reverse_real_tokens(enc_out, src_lengths)
        return enc_out, final  # (B, S, D*H)


# --------------------------------------------------------------------------- decoders


class Decoder(nn.Module):
    """What every decoder has: target embedding, RNN, output layer -- and a ``step``.

    * :meth:`step` -- one time step: embedded previous word, state, memory -> the vector the
      output layer reads (``features``), the new state, the attention weights. It is the
      definition of the decoder.
    * :meth:`run` -- all T teacher-forced steps: (B, T, E) -> features (B, T, F). Here a loop
      over :meth:`step`; subclasses replace it, right beside their ``step``, where the whole
      sequence can be computed at once.

    :meth:`embed` and :meth:`project` (ids -> embeddings, features -> logits, with dropout)
    are shared so that the teacher-forced pass embeds and projects all T steps at once.
    """

    has_attention = False

    def __init__(self, config: Seq2SeqConfig, rnn_input_dim: int):
        super().__init__()
        check_type(config, "config", Seq2SeqConfig)
        self.embedding = nn.Embedding(config.tgt_vocab_size, config.emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(config.dropout)
        self.word_dropout = config.word_dropout
        self.rnn = _make_rnn(config, rnn_input_dim)
        self.out = nn.Linear(config.output_dim, config.tgt_vocab_size)
        if config.tie_embeddings:  # one (V, E) matrix embeds y_{t-1} and scores y_t
            self.out.weight = self.embedding.weight

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B,) or (B, T) ids -> (B, E) or (B, T, E) embeddings (with dropout and word dropout)."""
        return self.dropout(_drop_words(self.embedding(tokens), self.word_dropout, self.training))

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """(..., H) features -> (..., V) logits."""
        return self.out(self.dropout(features))

    def step(self, emb: torch.Tensor, state: DecoderState, memory: Memory):
        """One step: emb (B, E), state, memory -> ``(features (B, H), new state, weights (B, S) | None)``."""
        raise NotImplementedError

    def run(self, emb: torch.Tensor, memory: Memory):
        """All T teacher-forced steps: emb (B, T, E) -> ``(features (B, T, H), weights (B, T, S) | None)``."""
        state, features, weights = memory.init_state, [], []
        for t in range(emb.size(1)):
            feat, state, w = self.step(emb[:, t], state, memory)
            features.append(feat)
            weights.append(w)
        stacked = None if weights[0] is None else torch.stack(weights, dim=1)  # (B, T, S)
        return torch.stack(features, dim=1), stacked  # (B, T, H)


class ContextDecoder(Decoder):
    """The decoder of the context-vector model: ``s_t = RNN(emb(y_{t-1}), s_{t-1})``, logits = ``W s_t``.

    It sees the source only through its initial state ``s_0`` (the encoder's final state),
    as in Sutskever et al. (2014).
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__(config, config.emb_dim)

    def step(self, emb, state, memory):
        out, hx = self.rnn(emb.unsqueeze(1), _hx(state))  # (B, 1, H)
        return out[:, 0], _state(hx), None

    def run(self, emb, memory):
        # Every input is known in advance, so one RNN call covers all T steps.
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
    paper (which used a maxout layer where we use tanh). The query of step t depends on
    step t-1, so the teacher-forced pass is a loop over t; :meth:`run` takes out of the loop
    what does not depend on t.
    """

    has_attention = True

    def __init__(self, config: Seq2SeqConfig):
        E, H, He = config.emb_dim, config.hidden_dim, config.enc_dim
        super().__init__(config, E + He)
        self.attention = Attention("additive", query_dim=H, key_dim=He, attn_dim=config.attn_dim)
        self.pre_output = nn.Linear(H + He + E, config.output_dim)  # deep output: H units (E when tied)

    def step(self, emb, state, memory):
        query = state.hidden[-1].unsqueeze(1)  # (B, 1, H): s_{t-1}, the state BEFORE this step
        context, weights = _attend_memory(self.attention, query, memory)  # (B, 1, He), (B, 1, S)
        context = context[:, 0]  # (B, He)
        out, hx = self.rnn(torch.cat([emb, context], dim=-1).unsqueeze(1), _hx(state))  # (B, 1, H)
        s_t = out[:, 0]  # (B, H)
        return self._deep_output(s_t, context, emb), _state(hx), weights[:, 0]

    def _deep_output(self, s, context, emb):
        """``o_t = tanh(W_o [s_t; c_t; emb(y_{t-1})])`` for one step (B, .) or all T steps (B, T, .)."""
        return tanh(self.pre_output(torch.cat([s, context, emb], dim=-1)))  # (B, [T,] H)

    def run(self, emb, memory):
        """:meth:`step` T times, with the work that does not depend on t taken out of the loop.

        The same equations, arranged for speed (``tests/test_models.py`` checks the logits
        against :meth:`step`): the embedding block of the RNN's input matmul,
        ``W_ih[:, :E] emb(y_{t-1}) + b_ih``, is one matmul for all T steps; ``s_{t-1}`` meets
        ``W_q`` (the attention query) and ``W_hh`` (the recurrent gates) in one matmul; the
        deep-output layer runs once after the loop. The loop keeps only what needs
        ``s_{t-1}``: the score, the context and the gates (:func:`~s2s_lib.rnn.gru_gates` /
        :func:`~s2s_lib.rnn.lstm_gates`, nn.GRU's and nn.LSTM's arithmetic).
        A stacked RNN (``num_layers > 1``) loops over :meth:`step`: its upper layers' input
        is the layer below, with nn.GRU's own dropout in between.
        """
        if self.rnn.num_layers > 1:
            return super().run(emb, memory)
        rnn, attention = self.rnn, self.attention
        E, A = emb.size(-1), attention.attn_dim
        lstm = isinstance(rnn, nn.LSTM)
        from_emb = F.linear(emb, rnn.weight_ih_l0[:, :E], rnn.bias_ih_l0).unbind(1)  # T x (B, G*H)
        w_context = rnn.weight_ih_l0[:, E:]  # (G*H, He): the context block of the input matmul
        w_s = torch.cat([attention.W_q.weight, rnn.weight_hh_l0])  # (A + G*H, H)
        b_s = torch.cat([rnn.bias_hh_l0.new_zeros(A), rnn.bias_hh_l0])
        mask = memory.src_mask.unsqueeze(1)  # (B, 1, S)
        s = memory.init_state.hidden[0]  # (B, H): s_0
        c = memory.init_state.cell[0] if lstm else None
        states, contexts, weights = [], [], []
        for x_t in from_emb:
            s_proj = F.linear(s, w_s, b_s)  # (B, A + G*H): [W_q s_{t-1}; W_hh s_{t-1} + b_hh]
            scores = attention.score_from_parts(s_proj[:, None, :A], memory.proj_keys)  # (B, 1, S)
            context, w = attend(scores, memory.enc_out, mask)  # (B, 1, He), (B, 1, S)
            gates_in = torch.addmm(x_t, context[:, 0], w_context.T)  # (B, G*H): W_ih [emb; c_t] + b_ih
            if lstm:
                s, c, _ = lstm_gates(gates_in + s_proj[:, A:], c)
            else:
                s, _ = gru_gates(gates_in, s_proj[:, A:], s)
            states.append(s)
            contexts.append(context)
            weights.append(w)
        contexts = torch.cat(contexts, dim=1)  # (B, T, He)
        return self._deep_output(torch.stack(states, dim=1), contexts, emb), torch.cat(weights, dim=1)


class LuongDecoder(Decoder):
    """Luong et al. (2015) decoder: step the RNN, then attend with the *current* output.

    For step t::

        h_t      = RNN(emb(y_{t-1})  [; h~_{t-1} if input feeding], h_{t-1})
        c_t, a_t = Attention_score(query = h_t, keys = enc_out)    # score: dot/general/concat
        h~_t     = tanh(W_c [c_t; h_t])                            # attentional hidden state
        logits   = W_s h~_t

    Without input feeding nothing in the RNN depends on attention, so :meth:`run` runs the
    RNN over all T steps in one call and attends with all T queries at once.
    """

    has_attention = True

    def __init__(self, config: Seq2SeqConfig):
        H, He = config.hidden_dim, config.enc_dim
        super().__init__(config, config.emb_dim + (H if config.input_feeding else 0))
        self.input_feeding = config.input_feeding
        self.attention = Attention(config.attention, query_dim=H, key_dim=He, attn_dim=config.attn_dim)
        self.combine = nn.Linear(He + H, H, bias=False)  # W_c

    def step(self, emb, state, memory):
        rnn_in = torch.cat([emb, state.feed], dim=-1) if self.input_feeding else emb  # (B, E [+ H])
        out, hx = self.rnn(rnn_in.unsqueeze(1), _hx(state))  # (B, 1, H): the CURRENT output is the query
        h_tilde, weights = self._attentional(out, memory)  # (B, 1, H), (B, 1, S)
        h_tilde = h_tilde[:, 0]
        return h_tilde, _state(hx, feed=h_tilde if self.input_feeding else None), weights[:, 0]

    def run(self, emb, memory):
        if self.input_feeding:  # h~_{t-1} feeds step t: a loop is unavoidable
            return super().run(emb, memory)
        out, _ = self.rnn(emb, _hx(memory.init_state))  # (B, T, H): every h_t at once
        return self._attentional(out, memory)  # (B, T, H), (B, T, S)

    def _attentional(self, h: torch.Tensor, memory: Memory):
        """``h~_t = tanh(W_c [c_t; h_t])`` for T outputs h (B, T, H); also the weights (B, T, S)."""
        context, weights = _attend_memory(self.attention, h, memory)  # (B, T, He), (B, T, S)
        return tanh(self.combine(torch.cat([context, h], dim=-1))), weights


_DECODERS = {None: ContextDecoder, "bahdanau": BahdanauDecoder, **dict.fromkeys(LUONG_SCORES, LuongDecoder)}


# --------------------------------------------------------------------------- the model


class Seq2Seq(nn.Module):
    """Encoder-decoder translation model (Korean -> English), with or without attention.

    Args:
        config: a :class:`Seq2SeqConfig` (keywords after it change fields:
            ``Seq2Seq(config, dropout=0.1)``); or, for short, the fields themselves:
            ``Seq2Seq(src_vocab_size, tgt_vocab_size, emb_dim=..., attention=..., ...)``.

    With a bidirectional encoder the decoder's initial state is ``tanh(W_b [h_fwd_S; h_bwd_1])``
    per layer (the last forward and the first backward state; for an LSTM the memory cell
    gets its own ``W_b``); unidirectional, the decoder starts from the encoder's final state.
    ``model.config`` rebuilds the architecture: ``Seq2Seq(model.config)``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Seq2SeqConfig):  # Seq2Seq(config, **fields to change)
            config = dataclasses.replace(args[0], **kwargs)
        else:
            config = Seq2SeqConfig(*args, **kwargs)
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = _DECODERS[config.attention](config)
        if config.bidirectional:
            self.bridge = nn.Linear(2 * config.hidden_dim, config.hidden_dim)
            self.bridge_cell = nn.Linear(2 * config.hidden_dim, config.hidden_dim) if config.cell == "lstm" else None

    @property
    def has_attention(self) -> bool:
        """True if :meth:`decode_step` returns attention weights."""
        return self.decoder.has_attention

    @property
    def src_vocab_size(self) -> int:
        return self.config.src_vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.config.tgt_vocab_size

    # ------------------------------------------------------------------ encode

    def _bridge(self, final: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        """(L*2, B, H) final states of a bidirectional encoder -> (L, B, H) decoder start."""
        L = self.config.num_layers
        _, B, H = final.shape
        both = final.view(L, 2, B, H).permute(0, 2, 1, 3).reshape(L, B, 2 * H)  # [fwd; bwd] per layer
        return torch.tanh(layer(both))  # (L, B, H)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Memory:
        """Run the encoder once and precompute what every decoder step reuses.

        Args:
            src: (B, S) LongTensor of source ids padded with ``PAD_ID`` (moved to the model's device).
            src_lengths: (B,) real lengths, each in [1, S] (a tensor or a list of ints).
        Returns:
            :class:`Memory` with enc_out (B, S, He), src_mask (B, S), the initial decoder
            state and the projected attention keys.
        """
        check_token_ids(src, "src", self.src_vocab_size)
        src_lengths = check_lengths(src_lengths, "src_lengths", src.size(0), src.size(1))
        device = self.encoder.embedding.weight.device
        src, src_lengths = src.to(device), src_lengths.to(device)
        enc_out, final = self.encoder(src, src_lengths)  # (B, S, He)
        hidden, cell = final if isinstance(final, tuple) else (final, None)
        if self.config.bidirectional:
            hidden = self._bridge(hidden, self.bridge)
            if cell is not None:
                cell = self._bridge(cell, self.bridge_cell)
        src_mask = torch.arange(src.size(1), device=device).unsqueeze(0) < src_lengths.unsqueeze(1)  # (B, S)
        feed = enc_out.new_zeros(src.size(0), self.config.hidden_dim) if self.config.input_feeding else None
        proj_keys = self.decoder.attention.project_keys(enc_out) if self.has_attention else None
        return Memory(enc_out, src_mask, DecoderState(hidden, cell, feed), proj_keys)  # feed: h~_0 = 0

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
        check_tensor(prev_tokens, "prev_tokens", dtype=torch.long, shape=(memory.batch_size,))
        if bool(((prev_tokens < 0) | (prev_tokens >= self.tgt_vocab_size)).any()):  # a CUDA embedding would assert
            raise ValueError(f"prev_tokens holds ids outside [0, {self.tgt_vocab_size})")
        emb = self.decoder.embed(prev_tokens)  # (B, E)
        features, state, weights = self.decoder.step(emb, state, memory)
        return DecoderStep(self.decoder.project(features), state, weights)

    # ------------------------------------------------------------------ training pass

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, generator: torch.Generator | None = None, *,
                coins: torch.Tensor | None = None, return_coins: bool = False):
        """Logits for every target position, with teacher forcing (교사 강요) per step.

        For each sentence and each step t >= 1 a coin with P(heads) = ``teacher_forcing_ratio``
        decides the decoder input: heads, the reference ``tgt_in[:, t]``; tails, the
        model's own previous prediction (argmax of step t-1, no gradient through it). Step 0
        always reads ``<sos>``. ``ratio == 1`` is plain teacher forcing: the decoder's
        :meth:`~Decoder.run` computes all T steps (at once where it can); ``ratio == 0`` is
        free running.

        Args:
            src: (B, S) LongTensor source ids. src_lengths: (B,) real lengths in [1, S].
            tgt_in: (B, T) LongTensor decoder inputs ``<sos> y1 ... yn <pad> ...``.
            teacher_forcing_ratio: probability of feeding the reference token, in [0, 1].
            generator: ``torch.Generator`` for the coins (default: torch's global RNG).
            coins: (B, T) bool coins to use instead of throwing new ones (True: feed the reference;
                column 0 must be True), e.g. to replay the coins of another call. Leave
                ``teacher_forcing_ratio`` and ``generator`` at their defaults then.
            return_coins: also return the (B, T) bool coins: True where the decoder was fed
                the reference token (column 0, the ``<sos>``, always), False where it was fed
                its own previous prediction.
        Returns:
            (B, T, V) logits, or ``(logits, coins)`` with ``return_coins=True``.
        """
        memory = self.encode(src, src_lengths)  # checks src and src_lengths
        check_token_ids(tgt_in, "tgt_in", self.tgt_vocab_size)
        if tgt_in.size(0) != src.size(0):
            raise ValueError(f"tgt_in has batch size {tgt_in.size(0)} but src has {src.size(0)}")
        ratio = check_prob(teacher_forcing_ratio, "teacher_forcing_ratio")
        if generator is not None:
            check_type(generator, "generator", torch.Generator, "a torch.Generator or None")
        tgt_in = tgt_in.to(memory.enc_out.device)
        B, T = tgt_in.shape
        if coins is not None:
            if ratio != 1.0 or generator is not None:
                raise ValueError("give coins or teacher_forcing_ratio/generator, not both")
            coins = check_mask(coins, "coins", shape=(B, T)).to(tgt_in.device)
            if T and not bool(coins[:, 0].all()):
                raise ValueError("coins[:, 0] must be True: step 0 always reads <sos>")
            logits = self._run_with_coins(tgt_in, memory, coins)
        elif ratio == 1.0:
            coins = torch.ones(B, T, dtype=torch.bool, device=tgt_in.device)
            features, _ = self.decoder.run(self.decoder.embed(tgt_in), memory)  # (B, T, H)
            logits = self.decoder.project(features)  # (B, T, V): one big matmul
        else:
            coins = self._throw_coins(B, T, ratio, generator, tgt_in.device)
            logits = self._run_with_coins(tgt_in, memory, coins)
        return (logits, coins) if return_coins else logits

    @staticmethod
    def _throw_coins(B: int, T: int, ratio: float, generator, device) -> torch.Tensor:
        """(B, T) bool: True = feed the reference. One coin per sentence and step; column 0 is True."""
        if ratio == 0.0:
            coins = torch.zeros(B, T, dtype=torch.bool, device=device)
        else:
            gen_device = generator.device if generator is not None else device
            coins = (torch.rand(B, T, generator=generator, device=gen_device) < ratio).to(device)
        coins[:, 0] = True  # <sos>: there is no previous prediction yet
        return coins

    def _run_with_coins(self, tgt_in, memory, coins) -> torch.Tensor:
        """Step by step, when inputs depend on earlier predictions (coins: (B, T) bool)."""
        state = memory.init_state
        prev = tgt_in[:, 0]  # (B,) <sos>
        logits = []
        for t in range(tgt_in.size(1)):
            features, state, _ = self.decoder.step(self.decoder.embed(prev), state, memory)
            step_logits = self.decoder.project(features)  # (B, V)
            logits.append(step_logits)
            if t + 1 < tgt_in.size(1):
                prediction = step_logits.detach().argmax(dim=-1)  # (B,)
                prev = torch.where(coins[:, t + 1], tgt_in[:, t + 1], prediction)
        return torch.stack(logits, dim=1)  # (B, T, V)
