"""Tokenizers: SentencePiece trained locally, and characters (Chapter 0, "Data and tokenization").

A neural translator never sees text, only integer ids. This module turns text into ids and
back. Two tokenizers share one small interface:

* :class:`SentencePieceTokenizer` – subword units (Kudo & Richardson 2018, "SentencePiece:
  A simple and language independent subword tokenizer and detokenizer for Neural Text
  Processing"; unigram language model of Kudo 2018). Trained here, in a second, on the
  training split only. Used for the Korean -> English Tatoeba data.
* :class:`CharTokenizer` – one id per character. Used for the generated tasks
  (:mod:`s2s_lib.tasks`), whose alphabets are tiny.

Interface (both classes):
    ``encode(text) -> list[int]``  ids without ``<sos>``/``<eos>`` (the batcher adds them);
    ``decode(ids) -> str``         skips ``<pad>``/``<sos>``, stops at ``<eos>``; unknown ids
                                   show as ``<unk>`` so errors stay visible;
    ``pieces(ids) -> list[str]``   readable labels (for attention heatmaps);
    ``vocab_size``, ``save(path)``, ``load(path)``.

Bad input follows DESIGN.md: a wrong kind of argument is a ``TypeError``, a wrong value a
``ValueError``, each naming the argument; a file that is not a tokenizer (truncated, corrupt,
another format) makes ``load`` raise ``ValueError`` naming the file, never a raw
SentencePiece/JSON error. ``save`` writes a temporary file and renames it, so an interrupted
save never leaves half a file behind.

Special ids are fixed in every vocabulary (DESIGN.md): ``PAD_ID=0 "<pad>"``,
``SOS_ID=1 "<sos>"``, ``EOS_ID=2 "<eos>"``, ``UNK_ID=3 "<unk>"``.

Both tokenizers apply :func:`normalize_whitespace` first (Unicode NFC, one space between
words), so ``decode(encode(x)) == normalize_whitespace(x)`` whenever every character of x is
in the vocabulary.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from s2s_lib.checks import (check_bool, check_choice, check_ids, check_int, check_path, check_real,
                            check_str, check_strings, check_type)

PAD_ID = 0
SOS_ID = 1
EOS_ID = 2
UNK_ID = 3
PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, SOS, EOS, UNK)

__all__ = [
    "PAD_ID", "SOS_ID", "EOS_ID", "UNK_ID", "PAD", "SOS", "EOS", "UNK", "SPECIAL_TOKENS",
    "normalize_whitespace", "SentencePieceTokenizer", "CharTokenizer", "load_tokenizer",
    "SPM_MAX_SENTENCE_BYTES", "SPM_MIN_CHARACTER_COVERAGE",
]

_SPACES = re.compile(r"\s+")
# SentencePiece marks a word start with U+2581 "▁"; CharTokenizer.pieces shows spaces the same way.
WORD_BOUNDARY = "\u2581"
# SentencePiece's trainer silently skips sentences longer than this many UTF-8 bytes
# (TrainerSpec.max_sentence_length); train() raises the limit when a text needs it.
SPM_MAX_SENTENCE_BYTES = 4192
# The SentencePiece trainer refuses a character_coverage outside [0.98, 1].
SPM_MIN_CHARACTER_COVERAGE = 0.98


def _write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never an existing file; the usual permissions (umask)
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _utf8(text: str, name: str) -> bytes:
    """``text`` as UTF-8; a ValueError naming ``name`` if it holds a lone surrogate."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{name} is not valid Unicode text: it holds the lone surrogate "
                         f"{text[err.start]!r} at index {err.start}") from None


def normalize_whitespace(text: str) -> str:
    """Unicode NFC, every whitespace run -> one space, no leading/trailing space.

    NFC matters for Korean: a syllable such as 한 can be stored as one code point (U+D55C)
    or as three jamo (ᄒ ᅡ ᆫ); NFC makes them identical.
    """
    check_str(text, "text")
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


