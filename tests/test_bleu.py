"""Tests for s2s_lib.bleu: identical to sacrebleu on randomized real sentences, plus edge cases.

The randomized cases take real English and Korean Tatoeba sentences (via
``s2s_lib.data.load_pairs`` when ``$S2S_DATA_DIR`` holds the corpus, else a small built-in
list), perturb them with word drops / swaps / substitutions / duplications / case flips,
and compare every field of our result with sacrebleu's for the same options.
"""
from __future__ import annotations

import functools
import itertools
import math
import random
import warnings

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_char import TokenizerChar

from s2s_lib import bleu
from s2s_lib.data import load_pairs
from s2s_lib.bleu import (
    BLEUScore,
    closest_ref_length,
    compute_bleu,
    corpus_bleu,
    extract_ngrams,
    preprocess,
    segment_statistics,
    sentence_bleu,
    tokenize_13a,
    tokenize_char,
)

SMOOTH_METHODS = ["none", "floor", "add-k", "exp"]
TOKENIZE = ["13a", "none", "char"]
COMBOS = list(itertools.product(SMOOTH_METHODS, TOKENIZE, [False, True]))  # 24
CASES_PER_COMBO = 45  # 24 * 45 = 1,080 corpus cases and 1,080 sentence cases

# Fallback when the Tatoeba corpus is not available: short everyday sentences written for
# this test (not taken from the corpus), English and Korean.
FALLBACK_EN = [
    "I think it will rain tomorrow.", "She is reading a book in the garden.",
    "Where did you put my keys?", "We ate dinner at seven o'clock.",
    "The train leaves at 3:45 p.m.", "My brother doesn't like coffee.",
    "Can you help me with this box?", "It's too cold to swim today.",
    "He bought 2 apples and 3 oranges.", "Please close the window.",
    "They have lived here since 2010.", "Is this seat taken?",
    "I'm sorry, I didn't hear you.", "The meeting was cancelled again!",
    "Tom said he'd call back later.", "This well-known song is about love.",
    "How much does the ticket cost?", "Let's go for a walk.",
    "Mary wants to learn Korean.", "The price is $1,250.50, isn't it?",
    "Don't forget to lock the door.", "Our teacher gave us a long test.",
    "The children are playing outside.", "What time is it now?",
    "I have never been to Busan.",
]
FALLBACK_KO = [
    "내일은 비가 올 것 같아요.", "그녀는 정원에서 책을 읽고 있다.",
    "내 열쇠를 어디에 두었니?", "우리는 일곱 시에 저녁을 먹었다.",
    "기차는 오후 3시 45분에 떠난다.", "내 동생은 커피를 좋아하지 않는다.",
    "이 상자 좀 도와줄 수 있어요?", "오늘은 수영하기에 너무 춥다.",
    "그는 사과 2개와 오렌지 3개를 샀다.", "창문을 닫아 주세요.",
    "그들은 2010년부터 여기에 살았다.", "이 자리에 누가 있나요?",
    "미안해요, 못 들었어요.", "회의가 또 취소되었어!",
    "톰은 나중에 다시 전화하겠다고 했다.", "이 유명한 노래는 사랑에 관한 것이다.",
    "표는 얼마예요?", "산책하러 가자.",
    "메리는 한국어를 배우고 싶어 한다.", "가격은 1,250.50달러죠?",
    "문 잠그는 것을 잊지 마세요.", "선생님께서 우리에게 긴 시험을 내셨다.",
    "아이들이 밖에서 놀고 있다.", "지금 몇 시예요?",
    "나는 부산에 가 본 적이 없다.",
]


@functools.lru_cache(maxsize=None)
def real_sentences() -> tuple[list[str], list[str]]:
    """(English, Korean) raw sentences: a seeded Tatoeba sample, or the fallback lists."""
    try:
        pairs = load_pairs(download=False)  # $S2S_DATA_DIR or the user cache, never the web
    except FileNotFoundError:  # s2s_lib.data.DataNotFoundError
        return list(FALLBACK_EN), list(FALLBACK_KO)
    sample = random.Random(0).sample(pairs, min(400, len(pairs)))
    return [p.en for p in sample], [p.ko for p in sample]


