"""Tests for s2s_lib.models: fast paths == step-by-step, padding, attention queries, coins, validation."""
import pytest
import torch

from s2s_lib.batching import make_batch
from s2s_lib.models import DecoderState, Memory, Seq2Seq, count_parameters, reverse_real_tokens
from s2s_lib.tokenize import PAD_ID, SOS_ID

SRC_V, TGT_V = 30, 25

CONFIGS = [
    dict(attention=None),
    dict(attention=None, cell="lstm"),
    dict(attention=None, cell="lstm", bidirectional=True, num_layers=2),
    dict(attention="bahdanau"),
    dict(attention="bahdanau", cell="lstm", bidirectional=True),
    dict(attention="bahdanau", cell="lstm"),
    dict(attention="bahdanau", num_layers=2),
    dict(attention="dot"),
    dict(attention="general"),
    dict(attention="concat"),
    dict(attention="general", cell="lstm", num_layers=2, bidirectional=True),
    dict(attention="concat", input_feeding=True),
    dict(attention="dot", cell="lstm", input_feeding=True, num_layers=2),
]


def ids(cfg):
    return "-".join(f"{k}={v}" for k, v in cfg.items())


def make_model(seed=0, **cfg):
    torch.manual_seed(seed)
    return Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, **cfg).eval()


def make_inputs(seed=0, B=5, S=7, T=6):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([S, 3, 5, 1, 6][:B])
    src = torch.randint(4, SRC_V, (B, S), generator=g)
    for i, n in enumerate(lengths.tolist()):
        src[i, n:] = PAD_ID
    tgt_in = torch.randint(4, TGT_V, (B, T), generator=g)
    tgt_in[:, 0] = SOS_ID
    return src, lengths, tgt_in


def stepwise_logits(model, src, lengths, tgt_in):
    """Logits from calling decode_step once per time step with the reference inputs."""
    memory = model.encode(src, lengths)
    state, out = memory.init_state, []
    for t in range(tgt_in.size(1)):
        step = model.decode_step(tgt_in[:, t], state, memory)
        out.append(step.logits)
        state = step.state
    return torch.stack(out, dim=1)


FAST_PATHS = [dict(attention="bahdanau"), dict(attention="bahdanau", cell="lstm"),
              dict(attention="bahdanau", bidirectional=True), dict(attention="bahdanau", attn_dim=12, dropout=0.5)]