class _Tokenizer:
    """Shared decode logic: skip pad/sos, stop at eos, check the id range."""

    vocab_size: int

    def _id_to_text(self, i: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _content_ids(self, ids, name: str = "ids") -> list[int]:
        out = []
        for i in check_ids(ids, name, self.vocab_size):
            if i == EOS_ID:
                break
            if i in (PAD_ID, SOS_ID):
                continue
            out.append(i)
        return out

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """Encode many texts (a list of id lists)."""
        return [self.encode(t) for t in check_strings(texts, "texts")]

    def __len__(self) -> int:
        return self.vocab_size


class SentencePieceTokenizer(_Tokenizer):
    """Subword tokenizer backed by a SentencePiece model with our fixed special ids.

    Create one with :meth:`train` (on the training split only, so validation text stays
    unseen) or :meth:`load`.
    """

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        check_type(model_proto, "model_proto", (bytes, bytearray), "bytes")
        self.model_proto = bytes(model_proto)
        try:
            self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        except RuntimeError as err:  # the protobuf does not parse (truncated, corrupt, other file)
            raise ValueError(f"model_proto is not a SentencePiece model ({len(model_proto)} bytes "
                             f"that do not parse: {str(err).strip()})") from None
        for want, got in ((PAD_ID, self.sp.pad_id()), (SOS_ID, self.sp.bos_id()),
                          (EOS_ID, self.sp.eos_id()), (UNK_ID, self.sp.unk_id())):
            if want != got:
                raise ValueError(
                    f"SentencePiece model has special id {got} where {want} is required "
                    "(train it with SentencePieceTokenizer.train)"
                )

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        vocab_size: int = 2000,
        *,
        model_type: str = "unigram",
        character_coverage: float = 1.0,
        hard_vocab_limit: bool = False,
        seed_sentencepiece_size: int = 1_000_000,
    ) -> "SentencePieceTokenizer":
        """Train a model on ``texts`` in memory (deterministic: same input -> same model).

        Args:
            texts: training sentences (normalised with :func:`normalize_whitespace`).
            vocab_size: target vocabulary size including the 4 special tokens.
            model_type: "unigram" (default, Kudo 2018) or "bpe" (Sennrich et al. 2016).
            character_coverage: fraction of characters kept as pieces; 1.0 keeps every
                character seen in training (right for a small corpus).
            hard_vocab_limit: if False, a small corpus may give a slightly smaller
                vocabulary than asked instead of an error.
            seed_sentencepiece_size: number of seed pieces of the unigram trainer.
        Returns:
            The trained tokenizer.
        Raises:
            TypeError: ``texts`` is one str, or holds something other than str.
            ValueError: a bad option (``character_coverage`` must be in [0.98, 1], SentencePiece's
                own limit), no non-empty text, a text that is not valid Unicode, or a
                ``vocab_size`` the texts cannot give.

        Long texts: SentencePiece's trainer silently skips sentences longer than
        ``max_sentence_length`` (4192 UTF-8 bytes by default). Here no text is skipped: if one
        is longer, the limit is raised to the longest text for this training (only then, so
        the model of ordinary texts is byte-identical to one trained without it).
        """
        import io

        texts = check_strings(texts, "texts")
        vocab_size = check_int(vocab_size, "vocab_size", len(SPECIAL_TOKENS) + 1, 2**31 - 1)
        check_choice(model_type, "model_type", ("unigram", "bpe"))
        character_coverage = check_real(character_coverage, "character_coverage",
                                        SPM_MIN_CHARACTER_COVERAGE, 1.0)
        check_bool(hard_vocab_limit, "hard_vocab_limit")
        seed_sentencepiece_size = check_int(seed_sentencepiece_size, "seed_sentencepiece_size",
                                            1, 2**31 - 1)
        texts = [normalize_whitespace(t) for t in texts]
        kept = [t for t in texts if t]
        if not kept:
            raise ValueError("texts has no non-empty sentence to train on")
        longest = max(len(_utf8(t, f"texts[{i}]")) for i, t in enumerate(texts))
        extra = {"max_sentence_length": longest} if longest > SPM_MAX_SENTENCE_BYTES else {}
        buf = io.BytesIO()
        try:
            cls._train_into(buf, kept, vocab_size, model_type, character_coverage,
                            hard_vocab_limit, seed_sentencepiece_size, **extra)
        except RuntimeError as err:
            message = str(err).strip()
            found = re.search(r"required_chars\. (\d+) vs (\d+)", message)
            too_high = re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)",
                                 message)
            if found is not None:
                raise ValueError(
                    f"vocab_size={vocab_size} is too small: the texts need {found.group(2)} pieces "
                    f"for their characters alone at character_coverage={character_coverage}; "
                    "raise vocab_size or lower character_coverage (e.g. 0.995)"
                ) from None
            if too_high is not None:
                raise ValueError(
                    f"vocab_size={vocab_size} is too large for these texts with hard_vocab_limit=True: "
                    f"they give at most {too_high.group(2)} pieces; lower vocab_size or pass "
                    "hard_vocab_limit=False"
                ) from None
            raise ValueError(f"SentencePiece could not train on texts: {message}") from None
        return cls(buf.getvalue())

    @staticmethod
    def _train_into(buf, texts, vocab_size, model_type, character_coverage, hard_vocab_limit,
                    seed_sentencepiece_size, **extra) -> None:
        import sentencepiece as spm

        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=buf,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            hard_vocab_limit=hard_vocab_limit,
            pad_id=PAD_ID, bos_id=SOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
            pad_piece=PAD, bos_piece=SOS, eos_piece=EOS, unk_piece=UNK,
            unk_surface=UNK,
            normalization_rule_name="identity",  # we normalise ourselves (NFC, spaces)
            num_threads=1,  # one thread: the model is byte-identical run to run
            shuffle_input_sentence=False,
            seed_sentencepiece_size=seed_sentencepiece_size,
            minloglevel=2,
            **extra,
        )

    @property
    def vocab_size(self) -> int:  # type: ignore[override]
        """V, number of ids including the 4 special tokens."""
        return int(self.sp.get_piece_size())

    def encode(self, text: str) -> list[int]:
        """Text -> ids (no ``<sos>``/``<eos>``). Unknown characters become ``UNK_ID``."""
        text = normalize_whitespace(text)
        if not text:
            return []
        try:
            return list(self.sp.encode(text, out_type=int))
        except RuntimeError:  # pybind11 cannot pass a lone surrogate to C++
            _utf8(text, "text")
            raise

    def decode(self, ids) -> str:
        """Ids -> text; skips ``<pad>``/``<sos>``, stops at the first ``<eos>``."""
        return normalize_whitespace(self.sp.decode(self._content_ids(ids)))

    def pieces(self, ids) -> list[str]:
        """One readable label per id (``▁`` marks a word start, specials as ``<eos>`` etc.)."""
        return [self.sp.id_to_piece(i) for i in check_ids(ids, "ids", self.vocab_size)]

    def id_to_piece(self, i: int) -> str:
        """The piece string of one id."""
        return self.pieces([i])[0]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ``.model`` file (SentencePiece's own format) and return its path."""
        return _write_atomic(check_path(path, "path"), self.model_proto)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SentencePieceTokenizer":
        """Read a ``.model`` file written by :meth:`save`.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is not a SentencePiece model with our special ids (truncated,
                corrupt, another format); the message names the file. A corruption that still
                parses as a valid model cannot be told apart here: keep a checksum beside the
                file, as :func:`s2s_lib.data.train_or_load_sentencepiece` does for its cache.
        """
        path = check_path(path, "path")
        if not path.is_file():
            raise FileNotFoundError(f"no SentencePiece model at {path}")
        try:
            return cls(path.read_bytes())
        except ValueError as err:
            raise ValueError(f"{path} is not a usable SentencePiece model: {err}") from None

    def __eq__(self, other) -> bool:
        return isinstance(other, SentencePieceTokenizer) and self.model_proto == other.model_proto

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer(vocab_size={self.vocab_size})"


class CharTokenizer(_Tokenizer):
    """One id per character; ids 0-3 are the special tokens, then the sorted alphabet.

    Args:
        chars: the alphabet (order is kept; duplicates and special strings are not allowed).
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars) if isinstance(chars, str) else check_strings(chars, "chars")
        for i, c in enumerate(chars):
            if len(c) != 1:
                raise ValueError(f"chars must be single characters, got chars[{i}] = {c!r}")
            # encode() sees text after normalize_whitespace: such a character could never match
            if c != " " and (_SPACES.fullmatch(c) or unicodedata.normalize("NFC", c) != c):
                raise ValueError(f"chars[{i}] = {c!r} never occurs in normalised text (whitespace "
                                 "other than ' ', or a character that Unicode NFC replaces)")
        if len(set(chars)) != len(chars):
            raise ValueError("chars contains duplicates")
        self.itos: list[str] = list(SPECIAL_TOKENS) + chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars, start=len(SPECIAL_TOKENS))}

    @classmethod
    def train(cls, texts: Iterable[str], min_freq: int = 1) -> "CharTokenizer":
        """Build the alphabet from ``texts``: every character seen ``min_freq`` times or more."""
        texts = check_strings(texts, "texts")
        min_freq = check_int(min_freq, "min_freq")
        counts = Counter()
        for t in texts:
            counts.update(normalize_whitespace(t))
        chars = sorted(c for c, n in counts.items() if n >= min_freq)
        if not chars:
            raise ValueError("texts contain no characters")
        return cls(chars)

    @property
    def vocab_size(self) -> int:  # type: ignore[override]
        """V, number of ids including the 4 special tokens."""
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Text -> one id per character (unknown characters -> ``UNK_ID``)."""
        return [self.stoi.get(c, UNK_ID) for c in normalize_whitespace(text)]

    def decode(self, ids) -> str:
        """Ids -> text; skips ``<pad>``/``<sos>``, stops at ``<eos>``, shows ``<unk>``."""
        return "".join(self.itos[i] for i in self._content_ids(ids))

    def pieces(self, ids) -> list[str]:
        """One label per id; a space is shown as ``▁`` so it is visible on plot axes."""
        ids = check_ids(ids, "ids", self.vocab_size)
        return [WORD_BOUNDARY if self.itos[i] == " " else self.itos[i] for i in ids]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the alphabet as JSON and return the path."""
        path = check_path(path, "path")
        payload = {"type": "char", "chars": self.itos[len(SPECIAL_TOKENS):]}
        text = json.dumps(payload, ensure_ascii=False)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in the alphabet: JSON's \uXXXX escapes keep it
            data = json.dumps(payload).encode("ascii")
        return _write_atomic(path, data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CharTokenizer":
        """Read a tokenizer written by :meth:`save`.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is not a CharTokenizer file (not UTF-8 JSON, truncated, another
                format, or an alphabet the constructor refuses); the message names the file.
        """
        path = check_path(path, "path")
        if not path.is_file():
            raise FileNotFoundError(f"no CharTokenizer file at {path}")
        try:
            payload = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(payload, dict) or payload.get("type") != "char":
                raise ValueError('it holds no {"type": "char", ...} object')
            if not isinstance(payload.get("chars"), list):
                raise ValueError('its "chars" is not a list')
            return cls(payload["chars"])
        except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ValueError(f"{path} is not a CharTokenizer file: {err}") from None

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def load_tokenizer(path: str | os.PathLike) -> SentencePieceTokenizer | CharTokenizer:
    """Load either tokenizer: ``.json`` -> :class:`CharTokenizer`, else SentencePiece."""
    path = check_path(path, "path")
    if path.suffix == ".json":
        return CharTokenizer.load(path)
    return SentencePieceTokenizer.load(path)
