"""Tests for s2s_lib.attention: score functions, masking, SDPA and multi-head attention."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from s2s_lib.attention import SCORES, Attention, attend
from s2s_lib.transformer import MultiHeadAttention, scaled_dot_product_attention

B, S, HQ, HK = 3, 5, 6, 4
LENGTHS = torch.tensor([5, 3, 1])
MASK = torch.arange(S)[None, :] < LENGTHS[:, None]  # (B, S) True on real tokens


def _randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _make(score, query_dim=HQ, key_dim=HK, attn_dim=7, seed=0, dtype=torch.float32):
    if score in ("dot", "scaled_dot"):
        query_dim = key_dim
    torch.manual_seed(seed)
    return Attention(score, query_dim, key_dim, attn_dim).to(dtype), query_dim


# --- attend: the one path from scores to weights ---------------------------------------


def test_attend_zeros_masked_positions_exactly():
    scores = _randn(B, 1, S) * 50
    values = _randn(B, S, 3, seed=1)
    context, weights = attend(scores, values, MASK[:, None, :])
    assert (weights[:, 0][~MASK] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, 1))
    for b, n in enumerate(LENGTHS.tolist()):  # same as a softmax over the real prefix only
        torch.testing.assert_close(weights[b, 0, :n], torch.softmax(scores[b, 0, :n], -1))
    torch.testing.assert_close(context, weights @ values)
    torch.testing.assert_close(attend(scores, values)[1], torch.softmax(scores, -1))


def test_the_only_softmax_of_attention_weights_is_in_attend():
    """Every decoder, Attention.forward and the Transformer's attention reach weights through attend:
    the only softmax call in these modules is the one inside attention._weights."""
    import ast
    from pathlib import Path

    package = Path(attend.__code__.co_filename).parent
    calls = []
    for module in ("attention.py", "models.py", "transformer.py", "beam.py", "decode.py"):
        tree = ast.parse((package / module).read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef):
                for node in ast.walk(fn):
                    name = getattr(getattr(node, "func", None), "attr", getattr(getattr(node, "func", None), "id", ""))
                    if isinstance(node, ast.Call) and name in ("softmax", "masked_softmax"):
                        calls.append(f"{module}:{fn.name}")
    assert sorted(set(calls)) == ["attention.py:_weights"], calls


def test_forward_rejects_empty_rows_and_bad_masks():
    attn, query_dim = _make("general")
    query, keys = _randn(B, query_dim), _randn(B, S, HK)
    mask = MASK.clone()
    mask[2] = False
    with pytest.raises(ValueError, match="no real position"):
        attn(query, keys, mask=mask)
    with pytest.raises(TypeError, match="mask"):
        attn(query, keys, mask=MASK.long())


def test_many_queries_at_once_equal_one_query_at_a_time():
    for score in SCORES:
        attn, query_dim = _make(score, dtype=torch.float64)
        queries = _randn(B, 4, query_dim, seed=20, dtype=torch.float64)  # (B, T, Hq)
        keys = _randn(B, S, HK, seed=21, dtype=torch.float64)
        context, weights = attn(queries, keys, mask=MASK)  # (B, T, Hk), (B, T, S)
        for t in range(4):
            c_t, w_t = attn(queries[:, t], keys, mask=MASK)
            torch.testing.assert_close(w_t, weights[:, t])
            torch.testing.assert_close(c_t, context[:, t])


def test_chapter_6s_hand_computation_equals_the_library():
    """The attention chapter computes Bahdanau's first step by hand (scores, masked softmax with
    chapter 5's softmax, context); the decoder's step must give the same weights."""
    from s2s_lib.models import Seq2Seq
    from s2s_lib.softmax import softmax
    from s2s_lib.tokenize import PAD_ID, SOS_ID

    torch.manual_seed(0)
    model = Seq2Seq(20, 20, emb_dim=8, hidden_dim=16, attention="bahdanau").eval()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, PAD_ID, PAD_ID]])
    with torch.no_grad():
        memory = model.encode(src, torch.tensor([4, 2]))
        attn, keys = model.decoder.attention, memory.enc_out
        query = memory.init_state.hidden[-1]  # s_0
        hidden = torch.tanh(attn.W_q(query).unsqueeze(1) + attn.U_k(keys))  # (B, S, A)
        scores = attn.v_a(hidden).squeeze(-1)  # (B, S)
        weights = softmax(scores.masked_fill(~memory.src_mask, float("-inf")))  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, H)
        step = model.decode_step(torch.full((2,), SOS_ID), memory.init_state, memory)
        c_module, w_module = attn(query, keys, mask=memory.src_mask)
    torch.testing.assert_close(step.weights, weights)
    torch.testing.assert_close(w_module, weights)
    torch.testing.assert_close(c_module, context)


# --- Attention: every score -----------------------------------------------------------


@pytest.mark.parametrize("score", SCORES)
def test_weights_are_a_masked_distribution_and_context_is_their_average(score):
    attn, query_dim = _make(score)
    query, keys, values = _randn(B, query_dim, seed=1), _randn(B, S, HK, seed=2), _randn(B, S, 9, seed=3)
    context, weights = attn(query, keys, mask=MASK, values=values)
    assert context.shape == (B, 9) and weights.shape == (B, S)
    assert (weights[~MASK] == 0).all()
    assert (weights[MASK] > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B))
    torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", weights, values))
    # The sentence of length 1 puts all its weight on its one word.
    torch.testing.assert_close(weights[2], torch.tensor([1.0, 0, 0, 0, 0]))
    # values default to keys
    context_k, _ = attn(query, keys, mask=MASK)
    torch.testing.assert_close(context_k, torch.einsum("bs,bsh->bh", weights, keys))


@pytest.mark.parametrize("score", SCORES)
def test_padding_content_does_not_matter(score):
    attn, query_dim = _make(score)
    query, keys = _randn(B, query_dim, seed=4), _randn(B, S, HK, seed=5)
    noisy = keys.clone()
    noisy[~MASK] = 1e3 * _randn(int((~MASK).sum()), HK, seed=6)
    c1, w1 = attn(query, keys, mask=MASK)
    c2, w2 = attn(query, noisy, mask=MASK)
    torch.testing.assert_close(w1, w2)
    torch.testing.assert_close(c1, c2)


@pytest.mark.parametrize("score", SCORES)
def test_project_keys_gives_the_same_result_as_inline(score):
    attn, query_dim = _make(score, dtype=torch.float64)
    query = _randn(B, query_dim, seed=7, dtype=torch.float64)
    keys = _randn(B, S, HK, seed=8, dtype=torch.float64)
    projected = attn.project_keys(keys)  # once per sentence, as Seq2Seq.encode does
    c_inline, w_inline = attn(query, keys, mask=MASK)
    c_pre, w_pre = attend(attn.compute_scores(query[:, None], keys, projected), keys, MASK[:, None])
    torch.testing.assert_close(w_pre[:, 0], w_inline)
    torch.testing.assert_close(c_pre[:, 0], c_inline)


def test_scores_follow_the_equations():
    q, k = _randn(B, HK, seed=9, dtype=torch.float64), _randn(B, S, HK, seed=10, dtype=torch.float64)
    dot, _ = _make("dot", dtype=torch.float64)
    torch.testing.assert_close(dot.compute_scores(q[:, None], k)[:, 0], (k * q[:, None, :]).sum(-1))
    scaled, _ = _make("scaled_dot", dtype=torch.float64)
    torch.testing.assert_close(scaled.compute_scores(q[:, None], k)[:, 0], (k * q[:, None, :]).sum(-1) / math.sqrt(HK))

    q = _randn(B, HQ, seed=11, dtype=torch.float64)
    general, _ = _make("general", dtype=torch.float64)
    expected = torch.einsum("bq,qk,bsk->bs", q, general.W_a.weight, k)  # q^T W_a k
    torch.testing.assert_close(general.compute_scores(q[:, None], k)[:, 0], expected)

    additive, _ = _make("additive", dtype=torch.float64)
    # v_a^T tanh(W_q q + U_k k)
    hidden = torch.tanh((q @ additive.W_q.weight.T)[:, None] + k @ additive.U_k.weight.T)
    expected = (hidden @ additive.v_a.weight.T).squeeze(-1)
    torch.testing.assert_close(additive.compute_scores(q[:, None], k)[:, 0], expected)

    concat, _ = _make("concat", dtype=torch.float64)
    for b in range(B):
        for s in range(S):
            qk = torch.cat([q[b], k[b, s]])  # [q; k]
            expected = concat.v_a.weight[0] @ torch.tanh(concat.W_a.weight @ qk)
            torch.testing.assert_close(concat.compute_scores(q[:, None], k)[:, 0][b, s], expected)


def test_concat_is_additive_with_w_a_split_in_two_blocks():
    concat, _ = _make("concat", dtype=torch.float64)
    additive, _ = _make("additive", seed=1, dtype=torch.float64)
    with torch.no_grad():
        additive.W_q.weight.copy_(concat.W_a.weight[:, :HQ])
        additive.U_k.weight.copy_(concat.W_a.weight[:, HQ:])
        additive.v_a.weight.copy_(concat.v_a.weight)
    q, k = _randn(B, HQ, seed=12, dtype=torch.float64), _randn(B, S, HK, seed=13, dtype=torch.float64)
    torch.testing.assert_close(additive.compute_scores(q[:, None], k)[:, 0], concat.compute_scores(q[:, None], k)[:, 0])


def test_dot_attention_picks_the_matching_key():
    attn = Attention("dot", 4, 4)
    keys = 10 * torch.eye(4).unsqueeze(0)  # (1, 4, 4): one-hot keys
    context, weights = attn(keys[:, 2], keys)
    assert weights.argmax(-1).item() == 2 and weights[0, 2] > 0.999
    torch.testing.assert_close(context, keys[:, 2], atol=1e-3, rtol=0)


@pytest.mark.parametrize("score", ["additive", "general", "concat"])
def test_gradcheck(score):
    attn, query_dim = _make(score, query_dim=3, key_dim=2, attn_dim=4, dtype=torch.float64)
    query = _randn(2, 3, seed=14, dtype=torch.float64).requires_grad_()
    keys = _randn(2, 3, 2, seed=15, dtype=torch.float64).requires_grad_()
    mask = torch.tensor([[True, True, True], [True, True, False]])
    assert torch.autograd.gradcheck(lambda q, k: attn(q, k, mask=mask), (query, keys))
    context, _ = attn(query, keys, mask=mask)
    context.sum().backward()
    for name, param in attn.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"score must be one of .*'dot'.*'additive'"):
        Attention("bahdanau", 4, 4)
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        Attention("dot", 6, 4)
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        Attention("scaled_dot", 6, 4)
    with pytest.raises(TypeError, match="key_dim"):
        Attention("general", 4, 4.0)
    with pytest.raises(ValueError, match="attn_dim"):
        Attention("additive", 4, 4, attn_dim=0)


def test_forward_errors_name_the_argument():
    attn = Attention("additive", HQ, HK, 7)
    query, keys = _randn(B, HQ), _randn(B, S, HK)
    with pytest.raises(ValueError, match="query"):
        attn(_randn(B, HQ + 1), keys)
    with pytest.raises(ValueError, match="query"):
        attn(_randn(B, 1, 1, HQ), keys)
    with pytest.raises(TypeError, match="query"):
        attn(query.tolist(), keys)
    with pytest.raises(ValueError, match="keys"):
        attn(query, _randn(B, S, HK + 1))
    with pytest.raises(ValueError, match="keys"):
        attn(query, _randn(B + 1, S, HK))
    with pytest.raises(ValueError, match="mask"):
        attn(query, keys, mask=MASK[:, :-1])
    with pytest.raises(TypeError, match="mask"):
        attn(query, keys, mask=MASK.float())
    with pytest.raises(ValueError, match="values"):
        attn(query, keys, values=_randn(B, S - 1, 3))
    empty = MASK.clone()
    empty[0] = False
    with pytest.raises(ValueError, match="mask"):
        attn(query, keys, mask=empty)


# --- scaled dot-product and multi-head attention ---------------------------------------


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_matches_torch(use_mask, is_causal):
    q, k, v = _randn(B, S, 8, seed=20), _randn(B, S, 8, seed=21), _randn(B, S, 3, seed=22)
    mask = MASK if use_mask else None
    out, weights = scaled_dot_product_attention(q, k, v, is_causal=is_causal, key_padding_mask=mask)
    torch_mask = MASK[:, None, :] if use_mask else None  # (B, 1, S), True = take part
    if is_causal:
        causal = torch.ones(S, S, dtype=torch.bool).tril()
        torch_mask = causal if torch_mask is None else torch_mask & causal
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=torch_mask)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out, weights @ v)
    if use_mask:
        assert (weights.transpose(1, 2)[~MASK] == 0).all()
    if is_causal:
        assert (weights.triu(diagonal=1) == 0).all()


def test_sdpa_with_heads_and_different_lengths():
    q, k, v = _randn(2, 3, 4, 8, seed=23), _randn(2, 3, 6, 8, seed=24), _randn(2, 3, 6, 5, seed=25)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])  # (B, S)
    out, weights = scaled_dot_product_attention(q, k, v, key_padding_mask=mask)
    assert out.shape == (2, 3, 4, 5) and weights.shape == (2, 3, 4, 6)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    torch.testing.assert_close(out, expected)


def test_sdpa_errors():
    q = _randn(B, S, 8)
    with pytest.raises(ValueError, match="k must"):
        scaled_dot_product_attention(q, _randn(B, S, 7), _randn(B, S, 8))
    with pytest.raises(ValueError, match="v must"):
        scaled_dot_product_attention(q, q, _randn(B, S + 1, 8))
    with pytest.raises(TypeError, match="key_padding_mask"):
        scaled_dot_product_attention(q, q, q, key_padding_mask=MASK.int())
    with pytest.raises(ValueError, match="key_padding_mask"):
        scaled_dot_product_attention(q, q, q, key_padding_mask=MASK[:, :3])


def test_sdpa_takes_a_time_by_time_mask_like_torch():
    # a (T, S) mask is an attention mask, never mistaken for a (B, S) padding mask (here B == T)
    q, k, v = _randn(S, S, 8, seed=26), _randn(S, S, 8, seed=27), _randn(S, S, 3, seed=28)
    allowed = torch.rand(S, S, generator=torch.Generator().manual_seed(1)) > 0.4
    allowed[:, 0] = True  # every query may attend somewhere
    out, _ = scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=allowed))


@pytest.mark.parametrize("bias", [True, False])
def test_multi_head_attention_matches_torch(bias):
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(12, num_heads=3, bias=bias, batch_first=True).eval()
    ours = MultiHeadAttention(12, num_heads=3, bias=bias)
    ours.load_state_dict(reference.state_dict())  # same parameter names and layout
    query, memory = _randn(B, 4, 12, seed=30), _randn(B, S, 12, seed=31)
    out, weights = ours(query, memory, memory, mask=MASK)
    expected, expected_weights = reference(query, memory, memory, key_padding_mask=~MASK)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights, expected_weights)
    assert (weights.transpose(1, 2)[~MASK] == 0).all()
    _, per_head = ours(query, memory, memory, mask=MASK, average_weights=False)
    _, expected_per_head = reference(
        query, memory, memory, key_padding_mask=~MASK, average_attn_weights=False
    )
    torch.testing.assert_close(per_head, expected_per_head)


def test_multi_head_self_attention_causal_matches_torch():
    torch.manual_seed(1)
    reference = nn.MultiheadAttention(8, num_heads=2, batch_first=True).eval()
    ours = MultiHeadAttention(8, num_heads=2)
    ours.load_state_dict(reference.state_dict())
    x = _randn(B, S, 8, seed=32)
    future = torch.ones(S, S, dtype=torch.bool).triu(1)  # torch: True = not allowed
    expected, _ = reference(x, x, x, attn_mask=future)
    out, weights = ours(x, x, x, is_causal=True)
    torch.testing.assert_close(out, expected)
    assert (weights.triu(1) == 0).all()


def test_multi_head_attention_errors():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="embed_dim"):
        MultiHeadAttention(0, 1)
    mha = MultiHeadAttention(8, 2)
    x = _randn(B, S, 8)
    with pytest.raises(ValueError, match="query"):
        mha(_randn(B, S, 6), x, x)
    with pytest.raises(ValueError, match="value .shaped like key"):
        mha(x, x, _randn(B, S + 1, 8))
    with pytest.raises(ValueError, match="mask"):
        mha(x, x, x, mask=MASK[:, :3])
