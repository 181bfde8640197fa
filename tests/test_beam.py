"""Tests for s2s_lib.beam: batched beam search = the plain reference = greedy at K=1 =
exhaustive search with a wide beam; exact early stopping; length penalties; traces; errors."""
import json
import math

import numpy as np
import pytest
import torch

from s2s_lib.beam import (DEFAULT_LENGTH_PENALTY, BeamResult, Hypothesis, LengthPenalty, beam_search,
                          beam_search_one, make_length_penalty)
from s2s_lib.decode import greedy_decode
from s2s_lib.toy import TableModel, exhaustive_search
from s2s_lib.trace import TRACE_TOP_K, attach_tokens
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import EOS_ID, PAD_ID, SOS_ID, CharTokenizer

SRC_V, TGT_V = 30, 12
A, B_, C = 4, 5, 6  # three words of the toy tables


def beam_search_each(model, src, lengths, max_len, **kw):
    """The plain search, sentence by sentence, as a BeamResult (to compare with the batched one)."""
    return BeamResult([beam_search_one(model, src[i, :n], max_len, **kw) for i, n in enumerate(lengths.tolist())])


def assert_batched_equals_reference(model, src, lengths, max_len, **kw):
    """The batched search finds the plain search's n-best lists (tokens, and scores to 1e-4)."""
    batched = beam_search(model, src, lengths, max_len, **kw)
    for ours, reference in zip(batched.hypotheses, beam_search_each(model, src, lengths, max_len, **kw).hypotheses):
        assert [h.tokens for h in ours] == [h.tokens for h in reference]
        for a, b in zip(ours, reference):
            assert a.score == pytest.approx(b.score, abs=1e-4)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine threads cost a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(attention="bahdanau", cell="gru", seed=0, tgt_vocab=TGT_V, eos_bias=0.0, **kw):
    """A small random model with peaky outputs; ``eos_bias`` makes <eos> likelier."""
    torch.manual_seed(seed)
    model = Seq2Seq(SRC_V, tgt_vocab, emb_dim=8, hidden_dim=16, cell=cell, attention=attention, **kw)
    with torch.no_grad():
        model.decoder.out.weight.mul_(5.0)  # peakier distributions: outputs depend on the prefix
        model.decoder.out.bias[EOS_ID] += eos_bias
    return model.eval()


def src_batch(B=5, S=6, seed=0):
    src = torch.randint(4, SRC_V, (B, S), generator=torch.Generator().manual_seed(seed))
    lengths = torch.tensor([S, 2, 4, 1, 5, 3, 6, 2][:B])
    for i, n in enumerate(lengths.tolist()):
        src[i, n:] = PAD_ID
    return src, lengths


CONFIGS = [
    dict(attention=None, cell="gru"),
    dict(attention=None, cell="lstm"),
    dict(attention="bahdanau", cell="gru"),
    dict(attention="bahdanau", cell="lstm", bidirectional=True),
    dict(attention="general", cell="lstm", input_feeding=True),
    dict(attention="dot", cell="gru"),
]
IDS = ["gru", "lstm", "bahdanau-gru", "bahdanau-bilstm", "luong-feed-lstm", "dot-gru"]


def assert_same_hypotheses(a: BeamResult, b: BeamResult, tol=1e-5):
    assert len(a) == len(b)
    for hyps_a, hyps_b in zip(a.hypotheses, b.hypotheses):
        assert [h.tokens for h in hyps_a] == [h.tokens for h in hyps_b]
        for x, y in zip(hyps_a, hyps_b):
            assert x.finished == y.finished
            assert x.score == pytest.approx(y.score, abs=tol)
            np.testing.assert_allclose(x.log_probs, y.log_probs, atol=tol)
            if x.attention is None:
                assert y.attention is None
            else:
                np.testing.assert_allclose(x.attention, y.attention, atol=tol)


