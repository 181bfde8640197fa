"""The Transformer (Vaswani et al. 2017), built on the course's one attention path.

* :func:`scaled_dot_product_attention` -- ``softmax(Q K^T / sqrt(d)) V`` for many query
  steps at once, with a key-padding or causal mask (equal to ``F.scaled_dot_product_attention``);
* :class:`MultiHeadAttention` -- h heads from scratch with ``nn.MultiheadAttention``'s
  parameter layout, so weights copy between the two;
* :func:`sinusoidal_positions` and :class:`PositionalEncoding` -- where a token is, added to
  its embedding (sinusoidal, learned, or none);
* :class:`EncoderLayer` / :class:`DecoderLayer` -- self-attention (and cross-attention), the
  position-wise feed-forward layer, residual connections ``x + F(x)`` and layer normalisation,
  with the parameter names of ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
  (tests copy weights between them and compare outputs and gradients);
* :class:`Transformer` -- the encoder-decoder, with the decoding interface of
  :class:`~s2s_lib.models.Seq2Seq` (``encode`` / ``decode_step``, the decoder's self-attention
  keys and values cached between steps), so greedy decoding, sampling, beam search and the
  views work unchanged;
* :func:`warmup_lr` -- the learning-rate schedule of the paper (eq. 3).

Every attention turns scores into weights with :func:`s2s_lib.attention.attend`, the same
function the RNN decoders use.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from s2s_lib.attention import attend
from s2s_lib.checks import (check_bool, check_choice, check_ids, check_int, check_lengths, check_mask, check_prob,
                            check_real, check_tensor, check_token_ids, check_type, inference)
from s2s_lib.models import DecoderStep, Memory
from s2s_lib.tokenize import PAD_ID, SOS_ID

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention", "sinusoidal_positions", "PositionalEncoding",
           "EncoderLayer", "DecoderLayer", "TransformerConfig", "TransformerState", "Transformer", "warmup_lr",
           "POSITIONAL"]

POSITIONAL = ("sinusoidal", "learned", None)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    key_padding_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d)) V`` for many query steps at once (Vaswani et al. 2017, eq. 1).

    Dividing by sqrt(d) keeps the dot products of d-dimensional vectors at unit scale, so
    the softmax does not saturate as d grows.

    Args:
        q: (..., T, d) queries, e.g. (B, T, d) or (B, heads, T, d).
        k: (..., S, d) keys.
        v: (..., S, dv) values.
        attn_mask: bool, broadcastable to (..., T, S), True where query t may attend to key s
            (as ``F.scaled_dot_product_attention``'s boolean ``attn_mask``).
        is_causal: also forbid query t to look at keys after position t (aligned at the top
            left, as ``F.scaled_dot_product_attention``: for T queries that continue S - T earlier
            positions, as in cached decoding, pass no causal mask; the cache holds only the past).
        key_padding_mask: (B, S) bool, True on real keys (``Batch.src_mask``); it applies to
            every head and query: q must be (B, ..., T, d).
    Returns:
        ``(output, weights)``: output (..., T, dv), weights (..., T, S).
    """
    check_tensor(q, "q", dtype="float")
    check_tensor(k, "k", dtype="float", shape=tuple(q.shape[:-2]) + (None, q.size(-1)))
    check_tensor(v, "v", dtype="float", shape=tuple(k.shape[:-1]) + (None,))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, d) @ (..., d, S) -> (..., T, S)
    mask = None if attn_mask is None else check_mask(attn_mask, "attn_mask")
    if key_padding_mask is not None:  # (B, S) -> (B, 1, ..., 1, S)
        pad = check_mask(key_padding_mask, "key_padding_mask", shape=(q.size(0), k.size(-2)))
        pad = pad.view(pad.size(0), *([1] * (q.dim() - 2)), pad.size(1))
        mask = pad if mask is None else mask & pad
    if is_causal:
        t, s = scores.shape[-2:]
        causal = torch.ones(t, s, dtype=torch.bool, device=scores.device).tril()  # (T, S)
        mask = causal if mask is None else mask & causal
    if mask is not None:
        check_mask(mask, like=scores, every_row=True)
    return attend(scores, v, mask)  # (..., T, dv), (..., T, S)


