"""The Korean-English Tatoeba corpus: loading, cleaning, a stable split, statistics.

Chapter 0 ("Data and tokenization"). The data are the Korean-English sentence pairs that
manythings.org/anki extracts from the Tatoeba project (tatoeba.org), licensed CC-BY 2.0 FR.
Each line of ``kor.txt`` is ``English<TAB>Korean<TAB>attribution``.

Pipeline::

    load_pairs()          raw Pair(en, ko, attribution, line) per line, strict format check
    clean_pairs()         normalise, drop exact duplicates, optional word-length filter
    split_pairs()         train/valid/test by a stable hash of the English side (~80/10/10)
    prepare_translation() all of the above + SentencePiece tokenizers + batches, one call

Decisions (documented here because every chapter inherits them):

* **Normal form** (:func:`normalize_en`, :func:`normalize_ko`): Unicode NFC, typographic
  quotes -> ASCII, one space between words, **lower case**, and punctuation split off as its
  own word ("Go." -> "go ."; "가." -> "가 ."), except inside numbers ("3.5", "1,000",
  "7:30") and apostrophes/hyphens inside words ("don't", "well-known"). Lower case and
  split punctuation keep the vocabulary small on a 5.7k-pair corpus, make word counts
  meaningful, and make BLEU on the model's output directly comparable with the references.
  The raw line is always recoverable through ``Pair.line``.
* **Duplicates**: pairs identical after normalisation are dropped (first kept). An English
  sentence with several Korean translations keeps **all** of them (each is a real
  training example); because the split hashes the English side, they all land in the same
  split, so a test sentence's English is never seen in training.
* **Split**: blake2b of the normalised English -> a number in [0, 1) -> train (< 0.8),
  valid (< 0.9) or test. A pair's split depends only on its own English, so a newer, bigger
  ``kor.txt`` never moves an existing pair to another split. Python's ``hash()`` would not
  do: it is salted per process.
* **Source leaks**: a Korean sentence can also have several English translations. With
  ``drop_source_leaks=True`` (default) valid/test pairs whose Korean source also occurs
  in train are dropped, so evaluation never asks for a source seen in training.
"""
from __future__ import annotations

import hashlib
import io
import json
import numbers
import os
import shutil
import statistics
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from s2s_lib.batching import Batch, make_batches
from s2s_lib.checks import check_choice, check_int, check_str
from s2s_lib.tokenize import SentencePieceTokenizer, normalize_whitespace

__all__ = [
    "DATA_URL", "CORPUS_RELPATH", "SPLITS", "DataNotFoundError", "Pair", "Splits",
    "cache_dir", "find_corpus", "download_corpus", "load_pairs",
    "normalize_en", "normalize_ko", "clean_pairs", "split_of", "split_pairs",
    "corpus_statistics", "format_statistics", "print_corpus_statistics",
    "TranslationData", "prepare_translation", "train_or_load_sentencepiece",
]

DATA_URL = "https://www.manythings.org/anki/kor-eng.zip"
CORPUS_RELPATH = Path("kor-eng") / "kor.txt"
SPLITS = ("train", "valid", "test")
# manythings.org answers Python's default User-Agent with 403; a browser-like one works.
_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36 seq2seq-course"
)


class DataNotFoundError(FileNotFoundError):
    """The corpus is not on disk and could not be downloaded."""


class Pair(NamedTuple):
    """One sentence pair.

    Attributes:
        en: English sentence (the target side).
        ko: Korean sentence (the source side).
        attribution: Tatoeba sentence ids and authors (CC-BY 2.0 FR requires keeping it).
        line: 1-based line number in ``kor.txt`` (0 if not from a file).
    """

    en: str
    ko: str
    attribution: str = ""
    line: int = 0


class Splits(NamedTuple):
    """The three splits, each a list of :class:`Pair`."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


# ----------------------------------------------------------------------------- locating

def cache_dir() -> Path:
    """The course's user cache: ``$XDG_CACHE_HOME/s2s_course`` or ``~/.cache/s2s_course``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "s2s_course"


def _candidate_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("S2S_DATA_DIR"):
        dirs.append(Path(os.environ["S2S_DATA_DIR"]).expanduser())
    dirs.append(cache_dir())
    return dirs