# ------------------------------------------------------------------ equivalences


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_beam_size_1_without_normalisation_is_greedy(config):
    model = make_model(**config)
    src, lengths = src_batch(B=8)
    greedy = greedy_decode(model, src, lengths, 9)
    beam = beam_search(model, src, lengths, 9, beam_size=1, length_penalty=None)
    assert beam.tokens == greedy.tokens
    assert beam.finished == greedy.finished
    if config == CONFIGS[2]:  # both endings are exercised: <eos>, and cut off at max_len
        assert any(greedy.finished) and not all(greedy.finished)
    np.testing.assert_allclose(beam.scores, greedy.scores, atol=1e-5)
    for b, g in zip(beam.log_probs, greedy.log_probs):
        np.testing.assert_allclose(b, g, atol=1e-5)
    if greedy.attention is not None:
        for b, g in zip(beam.attention, greedy.attention):
            np.testing.assert_allclose(b, g, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("penalty", [None, "avg", ("gnmt", 0.6)], ids=["none", "avg", "gnmt"])
def test_batched_equals_reference(config, penalty):
    model = make_model(**config)
    src, lengths = src_batch(B=6)
    for K, n_best in ((3, 2), (5, 5)):
        fast = beam_search(model, src, lengths, 10, beam_size=K, length_penalty=penalty, n_best=n_best)
        slow = beam_search_each(model, src, lengths, 10, beam_size=K, length_penalty=penalty,
                                     n_best=n_best)
        assert_same_hypotheses(fast, slow)
        assert all(len(h) == n_best for h in fast.hypotheses)
        for hyps in fast.hypotheses:  # best first; finished hypotheses before cut-off ones
            assert [h.finished for h in hyps] == sorted([h.finished for h in hyps], reverse=True)
            finished = [h.score for h in hyps if h.finished]
            assert finished == sorted(finished, reverse=True)


@pytest.mark.parametrize("config", CONFIGS[1:4], ids=IDS[1:4])
def test_batched_equals_one_sentence_at_a_time(config):
    model = make_model(**config)
    src, lengths = src_batch(B=7)
    together = beam_search(model, src, lengths, 10, beam_size=4, n_best=3)
    for i, n in enumerate(lengths.tolist()):
        alone = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], 10, beam_size=4, n_best=3)
        assert_same_hypotheses(BeamResult([together.hypotheses[i]]), alone)


@pytest.mark.parametrize("penalty", [None, "avg", 1.0])
def test_early_stopping_never_changes_the_answer(penalty):
    model = make_model("bahdanau", seed=3)
    src, lengths = src_batch(B=6, seed=3)
    stopped = beam_search_each(model, src, lengths, 12, beam_size=3, length_penalty=penalty, n_best=2)
    full = beam_search_each(model, src, lengths, 12, beam_size=3, length_penalty=penalty, n_best=2,
                                 early_stopping=False)
    assert_same_hypotheses(stopped, full)


class Spy:
    """Wraps a model and records the batch size of every decoder step."""

    def __init__(self, model):
        self.model, self.rows = model, []

    def encode(self, *args):
        return self.model.encode(*args)

    def decode_step(self, prev, state, memory):
        self.rows.append(len(prev))
        return self.model.decode_step(prev, state, memory)

    def parameters(self):
        return self.model.parameters()


def test_finished_sentences_leave_the_batch_and_the_search_stops_early():
    spy = Spy(make_model(None, eos_bias=0.5))
    src, lengths = src_batch(B=6)
    result = beam_search(spy, src, lengths, 40, beam_size=3, length_penalty=None)
    assert all(result.finished)
    assert len(spy.rows) < 40  # stopped long before max_len
    assert spy.rows[0] == 6 * 3 and all(r % 3 == 0 for r in spy.rows)
    assert spy.rows == sorted(spy.rows, reverse=True) and spy.rows[-1] < spy.rows[0]


# ------------------------------------------------------------------ optimality


@pytest.mark.parametrize("penalty", [None, "avg", ("gnmt", 0.6)], ids=["none", "avg", "gnmt"])
@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_finds_the_exhaustive_optimum(penalty, seed):
    V, max_len = 5, 4  # (V-1)^3 = 64 live prefixes at most: K = 64 * V never prunes anything
    model = make_model("bahdanau", seed=seed, tgt_vocab=V, eos_bias=0.0)
    src, lengths = src_batch(B=1, S=3, seed=seed)
    best = exhaustive_search(model, src[0], max_len, length_penalty=penalty)
    assert best.finished and len(best.log_probs) == len(best.tokens) + 1 <= max_len
    beam = beam_search(model, src, lengths, max_len, beam_size=64 * V, length_penalty=penalty)
    assert beam.tokens[0] == best.tokens
    assert beam.scores[0] == pytest.approx(best.score, abs=1e-5)
    assert make_length_penalty(penalty)(best.raw_score, best.length) == pytest.approx(best.score)