@pytest.mark.parametrize("cfg", FAST_PATHS, ids=ids)
def test_bahdanau_run_equals_a_loop_over_step_values_weights_and_gradients(cfg):
    """BahdanauDecoder.run (the loop rearranged for speed) == Decoder.run (a loop over step), in float64."""
    results = []
    for run in ("fast", "loop"):
        model = make_model(**cfg).double().train()  # train mode: dropout draws must match too
        src, lengths, tgt_in = make_inputs()
        torch.manual_seed(1)
        memory = model.encode(src, lengths)
        emb = model.decoder.embed(tgt_in)
        decoder_run = model.decoder.run if run == "fast" else super(type(model.decoder), model.decoder).run
        features, weights = decoder_run(emb, memory)
        logits = model.decoder.project(features)
        (logits.sin().sum() + (weights * torch.arange(7.0, dtype=torch.float64)).sum()).backward()
        results.append((logits.detach(), weights.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (fast, fast_w, fast_g), (loop, loop_w, loop_g) = results
    torch.testing.assert_close(fast, loop, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast_w, loop_w, rtol=1e-10, atol=1e-10)
    assert fast_g.keys() == loop_g.keys()
    for name in fast_g:
        torch.testing.assert_close(fast_g[name], loop_g[name], rtol=1e-9, atol=1e-10, msg=name)


def test_unpacked_encoder_equals_packed_values_and_gradients():
    """A 1-layer unidirectional GRU encoder runs over the padding; outputs, final state and grads = packing."""
    results = []
    for unpacked in (True, False):
        model = make_model().double()
        assert model.encoder.reads_padding_exactly
        model.encoder.reads_padding_exactly = unpacked
        src, lengths, _ = make_inputs()
        enc_out, final = model.encoder(src, lengths)
        (enc_out.cos().sum() + final.sin().sum()).backward()
        results.append((enc_out.detach(), final.detach(), {n: p.grad for n, p in model.encoder.named_parameters()}))
    (out_a, fin_a, g_a), (out_b, fin_b, g_b) = results
    torch.testing.assert_close(out_a, out_b, rtol=1e-12, atol=1e-12)
    assert out_a[3, 1:].abs().max() == 0  # padding stays exactly zero
    torch.testing.assert_close(fin_a, fin_b, rtol=1e-12, atol=1e-12)
    for name in g_a:
        torch.testing.assert_close(g_a[name], g_b[name], rtol=1e-10, atol=1e-12, msg=name)
    for cfg in (dict(cell="lstm"), dict(num_layers=2), dict(bidirectional=True)):
        assert not make_model(**cfg).encoder.reads_padding_exactly, cfg  # these must pack


@pytest.mark.parametrize("cfg", CONFIGS, ids=ids)
def test_fast_teacher_forcing_path_equals_step_by_step(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs()
    with torch.no_grad():
        fast = model(src, lengths, tgt_in)
        slow = stepwise_logits(model, src, lengths, tgt_in)
    assert fast.shape == (5, 6, TGT_V)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cfg", CONFIGS[::2], ids=ids)
def test_free_running_forward_feeds_own_argmax(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs()
    with torch.no_grad():
        free, coins = model(src, lengths, tgt_in, teacher_forcing_ratio=0.0, return_coins=True)
        memory = model.encode(src, lengths)
        state, prev, out = memory.init_state, tgt_in[:, 0], []
        for _ in range(tgt_in.size(1)):
            step = model.decode_step(prev, state, memory)
            out.append(step.logits)
            state, prev = step.state, step.logits.argmax(-1)
    torch.testing.assert_close(free, torch.stack(out, 1), rtol=1e-5, atol=1e-5)
    assert not coins[:, 1:].any() and coins[:, 0].all()


@pytest.mark.parametrize("cfg", [dict(attention=None), dict(attention="bahdanau"), dict(attention="general")],
                         ids=ids)
def test_mixed_teacher_forcing_uses_the_recorded_coins(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs(T=9)
    with torch.no_grad():
        mixed, coins = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5,
                             generator=torch.Generator().manual_seed(3), return_coins=True)
        memory = model.encode(src, lengths)
        state, prev, out = memory.init_state, tgt_in[:, 0], []
        for t in range(tgt_in.size(1)):
            step = model.decode_step(prev, state, memory)
            out.append(step.logits)
            state = step.state
            if t + 1 < tgt_in.size(1):
                prev = torch.where(coins[:, t + 1], tgt_in[:, t + 1], step.logits.argmax(-1))
    torch.testing.assert_close(mixed, torch.stack(out, 1), rtol=1e-5, atol=1e-5)
    # the coins really mixed both kinds of input in this batch
    assert coins[:, 1:].any() and not coins[:, 1:].all()


@pytest.mark.parametrize("cfg", [dict(attention=None), dict(attention="general", cell="lstm")], ids=ids)
def test_given_coins_replay_a_call_exactly(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs(T=9)
    with torch.no_grad():
        mixed, coins = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5,
                             generator=torch.Generator().manual_seed(3), return_coins=True)
        replay, same_coins = model(src, lengths, tgt_in, coins=coins, return_coins=True)
        forced = model(src, lengths, tgt_in, coins=torch.ones_like(coins))
        fast = model(src, lengths, tgt_in)
    assert torch.equal(replay, mixed) and same_coins is coins
    torch.testing.assert_close(forced, fast, rtol=1e-5, atol=1e-5)  # all heads = teacher forcing


def test_given_coins_are_checked():
    model = make_model(attention=None)
    src, lengths, tgt_in = make_inputs(T=6)
    coins = torch.ones(tgt_in.shape, dtype=torch.bool)
    with pytest.raises(TypeError, match="coins"):
        model(src, lengths, tgt_in, coins=coins.int())
    with pytest.raises(ValueError, match="coins"):
        model(src, lengths, tgt_in, coins=coins[:, :3])
    with pytest.raises(ValueError, match="not both"):
        model(src, lengths, tgt_in, teacher_forcing_ratio=0.5, coins=coins)
    with pytest.raises(ValueError, match="not both"):
        model(src, lengths, tgt_in, generator=torch.Generator(), coins=coins)
    bad = coins.clone()
    bad[1, 0] = False
    with pytest.raises(ValueError, match=r"coins\[:, 0\]"):
        model(src, lengths, tgt_in, coins=bad)


def test_teacher_forcing_coins_are_per_step_and_per_sentence():
    model = make_model(attention=None)
    src, lengths, _ = make_inputs(B=5)
    B, T = 5, 40
    tgt_in = torch.full((B, T), 5, dtype=torch.long)
    tgt_in[:, 0] = SOS_ID
    g = torch.Generator().manual_seed(0)
    fractions, all_coins = [], []
    with torch.no_grad():
        for _ in range(20):
            _, coins = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5, generator=g, return_coins=True)
            coins = coins[:, 1:]
            all_coins.append(coins)
            fractions.append(coins.float().mean().item())
    coins = torch.cat(all_coins)  # (100, 39)
    frac = coins.float().mean().item()
    # 3900 fair coins: the standard deviation of the fraction is 0.008
    assert abs(frac - 0.5) < 0.04
    # within a sentence the coin changes from step to step (not one coin per sentence)
    changes_within = (coins[:, 1:] != coins[:, :-1]).any(dim=1)
    assert changes_within.all()
    # at one step, sentences get different coins (not one coin per batch step)
    assert (coins.any(dim=0) & ~coins.all(dim=0)).float().mean() > 0.9
    # different ratios -> different fractions
    with torch.no_grad():
        _, coins = model(src, lengths, tgt_in, teacher_forcing_ratio=0.9, generator=g, return_coins=True)
    assert coins[:, 1:].float().mean() > 0.75


def test_coins_are_reproducible_with_a_generator():
    model = make_model(attention="bahdanau")
    src, lengths, tgt_in = make_inputs()
    with torch.no_grad():
        a, coins_a = model(src, lengths, tgt_in, 0.5, torch.Generator().manual_seed(7), return_coins=True)
        b, coins_b = model(src, lengths, tgt_in, 0.5, torch.Generator().manual_seed(7), return_coins=True)
    assert torch.equal(a, b) and torch.equal(coins_a, coins_b)
    assert not hasattr(model, "teacher_forcing_coins")  # returned when asked, never stored


@pytest.mark.parametrize("cfg", CONFIGS, ids=ids)
def test_padding_never_enters_the_model(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs()
    noisy = src.clone()
    pad = noisy == PAD_ID
    noisy[pad] = torch.randint(4, SRC_V, (int(pad.sum()),))
    with torch.no_grad():
        a = model(src, lengths, tgt_in)
        b = model(noisy, lengths, tgt_in)
        # the same sentence alone (no padding at all) gives the same logits
        alone = model(src[1:2, :3], lengths[1:2], tgt_in[1:2])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[1:2], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c["attention"]], ids=ids)
def test_attention_weights_are_distributions_over_real_tokens(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs()
    with torch.no_grad():
        memory = model.encode(src, lengths)
        step = model.decode_step(tgt_in[:, 0], memory.init_state, memory)
    w = step.weights
    assert w.shape == src.shape
    torch.testing.assert_close(w.sum(-1), torch.ones(5))
    assert (w[~memory.src_mask] == 0).all()


def test_context_model_has_no_attention_weights():
    model = make_model(attention=None)
    src, lengths, tgt_in = make_inputs()
    memory = model.encode(src, lengths)
    assert model.decode_step(tgt_in[:, 0], memory.init_state, memory).weights is None
    assert not model.has_attention and memory.proj_keys is None


class _QueryRecorder:
    """Wraps ``Attention.compute_scores`` of a model to record the queries it is given."""

    def __init__(self, model):
        self.attention = model.decoder.attention
        self.original = self.attention.compute_scores
        self.seen = []

        def record(query, keys, projected_keys=None):
            self.seen.append(query.detach().clone()[:, 0])  # (B, T=1, H) for one step
            return self.original(query, keys, projected_keys)

        self.attention.compute_scores = record

    def remove(self):
        del self.attention.compute_scores  # back to the class method


def _capture_queries(model):
    recorder = _QueryRecorder(model)
    return recorder.seen, recorder


def test_bahdanau_query_is_the_previous_state():
    model = make_model(attention="bahdanau")
    src, lengths, tgt_in = make_inputs()
    memory = model.encode(src, lengths)
    seen, handle = _capture_queries(model)
    with torch.no_grad():
        step = model.decode_step(tgt_in[:, 0], memory.init_state, memory)
    handle.remove()
    torch.testing.assert_close(seen[0], memory.init_state.hidden[-1])  # s_{t-1}
    assert not torch.allclose(seen[0], step.state.hidden[-1])


def test_luong_query_is_the_current_rnn_output():
    model = make_model(attention="general")
    src, lengths, tgt_in = make_inputs()
    memory = model.encode(src, lengths)
    seen, handle = _capture_queries(model)
    with torch.no_grad():
        step = model.decode_step(tgt_in[:, 0], memory.init_state, memory)
    handle.remove()
    torch.testing.assert_close(seen[0], step.state.hidden[-1])  # h_t, after the RNN step
    assert not torch.allclose(seen[0], memory.init_state.hidden[-1])


def test_input_feeding_state_carries_the_attentional_vector():
    model = make_model(attention="general", input_feeding=True)
    src, lengths, tgt_in = make_inputs()
    memory = model.encode(src, lengths)
    assert torch.equal(memory.init_state.feed, torch.zeros(5, 16))
    step = model.decode_step(tgt_in[:, 0], memory.init_state, memory)
    assert step.state.feed.shape == (5, 16) and step.state.feed.abs().sum() > 0
    # feeding a different h~_{t-1} changes the next step
    other = DecoderState(step.state.hidden, step.state.cell, torch.zeros_like(step.state.feed))
    a = model.decode_step(tgt_in[:, 1], step.state, memory).logits
    b = model.decode_step(tgt_in[:, 1], other, memory).logits
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("cfg", CONFIGS[::3], ids=ids)
def test_index_select_follows_sentences(cfg):
    model = make_model(**cfg)
    src, lengths, tgt_in = make_inputs()
    with torch.no_grad():
        memory = model.encode(src, lengths)
        step = model.decode_step(tgt_in[:, 0], memory.init_state, memory)
        index = torch.tensor([3, 3, 0])
        sub_mem = memory.index_select(index)
        assert isinstance(sub_mem, Memory) and sub_mem.batch_size == 3
        full = model.decode_step(tgt_in[:, 1], step.state, memory).logits[index]
        sub = model.decode_step(tgt_in[index, 1], step.state.index_select(index), sub_mem).logits
    torch.testing.assert_close(full, sub, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cfg", [dict(attention=None), dict(attention="bahdanau"),
                                 dict(attention="concat", input_feeding=True, bidirectional=True,
                                      cell="lstm")], ids=ids)
def test_every_parameter_gets_a_gradient(cfg):
    model = make_model(**cfg).train()
    src, lengths, tgt_in = make_inputs()
    model(src, lengths, tgt_in).sum().backward()
    for name, p in model.named_parameters():
        if name.startswith("decoder.embedding") or name.startswith("encoder.embedding"):
            continue  # embedding rows of unused ids get zero, but the tensor has a grad
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_dropout_is_off_in_eval_and_on_in_train():
    torch.manual_seed(0)
    model = Seq2Seq(SRC_V, TGT_V, 8, 16, attention="bahdanau", dropout=0.5)
    src, lengths, tgt_in = make_inputs()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(src, lengths, tgt_in), model(src, lengths, tgt_in))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(src, lengths, tgt_in), model(src, lengths, tgt_in))


