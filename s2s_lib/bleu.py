"""BLEU from scratch, identical to sacrebleu (chapter "BLEU: measuring translations").

BLEU (Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation of Machine
Translation") scores a system output against one or more references:

    BLEU = BP * exp( (1/N) * sum_n log p_n ),   N = 4

* ``p_n`` is the **modified (clipped) n-gram precision**: every hypothesis n-gram counts
  as correct at most as often as it occurs in the reference that has most of it.
* ``BP = min(1, exp(1 - r / c))`` is the **brevity penalty**, with ``c`` the hypothesis
  length and ``r`` the reference length closest to it (ties go to the shorter one).

BLEU is a *corpus* metric: the clipped counts, totals and lengths of all segments are
summed first, and only then combined into one score. This module follows the structure of
sacrebleu (Post, 2018, "A Call for Clarity in Reporting BLEU Scores") and Joey NMT:

1. ``preprocess``: lowercase (optional), tokenize (``13a``, ``char`` or ``none``), split;
2. ``segment_statistics``: per segment ``[sys_len, ref_len, counts..., totals...]``;
3. sum the statistics over the corpus;
4. ``compute_bleu``: precisions, smoothing, brevity penalty, geometric mean.

Smoothing of zero precisions follows Chen & Cherry (2014), "A Systematic Comparison of
Smoothing Techniques for Sentence-Level BLEU": ``floor`` (method 1), ``add-k`` (method 2)
and ``exp`` (method 3, NIST's mteval-v13a smoothing, sacrebleu's default).

Every field of the result (``score``, ``counts``, ``totals``, ``precisions``, ``bp``,
``sys_len``, ``ref_len``) equals sacrebleu 2.x for the same options; ``tests/test_bleu.py``
checks this on thousands of randomized cases. sacrebleu itself is *not* used here.
"""
from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from s2s_lib import __version__
from s2s_lib.checks import (check_bool, check_choice, check_int, check_real, check_str, check_strings,
                            check_type, validated_by)

__all__ = [
    "MAX_NGRAM_ORDER",
    "SMOOTH_DEFAULTS",
    "TOKENIZERS",
    "BLEUScore",
    "tokenize_13a",
    "tokenize_char",
    "tokenize_none",
    "get_tokenizer",
    "preprocess",
    "extract_ngrams",
    "closest_ref_length",
    "segment_statistics",
    "compute_bleu",
    "corpus_bleu",
    "sentence_bleu",
]

MAX_NGRAM_ORDER = 4

# Default smoothing values, as in sacrebleu (from Chen & Cherry, 2014). ``None``: the
# method takes no value.
SMOOTH_DEFAULTS: dict[str, float | int | None] = {
    "none": None,
    "floor": 0.1,
    "add-k": 1,
    "exp": None,
}

# sacrebleu floors log(0) to this number so that exp(mean of logs) is exactly 0.0.
_LOG_ZERO = -9999999999


# --------------------------------------------------------------------------- tokenizers

# mteval-v13a.pl splits off every ASCII symbol except the apostrophe ', comma, hyphen and
# period (the regex ranges [{-~[-` -&(-+:-@/] of the Perl script, written out).
_13A_SYMBOLS = re.compile(r"""([!"#$%&()*+/:;<=>?@\[\\\]^_`{|}~])""")
# A period or comma is split off unless it sits between digits ("3.14", "1,000").
_13A_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
_13A_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
# A hyphen is split off only after a digit ("2-3" -> "2 - 3", but "well-known" stays).
_13A_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")


def tokenize_13a(line: str) -> str:
    """The ``13a`` tokenizer of mteval-v13a.pl (WMT's standard), as sacrebleu applies it.

    Splits ASCII punctuation and symbols off words, keeps ``'`` and ``-`` inside words and
    keeps ``.``/``,`` inside numbers. Non-ASCII text (Hangul) is only split on whitespace,
    so a Korean eojeol (어절) like "학교에" stays one token.

    Args:
        line: one detokenized sentence.
    Returns:
        The tokens joined by single spaces (no leading/trailing space).
    """
    return _tokenize_13a(check_str(line, "line"))


