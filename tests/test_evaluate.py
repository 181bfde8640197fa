"""Tests for s2s_lib.evaluate: split translation order, BLEU helpers, context vectors, PCA."""
import math
import random

import numpy as np
import pytest
import torch

from s2s_lib.bleu import corpus_bleu
from s2s_lib.data import Pair, TranslationData
from s2s_lib.evaluate import bleu_by_length, bleu_score, context_vectors, pca_2d, score_translations, translate_split
from s2s_lib.models import DecoderState, DecoderStep, Memory, Seq2Seq
from s2s_lib.tokenize import EOS_ID, CharTokenizer

WORDS = ["가", "나", "다", "라", "마", "바", "사", "아", "자", "차", "카", "타"]


def make_pairs(n, seed):
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        ko = "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 7)))
        pairs.append(Pair(en=ko, ko=ko, attribution="", line=i + 1))
    return pairs


@pytest.fixture(scope="module")
def data():
    """A tiny TranslationData over synthetic pairs with one character vocabulary for both sides."""
    train, valid, test = make_pairs(40, 0), make_pairs(13, 1), make_pairs(37, 2)
    tok = CharTokenizer.train([p.ko for p in train + valid + test])
    return TranslationData(train, valid, test, tok, tok, max_len=7)


class CopyModel:
    """A fake seq2seq model that outputs its source tokens one by one, then <eos>.

    It implements the encode/decode_step interface with the real Memory/DecoderState
    containers, so the decoders can drop finished rows as they do for a Seq2Seq.
    """

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size

    def encode(self, src, src_lengths):
        B, S = src.shape
        enc_out = src.unsqueeze(-1).float()  # (B, S, 1): the ids themselves
        mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)
        return Memory(enc_out, mask, DecoderState(hidden=torch.zeros(1, B, 1)))

    def decode_step(self, prev_tokens, state, memory):
        t = state.hidden[0, :, 0].long()  # (B,) position to copy next
        lengths = memory.src_mask.sum(1)  # (B,)
        src = memory.enc_out[:, :, 0].long()  # (B, S)
        pos = t.clamp(max=src.size(1) - 1)
        nxt = torch.where(t < lengths, src.gather(1, pos.unsqueeze(1)).squeeze(1),
                          torch.full_like(t, EOS_ID))
        logits = torch.full((len(t), self.vocab_size), -10.0)
        logits[torch.arange(len(t)), nxt] = 10.0
        return DecoderStep(logits, DecoderState(hidden=state.hidden + 1), None)


# --------------------------------------------------------------------------- translate_split


@pytest.mark.parametrize("split", ["train", "valid", "test"])
@pytest.mark.parametrize("batch_size", [1, 5, 128])
def test_translate_split_keeps_the_order_of_targets(data, split, batch_size):
    model = CopyModel(data.tgt_tokenizer.vocab_size)
    hyps = translate_split(model, data, split, batch_size=batch_size, progress=False)
    assert hyps == data.sources(split) == data.targets(split)  # the copy model copies


def test_translate_split_reverse_source_feeds_reversed_sentences(data):
    model = CopyModel(data.tgt_tokenizer.vocab_size)
    hyps = translate_split(model, data, "test", reverse_source=True, batch_size=4, progress=False)
    assert hyps == [s[::-1] for s in data.sources("test")]


def test_translate_split_max_len_caps_the_output(data):
    model = CopyModel(data.tgt_tokenizer.vocab_size)
    hyps = translate_split(model, data, "test", max_len=2, progress=False)
    assert hyps == [s[:2] for s in data.sources("test")]


def test_translate_split_real_model_is_deterministic(data):
    torch.manual_seed(0)
    v = data.src_tokenizer.vocab_size
    model = Seq2Seq(v, v, emb_dim=8, hidden_dim=16)
    model.train()
    a = translate_split(model, data, "valid", batch_size=3, progress=False)
    b = translate_split(model, data, "valid", batch_size=64, progress=False)
    assert a == b and len(a) == len(data.targets("valid"))
    assert model.training  # mode restored by the decoder
    gen = torch.Generator().manual_seed(1)
    s = translate_split(model, data, "valid", method="sample", generator=gen, progress=False)
    assert len(s) == len(a)


def test_translate_split_rejects_bad_arguments(data):
    model = CopyModel(data.tgt_tokenizer.vocab_size)
    with pytest.raises(ValueError, match="split"):
        translate_split(model, data, "dev")
    with pytest.raises(ValueError, match="method"):
        translate_split(model, data, method="nucleus")
    with pytest.raises(ValueError, match="max_len"):
        translate_split(model, data, max_len=0)
    with pytest.raises(TypeError, match="batch_size"):
        translate_split(model, data, batch_size=2.5)
    with pytest.raises(TypeError, match="reverse_source"):
        translate_split(model, data, reverse_source="yes")
    with pytest.raises(TypeError, match="model"):
        translate_split(object(), data)
    with pytest.raises(TypeError, match="data"):
        translate_split(model, [("가", "가")])


