"""Tests for s2s_lib.data: loading, cleaning, stable split, statistics, prepare_translation."""
import io
import os
import zipfile
from pathlib import Path

import pytest
import torch

from s2s_lib import data as D
from s2s_lib.data import (DataNotFoundError, Pair, clean_pairs, find_corpus, load_pairs,
                          normalize_en, normalize_ko, prepare_translation, split_of, split_pairs)
from s2s_lib.tokenize import EOS_ID, SOS_ID

ATTR = "CC-BY 2.0 (France) Attribution: tatoeba.org #1 (a) & #2 (b)"
SENTENCES = [
    ("Go.", "가."), ("Hi.", "안녕."), ("Run!", "뛰어!"), ("Who?", "누구?"),
    ("I'm happy.", "나는 행복해."), ("Tom is a teacher.", "톰은 선생님이야."),
    ("I like apples.", "나는 사과를 좋아해."), ("Where are you going?", "어디 가?"),
    ("This is my book.", "이건 내 책이야."), ("It's 3.5 meters long.", "길이가 3.5미터야."),
    ("The weather is nice today.", "오늘 날씨가 좋네."), ("I don't know.", "모르겠어."),
    ("We went to school together.", "우리는 같이 학교에 갔어."), ("Tom likes cats.", "톰은 고양이를 좋아해."),
    ("Can you help me?", "도와줄 수 있어?"), ("I'm reading a book.", "나는 책을 읽고 있어."),
]