@lru_cache(maxsize=2**16)
def _tokenize_13a(line: str) -> str:
    """:func:`tokenize_13a` of a str, cached: a corpus repeats many sentences and references."""
    # Language-independent part: mteval's markup and line breaks.
    line = line.replace("<skipped>", "")
    line = line.replace("-\n", "")
    line = line.replace("\n", " ")
    if "&" in line:  # the four XML entities, in mteval's order
        line = line.replace("&quot;", '"')
        line = line.replace("&amp;", "&")
        line = line.replace("&lt;", "<")
        line = line.replace("&gt;", ">")
    line = f" {line} "
    # Language-dependent part (assumes a Western language).
    line = _13A_SYMBOLS.sub(r" \1 ", line)
    line = _13A_PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
    line = _13A_PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    line = _13A_DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return " ".join(line.split())


def tokenize_char(line: str) -> str:
    """Character tokenization: every non-space character is a token ("학교에" -> "학 교 에").

    Useful for Korean, where one eojeol carries a stem plus particles/endings and the
    word-level ``13a`` tokenizer gives no credit for a right stem with another ending.

    Args:
        line: one sentence.
    Returns:
        The characters joined by single spaces (whitespace characters disappear).
    """
    return " ".join(ch for ch in check_str(line, "line") if not ch.isspace())


def tokenize_none(line: str) -> str:
    """No tokenization: the line is split on whitespace as it is (not recommended)."""
    return check_str(line, "line")


TOKENIZERS: dict[str, Callable[[str], str]] = {
    "13a": tokenize_13a,
    "char": tokenize_char,
    "none": tokenize_none,
}


def get_tokenizer(name: str) -> Callable[[str], str]:
    """Return the tokenizer called ``name`` (one of ``TOKENIZERS``).

    Raises:
        ValueError: ``name`` is not a known tokenizer.
    """
    return TOKENIZERS[check_choice(name, "tokenize", sorted(TOKENIZERS))]


def preprocess(sentence: str, tokenize: str = "13a", lowercase: bool = False) -> list[str]:
    """Lowercase (optionally), strip trailing whitespace, tokenize and split into tokens.

    Args:
        sentence: one detokenized sentence.
        tokenize: tokenizer name, one of ``TOKENIZERS``.
        lowercase: lowercase before tokenizing (sacrebleu's ``case:lc``).
    Returns:
        The list of tokens BLEU counts n-grams over.
    """
    check_str(sentence, "sentence")
    check_bool(lowercase, "lowercase")
    tokenizer = get_tokenizer(tokenize)
    if lowercase:
        sentence = sentence.lower()
    return tokenizer(sentence.rstrip()).split()


# ------------------------------------------------------------------- segment statistics
# Public, so they check their arguments; corpus_bleu checks once and calls ``.unchecked``.

def _ngram_args(tokens, max_order=MAX_NGRAM_ORDER):
    check_strings(tokens, "tokens")
    check_int(max_order, "max_order")


def _ref_length_args(hyp_len, ref_lens):
    check_int(hyp_len, "hyp_len", minimum=0)
    if isinstance(ref_lens, (str, bytes)) or not (hasattr(ref_lens, "__len__") and hasattr(ref_lens, "__iter__")):
        raise TypeError(f"ref_lens must be a list of ints, got {type(ref_lens).__name__}")
    for i, r in enumerate(ref_lens):
        check_int(r, f"ref_lens[{i}]", minimum=0)


