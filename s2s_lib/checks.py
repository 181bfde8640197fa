"""The small vocabulary of argument checks every public function uses (DESIGN.md, "Bad input").

Bad input fails at the public boundary with a ``TypeError`` (wrong kind of thing) or a
``ValueError`` (right kind, wrong value) whose message names the argument, never deep
inside torch. Each check returns the value it accepted (converted where that is useful:
``check_int`` returns an ``int``, ``check_lengths`` a tensor), so a boundary reads::

    max_len = check_int(max_len, "max_len")
    p = check_prob(teacher_forcing_ratio, "teacher_forcing_ratio")

A public function makes its checks once, where it is called; the inner loops it runs are
not checked again. Also here: :func:`model_device` and the :func:`inference` context.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterable

import torch

__all__ = [
    # numbers, flags, choices, strings
    "check_type", "check_int", "check_real", "check_prob", "check_bool", "check_choice", "check_str",
    "check_strings", "check_callable",
    # tensors, masks, token ids, source batches, models, batches, metadata
    "check_tensor", "check_mask", "check_token_ids", "check_ids", "check_lengths", "check_src",
    "check_decoder_model", "check_batches", "check_plain", "model_device", "inference",
    # the views' JSON payloads
    "plain", "check_list", "check_mapping", "check_number", "check_numbers", "check_probs", "check_matrix",
    "check_tokens", "check_controls",
    # paths; tensors that meet; public functions that also run in loops
    "check_path", "check_alike", "check_finite", "validated_by",
]


def _kind(value) -> str:
    return type(value).__name__


def check_type(value, name: str, types, what: str | None = None):
    """``value`` if it is an instance of ``types``, else a TypeError saying ``what`` was expected."""
    if not isinstance(value, types):
        if what is None:
            names = types if isinstance(types, tuple) else (types,)
            what = " or ".join(t.__name__ for t in names)
        raise TypeError(f"{name} must be {what}, got {_kind(value)}")
    return value


def check_int(value, name: str, minimum: int | None = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in [``minimum``, ``maximum``] (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_real(value, name: str, minimum: float | None = None, maximum: float | None = None, *,
               above: float | None = None, below: float | None = None, finite: bool = True) -> float:
    """``value`` as a ``float``: a real number (not a bool, not nan), finite unless ``finite=False``.

    ``minimum``/``maximum`` are inclusive bounds, ``above``/``below`` exclusive ones.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_kind(value)}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name} must be a finite number, got {value}")
    for ok, bound, text in ((minimum is None or value >= minimum, minimum, ">="),
                            (maximum is None or value <= maximum, maximum, "<="),
                            (above is None or value > above, above, ">"),
                            (below is None or value < below, below, "<")):
        if not ok:
            raise ValueError(f"{name} must be {text} {bound}, got {value}")
    return value


def check_prob(value, name: str) -> float:
    """A probability: a number in [0, 1]."""
    return check_real(value, name, 0.0, 1.0)


def check_bool(value, name: str) -> bool:
    """``True`` or ``False`` (not 0/1, not None)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_kind(value)}")
    return value


def check_choice(value, name: str, choices: Iterable) -> Any:
    """``value`` if it is one of ``choices`` (compared with ``==``, types must match too)."""
    choices = tuple(choices)
    if not any(value == c and type(value) is type(c) for c in choices):
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_str(value, name: str, *, empty: bool = True) -> str:
    """A ``str`` (non-empty unless ``empty=True``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {_kind(value)}")
    if not empty and not value:
        raise ValueError(f"{name} must not be empty")
    return value


def check_strings(values, name: str) -> list[str]:
    """An iterable of ``str`` (list, tuple, generator...; not one ``str``), returned as a list.

    The error for a bad element names it, e.g. ``texts[3] must be a str, got NoneType``.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of str (or another iterable of str), got {_kind(values)}")
    values = list(values)
    for i, v in enumerate(values):
        check_str(v, f"{name}[{i}]")
    return values


def check_callable(value, name: str):
    """Something that can be called."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {_kind(value)}")
    return value


_DTYPE_WORDS = {"float": "a floating-point tensor", "int": "an integer tensor",
                "bool": "a bool tensor"}