def perturb(sentence: str, rng: random.Random, vocab: list[str], strength: int) -> str:
    """Apply ``strength`` random word edits: drop, swap, substitute, duplicate, case flip."""
    words = sentence.split()
    for _ in range(strength):
        op = rng.choice(["drop", "swap", "sub", "dup", "case", "punct"])
        if not words:
            words = [rng.choice(vocab)]
            continue
        i = rng.randrange(len(words))
        if op == "drop":
            del words[i]
        elif op == "swap" and len(words) > 1:
            j = min(i + 1, len(words) - 1) if i + 1 < len(words) else i - 1
            words[i], words[j] = words[j], words[i]
        elif op == "sub":
            words[i] = rng.choice(vocab)
        elif op == "dup":
            words.insert(i, words[i])
        elif op == "case":
            words[i] = words[i].swapcase()
        elif op == "punct":
            words[i] = words[i] + rng.choice([".", ",", "!", "?", " .", "'s", "-"])
    return " ".join(words)


def make_segment(rng: random.Random, sentences: list[str], vocab: list[str], nrefs: int):
    """One hypothesis and ``nrefs`` references of (usually) different lengths."""
    original = rng.choice(sentences)
    roll = rng.random()
    if roll < 0.03:
        hyp = ""  # empty hypothesis
    elif roll < 0.08:
        hyp = rng.choice(sentences)  # an unrelated sentence: few or no matches
    else:
        hyp = perturb(original, rng, vocab, rng.randint(0, 5))
    refs = [original]
    for _ in range(nrefs - 1):
        if rng.random() < 0.7:
            refs.append(perturb(original, rng, vocab, rng.randint(1, 4)))
        else:
            refs.append(original + " " + rng.choice(sentences))  # a longer reference
    rng.shuffle(refs)
    return hyp, refs


@functools.lru_cache(maxsize=None)
def random_cases() -> list[dict]:
    """Deterministic randomized cases (``random.Random(0)``), ``CASES_PER_COMBO`` per combo."""
    rng = random.Random(0)
    english, korean = real_sentences()
    cases = []
    for combo in COMBOS:
        for _ in range(CASES_PER_COMBO):
            sentences = english if rng.random() < 0.5 else korean
            vocab = sorted({w for s in sentences for w in s.split()})
            nrefs = rng.randint(1, 3)
            n_segments = rng.randint(1, 8)
            segments = [make_segment(rng, sentences, vocab, nrefs) for _ in range(n_segments)]
            smooth_method = combo[0]
            smooth_value = None
            if smooth_method in ("floor", "add-k") and rng.random() < 0.3:
                smooth_value = rng.choice([0.01, 0.5, 2])
            cases.append(dict(
                combo=combo,
                hyps=[h for h, _ in segments],
                refs=[[refs[k] for _, refs in segments] for k in range(nrefs)],
                smooth_method=smooth_method, smooth_value=smooth_value,
                tokenize=combo[1], lowercase=combo[2],
                effective_order=rng.random() < 0.5,
            ))
    return cases


def assert_same_as_sacrebleu(ours: BLEUScore, theirs, context: str = "") -> None:
    """Every field equal: score and precisions to 1e-9, counts/totals/lengths exactly."""
    msg = f"\nours:   {ours}\ntheirs: {theirs}\n{context}"
    assert abs(ours.score - theirs.score) <= 1e-9, msg
    assert ours.precisions == pytest.approx(theirs.precisions, abs=1e-9, rel=0), msg
    assert list(ours.counts) == list(theirs.counts), msg
    assert list(ours.totals) == list(theirs.totals), msg
    assert ours.bp == pytest.approx(theirs.bp, abs=1e-12, rel=0), msg
    assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len), msg
    assert str(ours) == str(theirs), msg


def without_version(signature: str) -> str:
    return "|".join(p for p in signature.split("|") if not p.startswith(("version:", "v:")))