def _statistics_args(hyp_tokens, refs_tokens, max_order=MAX_NGRAM_ORDER):
    check_strings(hyp_tokens, "hyp_tokens")
    if isinstance(refs_tokens, (str, bytes)) or not isinstance(refs_tokens, Sequence):
        raise TypeError(f"refs_tokens must be a list of token lists (one per reference), "
                        f"got {type(refs_tokens).__name__}")
    if len(refs_tokens) == 0:
        raise ValueError("refs_tokens is empty: a segment needs at least one reference")
    for k, ref in enumerate(refs_tokens):
        check_strings(ref, f"refs_tokens[{k}]")
    check_int(max_order, "max_order")


@validated_by(_ngram_args)
def extract_ngrams(tokens: Sequence[str], max_order: int = MAX_NGRAM_ORDER) -> Counter:
    """Count all n-grams of orders 1..``max_order``.

    Args:
        tokens: the tokens of one sentence.
        max_order: the largest n.
    Returns:
        A Counter mapping n-gram tuples (of length 1..max_order) to their counts.
    """
    ngrams: Counter = Counter()
    for n in range(1, max_order + 1):
        for i in range(len(tokens) - n + 1):
            ngrams[tuple(tokens[i:i + n])] += 1
    return ngrams


@validated_by(_ref_length_args)
def closest_ref_length(hyp_len: int, ref_lens: Sequence[int]) -> int:
    """The reference length closest to ``hyp_len``; on a tie the shorter one wins.

    Args:
        hyp_len: hypothesis length in tokens.
        ref_lens: the lengths of this segment's references (at least one).
    Raises:
        ValueError: ``ref_lens`` is empty.
    """
    if len(ref_lens) == 0:
        raise ValueError("ref_lens is empty: a segment needs at least one reference")
    return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


@validated_by(_statistics_args)
def segment_statistics(
    hyp_tokens: Sequence[str],
    refs_tokens: Sequence[Sequence[str]],
    max_order: int = MAX_NGRAM_ORDER,
) -> list[int]:
    """BLEU's sufficient statistics for one segment.

    The reference n-gram counts of several references are merged with ``max``: an
    n-gram is allowed as often as the reference that contains it most often.

    Args:
        hyp_tokens: the hypothesis tokens.
        refs_tokens: the tokens of each reference of this segment (at least one).
        max_order: the largest n-gram order N.
    Returns:
        ``[sys_len, ref_len, counts_1..counts_N, totals_1..totals_N]`` where ``counts_n``
        is the number of clipped matching n-grams and ``totals_n`` the number of
        hypothesis n-grams. Summing these lists over a corpus gives corpus statistics.
    """
    max_ref_counts: Counter = Counter()
    for ref_tokens in refs_tokens:
        for ngram, count in extract_ngrams.unchecked(ref_tokens, max_order).items():
            max_ref_counts[ngram] = max(max_ref_counts[ngram], count)
    ref_len = closest_ref_length.unchecked(len(hyp_tokens), [len(r) for r in refs_tokens])

    counts = [0] * max_order
    totals = [0] * max_order
    for ngram, count in extract_ngrams.unchecked(hyp_tokens, max_order).items():
        n = len(ngram) - 1
        totals[n] += count
        counts[n] += min(count, max_ref_counts[ngram])  # clipping
    return [len(hyp_tokens), ref_len] + counts + totals


# ---------------------------------------------------------------------------- the score

