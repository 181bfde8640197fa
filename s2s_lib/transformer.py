"""The Transformer's attention (Vaswani et al. 2017), built on the course's one attention path.

* :func:`scaled_dot_product_attention` -- ``softmax(Q K^T / sqrt(d)) V`` for many query
  steps at once, with a key-padding or causal mask (equal to ``F.scaled_dot_product_attention``);
* :class:`MultiHeadAttention` -- h heads from scratch with ``nn.MultiheadAttention``'s
  parameter layout, so weights copy between the two.

Both turn scores into weights with :func:`s2s_lib.attention.attend`, the same function the
RNN decoders use. Chapter "Attention" previews them; the Transformer chapter builds on them.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from s2s_lib.attention import attend
from s2s_lib.checks import check_int, check_mask, check_tensor

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention"]


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
        is_causal: also forbid query t to look at keys after position t.
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
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)  # each (E, E)
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)  # each (E,)
        else:
            b_q = b_k = b_v = None
        q = self._split_heads(nn.functional.linear(query, w_q, b_q))  # (B, h, T, d_k)
        k = self._split_heads(nn.functional.linear(key, w_k, b_k))  # (B, h, S, d_k)
        v = self._split_heads(nn.functional.linear(value, w_v, b_v))  # (B, h, S, d_k)
        # (B, h, T, d_k) and (B, h, T, S); the (B, S) mask broadcasts over heads and steps
        heads, weights = scaled_dot_product_attention(q, k, v, is_causal=is_causal, key_padding_mask=mask)
        batch, _, tgt_len, _ = heads.shape
        concat = heads.transpose(1, 2).reshape(batch, tgt_len, self.embed_dim)  # (B, T, h * d_k)
        return self.out_proj(concat), (weights.mean(dim=1) if average_weights else weights)