def test_config_rebuilds_the_same_architecture():
    model = Seq2Seq(SRC_V, TGT_V, 8, 16, cell="lstm", attention="concat", num_layers=2,
                    dropout=0.1, input_feeding=True, bidirectional=True, attn_dim=12)
    clone = Seq2Seq(model.config)
    assert clone.config == model.config and Seq2Seq(**model.config.to_dict()).config == model.config
    assert {k: v.shape for k, v in clone.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    clone.load_state_dict(model.state_dict())  # strict
    assert count_parameters(clone) == count_parameters(model) > 0


@pytest.mark.parametrize(
    "change, error, word",
    [
        (lambda s, l, t: (s.float(), l, t), TypeError, "src"),
        (lambda s, l, t: (s.int(), l, t), TypeError, "src"),
        (lambda s, l, t: (s[0], l, t), ValueError, "src"),
        (lambda s, l, t: (s[:0], l[:0], t[:0]), ValueError, "src"),
        (lambda s, l, t: (s + SRC_V, l, t), ValueError, "src"),
        (lambda s, l, t: (s, l[:-1], t), ValueError, "src_lengths"),
        (lambda s, l, t: (s, l.float(), t), TypeError, "src_lengths"),
        (lambda s, l, t: (s, [7.0, 3.0, 5.0, 1.0, 6.0], t), TypeError, "src_lengths"),
        (lambda s, l, t: (s, l * 0, t), ValueError, "src_lengths"),
        (lambda s, l, t: (s, l + 5, t), ValueError, "src_lengths"),
        (lambda s, l, t: (s, l, t.float()), TypeError, "tgt_in"),
        (lambda s, l, t: (s, l, t[:, :0]), ValueError, "tgt_in"),
        (lambda s, l, t: (s, l, t[:2]), ValueError, "tgt_in"),
        (lambda s, l, t: (s, l, t - 10), ValueError, "tgt_in"),
    ],
)
def test_forward_rejects_bad_inputs(change, error, word):
    model = make_model(attention="general")
    src, lengths, tgt_in = change(*make_inputs())
    with pytest.raises(error, match=word):
        model(src, lengths, tgt_in)


@pytest.mark.parametrize("ratio, error", [(1.5, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                          ("0.5", TypeError), (True, TypeError), (None, TypeError)])
def test_forward_rejects_bad_teacher_forcing_ratio(ratio, error):
    model = make_model()
    with pytest.raises(error, match="teacher_forcing_ratio"):
        model(*make_inputs(), teacher_forcing_ratio=ratio)


def test_forward_rejects_bad_generator():
    with pytest.raises(TypeError, match="generator"):
        make_model()(*make_inputs(), teacher_forcing_ratio=0.5, generator=3)


def test_encode_and_decode_step_validate():
    model = make_model(attention="dot")
    src, lengths, tgt_in = make_inputs()
    with pytest.raises(ValueError, match="src_lengths"):
        model.encode(src, lengths - 1)
    memory = model.encode(src, lengths)
    with pytest.raises(TypeError, match="prev_tokens"):
        model.decode_step(tgt_in[:, 0].float(), memory.init_state, memory)
    with pytest.raises(ValueError, match="prev_tokens"):
        model.decode_step(tgt_in[:2, 0], memory.init_state, memory)


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        (dict(cell="rnn"), ValueError, "cell"),
        (dict(attention="luong"), ValueError, "attention"),
        (dict(dropout=1.0), ValueError, "dropout"),
        (dict(hidden_dim=0), ValueError, "hidden_dim"),
        (dict(emb_dim=8.0), TypeError, "emb_dim"),
        (dict(num_layers=0), ValueError, "num_layers"),
        (dict(input_feeding=True), ValueError, "input_feeding"),
        (dict(attention="bahdanau", input_feeding=True), ValueError, "input_feeding"),
        (dict(attention="dot", bidirectional=True), ValueError, "dot"),
        (dict(bidirectional=1), TypeError, "bidirectional"),
        (dict(reverse_source="yes"), TypeError, "reverse_source"),
    ],
)
def test_constructor_rejects_bad_config(kwargs, error, word):
    base = dict(src_vocab_size=SRC_V, tgt_vocab_size=TGT_V, emb_dim=8, hidden_dim=16)
    with pytest.raises(error, match=word):
        Seq2Seq(**{**base, **kwargs})


