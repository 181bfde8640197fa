"""Argument checks and small helpers shared by the decoders, the training loop and the models.

Bad input must fail at the public boundary with a ``TypeError``/``ValueError`` that names the
argument, never deep inside torch. These few checks are needed in several modules
(``decode``, ``beam``, ``evaluate``, ``models``, ``train``), so they live here once.
"""
from __future__ import annotations

import numbers
from contextlib import contextmanager

import torch

__all__ = ["check_int", "check_decoder_model", "check_src", "model_device", "inference"]


def check_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int, or a TypeError (not an int, or a bool) / ValueError (< ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_decoder_model(model, name: str = "model") -> None:
    """A model the decoders can drive: it has ``encode()`` and ``decode_step()``."""
    for method in ("encode", "decode_step"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"{name} must have encode() and decode_step() (a Seq2Seq), "
                            f"got {type(model).__name__}")


def check_src(src, src_lengths) -> torch.Tensor:
    """Check a padded source batch and its lengths; returns the lengths as a (B,) tensor.

    Args:
        src: (B, S) LongTensor of token ids, B >= 1.
        src_lengths: (B,) integer tensor (or a list of ints) of real lengths.
    """
    if not isinstance(src, torch.Tensor):
        raise TypeError(f"src must be a (B, S) LongTensor, got {type(src).__name__}")
    if src.dtype != torch.long:
        raise TypeError(f"src must be a LongTensor (torch.long), got dtype {src.dtype}")
    if src.dim() != 2:
        raise ValueError(f"src must be 2-D (B, S), got shape {tuple(src.shape)}")
    if src.size(0) == 0:
        raise ValueError("src is an empty batch (B = 0): nothing to decode")
    if isinstance(src_lengths, (list, tuple)):
        src_lengths = torch.tensor(src_lengths, dtype=torch.long)
    if not isinstance(src_lengths, torch.Tensor):
        raise TypeError(f"src_lengths must be a (B,) integer tensor, got {type(src_lengths).__name__}")
    if src_lengths.is_floating_point() or src_lengths.dtype == torch.bool:
        raise TypeError(f"src_lengths must be an integer tensor, got dtype {src_lengths.dtype}")
    if src_lengths.dim() != 1 or src_lengths.size(0) != src.size(0):
        raise ValueError(f"src_lengths must have shape ({src.size(0)},), got {tuple(src_lengths.shape)}")
    return src_lengths


def model_device(model) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    params = getattr(model, "parameters", None)
    p = next(params(), None) if callable(params) else None
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def inference(model):
    """``model.eval()`` and ``torch.no_grad()`` for decoding; the training flag is restored."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
