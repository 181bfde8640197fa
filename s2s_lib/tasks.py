"""Generated toy tasks: small, exact, endless (Chapter 0, "Data and tokenization").

Real translation data are noisy and scarce; to *see* what a model learns we also use tasks
that are produced locally from a seed and have exactly one right answer:

* ``"date_en"`` - a Korean date -> its English form, e.g.
  ``2019년 4월 22일 월요일`` -> ``Monday, April 22, 2019``.
  **Not monotonic**: the weekday moves from the end to the front and the year from the
  front to the end, so the alignment between source and target characters crosses. This is
  the task where attention (Bahdanau et al. 2015) shines and a fixed-size encoder vector
  struggles.
* ``"date_iso"`` - a Korean date -> ISO 8601, e.g. ``2019년 4월 22일 월요일`` -> ``2019-04-22``.
  **Monotonic**: year, month and day keep their order (the weekday is simply dropped).
* ``"number"`` - Korean number words (Sino-Korean numerals) -> digits, e.g.
  ``삼천이백오십`` -> ``3250``. **Monotonic** but not one-to-one: each digit comes from a
  numeral syllable in the same order, while zeros have no source syllable at all
  (``삼천오십`` -> ``3050``) and 만 (10,000) groups four digits.

Korean dates are written with babel's ``ko_KR`` locale in several formats (full, with a
short weekday in parentheses, dotted); English dates with babel's ``en_US`` patterns;
numbers with ``num2words(n, lang="ko")``. Train/valid/test are disjoint (no date or number
appears twice) and identical for the same seed.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from typing import NamedTuple

from s2s_lib.checks import check_choice, check_int, check_str, check_type

__all__ = ["TASKS", "KOREAN_DATE_FORMATS", "TaskSplits", "korean_date", "english_date",
           "iso_date", "korean_number", "date_pairs", "number_pairs", "make_task", "encode_pairs"]

TASKS = ("date_en", "date_iso", "number")

# babel (CLDR) patterns for the Korean source side. The weekday (EEEE = 월요일, E = 월) is
# always present so the English target, which starts with it, can be read off the source.
KOREAN_DATE_FORMATS = (
    "y년 M월 d일 EEEE",      # 2019년 4월 22일 월요일  (babel's "full" for ko_KR)
    "y년 M월 d일 (E)",       # 2019년 4월 22일 (월)
    "y. M. d. EEEE",         # 2019. 4. 22. 월요일
    "y년 MM월 dd일 EEEE",    # 2019년 04월 22일 월요일
)
ENGLISH_DATE_FORMAT = "EEEE, MMMM d, y"  # Monday, April 22, 2019

_FIRST_DAY = date(1950, 1, 1)
_LAST_DAY = date(2049, 12, 31)
_MAX_NUMBER = 10**72 - 1  # num2words has Korean number words up to here


class TaskSplits(NamedTuple):
    """Train/valid/test lists of ``(source, target)`` string pairs."""

    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]


def korean_date(d: date, fmt: str = KOREAN_DATE_FORMATS[0]) -> str:
    """Format ``d`` in Korean with a babel pattern, e.g. ``2019년 4월 22일 월요일``."""
    from babel.dates import format_date

    check_type(d, "d", date, "a datetime.date")
    check_str(fmt, "fmt", empty=False)
    return format_date(d, fmt, locale="ko_KR")


def english_date(d: date) -> str:
    """``d`` in English, e.g. ``Monday, April 22, 2019``."""
    from babel.dates import format_date

    check_type(d, "d", date, "a datetime.date")
    return format_date(d, ENGLISH_DATE_FORMAT, locale="en_US")


def iso_date(d: date) -> str:
    """``d`` as ISO 8601, e.g. ``2019-04-22``."""
    check_type(d, "d", date, "a datetime.date")
    return d.isoformat()


def korean_number(n: int) -> str:
    """Sino-Korean number words, e.g. ``3250 -> 삼천이백오십``, ``12345 -> 만 이천삼백사십오``."""
    from num2words import num2words

    n = check_int(n, "n", minimum=0)
    try:
        return num2words(n, lang="ko")
    except OverflowError as err:  # num2words has Korean words up to 10**72 - 1
        raise ValueError(f"n is too large for Korean number words ({err})") from None


def date_pairs(n: int, *, target: str = "english", seed: int = 0,
               start: date = _FIRST_DAY, end: date = _LAST_DAY) -> list[tuple[str, str]]:
    """``n`` (Korean date, English or ISO date) pairs for distinct random days.

    Args:
        n: number of pairs (at most the number of days in [start, end]).
        target: "english" (non-monotonic) or "iso" (monotonic).
        seed: random seed; same seed -> same list.
        start, end: inclusive date range.
    """
    n = check_int(n, "n", minimum=0)
    check_choice(target, "target", ("english", "iso"))
    seed = check_int(seed, "seed", minimum=None)
    check_type(start, "start", date, "a datetime.date")
    check_type(end, "end", date, "a datetime.date")
    span = (end - start).days + 1
    if span < 1:
        raise ValueError(f"end ({end}) is before start ({start})")
    if n > span:
        raise ValueError(f"n={n} exceeds the {span} distinct days between {start} and {end}")
    rng = random.Random(seed)
    days = rng.sample(range(span), n)
    to_target = english_date if target == "english" else iso_date
    pairs = []
    for k in days:
        d = start + timedelta(days=k)
        pairs.append((korean_date(d, rng.choice(KOREAN_DATE_FORMATS)), to_target(d)))
    return pairs


def number_pairs(n: int, *, seed: int = 0, max_value: int = 99_999) -> list[tuple[str, str]]:
    """``n`` (Korean number words, digits) pairs for distinct random integers in [0, max_value].

    Numbers are drawn log-uniformly by number of digits (so 3-digit numbers are as common
    as 5-digit ones), e.g. ``("삼천이백오십", "3250")``.
    """
    n = check_int(n, "n", minimum=0)
    max_value = check_int(max_value, "max_value", minimum=0)
    if max_value > _MAX_NUMBER:
        raise ValueError(f"max_value must be below 10**72 (Korean number words end there), got {max_value:.3g}")
    seed = check_int(seed, "seed", minimum=None)
    if n > max_value + 1:
        raise ValueError(f"n={n} exceeds the {max_value + 1} distinct numbers in [0, {max_value}]")
    rng = random.Random(seed)
    chosen: set[int] = set()
    order: list[int] = []
    digits = len(str(max_value))
    while len(order) < n:
        if len(chosen) > 0.9 * (max_value + 1):  # almost all taken: fall back to uniform
            rest = [v for v in range(max_value + 1) if v not in chosen]
            order.extend(rng.sample(rest, n - len(order)))
            break
        k = rng.randint(1, digits)
        lo, hi = (0 if k == 1 else 10 ** (k - 1)), min(10**k - 1, max_value)
        if lo > hi:
            continue
        v = rng.randint(lo, hi)
        if v not in chosen:
            chosen.add(v)
            order.append(v)
    return [(korean_number(v), str(v)) for v in order]


def make_task(name: str, n_train: int = 8000, n_valid: int = 1000, n_test: int = 1000, *,
              seed: int = 0) -> TaskSplits:
    """Generate disjoint train/valid/test splits of a task.

    Args:
        name: "date_en" (non-monotonic), "date_iso" (monotonic) or "number" (monotonic).
        n_train, n_valid, n_test: sizes of the splits.
        seed: same seed -> identical splits.
    Returns:
        :class:`TaskSplits` of ``(source, target)`` string pairs.
    """
    check_choice(name, "name", TASKS)
    n_train = check_int(n_train, "n_train", minimum=0)
    n_valid = check_int(n_valid, "n_valid", minimum=0)
    n_test = check_int(n_test, "n_test", minimum=0)
    seed = check_int(seed, "seed", minimum=None)
    total = n_train + n_valid + n_test
    distinct = 99_999 + 1 if name == "number" else (_LAST_DAY - _FIRST_DAY).days + 1
    if total > distinct:
        raise ValueError(f"n_train + n_valid + n_test = {total} exceeds the {distinct} distinct examples "
                         f"of task {name!r} (the splits never share one)")
    if name == "number":
        pairs = number_pairs(total, seed=seed)
    else:
        pairs = date_pairs(total, target="english" if name == "date_en" else "iso", seed=seed)
    return TaskSplits(pairs[:n_train], pairs[n_train:n_train + n_valid],
                      pairs[n_train + n_valid:])


def encode_pairs(pairs, src_tokenizer, tgt_tokenizer) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of ``(source, target)`` string pairs: ``(source id lists, target id lists)``.

    The two lists go straight into :func:`s2s_lib.batching.make_batches`.

    Args:
        pairs: ``(source, target)`` strings, e.g. ``make_task("date_en").train``.
        src_tokenizer / tgt_tokenizer: tokenizers with ``encode(str) -> ids``.
    """
    for name, tok in (("src_tokenizer", src_tokenizer), ("tgt_tokenizer", tgt_tokenizer)):
        if not callable(getattr(tok, "encode", None)):
            raise TypeError(f"{name} must have encode(), got {type(tok).__name__}")
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise TypeError(f"pairs must be a list of (source, target) tuples, got {type(pairs).__name__}")
    pairs = list(pairs)
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"pairs[{i}] must be a (source, target) tuple of str, got {pair!r}")
        check_str(pair[0], f"pairs[{i}][0]")
        check_str(pair[1], f"pairs[{i}][1]")
    return [src_tokenizer.encode(s) for s, _ in pairs], [tgt_tokenizer.encode(t) for _, t in pairs]