def find_corpus(*, download: bool = True, progress: bool = True) -> Path:
    """Return the path of ``kor-eng/kor.txt``, downloading it into the cache if needed.

    Looks in ``$S2S_DATA_DIR/kor-eng/kor.txt``, then ``<cache_dir()>/kor-eng/kor.txt``, then
    downloads manythings.org's ``kor-eng.zip`` into the cache (unless ``download=False``).

    Raises:
        DataNotFoundError: no copy on disk and no download possible; the message says
            where to put the file.
    """
    for d in _candidate_dirs():
        path = d / CORPUS_RELPATH
        if path.is_file():
            return path
    target = cache_dir()
    reason = "download=False"
    if download:
        try:
            return download_corpus(target, progress=progress)
        except OSError as err:  # URLError, HTTPError, timeouts and disk errors are OSErrors
            reason = f"download from {DATA_URL} failed: {err}"
    looked = ", ".join(str(d / CORPUS_RELPATH) for d in _candidate_dirs())
    raise DataNotFoundError(
        f"Korean-English corpus not found (looked in: {looked}; {reason}).\n"
        f"Download {DATA_URL} by hand, unzip it and put kor.txt at "
        f"{target / CORPUS_RELPATH}, or set S2S_DATA_DIR to a folder that contains "
        f"{CORPUS_RELPATH}."
    )


def download_corpus(dest_dir: str | os.PathLike, *, url: str = DATA_URL,
                    progress: bool = True, timeout: float = 60.0) -> Path:
    """Download and unzip the manythings.org archive into ``dest_dir/kor-eng/``.

    Returns:
        The path of the extracted ``kor.txt``.
    """
    import urllib.request

    from tqdm import tqdm

    out_dir = Path(dest_dir) / CORPUS_RELPATH.parent
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buf = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc="kor-eng.zip",
                  disable=not progress) as bar:
            while chunk := response.read(1 << 16):
                buf.write(chunk)
                bar.update(len(chunk))
    try:
        archive = zipfile.ZipFile(buf)
    except zipfile.BadZipFile as err:
        raise OSError(f"{url} did not return a zip archive") from err
    names = {Path(n).name: n for n in archive.namelist()}
    if "kor.txt" not in names:
        raise OSError(f"{url} has no kor.txt (files: {sorted(names)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("kor.txt", "_about.txt"):
        if name in names:
            # write to a temp file first so an interrupted run leaves no half file behind
            with tempfile.NamedTemporaryFile(dir=out_dir, delete=False) as tmp:
                tmp.write(archive.read(names[name]))
            shutil.move(tmp.name, out_dir / name)
    return out_dir / "kor.txt"


# ------------------------------------------------------------------------------ loading

def load_pairs(path: str | os.PathLike | None = None, *, download: bool = True) -> list[Pair]:
    """Read ``kor.txt`` as raw :class:`Pair` objects, one per line, in file order.

    Args:
        path: the file; ``None`` finds it with :func:`find_corpus`.
        download: allow :func:`find_corpus` to download.
    Raises:
        ValueError: a line without exactly three tab-separated fields or with an empty
            English/Korean side; the message names the file and the line number.
    """
    path = Path(path) if path is not None else find_corpus(download=download)
    pairs = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            fields = line.split("\t")
            if len(fields) != 3:
                raise ValueError(
                    f"{path}:{lineno}: expected 3 tab-separated fields "
                    f"(English, Korean, attribution), found {len(fields)}"
                )
            en, ko, attribution = (x.strip() for x in fields)
            if not en or not ko:
                side = "English" if not en else "Korean"
                raise ValueError(f"{path}:{lineno}: empty {side} side")
            pairs.append(Pair(en, ko, attribution, lineno))
    if not pairs:
        raise ValueError(f"{path}: no sentence pairs")
    return pairs


# ----------------------------------------------------------------------------- cleaning

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u00a0": " ", "\u3000": " "})


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"  # punctuation and symbols ($, %, ~ ...)


def _split_punctuation(text: str) -> str:
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        if _is_punct(ch):
            prev = text[i - 1] if i > 0 else " "
            nxt = text[i + 1] if i + 1 < n else " "
            inside_number = ch in ".,:" and prev.isdigit() and nxt.isdigit()
            inside_word = ch in "'-" and prev.isalnum() and nxt.isalnum()
            if not (inside_number or inside_word):
                out.append(f" {ch} ")
                continue
        out.append(ch)
    return "".join(out)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    return normalize_whitespace(_split_punctuation(text).lower())


def normalize_en(text: str) -> str:
    """English normal form: NFC, lower case, punctuation split off ("Go." -> "go .")."""
    return _normalize(check_str(text, "text"))


def normalize_ko(text: str) -> str:
    """Korean normal form: NFC, punctuation split off ("가." -> "가 ."); Latin letters lower-cased."""
    return _normalize(check_str(text, "text"))


def clean_pairs(pairs: Sequence[Pair], *, max_words: int | None = None) -> list[Pair]:
    """Normalise both sides, drop exact duplicates and (optionally) long pairs.

    Args:
        pairs: raw pairs from :func:`load_pairs`.
        max_words: drop a pair if either side has more whitespace-separated words
            (punctuation counts as a word) than this; ``None`` keeps all.
    Returns:
        Normalised pairs in input order (``attribution`` and ``line`` kept).
    """
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"pairs must be a sequence of Pair, got {type(pairs).__name__}")
    if max_words is not None:
        max_words = check_int(max_words, "max_words")
    seen = set()
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, tuple) or len(p) < 2:
            raise TypeError(f"pairs[{i}] must be a Pair, got {type(p).__name__}")
        p = Pair(*p)
        en, ko = normalize_en(p.en), normalize_ko(p.ko)
        if not en or not ko:
            continue  # nothing left after normalisation (e.g. only whitespace)
        if (en, ko) in seen:
            continue
        if max_words is not None and max(len(en.split()), len(ko.split())) > max_words:
            continue
        seen.add((en, ko))
        out.append(Pair(en, ko, p.attribution, p.line))
    return out