# --------------------------------------------------------------------------- BLEU


def corpus(n=60, seed=0):
    rng = random.Random(seed)
    vocab = "the a cat dog sat on mat is was big small red it . ?".split()
    refs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(2, 9))) for _ in range(n)]
    hyps = []
    for r in refs:
        words = r.split()
        hyps.append(" ".join(w if rng.random() < 0.7 else rng.choice(vocab) for w in words[: rng.randint(1, len(words))]))
    lengths = [rng.randint(1, 12) for _ in range(n)]
    return hyps, refs, lengths


def test_bleu_score_is_corpus_bleu_with_one_reference_stream():
    hyps, refs, _ = corpus()
    ours = bleu_score(hyps, refs)
    expected = corpus_bleu(hyps, [refs], force=True)
    assert ours.score == expected.score and ours.counts == expected.counts
    assert "tok:13a" in ours.signature() and "nrefs:1" in ours.signature()
    assert "tok:char" in bleu_score(hyps, refs, tokenize="char").signature()
    assert bleu_score(refs, refs).score == pytest.approx(100.0)


def test_bleu_score_rejects_bad_arguments():
    with pytest.raises(ValueError, match="references"):
        bleu_score(["a b"], ["a b", "c"])
    with pytest.raises(TypeError, match="references"):
        bleu_score(["a b"], "a b")
    with pytest.raises(TypeError, match=r"hypotheses\[0\]"):
        bleu_score([3], ["a"])
    with pytest.raises(ValueError, match="empty"):
        bleu_score([], [])


@pytest.mark.parametrize("buckets", [[4, 8, 12], [1, 2, 3, 6, math.inf], [12]])
def test_bleu_by_length_partitions_and_equals_corpus_bleu_per_bucket(buckets):
    hyps, refs, lengths = corpus(80, seed=3)
    rows = bleu_by_length(hyps, refs, lengths, buckets)
    assert len(rows) == len(buckets)
    assert sum(r["sentences"] for r in rows) == len(hyps)
    seen = []
    for row in rows:
        idx = [i for i, n in enumerate(lengths) if row["lo"] <= n <= row["hi"]]
        seen += idx
        assert row["sentences"] == len(idx)
        if idx:
            expected = corpus_bleu([hyps[i] for i in idx], [[refs[i] for i in idx]], force=True)
            assert row["bleu"] == expected.score
            assert row["result"].counts == expected.counts
        else:
            assert math.isnan(row["bleu"]) and row["result"] is None
    assert sorted(seen) == list(range(len(hyps)))  # every sentence in exactly one bucket
    if len(buckets) == 1:
        assert rows[0]["bleu"] == bleu_score(hyps, refs).score


def test_bleu_by_length_labels_and_empty_buckets():
    rows = bleu_by_length(["a b c d", "a b", "x"], ["a b c d", "a b", "y"], [1, 2, 9],
                          [1, 4, 6, math.inf])
    assert [r["bucket"] for r in rows] == ["1", "2-4", "5-6", "7+"]
    assert [r["sentences"] for r in rows] == [1, 1, 0, 1]
    assert rows[0]["bleu"] == pytest.approx(100.0) and math.isnan(rows[2]["bleu"])
    assert rows[3]["bleu"] == 0.0


def test_bleu_by_length_rejects_bad_arguments():
    hyps, refs, lengths = corpus(10)
    with pytest.raises(ValueError, match="above the last bucket"):
        bleu_by_length(hyps, refs, lengths, [4, 8])
    with pytest.raises(ValueError, match="same length"):
        bleu_by_length(hyps, refs, lengths[:-1], [12])
    with pytest.raises(ValueError, match="increasing"):
        bleu_by_length(hyps, refs, lengths, [6, 4, 12])
    with pytest.raises(ValueError, match="increasing"):
        bleu_by_length(hyps, refs, lengths, [0, 12])
    with pytest.raises(TypeError, match="buckets"):
        bleu_by_length(hyps, refs, lengths, [4.5, 12])
    with pytest.raises(TypeError, match="buckets"):
        bleu_by_length(hyps, refs, lengths, 12)
    with pytest.raises(ValueError, match="last bucket bound may be"):
        bleu_by_length(hyps, refs, lengths, [math.inf, 20])
    with pytest.raises(ValueError, match=r"source_lengths\[0\]"):
        bleu_by_length(hyps, refs, [0] + lengths[1:], [12])
    with pytest.raises(TypeError, match=r"source_lengths\[1\]"):
        bleu_by_length(hyps, refs, [1, 2.0] + lengths[2:], [12])