@dataclass
class BLEUScore:
    """The result of ``corpus_bleu``/``sentence_bleu``/``compute_bleu``.

    Attributes:
        score: BLEU on the 0-100 scale (sacrebleu's scale; divide by 100 for 0-1).
        counts: clipped matching n-grams per order (orders 1..N).
        totals: hypothesis n-grams per order.
        precisions: modified n-gram precisions per order, in percent.
        bp: brevity penalty in [0, 1].
        sys_len: total hypothesis length in tokens (c).
        ref_len: total effective reference length in tokens (r).
        nrefs: references per segment (``"var"`` if it varies), for the signature.
        lowercase, tokenize, smooth_method, smooth_value, effective_order: the options
            used, for the signature.
    """

    score: float
    counts: list
    totals: list
    precisions: list[float]
    bp: float
    sys_len: int
    ref_len: int
    nrefs: int | str = 1
    lowercase: bool = False
    tokenize: str = "13a"
    smooth_method: str = "exp"
    smooth_value: float | int | None = None
    effective_order: bool = False

    @property
    def ratio(self) -> float:
        """Hypothesis length / reference length (0 if there is no reference token)."""
        return self.sys_len / self.ref_len if self.ref_len else 0

    def signature(self, short: bool = False) -> str:
        """A sacrebleu-style signature naming every option that changes the number.

        Example: ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:s2s_lib-0.1.0``.
        """
        smooth = self.smooth_method
        default = SMOOTH_DEFAULTS[smooth]
        if default is not None:
            value = default if self.smooth_value is None else self.smooth_value
            smooth += f"[{value:.2f}]"
        fields = [
            ("nrefs", "#", self.nrefs),
            ("case", "c", "lc" if self.lowercase else "mixed"),
            ("eff", "e", "yes" if self.effective_order else "no"),
            ("tok", "tok", self.tokenize),
            ("smooth", "s", smooth),
            ("version", "v", f"s2s_lib-{__version__}"),
        ]
        return "|".join(f"{short_name if short else name}:{value}"
                        for name, short_name, value in fields)

    def format(self, width: int = 2, score_only: bool = False,
               signature: bool = False) -> str:
        """Format like sacrebleu: ``BLEU = 36.79 100.0/100.0/0.0/0.0 (BP = 0.368 ...)``.

        Args:
            width: decimals of the score.
            score_only: return only the score, e.g. ``"36.79"``.
            signature: put the signature after ``BLEU|``, as sacrebleu's CLI does.
        """
        check_int(width, "width", minimum=0)
        check_bool(score_only, "score_only")
        check_bool(signature, "signature")
        score = f"{self.score:.{width}f}"
        if score_only:
            return score
        name = f"BLEU|{self.signature()}" if signature else "BLEU"
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (f"{name} = {score} {precisions} (BP = {self.bp:.3f} "
                f"ratio = {self.ratio:.3f} hyp_len = {self.sys_len:d} "
                f"ref_len = {self.ref_len:d})")

    def __str__(self) -> str:
        return self.format()


