"""Tests for s2s_lib.tokenize: special ids, SentencePiece and character tokenizers."""
import math

import pytest
import torch

from s2s_lib import tokenize as T
from s2s_lib.tokenize import (EOS_ID, PAD_ID, SOS_ID, UNK_ID, CharTokenizer,
                              SentencePieceTokenizer, load_tokenizer, normalize_whitespace)

KO = ["톰은 학교에 갔어요 .", "나는 사과를 좋아해 .", "이것은 책이에요 .", "오늘 날씨가 좋네요 !",
      "어디 가요 ?", "학교에 가고 싶어요 .", "사과가 맛있어요 .", "책을 읽고 있어요 ."] * 5
EN = ["tom went to school .", "i like apples .", "this is a book .", "the weather is nice today !",
      "where are you going ?", "i want to go to school .", "apples are tasty .",
      "i am reading a book ."] * 5


def test_special_ids_and_strings():
    assert (PAD_ID, SOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert T.SPECIAL_TOKENS == ("<pad>", "<sos>", "<eos>", "<unk>")


@pytest.fixture(scope="module")
def sp_ko():
    return SentencePieceTokenizer.train(KO, vocab_size=80)


@pytest.fixture(scope="module")
def sp_en():
    return SentencePieceTokenizer.train(EN, vocab_size=80)


def test_sentencepiece_special_ids(sp_ko):
    assert sp_ko.pieces([0, 1, 2, 3]) == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert sp_ko.vocab_size <= 80


@pytest.mark.parametrize("fixture,texts", [("sp_ko", KO[:8]), ("sp_en", EN[:8])])
def test_sentencepiece_round_trip(request, fixture, texts):
    tok = request.getfixturevalue(fixture)
    for text in texts:
        ids = tok.encode(text)
        assert ids and all(4 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text
        assert tok.decode([SOS_ID] + ids + [EOS_ID, PAD_ID, 7]) == text  # stops at eos
    assert tok.decode(tok.encode("  " + texts[0].replace(" ", "   ") + "\n")) == texts[0]


def test_sentencepiece_is_deterministic_and_saves(tmp_path, sp_ko):
    again = SentencePieceTokenizer.train(KO, vocab_size=80)
    assert again.model_proto == sp_ko.model_proto
    path = sp_ko.save(tmp_path / "ko.model")
    loaded = load_tokenizer(path)
    assert loaded == sp_ko and loaded.encode(KO[0]) == sp_ko.encode(KO[0])


def test_sentencepiece_unknown_and_pieces(sp_ko):
    ids = sp_ko.encode("톰은 ☃")
    assert UNK_ID in ids
    assert "<unk>" in sp_ko.decode(ids)
    pieces = sp_ko.pieces(sp_ko.encode(KO[0]))
    assert "".join(pieces).replace("\u2581", " ").strip() == KO[0]


def test_empty_and_type_errors(sp_ko):
    assert sp_ko.encode("") == [] and sp_ko.encode("   ") == []
    assert sp_ko.decode([]) == ""
    for tok in (sp_ko, CharTokenizer.train(KO)):
        with pytest.raises(TypeError, match="text"):
            tok.encode(b"bytes")
        with pytest.raises(TypeError, match="text"):
            tok.encode(None)
        with pytest.raises(TypeError, match="ids"):
            tok.decode("abc")
        with pytest.raises(TypeError, match="ids"):
            tok.decode([1.0])
        with pytest.raises(ValueError, match="vocabulary"):
            tok.decode([10**6])
        with pytest.raises(ValueError, match="vocabulary"):
            tok.pieces([-1])


def test_train_argument_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        SentencePieceTokenizer.train(KO, vocab_size=3)
    with pytest.raises(TypeError, match="texts"):
        SentencePieceTokenizer.train("one string", vocab_size=50)
    with pytest.raises(ValueError, match="texts"):
        SentencePieceTokenizer.train(["", "  "], vocab_size=50)
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTokenizer.train(KO, vocab_size=50, model_type="word")
    with pytest.raises(ValueError, match="vocab_size=10 is too small"):
        SentencePieceTokenizer.train(KO, vocab_size=10)  # fewer pieces than characters
    with pytest.raises(TypeError, match="model_proto"):
        SentencePieceTokenizer("not bytes")


def test_char_tokenizer_round_trip_and_unknown(tmp_path):
    tok = CharTokenizer.train(["2019년 4월 22일 월요일", "Monday, April 22, 2019"])
    assert tok.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    text = "2019년 4월 22일 월요일"
    ids = tok.encode(text)
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert tok.decode(torch.tensor([SOS_ID] + ids + [EOS_ID, 5])) == text
    # unknown characters map to <unk> and show as "<unk>"
    ids = tok.encode("화 22")
    assert ids[0] == UNK_ID and tok.decode(ids) == "<unk> 22"
    assert tok.pieces(tok.encode("4월 2")) == ["4", "월", "\u2581", "2"]
    assert tok.encode("") == [] and tok.decode([]) == ""
    loaded = load_tokenizer(tok.save(tmp_path / "chars.json"))
    assert loaded == tok and loaded.vocab_size == tok.vocab_size


def test_char_tokenizer_errors():
    with pytest.raises(ValueError, match="duplicates"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="min_freq"):
        CharTokenizer.train(["abc"], min_freq=0)
    with pytest.raises(TypeError, match="texts"):
        CharTokenizer.train("abc")
    with pytest.raises(ValueError, match="1-D"):
        CharTokenizer(["a"]).decode(torch.zeros(2, 2, dtype=torch.long))


def test_normalize_whitespace_nfc():
    decomposed = "\u1112\u1161\u11ab"  # 한 as three jamo
    assert normalize_whitespace(f" {decomposed}\t 글 \n") == "한 글"
    tok = CharTokenizer.train(["한글"])
    assert tok.encode(decomposed) == tok.encode("한")


# ------------------------------------------------------------------ damaged files

def _refused_naming_the_file(path, content: bytes, loaders, message: str) -> None:
    path.write_bytes(content)
    for load in loaders:
        with pytest.raises(ValueError, match=message) as err:
            load(path)
        assert str(path) in str(err.value)


@pytest.mark.parametrize("damage", ["truncated half", "truncated tail", "empty", "garbage", "json"])
def test_damaged_sentencepiece_file_names_the_file(tmp_path, sp_ko, damage):
    # defect: a truncated/corrupt .model raised a raw sentencepiece RuntimeError (or no file name)
    proto = sp_ko.model_proto
    content = {"truncated half": proto[: len(proto) // 2], "truncated tail": proto[:-3], "empty": b"",
               "garbage": b"hello world", "json": b'{"type": "char", "chars": ["a"]}'}[damage]
    _refused_naming_the_file(tmp_path / "bad.model", content, (SentencePieceTokenizer.load, load_tokenizer),
                             "not a usable SentencePiece model")
    with pytest.raises(ValueError, match="model_proto"):
        SentencePieceTokenizer(b"hello world")


@pytest.mark.parametrize("content", [b'{"type": "char", "chars": ["a", "b"', b"not json", b'["a", "b"]',
                                     b'{"type": "char"}', b'{"type": "char", "chars": "ab"}',
                                     b'{"type": "char", "chars": ["ab"]}', b'{"type": "char", "chars": [1]}',
                                     b'{"type": "char", "chars": ["\\u00e9", "\\t"]}',
                                     b'{"type": "char", "chars": ["\xff"]}', b'{"type": "spm"}', b""])
def test_damaged_char_tokenizer_file_names_the_file(tmp_path, content):
    # defect: a truncated/odd CharTokenizer file raised a raw JSONDecodeError, KeyError or AttributeError
    _refused_naming_the_file(tmp_path / "chars.json", content, (CharTokenizer.load, load_tokenizer),
                             "not a CharTokenizer file")


def test_save_is_atomic_and_paths_are_checked(tmp_path, sp_ko):
    # defect: save wrote the file in place (an interrupted save left half a file); a bad path was a raw error
    chars = CharTokenizer.train(KO)
    assert SentencePieceTokenizer.load(sp_ko.save(tmp_path / "a" / "ko.model")) == sp_ko
    assert CharTokenizer.load(chars.save(tmp_path / "a" / "ko.json")) == chars
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["ko.json", "ko.model"]  # no temp files
    for call in (lambda: load_tokenizer(None), lambda: sp_ko.save(3), lambda: chars.save(None),
                 lambda: SentencePieceTokenizer.load(b"ko.model")):
        with pytest.raises(TypeError, match="path"):
            call()
    with pytest.raises(ValueError, match="path"):
        load_tokenizer("")
    with pytest.raises(FileNotFoundError, match="missing.model"):
        load_tokenizer(tmp_path / "missing.model")


# ------------------------------------------------------------------ training options

@pytest.mark.parametrize("coverage", [2.0, 0.0, -1.0, 0.5, 0.97, math.nan, math.inf])
def test_character_coverage_out_of_range(coverage):
    # defect: character_coverage=2.0 raised a raw sentencepiece RuntimeError
    with pytest.raises(ValueError, match="character_coverage"):
        SentencePieceTokenizer.train(KO, vocab_size=80, character_coverage=coverage)


def test_training_option_types():
    # defect: string flags were parsed by sentencepiece ("no" -> ?), bad texts gave raw errors
    for kwargs, err, word in [(dict(character_coverage="1"), TypeError, "character_coverage"),
                              (dict(hard_vocab_limit="no"), TypeError, "hard_vocab_limit"),
                              (dict(seed_sentencepiece_size=0), ValueError, "seed_sentencepiece_size"),
                              (dict(seed_sentencepiece_size="x"), TypeError, "seed_sentencepiece_size"),
                              (dict(vocab_size=500, hard_vocab_limit=True), ValueError,
                               "vocab_size=500 is too large")]:
        with pytest.raises(err, match=word):
            SentencePieceTokenizer.train(KO, **{"vocab_size": 80, **kwargs})
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        SentencePieceTokenizer.train(["가", 2], vocab_size=50)
    with pytest.raises(TypeError, match="texts"):
        SentencePieceTokenizer.train(None, vocab_size=50)
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        CharTokenizer.train([None])
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        CharTokenizer.train(["ab"]).encode_batch(["a", None])
    assert SentencePieceTokenizer.train(iter(KO), vocab_size=80) == SentencePieceTokenizer.train(KO, vocab_size=80)


def test_long_lines_are_trained_on_not_skipped():
    # defect: sentencepiece silently skipped sentences over 4192 bytes (and failed if all were long)
    long = "줄" * 2000 + " " + "끝" * 10  # 6,034 UTF-8 bytes
    assert len(long.encode("utf-8")) > T.SPM_MAX_SENTENCE_BYTES
    tok = SentencePieceTokenizer.train(KO + [long], vocab_size=80)
    assert UNK_ID not in tok.encode("줄 끝")  # its characters were learnt
    only = SentencePieceTokenizer.train([long] * 3, vocab_size=20)
    assert only.decode(only.encode(long)) == long


def test_lone_surrogate_is_a_value_error(sp_ko):
    # defect: a lone surrogate raised pybind11's "Unable to cast Python instance" RuntimeError
    with pytest.raises(ValueError, match="text .*surrogate"):
        sp_ko.encode("톰은 \ud800")
    with pytest.raises(ValueError, match=r"texts\[40\] .*surrogate"):
        SentencePieceTokenizer.train(KO + ["a\udc00b"], vocab_size=80)
    assert CharTokenizer.train(["ab"]).encode("a\ud800") == [4, UNK_ID]  # a character like any other
    with pytest.raises(ValueError, match="vocab_size"):
        SentencePieceTokenizer.train(KO, vocab_size=2**31)  # sentencepiece's int32: was a raw parse error


def test_char_tokenizer_with_a_surrogate_saves_and_loads(tmp_path):
    # defect: save raised a raw UnicodeEncodeError for an alphabet holding a lone surrogate
    tok = CharTokenizer.train(["a\ud800b"])
    assert load_tokenizer(tok.save(tmp_path / "chars.json")) == tok


def test_char_tokenizer_rejects_characters_encode_never_sees():
    # defect: an alphabet with "\t" or a non-NFC character silently encoded those as <unk>
    for bad in ("\t", "\n", "\u3000", "\u212b", "\u2126"):  # spaces; Angstrom and Ohm signs (NFC: Å, Ω)
        with pytest.raises(ValueError, match="chars"):
            CharTokenizer(["a", bad])
    assert CharTokenizer(["a", " "]).encode("a a") == [4, 5, 4]
    with pytest.raises(TypeError, match=r"chars\[1\]"):
        CharTokenizer(["a", 5])
    with pytest.raises(TypeError, match="chars"):
        CharTokenizer(None)