def test_constructor_rejects_tiny_vocabulary():
    with pytest.raises(ValueError, match="src_vocab_size"):
        Seq2Seq(3, TGT_V)


def test_word_dropout_zeroes_whole_embeddings_in_training_only():
    model = make_model(word_dropout=0.5).train()
    emb = torch.ones(4, 50, 8)
    from s2s_lib.models import _drop_words

    torch.manual_seed(0)
    dropped = _drop_words(emb, 0.5, True)
    rows = dropped.reshape(-1, 8)
    assert set(rows[:, 0].tolist()) == {0.0, 2.0}  # whole vectors: zero, or scaled by 1/(1-p)
    assert (rows == rows[:, :1]).all()
    assert 0.35 < (rows[:, 0] == 0).float().mean() < 0.65
    assert _drop_words(emb, 0.5, False) is emb and _drop_words(emb, 0.0, True) is emb
    plain = make_model().train()
    state = torch.get_rng_state()
    plain.decoder.embed(torch.tensor([[4, 5]]))  # p = 0 (and no dropout) draws nothing
    assert torch.equal(state, torch.get_rng_state())
    src, lengths, tgt_in = make_inputs()
    with torch.no_grad():
        a, b = model(src, lengths, tgt_in), model(src, lengths, tgt_in)
        assert not torch.allclose(a, b)  # the draws differ between calls in training
        model.eval()
        torch.testing.assert_close(model(src, lengths, tgt_in), model(src, lengths, tgt_in))


