"""Tests for s2s_lib.tokenize: special ids, SentencePiece and character tokenizers."""
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