# ------------------------------------------------------------------ randomized equality

def test_randomized_cases_cover_everything():
    cases = random_cases()
    assert len(cases) >= 1000
    assert {c["combo"] for c in cases} == set(COMBOS)
    assert {len(c["refs"]) for c in cases} == {1, 2, 3}
    assert any(h == "" for c in cases for h in c["hyps"])
    assert any(c["smooth_value"] is not None for c in cases)


@pytest.mark.parametrize("smooth_method,tokenize,lowercase", COMBOS)
def test_corpus_bleu_equals_sacrebleu(smooth_method, tokenize, lowercase):
    cases = [c for c in random_cases() if c["combo"] == (smooth_method, tokenize, lowercase)]
    assert len(cases) == CASES_PER_COMBO
    for case in cases:
        metric = BLEU(lowercase=lowercase, tokenize=tokenize, smooth_method=smooth_method,
                      smooth_value=case["smooth_value"],
                      effective_order=case["effective_order"])
        theirs = metric.corpus_score(case["hyps"], case["refs"])
        ours = corpus_bleu(case["hyps"], case["refs"], smooth_method=smooth_method,
                           smooth_value=case["smooth_value"], tokenize=tokenize,
                           lowercase=lowercase, use_effective_order=case["effective_order"])
        assert_same_as_sacrebleu(ours, theirs, repr(case))
        assert without_version(ours.signature()) == without_version(
            str(metric.get_signature())), case
        assert without_version(ours.signature(short=True)) == without_version(
            metric.get_signature().format(short=True)), case


@pytest.mark.parametrize("smooth_method,tokenize,lowercase", COMBOS)
def test_sentence_bleu_equals_sacrebleu(smooth_method, tokenize, lowercase):
    cases = [c for c in random_cases() if c["combo"] == (smooth_method, tokenize, lowercase)]
    for case in cases:
        hyp = case["hyps"][0]
        refs = [stream[0] for stream in case["refs"]]
        # The defaults (exp smoothing, effective order on) must match sacrebleu's too.
        kwargs = dict(smooth_method=smooth_method, smooth_value=case["smooth_value"],
                      tokenize=tokenize, lowercase=lowercase)
        theirs = sacrebleu.sentence_bleu(hyp, refs, **kwargs)
        ours = sentence_bleu(hyp, refs, **kwargs)
        assert_same_as_sacrebleu(ours, theirs, repr((hyp, refs, kwargs)))
        assert ours.effective_order is True
        # ... and with effective order switched off.
        theirs = sacrebleu.sentence_bleu(hyp, refs, use_effective_order=False, **kwargs)
        ours = sentence_bleu(hyp, refs, use_effective_order=False, **kwargs)
        assert_same_as_sacrebleu(ours, theirs, repr((hyp, refs, kwargs)))


def test_defaults_equal_sacrebleu_compat_functions():
    english, _ = real_sentences()
    rng = random.Random(0)
    vocab = sorted({w for s in english for w in s.split()})
    refs = english[:40]
    hyps = [perturb(s, rng, vocab, rng.randint(0, 4)) for s in refs]
    assert_same_as_sacrebleu(corpus_bleu(hyps, [refs]), sacrebleu.corpus_bleu(hyps, [refs]))
    for hyp, ref in zip(hyps, refs):
        assert_same_as_sacrebleu(sentence_bleu(hyp, [ref]), sacrebleu.sentence_bleu(hyp, [ref]))


@pytest.mark.parametrize("max_order", [1, 2, 3, 5, 6])
def test_other_max_orders_equal_sacrebleu(max_order):
    for case in random_cases()[::20]:
        metric = BLEU(smooth_method=case["smooth_method"], smooth_value=case["smooth_value"],
                      tokenize=case["tokenize"], lowercase=case["lowercase"],
                      max_ngram_order=max_order)
        theirs = metric.corpus_score(case["hyps"], case["refs"])
        ours = corpus_bleu(case["hyps"], case["refs"], smooth_method=case["smooth_method"],
                           smooth_value=case["smooth_value"], tokenize=case["tokenize"],
                           lowercase=case["lowercase"], max_order=max_order)
        assert len(ours.precisions) == max_order
        assert_same_as_sacrebleu(ours, theirs, repr(case))