def compute_bleu(
    counts: Sequence[int],
    totals: Sequence[int],
    sys_len: int,
    ref_len: int,
    smooth_method: str = "none",
    smooth_value: float | int | None = None,
    effective_order: bool = False,
    max_order: int | None = None,
) -> BLEUScore:
    """Combine (corpus-summed) statistics into BLEU: precisions, smoothing, BP, mean.

        BLEU = BP * exp( (1/N) * sum_n log p_n ),   BP = min(1, exp(1 - r/c)),

    with ``p_n = counts[n] / totals[n]`` (in percent, so BLEU is on the 0-100 scale).

    Smoothing (Chen & Cherry, 2014) keeps a single zero precision from zeroing BLEU:

    * ``none``: a zero precision makes BLEU 0.
    * ``floor``: a zero count is replaced by ``smooth_value`` (default 0.1).
    * ``add-k``: ``smooth_value`` (default 1) is added to count *and* total of every order
      n >= 2. As in sacrebleu, the returned ``counts``/``totals`` include the added k.
    * ``exp``: the k-th order with zero matches gets precision ``1 / (2^k * total)``.

    An order with no hypothesis n-grams at all (total 0: the hypothesis is shorter than n
    tokens) is not smoothed; it leaves p_n = 0 and BLEU = 0, unless
    ``effective_order=True`` (sacrebleu's sentence-level default), which averages only
    over the orders the hypothesis is long enough to have. (``add-k`` adds k to the total
    first, so it never meets an empty order.)

    Args:
        counts: clipped matches per order, length N.
        totals: hypothesis n-grams per order, length N.
        sys_len: hypothesis length c.
        ref_len: effective reference length r.
        smooth_method: ``"none"`` (the default here, as in sacrebleu's
            ``BLEU.compute_bleu``), ``"floor"``, ``"add-k"`` or ``"exp"``.
        smooth_value: the value for ``floor``/``add-k``; ``None`` uses ``SMOOTH_DEFAULTS``.
        effective_order: average only over orders with a non-zero total.
        max_order: N; ``None`` takes ``len(counts)``.
    Returns:
        A ``BLEUScore`` (score on the 0-100 scale).
    Raises:
        ValueError: negative or non-finite statistics, ``counts[n] > totals[n]``, no order
            at all, or a ``smooth_value`` so large that the precisions overflow.
    """
    check_choice(smooth_method, "smooth_method", SMOOTH_DEFAULTS)
    if smooth_value is not None:
        check_real(smooth_value, "smooth_value", minimum=0)
    for name, values in (("counts", counts), ("totals", totals)):
        if isinstance(values, (str, bytes)) or not (hasattr(values, "__len__") and hasattr(values, "__iter__")):
            raise TypeError(f"{name} must be a list or array of numbers (one per n-gram order), "
                            f"got {type(values).__name__}")
        for i, v in enumerate(values):
            check_real(v, f"{name}[{i}]", minimum=0)
    check_int(sys_len, "sys_len", minimum=0)
    check_int(ref_len, "ref_len", minimum=0)
    check_bool(effective_order, "effective_order")
    max_order = len(counts) if max_order is None else check_int(max_order, "max_order")
    if max_order == 0:
        raise ValueError("counts is empty: BLEU needs at least the unigram order")
    if any(c > t for c, t in zip(counts, totals)):
        raise ValueError(f"counts must not exceed totals (clipped matches <= hypothesis n-grams), "
                         f"got counts {list(counts)} and totals {list(totals)}")
    if len(counts) != max_order or len(totals) != max_order:
        raise ValueError(
            f"counts and totals must both have length max_order={max_order}, "
            f"got {len(counts)} and {len(totals)}"
        )
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth_method]
    counts, totals = list(counts), list(totals)  # add-k must not change the caller's lists

    # Brevity penalty: only hypotheses shorter than the reference are penalized.
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0

    def result(score: float, precisions: list[float]) -> BLEUScore:
        return BLEUScore(score, counts, totals, precisions, bp, sys_len, ref_len,
                         smooth_method=smooth_method,
                         smooth_value=None if SMOOTH_DEFAULTS[smooth_method] is None
                         else smooth_value,
                         effective_order=effective_order)

    precisions = [0.0] * max_order
    if not any(counts):  # no match at all (also: empty hypothesis) -> BLEU is 0
        return result(0.0, precisions)

    num_zero_orders = 0  # for "exp" smoothing
    eff_order = max_order
    for n in range(1, max_order + 1):
        i = n - 1
        if smooth_method == "add-k" and n > 1:
            counts[i] += smooth_value
            totals[i] += smooth_value
        if totals[i] == 0:  # hypothesis shorter than n tokens: no n-grams at all
            break
        if effective_order:
            eff_order = n
        if counts[i] == 0:
            if smooth_method == "exp":
                num_zero_orders += 1
                precisions[i] = 100.0 / (2 ** num_zero_orders * totals[i])
            elif smooth_method == "floor":
                precisions[i] = 100.0 * smooth_value / totals[i]
        else:
            precisions[i] = 100.0 * counts[i] / totals[i]

    # Geometric mean of the precisions (already in percent, so BLEU is on 0-100).
    log_precisions = [math.log(p) if p != 0.0 else _LOG_ZERO for p in precisions[:eff_order]]
    score = bp * math.exp(sum(log_precisions) / eff_order)
    if not math.isfinite(score):
        raise ValueError(f"BLEU overflows a float (precisions {precisions}): smooth_value={smooth_value} "
                         "or the counts are too large")
    return result(score, precisions)


