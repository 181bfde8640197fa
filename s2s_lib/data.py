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
* **Pinned corpus**: manythings.org refreshes ``kor-eng.zip`` from time to time. The book was
  made from the ``kor.txt`` whose sha256 is :data:`CORPUS_SHA256` (:data:`CORPUS_PAIRS`
  pairs). Another version still loads, but the corpus located by :func:`find_corpus`
  is compared with the pin and a different one gives one :class:`CorpusVersionWarning`
  per file and process: its splits, tokenizers and every number will differ from the book's.
  A file passed explicitly as ``path=`` is the caller's own corpus and is not compared.
"""
from __future__ import annotations

import codecs
import hashlib
import http.client
import io
import json
import os
import statistics
import time
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, Sequence

from s2s_lib.batching import Batch, make_batches
from s2s_lib.checks import (check_bool, check_choice, check_int, check_path, check_real, check_str,
                            check_strings, check_type)
from s2s_lib.tokenize import SentencePieceTokenizer, _write_atomic, normalize_whitespace

__all__ = [
    "DATA_URL", "CORPUS_RELPATH", "CORPUS_SHA256", "CORPUS_PAIRS", "SPLITS", "DataNotFoundError",
    "CorpusVersionWarning", "Pair", "Splits",
    "cache_dir", "find_corpus", "download_corpus", "load_pairs",
    "normalize_en", "normalize_ko", "keep_text", "clean_pairs", "split_of", "split_pairs",
    "corpus_statistics", "format_statistics", "print_corpus_statistics",
    "TranslationData", "prepare_translation", "train_or_load_sentencepiece",
]

DATA_URL = "https://www.manythings.org/anki/kor-eng.zip"
CORPUS_RELPATH = Path("kor-eng") / "kor.txt"
# The kor.txt the book was made from: its splits, tokenizers and committed outputs depend on it.
CORPUS_SHA256 = "6c9d8de3e500306997e4083274fb0038ef521651ffb2b7923e4e607a59d09dbc"
CORPUS_PAIRS = 5749
SPLITS = ("train", "valid", "test")
# A download larger than this (zip, or kor.txt inside it) is refused; the real zip is ~0.3 MB.
_MAX_DOWNLOAD_BYTES = 64 << 20
# manythings.org answers Python's default User-Agent with 403; a browser-like one works.
_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36 seq2seq-course"
)


class DataNotFoundError(FileNotFoundError):
    """The corpus is not on disk and could not be downloaded (or the download was unusable)."""


class CorpusVersionWarning(UserWarning):
    """The located ``kor.txt`` is not the version the book was made from (:data:`CORPUS_SHA256`)."""


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


def _corpus_url(url: str | None) -> str:
    """Where to download from: ``url``, else ``$S2S_CORPUS_URL``, else :data:`DATA_URL`."""
    if url is None:
        return os.environ.get("S2S_CORPUS_URL") or DATA_URL
    return check_str(url, "url", empty=False)


def find_corpus(*, download: bool = True, progress: bool = True, url: str | None = None) -> Path:
    """Return the path of ``kor-eng/kor.txt``, downloading it into the cache if needed.

    Looks in ``$S2S_DATA_DIR/kor-eng/kor.txt``, then ``<cache_dir()>/kor-eng/kor.txt``, then
    downloads manythings.org's ``kor-eng.zip`` into the cache (unless ``download=False``).
    The file found is compared with :data:`CORPUS_SHA256`; another version gives one
    :class:`CorpusVersionWarning` (and still works).

    Args:
        download: allow the download.
        progress: show a progress bar while downloading.
        url: where to download ``kor-eng.zip`` from; default ``$S2S_CORPUS_URL`` if set (a
            mirror, or a local server in the tests), else :data:`DATA_URL`.

    Raises:
        DataNotFoundError: no copy on disk and no download possible (offline, refused,
            timed out, or not a zip with a ``kor.txt`` that parses); the message says
            why and where to put the file.
    """
    check_bool(download, "download")
    check_bool(progress, "progress")
    url = _corpus_url(url)
    for d in _candidate_dirs():
        path = d / CORPUS_RELPATH
        if path.is_file():
            _warn_if_not_pinned(path)
            return path
    target = cache_dir()
    reason = "download=False"
    if download:
        try:
            return download_corpus(target, url=url, progress=progress)
        except DataNotFoundError as err:
            reason = str(err)
        except OSError as err:  # the cache folder cannot be written
            reason = f"download from {url} could not be saved: {err}"
    looked = ", ".join(str(d / CORPUS_RELPATH) for d in _candidate_dirs())
    raise DataNotFoundError(
        f"Korean-English corpus not found (looked in: {looked}; {reason}).\n"
        f"Download {DATA_URL} by hand, unzip it and put kor.txt at "
        f"{target / CORPUS_RELPATH}, or set S2S_DATA_DIR to a folder that contains "
        f"{CORPUS_RELPATH}."
    )


_PIN_WARNED: set[tuple[str, str]] = set()


def _warn_if_not_pinned(path: Path, data: bytes | None = None) -> None:
    """One :class:`CorpusVersionWarning` per (file, content) if ``path`` is not the pinned corpus."""
    try:
        data = path.read_bytes() if data is None else data
    except OSError:
        return  # unreadable: load_pairs will say so, naming the file
    digest = hashlib.sha256(data).hexdigest()
    key = (str(path.resolve()), digest)
    if digest == CORPUS_SHA256 or key in _PIN_WARNED:
        return
    _PIN_WARNED.add(key)
    found = sum(1 for line in data.splitlines() if line.strip())
    warnings.warn(
        f"{path} is not the kor.txt this book was made from: found sha256 {digest} "
        f"({found} pair{'s' * (found != 1)}), expected sha256 {CORPUS_SHA256} ({CORPUS_PAIRS} pairs); "
        "manythings.org has probably refreshed kor-eng.zip. It loads, but the train/valid/test "
        "splits, the tokenizers, trained models and every output will differ from the book's.",
        CorpusVersionWarning, stacklevel=3)


def _fetch(url: str, timeout: float, progress: bool) -> bytes:
    """The body at ``url`` (browser User-Agent), each socket operation limited to ``timeout``
    seconds and the whole download to ``10 * timeout``; at most ``_MAX_DOWNLOAD_BYTES``."""
    import urllib.request

    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    deadline = time.monotonic() + 10 * timeout
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if total is not None and total > _MAX_DOWNLOAD_BYTES:
            raise OSError(f"it is {total} bytes, more than the {_MAX_DOWNLOAD_BYTES} allowed")
        buf = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc="kor-eng.zip",
                  disable=not progress) as bar:
            # read1, not read: read(n) waits for all n bytes, so a server that trickles
            # bytes (each within `timeout`) would hold it past the deadline for hours.
            while chunk := response.read1(1 << 16):
                buf.write(chunk)
                bar.update(len(chunk))
                if buf.tell() > _MAX_DOWNLOAD_BYTES:
                    raise OSError(f"it is more than the {_MAX_DOWNLOAD_BYTES} bytes allowed")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"it took more than {10 * timeout:g} s")
    if total is not None and buf.tell() < total:  # http.client returns a cut body without a word
        raise OSError(f"the connection closed after {buf.tell()} of its {total} bytes")
    return buf.getvalue()


def _unpack(data: bytes) -> dict[str, bytes]:
    """``{"kor.txt": ..., "_about.txt": ...}`` (the latter if present) from the zip ``data``."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    members = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}
    if "kor.txt" not in members:
        raise ValueError(f"the zip has no kor.txt (files: {sorted(members)})")
    out = {}
    for name in ("kor.txt", "_about.txt"):
        if name in members:
            if members[name].file_size > _MAX_DOWNLOAD_BYTES:
                raise ValueError(f"its {name} is {members[name].file_size} bytes, more than allowed")
            out[name] = archive.read(members[name])  # checks the CRC
    return out


