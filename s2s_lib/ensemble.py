"""Ensembles of translation models inside greedy decoding and beam search (Sutskever et al. 2014).

:class:`Ensemble` wraps several trained models that share the target vocabulary (e.g. the
zoo's ``ko-en-*`` translators, trained on the same data and tokenizers) behind the decoding
interface of one model (``encode`` / ``decode_step``), so :func:`~s2s_lib.decode.greedy_decode`,
:func:`~s2s_lib.beam.beam_search` and :func:`~s2s_lib.beam.beam_search_one` decode with it
unchanged: every step runs every member on its own state and combines their next-word
distributions.

The combination averages **probabilities**, ``p(y) = sum_m w_m p_m(y)`` (a mixture; the step's
"logits" are ``log p``). A mixture is what an ensemble of predictors means in probability: the
models vote with their confidence, and one member that gives a word probability 0 does not
veto it, as it would in the geometric mean of ``mode="log"`` (averaging log-probabilities,
``p(y) ∝ prod_m p_m(y)^{w_m}``, renormalised), which the library also offers because many
toolkits use it. With one member both are exactly that model's decoding (a test checks it).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from s2s_lib.checks import check_choice, check_decoder_model, check_real, check_type
from s2s_lib.models import DecoderStep

__all__ = ["Ensemble", "EnsembleMemory", "EnsembleState", "ENSEMBLE_MODES"]

ENSEMBLE_MODES = ("prob", "log")


class EnsembleState(NamedTuple):
    """One decoder state per member."""

    members: tuple

    def index_select(self, index: torch.Tensor) -> "EnsembleState":
        """Row ``i`` of every member's state is its row ``index[i]`` (drop sentences, follow beams)."""
        return EnsembleState(tuple(s.index_select(index) for s in self.members))


class EnsembleMemory(NamedTuple):
    """One encoder memory per member (each member encodes the source itself)."""

    members: tuple

    @property
    def batch_size(self) -> int:
        return self.members[0].batch_size

    @property
    def src_mask(self) -> torch.Tensor:
        return self.members[0].src_mask

    @property
    def init_state(self) -> EnsembleState:
        return EnsembleState(tuple(m.init_state for m in self.members))

    def index_select(self, index: torch.Tensor) -> "EnsembleMemory":
        return EnsembleMemory(tuple(m.index_select(index) for m in self.members))


class Ensemble(nn.Module):
    """Several models decoding as one.

    Args:
        models: the members (:class:`~s2s_lib.models.Seq2Seq` or
            :class:`~s2s_lib.transformer.Transformer`), trained with the same source and target
            tokenizers (checked: the same vocabulary sizes).
        weights: one non-negative weight per member (default: equal), normalised to sum 1.
        mode: ``"prob"`` (average probabilities, the default) or ``"log"`` (average
            log-probabilities, then renormalise).

    The attention weights a step returns are the weighted mean of the members' that have
    attention (``None`` if none has).
    """

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float] | None = None, mode: str = "prob"):
        super().__init__()
        if isinstance(models, nn.Module) or not isinstance(models, Sequence) or not models:
            raise TypeError("models must be a non-empty list of models")
        for i, model in enumerate(models):
            check_decoder_model(model, f"models[{i}]")
        sizes = {(m.src_vocab_size, m.tgt_vocab_size) for m in models}
        if len(sizes) != 1:
            raise ValueError(f"models must share the source and target vocabularies, got sizes {sorted(sizes)}")
        self.members = nn.ModuleList(models)
        self.mode = check_choice(mode, "mode", ENSEMBLE_MODES)
        if weights is None:
            weights = [1.0] * len(models)
        check_type(weights, "weights", (list, tuple), "a list of numbers, one per model")
        if len(weights) != len(models):
            raise ValueError(f"weights has {len(weights)} numbers for {len(models)} models")
        weights = [check_real(w, f"weights[{i}]", 0.0) for i, w in enumerate(weights)]
        if sum(weights) <= 0:
            raise ValueError("weights must not all be 0")
        self.weights = [w / sum(weights) for w in weights]
        self.src_vocab_size, self.tgt_vocab_size = sizes.pop()

    @property
    def has_attention(self) -> bool:
        return any(getattr(m, "has_attention", False) for m in self.members)

    def encode(self, src: torch.Tensor, src_lengths) -> EnsembleMemory:
        """Every member encodes the source (they read it with their own encoders)."""
        return EnsembleMemory(tuple(m.encode(src, src_lengths) for m in self.members))

    def decode_step(self, prev_tokens: torch.Tensor, state: EnsembleState, memory: EnsembleMemory) -> DecoderStep:
        """One step of every member; ``logits`` (B, V) are the log of the combined distribution."""
        check_type(state, "state", EnsembleState, "an EnsembleState (memory.init_state at the start)")
        steps = [m.decode_step(prev_tokens, s, mem) for m, s, mem in zip(self.members, state.members, memory.members)]
        log_probs = torch.stack([torch.log_softmax(s.logits.float(), dim=-1) for s in steps])  # (M, B, V)
        w = torch.tensor(self.weights, dtype=log_probs.dtype, device=log_probs.device).view(-1, 1, 1)
        if self.mode == "prob":
            # log sum_m w_m p_m, computed in log space (a member's p may underflow)
            combined = torch.logsumexp(log_probs + w.clamp_min(1e-45).log(), dim=0)  # (B, V)
        else:
            combined = torch.log_softmax((w * log_probs).sum(0), dim=-1)
        attention = [(wm, s.weights) for wm, s in zip(self.weights, steps) if s.weights is not None]
        weights = None
        if attention:
            total = sum(wm for wm, _ in attention)
            weights = sum(wm * a.float() for wm, a in attention) / (total if total > 0 else 1.0)
        return DecoderStep(combined, EnsembleState(tuple(s.state for s in steps)), weights)

    def forward(self, src: torch.Tensor, src_lengths, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced scores: (B, T, V) log-probabilities of the combined distribution at every
        target position, one :meth:`decode_step` per position (what rescoring and the loss need)."""
        check_type(tgt_in, "tgt_in", torch.Tensor, "a (B, T) LongTensor of target ids starting with <sos>")
        memory = self.encode(src, src_lengths)
        state, out = memory.init_state, []
        tgt_in = tgt_in.to(memory.members[0].src_mask.device)
        for t in range(tgt_in.size(1)):
            step = self.decode_step(tgt_in[:, t], state, memory)
            out.append(step.logits)
            state = step.state
        return torch.stack(out, dim=1)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, weights={[round(w, 3) for w in self.weights]}"

