"""Self-checks for the chapters' code exercises.

An exercise gives a stub to fill in; :func:`self_check` runs the learner's function beside the
library's reference on a few cases and prints, case by case, whether they agree, and for the
first disagreement what went in, what was expected and what came back. It never raises on the
learner's behalf: an exception inside the learner's function is reported as one line, not as a
traceback, so the message is the lesson. The chapters' solutions sit in a collapsed cell
right after the stub and end with the same :func:`self_check` (nbval runs the solutions).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from s2s_lib.checks import check_callable, check_real

__all__ = ["self_check", "same"]


def _array(x: Any) -> np.ndarray | None:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    return None


def same(got: Any, expected: Any, tol: float = 1e-6) -> str | None:
    """``None`` if ``got`` equals ``expected`` (numbers and arrays to ``tol``), else why not.

    Tensors and arrays compare by shape, then values; lists and tuples element by element;
    dicts key by key; everything else with ``==``.
    """
    a, b = _array(got), _array(expected)
    if b is not None:
        if a is None:
            return f"expected an array/tensor of shape {tuple(b.shape)}, got {type(got).__name__}"
        if a.shape != b.shape:
            return f"shape {tuple(a.shape)}, expected {tuple(b.shape)}"
        if b.dtype.kind in "biu" or a.dtype.kind in "biu":
            wrong = np.argwhere(a != b)
        else:
            wrong = np.argwhere(~np.isclose(a, b, atol=tol, rtol=tol, equal_nan=True))
        if len(wrong):
            where = tuple(int(i) for i in wrong[0])
            return (f"{len(wrong)} of {b.size} values differ, first at index {where}: got {a[where].item()!r}, "
                    f"expected {b[where].item()!r}")
        return None
    if isinstance(expected, bool) or isinstance(got, bool):
        return None if got is expected else f"got {got!r}, expected {expected!r}"
    if isinstance(expected, (int, float)) and isinstance(got, (int, float, np.number)):
        return None if abs(float(got) - float(expected)) <= tol * max(1.0, abs(float(expected))) \
            else f"got {got!r}, expected {expected!r}"
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a {type(expected).__name__} of {len(expected)}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{len(got)} elements, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = same(g, e, tol)
            if why is not None:
                return f"element {i}: {why}"
        return None
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping) or set(got) != set(expected):
            return f"expected keys {sorted(expected)}, got {sorted(got) if isinstance(got, Mapping) else type(got).__name__}"
        for k in expected:
            why = same(got[k], expected[k], tol)
            if why is not None:
                return f"key {k!r}: {why}"
        return None
    return None if got == expected else f"got {got!r}, expected {expected!r}"


def _show(args: tuple, kwargs: dict) -> str:
    def short(x):
        arr = _array(x)
        if arr is not None:
            text = np.array2string(arr, threshold=12, edgeitems=2) if arr.size <= 24 else f"shape {tuple(arr.shape)}"
            return " ".join(text.split())
        text = repr(x)
        return text if len(text) <= 60 else text[:57] + "..."

    return ", ".join([*(short(a) for a in args), *(f"{k}={short(v)}" for k, v in kwargs.items())])


def self_check(function: Callable, reference: Callable, cases: Sequence, *, name: str | None = None,
          tol: float = 1e-6) -> bool:
    """Compare a learner's ``function`` with the ``reference`` on ``cases``; print the verdict.

    Args:
        function: the learner's implementation.
        reference: the library's (or the chapter's) definition it must equal.
        cases: the inputs: each a tuple of positional arguments, a dict of keyword arguments,
            or a single argument.
        name: what to call the function in the messages (default: its ``__name__``).
        tol: tolerance for numbers and float arrays (:func:`same`).
    Returns:
        ``True`` if every case agrees. Prints one line per case up to the first disagreement,
        then what went in, what was expected and what came back.
    """
    check_callable(function, "function")
    check_callable(reference, "reference")
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence) or not cases:
        raise TypeError("cases must be a non-empty list of inputs (tuples of arguments, dicts, or single values)")
    check_real(tol, "tol", 0.0)
    name = name or getattr(function, "__name__", "your function")
    for i, case in enumerate(cases, 1):
        args, kwargs = (tuple(case), {}) if isinstance(case, tuple) else ((), dict(case)) \
            if isinstance(case, Mapping) else ((case,), {})
        expected = reference(*args, **kwargs)
        try:
            got = function(*args, **kwargs)
        except NotImplementedError:
            print(f"✗ {name}: not written yet (it raises NotImplementedError); fill in the stub.")
            return False
        except Exception as err:  # the learner's bug, reported as one line
            print(f"✗ {name}, case {i} ({_show(args, kwargs)}): raised {type(err).__name__}: {err}")
            return False
        if got is None and expected is not None:
            print(f"✗ {name}, case {i} ({_show(args, kwargs)}): returned None (a missing return?)")
            return False
        why = same(got, expected, tol)
        if why is not None:
            print(f"✗ {name}, case {i} ({_show(args, kwargs)}): {why}")
            return False
        print(f"✓ case {i} agrees")
    print(f"✓ {name} agrees with the reference on all {len(cases)} cases.")
    return True