def download_corpus(dest_dir: str | os.PathLike, *, url: str | None = None,
                    progress: bool = True, timeout: float = 60.0) -> Path:
    """Download and unzip the manythings.org archive into ``dest_dir/kor-eng/``.

    The download is verified before anything in ``dest_dir`` is touched: it must be a zip
    (CRCs correct) holding a ``kor.txt`` that parses as :func:`load_pairs` reads it. Only
    then are ``kor.txt`` (and ``_about.txt``) written, each to a temporary file renamed
    into place. A version other than :data:`CORPUS_SHA256` is kept, with one
    :class:`CorpusVersionWarning`.

    Args:
        dest_dir: the folder that gets ``kor-eng/kor.txt`` (the user cache in :func:`find_corpus`).
        url: where to download from; default ``$S2S_CORPUS_URL`` if set, else :data:`DATA_URL`.
        progress: show a progress bar.
        timeout: seconds allowed for connecting and for each read; the whole download is
            abandoned after ``10 * timeout`` seconds.
    Returns:
        The path of the extracted ``kor.txt``.
    Raises:
        DataNotFoundError: the download failed (offline, refused, timed out, too large) or is
            not a zip with a ``kor.txt`` that parses; ``dest_dir`` is left as it was.
        OSError: the files cannot be written into ``dest_dir``.
    """
    dest_dir = check_path(dest_dir, "dest_dir")
    url = _corpus_url(url)
    check_bool(progress, "progress")
    timeout = check_real(timeout, "timeout", above=0.0)
    try:
        data = _fetch(url, timeout, progress)
    except (OSError, http.client.HTTPException, ValueError) as err:  # URLError, HTTPError, timeouts
        raise DataNotFoundError(f"download from {url} failed: {err}") from err
    try:
        files = _unpack(data)
        _parse_corpus(files["kor.txt"], f"{url}!kor.txt")
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
            RuntimeError) as err:  # not a zip, bad CRC, encrypted, no kor.txt, does not parse
        raise DataNotFoundError(f"download from {url} is not a usable kor-eng.zip "
                                f"({len(data)} bytes): {err}") from err
    out_dir = dest_dir / CORPUS_RELPATH.parent
    for name, content in files.items():
        _write_atomic(out_dir / name, content)
    path = out_dir / "kor.txt"
    _warn_if_not_pinned(path, files["kor.txt"])
    return path