@pytest.mark.parametrize("cfg", [dict(attention="bahdanau"), dict(attention=None, emb_dim=16),
                                 dict(attention="general", emb_dim=16)], ids=ids)
def test_tied_embeddings_share_one_matrix(cfg):
    cfg = dict(cfg)
    E = cfg.pop("emb_dim", 8)
    torch.manual_seed(0)
    model = Seq2Seq(SRC_V, TGT_V, emb_dim=E, hidden_dim=16, tie_embeddings=True, **cfg)
    dec = model.decoder
    assert dec.out.weight is dec.embedding.weight and dec.out.weight.shape == (TGT_V, E)
    untied = Seq2Seq(SRC_V, TGT_V, emb_dim=E, hidden_dim=16, **cfg)
    narrower_deep_output = (16 - E) * (16 + 16 + E + 1) if cfg["attention"] == "bahdanau" else 0  # H -> E units
    assert count_parameters(model) == count_parameters(untied) - TGT_V * 16 - narrower_deep_output
    src, lengths, tgt_in = make_inputs()
    model(src, lengths, tgt_in).sum().backward()
    assert dec.embedding.weight.grad is not None
    copy = Seq2Seq(model.config)
    copy.load_state_dict(model.state_dict())
    assert copy.decoder.out.weight is copy.decoder.embedding.weight
    torch.testing.assert_close(copy.decoder.out.weight, dec.embedding.weight)


