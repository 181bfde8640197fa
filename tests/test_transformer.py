"""The Transformer (s2s_lib.transformer) against torch's own layers, and its decoding interface."""
import math

import pytest
import torch
from torch import nn

from s2s_lib.batching import make_batches
from s2s_lib.decode import greedy_decode, sample_decode
from s2s_lib.tokenize import EOS_ID, SOS_ID
from s2s_lib.train import sequence_loss, train
from test_beam import assert_batched_equals_reference

from s2s_lib.transformer import (DecoderLayer, EncoderLayer, PositionalEncoding, Transformer, TransformerConfig,
                                 TransformerState, sinusoidal_positions, warmup_lr)

B, S, T, D, HEADS, FF = 3, 6, 5, 16, 4, 24
LENGTHS = torch.tensor([6, 4, 1])
MASK = torch.arange(S).unsqueeze(0) < LENGTHS.unsqueeze(1)  # (B, S) True on real tokens
TOL = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float64: dict(atol=1e-10, rtol=1e-10)}


def _randn(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).requires_grad_()


def _grads(module, *inputs):
    return [p.grad for p in module.parameters()] + [x.grad for x in inputs]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_layer_equals_torch_outputs_and_gradients(norm_first, dtype):
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    ours = EncoderLayer(D, HEADS, FF, dropout=0.0, norm_first=norm_first)
    ours.load_state_dict(reference.state_dict())  # same names, same layout
    reference, ours = reference.to(dtype), ours.to(dtype)
    x1, x2 = _randn(B, S, D, dtype=dtype, seed=1), _randn(B, S, D, dtype=dtype, seed=1)
    expected = reference(x1, src_key_padding_mask=~MASK)
    out = ours(x2, MASK)
    torch.testing.assert_close(out[MASK], expected[MASK], **TOL[dtype])
    g = _randn(B, S, D, dtype=dtype, seed=2).detach() * MASK.unsqueeze(2)  # a loss on the real positions
    (expected * g).sum().backward()
    (out * g).sum().backward()
    for a, b in zip(_grads(ours, x2), _grads(reference, x1)):
        torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_layer_equals_torch_with_causal_and_padding_masks(norm_first, dtype):
    torch.manual_seed(1)
    reference = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    ours = DecoderLayer(D, HEADS, FF, dropout=0.0, norm_first=norm_first)
    ours.load_state_dict(reference.state_dict())
    reference, ours = reference.to(dtype), ours.to(dtype)
    x1, x2 = _randn(B, T, D, dtype=dtype, seed=3), _randn(B, T, D, dtype=dtype, seed=3)
    m1, m2 = _randn(B, S, D, dtype=dtype, seed=4), _randn(B, S, D, dtype=dtype, seed=4)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch: True = may not attend
    expected = reference(x1, m1, tgt_mask=future, memory_key_padding_mask=~MASK)
    cross, self_w = [], []
    out = ours(x2, ours.multihead_attn.project_keys_values(m2, m2), MASK, weights=cross, self_weights=self_w)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    g = _randn(B, T, D, dtype=dtype, seed=5).detach()
    (expected * g).sum().backward()
    (out * g).sum().backward()
    for a, b in zip(_grads(ours, x2, m2), _grads(reference, x1, m1)):
        torch.testing.assert_close(a, b, **TOL[dtype])
    assert (self_w[0].detach().triu(1) == 0).all()  # no position sees a later one
    assert (cross[0].detach().permute(0, 3, 1, 2)[~MASK] == 0).all()  # nothing on source padding