# ---------------------------------------------------------------------- public entry points

def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    smooth_method: str = "exp",
    smooth_value: float | int | None = None,
    tokenize: str = "13a",
    lowercase: bool = False,
    force: bool = False,
    use_effective_order: bool = False,
    max_order: int = MAX_NGRAM_ORDER,
) -> BLEUScore:
    """Corpus BLEU, like ``sacrebleu.corpus_bleu(hypotheses, [refs])``.

    Statistics are collected per segment, summed over the corpus, then combined once by
    ``compute_bleu``. This is *not* the average of sentence BLEU scores.

    Args:
        hypotheses: system outputs, one detokenized string per segment.
        references: a list of reference *streams*; each stream is a list of strings
            aligned with ``hypotheses``. One reference per segment: ``[refs]``; two:
            ``[refs_a, refs_b]``. ``None`` in a stream means "no such reference here".
        smooth_method: ``"exp"`` (default), ``"floor"``, ``"add-k"`` or ``"none"``.
        smooth_value: value for ``floor``/``add-k``; ``None`` uses ``SMOOTH_DEFAULTS``.
        tokenize: ``"13a"`` (default, WMT's), ``"char"`` (e.g. Korean) or ``"none"``.
        lowercase: case-insensitive BLEU.
        force: silence the warning about hypotheses that look already tokenized.
        use_effective_order: average only over n-gram orders present (for tiny corpora).
        max_order: the largest n-gram order N (4 for standard BLEU).
    Returns:
        A ``BLEUScore``; ``.score`` is on the 0-100 scale and ``.signature()`` names the
        options.
    Raises:
        TypeError: a bare string where a list is expected, e.g. ``corpus_bleu(hyps, refs)``
            instead of ``corpus_bleu(hyps, [refs])``.
        ValueError: empty corpus, a reference stream of another length, a segment without
            any reference, an unknown ``smooth_method`` or ``tokenize``.
    """
    check_choice(smooth_method, "smooth_method", SMOOTH_DEFAULTS)
    if smooth_value is not None:
        check_real(smooth_value, "smooth_value", minimum=0)
    get_tokenizer(tokenize)
    max_order = check_int(max_order, "max_order")
    for name, flag in (("lowercase", lowercase), ("force", force), ("use_effective_order", use_effective_order)):
        check_bool(flag, name)
    if isinstance(hypotheses, str):
        raise TypeError(
            "hypotheses must be a list of strings (one per segment), got a single str; "
            "for one sentence use sentence_bleu(hypothesis, [reference]) or "
            "corpus_bleu([hypothesis], [[reference]])"
        )
    hypotheses = check_strings(hypotheses, "hypotheses")
    if not hypotheses:
        raise ValueError("hypotheses is empty: BLEU of an empty corpus is undefined")
    if isinstance(references, str):
        raise TypeError(
            "references must be a list of reference streams, got a single str; "
            "write corpus_bleu(hypotheses, [references]) with references a list of strings"
        )
    check_type(references, "references", Sequence, "a list of reference streams")
    if len(references) == 0:
        raise ValueError("references is empty: give at least one reference stream, "
                         "e.g. corpus_bleu(hypotheses, [references])")
    if any(isinstance(stream, str) for stream in references):
        raise TypeError(
            "references must be a list of reference *streams* (lists of strings), but it "
            "is a list of strings; wrap it: corpus_bleu(hypotheses, [references]) "
            "(with several references per segment: [refs_a, refs_b])"
        )
    for k, stream in enumerate(references):
        check_type(stream, f"references[{k}]", Sequence, "a list of strings")
        if len(stream) != len(hypotheses):
            raise ValueError(
                f"references[{k}] has {len(stream)} segments but hypotheses has "
                f"{len(hypotheses)}; every reference stream needs one reference per "
                f"hypothesis (use None where a segment has fewer references)"
            )
        for i, ref in enumerate(stream):
            if ref is not None and not isinstance(ref, str):
                raise TypeError(
                    f"references[{k}][{i}] must be a str or None, got {type(ref).__name__}"
                )

    nrefs_seen = set()
    total_stats = [0] * (2 + 2 * max_order)
    tokenized_looking = 0
    for i, hyp in enumerate(hypotheses):
        refs = [stream[i] for stream in references if stream[i] is not None]
        if not refs:
            raise ValueError(f"segment {i} has no reference (all reference streams are None)")
        nrefs_seen.add(len(refs))
        if not force and hyp.endswith(" ."):
            tokenized_looking += 1
        stats = segment_statistics.unchecked(
            preprocess(hyp, tokenize, lowercase),
            [preprocess(ref, tokenize, lowercase) for ref in refs],
            max_order,
        )
        total_stats = [a + b for a, b in zip(total_stats, stats)]
    if tokenized_looking >= 100:
        warnings.warn(
            f"{tokenized_looking} hypotheses end in a tokenized period (' .'); BLEU expects "
            "detokenized text. Pass force=True if your data really is detokenized.",
            stacklevel=2,
        )

    sys_len, ref_len = total_stats[0], total_stats[1]
    counts, totals = total_stats[2:2 + max_order], total_stats[2 + max_order:]
    result = compute_bleu(counts, totals, sys_len, ref_len, smooth_method, smooth_value,
                          effective_order=use_effective_order, max_order=max_order)
    result.nrefs = nrefs_seen.pop() if len(nrefs_seen) == 1 else "var"
    result.lowercase = lowercase
    result.tokenize = tokenize
    return result


