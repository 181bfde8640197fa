"""Attention score functions behind one interface (Chapter "Attention: Bahdanau and Luong").

At every decoder step the decoder state (the *query*, (B, Hq)) is compared with every
encoder output (the *keys*, (B, S, Hk)). Each comparison gives a score; a softmax over the
source positions turns the scores into attention weights (B, S), and the context vector
is the weighted sum of the *values* (by default the encoder outputs themselves):

    a_s = softmax_s(score(q, k_s)),      c = sum_s a_s v_s

Padding positions get weight exactly 0 (:func:`masked_softmax`). The score functions:

=============  ======================================  =====================================
name           score(q, k)                             source
=============  ======================================  =====================================
``dot``        q . k                                   Luong, Pham & Manning 2015, eq. 8
``general``    q^T W_a k                               Luong et al. 2015, eq. 8
``concat``     v_a^T tanh(W_a [q; k])                  Luong et al. 2015, eq. 8
``additive``   v_a^T tanh(W_q q + U_k k)               Bahdanau, Cho & Bengio 2015, eq. 6, App. A
``scaled_dot`` q . k / sqrt(d)                         Vaswani et al. 2017, eq. 1
=============  ======================================  =====================================

Luong's *concat* and Bahdanau's *additive* score are the same family: splitting W_a into
the blocks that multiply q and k gives ``W_a [q; k] = W_q q + U_k k``. This module keeps
both names: ``concat`` stores one matrix W_a over the concatenation, ``additive`` stores
W_q and U_k separately, as Bahdanau writes it. (The two papers also feed different queries:
Bahdanau the previous decoder state s_{i-1}, Luong the current one h_t; that is the
model's choice, see ``s2s_lib.models``.)

The key-only half of a score (W_a k, U_k k) does not change during decoding, so
:meth:`Attention.project_keys` computes it once per source sentence.

For the Transformer preview: :func:`scaled_dot_product_attention` for many query steps at
once and a from-scratch :class:`MultiHeadAttention` with ``nn.MultiheadAttention``'s
parameter layout.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from s2s_lib.softmax import softmax

__all__ = ["SCORES", "masked_softmax", "Attention", "scaled_dot_product_attention", "MultiHeadAttention"]

SCORES = ("dot", "general", "concat", "additive", "scaled_dot")


def _check_tensor(x, name: str, ndim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")


def _check_mask(mask, name: str = "mask") -> None:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{name} must be a bool torch.Tensor (True on real tokens), got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must have dtype torch.bool (True on real tokens), got {mask.dtype}")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` in which masked positions get weight exactly 0.

    Masked scores are set to ``-inf`` before the (stable) softmax, so ``exp`` makes them 0
    and the real positions share the whole mass.

    Args:
        scores: (..., S) floating tensor of attention scores.
        mask: bool tensor broadcastable to ``scores``, True on real positions; ``None``
            means every position is real.
        dim: the dimension that sums to one.
    Returns:
        Weights shaped like ``scores``: rows sum to 1, exactly 0 where ``mask`` is False.
    Raises:
        ValueError: a row has no real position (its weights would be 0/0 = nan).
    """
    if mask is None:
        return softmax(scores, dim=dim)
    _check_mask(mask)
    try:
        mask = mask.expand_as(scores)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to scores of shape "
            f"{tuple(scores.shape)}"
        ) from None
    if not mask.any(dim=dim).all():
        raise ValueError(
            "mask has a row with no real position (all False); its attention weights are undefined"
        )
    return softmax(scores.masked_fill(~mask, float("-inf")), dim=dim)