class MultiHeadAttention(nn.Module):
    """Multi-head attention from scratch (Vaswani et al. 2017, section 3.2.2).

    ``MultiHead(Q, K, V) = Concat(head_1..head_h) W^O`` with
    ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``. The parameters have the names and
    layout of ``nn.MultiheadAttention`` (``in_proj_weight`` stacks W^Q, W^K, W^V as (3E, E);
    ``out_proj`` is W^O), so ``load_state_dict`` copies weights between the two. No dropout.

    Args:
        embed_dim: E, model size (query, key and value size).
        num_heads: h; must divide E (each head has d_k = E / h).
        bias: add biases to the projections.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        embed_dim, num_heads = check_int(embed_dim, "embed_dim"), check_int(num_heads, "num_heads")
        if embed_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide embed_dim={embed_dim}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, L, d_k)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        average_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from every query position to every key position, in h heads.

        Args:
            query: (B, T, E).
            key: (B, S, E).
            value: (B, S, E).
            mask: (B, S) bool key padding mask, True on real tokens (``nn.MultiheadAttention``
                wants the opposite: ``key_padding_mask=~mask``).
            is_causal: forbid attending to later positions (decoder self-attention).
            average_weights: return weights averaged over heads (B, T, S) instead of (B, h, T, S).
        Returns:
            ``(output, weights)``: output (B, T, E) and the attention weights.
        """
        batch = check_tensor(query, "query", shape=(None, None, self.embed_dim)).size(0)
        check_tensor(key, "key", shape=(batch, None, self.embed_dim))
        check_tensor(value, "value (shaped like key)", shape=tuple(key.shape))
        if mask is not None:
            check_mask(mask, "mask", shape=tuple(key.shape[:2]))
        k, v = self.project_keys_values(key, value)  # (B, h, S, d_k) each
        return self.attend_projected(query, k, v, mask, is_causal, average_weights)

    def _projection(self, i: int):
        """W and b of projection i (0: queries, 1: keys, 2: values)."""
        E = self.embed_dim
        weight = self.in_proj_weight[i * E:(i + 1) * E]  # (E, E)
        return weight, None if self.in_proj_bias is None else self.in_proj_bias[i * E:(i + 1) * E]

    def project_keys_values(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``K W^K`` and ``V W^V`` split into heads: (B, h, S, d_k) each.

        Decoding computes these once per source sentence (cross-attention) and once per new
        target token (self-attention), and keeps them.
        """
        k = self._split_heads(nn.functional.linear(key, *self._projection(1)))  # (B, h, S, d_k)
        v = self._split_heads(nn.functional.linear(value, *self._projection(2)))  # (B, h, S, d_k)
        return k, v

    def attend_projected(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         mask: torch.Tensor | None = None, is_causal: bool = False,
                         average_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The rest of :meth:`forward`, given projected keys and values (B, h, S, d_k)."""
        q = self._split_heads(nn.functional.linear(query, *self._projection(0)))  # (B, h, T, d_k)
        # (B, h, T, d_k) and (B, h, T, S); the (B, S) mask broadcasts over heads and steps
        heads, weights = scaled_dot_product_attention(q, k, v, is_causal=is_causal, key_padding_mask=mask)
        batch, _, tgt_len, _ = heads.shape
        concat = heads.transpose(1, 2).reshape(batch, tgt_len, self.embed_dim)  # (B, T, h * d_k)
        return self.out_proj(concat), (weights.mean(dim=1) if average_weights else weights)


# --------------------------------------------------------------------------- positions


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """The sinusoidal positional encodings of Vaswani et al. (2017, section 3.5): (length, d_model).

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d))`` and ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``:
    each pair of dimensions is a clock of its own frequency, from one turn every 2 pi
    positions to one every 10000 * 2 pi, so that ``PE[pos + k]`` is a fixed linear function
    (a rotation) of ``PE[pos]`` for every offset k.
    """
    length, d_model = check_int(length, "length"), check_int(d_model, "d_model")
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoidal positions, got {d_model}")
    pos = torch.arange(length, dtype=torch.float64).unsqueeze(1)  # (L, 1)
    freq = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe.float()


class PositionalEncoding(nn.Module):
    """Adds where each token is to its embedding: ``x_t + PE[t]``.

    Args:
        d_model: the model size.
        max_len: the longest sequence (positions 0 .. max_len-1).
        kind: ``"sinusoidal"`` (fixed, :func:`sinusoidal_positions`), ``"learned"`` (a
            trained table, as BERT/GPT), or ``None`` (no position at all: then self-attention
            cannot tell the order of the words, the chapter's demonstration).
    """

    def __init__(self, d_model: int, max_len: int = 256, kind: str | None = "sinusoidal"):
        super().__init__()
        self.kind = check_choice(kind, "kind", POSITIONAL)
        self.max_len = check_int(max_len, "max_len")
        if kind == "sinusoidal":
            self.register_buffer("table", sinusoidal_positions(max_len, d_model), persistent=False)
        elif kind == "learned":
            self.table = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        else:
            self.table = None

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``x`` (B, T, d) at positions ``start .. start+T-1`` plus their encodings."""
        if self.table is None:
            return x
        if start + x.size(1) > self.max_len:
            raise ValueError(f"positions up to {start + x.size(1)} but max_len={self.max_len}; build the model "
                             "with a larger max_len")
        return x + self.table[start:start + x.size(1)].to(x.dtype)


# --------------------------------------------------------------------------- layers


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then the position-wise feed-forward network.

    Each sub-layer ``F`` is wrapped in a residual connection and layer normalisation, either
    after the sum (**post-LN**, the paper: ``LN(x + F(x))``) or before the sub-layer
    (**pre-LN**: ``x + F(LN(x))``, ``norm_first=True``). Pre-LN leaves the residual path
    ``x -> x`` untouched from the input to the output of the whole stack, so the gradient
    reaches the first layers unscaled and training is stable without a long warm-up (Xiong
    et al. 2020); the stack then ends with one more layer norm (:class:`Transformer`).
    Dropout (rate ``dropout``) is applied to each sub-layer's output before the residual sum,
    and after the ReLU of the feed-forward network, as in the paper (``nn.TransformerEncoderLayer``
    also drops attention weights, which we do not: the two are equal at ``dropout=0``).

    Parameter names are ``nn.TransformerEncoderLayer``'s (``self_attn``, ``linear1``,
    ``linear2``, ``norm1``, ``norm2``), so ``load_state_dict`` copies weights between them.
    """

    def __init__(self, d_model: int, num_heads: int, ff_dim: int, dropout: float = 0.1, norm_first: bool = True):
        super().__init__()
        self.norm_first = check_bool(norm_first, "norm_first")
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.linear1, self.linear2 = nn.Linear(d_model, ff_dim), nn.Linear(ff_dim, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(check_real(dropout, "dropout", 0.0, below=1.0))

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``FFN(x) = max(0, x W_1 + b_1) W_2 + b_2``, the same two layers at every position."""
        return self.dropout(self.linear2(self.dropout(torch.relu(self.linear1(x)))))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *, weights: list | None = None) -> torch.Tensor:
        """``x`` (B, S, d) -> (B, S, d); ``mask`` (B, S) True on real tokens.

        ``weights``: if a list, the self-attention weights of every head (B, h, S, S) are appended.
        """
        def attention(y):
            out, w = self.self_attn(y, y, y, mask, average_weights=False)
            if weights is not None:
                weights.append(w)
            return self.dropout(out)

        if self.norm_first:
            x = x + attention(self.norm1(x))
            return x + self.feed_forward(self.norm2(x))
        x = self.norm1(x + attention(x))
        return self.norm2(x + self.feed_forward(x))


class DecoderLayer(nn.Module):
    """One decoder layer: causal self-attention, cross-attention to the encoder, feed-forward.

    The same residual and normalisation scheme as :class:`EncoderLayer` (``norm1`` .. ``norm3``;
    names of ``nn.TransformerDecoderLayer``: ``self_attn``, ``multihead_attn``, ``linear1``,
    ``linear2``). :meth:`forward` runs all T target positions at once (training, teacher
    forcing), each position attending only to itself and earlier ones; :meth:`step` runs one
    new position against the keys and values of the earlier ones, kept in a cache.
    """

    def __init__(self, d_model: int, num_heads: int, ff_dim: int, dropout: float = 0.1, norm_first: bool = True):
        super().__init__()
        self.norm_first = check_bool(norm_first, "norm_first")
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.multihead_attn = MultiHeadAttention(d_model, num_heads)
        self.linear1, self.linear2 = nn.Linear(d_model, ff_dim), nn.Linear(ff_dim, d_model)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(check_real(dropout, "dropout", 0.0, below=1.0))

    feed_forward = EncoderLayer.feed_forward

    def _sublayers(self, x, self_attention, cross_kv, src_mask, weights):
        """The three residual blocks; ``self_attention(y)`` is the (cached or causal) self-attention."""
        def cross(y):
            out, w = self.multihead_attn.attend_projected(y, *cross_kv, src_mask, average_weights=False)
            if weights is not None:
                weights.append(w)
            return self.dropout(out)

        def attend_self(y):
            return self.dropout(self_attention(y))

        if self.norm_first:
            x = x + attend_self(self.norm1(x))
            x = x + cross(self.norm2(x))
            return x + self.feed_forward(self.norm3(x))
        x = self.norm1(x + attend_self(x))
        x = self.norm2(x + cross(x))
        return self.norm3(x + self.feed_forward(x))

    def forward(self, x: torch.Tensor, cross_kv: tuple, src_mask: torch.Tensor, *,
                weights: list | None = None, self_weights: list | None = None) -> torch.Tensor:
        """All target positions at once: ``x`` (B, T, d) -> (B, T, d).

        Args:
            cross_kv: the encoder output projected by ``multihead_attn.project_keys_values``.
            src_mask: (B, S) True on real source tokens.
            weights / self_weights: lists to append the cross- / self-attention weights
                (B, h, T, S) / (B, h, T, T) to.
        """
        def self_attention(y):
            out, w = self.self_attn(y, y, y, is_causal=True, average_weights=False)
            if self_weights is not None:
                self_weights.append(w)
            return out

        return self._sublayers(x, self_attention, cross_kv, src_mask, weights)

    def step(self, x: torch.Tensor, cache: tuple | None, cross_kv: tuple, src_mask: torch.Tensor, *,
             weights: list | None = None) -> tuple[torch.Tensor, tuple]:
        """One new position: ``x`` (B, 1, d); ``cache`` the self-attention (keys, values)
        (B, h, t, d_k) of the earlier positions (``None`` at the first). Returns the output
        (B, 1, d) and the cache with this position's keys and values appended.
        """
        new_cache = []

        def self_attention(y):
            k, v = self.self_attn.project_keys_values(y, y)  # (B, h, 1, d_k)
            if cache is not None:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            new_cache.extend((k, v))
            return self.self_attn.attend_projected(y, k, v)[0]  # earlier positions only: no mask

        out = self._sublayers(x, self_attention, cross_kv, src_mask, weights)
        return out, tuple(new_cache)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class TransformerConfig:
    """Everything that decides the architecture of a :class:`Transformer` (validated on creation)."""

    src_vocab_size: int            # source (Korean) vocabulary size, >= 4
    tgt_vocab_size: int            # target (English) vocabulary size, >= 4
    d_model: int = 256             # d, the width of every layer
    num_heads: int = 4             # h, heads per attention (must divide d)
    num_layers: int = 3            # N, layers in the encoder and in the decoder
    ff_dim: int = 1024             # width of the position-wise feed-forward layer
    dropout: float = 0.1           # on embeddings + positions, sub-layer outputs and the FFN's hidden layer
    positional: str | None = "sinusoidal"  # "sinusoidal", "learned" or None
    norm_first: bool = True        # pre-LN (True) or the paper's post-LN (False)
    max_len: int = 256             # longest source or target sequence
    tie_embeddings: bool = True    # the output layer's weights are the target embeddings

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size"):
            check_int(getattr(self, name), name, 4)
        for name in ("d_model", "num_heads", "num_layers", "ff_dim", "max_len"):
            check_int(getattr(self, name), name)
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide d_model={self.d_model}")
        check_real(self.dropout, "dropout", 0.0, below=1.0)
        check_choice(self.positional, "positional", POSITIONAL)
        check_bool(self.norm_first, "norm_first")
        check_bool(self.tie_embeddings, "tie_embeddings")
        object.__setattr__(self, "dropout", float(self.dropout))

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a checkpoint stores), with ``arch: "transformer"``."""
        return {"arch": "transformer", **dataclasses.asdict(self)}


class TransformerState(NamedTuple):
    """What the decoder carries from one step to the next: every layer's self-attention cache.

    Attributes:
        cache: one ``(keys, values)`` pair per decoder layer, each (B, h, t, d_k) for the t
            target positions decoded so far (empty tuple before the first step).
    """

    cache: tuple

    @property
    def position(self) -> int:
        """t, the number of target positions decoded so far."""
        return 0 if not self.cache else int(self.cache[0][0].size(2))

    def index_select(self, index: torch.Tensor) -> "TransformerState":
        """Row ``i`` of the result is sentence ``index[i]`` (drop finished sentences, follow beams)."""
        return TransformerState(tuple((k.index_select(0, index), v.index_select(0, index)) for k, v in self.cache))


class Transformer(nn.Module):
    """The Transformer encoder-decoder (Vaswani et al. 2017) for Korean -> English.

    Source and target tokens are embedded, scaled by ``sqrt(d)`` and given their positions;
    ``num_layers`` :class:`EncoderLayer` read the source, ``num_layers`` :class:`DecoderLayer`
    write the target, each attending to the encoder output; the output layer shares its
    weights with the target embedding when ``tie_embeddings``. With ``norm_first`` (pre-LN)
    both stacks end with a layer norm.

    It offers the decoding interface of :class:`~s2s_lib.models.Seq2Seq`: :meth:`encode`
    returns a :class:`~s2s_lib.models.Memory` (whose ``proj_keys`` holds every decoder
    layer's cross-attention keys and values, computed once), :meth:`decode_step` one
    position for the whole batch, returning the cross-attention weights of the last layer
    averaged over heads (the row the views show). Training runs every position at once with
    teacher forcing (:meth:`forward`).

    Args:
        config: a :class:`TransformerConfig`, or its fields as keywords.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], TransformerConfig):
            config = dataclasses.replace(args[0], **kwargs)
        else:
            config = TransformerConfig(*args, **kwargs)
        self.config = c = config
        self.src_embedding = nn.Embedding(c.src_vocab_size, c.d_model, padding_idx=PAD_ID)
        self.tgt_embedding = nn.Embedding(c.tgt_vocab_size, c.d_model, padding_idx=PAD_ID)
        for emb in (self.src_embedding, self.tgt_embedding):  # N(0, d^-1/2): times sqrt(d), unit scale
            nn.init.normal_(emb.weight, std=c.d_model ** -0.5)
            with torch.no_grad():
                emb.weight[PAD_ID].zero_()
        self.positions = PositionalEncoding(c.d_model, c.max_len, c.positional)
        self.dropout = nn.Dropout(c.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(c.d_model, c.num_heads, c.ff_dim, c.dropout, c.norm_first)
                                            for _ in range(c.num_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(c.d_model, c.num_heads, c.ff_dim, c.dropout, c.norm_first)
                                            for _ in range(c.num_layers))
        self.encoder_norm = nn.LayerNorm(c.d_model) if c.norm_first else None
        self.decoder_norm = nn.LayerNorm(c.d_model) if c.norm_first else None
        self.out = nn.Linear(c.d_model, c.tgt_vocab_size)
        if c.tie_embeddings:
            self.out.weight = self.tgt_embedding.weight

    has_attention = True

    @property
    def src_vocab_size(self) -> int:
        return self.config.src_vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.config.tgt_vocab_size

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """(B, T) ids -> (B, T, d): embedding * sqrt(d) + position, dropout."""
        return self.dropout(self.positions(embedding(tokens) * math.sqrt(self.config.d_model), start))

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor, *, weights: list | None = None) -> Memory:
        """Run the encoder once; project every decoder layer's cross-attention keys and values.

        Args:
            src: (B, S) source ids padded with ``PAD_ID``. src_lengths: (B,) real lengths.
            weights: if a list, every encoder layer's self-attention weights (B, h, S, S) are appended.
        Returns:
            A :class:`~s2s_lib.models.Memory`: ``enc_out`` (B, S, d), ``src_mask`` (B, S),
            ``init_state`` an empty :class:`TransformerState` and ``proj_keys`` (B, N, 2, h, S, d_k)
            (layer, keys/values).
        """
        check_token_ids(src, "src", self.src_vocab_size)
        src_lengths = check_lengths(src_lengths, "src_lengths", src.size(0), src.size(1))
        device = self.src_embedding.weight.device
        src, src_lengths = src.to(device), src_lengths.to(device)
        src_mask = torch.arange(src.size(1), device=device).unsqueeze(0) < src_lengths.unsqueeze(1)  # (B, S)
        x = self._embed(self.src_embedding, src)  # (B, S, d)
        for layer in self.encoder_layers:
            x = layer(x, src_mask, weights=weights)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        x = x * src_mask.unsqueeze(2).to(x.dtype)  # zeros at padding, as the RNN encoder's
        kv = torch.stack([torch.stack(layer.multihead_attn.project_keys_values(x, x), dim=1)
                          for layer in self.decoder_layers], dim=1)  # (B, N, 2, h, S, d_k)
        return Memory(x, src_mask, TransformerState(()), kv)

    @staticmethod
    def _cross_kv(memory: Memory, n: int) -> tuple:
        return memory.proj_keys[:, n, 0], memory.proj_keys[:, n, 1]  # (B, h, S, d_k) each

    def decode_step(self, prev_tokens: torch.Tensor, state: TransformerState, memory: Memory) -> DecoderStep:
        """One new target position for every sentence (the earlier ones come from the cache).

        Args:
            prev_tokens: (B,) the previous output token (``<sos>`` at the first step).
            state: a :class:`TransformerState` (``memory.init_state`` at the start).
            memory: what :meth:`encode` returned.
        Returns:
            :class:`~s2s_lib.models.DecoderStep`: logits (B, V), the new state, and the last
            layer's cross-attention weights averaged over heads (B, S).
        """
        check_tensor(prev_tokens, "prev_tokens", dtype=torch.long, shape=(memory.batch_size,))
        check_type(state, "state", TransformerState, "a TransformerState (memory.init_state at the start)")
        if bool(((prev_tokens < 0) | (prev_tokens >= self.tgt_vocab_size)).any()):
            raise ValueError(f"prev_tokens holds ids outside [0, {self.tgt_vocab_size})")
        x = self._embed(self.tgt_embedding, prev_tokens.unsqueeze(1), start=state.position)  # (B, 1, d)
        weights, cache = [], []
        for n, layer in enumerate(self.decoder_layers):
            x, layer_cache = layer.step(x, state.cache[n] if state.cache else None, self._cross_kv(memory, n),
                                        memory.src_mask, weights=weights)
            cache.append(layer_cache)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return DecoderStep(self.out(x[:, 0]), TransformerState(tuple(cache)), weights[-1][:, :, 0].mean(dim=1))

    def decode(self, tgt_in: torch.Tensor, memory: Memory, *, weights: list | None = None,
               self_weights: list | None = None) -> torch.Tensor:
        """All target positions at once (teacher forcing): ``tgt_in`` (B, T) -> logits (B, T, V)."""
        x = self._embed(self.tgt_embedding, tgt_in)  # (B, T, d)
        for n, layer in enumerate(self.decoder_layers):
            x = layer(x, self._cross_kv(memory, n), memory.src_mask, weights=weights, self_weights=self_weights)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return self.out(x)

    def attention_maps(self, src_ids, tgt_ids) -> dict:
        """Every attention of one sentence pair, per layer and head (eval mode, no gradients).

        The decoder reads ``<sos>`` + ``tgt_ids`` (teacher forcing), so its T = len(tgt_ids) + 1
        rows are the positions that predict ``tgt_ids`` and ``<eos>``.

        Returns:
            ``{"encoder": [(h, S, S)] * N, "decoder": [(h, T, T)] * N, "cross": [(h, T, S)] * N}``
            float32 arrays: encoder self-attention, causal decoder self-attention, and the
            decoder's attention to the encoder output.
        """
        src = check_ids(src_ids, "src_ids", self.src_vocab_size, empty=False)
        tgt = check_ids(tgt_ids, "tgt_ids", self.tgt_vocab_size)

        maps = {"encoder": [], "decoder": [], "cross": []}
        with inference(self):
            memory = self.encode(torch.tensor([src]), [len(src)], weights=maps["encoder"])
            self.decode(torch.tensor([[SOS_ID] + tgt]), memory, weights=maps["cross"], self_weights=maps["decoder"])
        return {kind: [w[0].float().cpu().numpy() for w in ws] for kind, ws in maps.items()}

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, T, V) for every target position, with teacher forcing.

        The Transformer computes all positions in parallel only because every input is the
        reference; ``teacher_forcing_ratio`` must be 1 (``generator`` is accepted for the
        interface of :class:`~s2s_lib.models.Seq2Seq` and unused).
        """
        if check_prob(teacher_forcing_ratio, "teacher_forcing_ratio") != 1.0:
            raise ValueError("the Transformer trains with teacher forcing only (teacher_forcing_ratio=1.0): "
                             "its decoder runs every position at once from the reference inputs")
        memory = self.encode(src, src_lengths)
        check_token_ids(tgt_in, "tgt_in", self.tgt_vocab_size)
        if tgt_in.size(0) != src.size(0):
            raise ValueError(f"tgt_in has batch size {tgt_in.size(0)} but src has {src.size(0)}")
        return self.decode(tgt_in.to(memory.enc_out.device), memory)


def warmup_lr(step: int, d_model: int, warmup: int = 4000) -> float:
    """Vaswani et al.'s learning rate (eq. 3): ``d^-0.5 * min(step^-0.5, step * warmup^-1.5)``.

    It rises linearly for ``warmup`` steps (Adam's second-moment estimates are poor at first,
    and large early updates can wreck a post-LN Transformer), peaks at
    ``(d * warmup)^-0.5`` and then decays as ``1 / sqrt(step)``. Steps count from 1.
    """
    step, d_model, warmup = check_int(step, "step"), check_int(d_model, "d_model"), check_int(warmup, "warmup")
    return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
