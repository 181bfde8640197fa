"""Attention score functions behind one interface (Chapter "Attention: Bahdanau and Luong").

At every decoder step the decoder state (the *query*, (B, Hq)) is compared with every
encoder output (the *keys*, (B, S, Hk)). Each comparison gives a score; a softmax over the
source positions turns the scores into attention weights (B, S), and the context vector
is the weighted sum of the *values* (by default the encoder outputs themselves):

    a_s = softmax_s(score(q, k_s)),      c = sum_s a_s v_s

Padding positions get weight exactly 0: their scores are set to ``-inf`` before the softmax
(:func:`attend`). The score functions:

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

Every path from scores to weights and a context goes through :func:`attend` (also the
Transformer's, :mod:`s2s_lib.transformer`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from s2s_lib.checks import check_choice, check_int, check_mask, check_tensor
from s2s_lib.rnn import tanh

__all__ = ["SCORES", "attend", "Attention"]

SCORES = ("dot", "general", "concat", "additive", "scaled_dot")


def _weights(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax over the last dimension with masked scores set to -inf: THE attention weights."""
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


def attend(scores: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention weights and the context: ``a = softmax(scores)`` over the keys, ``c = a @ values``.

    The one path by which the library turns scores into weights and a context: every decoder
    (one step or the whole target at once), :class:`Attention`, and the Transformer's attention
    (:mod:`s2s_lib.transformer`) call it. It checks nothing (the callers checked their inputs
    once); keys with ``mask`` False get ``-inf`` scores, hence weight exactly 0.

    Args:
        scores: (..., T, S) unnormalised scores of T queries against S keys.
        values: (..., S, Hv) what is averaged.
        mask: bool, True on real keys, broadcastable to ``scores``; ``None``: all real.
    Returns:
        ``(context, weights)``: context (..., T, Hv) and weights (..., T, S), rows sum to 1.
    """
    weights = _weights(scores, mask)  # (..., T, S)
    return weights @ values, weights  # (..., T, S) @ (..., S, Hv) -> (..., T, Hv)


class Attention(nn.Module):
    """Attention with a choice of score function, for one decoder step or many at once.

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
        check_choice(score, "score", SCORES)
        query_dim, key_dim = check_int(query_dim, "query_dim"), check_int(key_dim, "key_dim")
        self.attn_dim = query_dim if attn_dim is None else check_int(attn_dim, "attn_dim")
        if score in ("dot", "scaled_dot") and query_dim != key_dim:
            raise ValueError(f"score={score!r} compares q and k directly and needs query_dim == key_dim, "
                             f"got query_dim={query_dim}, key_dim={key_dim} (use 'general' to map between them)")
        self.score, self.query_dim, self.key_dim = score, query_dim, key_dim
        if score == "general":
            self.W_a = nn.Linear(key_dim, query_dim, bias=False)  # k -> W_a k, (Hq x Hk)
        elif score == "concat":  # Luong: one matrix over [q; k]
            self.W_a = nn.Linear(query_dim + key_dim, self.attn_dim, bias=False)
            self.v_a = nn.Linear(self.attn_dim, 1, bias=False)
        elif score == "additive":  # Bahdanau: the same matrix in two blocks
            self.W_q = nn.Linear(query_dim, self.attn_dim, bias=False)
            self.U_k = nn.Linear(key_dim, self.attn_dim, bias=False)
            self.v_a = nn.Linear(self.attn_dim, 1, bias=False)

    @property
    def param_dtype(self) -> torch.dtype | None:
        """The dtype of the score's parameters (``None`` for dot and scaled_dot, which have none)."""
        return next((p.dtype for p in self.parameters()), None)

    def extra_repr(self) -> str:
        return (f"score={self.score!r}, query_dim={self.query_dim}, key_dim={self.key_dim}, "
                f"attn_dim={self.attn_dim}")

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """Precompute the part of the score that depends only on the keys.

        Call once per source sentence and pass the result as ``projected_keys`` at every
        decoder step; this saves one (S x Hk x A) product per step.

        Args:
            keys: (B, S, Hk) encoder outputs (assumed checked, as in :meth:`compute_scores`).
        Returns:
            ``general``: W_a k (B, S, Hq); ``concat``: the key block of W_a times k (B, S, A);
            ``additive``: U_k k (B, S, A); ``dot``/``scaled_dot``: ``keys`` unchanged.
        """
        if self.score == "general":
            return self.W_a(keys)  # (B, S, Hq)
        if self.score == "concat":
            # W_a [q; k] = W_a[:, :Hq] q + W_a[:, Hq:] k: the key block is fixed per sentence.
            return keys @ self.W_a.weight[:, self.query_dim :].T  # (B, S, A)
        if self.score == "additive":
            return self.U_k(keys)  # (B, S, A)
        return keys

    def compute_scores(self, query: torch.Tensor, keys: torch.Tensor,
                       projected_keys: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised scores score(q_t, k_s) of T queries against S keys: (B, T, S).

        Args:
            query: (B, T, Hq) decoder states (one decoder step: T = 1).
            keys: (B, S, Hk) encoder outputs.
            projected_keys: :meth:`project_keys` of ``keys`` (computed here if ``None``).

        :meth:`forward` checks its inputs and calls this; the decoders call it directly every
        step (:meth:`~s2s_lib.models.Seq2Seq.encode` checked their memory once).
        """
        keys_part = self.project_keys(keys) if projected_keys is None else projected_keys
        if self.score in ("dot", "scaled_dot", "general"):
            # dot: q . k; general: q^T (W_a k)  -- (B, T, H) @ (B, H, S) -> (B, T, S)
            scores = torch.bmm(query, keys_part.transpose(1, 2))
            return scores / math.sqrt(self.key_dim) if self.score == "scaled_dot" else scores
        # concat (Luong) v_a^T tanh(W_a [q; k]) and additive (Bahdanau) v_a^T tanh(W_q q + U_k k):
        # the query block of the matrix times q, plus the precomputed key block times k.
        query_part = (query @ self.W_a.weight[:, : self.query_dim].T if self.score == "concat"
                      else self.W_q(query))  # (B, T, A)
        return self.score_from_parts(query_part, keys_part)

    def score_from_parts(self, query_part: torch.Tensor, keys_part: torch.Tensor) -> torch.Tensor:
        """``v_a^T tanh(q_part + k_part)`` of the concat/additive scores: (B, T, A), (B, S, A) -> (B, T, S).

        :meth:`compute_scores` computes the query part as ``W_q q``; Bahdanau's teacher-forced
        pass computes it in one matmul with the RNN's recurrent gates (both read ``s_{t-1}``).
        """
        hidden = tanh(query_part.unsqueeze(2) + keys_part.unsqueeze(1))  # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A)
        return hidden @ self.v_a.weight[0]  # (B, T, S); a matrix-vector product (nn.Linear's backward is slower)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None,
                values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from one decoder step (or T steps) to all source positions.

        Args:
            query: (B, Hq) decoder state, or (B, T, Hq) for T steps at once.
            keys: (B, S, Hk) encoder outputs.
            mask: (B, S) bool, True on real source tokens (``Batch.src_mask``); ``None``: all real.
            values: (B, S, Hv) what is averaged (default: ``keys``).
        Returns:
            ``(context, weights)``: context (B, Hv) = weights @ values, and weights (B, S)
            summing to 1 over S, exactly 0 where ``mask`` is False; with a (B, T, Hq) query
            (B, T, Hv) and (B, T, S).
        """
        one_step = check_tensor(query, "query", dtype=self.param_dtype or "float").dim() == 2
        q = check_tensor(query.unsqueeze(1) if one_step else query, "query", shape=(None, None, self.query_dim))
        B, S, _ = check_tensor(keys, "keys", dtype=q.dtype, shape=(q.size(0), None, self.key_dim)).shape
        if mask is not None:
            check_mask(mask, "mask", shape=(B, S), every_row=True)
        values = keys if values is None else check_tensor(values, "values", dtype=q.dtype, shape=(B, S, None))
        context, weights = attend(self.compute_scores(q, keys), values,
                                  None if mask is None else mask.unsqueeze(1))  # (B, T, Hv), (B, T, S)
        return (context.squeeze(1), weights.squeeze(1)) if one_step else (context, weights)