def test_tied_embeddings_need_matching_widths():
    with pytest.raises(ValueError, match="tie_embeddings=True needs emb_dim == hidden_dim"):
        Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, attention="general", tie_embeddings=True)
    with pytest.raises(TypeError, match="tie_embeddings"):
        Seq2Seq(SRC_V, TGT_V, tie_embeddings=1)
    with pytest.raises(ValueError, match="word_dropout"):
        Seq2Seq(SRC_V, TGT_V, word_dropout=1.0)


def test_reverse_real_tokens_reverses_each_sentence_and_keeps_padding():
    src = torch.tensor([[4, 5, 6], [7, 8, PAD_ID], [9, PAD_ID, PAD_ID]])
    lengths = torch.tensor([3, 2, 1])
    assert reverse_real_tokens(src, lengths).tolist() == [[6, 5, 4], [8, 7, PAD_ID], [9, PAD_ID, PAD_ID]]
    feats = torch.randn(3, 3, 2)
    assert torch.equal(reverse_real_tokens(reverse_real_tokens(feats, lengths), lengths), feats)
    assert torch.equal(reverse_real_tokens(feats, lengths)[0, 0], feats[0, 2])


@pytest.mark.parametrize("cfg", [dict(attention=None, cell="lstm", num_layers=2), dict(attention="general"),
                                 dict(attention="bahdanau", bidirectional=True)], ids=ids)
def test_reverse_source_model_equals_feeding_reversed_batches(cfg):
    """A model with reverse_source=True, fed the source as written, computes exactly what the same
    weights compute from batches reversed by make_batch; its attention still indexes the source as written."""
    torch.manual_seed(0)
    plain = make_model(**cfg)
    reverse = make_model(**cfg, reverse_source=True)
    reverse.load_state_dict(plain.state_dict())
    srcs, tgts = [[4, 5, 6, 7], [8, 9], [10, 11, 12]], [[5, 6], [7], [8, 9, 10]]
    written, backwards = make_batch(srcs, tgts), make_batch(srcs, tgts, reverse_source=True)
    expected = plain(backwards.src, backwards.src_lengths, backwards.tgt_in)
    got = reverse(written.src, written.src_lengths, written.tgt_in)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    if plain.has_attention:  # weights over source positions: the plain model's, put back in the written order
        first = torch.full((3,), SOS_ID)
        step_plain = plain.decode_step(first, *reversed(_start(plain, backwards)))
        step_reverse = reverse.decode_step(first, *reversed(_start(reverse, written)))
        torch.testing.assert_close(step_reverse.weights, reverse_real_tokens(step_plain.weights, written.src_lengths))


def _start(model, batch):
    memory = model.encode(batch.src, batch.src_lengths)
    return memory, memory.init_state