# --------------------------------------------------------------------------- context vectors


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_context_vectors_are_the_encoders_final_state(data, cell):
    torch.manual_seed(0)
    v = data.src_tokenizer.vocab_size
    model = Seq2Seq(v, v, emb_dim=8, hidden_dim=16, cell=cell, num_layers=2)
    model.train()
    sentences = ["가나다", "라", "마바사아자"]
    vecs = context_vectors(model, sentences, data.src_tokenizer)
    assert vecs.shape == (3, 16) and vecs.dtype == np.float32
    assert model.training  # mode restored
    model.eval()
    for i, s in enumerate(sentences):  # one at a time: no padding at all
        ids = torch.tensor([data.src_tokenizer.encode(s)])
        with torch.no_grad():
            _, final = model.encoder(ids, torch.tensor([ids.size(1)]))
        h = final[0] if cell == "lstm" else final  # (L, 1, H)
        np.testing.assert_allclose(vecs[i], h[-1, 0].numpy(), atol=1e-6)
    rev = context_vectors(model, ["가나다"], data.src_tokenizer, reverse_source=True)
    np.testing.assert_allclose(rev[0], context_vectors(model, ["다나가"], data.src_tokenizer)[0])


def test_context_vectors_rejects_bad_arguments(data):
    v = data.src_tokenizer.vocab_size
    model = Seq2Seq(v, v, emb_dim=8, hidden_dim=16)
    with pytest.raises(TypeError, match="sentences"):
        context_vectors(model, "가나다", data.src_tokenizer)
    with pytest.raises(ValueError, match="empty"):
        context_vectors(model, [], data.src_tokenizer)
    with pytest.raises(ValueError, match=r"sentences\[1\]"):
        context_vectors(model, ["가", "  "], data.src_tokenizer)
    with pytest.raises(TypeError, match="src_tokenizer"):
        context_vectors(model, ["가"], None)
    with pytest.raises(TypeError, match="model"):
        context_vectors("model", ["가"], data.src_tokenizer)


# --------------------------------------------------------------------------- PCA


def test_pca_2d_matches_numpy_svd_and_covariance_eigenvalues():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6)) @ rng.normal(size=(6, 6)) + 5.0
    points, ratio = pca_2d(x)
    assert points.shape == (30, 2) and ratio.shape == (2,)
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    for k in range(2):
        ref = xc @ vt[k]
        sign = np.sign(points[:, k] @ ref)
        np.testing.assert_allclose(points[:, k], sign * ref, atol=1e-9)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    np.testing.assert_allclose(ratio, eig[:2] / eig.sum(), rtol=1e-9)
    assert ratio[0] >= ratio[1] >= 0 and ratio.sum() <= 1 + 1e-12
    np.testing.assert_allclose(points.mean(0), 0, atol=1e-9)  # centred


def test_pca_2d_is_deterministic_in_sign():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 5))
    points, ratio = pca_2d(x)
    for k in range(2):
        j = np.argmax(np.abs(points[:, k]))
        assert points[j, k] > 0
    p2, r2 = pca_2d(-x + 3.0)  # same cloud, mirrored and shifted: same picture
    np.testing.assert_allclose(p2, points, atol=1e-9)
    np.testing.assert_allclose(r2, ratio)
    p3, _ = pca_2d(torch.tensor(x, dtype=torch.float64))
    np.testing.assert_allclose(p3, points)


