"""Tests for s2s_lib.tasks: generated date and number tasks."""
from datetime import date

import pytest

from s2s_lib.tasks import (TASKS, date_pairs, english_date, iso_date, korean_date,
                           korean_number, make_task, number_pairs)


def test_formats():
    d = date(2019, 4, 22)
    assert korean_date(d) == "2019년 4월 22일 월요일"
    assert korean_date(d, "y년 M월 d일 (E)") == "2019년 4월 22일 (월)"
    assert english_date(d) == "Monday, April 22, 2019"
    assert iso_date(d) == "2019-04-22"
    assert korean_number(3250) == "삼천이백오십"
    assert korean_number(3050) == "삼천오십"
    assert korean_number(0) == "영"


def test_pairs_are_consistent():
    import re
    for src, tgt in date_pairs(200, target="iso", seed=1):
        y, m, d = map(int, tgt.split("-"))
        assert [y, m, d] == [int(x) for x in re.findall(r"\d+", src)]
    weekdays = {"월": "Monday", "화": "Tuesday", "수": "Wednesday", "목": "Thursday",
                "금": "Friday", "토": "Saturday", "일": "Sunday"}
    for src, tgt in date_pairs(200, target="english", seed=1):
        wd = re.search(r"([월화수목금토일])(요일|\))$", src).group(1)
        assert tgt.startswith(weekdays[wd] + ", ")
        assert tgt.endswith(re.match(r"\d{4}", src).group(0))
    for src, tgt in number_pairs(300, seed=2):
        assert korean_number(int(tgt)) == src


def test_splits_deterministic_and_disjoint():
    for name in TASKS:
        a = make_task(name, 300, 50, 50, seed=7)
        b = make_task(name, 300, 50, 50, seed=7)
        c = make_task(name, 300, 50, 50, seed=8)
        assert a == b and a != c
        assert (len(a.train), len(a.valid), len(a.test)) == (300, 50, 50)
        targets = [t for split in a for _, t in split]
        assert len(set(targets)) == len(targets)  # no date/number in two splits


def test_number_range_exhaustive():
    pairs = number_pairs(11, max_value=10, seed=0)
    assert sorted(int(t) for _, t in pairs) == list(range(11))


def test_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        make_task("dates")
    with pytest.raises(ValueError, match="n_train"):
        make_task("number", -1)
    with pytest.raises(ValueError, match="target"):
        date_pairs(3, target="german")
    with pytest.raises(ValueError, match="exceeds"):
        date_pairs(40, start=date(2020, 1, 1), end=date(2020, 1, 31))
    with pytest.raises(ValueError, match="exceeds"):
        number_pairs(12, max_value=10)
    with pytest.raises(TypeError, match="d must"):
        korean_date("2019-04-22")
    with pytest.raises(TypeError, match="n must"):
        korean_number(3.0)
    with pytest.raises(ValueError, match="n must"):
        korean_number(-5)


def test_too_large_numbers_and_bad_formats_raise_naming_the_argument():
    with pytest.raises(ValueError, match="n is too large for Korean number words"):
        korean_number(10**80)  # num2words' own OverflowError used to come through
    with pytest.raises(TypeError, match="fmt must be a str, got int"):
        korean_date(date(2019, 4, 22), fmt=123)  # babel's AttributeError used to come through
    with pytest.raises(ValueError, match="fmt must not be empty"):
        korean_date(date(2019, 4, 22), fmt="")


def test_encode_pairs_gives_id_lists_for_make_batches():
    from s2s_lib.batching import make_batches
    from s2s_lib.tasks import encode_pairs
    from s2s_lib.tokenize import CharTokenizer

    task = make_task("date_en", n_train=20, n_valid=0, n_test=5, seed=0)
    src_tok = CharTokenizer.train(s for s, _ in task.train)
    tgt_tok = CharTokenizer.train(t for _, t in task.train)
    src_ids, tgt_ids = encode_pairs(task.train, src_tok, tgt_tok)
    assert len(src_ids) == len(tgt_ids) == 20
    assert src_tok.decode(src_ids[0]) == task.train[0][0]
    assert tgt_ids[3] == tgt_tok.encode(task.train[3][1])
    assert make_batches(src_ids, tgt_ids, 8)
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        encode_pairs([("a", 1)], src_tok, tgt_tok)
    with pytest.raises(TypeError, match="src_tokenizer"):
        encode_pairs(task.train, None, tgt_tok)


# Defect: seed was handed to random.Random unchecked: None gave different splits on every call
# (against "same seed -> same list"), a list gave random's own TypeError, a str was accepted.
@pytest.mark.parametrize("call", [lambda: number_pairs(3, seed=None), lambda: date_pairs(2, seed=[1]),
                                  lambda: make_task("number", 3, 1, 1, seed="x"),
                                  lambda: date_pairs(2, seed=1.5)])
def test_seed_must_be_an_int(call):
    with pytest.raises(TypeError, match="seed must be an int"):
        call()


# Defect: number_pairs(max_value=10**80) drew numbers that korean_number cannot spell, failing
# later (or not, by chance) with an error about n; make_task's error named n, not its splits;
# encode_pairs(5, ...) gave "'int' object is not iterable".
def test_limits_are_named_by_the_argument():
    with pytest.raises(ValueError, match=r"max_value must be below 10\*\*72"):
        number_pairs(3, max_value=10**80)
    with pytest.raises(ValueError, match=r"n_train \+ n_valid \+ n_test = 1002000 exceeds"):
        make_task("number", 10**6)
    from s2s_lib.tasks import encode_pairs
    from s2s_lib.tokenize import CharTokenizer

    tok = CharTokenizer.train(["ab"])
    with pytest.raises(TypeError, match="pairs must be a list"):
        encode_pairs(5, tok, tok)
