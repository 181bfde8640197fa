"""Tests for s2s_lib.decode: stopping at <eos>, batching, greedy/sampling semantics, traces, translate."""
import json
from typing import NamedTuple

import numpy as np
import pytest
import torch

from s2s_lib.decode import DecodeResult, attach_tokens, greedy_decode, sample_decode, translate
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import EOS_ID, PAD_ID, SOS_ID, CharTokenizer

SRC_V, TGT_V = 30, 25


class StubState(NamedTuple):
    t: torch.Tensor  # (B,) steps done
    row: torch.Tensor  # (B,) original sentence index

    def index_select(self, index):
        return StubState(self.t[index], self.row[index])


class StubMemory(NamedTuple):
    stop_at: torch.Tensor  # (B,)
    init_state: StubState

    def index_select(self, index):
        return StubMemory(self.stop_at[index], self.init_state.index_select(index))

    @property
    def batch_size(self):
        return len(self.stop_at)


class StubStep(NamedTuple):
    logits: torch.Tensor
    state: StubState
    weights: None


class EosAtStepModel:
    """Emits token 5 + row (mod 10) until step ``stop_at[row]`` (1-based), where <eos> wins.

    Records every batch size it is asked to decode, so tests can see finished sentences
    leave the batch.
    """

    def __init__(self, stop_at):
        self.stop_at = torch.tensor(stop_at)
        self.batch_sizes = []
        self.inputs = []

    def encode(self, src, src_lengths):
        B = src.size(0)
        return StubMemory(self.stop_at[:B], StubState(torch.zeros(B, dtype=torch.long), torch.arange(B)))

    def decode_step(self, prev_tokens, state, memory):
        self.batch_sizes.append(len(prev_tokens))
        self.inputs.append(prev_tokens.tolist())
        t = state.t + 1
        logits = torch.full((len(t), TGT_V), -5.0)
        logits[torch.arange(len(t)), 5 + state.row % 10] = 3.0
        logits[t == memory.stop_at, EOS_ID] = 10.0
        return StubStep(logits, StubState(t, state.row), None)


