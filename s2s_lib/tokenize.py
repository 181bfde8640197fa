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

from s2s_lib.checks import check_choice, check_ids, check_int, check_str, check_type

PAD_ID = 0
SOS_ID = 1
EOS_ID = 2
UNK_ID = 3
PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, SOS, EOS, UNK)

__all__ = [
    "PAD_ID", "SOS_ID", "EOS_ID", "UNK_ID", "PAD", "SOS", "EOS", "UNK", "SPECIAL_TOKENS",
    "normalize_whitespace", "SentencePieceTokenizer", "CharTokenizer", "load_tokenizer",
]

_SPACES = re.compile(r"\s+")
# SentencePiece marks a word start with U+2581 "▁"; CharTokenizer.pieces shows spaces the same way.
WORD_BOUNDARY = "\u2581"


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
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of str, not a single str")
        return [self.encode(t) for t in texts]

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
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
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
        Returns:
            The trained tokenizer.
        """
        import io

        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, not a single str")
        vocab_size = check_int(vocab_size, "vocab_size", len(SPECIAL_TOKENS) + 1)
        check_choice(model_type, "model_type", ("unigram", "bpe"))
        texts = [normalize_whitespace(t) for t in texts]
        texts = [t for t in texts if t]
        if not texts:
            raise ValueError("texts has no non-empty sentence to train on")
        buf = io.BytesIO()
        try:
            cls._train_into(buf, texts, vocab_size, model_type, character_coverage,
                            hard_vocab_limit, seed_sentencepiece_size)
        except RuntimeError as err:
            found = re.search(r"required_chars\. (\d+) vs (\d+)", str(err))
            if found is None:
                raise
            raise ValueError(
                f"vocab_size={vocab_size} is too small: the texts need {found.group(2)} pieces "
                f"for their characters alone at character_coverage={character_coverage}; "
                "raise vocab_size or lower character_coverage (e.g. 0.995)"
            ) from err
        return cls(buf.getvalue())

    @staticmethod
    def _train_into(buf, texts, vocab_size, model_type, character_coverage, hard_vocab_limit,
                    seed_sentencepiece_size) -> None:
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
        return list(self.sp.encode(text, out_type=int))

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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.model_proto)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SentencePieceTokenizer":
        """Read a ``.model`` file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no SentencePiece model at {path}")
        return cls(path.read_bytes())

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
        if isinstance(chars, str):
            chars = list(chars)
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("chars contains duplicates")
        self.itos: list[str] = list(SPECIAL_TOKENS) + chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars, start=len(SPECIAL_TOKENS))}

    @classmethod
    def train(cls, texts: Iterable[str], min_freq: int = 1) -> "CharTokenizer":
        """Build the alphabet from ``texts``: every character seen ``min_freq`` times or more."""
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of str, not a single str")
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"type": "char", "chars": self.itos[len(SPECIAL_TOKENS):]}
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CharTokenizer":
        """Read a tokenizer written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no CharTokenizer file at {path}")
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("type") != "char":
            raise ValueError(f"{path} is not a CharTokenizer file")
        return cls(payload["chars"])

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def load_tokenizer(path: str | os.PathLike) -> SentencePieceTokenizer | CharTokenizer:
    """Load either tokenizer: ``.json`` -> :class:`CharTokenizer`, else SentencePiece."""
    path = Path(path)
    if path.suffix == ".json":
        return CharTokenizer.load(path)
    return SentencePieceTokenizer.load(path)