def test_sinusoidal_positions_follow_the_formula_and_shift_by_a_rotation():
    pe = sinusoidal_positions(50, 8).double()
    for pos, i in [(0, 0), (7, 1), (49, 3)]:
        angle = pos / 10000 ** (2 * i / 8)
        assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    # PE[pos + k] is a rotation of PE[pos], the same for every pos: per frequency w, by the angle k w
    k = 5
    for i in range(4):
        w = 10000 ** (-2 * i / 8)
        rotation = torch.tensor([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]],
                                dtype=torch.float64)  # acts on (cos, sin)
        pairs = pe[:, [2 * i + 1, 2 * i]]  # (pos, 2): (cos, sin)
        torch.testing.assert_close(pairs[:-k] @ rotation.T, pairs[k:], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 5)
    with pytest.raises(ValueError, match="max_len"):
        PositionalEncoding(8, max_len=4)(torch.zeros(1, 5, 8))
    with pytest.raises(ValueError, match="kind"):
        PositionalEncoding(8, kind="rotary")


def _model(**kw):
    torch.manual_seed(0)
    config = dict(src_vocab_size=20, tgt_vocab_size=15, d_model=D, num_heads=HEADS, num_layers=2, ff_dim=FF,
                  dropout=0.0, max_len=40)
    return Transformer(**{**config, **kw}).eval()


SRC = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0], [4, 0, 0, 0, 0, 0]])


def test_without_positions_the_encoder_cannot_tell_word_order():
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    src = SRC[:1]
    for positional, same in [(None, True), ("sinusoidal", False), ("learned", False)]:
        model = _model(positional=positional)
        with torch.no_grad():
            out = model.encode(src, [6]).enc_out[0]
            shuffled = model.encode(src[:, order], [6]).enc_out[0]
        assert torch.allclose(shuffled, out[order], atol=1e-5) is same, positional


@pytest.mark.parametrize("norm_first", [True, False])
def test_incremental_decoding_equals_rerunning_the_decoder(norm_first):
    model = _model(norm_first=norm_first)
    tgt_in = torch.tensor([[SOS_ID, 5, 6, 7, 8], [SOS_ID, 9, 10, 0, 0], [SOS_ID, 11, 12, 13, 0]])
    with torch.no_grad():
        full = model(SRC, LENGTHS, tgt_in)  # (B, T, V), all positions at once
        memory = model.encode(SRC, LENGTHS)
        state, steps = memory.init_state, []
        for t in range(tgt_in.size(1)):
            step = model.decode_step(tgt_in[:, t], state, memory)
            steps.append(step.logits)
            state = step.state
            assert state.position == t + 1
            assert step.weights.shape == (B, S) and torch.allclose(step.weights.sum(1), torch.ones(B))
            assert (step.weights[~MASK] == 0).all()
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)
    # following a beam: reordering the state is reordering the sentences
    index = torch.tensor([2, 0, 0])
    picked = state.index_select(index)
    assert isinstance(picked, TransformerState) and picked.cache[0][0].shape[0] == 3
    torch.testing.assert_close(picked.cache[1][1], state.cache[1][1][index])


def test_greedy_sampling_and_batched_beam_search_drive_the_transformer():
    model = _model()
    greedy = greedy_decode(model, SRC, LENGTHS, 8)
    assert len(greedy.tokens) == B and greedy.attention[0].shape[1] == 6 and greedy.attention[2].shape[1] == 1
    sample_decode(model, SRC, LENGTHS, 8, generator=torch.Generator().manual_seed(0))
    assert_batched_equals_reference(model, SRC, LENGTHS, 8, beam_size=3, n_best=2)


def test_a_small_transformer_learns_to_reverse_sequences():
    g = torch.Generator().manual_seed(0)
    src = [torch.randint(4, 12, (int(n),), generator=g).tolist() for n in torch.randint(2, 7, (600,), generator=g)]
    tgt = [s[::-1] for s in src]
    batches = make_batches(src, tgt, 32, seed=0)
    torch.manual_seed(0)
    model = Transformer(12, 12, d_model=32, num_heads=4, num_layers=2, ff_dim=64, dropout=0.0, max_len=16)
    history = train(model, batches, epochs=30, lr=1e-3, progress=False)
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]
    test_src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0]])
    out = greedy_decode(model, test_src, torch.tensor([5, 3]), 8)
    assert out.tokens == [[8, 7, 6, 5, 4], [11, 10, 9]]
    loss = sequence_loss(model(test_src, torch.tensor([5, 3]), torch.tensor([[SOS_ID, 8, 7, 6, 5, 4],
                                                                            [SOS_ID, 11, 10, 9, 0, 0]])),
                         torch.tensor([[8, 7, 6, 5, 4, EOS_ID], [11, 10, 9, EOS_ID, 0, 0]]),
                         torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool))
    assert loss.item() < 0.1