def test_compute_bleu_equals_sacrebleu_on_random_statistics():
    rng = random.Random(0)
    for _ in range(500):
        totals = [max(0, rng.randint(-2, 30) - 3 * n) for n in range(4)]
        counts = [rng.randint(0, t) if rng.random() < 0.8 else 0 for t in totals]
        sys_len = totals[0]
        ref_len = max(1, sys_len + rng.randint(-5, 5))
        method = rng.choice(SMOOTH_METHODS)
        value = rng.choice([None, 0.1, 1, 0.5]) if method in ("floor", "add-k") else None
        eff = rng.random() < 0.5
        counts_before, totals_before = list(counts), list(totals)
        ours = compute_bleu(counts, totals, sys_len, ref_len, method, value, eff)
        theirs = BLEU.compute_bleu(list(counts), list(totals), sys_len, ref_len,
                                   method, value, eff)
        assert_same_as_sacrebleu(ours, theirs, repr((counts, totals, sys_len, ref_len, method)))
        assert (counts, totals) == (counts_before, totals_before), "inputs must not change"


# ------------------------------------------------------------------------- tokenizers

def test_13a_tokenizer_equals_sacrebleu_on_random_strings():
    rng = random.Random(0)
    alphabet = list("abcXYZ019 .,-'\"!?$%&;:/()[]{}<>@#*+=_^`|~\\\n") + ["한", "국", "。", "\t"]
    pieces = alphabet + ["&quot;", "&amp;", "&lt;", "&gt;", "<skipped>", "-\n", "3.14",
                         "1,000", "U.S.", "e.g.", "don't", "2-3"]
    reference = Tokenizer13a()
    char_reference = TokenizerChar()
    for _ in range(3000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert tokenize_13a(line) == reference(line), repr(line)
        assert tokenize_char(line).split() == char_reference(line).split(), repr(line)


@pytest.mark.parametrize("line,expected", [
    ("Hello, world!", "Hello , world !"),
    ("It costs $3.50, not 3,000.", "It costs $ 3.50 , not 3,000 ."),
    ("Pages 10-12 are well-known.", "Pages 10 - 12 are well-known ."),
    ("I don't know (really).", "I don't know ( really ) ."),
    ("&quot;Yes&quot; &amp; no", '" Yes " & no'),
    ("Mr.Smith went home...", "Mr . Smith went home . . ."),
    ("Time: 3:45 p.m.", "Time : 3 : 45 p . m ."),
    ("그는 동물을 사랑한다.", "그는 동물을 사랑한다 ."),
    ("톰, 어디 가?", "톰 , 어디 가 ?"),
    ("   spaces\tand\ttabs   ", "spaces and tabs"),
])
def test_13a_punctuation_rules(line, expected):
    assert tokenize_13a(line) == expected
    assert Tokenizer13a()(line) == expected  # the rules are sacrebleu's, not our guess


def test_char_tokenizer_splits_hangul_syllables():
    assert tokenize_char("학교에 갔다.") == "학 교 에 갔 다 ."
    assert preprocess("학교에 갔다.", tokenize="char") == ["학", "교", "에", "갔", "다", "."]
    assert preprocess("학교에 갔다.", tokenize="13a") == ["학교에", "갔다", "."]


def test_preprocess_lowercase_and_none():
    assert preprocess("The Cat.", lowercase=True) == ["the", "cat", "."]
    assert preprocess("The Cat.", tokenize="none") == ["The", "Cat."]


# ------------------------------------------------------------------ the pieces by hand

def test_ngram_counts_clipping_and_closest_length():
    assert extract_ngrams(["a", "b", "a"], 2) == {("a",): 2, ("b",): 1, ("a", "b"): 1,
                                                 ("b", "a"): 1}
    # "the the the the" against "the cat": 'the' is clipped to 1 match out of 4.
    stats = segment_statistics(["the"] * 4, [["the", "cat"]], max_order=2)
    assert stats == [4, 2, 1, 0, 4, 3]
    # Several references: the max count of each n-gram over references is allowed.
    stats = segment_statistics(["the"] * 4, [["the", "cat"], ["the", "the", "dog"]], 1)
    assert stats[2] == 2
    assert closest_ref_length(4, [3, 5]) == 3  # tie -> shorter
    assert closest_ref_length(4, [5, 3]) == 3
    assert closest_ref_length(4, [7, 5, 2]) == 5


def test_brevity_penalty_short_and_long_hypotheses():
    ref = "the cat sat on the mat"
    short = corpus_bleu(["the cat"], [[ref]], smooth_method="none", use_effective_order=True)
    assert short.bp == pytest.approx(math.exp(1 - 6 / 2))
    assert short.score == pytest.approx(100 * math.exp(1 - 6 / 2))  # p1 = p2 = 100%
    long = corpus_bleu(["the cat sat on the mat today in the sun"], [[ref]])
    assert long.bp == 1.0 and long.sys_len == 10 and long.ref_len == 6
    assert long.precisions[0] == pytest.approx(100 * 6 / 10)


def test_several_references_of_different_lengths():
    hyp = "the cat is on the mat"
    refs = ["the cat is on the mat .", "a cat", "there is a cat on the mat right now"]
    ours = sentence_bleu(hyp, refs)
    assert ours.ref_len == 7  # |6 - 7| = 1 is the closest
    assert ours.score == pytest.approx(100 * math.exp(1 - 7 / 6))
    assert_same_as_sacrebleu(ours, sacrebleu.sentence_bleu(hyp, refs))
    streams = [[refs[0], "x y"], [refs[1], None], [refs[2], None]]
    ours = corpus_bleu([hyp, "x y z"], streams)
    metric = BLEU()
    assert_same_as_sacrebleu(ours, metric.corpus_score([hyp, "x y z"], streams))
    assert ours.nrefs == "var" and ours.signature().startswith("nrefs:var|")
    assert without_version(ours.signature()) == without_version(str(metric.get_signature()))


def test_empty_hypothesis_scores_zero():
    ours = corpus_bleu([""], [["the cat sat"]])
    assert ours.score == 0.0 and ours.bp == 0.0 and ours.sys_len == 0 and ours.ref_len == 3
    assert_same_as_sacrebleu(ours, sacrebleu.corpus_bleu([""], [["the cat sat"]]))
    assert_same_as_sacrebleu(sentence_bleu("", ["a b"]), sacrebleu.sentence_bleu("", ["a b"]))
    # In a corpus the empty segment only adds reference length (a brevity penalty).
    mixed = corpus_bleu(["", "the cat sat on the mat"], [["a b", "the cat sat on the mat"]])
    assert mixed.precisions == [100.0] * 4 and mixed.bp == pytest.approx(math.exp(1 - 8 / 6))
    # A 3-word hypothesis has no 4-grams: without effective order BLEU is 0, smoothing or not.
    assert corpus_bleu(["the cat sat"], [["the cat sat"]]).score == 0.0


def test_zero_matches_at_some_order():
    hyp, ref = "the cat the dog", "the dog the cat"  # no 3-gram or 4-gram matches
    none = corpus_bleu([hyp], [[ref]], smooth_method="none")
    assert none.counts[2:] == [0, 0] and none.score == 0.0
    exp = corpus_bleu([hyp], [[ref]], smooth_method="exp")
    # exp smoothing: the first zero order gets 1/(2*total), the second 1/(4*total).
    assert exp.precisions[2] == pytest.approx(100 / (2 * 2))
    assert exp.precisions[3] == pytest.approx(100 / (4 * 1))
    assert exp.score > 0
    floor = corpus_bleu([hyp], [[ref]], smooth_method="floor")
    assert floor.precisions[2] == pytest.approx(100 * 0.1 / 2)
    addk = corpus_bleu([hyp], [[ref]], smooth_method="add-k")
    assert addk.counts == [4, 3, 1, 1] and addk.totals == [4, 4, 3, 2]  # k added, as sacrebleu
    for method, ours in [("none", none), ("exp", exp), ("floor", floor), ("add-k", addk)]:
        assert_same_as_sacrebleu(ours, sacrebleu.corpus_bleu([hyp], [[ref]],
                                                             smooth_method=method))


def test_no_match_at_all_and_perfect_match():
    assert corpus_bleu(["x y z w"], [["a b c d"]]).score == 0.0
    assert corpus_bleu(["a b c d e"], [["a b c d e"]]).score == pytest.approx(100.0)


def test_unicode_korean_text_equals_sacrebleu():
    _, korean = real_sentences()
    rng = random.Random(0)
    vocab = sorted({w for s in korean for w in s.split()})
    refs = korean[:30]
    hyps = [perturb(s, rng, vocab, 2) for s in refs]
    scores = {}
    for tok in ("13a", "char"):
        ours = corpus_bleu(hyps, [refs], tokenize=tok)
        assert_same_as_sacrebleu(ours, sacrebleu.corpus_bleu(hyps, [refs], tokenize=tok))
        scores[tok] = ours.score
    assert scores["char"] > scores["13a"]  # eojeol-level matching is harsher on Korean
    # Composed vs decomposed Hangul are different strings: no normalization happens.
    assert corpus_bleu(["\u1112\u1161\u11ab"], [["한"]], tokenize="char").score == 0.0


def test_lowercase_and_signature_and_str():
    ours = corpus_bleu(["The Cat sat."], [["the cat sat ."]], lowercase=True)
    assert ours.score == pytest.approx(100.0)
    assert ours.signature() == (f"nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|"
                                f"version:s2s_lib-{bleu.__version__}")
    assert ours.signature(short=True).startswith("#:1|c:lc|e:no|tok:13a|s:exp|v:")
    floor = corpus_bleu(["a"], [["a"]], smooth_method="floor", tokenize="char")
    assert "tok:char|smooth:floor[0.10]" in floor.signature()
    assert "smooth:add-k[0.50]" in corpus_bleu(["a"], [["a"]], smooth_method="add-k",
                                               smooth_value=0.5).signature()
    assert ours.format(score_only=True) == "100.00"
    assert ours.format(signature=True).startswith("BLEU|nrefs:1|case:lc|")
    assert str(ours).startswith("BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000")


def test_tokenized_looking_input_warns_unless_forced():
    hyps = ["a b ."] * 100
    with pytest.warns(UserWarning, match="tokenized period"):
        corpus_bleu(hyps, [hyps])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corpus_bleu(hyps, [hyps], force=True)
        corpus_bleu(hyps[:99], [hyps[:99]])


# --------------------------------------------------------------------------- bad input

def test_empty_corpus_raises():
    with pytest.raises(ValueError, match="hypotheses is empty"):
        corpus_bleu([], [[]])
    with pytest.raises(ValueError, match="references is empty"):
        corpus_bleu(["a"], [])
    with pytest.raises(ValueError, match="references is empty"):
        sentence_bleu("a", [])


def test_list_of_strings_instead_of_list_of_streams_raises_type_error():
    hyps, refs = ["a b c", "d e"], ["a b c", "d e"]
    with pytest.raises(TypeError, match=r"corpus_bleu\(hypotheses, \[references\]\)"):
        corpus_bleu(hyps, refs)
    with pytest.raises(TypeError, match=r"\[references\]"):
        corpus_bleu(hyps, "a b c")
    with pytest.raises(TypeError, match="hypotheses must be a list"):
        corpus_bleu("a b c", [refs])
    with pytest.raises(TypeError, match=r"sentence_bleu\(hypothesis, \[reference\]\)"):
        sentence_bleu("a b c", "a b c")
    with pytest.raises(TypeError, match="use corpus_bleu"):
        sentence_bleu(hyps, refs)
    with pytest.raises(TypeError, match=r"hypotheses\[1\]"):
        corpus_bleu(["a", None], [refs])
    with pytest.raises(TypeError, match=r"references\[0\]\[1\]"):
        corpus_bleu(hyps, [["a", 3]])
    with pytest.raises(TypeError, match=r"references\[1\]"):
        sentence_bleu("a", ["a", None])


def test_reference_stream_length_mismatch_raises():
    with pytest.raises(ValueError, match=r"references\[1\] has 1 segments but hypotheses has 2"):
        corpus_bleu(["a", "b"], [["a", "b"], ["a"]])
    with pytest.raises(ValueError, match="segment 1 has no reference"):
        corpus_bleu(["a", "b"], [["a", None]])


def test_unknown_options_raise_listing_valid_ones():
    with pytest.raises(ValueError, match=r"smooth_method must be one of .*'add-k'"):
        corpus_bleu(["a"], [["a"]], smooth_method="add-one")
    with pytest.raises(ValueError, match=r"tokenize must be one of \('13a', 'char', 'none'\)"):
        corpus_bleu(["a"], [["a"]], tokenize="intl")
    with pytest.raises(ValueError, match="smooth_value must be >= 0"):
        corpus_bleu(["a"], [["a"]], smooth_method="floor", smooth_value=-1)
    with pytest.raises(TypeError, match="smooth_value must be a number"):
        sentence_bleu("a", ["a"], smooth_method="floor", smooth_value="0.1")
    with pytest.raises(ValueError, match="max_order must be >= 1"):
        corpus_bleu(["a"], [["a"]], max_order=0)
    with pytest.raises(ValueError, match="counts and totals must both have length"):
        compute_bleu([1, 1], [1, 1, 1], 1, 1)
    with pytest.raises(ValueError, match="ref_lens is empty"):
        closest_ref_length(3, [])


def test_infinite_add_k_smoothing_value_raises():
    # it used to give BLEU = nan: the added k makes every count and total infinite
    with pytest.raises(ValueError, match="smooth_value must be a finite number"):
        corpus_bleu(["a b c"], [["a b d"]], smooth_method="add-k", smooth_value=math.inf)
    with pytest.raises(ValueError, match="smooth_value must be a finite number"):
        compute_bleu([1, 1], [2, 2], 2, 2, smooth_method="add-k", smooth_value=math.inf)


def test_a_sentence_that_is_not_a_str_raises_naming_it():
    with pytest.raises(TypeError, match="sentence must be a str, got NoneType"):
        preprocess(None)
    for tokenizer in (tokenize_13a, tokenize_char, bleu.tokenize_none):
        with pytest.raises(TypeError, match="line must be a str, got NoneType"):
            tokenizer(None)
    with pytest.raises(TypeError, match="line must be a str, got list"):
        tokenize_13a(["a", "b"])  # not "unhashable type" from the cache


# Defect: a huge finite add-k value overflowed the smoothed precisions: BLEU = inf, silently.
def test_add_k_value_that_overflows_raises():
    with pytest.raises(ValueError, match="BLEU overflows a float"):
        corpus_bleu(["a b c d"], [["a b c d"]], smooth_method="add-k", smooth_value=1e308)


# Defect: compute_bleu took impossible statistics: negative counts gave "math domain error",
# counts above totals a precision of 500 %, a negative or nan sys_len a number, no order at all
# a score of 0, and a str count "can't multiply sequence by non-int".
@pytest.mark.parametrize("args, error, message", [
    (([-1, 0, 0, 0], [1, 1, 1, 1], 1, 1), ValueError, r"counts\[0\] must be >= 0"),
    (([5, 0, 0, 0], [1, 1, 1, 1], 1, 1), ValueError, "counts must not exceed totals"),
    (([1, 0, 0, 0], [0, 0, 0, 0], 1, 1), ValueError, "counts must not exceed totals"),
    (([1, 1, 1, 1], [1, 1, 1, 1], -1, 1), ValueError, "sys_len must be >= 0"),
    (([1, 1, 1, 1], [1, 1, 1, 1], math.nan, 1), TypeError, "sys_len must be an int"),
    (([1, 1, 1, 1], [1, 1, 1, math.inf], 1, 1), ValueError, r"totals\[3\] must be a finite number"),
    (([], [], 1, 1), ValueError, "counts is empty"),
    ((["1", 1, 1, 1], [2, 2, 2, 2], 2, 2), TypeError, r"counts\[0\] must be a number"),
    ((None, [2, 2, 2, 2], 2, 2), TypeError, "counts must be a list or array of numbers"),
])
def test_compute_bleu_refuses_impossible_statistics(args, error, message):
    with pytest.raises(error, match=message):
        compute_bleu(*args)


# Defect: a str where a token list belongs was split into characters (a silent wrong answer),
# max_order 0 or -1 gave no n-grams, and None gave "object of type 'NoneType' has no len()".
@pytest.mark.parametrize("call, error, message", [
    (lambda: extract_ngrams("the cat", 2), TypeError, r"tokens must be a list of str \(or another iterable of str\), got str"),
    (lambda: extract_ngrams(["a"], 0), ValueError, "max_order must be >= 1"),
    (lambda: extract_ngrams(None), TypeError, "tokens must be a list of str"),
    (lambda: segment_statistics("a b", ["a b"]), TypeError, r"hyp_tokens must be a list of str \(or another iterable of str\), got str"),
    (lambda: segment_statistics(["a"], ["a b"]), TypeError, r"refs_tokens\[0\] must be a list of str"),
    (lambda: segment_statistics(["a"], []), ValueError, "refs_tokens is empty"),
    (lambda: closest_ref_length(3, None), TypeError, "ref_lens must be a list of ints"),
    (lambda: closest_ref_length("3", [1, 2]), TypeError, "hyp_len must be an int"),
])
def test_statistics_functions_check_their_tokens(call, error, message):
    with pytest.raises(error, match=message):
        call()


# Defect: flags were taken for their truth value: use_effective_order="no" turned it on.
@pytest.mark.parametrize("call, name", [
    (lambda: corpus_bleu(["a"], [["a"]], use_effective_order="no"), "use_effective_order"),
    (lambda: corpus_bleu(["a"], [["a"]], lowercase="yes"), "lowercase"),
    (lambda: corpus_bleu(["a"], [["a"]], force=1), "force"),
    (lambda: sentence_bleu("a", ["a"], use_effective_order=0), "use_effective_order"),
    (lambda: preprocess("A", lowercase="x"), "lowercase"),
    (lambda: compute_bleu([1], [1], 1, 1, effective_order="yes"), "effective_order"),
    (lambda: corpus_bleu(["a"], [["a"]]).format(score_only="yes"), "score_only"),
])
def test_flags_must_be_bools(call, name):
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        call()


# Defect: format(width=-1) gave str.format's "Format specifier missing precision".
def test_format_width_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match="width must be >= 0"):
        corpus_bleu(["a"], [["a"]]).format(width=-1)


def test_unchecked_statistics_are_the_same_numbers():
    hyp, refs = preprocess("the cat sat on the mat ."), [preprocess("the cat is on the mat .")]
    assert segment_statistics(hyp, refs) == segment_statistics.unchecked(hyp, refs)
    assert extract_ngrams(hyp) == extract_ngrams.unchecked(hyp, 4)


def test_compute_bleu_takes_numpy_statistics():  # chapter 6b sums segment statistics with numpy
    import numpy as np

    stats = np.array([segment_statistics(preprocess(h), [preprocess(r)])
                      for h, r in [("the cat sat on the mat", "the cat is on the mat"), ("a b c d", "a b c e")]])
    s = stats.sum(axis=0)
    assert compute_bleu(s[2:6], s[6:10], s[0], s[1], smooth_method="exp").score == \
        compute_bleu(list(map(int, s[2:6])), list(map(int, s[6:10])), int(s[0]), int(s[1]), smooth_method="exp").score
