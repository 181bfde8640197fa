"""s2s_lib: the small shared package behind the seq2seq course.

Each module holds one idea of the book (data, RNN cells, attention, models, decoding,
BLEU, views); chapters import from here instead of copying code from each other.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__version__ = "0.1.0"

__all__ = ["set_seed", "pick_device", "__version__"]


def set_seed(seed: int = 0, *, threads: int | None = 2) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats exactly.

    Args:
        seed: the seed, a non-negative int.
        threads: torch intra-op threads to use (CPU results can depend on the thread
            count); ``None`` leaves torch's setting alone.
    Returns:
        A ``torch.Generator`` seeded with ``seed`` for code that wants its own stream.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
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
    choice = prefer or os.environ.get("S2S_DEVICE")
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
