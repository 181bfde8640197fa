"""Batches for sequence-to-sequence training: padding, masks and length bucketing.

Chapter 0 ("Data and tokenization") builds these; every later chapter consumes them.

A :class:`Batch` holds a padded Korean source ``src`` (B, S) and the English target
split in two for teacher forcing (교사 강요):

* ``tgt_in``  = ``<sos> y1 ... yn``   (what the decoder reads),
* ``tgt_out`` = ``y1 ... yn <eos>``   (what it must predict),

both of length T, padded with ``PAD_ID``. Masks are ``bool`` and **True on real tokens**.

Length bucketing (sorting sentences of similar length into the same batch) is the trick
Sutskever, Vinyals & Le (2014, "Sequence to Sequence Learning with Neural Networks",
section 3.4) report as a ~2x speed-up: less padding means less wasted computation.
``benchmarks/bench_bucketing.py`` measures it on our data.
"""
from __future__ import annotations

import operator
import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from s2s_lib.checks import check_batches, check_bool, check_ids, check_int
from s2s_lib.tokenize import EOS_ID, PAD_ID, SOS_ID

_INT64_MAX = 2**63 - 1
_RESERVED = {PAD_ID: "<pad>", SOS_ID: "<sos>", EOS_ID: "<eos>"}  # make_batch adds these itself

__all__ = [
    "Batch",
    "pad_sequences",
    "make_batch",
    "batch_indices",
    "make_batches",
    "batch_iterator",
    "padding_fraction",
]