def check_tensor(x, name: str, *, dtype=None, ndim: int | None = None, shape=None) -> torch.Tensor:
    """A tensor of the right kind and shape.

    Args:
        dtype: a ``torch.dtype``, or ``"float"`` (any floating dtype), ``"int"`` (any integer
            dtype, not bool), ``"bool"``.
        ndim: number of dimensions.
        shape: expected shape, ``None`` entries match any size (implies ``ndim``).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_kind(x)}")
    if dtype is not None:
        ok = {"float": x.is_floating_point(), "bool": x.dtype == torch.bool,
              "int": not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)
              }.get(dtype, x.dtype == dtype)
        if not ok:
            raise TypeError(f"{name} must be {_DTYPE_WORDS.get(dtype, dtype)}, got dtype {x.dtype}")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if shape is not None and any(s is not None and s != n for s, n in zip(shape, x.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    return x


def check_mask(mask, name: str = "mask", shape=None, *, like: torch.Tensor | None = None,
               every_row: bool = False) -> torch.Tensor:
    """A bool mask, True on real positions (as ``F.scaled_dot_product_attention``).

    Args:
        shape: its exact shape (``None`` entries match any size).
        like: a tensor the mask must broadcast to; the expanded mask is returned.
        every_row: every row (the last dimension) must hold a True: a row without a real
            position would give attention weights 0/0 = nan.
    """
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else _kind(mask)
        raise TypeError(f"{name} must be a bool torch.Tensor (True on real tokens), got {got}")
    check_tensor(mask, name, shape=shape)
    if like is not None:
        try:
            mask = mask.expand_as(like)
        except RuntimeError:
            raise ValueError(f"{name} of shape {tuple(mask.shape)} does not broadcast to shape "
                             f"{tuple(like.shape)}") from None
    if every_row and not mask.any(dim=-1).all():
        raise ValueError(f"{name} has a row with no real position (all False); its attention weights "
                         "are undefined")
    return mask


def check_token_ids(x, name: str, vocab_size: int | None = None, ndim: int = 2) -> torch.Tensor:
    """A non-empty LongTensor of token ids in [0, ``vocab_size``)."""
    check_tensor(x, name, dtype=torch.long, ndim=ndim)
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if vocab_size is not None:
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(f"{name} holds ids outside [0, {vocab_size}) (min {low}, max {high}); "
                             "was it encoded with the other language's vocabulary?")
    return x


def check_ids(ids, name: str, vocab_size: int | None = None, *, empty: bool = True) -> list[int]:
    """Token ids as a list of ints: a list/tuple of ints or a 1-D integer tensor/array.

    Every id must be >= 0, and < ``vocab_size`` when it is given; ``empty=False`` refuses [].
    """
    if hasattr(ids, "tolist") and not isinstance(ids, (list, tuple)):
        shape = tuple(getattr(ids, "shape", ()))
        if len(shape) != 1:
            raise ValueError(f"{name} must be 1-D, got shape {shape}")
        dtype = str(getattr(ids, "dtype", ""))
        if any(word in dtype for word in ("float", "complex", "bool")):
            raise TypeError(f"{name} must hold integers, got dtype {dtype}")
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple)):
        raise TypeError(f"{name} must be a list of ints or a 1-D integer tensor, got {_kind(ids)}")
    for k, i in enumerate(ids):
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"{name} must contain ints, found {name}[{k}] = {i!r} ({_kind(i)})")
        if i < 0 or (vocab_size is not None and i >= vocab_size):
            where = "a negative token id" if vocab_size is None else f"outside the vocabulary [0, {vocab_size})"
            raise ValueError(f"{name} contains {i} at {name}[{k}], {where}")
    if not ids and not empty:
        raise ValueError(f"{name} is empty: a source sentence needs at least one token")
    return list(ids)


def check_lengths(lengths, name: str, batch_size: int, max_len: int) -> torch.Tensor:
    """B real lengths, each in [1, ``max_len``], as a (B,) LongTensor (a list is accepted)."""
    if isinstance(lengths, (list, tuple)):
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in lengths):
            raise TypeError(f"{name} must hold ints, got {lengths!r}")
        lengths = torch.tensor(lengths, dtype=torch.long)
    check_tensor(lengths, name, dtype="int", shape=(batch_size,))
    if batch_size and (int(lengths.min()) < 1 or int(lengths.max()) > max_len):
        raise ValueError(f"{name} must be in [1, {max_len}] (no empty sentences, at most the padded "
                         f"length), got min {int(lengths.min())}, max {int(lengths.max())}")
    return lengths


def check_src(src, src_lengths, vocab_size: int | None = None) -> torch.Tensor:
    """A padded source batch: src (B, S) ids (B >= 1) and its lengths; returns the (B,) lengths."""
    check_token_ids(src, "src", vocab_size)
    return check_lengths(src_lengths, "src_lengths", src.size(0), src.size(1))


def check_decoder_model(model, name: str = "model") -> None:
    """A model the decoders can drive: it has ``encode()`` and ``decode_step()``."""
    if not all(callable(getattr(model, m, None)) for m in ("encode", "decode_step")):
        raise TypeError(f"{name} must have encode() and decode_step() (a Seq2Seq), got {_kind(model)}")


_BATCH_FIELDS = ("src", "src_lengths", "tgt_in", "tgt_out", "to")


def check_batches(batches, name: str = "batches") -> list:
    """A non-empty list of :class:`~s2s_lib.batching.Batch` (one Batch is accepted too).

    A Batch is recognised by its fields (``src``, ``src_lengths``, ``tgt_in``, ``tgt_out``,
    ``to``), so this module needs nothing from :mod:`s2s_lib.batching`, which uses it.
    """
    def is_batch(value):
        return all(hasattr(value, field) for field in _BATCH_FIELDS)

    if is_batch(batches):
        return [batches]
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        raise TypeError(f"{name} must be a list of Batch, got {_kind(batches)}")
    batches = list(batches)
    if not batches:
        raise ValueError(f"{name} is empty")
    for i, b in enumerate(batches):
        if not is_batch(b):
            raise TypeError(f"{name}[{i}] must be a Batch, got {_kind(b)}")
    return batches


_PLAIN = (str, int, float, bool, type(None))


def check_plain(value, name: str) -> None:
    """Plain data (str, int, float, bool, None, lists, str/int-keyed dicts, tensors): what
    ``torch.load(weights_only=True)`` and JSON can hold."""
    if isinstance(value, _PLAIN) or isinstance(value, torch.Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{name}[{i}]")
        return
    if not isinstance(value, dict):
        raise TypeError(f"{name} is a {_kind(value)}; it must be plain data (str, int, float, bool, None, "
                        "lists, dicts, tensors)")
    for k, v in value.items():
        if not isinstance(k, (str, int)):
            raise TypeError(f"{name} has a key of type {_kind(k)}; use str keys")
        check_plain(v, f"{name}[{k!r}]")


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


# --------------------------------------------------------------------------- views: JSON payload checks
# The views (s2s_lib/views) check the plain data they embed as JSON: lists, dicts, strings and
# finite numbers, each error naming where in the payload it is (e.g. "items[0]['weights']").

def plain(value: Any) -> Any:
    """Turn a torch tensor or numpy array/scalar into Python lists/numbers; leave the rest."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        value = value.detach().cpu()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def check_list(value: Any, name: str, what: str = "a list", *, empty: bool = False) -> list:
    """A list or tuple (a tensor/array is made plain), not a str or dict; non-empty unless ``empty``.

    ``what`` says what was expected in the TypeError (e.g. ``"a list of dicts"``).
    """
    value = plain(value)
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be {what}, got {_kind(value)}")
    if not value and not empty:
        raise ValueError(f"{name} must not be empty")
    return list(value)