# ------------------------------------------------------------------------------ splitting

def split_of(en: str, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """The split ("train", "valid" or "test") of a pair, from its normalised English alone.

    blake2b of the UTF-8 bytes -> the first 8 bytes as an integer / 2**64 -> a uniform
    number u in [0, 1); u < 0.8 is train, u < 0.9 valid, else test.
    """
    check_str(en, "en")
    if (not isinstance(ratios, (tuple, list)) or len(ratios) != 3
            or any(isinstance(r, bool) or not isinstance(r, numbers.Real) or not r >= 0 for r in ratios)
            or not abs(sum(ratios) - 1.0) <= 1e-9):
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios!r}")
    digest = hashlib.blake2b(en.encode("utf-8"), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    if u < ratios[0]:
        return "train"
    if u < ratios[0] + ratios[1]:
        return "valid"
    return "test"


def split_pairs(pairs: Sequence[Pair], *, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                drop_source_leaks: bool = True) -> Splits:
    """Split cleaned pairs into train/valid/test with :func:`split_of` (order kept).

    Args:
        pairs: normalised pairs (from :func:`clean_pairs`).
        ratios: train/valid/test fractions (checked by :func:`split_of`).
        drop_source_leaks: drop valid/test pairs whose Korean sentence also occurs in train.
    """
    parts = {name: [] for name in SPLITS}
    for p in pairs:
        parts[split_of(p.en, ratios)].append(p)
    if drop_source_leaks:
        train_ko = {p.ko for p in parts["train"]}
        for name in ("valid", "test"):
            parts[name] = [p for p in parts[name] if p.ko not in train_ko]
    return Splits(parts["train"], parts["valid"], parts["test"])


# ---------------------------------------------------------------------------- statistics

def _summary(values: list[int]) -> tuple[float, int]:
    return (round(statistics.fmean(values), 1) if values else 0.0, max(values, default=0))


def corpus_statistics(splits: Mapping[str, Sequence[Pair]] | Splits,
                      src_tokenizer=None, tgt_tokenizer=None) -> list[dict]:
    """Per-split statistics (plus an "all" row), one dict per split.

    Columns: pairs, unique English / Korean sentences, mean and max length in characters
    and in words (Korean words = eojeol 어절, space-separated), word types (distinct words),
    and - if tokenizers are given - mean/max SentencePiece tokens.
    """
    if isinstance(splits, Splits):
        splits = splits._asdict()
    if not isinstance(splits, Mapping) or not splits:
        raise TypeError("splits must be a non-empty mapping name -> list of Pair (or Splits)")
    named = dict(splits)
    named["all"] = [p for ps in splits.values() for p in ps]
    rows = []
    for name, ps in named.items():
        ko_words = [p.ko.split() for p in ps]
        en_words = [p.en.split() for p in ps]
        row = {
            "split": name,
            "pairs": len(ps),
            "uniq_en": len({p.en for p in ps}),
            "uniq_ko": len({p.ko for p in ps}),
            "ko_chars": _summary([len(p.ko) for p in ps]),
            "en_chars": _summary([len(p.en) for p in ps]),
            "ko_words": _summary([len(w) for w in ko_words]),
            "en_words": _summary([len(w) for w in en_words]),
            "ko_types": len({w for ws in ko_words for w in ws}),
            "en_types": len({w for ws in en_words for w in ws}),
        }
        if src_tokenizer is not None:
            row["ko_tokens"] = _summary([len(src_tokenizer.encode(p.ko)) for p in ps])
        if tgt_tokenizer is not None:
            row["en_tokens"] = _summary([len(tgt_tokenizer.encode(p.en)) for p in ps])
        rows.append(row)
    return rows


def format_statistics(rows: Sequence[dict]) -> str:
    """Render :func:`corpus_statistics` rows as a fixed-width text table.

    Pairs of numbers are shown as ``mean/max``.
    """
    if not rows:
        raise ValueError("rows is empty")
    cols = list(rows[0])
    def cell(v):
        return f"{v[0]}/{v[1]}" if isinstance(v, tuple) else str(v)
    table = [cols] + [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    lines = ["  ".join(v.rjust(w) if j else v.ljust(w) for j, (v, w) in enumerate(zip(r, widths)))
             for r in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def print_corpus_statistics(splits, src_tokenizer=None, tgt_tokenizer=None) -> list[dict]:
    """Print the statistics table (lengths as mean/max) and return the rows.

    With tokenizers, a last line gives their vocabulary sizes (special tokens included).
    """
    rows = corpus_statistics(splits, src_tokenizer, tgt_tokenizer)
    print(format_statistics(rows))
    sizes = [f"{side} {tok.vocab_size:,}" for side, tok in
             (("ko", src_tokenizer), ("en", tgt_tokenizer)) if tok is not None]
    if sizes:
        print("SentencePiece vocabulary: " + ", ".join(sizes))
    return rows


# ------------------------------------------------------------------ tokenizers + batches

def train_or_load_sentencepiece(texts: Sequence[str], vocab_size: int, *,
                                cache: bool = True, **options) -> SentencePieceTokenizer:
    """Train a :class:`SentencePieceTokenizer`, reusing ``<cache_dir()>/spm/<key>.model``.

    The key is a hash of the training text and every option, so a different corpus or
    setting never picks up a stale model; a missing or broken cache just retrains.
    """
    import sentencepiece

    texts = list(texts)
    h = hashlib.blake2b(digest_size=12)
    key = {"vocab_size": vocab_size, "sentencepiece": sentencepiece.__version__, **options}
    h.update(json.dumps(key, sort_keys=True).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    path = cache_dir() / "spm" / f"{h.hexdigest()}.model"
    if cache and path.is_file():
        try:
            return SentencePieceTokenizer.load(path)
        except (RuntimeError, ValueError, OSError):
            pass  # corrupt cache entry: train again below
    tok = SentencePieceTokenizer.train(texts, vocab_size, **options)
    if cache:
        try:
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tok.save(tmp)
            os.replace(tmp, path)
        except OSError:
            pass  # read-only cache: fine, just slower next time
    return tok


@dataclass
class TranslationData:
    """Everything a Korean -> English chapter needs, from :func:`prepare_translation`.

    Attributes:
        train, valid, test: normalised :class:`Pair` lists (length-filtered).
        src_tokenizer: Korean SentencePiece tokenizer (trained on train only).
        tgt_tokenizer: English SentencePiece tokenizer (trained on train only).
        max_len: longest allowed sentence in tokens (either side, without sos/eos).
    """

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    src_tokenizer: SentencePieceTokenizer
    tgt_tokenizer: SentencePieceTokenizer
    max_len: int
    _encoded: dict = field(default_factory=dict, repr=False, compare=False)

    def split(self, name: str) -> list[Pair]:
        """The pairs of split ``name`` ("train", "valid" or "test")."""
        return getattr(self, check_choice(name, "split", SPLITS))

    def sources(self, name: str) -> list[str]:
        """Korean sentences of a split."""
        return [p.ko for p in self.split(name)]

    def targets(self, name: str) -> list[str]:
        """English sentences of a split (the references for BLEU)."""
        return [p.en for p in self.split(name)]

    def encoded(self, name: str) -> tuple[list[list[int]], list[list[int]]]:
        """(source ids, target ids) of a split, without sos/eos; computed once."""
        if name not in self._encoded:
            ps = self.split(name)
            self._encoded[name] = (
                [self.src_tokenizer.encode(p.ko) for p in ps],
                [self.tgt_tokenizer.encode(p.en) for p in ps],
            )
        return self._encoded[name]

    def batches(self, name: str, batch_size: int = 64, *, bucketing: bool | None = None,
                shuffle: bool | None = None, seed: int = 0, reverse_source: bool = False,
                drop_last: bool = False) -> list[Batch]:
        """Padded batches of a split.

        By default train batches are shuffled and length-bucketed, while valid/test batches
        keep the split's order, so that row ``i`` of batch ``k`` is pair
        ``k * batch_size + i`` and lines up with :meth:`targets` (for BLEU).

        Args:
            name: "train", "valid" or "test".
            batch_size: B.
            bucketing: group sentences of similar length (less padding, faster);
                default: True for train, False otherwise.
            shuffle: shuffle (default: True for train, False otherwise).
            seed: shuffling seed; use the epoch number for a new order each epoch.
            reverse_source: reverse each source sentence (Sutskever et al. 2014).
            drop_last: drop batches smaller than ``batch_size``.
        Returns:
            A list of :class:`~s2s_lib.batching.Batch`.
        """
        src, tgt = self.encoded(name)
        if shuffle is None:
            shuffle = name == "train"
        if bucketing is None:
            bucketing = name == "train"
        return make_batches(src, tgt, batch_size, bucketing=bucketing, shuffle=shuffle,
                            seed=seed, drop_last=drop_last, reverse_source=reverse_source)

    def statistics(self, *, print_table: bool = False) -> list[dict]:
        """:func:`corpus_statistics` of the three splits with token lengths (printed if asked)."""
        splits = {n: self.split(n) for n in SPLITS}
        if print_table:
            return print_corpus_statistics(splits, self.src_tokenizer, self.tgt_tokenizer)
        return corpus_statistics(splits, self.src_tokenizer, self.tgt_tokenizer)

    def __repr__(self) -> str:
        return (f"TranslationData(train={len(self.train)}, valid={len(self.valid)}, "
                f"test={len(self.test)}, src_vocab={self.src_tokenizer.vocab_size}, "
                f"tgt_vocab={self.tgt_tokenizer.vocab_size}, max_len={self.max_len})")


def prepare_translation(max_len: int = 30, src_vocab_size: int = 2000,
                        tgt_vocab_size: int = 1500, *, path: str | os.PathLike | None = None,
                        model_type: str = "unigram", drop_source_leaks: bool = True,
                        cache: bool = True, download: bool = True) -> TranslationData:
    """Load, clean, split and tokenize the corpus in one deterministic call (~1-2 s).

    The tokenizers are trained on the training split (all lengths); then pairs with more
    than ``max_len`` tokens on either side are dropped from every split.

    Args:
        max_len: longest sentence kept, in SentencePiece tokens (without sos/eos).
        src_vocab_size: Korean vocabulary size (incl. 4 special tokens).
        tgt_vocab_size: English vocabulary size.
        path: explicit ``kor.txt`` (default: :func:`find_corpus`).
        model_type: SentencePiece "unigram" or "bpe".
        drop_source_leaks: see :func:`split_pairs`.
        cache: reuse trained SentencePiece models from the user cache.
        download: allow downloading the corpus if no copy is found.
    """
    max_len = check_int(max_len, "max_len")
    src_vocab_size = check_int(src_vocab_size, "src_vocab_size", 5)
    tgt_vocab_size = check_int(tgt_vocab_size, "tgt_vocab_size", 5)
    pairs = clean_pairs(load_pairs(path, download=download))
    splits = split_pairs(pairs, drop_source_leaks=drop_source_leaks)
    # Korean has >1000 distinct syllables here; coverage 0.9995 leaves the rarest as <unk>
    # so that small vocabularies still train. English uses every character.
    src_tok = train_or_load_sentencepiece([p.ko for p in splits.train], src_vocab_size,
                                          cache=cache, model_type=model_type,
                                          character_coverage=0.9995)
    tgt_tok = train_or_load_sentencepiece([p.en for p in splits.train], tgt_vocab_size,
                                          cache=cache, model_type=model_type,
                                          character_coverage=1.0)
    kept = {}
    encoded = {}
    for name, ps in zip(SPLITS, splits):
        src = [src_tok.encode(p.ko) for p in ps]
        tgt = [tgt_tok.encode(p.en) for p in ps]
        keep = [i for i in range(len(ps)) if len(src[i]) <= max_len and len(tgt[i]) <= max_len]
        kept[name] = [ps[i] for i in keep]
        encoded[name] = ([src[i] for i in keep], [tgt[i] for i in keep])
    return TranslationData(kept["train"], kept["valid"], kept["test"], src_tok, tgt_tok,
                           max_len, _encoded=encoded)