def test_tied_embeddings_and_config():
    model = _model()
    assert model.out.weight is model.tgt_embedding.weight
    assert _model(tie_embeddings=False).out.weight is not _model(tie_embeddings=False).tgt_embedding.weight
    assert model.config.to_dict()["arch"] == "transformer"
    assert Transformer(model.config, dropout=0.2).config.dropout == 0.2
    assert _model(norm_first=False).encoder_norm is None


def test_warmup_schedule_rises_then_decays_as_in_the_paper():
    assert warmup_lr(4000, 512) == pytest.approx(512 ** -0.5 * 4000 ** -0.5)
    assert warmup_lr(1, 512) < warmup_lr(2000, 512) < warmup_lr(4000, 512)
    assert warmup_lr(16000, 512) == pytest.approx(warmup_lr(4000, 512) / 2)
    with pytest.raises(ValueError, match="step"):
        warmup_lr(0, 512)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="num_heads"):
        TransformerConfig(10, 10, d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="positional"):
        TransformerConfig(10, 10, positional="rotary")
    with pytest.raises(ValueError, match="dropout"):
        TransformerConfig(10, 10, dropout=1.0)
    model = _model()
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        model(SRC, LENGTHS, SRC[:, :3] % 15, teacher_forcing_ratio=0.5)
    memory = model.encode(SRC, LENGTHS)
    with pytest.raises(TypeError, match="state"):
        model.decode_step(torch.tensor([SOS_ID] * B), None, memory)
    with pytest.raises(ValueError, match="prev_tokens"):
        model.decode_step(torch.tensor([99] * B), memory.init_state, memory)
    with pytest.raises(ValueError, match="src"):
        model.encode(torch.full((1, 3), 25), [3])


def test_attention_maps_and_explorer_items_have_every_layer_and_head():
    from s2s_lib import views
    from s2s_lib.attention_study import transformer_attention_items
    from s2s_lib.tokenize import CharTokenizer

    model = _model()
    maps = model.attention_maps([5, 6, 7], [8, 9])
    assert [m.shape for m in maps["encoder"]] == [(HEADS, 3, 3)] * 2
    assert [m.shape for m in maps["decoder"]] == [(HEADS, 3, 3)] * 2 and (maps["decoder"][0][:, 0, 1:] == 0).all()
    assert [m.shape for m in maps["cross"]] == [(HEADS, 3, 3)] * 2
    with torch.no_grad():  # the cross-attention of the last position is what decode_step reports
        memory = model.encode(torch.tensor([[5, 6, 7]]), [3])
        state = memory.init_state
        for token in (SOS_ID, 8, 9):
            step = model.decode_step(torch.tensor([token]), state, memory)
            state = step.state
    assert torch.allclose(step.weights[0], torch.tensor(maps["cross"][-1][:, 2].mean(0)), atol=1e-6)
    tok = CharTokenizer(list("abcdefghijklmnopq"))
    items = transformer_attention_items(model, [5, 6, 7], [8, 9], tok, tok)
    assert items["cross"]["tgt_tokens"][-1] == "<eos>" and items["decoder"]["src_tokens"][0] == "<sos>"
    assert len(items["encoder"]["weights"]) == 2 * (HEADS + 1)
    for item in items.values():
        views.attention_explorer([item], title="t")
    with pytest.raises(TypeError, match="Transformer"):
        transformer_attention_items(object(), [5], [6], tok, tok)