def test_pca_2d_low_rank_inputs():
    x = np.array([[0.0, 1.0], [2.0, 3.0]])  # two points: one direction only
    points, ratio = pca_2d(x)
    np.testing.assert_allclose(ratio, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(points[:, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(sorted(points[:, 0]), [-math.sqrt(2), math.sqrt(2)])
    points, ratio = pca_2d(np.array([[1.0], [2.0], [4.0]]))  # D = 1
    assert ratio.tolist() == [1.0, 0.0] and points.shape == (3, 2)


def test_pca_2d_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        pca_2d(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 points"):
        pca_2d(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        pca_2d(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="zero variance"):
        pca_2d(np.ones((4, 3)))


def test_translate_split_beam_search(data):
    beam = pytest.importorskip("s2s_lib.beam")
    assert hasattr(beam, "beam_search")
    model = CopyModel(data.tgt_tokenizer.vocab_size)
    hyps = translate_split(model, data, "valid", method="beam", beam_size=3, progress=False)
    assert hyps == data.sources("valid")


HYPS = ["The cat sat on the mat.", "Tom is here.", "I like it.", "He runs fast."] * 15
BETTER = ["The cat sat on a mat.", "Tom is here.", "I like that.", "He runs fast."] * 15
REFS = ["The cat sat on a mat.", "Tom's here.", "I like that.", "He is running."] * 15


def test_score_translations_is_sacrebleus_own_bleu_and_chrf_with_intervals():
    from sacrebleu.metrics import BLEU, CHRF

    from s2s_lib.evaluate import score_translations

    s = score_translations(HYPS, REFS, n_bootstrap=200)
    assert s.bleu == pytest.approx(BLEU().corpus_score(HYPS, [REFS]).score)
    assert s.chrf == pytest.approx(CHRF().corpus_score(HYPS, [REFS]).score)
    assert s.bleu_ci[0] < s.bleu < s.bleu_ci[1] and s.chrf_ci[0] < s.chrf < s.chrf_ci[1]
    assert "case:mixed" in s.bleu_signature and "tok:13a" in s.bleu_signature and "bs:200" in s.bleu_signature
    assert s.sentences == 60 and str(s).startswith("BLEU ")
    with pytest.raises(ValueError, match="exactly one reference"):
        score_translations(HYPS, REFS[:-1])
    with pytest.raises(ValueError, match="n_bootstrap"):
        score_translations(HYPS, REFS, n_bootstrap=10)


def test_paired_bootstrap_is_sacrebleus_paired_test():
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    from s2s_lib.evaluate import paired_bootstrap

    r = paired_bootstrap(HYPS, BETTER, REFS, n_samples=200)
    _, ref = PairedTest([("baseline", HYPS), ("system", BETTER)], {"BLEU": BLEU(), "chrF": CHRF()}, [REFS],
                        test_type="bs", n_samples=200)()
    assert r["p_value"] == pytest.approx(ref["BLEU"][1].p_value) and r["p_value"] < 0.05
    assert r["difference"] == pytest.approx(ref["BLEU"][1].score - ref["BLEU"][0].score) and r["difference"] > 0
    swapped = paired_bootstrap(BETTER, HYPS, REFS, n_samples=200)  # two-sided: same p, opposite sign
    assert swapped["difference"] == pytest.approx(-r["difference"]) and swapped["p_value"] < 0.05
    with pytest.raises(TypeError, match="system"):
        paired_bootstrap(HYPS, None, REFS)


def test_paired_bootstrap_of_identical_systems_is_not_significant():
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    from s2s_lib.evaluate import paired_bootstrap

    _, raw = PairedTest([("baseline", HYPS), ("system", list(HYPS))], {"BLEU": BLEU(), "chrF": CHRF()}, [REFS],
                        test_type="bs", n_samples=200)()
    assert raw["BLEU"][1].p_value == pytest.approx(1 / 201)  # sacreBLEU's deliberate choice
    r = paired_bootstrap(HYPS, list(HYPS), REFS, n_samples=200)
    assert r["difference"] == 0 and r["p_value"] == 1.0 and r["chrf_p_value"] == 1.0
    one_differs = [HYPS[0] + " x", *HYPS[1:]]  # any difference: sacreBLEU's p again
    _, raw = PairedTest([("baseline", HYPS), ("system", one_differs)], {"BLEU": BLEU(), "chrF": CHRF()}, [REFS],
                        test_type="bs", n_samples=200)()
    assert paired_bootstrap(HYPS, one_differs, REFS, n_samples=200)["p_value"] == pytest.approx(raw["BLEU"][1].p_value)


def test_bleu_by_length_intervals_are_sacrebleus_per_bucket():
    hyps, refs, lengths = corpus(60, seed=5)
    rows = bleu_by_length(hyps, refs, lengths, [6, math.inf], n_bootstrap=200)
    for row in rows:
        idx = [i for i, n in enumerate(lengths) if row["lo"] <= n <= row["hi"]]
        expected = score_translations([hyps[i] for i in idx], [refs[i] for i in idx], n_bootstrap=200)
        assert row["bleu_ci"] == expected.bleu_ci
        assert row["bleu_ci"][0] <= row["bleu"] + 1e-9 or row["bleu"] == 0.0
    assert "bleu_ci" not in bleu_by_length(hyps, refs, lengths, [math.inf])[0]
    empty = bleu_by_length(["a b"], ["a b"], [1], [1, 4], n_bootstrap=100)
    assert empty[1]["bleu_ci"] is None
    with pytest.raises(ValueError, match="n_bootstrap"):
        bleu_by_length(hyps, refs, lengths, [math.inf], n_bootstrap=10)
    with pytest.raises(ValueError, match="tokenize"):
        bleu_by_length(hyps, refs, lengths, [math.inf], tokenize="char", n_bootstrap=100)