def src_batch(B=3, S=4):
    src = torch.randint(4, SRC_V, (B, S), generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([S, 2, 3, 1, 4][:B])
    for i, n in enumerate(lengths.tolist()):
        src[i, n:] = PAD_ID
    return src, lengths


def make_model(attention="bahdanau", seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, attention=attention, **kw).eval()


def test_stops_each_sentence_at_its_eos():
    model = EosAtStepModel([3, 1, 5])
    src, lengths = src_batch()
    result = greedy_decode(model, src, lengths, max_len=10)
    assert result.tokens == [[5, 5], [], [7, 7, 7, 7]]
    assert result.finished == [True, True, True]
    assert [len(lp) for lp in result.log_probs] == [3, 1, 5]  # the <eos> step included
    assert result.attention is None
    # finished sentences leave the batch and are not continued
    assert model.batch_sizes == [3, 2, 2, 1, 1]
    assert model.inputs[0] == [SOS_ID] * 3 and model.inputs[1] == [5, 7]


def test_max_len_cuts_unfinished_sentences():
    model = EosAtStepModel([2, 9])
    src, lengths = src_batch(B=2)
    result = greedy_decode(model, src, lengths, max_len=4)
    assert result.tokens == [[5], [6, 6, 6, 6]]
    assert result.finished == [True, False]
    assert len(result) == 2


def test_log_probs_are_the_chosen_tokens_log_softmax():
    model = EosAtStepModel([2])
    result = greedy_decode(model, *src_batch(B=1), max_len=5)
    logits = torch.full((TGT_V,), -5.0)
    logits[5] = 3.0
    expected = torch.log_softmax(logits, -1)[5].item()
    assert result.log_probs[0][0] == pytest.approx(expected)
    assert result.scores[0] == pytest.approx(sum(result.log_probs[0]))


@pytest.mark.parametrize("attention", [None, "bahdanau", "general"])
def test_batched_equals_one_at_a_time(attention):
    model = make_model(attention)
    src, lengths = src_batch(B=5, S=6)
    batched = greedy_decode(model, src, lengths, max_len=8)
    for i in range(5):
        n = int(lengths[i])
        alone = greedy_decode(model, src[i : i + 1, :n], lengths[i : i + 1], max_len=8)
        assert alone.tokens[0] == batched.tokens[i]
        np.testing.assert_allclose(alone.log_probs[0], batched.log_probs[i], rtol=1e-5, atol=1e-6)
        if attention:
            np.testing.assert_allclose(alone.attention[0], batched.attention[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", [None, "concat"])
def test_greedy_is_argmax_of_teacher_forced_logits_on_its_own_output(attention):
    model = make_model(attention, seed=3)
    src, lengths = src_batch(B=4, S=5)
    result = greedy_decode(model, src, lengths, max_len=7)
    for i in range(4):
        chosen = result.tokens[i] + ([EOS_ID] if result.finished[i] else [])
        tgt_in = torch.tensor([[SOS_ID] + chosen[:-1]])
        with torch.no_grad():
            logits = model(src[i : i + 1], lengths[i : i + 1], tgt_in)[0]  # (T, V)
        assert logits.argmax(-1).tolist() == chosen
        np.testing.assert_allclose(torch.log_softmax(logits, -1).max(-1).values.numpy(),
                                   result.log_probs[i], rtol=1e-5, atol=1e-6)


def test_attention_arrays_have_one_row_per_step_over_real_source():
    model = make_model("general")
    src, lengths = src_batch(B=3, S=4)
    result = greedy_decode(model, src, lengths, max_len=6)
    for i, a in enumerate(result.attention):
        assert a.shape == (len(result.log_probs[i]), int(lengths[i]))
        np.testing.assert_allclose(a.sum(1), 1.0, rtol=1e-5)


def test_sampling_is_reproducible_with_a_generator():
    model = make_model("bahdanau")
    src, lengths = src_batch(B=4)
    a = sample_decode(model, src, lengths, 8, generator=torch.Generator().manual_seed(1))
    b = sample_decode(model, src, lengths, 8, generator=torch.Generator().manual_seed(1))
    c = sample_decode(model, src, lengths, 8, generator=torch.Generator().manual_seed(2))
    assert a.tokens == b.tokens and a.log_probs == b.log_probs
    assert a.tokens != c.tokens


def test_low_temperature_and_top_1_sampling_equal_greedy():
    model = make_model("concat")
    src, lengths = src_batch(B=4)
    greedy = greedy_decode(model, src, lengths, 8)
    cold = sample_decode(model, src, lengths, 8, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    top1 = sample_decode(model, src, lengths, 8, top_k=1, generator=torch.Generator().manual_seed(0))
    assert cold.tokens == greedy.tokens == top1.tokens
    np.testing.assert_allclose(np.concatenate(cold.log_probs), np.concatenate(greedy.log_probs), rtol=1e-6)


def test_sampling_follows_the_model_distribution():
    class TwoWay(EosAtStepModel):  # step 1: token 5 with p=0.8, token 6 with p=0.2; then <eos>
        def decode_step(self, prev_tokens, state, memory):
            step = super().decode_step(prev_tokens, state, memory)
            logits = torch.full_like(step.logits, -1e9)
            logits[:, 5], logits[:, 6] = np.log(0.8), np.log(0.2)
            logits[state.t >= 1, EOS_ID] = 0.0
            return StubStep(logits, step.state, None)

    model = TwoWay([99] * 400)
    src = torch.full((400, 1), 5)
    result = sample_decode(model, src, torch.ones(400, dtype=torch.long), 3,
                           generator=torch.Generator().manual_seed(0))
    firsts = [t[0] for t in result.tokens]
    assert 0.72 < firsts.count(5) / 400 < 0.88  # 400 draws: sd 0.02
    top_p = sample_decode(model, src, torch.ones(400, dtype=torch.long), 3, top_p=0.5,
                          generator=torch.Generator().manual_seed(0))
    assert {t[0] for t in top_p.tokens} == {5}


def test_decoding_restores_training_mode():
    model = make_model(dropout=0.3).train()
    a = greedy_decode(model, *src_batch(), 6)
    assert model.training
    b = greedy_decode(model, *src_batch(), 6)  # no dropout while decoding: deterministic
    assert a.tokens == b.tokens


def test_trace_is_plain_json_data():
    model = make_model("bahdanau")
    src, lengths = src_batch(B=3)
    result = greedy_decode(model, src, lengths, 6, return_trace=True)
    trace = json.loads(json.dumps(result.trace))  # JSON round trip keeps everything
    assert trace == result.trace
    for i, sent in enumerate(trace):
        assert sent["src_ids"] == src[i, : lengths[i]].tolist()
        assert sent["tokens"] == result.tokens[i] and sent["method"] == "greedy"
        assert len(sent["steps"]) == len(result.log_probs[i])
        prev = SOS_ID
        for s in sent["steps"]:
            assert s["input"] == prev
            assert len(s["top_ids"]) == len(s["top_probs"]) == 10
            assert s["top_ids"][0] == s["chosen"]  # greedy picks the top word
            assert s["top_probs"] == sorted(s["top_probs"], reverse=True) and sum(s["top_probs"]) <= 1 + 1e-5
            assert len(s["attention"]) == int(lengths[i]) and abs(sum(s["attention"]) - 1) < 1e-4
            prev = s["chosen"]
    assert greedy_decode(model, src, lengths, 6).trace is None


def test_sample_trace_records_the_sampling_distribution():
    model = make_model(None)
    result = sample_decode(model, *src_batch(B=2), 5, top_k=3, return_trace=True,
                           generator=torch.Generator().manual_seed(0))
    for sent in result.trace:
        assert sent["method"] == "sample"
        for s in sent["steps"]:
            assert s["attention"] is None
            assert s["top_probs"][3:] == [0.0] * 7  # top-k = 3 removed the rest
            assert s["chosen"] in s["top_ids"][:3]


def test_attach_tokens_adds_strings():
    src_tok = CharTokenizer([chr(ord("가") + i) for i in range(SRC_V - 4)])
    tgt_tok = CharTokenizer([chr(ord("a") + i) for i in range(TGT_V - 4)])
    model = make_model("dot")
    result = greedy_decode(model, *src_batch(B=2), 5, return_trace=True)
    named = attach_tokens(result.trace, src_tok, tgt_tok)
    assert "src_tokens" not in result.trace[0]  # a copy, the original is unchanged
    for raw, sent in zip(result.trace, named):
        assert sent["src_tokens"] == src_tok.pieces(raw["src_ids"])
        assert sent["text"] == tgt_tok.decode(raw["tokens"])
        assert sent["steps"][0]["input_token"] == "<sos>"
        assert sent["steps"][0]["top_tokens"] == tgt_tok.pieces(raw["steps"][0]["top_ids"])
    json.dumps(named, ensure_ascii=False)
    with pytest.raises(TypeError, match="trace"):
        attach_tokens(None, src_tok, tgt_tok)


@pytest.mark.parametrize(
    "args, error, word",
    [
        (lambda s, l: (s, l, 0), ValueError, "max_len"),
        (lambda s, l: (s, l, 2.5), TypeError, "max_len"),
        (lambda s, l: (s[:0], l[:0], 5), ValueError, "empty"),
        (lambda s, l: (s.float(), l, 5), TypeError, "src"),
        (lambda s, l: (s[0], l, 5), ValueError, "src"),
        (lambda s, l: (s, l.float(), 5), TypeError, "src_lengths"),
        (lambda s, l: (s, "3", 5), TypeError, "src_lengths"),
        (lambda s, l: (s, l[:1], 5), ValueError, "src_lengths"),
    ],
)
def test_bad_arguments_raise(args, error, word):
    model = make_model("general")
    for decode in (greedy_decode, sample_decode):
        with pytest.raises(error, match=word):
            decode(model, *args(*src_batch()))


def test_bad_sampling_knobs_and_model_raise():
    model = make_model(None)
    with pytest.raises(ValueError, match="temperature"):
        sample_decode(model, *src_batch(), 5, temperature=0)
    with pytest.raises(ValueError, match="k"):
        sample_decode(model, *src_batch(), 5, top_k=0)
    with pytest.raises(ValueError, match="p"):
        sample_decode(model, *src_batch(), 5, top_p=1.5)
    with pytest.raises(TypeError, match="generator"):
        sample_decode(model, *src_batch(), 5, generator=1)
    with pytest.raises(TypeError, match="model"):
        greedy_decode(object(), *src_batch(), 5)


def test_translate_strings_in_strings_out():
    src_tok = CharTokenizer(list("가나다라마바사아자차카타파하 ."))
    tgt_tok = CharTokenizer(list("abcdefghijklmnopqrs"))
    torch.manual_seed(0)
    model = Seq2Seq(src_tok.vocab_size, tgt_tok.vocab_size, 8, 16, attention="general").eval()
    sentences = ["가나다", "라마바사아.", "하"]
    out = translate(model, sentences, src_tok, tgt_tok, max_len=6, batch_size=2)
    assert len(out) == 3 and all(isinstance(s, str) for s in out)
    # the same as decoding each (normalised: "." split off) sentence alone
    for s, o in zip(sentences, out):
        ids = src_tok.encode(s.replace(".", " ."))
        r = greedy_decode(model, torch.tensor([ids]), torch.tensor([len(ids)]), 6)
        assert o == tgt_tok.decode(r.tokens[0])
    sampled = translate(model, sentences, src_tok, tgt_tok, method="sample", max_len=6,
                        generator=torch.Generator().manual_seed(0))
    assert len(sampled) == 3
    assert translate(model, [], src_tok, tgt_tok) == []
    with pytest.raises(TypeError, match="list of str"):
        translate(model, "가나다", src_tok, tgt_tok)
    with pytest.raises(ValueError, match="method"):
        translate(model, sentences, src_tok, tgt_tok, method="viterbi")
    with pytest.raises(ValueError, match="empty"):
        translate(model, ["  "], src_tok, tgt_tok)
    with pytest.raises(TypeError, match="normalize"):
        translate(model, sentences, src_tok, tgt_tok, normalize="no")


def test_encode_sentences_as_written_keeps_punctuation_and_case():
    from s2s_lib.decode import encode_sentences

    tok = CharTokenizer(list("가나다Tt.!"))
    decomposed = "\u1100\u1161"  # 가 as two jamo: NFC composes it either way
    assert encode_sentences([decomposed + "나.  T!"], tok, normalize=False) == [tok.encode("가나. T!")]
    assert encode_sentences(["가나.T!"], tok) == [tok.encode("가나 . t !")]


def test_translate_with_beam_search():
    pytest.importorskip("s2s_lib.beam")
    src_tok = CharTokenizer(list("가나다라마바사"))
    tgt_tok = CharTokenizer(list("abcdefg"))
    torch.manual_seed(0)
    model = Seq2Seq(src_tok.vocab_size, tgt_tok.vocab_size, 8, 16, attention="bahdanau").eval()
    sentences = ["가나다", "라마바사", "가"]
    beamed = translate(model, sentences, src_tok, tgt_tok, method="beam", max_len=6, beam_size=3)
    assert len(beamed) == 3 and all(isinstance(s, str) for s in beamed)


def test_decode_result_is_a_dataclass():
    r = DecodeResult([[4]], [[-0.1, -0.2]], None, [True])
    assert r.scores == [pytest.approx(-0.3)] and r.trace is None