def test_exhaustive_beats_or_ties_beam_and_greedy_and_greedy_can_lose():
    V, max_len, losses = 6, 5, 0
    for seed in range(12):
        model = make_model(None, seed=seed, tgt_vocab=V, eos_bias=0.5)
        src, lengths = src_batch(B=1, S=2, seed=seed)
        best = exhaustive_search(model, src, max_len, length_penalty=None)
        beam = beam_search(model, src, lengths, max_len, beam_size=3, length_penalty=None)
        greedy = greedy_decode(model, src, lengths, max_len)
        finished_greedy = greedy.finished[0]
        assert best.score >= beam.scores[0] - 1e-6
        if finished_greedy:
            assert best.score >= greedy.scores[0] - 1e-6
            losses += best.score > greedy.scores[0] + 1e-4
    assert losses > 0, "greedy was optimal for every random model: the test shows nothing"


def test_table_model_greedy_is_myopic_and_normalisation_prefers_longer():
    # p(<eos>) = 0.3 now, or "a" (0.7) then "b" (0.6) then <eos> (0.6): 0.252 in all
    model = TableModel({(): {EOS_ID: 0.3, A: 0.7}, (A,): {B_: 0.6, EOS_ID: 0.4}, (A, B_): {EOS_ID: 0.6}},
                       vocab_size=8)
    src, lengths = torch.ones(1, 1, dtype=torch.long), [1]
    assert greedy_decode(model, src, torch.tensor(lengths), 10).tokens == [[A, B_]]
    raw = beam_search(model, src, lengths, 10, beam_size=2, length_penalty=None, n_best=2)
    assert [h.tokens for h in raw.hypotheses[0]] == [[], [A]]  # the empty output wins on raw log p
    assert raw.scores[0] == pytest.approx(math.log(0.3), abs=1e-5)
    avg = beam_search(model, src, lengths, 10, beam_size=2, length_penalty="avg")
    assert avg.tokens == [[A, B_]]
    assert avg.scores[0] == pytest.approx(math.log(0.252) / 3, abs=1e-5)
    # greedy picks "a" because 0.7 > 0.3, although "c" leads to a far likelier sentence
    myopic = TableModel({(): {A: 0.55, C: 0.45}, (A,): {B_: 0.3, C: 0.3, EOS_ID: 0.4}, (C,): {EOS_ID: 0.9}},
                        vocab_size=8)
    assert greedy_decode(myopic, src, torch.tensor(lengths), 5).tokens == [[A]]
    assert beam_search(myopic, src, lengths, 5, beam_size=2, length_penalty=None).tokens == [[C]]
    assert exhaustive_search(myopic, src, 5).tokens == [C]


# ------------------------------------------------------------------ length penalty


def test_length_penalty_specs():
    assert make_length_penalty(None) == make_length_penalty("none") == LengthPenalty("none")
    assert make_length_penalty("avg") == LengthPenalty("avg")
    assert make_length_penalty("gnmt") == LengthPenalty("gnmt", 0.6)
    assert make_length_penalty(DEFAULT_LENGTH_PENALTY) == LengthPenalty("gnmt", 0.6)
    assert make_length_penalty(("gnmt", 0.6)) == make_length_penalty(0.6) == LengthPenalty("gnmt", 0.6)
    assert make_length_penalty(2) == LengthPenalty("gnmt", 2.0)
    assert str(make_length_penalty(0.6)) == "gnmt(alpha=0.6)" and str(make_length_penalty("avg")) == "avg"
    gnmt = LengthPenalty("gnmt", 0.6)
    assert gnmt.divisor(1) == 1.0 and gnmt.divisor(7) == pytest.approx(2.0 ** 0.6)
    assert gnmt(-3.0, 7) == pytest.approx(-3.0 / 2.0 ** 0.6)
    assert LengthPenalty("avg")(-3.0, 6) == -0.5 and LengthPenalty("none")(-3.0, 6) == -3.0
    # the stopping bound: no continuation (raw can only fall) scores above it
    for pen in (LengthPenalty("none"), LengthPenalty("avg"), gnmt, LengthPenalty("gnmt", 2.0)):
        bound = pen.best_possible(-2.0, 10)
        assert all(pen(raw, n) <= bound + 1e-12 for raw in (-2.0, -2.5, -9.0) for n in range(3, 11))