def check_mapping(value: Any, name: str, keys: Iterable[str] = (), *, what: str = "a dict",
                  hints: Mapping[str, str] | None = None) -> Mapping:
    """A mapping that has every key of ``keys``.

    ``what`` says what was expected in the TypeError; ``hints`` maps a key to advice that ends
    the ValueError when that key is missing.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be {what}, got {_kind(value)}")
    missing = [k for k in keys if k not in value]
    if missing:
        hint = next((hints[k] for k in missing if k in hints), "") if hints else ""
        raise ValueError(f"{name} is missing the key(s) {missing}{hint}")
    return value


def check_number(value: Any, name: str, digits: int = 4) -> float | int:
    """A finite real number (a tensor/array scalar too): ints kept, floats rounded to ``digits``
    significant digits (so the last digits of floats cannot make two outputs differ)."""
    value = plain(value)
    number = check_real(value, name)
    return int(value) if isinstance(value, numbers.Integral) else float(f"{number:.{digits}g}")


def check_numbers(values: Any, name: str, digits: int = 4) -> list:
    """A non-empty 1-D sequence (list, tuple, numpy array or tensor) of finite numbers."""
    values = check_list(values, name, "a sequence of numbers")
    return [check_number(v, f"{name}[{i}]", digits) for i, v in enumerate(values)]


def check_probs(values: Any, name: str) -> list:
    """A non-empty 1-D sequence of probabilities, numbers in [0, 1]."""
    probs = check_numbers(values, name)
    if any(p < 0 or p > 1 + 1e-6 for p in probs):
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return probs


def check_matrix(values: Any, name: str, shape: tuple[int, int], digits: int = 4) -> list[list]:
    """A 2-D array of finite numbers with exactly ``shape`` = (rows, columns)."""
    values = check_list(values, name, "a 2-D array", empty=True)
    got = (len(values), len(values[0]) if len(values) and isinstance(values[0], Sequence) else None)
    if len(values) != shape[0] or any(not isinstance(r, Sequence) or len(r) != shape[1] for r in values):
        raise ValueError(f"{name} must have shape {shape}, got {got[0]} rows "
                         f"(first row length {got[1]})")
    return [check_numbers(row, f"{name}[{i}]", digits) for i, row in enumerate(values)]


def check_tokens(values: Any, name: str) -> list[str]:
    """A non-empty list of strings (tokens or labels)."""
    values = check_list(values, name, "a list of str")
    return [check_str(v, f"{name}[{i}]") for i, v in enumerate(values)]


def check_controls(controls: Any, name: str = "controls") -> list[tuple[str, list]]:
    """An ordered mapping control name -> list of values (str or finite numbers, no repeats).

    Returns:
        ``[(control name, [value, ...]), ...]`` in the mapping's order, values as plain Python.
    """
    check_mapping(controls, name, what="a dict of control name -> list of values")
    out = []
    for key, values in controls.items():
        check_str(key, f"{name} key {key!r}")
        values = check_list(values, f"{name}[{key!r}]", "a list of values")
        checked = []
        for i, v in enumerate(values):
            v = plain(v)
            checked.append(v if isinstance(v, str) else check_number(v, f"{name}[{key!r}][{i}]", 12))
        if len(set(checked)) != len(checked):
            raise ValueError(f"{name}[{key!r}] has repeated values: {checked}")
        out.append((key, checked))
    return out


# --------------------------------------------------------------------------- paths and texts

def check_path(value, name: str):
    """A file-system path (a non-empty ``str`` or an ``os.PathLike``) as a :class:`pathlib.Path`."""
    import os
    from pathlib import Path

    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {_kind(value)}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{name} must not be an empty path")
    return Path(value)


# --------------------------------------------------------------------------- tensors that meet

def check_alike(tensors: Mapping[str, Any]) -> None:
    """Tensors that meet in one computation share one dtype (else ``TypeError``) and one device
    (else ``ValueError``); the errors name both tensors and what each holds.

    ``tensors`` maps names to tensors (already checked to be tensors); the first entry is the
    reference (e.g. a module's weights), ``None`` entries are skipped.
    """
    items = [(n, t) for n, t in tensors.items() if t is not None]
    ref_name, ref = items[0]
    for name, t in items[1:]:
        if t.dtype != ref.dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but {ref_name} has dtype {ref.dtype}: convert "
                            f"one of them (e.g. .to({ref.dtype}), or module.double() / module.float())")
        if t.device != ref.device:
            raise ValueError(f"{name} is on device {t.device} but {ref_name} is on {ref.device}: "
                             "move them to one device")


def check_finite(x: torch.Tensor, name: str, *, neg_inf: bool = False) -> torch.Tensor:
    """A tensor without nan or inf (``ValueError`` counting them otherwise).

    ``neg_inf=True`` accepts ``-inf`` (masked or filtered logits) but wants a finite entry in
    every row (the last dimension), so a softmax over each row is defined.
    """
    finite = torch.isfinite(x)
    ok = bool((finite | torch.isneginf(x)).all() & finite.any(dim=-1).all()) if neg_inf else bool(finite.all())
    if not ok:
        nan, pos, neg = (int(f(x).sum()) for f in (torch.isnan, torch.isposinf, torch.isneginf))
        found = [f"{n} {what}" for n, what in ((nan, "nan"), (pos, "+inf"), (neg, "-inf")) if n]
        if neg_inf and not nan and not pos:
            found = [f"{int((~finite.any(dim=-1)).sum())} row(s) with every entry -inf"]
        raise ValueError(f"{name} must hold finite numbers{' (or -inf, not in a whole row)' if neg_inf else ''}, "
                         f"found {', '.join(found)} in shape {tuple(x.shape)}")
    return x


def validated_by(validate):
    """Decorator for a public function that also runs in hot loops: ``validate(*args, **kwargs)``
    (the argument checks) runs before each call, and ``function.unchecked`` is the bare function
    for callers that checked once at their own boundary (e.g. a layer's time loop).

    ``inspect.unwrap`` (and so ``views.show_source``) still finds the bare function's source.
    """
    import functools

    def wrap(function):
        @functools.wraps(function)
        def checked(*args, **kwargs):
            validate(*args, **kwargs)
            return function(*args, **kwargs)

        checked.unchecked = function
        return checked

    return wrap