class Attention(nn.Module):
    """One decoder step of attention with a choice of score function.

    Args:
        score: one of :data:`SCORES`.
        query_dim: Hq, size of the decoder state.
        key_dim: Hk, size of the encoder outputs.
        attn_dim: size of the hidden layer of ``concat``/``additive`` (default
            ``query_dim``); ignored by the other scores.

    Parameters (no biases, as in the papers): ``general``: ``W_a`` (Hq x Hk);
    ``concat``: ``W_a`` (A x (Hq + Hk)) and ``v_a`` (1 x A); ``additive``: ``W_q`` (A x Hq),
    ``U_k`` (A x Hk) and ``v_a`` (1 x A). ``dot`` and ``scaled_dot`` need Hq == Hk and have none.
    """

    def __init__(self, score: str, query_dim: int, key_dim: int, attn_dim: int | None = None):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("attn_dim", attn_dim)):
            if value is None and name == "attn_dim":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if score in ("dot", "scaled_dot") and query_dim != key_dim:
            raise ValueError(
                f"score={score!r} compares q and k directly and needs query_dim == key_dim, "
                f"got query_dim={query_dim}, key_dim={key_dim} (use 'general' to map between them)"
            )
        self.score, self.query_dim, self.key_dim = score, query_dim, key_dim
        self.attn_dim = attn_dim if attn_dim is not None else query_dim
        if score == "general":
            self.W_a = nn.Linear(key_dim, query_dim, bias=False)  # k -> W_a k, (Hq x Hk)
        elif score == "concat":  # Luong: one matrix over [q; k]
            self.W_a = nn.Linear(query_dim + key_dim, self.attn_dim, bias=False)
            self.v_a = nn.Linear(self.attn_dim, 1, bias=False)
        elif score == "additive":  # Bahdanau: the same matrix in two blocks
            self.W_q = nn.Linear(query_dim, self.attn_dim, bias=False)
            self.U_k = nn.Linear(key_dim, self.attn_dim, bias=False)
            self.v_a = nn.Linear(self.attn_dim, 1, bias=False)

    def extra_repr(self) -> str:
        return (f"score={self.score!r}, query_dim={self.query_dim}, key_dim={self.key_dim}, "
                f"attn_dim={self.attn_dim}")

    def _projected_dim(self) -> int:
        return {"general": self.query_dim, "concat": self.attn_dim, "additive": self.attn_dim}.get(
            self.score, self.key_dim
        )

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """Precompute the part of the score that depends only on the keys.

        Call once per source sentence and pass the result as ``projected_keys`` at every
        decoder step; this saves one (S x Hk x A) product per step.

        Args:
            keys: (B, S, Hk) encoder outputs.
        Returns:
            ``general``: W_a k (B, S, Hq); ``concat``: the key block of W_a times k (B, S, A);
            ``additive``: U_k k (B, S, A); ``dot``/``scaled_dot``: ``keys`` unchanged.
        """
        _check_tensor(keys, "keys", 3)
        if keys.size(-1) != self.key_dim:
            raise ValueError(
                f"keys must have last dimension key_dim={self.key_dim}, got shape {tuple(keys.shape)}"
            )
        if self.score == "general":
            return self.W_a(keys)  # (B, S, Hq)
        if self.score == "concat":
            # W_a [q; k] = W_a[:, :Hq] q + W_a[:, Hq:] k: the key block is fixed per sentence.
            return keys @ self.W_a.weight[:, self.query_dim :].T  # (B, S, A)
        if self.score == "additive":
            return self.U_k(keys)  # (B, S, A)
        return keys

    def compute_scores(
        self, query: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Unnormalised scores score(q, k_s) for every source position: (B, Hq), (B, S, Hk) -> (B, S).

        Inputs are assumed checked (see :meth:`forward`).
        """
        if self.score in ("dot", "scaled_dot"):
            scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S, H) @ (B, H, 1) -> (B, S)
            return scores / math.sqrt(self.key_dim) if self.score == "scaled_dot" else scores
        if self.score == "general":
            wk = projected_keys if projected_keys is not None else self.W_a(keys)  # (B, S, Hq)
            return torch.bmm(wk, query.unsqueeze(2)).squeeze(2)  # q^T (W_a k): (B, S)
        if self.score == "concat":
            if projected_keys is None:  # literally Luong's eq. 8: W_a applied to [q; k]
                q = query.unsqueeze(1).expand(-1, keys.size(1), -1)  # (B, S, Hq)
                hidden = self.W_a(torch.cat([q, keys], dim=-1))  # (B, S, Hq + Hk) -> (B, S, A)
            else:  # the same sum with the key block precomputed
                w_q = self.W_a.weight[:, : self.query_dim]  # (A, Hq)
                hidden = (query @ w_q.T).unsqueeze(1) + projected_keys  # (B, 1, A) + (B, S, A)
            return self.v_a(torch.tanh(hidden)).squeeze(2)  # (B, S, 1) -> (B, S)
        # additive (Bahdanau): v_a^T tanh(W_q q + U_k k)
        uk = projected_keys if projected_keys is not None else self.U_k(keys)  # (B, S, A)
        hidden = self.W_q(query).unsqueeze(1) + uk  # (B, 1, A) + (B, S, A)
        return self.v_a(torch.tanh(hidden)).squeeze(2)  # (B, S)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        projected_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from one decoder step to all source positions.

        Args:
            query: (B, Hq) decoder state.
            keys: (B, S, Hk) encoder outputs.
            mask: (B, S) bool, True on real source tokens (``Batch.src_mask``); ``None``: all real.
            values: (B, S, Hv) what is averaged (default: ``keys``).
            projected_keys: the output of :meth:`project_keys` for these keys (optional).
        Returns:
            ``(context, weights)``: context (B, Hv) = weights @ values, and weights (B, S)
            summing to 1 over S, exactly 0 where ``mask`` is False.
        """
        _check_tensor(query, "query", 2)
        _check_tensor(keys, "keys", 3)
        if query.size(1) != self.query_dim:
            raise ValueError(
                f"query must have shape (B, query_dim={self.query_dim}), got {tuple(query.shape)}"
            )
        batch, src_len, key_dim = keys.shape
        if key_dim != self.key_dim or batch != query.size(0):
            raise ValueError(
                f"keys must have shape (B={query.size(0)}, S, key_dim={self.key_dim}), "
                f"got {tuple(keys.shape)}"
            )
        if mask is not None:
            _check_mask(mask)
            if mask.shape != (batch, src_len):
                raise ValueError(
                    f"mask must have shape (B, S) = {(batch, src_len)}, got {tuple(mask.shape)}"
                )
        if values is None:
            values = keys
        else:
            _check_tensor(values, "values", 3)
            if values.shape[:2] != (batch, src_len):
                raise ValueError(
                    f"values must have shape (B, S, Hv) with (B, S) = {(batch, src_len)}, "
                    f"got {tuple(values.shape)}"
                )
        if projected_keys is not None:
            _check_tensor(projected_keys, "projected_keys", 3)
            expected = (batch, src_len, self._projected_dim())
            if projected_keys.shape != expected:
                raise ValueError(
                    f"projected_keys must have shape {expected} (from project_keys), "
                    f"got {tuple(projected_keys.shape)}"
                )

        scores = self.compute_scores(query, keys, projected_keys)  # (B, S)
        weights = masked_softmax(scores, mask, dim=-1)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, 1, S) @ (B, S, Hv) -> (B, Hv)
        return context, weights


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d)) V`` for many query steps at once (Vaswani et al. 2017, eq. 1).

    Dividing by sqrt(d) keeps the dot products of d-dimensional vectors at unit scale, so
    the softmax does not saturate as d grows.

    Args:
        q: (..., T, d) queries, e.g. (B, T, d) or (B, heads, T, d).
        k: (..., S, d) keys.
        v: (..., S, dv) values.
        mask: bool, True where a query may attend (as in ``F.scaled_dot_product_attention``):
            either a (B, S) key padding mask or a mask broadcastable to (..., T, S).
        is_causal: also forbid query t to look at keys after position t.
    Returns:
        ``(output, weights)``: output (..., T, dv), weights (..., T, S).
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"{name} must have shape (..., L, d), got {tuple(x.shape)}")
    if k.size(-1) != q.size(-1):
        raise ValueError(
            f"k must have the same last dimension as q ({q.size(-1)}), got {tuple(k.shape)}"
        )
    if v.size(-2) != k.size(-2):
        raise ValueError(f"v must have as many positions as k ({k.size(-2)}), got {tuple(v.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, d) @ (..., d, S) -> (..., T, S)
    if mask is not None:
        _check_mask(mask)
        if mask.dim() == 2 and q.dim() > 2:  # (B, S) key padding -> (B, 1, ..., 1, S)
            mask = mask.view(mask.size(0), *([1] * (q.dim() - 2)), mask.size(1))
    if is_causal:
        t, s = scores.shape[-2:]
        causal = torch.ones(t, s, dtype=torch.bool, device=scores.device).tril()  # (T, S)
        mask = causal if mask is None else mask & causal
    weights = masked_softmax(scores, mask, dim=-1)  # (..., T, S)
    return weights @ v, weights


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
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
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
        _check_tensor(query, "query", 3)
        _check_tensor(key, "key", 3)
        _check_tensor(value, "value", 3)
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.size(-1) != self.embed_dim or x.size(0) != query.size(0):
                raise ValueError(
                    f"{name} must have shape (B, L, embed_dim={self.embed_dim}), got {tuple(x.shape)}"
                )
        if key.shape != value.shape:
            raise ValueError(
                f"key and value must have the same shape, got {tuple(key.shape)} and "
                f"{tuple(value.shape)}"
            )
        if mask is not None:
            _check_mask(mask)
            if mask.shape != key.shape[:2]:
                raise ValueError(
                    f"mask must have shape (B, S) = {tuple(key.shape[:2])}, got {tuple(mask.shape)}"
                )
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)  # each (E, E)
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)  # each (E,)
        else:
            b_q = b_k = b_v = None
        q = self._split_heads(nn.functional.linear(query, w_q, b_q))  # (B, h, T, d_k)
        k = self._split_heads(nn.functional.linear(key, w_k, b_k))  # (B, h, S, d_k)
        v = self._split_heads(nn.functional.linear(value, w_v, b_v))  # (B, h, S, d_k)
        # (B, h, T, d_k) and (B, h, T, S); the (B, S) mask broadcasts over heads and steps
        heads, weights = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)
        batch, _, tgt_len, _ = heads.shape
        concat = heads.transpose(1, 2).reshape(batch, tgt_len, self.embed_dim)  # (B, T, h * d_k)
        return self.out_proj(concat), (weights.mean(dim=1) if average_weights else weights)