def write_corpus(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{en}\t{ko}\t{ATTR}\n" for en, ko in rows), encoding="utf-8")
    return path


def many_rows(n):
    rows = []
    for i in range(n):
        en, ko = SENTENCES[i % len(SENTENCES)]
        rows.append((f"{en[:-1]} number {i}{en[-1]}", f"{ko[:-1]} {i}번{ko[-1]}"))
    return rows


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the real user cache; tests that need the corpus set S2S_DATA_DIR."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    real = os.environ.get("S2S_DATA_DIR")
    monkeypatch.delenv("S2S_DATA_DIR", raising=False)
    return real


# ---------------------------------------------------------------------------- loading

def test_load_pairs_keeps_attribution_and_lines(tmp_path):
    path = write_corpus(tmp_path / "kor.txt", SENTENCES[:3])
    pairs = load_pairs(path)
    assert pairs[0] == Pair("Go.", "가.", ATTR, 1)
    assert [p.line for p in pairs] == [1, 2, 3]


@pytest.mark.parametrize("bad_line,word", [
    ("Hello.\t안녕.\n", "3 tab-separated fields"),
    ("Hello.\t안녕.\tattr\textra\n", "found 4"),
    ("\t안녕.\tattr\n", "empty English"),
    ("Hello.\t  \tattr\n", "empty Korean"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad_line, word):
    path = write_corpus(tmp_path / "kor.txt", SENTENCES[:2])
    with open(path, "a", encoding="utf-8") as f:
        f.write(bad_line)
    with pytest.raises(ValueError, match=word) as err:
        load_pairs(path)
    assert f"{path}:3" in str(err.value)


def test_empty_file(tmp_path):
    (tmp_path / "kor.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentence pairs"):
        load_pairs(tmp_path / "kor.txt")


# ---------------------------------------------------------------------------- locating

def test_find_corpus_prefers_env_then_cache(tmp_path, monkeypatch):
    cached = write_corpus(D.cache_dir() / "kor-eng" / "kor.txt", SENTENCES[:1])
    assert D.cache_dir() == tmp_path / "xdg" / "s2s_course"
    assert find_corpus(download=False) == cached
    env = write_corpus(tmp_path / "mydata" / "kor-eng" / "kor.txt", SENTENCES[:2])
    monkeypatch.setenv("S2S_DATA_DIR", str(tmp_path / "mydata"))
    assert find_corpus(download=False) == env


def test_missing_corpus_offline_says_where(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataNotFoundError) as err:
        find_corpus(progress=False)
    assert isinstance(err.value, FileNotFoundError)
    msg = str(err.value)
    assert str(D.cache_dir() / "kor-eng" / "kor.txt") in msg and "S2S_DATA_DIR" in msg
    assert "network is unreachable" in msg
    with pytest.raises(DataNotFoundError, match="download=False"):
        load_pairs(download=False)


def test_download_uses_browser_user_agent_and_extracts(monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("kor.txt", f"Go.\t가.\t{ATTR}\n")
        z.writestr("_about.txt", "about")
    seen = {}

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(buf.getvalue()))}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(request, timeout):
        seen["ua"] = request.get_header("User-agent")
        seen["url"] = request.full_url
        return Response(buf.getvalue())

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    path = find_corpus(progress=False)
    assert path == D.cache_dir() / "kor-eng" / "kor.txt"
    assert seen["url"] == D.DATA_URL and seen["ua"].startswith("Mozilla/5.0")
    assert load_pairs(path) == [Pair("Go.", "가.", ATTR, 1)]
    assert (path.parent / "_about.txt").read_text() == "about"


# ---------------------------------------------------------------------------- cleaning

@pytest.mark.parametrize("raw,expected", [
    ("Go.", "go ."),
    ("I don't know.", "i don't know ."),
    ("It's 3.5 meters, isn't it?", "it's 3.5 meters , isn't it ?"),
    ("\u201cHello,\u201d  he said.", '" hello , " he said .'),
    ("A well-known fact: 1,000 people at 7:30.", "a well-known fact : 1,000 people at 7:30 ."),
    ("Tom\u2019s  dog\t", "tom's dog"),
])
def test_normalize_en(raw, expected):
    assert normalize_en(raw) == expected


def test_normalize_ko_nfc_and_punctuation():
    decomposed = "\u1112\u1161\u11ab\u1100\u1173\u11af"  # 한글 as jamo
    assert normalize_ko(f"{decomposed}이 좋아요!") == "한글이 좋아요 !"
    assert normalize_ko("Tom이 왔어... 정말?") == "tom이 왔어 . . . 정말 ?"
    with pytest.raises(TypeError, match="text"):
        normalize_ko(None)


def test_clean_pairs_duplicates_and_lengths():
    raw = [Pair("Go.", "가.", ATTR, 1), Pair("Go .", " 가. ", ATTR, 2),  # same after normalising
           Pair("Go.", "가세요.", ATTR, 3),                              # second translation: kept
           Pair("A b c d e f.", "가.", ATTR, 4)]
    cleaned = clean_pairs(raw)
    assert [p.line for p in cleaned] == [1, 3, 4]
    assert cleaned[1] == Pair("go .", "가세요 .", ATTR, 3)
    assert [p.line for p in clean_pairs(raw, max_words=3)] == [1, 3]
    with pytest.raises(ValueError, match="max_words"):
        clean_pairs(raw, max_words=0)
    with pytest.raises(TypeError, match="pairs"):
        clean_pairs("Go.\t가.")


# ---------------------------------------------------------------------------- splitting

def test_split_of_is_stable_hash_with_ratios():
    assert split_of("go .") == split_of("go .")
    names = [split_of(f"sentence {i}") for i in range(20000)]
    for name, share in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        assert abs(names.count(name) / len(names) - share) < 0.015
    assert {split_of(f"s {i}", ratios=(1.0, 0.0, 0.0)) for i in range(100)} == {"train"}
    with pytest.raises(ValueError, match="ratios"):
        split_of("x", ratios=(0.5, 0.5, 0.5))
    with pytest.raises(TypeError, match="en"):
        split_of(3)


def _assignment(splits):
    return {(p.en, p.ko): name for name, ps in zip(D.SPLITS, splits) for p in ps}


def test_split_does_not_move_when_file_grows(tmp_path):
    rows = many_rows(400)
    small = clean_pairs(load_pairs(write_corpus(tmp_path / "a.txt", rows)))
    extra = [(f"Extra sentence {i}.", f"추가 문장 {i}.") for i in range(300)]
    grown_rows = rows[:150] + extra[:150] + rows[150:] + extra[150:]  # new lines everywhere
    big = clean_pairs(load_pairs(write_corpus(tmp_path / "b.txt", grown_rows)))
    before = _assignment(split_pairs(small, drop_source_leaks=False))
    after = _assignment(split_pairs(big, drop_source_leaks=False))
    assert all(after[key] == name for key, name in before.items())
    assert len(after) == 700


def test_one_english_sentence_in_one_split_and_no_source_leaks():
    pairs = []
    for i in range(300):
        pairs += [Pair(f"sentence {i} .", f"문장 {i} .", ATTR), Pair(f"sentence {i} .", f"문장이야 {i} .", ATTR)]
    pairs += [Pair(f"other {i} .", f"문장 {i} .", ATTR) for i in range(300)]  # same Korean, new English
    splits = split_pairs(pairs)
    where = {}
    for name, ps in zip(D.SPLITS, splits):
        for p in ps:
            assert where.setdefault(p.en, name) == name
    train_ko = {p.ko for p in splits.train}
    assert not any(p.ko in train_ko for p in splits.valid + splits.test)
    leaky = split_pairs(pairs, drop_source_leaks=False)
    assert any(p.ko in train_ko for p in leaky.valid + leaky.test)


# ---------------------------------------------------------------------------- statistics

def test_statistics_table(capsys):
    splits = {"train": [Pair("go .", "가 .", ATTR), Pair("i am tom .", "나는 톰이야 .", ATTR)],
              "valid": [Pair("hi .", "안녕 .", ATTR)]}
    rows = D.print_corpus_statistics(splits)
    out = capsys.readouterr().out
    assert rows[0]["pairs"] == 2 and rows[0]["en_words"] == (3.0, 4)
    assert rows[-1]["split"] == "all" and rows[-1]["en_types"] == 6
    assert out.splitlines()[0].split()[:3] == ["split", "pairs", "uniq_en"]
    assert "3.0/4" in out and "SentencePiece" not in out
    with pytest.raises(TypeError, match="splits"):
        D.corpus_statistics([])


# ---------------------------------------------------------------------- prepare_translation

def test_prepare_translation_small_corpus(tmp_path):
    path = write_corpus(tmp_path / "kor.txt", many_rows(600))
    data = prepare_translation(max_len=12, src_vocab_size=120, tgt_vocab_size=100, path=path)
    assert len(data.train) > len(data.valid) > 0 and len(data.test) > 0
    assert data.src_tokenizer.vocab_size <= 120
    src, tgt = data.encoded("train")
    assert all(len(s) <= 12 for s in src) and all(len(t) <= 12 for t in tgt)
    assert data.src_tokenizer.decode(src[0]) == data.train[0].ko
    assert data.tgt_tokenizer.decode(tgt[0]) == data.train[0].en
    rows = data.statistics()
    assert [r["split"] for r in rows] == ["train", "valid", "test", "all"]
    assert rows[0]["pairs"] == len(data.train) and rows[0]["ko_tokens"][1] <= 12
    # trained models are cached, and the cached ones are the same models
    assert len(list((D.cache_dir() / "spm").glob("*.model"))) == 2
    again = prepare_translation(max_len=12, src_vocab_size=120, tgt_vocab_size=100, path=path)
    fresh = prepare_translation(max_len=12, src_vocab_size=120, tgt_vocab_size=100, path=path,
                                cache=False)
    assert again.src_tokenizer == data.src_tokenizer == fresh.src_tokenizer
    assert again.train == data.train


def test_translation_batches(tmp_path):
    path = write_corpus(tmp_path / "kor.txt", many_rows(300))
    data = prepare_translation(max_len=20, src_vocab_size=120, tgt_vocab_size=100, path=path)
    batches = data.batches("train", 16, seed=1)
    assert sum(b.batch_size for b in batches) == len(data.train)
    assert all((b.tgt_in[:, 0] == SOS_ID).all() for b in batches)
    assert all(b.tgt_out.eq(EOS_ID).sum() == b.batch_size for b in batches)
    again = data.batches("train", 16, seed=1)
    assert all(torch.equal(a.src, b.src) for a, b in zip(batches, again))
    valid = data.batches("valid", 4)  # evaluation batches keep the split's order
    src, _ = data.encoded("valid")
    assert valid[0].src[0, : len(src[0])].tolist() == src[0]
    decoded = [data.tgt_tokenizer.decode(row.tolist()) for b in valid for row in b.tgt_out]
    assert decoded == data.targets("valid")
    rev = data.batches("valid", 4, bucketing=False, reverse_source=True)
    assert rev[0].src[0, : len(src[0])].tolist() == src[0][::-1]
    with pytest.raises(ValueError, match="split"):
        data.batches("training")


def test_prepare_translation_bad_args(tmp_path):
    with pytest.raises(ValueError, match="max_len"):
        prepare_translation(max_len=0)
    with pytest.raises(TypeError, match="src_vocab_size"):
        prepare_translation(src_vocab_size="2000")


def test_real_corpus(isolated_cache, monkeypatch):
    if not isolated_cache or not (Path(isolated_cache) / "kor-eng" / "kor.txt").is_file():
        pytest.skip("set S2S_DATA_DIR to a folder with kor-eng/kor.txt to test the real corpus")
    monkeypatch.setenv("S2S_DATA_DIR", isolated_cache)
    raw = load_pairs(download=False)
    assert len(raw) >= 5749 and all(p.attribution.startswith("CC-BY 2.0") for p in raw)
    data = prepare_translation(download=False)
    total = len(data.train) + len(data.valid) + len(data.test)
    assert 0.75 < len(data.train) / total < 0.85
    assert not {p.en for p in data.train} & {p.en for p in data.test + data.valid}
    assert data.src_tokenizer.vocab_size == 2000