def sentence_bleu(
    hypothesis: str,
    references: Sequence[str],
    smooth_method: str = "exp",
    smooth_value: float | int | None = None,
    tokenize: str = "13a",
    lowercase: bool = False,
    use_effective_order: bool = True,
    max_order: int = MAX_NGRAM_ORDER,
) -> BLEUScore:
    """BLEU of one sentence, like ``sacrebleu.sentence_bleu(hypothesis, [ref, ...])``.

    Same defaults as sacrebleu: ``exp`` smoothing and ``use_effective_order=True``, so a
    short hypothesis without 3-/4-grams is not scored 0. Sentence BLEU is noisy; average
    it over a corpus only with care (the mean of sentence BLEU is not corpus BLEU).

    Args:
        hypothesis: one system output.
        references: a list of one or more reference strings for this sentence.
        smooth_method, smooth_value, tokenize, lowercase, max_order: as in ``corpus_bleu``.
        use_effective_order: average only over orders the hypothesis has.
    Returns:
        A ``BLEUScore`` (0-100).
    Raises:
        TypeError: ``hypothesis`` is not a str, or ``references`` is a bare str.
        ValueError: ``references`` is empty, or an option is unknown.
    """
    if not isinstance(hypothesis, str):
        hint = (" (for a list of hypotheses use corpus_bleu)"
                if isinstance(hypothesis, (list, tuple)) else "")
        raise TypeError(f"hypothesis must be a str, got {type(hypothesis).__name__}{hint}")
    if isinstance(references, str):
        raise TypeError(
            "references must be a list of reference strings, got a single str; "
            "wrap it: sentence_bleu(hypothesis, [reference])"
        )
    references = check_strings(references, "references")
    if not references:
        raise ValueError("references is empty: give at least one reference string")
    return corpus_bleu([hypothesis], [[ref] for ref in references],
                       smooth_method=smooth_method, smooth_value=smooth_value,
                       tokenize=tokenize, lowercase=lowercase, force=True,
                       use_effective_order=use_effective_order, max_order=max_order)