@dataclass
class Batch:
    """One padded mini-batch of (source, target) pairs, batch-first.

    Attributes:
        src: (B, S) source token ids padded with ``PAD_ID``.
        src_lengths: (B,) number of real source tokens per sentence.
        tgt_in: (B, T) decoder input ``<sos> y1 ... yn <pad> ...``.
        tgt_out: (B, T) decoder target ``y1 ... yn <eos> <pad> ...``.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    @property
    def src_mask(self) -> torch.Tensor:
        """(B, S) bool, True on real source tokens."""
        positions = torch.arange(self.src.size(1), device=self.src.device)  # (S,)
        return positions.unsqueeze(0) < self.src_lengths.to(self.src.device).unsqueeze(1)

    @property
    def tgt_mask(self) -> torch.Tensor:
        """(B, T) bool, True on real tokens of ``tgt_out`` (the words and the ``<eos>``)."""
        return self.tgt_out != PAD_ID

    @property
    def num_tokens(self) -> int:
        """Number of real target tokens (``<eos>`` included): the loss/throughput unit."""
        return int(self.tgt_mask.sum().item())

    @property
    def batch_size(self) -> int:
        """B, the number of sentence pairs."""
        return int(self.src.size(0))

    def to(self, device: torch.device | str) -> "Batch":
        """Return a copy with every tensor moved to ``device``."""
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be a torch.device or a name like 'cpu' or 'cuda:0', "
                             f"got {device!r} ({err})") from None
        return Batch(
            src=self.src.to(device),
            src_lengths=self.src_lengths.to(device),
            tgt_in=self.tgt_in.to(device),
            tgt_out=self.tgt_out.to(device),
        )

    def __len__(self) -> int:
        return self.batch_size


def _id_lists(seqs, name: str) -> list[list[int]]:
    """B token-id sequences (a list of lists/1-D tensors, or a (B, L) tensor) as lists of ints."""
    if isinstance(seqs, torch.Tensor):
        if seqs.dim() != 2:
            raise ValueError(f"{name} as a tensor must be 2-D (B, L), got shape {tuple(seqs.shape)}")
        seqs = list(seqs)
    if isinstance(seqs, (str, bytes)) or not isinstance(seqs, Sequence):
        raise TypeError(f"{name} must be a list of token-id sequences, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError(f"{name} is empty: a batch needs at least one sequence")
    out = [check_ids(s, f"{name}[{i}]") for i, s in enumerate(seqs)]
    for i, s in enumerate(out):
        if s and max(s) > _INT64_MAX:
            raise ValueError(f"{name}[{i}] holds the id {max(s)}, larger than a torch.long can hold")
    return out


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> torch.Tensor:
    """Right-pad integer sequences into a (B, L) LongTensor, L = longest length.

    Args:
        seqs: B lists of token ids (may have different lengths, may be empty).
        pad_id: the id written into the padding positions.
    Returns:
        (B, L) ``torch.long`` tensor.
    """
    seqs = _id_lists(seqs, "seqs")
    pad_id = check_int(pad_id, "pad_id", minimum=0)
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def make_batch(
    src_seqs,
    tgt_seqs,
    *,
    max_len: int | None = None,
    truncate: bool = False,
    reverse_source: bool = False,
) -> Batch:
    """Pad a list of (source ids, target ids) into a :class:`Batch`.

    The target gets ``<sos>`` prepended for ``tgt_in`` and ``<eos>`` appended for
    ``tgt_out``; neither sequence should already contain special tokens.

    Args:
        src_seqs: B source sequences (lists of ints or 1-D integer tensors, or a (B, S) tensor
            without padding). Each must have at least one token.
        tgt_seqs: B target sequences, same forms; may be empty (the target is then just ``<eos>``).
        max_len: longest allowed sequence (source tokens; target tokens before sos/eos).
            ``None`` means no limit.
        truncate: if True, cut sequences longer than ``max_len`` instead of raising.
        reverse_source: reverse the real source tokens (before padding), the trick of
            Sutskever et al. (2014) that puts the first source word next to the first
            target word.
    Returns:
        A :class:`Batch` with ``src`` (B, S), ``src_lengths`` (B,), ``tgt_in``/``tgt_out`` (B, T).
    Raises:
        TypeError: wrong container or element types, float tensors, non-bool flags.
        ValueError: empty batch, length mismatch, empty source, too-long sequences, a
            ``<pad>``/``<sos>``/``<eos>`` id inside a sequence.
    """
    src = _id_lists(src_seqs, "src_seqs")
    tgt = _id_lists(tgt_seqs, "tgt_seqs")
    if len(src) != len(tgt):
        raise ValueError(f"src_seqs and tgt_seqs differ in length: {len(src)} vs {len(tgt)}")
    if max_len is not None:
        max_len = check_int(max_len, "max_len")
    check_bool(truncate, "truncate")
    check_bool(reverse_source, "reverse_source")
    for name, seqs in (("src_seqs", src), ("tgt_seqs", tgt)):
        for i, s in enumerate(seqs):
            if max_len is not None and len(s) > max_len:
                if not truncate:
                    raise ValueError(
                        f"{name}[{i}] has {len(s)} tokens > max_len={max_len} "
                        "(pass truncate=True to cut it)"
                    )
                seqs[i] = s[:max_len]
    for i, s in enumerate(src):
        if len(s) == 0:
            raise ValueError(f"src_seqs[{i}] is empty: every source needs at least one token")
    for name, seqs in (("src_seqs", src), ("tgt_seqs", tgt)):
        for i, s in enumerate(seqs):
            if not _RESERVED.keys().isdisjoint(s):
                found = sorted({_RESERVED[t] for t in s if t in _RESERVED})
                raise ValueError(f"{name}[{i}] contains the special token(s) {found}; give the sentence's "
                                 "own tokens only (make_batch adds <sos>/<eos> and pads with <pad>)")
    if reverse_source:
        src = [s[::-1] for s in src]
    src_tensor = pad_sequences(src)  # (B, S)
    src_lengths = torch.tensor([len(s) for s in src], dtype=torch.long)  # (B,)
    tgt_in = pad_sequences([[SOS_ID] + t for t in tgt])  # (B, T)
    tgt_out = pad_sequences([t + [EOS_ID] for t in tgt])  # (B, T)
    return Batch(src=src_tensor, src_lengths=src_lengths, tgt_in=tgt_in, tgt_out=tgt_out)


def batch_indices(
    lengths: Sequence[int],
    batch_size: int,
    *,
    bucketing: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    chunk_batches: int = 50,
    drop_last: bool = False,
) -> list[list[int]]:
    """Group example indices into batches, optionally bucketed by length.

    Without bucketing: (optionally shuffled) order, cut into consecutive batches.
    With bucketing: shuffle, take large chunks of ``chunk_batches * batch_size`` examples,
    sort each chunk by length, cut it into batches, then shuffle the batch order. Batches
    hold sentences of similar length (little padding) yet vary from epoch to epoch.

    Args:
        lengths: N sort keys, one per example: an int length or a tuple of ints
            (compared lexicographically, e.g. ``(len(src), len(tgt))``).
        batch_size: B, examples per batch (the last batch of a chunk can be smaller).
        bucketing: sort by length within chunks.
        shuffle: shuffle examples (and batch order). With ``shuffle=False`` and bucketing,
            the whole set is sorted by length (deterministic, good for evaluation).
        seed: seed of the private random generator (the global one is untouched).
        chunk_batches: chunk size in batches for bucketing.
        drop_last: drop batches smaller than ``batch_size``.
    Returns:
        A list of batches, each a list of indices into ``lengths``.
    """
    batch_size = check_int(batch_size, "batch_size")
    chunk_batches = check_int(chunk_batches, "chunk_batches")
    seed = check_int(seed, "seed", minimum=None)
    for name, flag in (("bucketing", bucketing), ("shuffle", shuffle), ("drop_last", drop_last)):
        check_bool(flag, name)
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
        raise TypeError(f"lengths must be a list of ints (or of tuples of ints), got {type(lengths).__name__}")
    lengths = list(lengths)
    for i, n in enumerate(lengths):
        for x in (n if isinstance(n, (tuple, list)) else (n,)):
            try:
                operator.index(x)  # an int, numpy int or integer tensor; not 1.7, nan or "3"
            except TypeError:
                raise TypeError(f"lengths[{i}] must be an int or a tuple of ints, got {n!r}") from None
    if len({isinstance(n, (tuple, list)) and len(n) for n in lengths}) > 1:
        raise TypeError("lengths must be all ints or all tuples of one length (they are compared)")
    lengths = [tuple(int(x) for x in n) if isinstance(n, (tuple, list)) else int(n)
               for n in lengths]
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    if bucketing:
        if shuffle:
            chunk = chunk_batches * batch_size
            chunks = [order[i : i + chunk] for i in range(0, len(order), chunk)]
        else:
            chunks = [order]
        batches = []
        for c in chunks:
            c = sorted(c, key=lambda i: lengths[i])  # stable: ties keep shuffled order
            batches.extend(c[i : i + batch_size] for i in range(0, len(c), batch_size))
        if shuffle:
            rng.shuffle(batches)
    else:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    return batches


def make_batches(
    src_seqs: Sequence[Sequence[int]],
    tgt_seqs: Sequence[Sequence[int]],
    batch_size: int,
    *,
    bucketing: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    chunk_batches: int = 50,
    drop_last: bool = False,
    max_len: int | None = None,
    truncate: bool = False,
    reverse_source: bool = False,
) -> list[Batch]:
    """Cut a whole data set into padded :class:`Batch` objects (a list, ready for epochs).

    Args:
        src_seqs: N source id lists.
        tgt_seqs: N target id lists (without sos/eos).
        batch_size, bucketing, shuffle, seed, chunk_batches, drop_last: see :func:`batch_indices`.
        max_len, truncate, reverse_source: see :func:`make_batch`.
    Returns:
        A list of batches covering every pair once (unless ``drop_last``).
    """
    return list(
        batch_iterator(
            src_seqs, tgt_seqs, batch_size, bucketing=bucketing, shuffle=shuffle, seed=seed,
            chunk_batches=chunk_batches, drop_last=drop_last, max_len=max_len,
            truncate=truncate, reverse_source=reverse_source,
        )
    )


def batch_iterator(
    src_seqs: Sequence[Sequence[int]],
    tgt_seqs: Sequence[Sequence[int]],
    batch_size: int,
    *,
    bucketing: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    chunk_batches: int = 50,
    drop_last: bool = False,
    max_len: int | None = None,
    truncate: bool = False,
    reverse_source: bool = False,
) -> Iterator[Batch]:
    """Lazily yield :class:`Batch` objects; same arguments as :func:`make_batches`."""
    src = _id_lists(src_seqs, "src_seqs")
    tgt = _id_lists(tgt_seqs, "tgt_seqs")
    if len(src) != len(tgt):
        raise ValueError(f"src_seqs and tgt_seqs differ in length: {len(src)} vs {len(tgt)}")
    # Sort key for bucketing: the longer side first (it sets the padded width of its
    # tensor), then each side; this halves the padding left by sorting on src+tgt alone.
    lengths = [(max(len(s), len(t)), len(s), len(t)) for s, t in zip(src, tgt)]
    groups = batch_indices(
        lengths, batch_size, bucketing=bucketing, shuffle=shuffle, seed=seed,
        chunk_batches=chunk_batches, drop_last=drop_last,
    )
    for idx in groups:
        yield make_batch(
            [src[i] for i in idx], [tgt[i] for i in idx], max_len=max_len,
            truncate=truncate, reverse_source=reverse_source,
        )


def padding_fraction(batches: Sequence[Batch]) -> float:
    """Fraction of source+target positions that are padding over ``batches`` (0 = none)."""
    batches = check_batches(batches)
    real = total = 0
    for b in batches:
        real += int(b.src_mask.sum()) + int(b.tgt_mask.sum())
        total += b.src.numel() + b.tgt_out.numel()
    return 1.0 - real / total
