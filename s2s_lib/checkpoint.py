"""Checkpoints: a trained model's config and weights in one file, safe to load.

* :func:`save_checkpoint` writes ``{format, version, config, state_dict, optimizer_state_dict,
  extra}`` with ``torch.save`` (to a temporary file, then renamed: never a half file);
* :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` (no arbitrary
  pickles), validates the config (:class:`~s2s_lib.models.Seq2SeqConfig`) and compares the
  weights' names and shapes with the ones the config implies *before* building the model,
  so a damaged or hostile file fails with a ``ValueError`` that says what is wrong instead of
  allocating whatever its config asks for.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from s2s_lib import pick_device
from s2s_lib.checks import check_bool, check_plain, check_type
from s2s_lib.models import Seq2Seq, Seq2SeqConfig
from s2s_lib.transformer import Transformer, TransformerConfig

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "write_atomically", "model_config",
           "build_model"]

_ARCHS = {"seq2seq": (Seq2SeqConfig, Seq2Seq), "transformer": (TransformerConfig, Transformer)}


def model_config(fields: dict):
    """A model config from its plain dict: ``arch`` (``"seq2seq"``, the default, or
    ``"transformer"``) picks :class:`~s2s_lib.models.Seq2SeqConfig` or
    :class:`~s2s_lib.transformer.TransformerConfig`; the other keys are its fields."""
    fields = dict(fields)
    arch = fields.pop("arch", "seq2seq")
    if arch not in _ARCHS:
        raise ValueError(f"unknown model arch {arch!r}; known: {sorted(_ARCHS)}")
    return _ARCHS[arch][0](**fields)


def build_model(config):
    """The model of a config: ``Seq2Seq(config)`` or ``Transformer(config)``."""
    for config_type, model_type in _ARCHS.values():
        if isinstance(config, config_type):
            return model_type(config)
    raise TypeError(f"config must be a Seq2SeqConfig or a TransformerConfig, got {type(config).__name__}")

CHECKPOINT_FORMAT = "s2s_lib.checkpoint"
CHECKPOINT_VERSION = 1

def save_checkpoint(path: str | Path, model: Seq2Seq, optimizer: torch.optim.Optimizer | None = None,
                    *, half: bool = False, **extra) -> Path:
    """Save the model's config and weights (and optionally the optimizer) to ``path``.

    Args:
        path: file to write (parent folders are created). Written to a temporary file
            first and renamed, so an interrupted save never leaves a half file.
        model: a :class:`~s2s_lib.models.Seq2Seq` or :class:`~s2s_lib.transformer.Transformer`;
            its config is stored as a plain dict and rebuilds the architecture.
        optimizer: also store its ``state_dict`` (returned by :func:`load_checkpoint` as
            ``extra["optimizer_state_dict"]``).
        half: store float32 weights as float16 (half the file; :func:`load_checkpoint` turns
            them back into float32). For shipping trained weights, not for resuming training.
        **extra: plain metadata (e.g. ``epoch=3, bleu=12.5, recipe="kor-eng-gru"``).
    Returns:
        The path written.
    """
    check_type(model, "model", (Seq2Seq, Transformer), "a Seq2Seq or a Transformer")
    if optimizer is not None:
        check_type(optimizer, "optimizer", torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    if "optimizer_state_dict" in extra:
        raise ValueError("'optimizer_state_dict' is reserved; pass the optimizer as optimizer=")
    check_bool(half, "half")
    check_plain(extra, "extra")
    check_plain(model.config.to_dict(), "model.config")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().half() if half and v.dtype == torch.float32 else v.detach().cpu()
                       for k, v in model.state_dict().items()},
        "storage": "float16" if half else None,
        "optimizer_state_dict": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra),
    }
    write_atomically(path, lambda tmp: _save(payload, tmp))
    return path


def _save(payload: dict, path: Path) -> None:
    """``torch.save`` through a file object: torch names the zip archive's folder after a path's
    file name (here a random temporary name), but "archive" for a file object. (The bytes still
    differ between saves of the same payload: torch also writes a fresh serialization id; compare
    the tensors, :func:`s2s_lib.zoo.weights_sha256`, to see whether two files hold the same weights.)"""
    with open(path, "wb") as f:
        torch.save(payload, f)


def write_atomically(path: Path, write) -> None:
    """``write(tmp)`` to a fresh temporary file beside ``path``, then rename it to ``path``:
    readers never see a half-written file, and concurrent writers never share a temporary."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = None
                    ) -> tuple[Seq2Seq | Transformer, dict]:
    """Rebuild a model from a file written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        map_location: device for the weights (default: CPU).
    Returns:
        ``(model, extra)``: the model in eval mode and the metadata given to
        :func:`save_checkpoint` (plus ``"optimizer_state_dict"`` if one was saved).
    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated/corrupted, is not an s2s_lib checkpoint, or
            its weights do not fit its config; the message says which.
    """
    path = Path(path)
    try:
        device = pick_device(map_location or "cpu")
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"map_location={map_location!r} is not a usable device: {err}") from None
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip/pickle errors of torch.load come in many types
        raise ValueError(f"{path} is not a readable checkpoint (truncated or corrupted file?): "
                         f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an s2s_lib checkpoint (no 'format': {CHECKPOINT_FORMAT!r} entry; "
                         "was it written with torch.save instead of save_checkpoint?)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')!r}; "
                         f"this s2s_lib reads version {CHECKPOINT_VERSION}")
    for key in ("config", "state_dict", "extra"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"{path} is a damaged checkpoint: '{key}' is missing or not a dict")
    try:
        config = model_config(payload["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} has an invalid model config {payload['config']!r}: {err}") from err
    state = payload["state_dict"]
    if payload.get("storage") == "float16":  # shipped half-precision weights: computed in float32
        state = {k: v.float() if isinstance(v, torch.Tensor) and v.dtype == torch.float16 else v
                 for k, v in state.items()}
    if getattr(config, "num_layers", 1) > len(state):  # every layer has several tensors: do not even build it
        raise ValueError(f"{path}: its config asks for {config.num_layers} layers but it holds {len(state)} tensors")
    with torch.device("meta"):  # the expected names, shapes and dtypes, without allocating any weights
        expected = {k: (v.shape, v.dtype) for k, v in build_model(config).state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong_shape = [f"{k}: {_describe(state[k])} in file, {tuple(shape)} {dtype} for the config"
                   for k, (shape, dtype) in expected.items()
                   if k in state and (not isinstance(state[k], torch.Tensor)
                                      or (state[k].shape, state[k].dtype) != (shape, dtype))]
    if missing or unexpected or wrong_shape:
        parts = ([f"missing weights {missing[:5]}"] if missing else []) + \
                ([f"unexpected weights {unexpected[:5]}"] if unexpected else []) + \
                (["shape/dtype mismatch " + "; ".join(wrong_shape[:5])] if wrong_shape else [])
        raise ValueError(f"{path}: the weights do not match the config ({', '.join(parts)})")
    with torch.random.fork_rng(devices=[]):  # random init is overwritten: keep the caller's RNG
        model = build_model(config)
    model.load_state_dict(state)
    model.to(device)
    model.eval()
    extra = dict(payload["extra"])
    if payload.get("optimizer_state_dict") is not None:
        extra["optimizer_state_dict"] = payload["optimizer_state_dict"]
    return model, extra


def _describe(value) -> str:
    return f"{tuple(value.shape)} {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
