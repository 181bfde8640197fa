"""s2s_lib: the small shared package behind the seq2seq course.

Each module holds one idea of the book (data, RNN cells, attention, models, decoding,
BLEU, views); chapters import from here instead of copying code from each other.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from s2s_lib.checks import check_int, check_type  # checks.py imports nothing of s2s_lib

__version__ = "0.1.0"

__all__ = ["set_seed", "pick_device", "count_parameters", "__version__"]


def set_seed(seed: int = 0, *, threads: int | None = 2) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats exactly.

    Args:
        seed: the seed, a non-negative int.
        threads: torch intra-op threads to use (CPU results can depend on the thread
            count); ``None`` leaves torch's setting alone.
    Returns:
        A ``torch.Generator`` seeded with ``seed`` for code that wants its own stream.
    """
    seed = check_int(seed, "seed", minimum=0)
    if threads is not None:
        threads = check_int(threads, "threads")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return torch.Generator().manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """Choose where to run: ``cuda`` when available, else ``cpu``.

    Args:
        prefer: force a device ("cpu", "cuda", "cuda:1"); ``None`` picks automatically.
            The environment variable ``S2S_DEVICE`` overrides the automatic choice.
    """
    if prefer is not None:
        check_type(prefer, "prefer", (str, torch.device), "a device name or a torch.device")
    name, choice = ("prefer", prefer) if prefer else ("S2S_DEVICE", os.environ.get("S2S_DEVICE"))
    if choice:
        try:
            device = torch.device(choice)
        except RuntimeError:  # e.g. "gpu": torch's message does not name the argument
            raise ValueError(f"{name} must be a device such as 'cpu', 'cuda' or 'cuda:1', "
                             f"got {choice!r}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``) of ``model``."""
    check_type(model, "model", torch.nn.Module, "a torch.nn.Module")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
