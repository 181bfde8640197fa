"""Length normalisation for beam search (Chapter "Beam search"; Wu et al. 2016, GNMT, section 7).

A hypothesis' raw score ``log p(Y | x)`` is a sum of log-probabilities <= 0, so every extra
word lowers it: ranked by raw score, beam search prefers short outputs. Dividing by a
function of the length ``|Y|`` (scored tokens, ``<eos>`` included) removes that bias:

* ``"none"``: divisor 1 (the raw score);
* ``"avg"``: divisor ``|Y|``, the average log-probability per token;
* ``"gnmt"``: divisor ``lp(Y) = ((5 + |Y|) / 6) ** alpha``; ``alpha = 0`` is "none" and
  ``alpha = 1`` is close to "avg" for long outputs.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from s2s_lib.checks import check_real

__all__ = ["DEFAULT_LENGTH_PENALTY", "LengthPenalty", "make_length_penalty"]

DEFAULT_LENGTH_PENALTY = ("gnmt", 0.6)  # GNMT / Marian / Tensor2Tensor's usual alpha


@dataclass(frozen=True)
class LengthPenalty:
    """How a hypothesis' raw log-probability is normalised by its length: ``raw / divisor(|Y|)``.

    ``"none"``: divisor 1 (the raw ``log p(Y | x)``); ``"avg"``: ``|Y|`` (the average per
    token); ``"gnmt"``: ``((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016; ``alpha = 0`` is "none").
    Build one with :func:`make_length_penalty`; ``penalty(raw, length)`` normalises (floats
    or tensors).
    """

    kind: str = "none"
    alpha: float = 0.0

    def __post_init__(self):
        if self.kind not in ("none", "avg", "gnmt"):
            raise ValueError(f"LengthPenalty kind must be 'none', 'avg' or 'gnmt', got {self.kind!r}")
        check_real(self.alpha, "alpha", 0.0)

    def divisor(self, length):
        """``lp(|Y|)`` for a length (int or tensor of ints)."""
        if self.kind == "avg":
            return length
        return ((5.0 + length) / 6.0) ** self.alpha if self.kind == "gnmt" else 1.0

    def __call__(self, raw, length):
        return raw / self.divisor(length)

    def best_possible(self, raw, max_len: int):
        """Upper bound on the normalised score of any continuation of a live hypothesis (raw <= 0)."""
        return raw / self.divisor(max_len)

    def __str__(self) -> str:
        return f"gnmt(alpha={self.alpha:g})" if self.kind == "gnmt" else self.kind


def make_length_penalty(spec: Any) -> LengthPenalty:
    """The ``length_penalty`` argument of the searches as a :class:`LengthPenalty`.

    Accepted: ``None`` or ``"none"``, ``"avg"``, ``"gnmt"`` (alpha 0.6), ``("gnmt", alpha)``,
    a bare number ``alpha`` (GNMT), or a :class:`LengthPenalty`.
    """
    if isinstance(spec, LengthPenalty):
        return spec
    if spec is None or spec in ("none", "avg"):
        return LengthPenalty(spec or "none")
    if spec == "gnmt":
        return LengthPenalty("gnmt", 0.6)
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "gnmt":
        spec = spec[1]
    elif isinstance(spec, bool) or not isinstance(spec, numbers.Real):
        raise ValueError("length_penalty must be None, 'none', 'avg', 'gnmt', ('gnmt', alpha), a number "
                         f"alpha or a LengthPenalty, got {spec!r}")
    return LengthPenalty("gnmt", check_real(spec, "length_penalty's alpha", 0.0))