@pytest.mark.parametrize("spec", ["gnmt2", ("gnmt",), ("avg", 1.0), -0.5, math.nan, ("gnmt", math.inf), True])
def test_bad_length_penalty(spec):
    with pytest.raises(ValueError, match="length_penalty"):
        make_length_penalty(spec)
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(make_model(), *src_batch(B=1), 5, length_penalty=spec)


def test_big_beams_without_normalisation_shorten_outputs():
    model = make_model("general", seed=0)
    src, lengths = src_batch(B=8, seed=0)

    def mean_length(K, penalty):
        result = beam_search(model, src, lengths, 12, beam_size=K, length_penalty=penalty)
        return np.mean([len(t) for t in result.tokens])

    assert mean_length(8, None) <= mean_length(1, None)
    assert mean_length(8, None) < mean_length(8, "avg")


# ------------------------------------------------------------------ results, trace


def test_result_fields_and_training_mode_restored():
    model = make_model("bahdanau", dropout=0.3).train()
    src, lengths = src_batch(B=3)
    a = beam_search(model, src, lengths, 8, beam_size=3, n_best=2)
    assert model.training
    b = beam_search(model, src, lengths, 8, beam_size=3, n_best=2)
    assert a.tokens == b.tokens  # no dropout while searching
    assert len(a) == 3 and a.trace is None
    for hyps, n in zip(a.hypotheses, lengths.tolist()):
        for h in hyps:
            assert isinstance(h, Hypothesis) and h.state is None
            assert len(h.log_probs) == len(h.tokens) + h.finished == h.length
            assert h.raw_score == pytest.approx(sum(h.log_probs))
            assert h.score == pytest.approx(make_length_penalty(("gnmt", 0.6))(h.raw_score, h.length))
            assert h.attention.shape == (h.length, n) and h.attention.dtype == np.float32
            np.testing.assert_allclose(h.attention.sum(1), 1.0, atol=1e-5)
            assert EOS_ID not in h.tokens and SOS_ID not in h.tokens[:1]
    assert a.scores == [h[0].score for h in a.hypotheses] and a.best[0] is a.hypotheses[0][0]
    assert beam_search(make_model(None), src, lengths, 5, beam_size=2).attention is None


def test_trace_is_plain_data_and_consistent():
    model = make_model("bahdanau", eos_bias=1.0)
    src, lengths = src_batch(B=3)
    K = 3
    result = beam_search(model, src, lengths, 10, beam_size=K, n_best=2, return_trace=True)
    trace = json.loads(json.dumps(result.trace))
    assert trace == result.trace
    for i, sent in enumerate(trace):
        nodes = sent["nodes"]
        assert sent["method"] == "beam" and sent["beam_size"] == K
        assert sent["src_ids"] == src[i, : lengths[i]].tolist()
        assert [n["id"] for n in nodes] == list(range(len(nodes))) and nodes[0]["status"] == "root"
        assert sent["tokens"] == result.tokens[i] and sent["finished"] == result.finished[i]
        # the winner path spells the best hypothesis (plus its <eos>)
        path = [nodes[n]["token"] for n in sent["winner"][1:]]
        assert path == result.tokens[i] + ([EOS_ID] if result.finished[i] else [])
        assert sent["winner"][-1] == sent["n_best_nodes"][0]
        assert nodes[sent["winner"][-1]]["norm_score"] == pytest.approx(result.scores[i], abs=1e-5)
        assert len(sent["n_best_nodes"]) == len(result.hypotheses[i])
        live = [0]
        for s in sent["steps"]:
            assert [e["node"] for e in s["expanded"]] == live  # expanded = last step's kept nodes
            for e in s["expanded"]:
                assert e["input"] == nodes[e["node"]]["token"]
                assert e["top_probs"] == sorted(e["top_probs"], reverse=True) and len(e["top_ids"]) == TRACE_TOP_K
                assert len(e["attention"]) == lengths[i] and abs(sum(e["attention"]) - 1) < 1e-4
            cands = [nodes[c] for c in s["candidates"]]
            assert len(cands) <= 2 * K and all(c["step"] == s["step"] for c in cands)
            assert [c["score"] for c in cands] == sorted([c["score"] for c in cands], reverse=True)
            for c in cands:
                parent = nodes[c["parent"]]
                assert c["score"] == pytest.approx(parent["score"] + c["log_prob"], abs=1e-5)
                assert (c["status"] == "finished") <= (c["token"] == EOS_ID)
            live = sorted((c for c in cands if c["status"] == "kept"), key=lambda c: -c["score"])
            live = [c["id"] for c in live]
            assert len(live) == (min(K, TGT_V - 1) if s["step"] == 1 else K)
        assert trace[i]["steps"][-1]["stopped"] or len(trace[i]["steps"]) == 10
        assert not any(s["stopped"] for s in trace[i]["steps"][:-1])


