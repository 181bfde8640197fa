"""Tiny problems you can check by hand (Chapter "Beam search").

* :class:`TableModel` -- a toy "model" whose next-word probabilities are written in a table;
  it has the ``encode`` / ``decode_step`` interface of :class:`~s2s_lib.models.Seq2Seq`, so
  greedy decoding, beam search and exhaustive search all run on it: worked examples with
  probabilities you can check by hand ("greedy is myopic"), and tests with known answers.
* :func:`exhaustive_search` -- score every output up to ``max_len`` tokens (tiny
  vocabularies only): what beam search approximates.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch

from s2s_lib.beam import Hypothesis
from s2s_lib.length_penalty import make_length_penalty
from s2s_lib.checks import check_decoder_model, check_int, check_real, check_src, check_type, inference, model_device
from s2s_lib.models import DecoderStep
from s2s_lib.tokenize import EOS_ID, SOS_ID

__all__ = ["TableModel", "exhaustive_search"]

_EXHAUSTIVE_LIMIT = 200_000  # most prefixes exhaustive_search scores at one length


class _TableState(NamedTuple):
    prefix: torch.Tensor  # (B,) index of each row's prefix in TableModel.prefixes

    def index_select(self, index: torch.Tensor) -> "_TableState":
        return _TableState(self.prefix.index_select(0, index))


class _TableMemory(NamedTuple):
    init_state: _TableState

    def index_select(self, index: torch.Tensor) -> "_TableMemory":
        return _TableMemory(self.init_state.index_select(index))

    @property
    def batch_size(self) -> int:
        return int(self.init_state.prefix.numel())


class TableModel:
    """A toy "model" whose next-word probabilities are written in a table.

    It ignores the source sentence (only its batch size counts).

    Args:
        table: maps a prefix -- a tuple of word ids generated so far, without ``<sos>`` -- to
            ``{word id: probability}`` (probabilities >= 0 summing to at most 1). Words
            missing from a row share what is left (at least ``floor`` each, so no
            log-probability is -inf); a prefix that is not in the table ends the sentence:
            ``<eos>`` gets all but the floors.
        vocab_size: V, larger than every id used.
        floor: the smallest probability of any word, in (0, 1/V).

    Example::

        model = TableModel({(): {4: 0.6, 5: 0.4}, (4,): {EOS_ID: 0.4, 6: 0.6}}, vocab_size=8)
    """

    def __init__(self, table: dict, vocab_size: int, floor: float = 1e-6):
        self.vocab_size = check_int(vocab_size, "vocab_size", 4)
        self.floor = check_real(floor, "floor", above=0.0, below=1.0 / vocab_size)
        check_type(table, "table", dict, "a dict prefix tuple -> {word: prob}")
        self.rows = {}
        for prefix, probs in table.items():
            if not isinstance(prefix, tuple) or not isinstance(probs, dict):
                raise TypeError(f"table entries must be tuple -> dict, got {prefix!r}: {type(probs).__name__}")
            if any(not isinstance(w, int) or not 0 <= w < vocab_size for w in list(prefix) + list(probs)):
                raise ValueError(f"table entry {prefix!r} uses a word id outside [0, {vocab_size})")
            for w, q in probs.items():
                check_real(q, f"table[{prefix!r}][{w}]", 0.0, 1.0)
            if sum(probs.values()) > 1 + 1e-9:
                raise ValueError(f"table[{prefix!r}]: probabilities sum to {sum(probs.values()):g} > 1")
            self.rows[prefix] = self._distribution(probs)
        self.rows[None] = self._distribution({EOS_ID: 1.0})  # after a prefix not in the table: end
        self.prefixes: list[tuple] = [()]  # prefix of each state id
        self._ids = {(): 0}

    def _distribution(self, probs: dict) -> torch.Tensor:
        p = torch.zeros(self.vocab_size, dtype=torch.float64)
        missing = torch.ones(self.vocab_size, dtype=torch.bool)  # words the row does not mention
        for w, q in probs.items():
            p[w], missing[w] = q, False
        rest = max(0.0, 1.0 - float(p.sum()))
        if int(missing.sum()):
            p[missing] = rest / int(missing.sum())
        p = p.clamp_min(self.floor)
        return (p / p.sum()).log().float()  # (V,) log-probabilities

    def encode(self, src: torch.Tensor, src_lengths) -> _TableMemory:
        check_src(src, src_lengths)
        return _TableMemory(_TableState(torch.zeros(src.size(0), dtype=torch.long)))

    def decode_step(self, prev_tokens: torch.Tensor, state: _TableState, memory: _TableMemory):
        ids = []
        for p, word in zip(state.prefix.tolist(), prev_tokens.tolist()):
            prefix = self.prefixes[p] + (() if word == SOS_ID else (word,))
            if prefix not in self._ids:
                self._ids[prefix] = len(self.prefixes)
                self.prefixes.append(prefix)
            ids.append(self._ids[prefix])
        logits = torch.stack([self.rows.get(self.prefixes[i], self.rows[None]) for i in ids])  # (B, V)
        return DecoderStep(logits, _TableState(torch.tensor(ids)), None)


def exhaustive_search(model, src: torch.Tensor, max_len: int, *, length_penalty: Any = None,
                      src_lengths: torch.Tensor | None = None) -> Hypothesis:
    """The best finished output of all outputs up to ``max_len`` tokens (tiny vocabularies only).

    Scores every sequence ``y_1 .. y_n <eos>`` with ``n + 1 <= max_len`` -- all
    ``sum_n (V-1)^n`` of them, one decoder step per prefix, level by level -- and returns the
    one with the best (length-normalised) score. This is what beam search approximates.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` or a :class:`TableModel`.
        src: one source sentence, (S,) or (1, S) LongTensor.
        max_len: longest output in tokens, ``<eos>`` included.
        length_penalty: as in :func:`s2s_lib.beam.beam_search` (default: none, the raw log-probability).
        src_lengths: (1,) length of the sentence (default: S, no padding).
    Returns:
        The best :class:`Hypothesis` (``finished=True``; ``attention`` is ``None``).
    Raises:
        ValueError: if the longest prefixes would number more than 200,000.
    """
    check_decoder_model(model)
    max_len = check_int(max_len, "max_len")
    penalty = make_length_penalty(length_penalty)
    if isinstance(src, torch.Tensor) and src.dim() == 1:
        src = src.unsqueeze(0)
    if not isinstance(src, torch.Tensor) or src.dim() != 2 or src.size(0) != 1:
        raise ValueError(f"src must hold one sentence, (S,) or (1, S), got {getattr(src, 'shape', src)!r}")
    if src_lengths is None:
        src_lengths = [src.size(1)]
    device = model_device(model)
    with inference(model):
        memory = model.encode(src, src_lengths)
        prefixes = [[]]  # all prefixes of the current length, without <eos>
        raw = torch.zeros(1, dtype=torch.float64, device=device)  # (P,)
        lps = torch.zeros(1, 0, device=device)  # (P, t) log-probs of each prefix
        state, mem = memory.init_state, memory
        prev = torch.tensor([SOS_ID], device=device)
        best = None
        for t in range(1, max_len + 1):
            step = model.decode_step(prev, state, mem)
            log_p = torch.log_softmax(step.logits.float(), dim=-1)  # (P, V)
            V = log_p.size(1)
            # finishing here: every prefix + <eos>
            end = penalty(raw + log_p[:, EOS_ID].double(), t)  # (P,)
            j = int(end.argmax())
            if best is None or float(end[j]) > best.score:
                best = Hypothesis(list(prefixes[j]), lps[j].tolist() + [float(log_p[j, EOS_ID])],
                                  float(end[j]), finished=True)
            if t == max_len:
                break
            words = [w for w in range(V) if w != EOS_ID]
            if t == 1 and (V - 1) ** (max_len - 1) > _EXHAUSTIVE_LIMIT:  # the widest level, checked up front
                raise ValueError(f"exhaustive_search would score (V-1)^(max_len-1) = {V - 1}^{max_len - 1} "
                                 f"prefixes at once (limit {_EXHAUSTIVE_LIMIT:,}); use a smaller max_len "
                                 f"(got {max_len}) or vocabulary (V = {V})")
            w = torch.tensor(words, device=device)  # (W,)
            P, W = len(prefixes), len(words)
            parent = torch.arange(P, device=device).repeat_interleave(W)  # (P*W,)
            word = w.repeat(P)  # (P*W,)
            raw = raw[parent] + log_p[parent, word].double()
            lps = torch.cat([lps[parent], log_p[parent, word].unsqueeze(1)], dim=1)  # (P*W, t)
            prefixes = [prefixes[p] + [x] for p in range(P) for x in words]
            state = step.state.index_select(parent)
            mem = memory.index_select(torch.zeros(P * W, dtype=torch.long, device=device))
            prev = word
    return best