# ------------------------------------------------------------------------------ loading

def _parse_corpus(data: bytes, source: str | os.PathLike) -> list[Pair]:
    """The pairs of a ``kor.txt`` given as bytes; errors name ``source`` and the line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = io.StringIO(data[:err.start].decode("utf-8"), newline="").readlines()
        at_line_start = not before or before[-1].endswith(("\n", "\r"))
        lineno = len(before) + at_line_start
        column = 1 + (0 if at_line_start else len(before[-1]))
        raise ValueError(f"{source}:{lineno}: not valid UTF-8 (byte 0x{data[err.start]:02x} at "
                         f"column {column}); kor.txt must be UTF-8 text") from None
    pairs = []
    for lineno, line in enumerate(io.StringIO(text, newline=""), start=1):
        line = line.rstrip("\r\n")
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(
                f"{source}:{lineno}: expected 3 tab-separated fields "
                f"(English, Korean, attribution), found {len(fields)}"
            )
        en, ko, attribution = (x.strip() for x in fields)
        if not en or not ko:
            side = "English" if not en else "Korean"
            raise ValueError(f"{source}:{lineno}: empty {side} side")
        pairs.append(Pair(en, ko, attribution, lineno))
    if not pairs:
        raise ValueError(f"{source}: no sentence pairs")
    return pairs


def load_pairs(path: str | os.PathLike | None = None, *, download: bool = True) -> list[Pair]:
    """Read ``kor.txt`` as raw :class:`Pair` objects, one per line, in file order.

    Args:
        path: the file; ``None`` finds it with :func:`find_corpus` (which compares it with
            :data:`CORPUS_SHA256`).
        download: allow :func:`find_corpus` to download.
    Raises:
        ValueError: the file is not UTF-8, or a line has not exactly three tab-separated
            fields or has an empty English/Korean side; the message names the file and the
            line number.
        DataNotFoundError: ``path=None`` and no corpus can be found or downloaded.
        OSError: ``path`` cannot be read (``FileNotFoundError`` if it does not exist).
    """
    path = find_corpus(download=check_bool(download, "download")) if path is None \
        else check_path(path, "path")
    return _parse_corpus(path.read_bytes(), path)


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


def _valid_pairs(pairs, name: str) -> list[Pair]:
    """``pairs`` (any iterable but a str) as a list of :class:`Pair`, each with str ``en``/``ko``.

    A plain tuple ``(en, ko[, attribution[, line]])`` is accepted and made a Pair; errors name
    the element, e.g. ``pairs[3].ko must be a str, got NoneType``.
    """
    if isinstance(pairs, (str, bytes, Mapping)) or not isinstance(pairs, Iterable):
        raise TypeError(f"{name} must be a list of Pair, got {type(pairs).__name__}")
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, tuple) or not 2 <= len(p) <= len(Pair._fields):
            raise TypeError(f"{name}[{i}] must be a Pair (en, ko, attribution, line), got "
                            f"{type(p).__name__}" + (f" of length {len(p)}" if isinstance(p, tuple) else ""))
        p = Pair(*p)
        check_str(p.en, f"{name}[{i}].en")
        check_str(p.ko, f"{name}[{i}].ko")
        out.append(p)
    return out


def keep_text(text: str) -> str:
    """The text as written: Unicode NFC and single spaces only (case and punctuation untouched)."""
    return normalize_whitespace(unicodedata.normalize("NFC", check_str(text, "text")))


def clean_pairs(pairs: Sequence[Pair], *, max_words: int | None = None, normalize: bool = True) -> list[Pair]:
    """Normalise both sides, drop exact duplicates and (optionally) long pairs.

    Args:
        pairs: raw pairs from :func:`load_pairs`.
        max_words: drop a pair if either side has more whitespace-separated words
            (punctuation counts as a word) than this; ``None`` keeps all.
        normalize: ``True``: the corpus normal form (:func:`normalize_en`: lower case,
            punctuation split off). ``False``: the text as written (NFC, single spaces), for
            a tokenizer that learns case and punctuation itself (SentencePiece) and BLEU
            against the untouched references.
    Returns:
        Cleaned pairs in input order (``attribution`` and ``line`` kept).
    """
    pairs = _valid_pairs(pairs, "pairs")
    if max_words is not None:
        max_words = check_int(max_words, "max_words")
    clean = _normalize if check_bool(normalize, "normalize") else keep_text
    seen = set()
    out = []
    for p in pairs:
        en, ko = clean(p.en), clean(p.ko)
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

def _split_ratios(ratios) -> tuple[float, float, float]:
    """Three finite, non-negative numbers that sum to 1 (errors name ``ratios[i]``)."""
    if not isinstance(ratios, (tuple, list)):
        raise TypeError(f"ratios must be a tuple of three numbers (train, valid, test), "
                        f"got {type(ratios).__name__}")
    if len(ratios) != 3:
        raise ValueError(f"ratios must be three numbers (train, valid, test), got {len(ratios)}")
    out = tuple(check_real(r, f"ratios[{i}]", minimum=0.0) for i, r in enumerate(ratios))
    if not abs(sum(out) - 1.0) <= 1e-9:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios!r}")
    return out


def split_of(en: str, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """The split ("train", "valid" or "test") of a pair, from its normalised English alone.

    blake2b of the UTF-8 bytes -> the first 8 bytes as an integer / 2**64 -> a uniform
    number u in [0, 1); u < 0.8 is train, u < 0.9 valid, else test.
    """
    check_str(en, "en")
    ratios = _split_ratios(ratios)
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
    pairs = _valid_pairs(pairs, "pairs")
    ratios = _split_ratios(ratios)
    check_bool(drop_source_leaks, "drop_source_leaks")
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
    for key in splits:
        if check_str(key, "splits key") == "all":
            raise ValueError('splits must not have a split named "all": that row is every split together')
    for side, tok in (("src_tokenizer", src_tokenizer), ("tgt_tokenizer", tgt_tokenizer)):
        if tok is not None and not (callable(getattr(tok, "encode", None)) and hasattr(tok, "vocab_size")):
            raise TypeError(f"{side} must be a tokenizer (with encode() and vocab_size), got {type(tok).__name__}")
    splits = {name: _valid_pairs(ps, f"splits[{name!r}]") for name, ps in splits.items()}
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
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a list of dicts (from corpus_statistics), got {type(rows).__name__}")
    if not rows:
        raise ValueError("rows is empty")
    for i, r in enumerate(rows):
        check_type(r, f"rows[{i}]", Mapping, "a dict")
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

_SPM_OPTIONS = ("model_type", "character_coverage", "hard_vocab_limit", "seed_sentencepiece_size")


def train_or_load_sentencepiece(texts: Sequence[str], vocab_size: int, *,
                                cache: bool = True, **options) -> SentencePieceTokenizer:
    """Train a :class:`SentencePieceTokenizer`, reusing ``<cache_dir()>/spm/<key>.model``.

    The key is a hash of the training text and every option, so a different corpus or
    setting never picks up a stale model. Beside each cached model, ``<key>.sha256`` holds
    its sha256 (written after the model, each by a temporary file and a rename) and is
    checked on every load: a model whose hash does not match (a damaged file) is never
    used, but retrained with a ``UserWarning`` and rewritten. A model without its hash
    (cached by an older version) is retrained and kept quietly if identical, else replaced
    with the warning. Training is deterministic, so a retrained model equals the lost one.

    Args:
        texts: training sentences (str).
        vocab_size: see :meth:`SentencePieceTokenizer.train`.
        cache: reuse/write the user cache.
        **options: ``model_type``, ``character_coverage``, ``hard_vocab_limit``,
            ``seed_sentencepiece_size`` of :meth:`SentencePieceTokenizer.train`.
    """
    import sentencepiece

    texts = check_strings(texts, "texts")
    vocab_size = check_int(vocab_size, "vocab_size", 5)
    check_bool(cache, "cache")
    unknown = sorted(set(options) - set(_SPM_OPTIONS))
    if unknown:
        raise TypeError(f"unknown SentencePiece option(s) {unknown}; the options are {list(_SPM_OPTIONS)}")
    h = hashlib.blake2b(digest_size=12)
    key = {"vocab_size": vocab_size, "sentencepiece": sentencepiece.__version__, **options}
    h.update(json.dumps(key, sort_keys=True, default=repr).encode())
    for t in texts:  # surrogatepass: never fails, and is plain UTF-8 for valid text
        h.update(t.encode("utf-8", "surrogatepass") + b"\n")
    path = cache_dir() / "spm" / f"{h.hexdigest()}.model"
    sha_path = path.with_suffix(".sha256")
    cached, problem = None, None
    if cache and path.is_file():
        try:
            cached = path.read_bytes()
            expected = sha_path.read_text(encoding="ascii").strip() if sha_path.is_file() else None
        except (OSError, UnicodeDecodeError) as err:
            cached, problem = None, f"cannot be read ({err})"
        else:
            if expected is None:
                problem = None  # cached before hashes were kept: compared with a fresh model below
            elif hashlib.sha256(cached).hexdigest() != expected:
                problem = f"does not match its sha256 in {sha_path.name}"
            else:
                try:
                    return SentencePieceTokenizer(cached)
                except ValueError as err:
                    problem = f"does not load ({err})"
    tok = SentencePieceTokenizer.train(texts, vocab_size, **options)
    if cached is not None and problem is None and cached != tok.model_proto:
        problem = "has no sha256 file and differs from a fresh training"
    if problem is not None:
        warnings.warn(f"damaged SentencePiece cache: {path} {problem}; retrained and replaced it",
                      UserWarning, stacklevel=2)
    if cache:
        try:
            tok.save(path)  # the model first, then its hash: a hash always describes a whole file
            _write_atomic(sha_path, (hashlib.sha256(tok.model_proto).hexdigest() + "\n").encode("ascii"))
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
        normalized: ``True``: the corpus normal form (lower case, punctuation split off);
            ``False``: the text as written (see :func:`clean_pairs`).
    """

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    src_tokenizer: SentencePieceTokenizer
    tgt_tokenizer: SentencePieceTokenizer
    max_len: int
    normalized: bool = True
    _encoded: dict = field(default_factory=dict, repr=False, compare=False)

    def split(self, name: str) -> list[Pair]:
        """The pairs of split ``name`` ("train", "valid" or "test")."""
        return getattr(self, check_choice(name, "split", SPLITS))

    def sources(self, name: str) -> list[str]:
        """Korean sentences of a split."""
        return [p.ko for p in self.split(name)]

    def targets(self, name: str) -> list[str]:
        """English sentences of a split (the references for BLEU; untouched if not :attr:`normalized`)."""
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
        check_bool(print_table, "print_table")
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
                        normalize: bool = True, tokenizers: tuple | None = None, cache: bool = True,
                        download: bool = True) -> TranslationData:
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
        normalize: see :func:`clean_pairs`. With ``False`` the tokenizers see the text as
            written, :meth:`TranslationData.targets` are the untouched Tatoeba English, and a
            decoded translation is already detokenised, cased text for BLEU.
        tokenizers: ``(src_tokenizer, tgt_tokenizer)`` to use instead of training them (e.g.
            the ones shipped with a zoo model; ``src_vocab_size``/``tgt_vocab_size`` are then ignored).
        cache: reuse trained SentencePiece models from the user cache.
        download: allow downloading the corpus if no copy is found.
    """
    max_len = check_int(max_len, "max_len")
    src_vocab_size = check_int(src_vocab_size, "src_vocab_size", 5)
    tgt_vocab_size = check_int(tgt_vocab_size, "tgt_vocab_size", 5)
    check_choice(model_type, "model_type", ("unigram", "bpe"))
    for name, flag in (("drop_source_leaks", drop_source_leaks), ("normalize", normalize), ("cache", cache),
                       ("download", download)):
        check_bool(flag, name)
    pairs = clean_pairs(load_pairs(path, download=download), normalize=normalize)
    splits = split_pairs(pairs, drop_source_leaks=drop_source_leaks)
    if tokenizers is not None:
        if (not isinstance(tokenizers, tuple) or len(tokenizers) != 2
                or not all(isinstance(t, SentencePieceTokenizer) for t in tokenizers)):
            raise TypeError("tokenizers must be a pair (src_tokenizer, tgt_tokenizer) of SentencePieceTokenizer")
        src_tok, tgt_tok = tokenizers
    else:
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
                           max_len, normalized=normalize, _encoded=encoded)