def test_attach_tokens_adds_strings_to_beam_traces():
    src_tok = CharTokenizer([chr(ord("가") + i) for i in range(SRC_V - 4)])
    tgt_tok = CharTokenizer([chr(ord("a") + i) for i in range(TGT_V - 4)])
    model = make_model("dot")
    result = beam_search(model, *src_batch(B=2), 6, beam_size=2, n_best=2, return_trace=True)
    named = attach_tokens(result.trace, src_tok, tgt_tok)
    assert "src_tokens" not in result.trace[0]  # a copy
    for raw, sent in zip(result.trace, named):
        assert sent["src_tokens"] == src_tok.pieces(raw["src_ids"])
        assert sent["text"] == tgt_tok.decode(raw["tokens"])
        assert all(n["piece"] == tgt_tok.pieces([n["token"]])[0] for n in sent["nodes"])
        assert sent["steps"][0]["expanded"][0]["input_token"] == "<sos>"
        assert len(sent["n_best_text"]) == 2 and sent["n_best_text"][0] == sent["text"]
    with pytest.raises(TypeError, match="trace"):
        attach_tokens(None, src_tok, tgt_tok)
    with pytest.raises(ValueError, match="return_trace"):
        attach_tokens([{"nodes": []}], src_tok, tgt_tok)


def test_translate_style_use():
    """beam_search is a drop-in for greedy_decode: (model, src, lengths, max_len) + keywords."""
    model = make_model("general")
    src, lengths = src_batch(B=4)
    result = beam_search(model, src, lengths.tolist(), 7, beam_size=2)
    assert len(result.tokens) == 4 and all(len(t) <= 7 for t in result.tokens)


# ------------------------------------------------------------------ bad input


def _call(**kw):
    args = dict(model=make_model(), src=src_batch(B=2)[0], src_lengths=src_batch(B=2)[1], max_len=5)
    args.update(kw)
    return lambda: beam_search(args.pop("model"), args.pop("src"), args.pop("src_lengths"),
                               args.pop("max_len"), **args)


BAD = [
    (_call(beam_size=0), ValueError, "beam_size"),
    (_call(beam_size=2.0), TypeError, "beam_size"),
    (_call(max_len=0), ValueError, "max_len"),
    (_call(max_len="5"), TypeError, "max_len"),
    (_call(n_best=3, beam_size=2), ValueError, "n_best"),
    (_call(n_best=0), ValueError, "n_best"),
    (_call(src=torch.zeros(0, 3, dtype=torch.long), src_lengths=torch.zeros(0, dtype=torch.long)),
     ValueError, "src must not be empty"),
    (_call(src=torch.ones(2, 3)), TypeError, "src"),
    (_call(src=torch.ones(3, dtype=torch.long)), ValueError, "src"),
    (_call(src_lengths=torch.tensor([3.0, 2.0])), TypeError, "src_lengths"),
    (_call(src_lengths=torch.tensor([3])), ValueError, "src_lengths"),
    (_call(model="model"), TypeError, "model"),
]


@pytest.mark.parametrize("make, error, word", BAD, ids=[f"{i}-{w}" for i, (_, _, w) in enumerate(BAD)])
def test_bad_arguments_raise(make, error, word):
    with pytest.raises(error, match=word):
        make()


def test_bad_arguments_of_the_reference_and_exhaustive_search():
    model = make_model()
    src, lengths = src_batch(B=2)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search_each(model, src, lengths, 5, beam_size=0)
    with pytest.raises(ValueError, match="one sentence"):
        exhaustive_search(model, src, 3)
    with pytest.raises(ValueError, match="max_len"):
        exhaustive_search(model, src[0], 0)
    with pytest.raises(ValueError, match="max_len"):  # 11^6 prefixes: refused, not attempted
        exhaustive_search(model, src[0], 8)
    with pytest.raises(ValueError, match="vocab_size"):
        TableModel({}, vocab_size=2)
    with pytest.raises(ValueError, match="outside"):
        TableModel({(): {9: 1.0}}, vocab_size=8)
