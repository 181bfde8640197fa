"""Trained Korean -> English models shared by several chapters (the "model zoo").

The seq2seq, softmax, attention and beam-search chapters all need a trained translation
model, and every notebook must still run on a clean machine in about a minute. A
:class:`Recipe` names everything that determines a model -- data options, model config,
training budget, seed -- and :func:`get` either trains it (deterministically, about 30 s on
two CPU cores) or loads the weights an earlier call saved in the user cache::

    model, data = zoo.get("kor-eng-gru-bahdanau")

Either way the weights are bit-for-bit the same and nothing is printed, so a notebook's
outputs do not depend on whether the cache was warm. The cache lives in
``$XDG_CACHE_HOME/s2s_course/models/<key>.pt`` (default ``~/.cache/...``) with the file's
sha256 beside it in ``<key>.sha256``; a file whose hash or config does not match is never
used (it is trained again). The key is a hash of what the weights *mean*: the recipe, the
training data and tokenizers, the torch version and :data:`ZOO_VERSION`, which is bumped
whenever a change to the code changes the numbers training produces (editing comments or
checks does not). ``tests/test_zoo.py`` trains a tiny recipe and compares its weights
with a recorded fingerprint, so a forgotten bump fails the tests. Set
``S2S_NO_MODEL_CACHE=1`` to never read or write the cache.

Training always happens on the CPU with a fixed number of threads (results can depend on
both) inside :func:`torch.random.fork_rng`, so the caller's random state is the same
after :func:`get` whether it trained or loaded. (Weights are reproducible on the same
kind of machine; another CPU family may round differently and train slightly other weights.)

The recipes (Tatoeba kor-eng, pairs of <= 10 SentencePiece tokens: 2,608 training, 266
validation, 311 test pairs; embedding 128, hidden 256, GRU, dropout 0.3, batch 32, Adam
3e-3 decaying by 0.85 per epoch); training time with 2 CPU threads on an idle machine:

=====================  ==========  ======  ==========  ===========  =========
recipe                 attention   epochs  train time  test ppl     test BLEU
=====================  ==========  ======  ==========  ===========  =========
kor-eng-gru            none        12      ~29 s       26.1         3.3
kor-eng-gru-bahdanau   additive    8       ~28 s       24.8         5.5
kor-eng-gru-luong      general     12      ~29 s       26.4         4.8
=====================  ==========  ======  ==========  ===========  =========

(Greedy decoding, sacrebleu corpus BLEU with ``tokenize="13a"`` on the normalised
references; perplexity is the teacher-forced per-token one. Small numbers: 2.6k pairs are
very little data for translation.) :func:`score` computes them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from s2s_lib.checks import check_int, check_real, check_type
from s2s_lib.data import TranslationData, prepare_translation
from s2s_lib.models import Seq2Seq, Seq2SeqConfig
from s2s_lib.checkpoint import load_checkpoint, save_checkpoint, write_atomically
from s2s_lib.train import default_optimizer, evaluate_loss, train

__all__ = ["Recipe", "RECIPES", "ZOO_VERSION", "NO_CACHE_ENV", "recipe_names", "get_recipe",
           "model_cache_dir", "cache_path", "recipe_key", "load_data", "train_recipe", "store", "get",
           "clear_memory", "weights_sha256", "score"]

# Bump when a code change alters what training computes (model numerics, init order, the
# training loop, batching, tokenization): the cache key includes it. tests/test_zoo.py
# checks a tiny recipe's trained weights against a recorded fingerprint to catch a missed bump.
ZOO_VERSION = 3
NO_CACHE_ENV = "S2S_NO_MODEL_CACHE"


@dataclass
class Recipe:
    """Everything that determines a zoo model.

    Attributes:
        name: identifier, e.g. ``"kor-eng-gru"``.
        max_len: longest sentence kept, in SentencePiece tokens (either side).
        src_vocab_size / tgt_vocab_size: SentencePiece vocabulary sizes asked for.
        model: keyword arguments of :class:`~s2s_lib.models.Seq2Seq` except the vocabulary sizes.
        batch_size: sentence pairs per batch (length-bucketed, new buckets every epoch).
        epochs: passes over the training split.
        lr: Adam's learning rate; multiplied by ``lr_decay`` after every epoch.
        lr_decay: per-epoch learning-rate factor (1 = constant).
        clip: gradient-norm clipping.
        teacher_forcing: teacher-forcing probability.
        reverse_source: reverse the Korean token order (Sutskever et al. 2014).
        seed: seeds the weights, dropout, batch order and coins.
        threads: torch CPU threads while training (results may depend on it).
        description: one line for humans.
    """

    name: str
    model: dict = field(default_factory=dict)
    max_len: int = 10
    src_vocab_size: int = 2000
    tgt_vocab_size: int = 2000
    batch_size: int = 64
    epochs: int = 10
    lr: float = 3e-3
    lr_decay: float = 1.0
    clip: float = 1.0
    teacher_forcing: float = 1.0
    reverse_source: bool = False
    seed: int = 0
    threads: int = 2
    description: str = ""

    def replace(self, **changes) -> "Recipe":
        """A copy with some fields changed (e.g. ``recipe.replace(epochs=2)``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of the fields."""
        return dataclasses.asdict(self)


# Budgets: each recipe trains in about 30 s with 2 threads on an otherwise idle 2-core CPU
# (see the table in the module docstring). Small data (2.6k training pairs) overfits
# quickly: dropout 0.3, batch 32 (more updates per epoch helped more than a bigger batch)
# and a learning rate that decays by 0.85 per epoch.
_BASE = dict(emb_dim=128, hidden_dim=256, cell="gru", dropout=0.3)
_TRAINING = dict(max_len=10, src_vocab_size=2000, tgt_vocab_size=2000, batch_size=32, lr=3e-3,
                 lr_decay=0.85, clip=1.0, seed=0, threads=2)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="kor-eng-gru",
            model=dict(_BASE, attention=None),
            epochs=12,
            description="context-vector GRU encoder-decoder (Sutskever/Cho), no attention",
            **_TRAINING,
        ),
        Recipe(
            name="kor-eng-gru-bahdanau",
            model=dict(_BASE, attention="bahdanau"),
            epochs=8,
            description="GRU with Bahdanau (additive) attention, query s_{t-1}",
            **_TRAINING,
        ),
        Recipe(
            name="kor-eng-gru-luong",
            model=dict(_BASE, attention="general"),
            epochs=12,
            description="GRU with Luong 'general' attention, query h_t",
            **_TRAINING,
        ),
    ]
}


def recipe_names() -> list[str]:
    """Names of the predefined recipes."""
    return sorted(RECIPES)


def get_recipe(recipe: str | Recipe) -> Recipe:
    """A :class:`Recipe` from its name (or the recipe itself, checked)."""
    check_type(recipe, "recipe", (str, Recipe), "a recipe name (str) or a Recipe")
    if isinstance(recipe, str) and recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known recipes: {recipe_names()}")
    r = RECIPES[recipe] if isinstance(recipe, str) else recipe
    for name in ("max_len", "src_vocab_size", "tgt_vocab_size", "batch_size", "epochs", "threads"):
        check_int(getattr(r, name), f"recipe {r.name!r}: {name}")
    if not isinstance(r.model, dict) or {"src_vocab_size", "tgt_vocab_size"} & set(r.model):
        raise ValueError(f"recipe {r.name!r}: model must be a dict of Seq2Seq arguments without the vocabulary sizes")
    check_real(r.lr_decay, f"recipe {r.name!r}: lr_decay", above=0.0, maximum=1.0)
    return r


# --------------------------------------------------------------------------- cache


def model_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/s2s_course/models`` (default ``~/.cache/s2s_course/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "s2s_course" / "models"


def _cache_enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() in ("", "0", "false", "no")


def load_data(recipe: str | Recipe) -> TranslationData:
    """The :class:`~s2s_lib.data.TranslationData` a recipe trains on."""
    r = get_recipe(recipe)
    return prepare_translation(max_len=r.max_len, src_vocab_size=r.src_vocab_size,
                               tgt_vocab_size=r.tgt_vocab_size)


def recipe_key(recipe: str | Recipe, data: TranslationData | None = None) -> str:
    """Cache key: a hash of the recipe, the training data, the tokenizers, the torch version
    and :data:`ZOO_VERSION` -- everything that decides the trained weights, nothing else."""
    r = get_recipe(recipe)
    data = load_data(r) if data is None else data
    h = hashlib.sha256()
    meta = {"recipe": {k: v for k, v in r.to_dict().items() if k != "description"}, "zoo": ZOO_VERSION,
            "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2])}
    h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(data.src_tokenizer.model_proto)
    h.update(data.tgt_tokenizer.model_proto)
    for p in data.train:
        h.update(f"{p.ko}\t{p.en}\n".encode())
    return f"{r.name}-{h.hexdigest()[:16]}"


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 over a model's parameter names, dtypes, shapes and bytes (its weights' identity)."""
    h = hashlib.sha256()
    for name, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        h.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        h.update(value.numpy().tobytes() if value.dtype != torch.bfloat16 else value.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_path(recipe: str | Recipe, data: TranslationData | None = None) -> Path:
    """Where :func:`get` keeps the weights of ``recipe``."""
    return model_cache_dir() / f"{recipe_key(recipe, data)}.pt"


# --------------------------------------------------------------------------- training


def train_recipe(recipe: str | Recipe, data: TranslationData | None = None, *,
                 progress: bool = False):
    """Train a recipe from scratch (no cache), deterministically, on the CPU.

    The caller's random state (torch, Python, NumPy) and thread count are restored
    afterwards.

    Returns:
        ``(model, history)``: the trained model (eval mode, CPU) and its
        :class:`~s2s_lib.train.History`.
    """
    r = get_recipe(recipe)
    data = load_data(r) if data is None else data
    threads = torch.get_num_threads()
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.set_num_threads(r.threads)
            torch.manual_seed(r.seed)
            model = Seq2Seq(_recipe_config(r, data))
            optimizer = default_optimizer(model, r.lr)
            steps_per_epoch = len(data.batches("train", r.batch_size, seed=r.seed + 1,
                                               reverse_source=r.reverse_source))

            def decay(step, model, history):
                if r.lr_decay != 1.0 and step % steps_per_epoch == 0:
                    for group in optimizer.param_groups:
                        group["lr"] *= r.lr_decay

            history = train(
                model,
                lambda epoch: data.batches("train", r.batch_size, seed=r.seed + epoch,
                                           reverse_source=r.reverse_source),
                epochs=r.epochs, optimizer=optimizer, clip=r.clip,
                teacher_forcing=r.teacher_forcing, device="cpu", seed=r.seed,
                progress=progress, callbacks=[decay],
            )
    finally:
        torch.set_num_threads(threads)
        random.setstate(py_state)
        np.random.set_state(np_state)
    model.eval()
    return model, history


_MEMORY: dict[str, dict] = {}  # key -> state_dict, so one process trains a recipe once


def clear_memory() -> None:
    """Forget the models :func:`get` keeps in this process (the disk cache stays)."""
    _MEMORY.clear()


def _recipe_config(r: Recipe, data: TranslationData) -> Seq2SeqConfig:
    return Seq2SeqConfig(data.src_tokenizer.vocab_size, data.tgt_tokenizer.vocab_size, **r.model)


def _load_cached(r: Recipe, data: TranslationData, key: str, path: Path) -> Seq2Seq | None:
    """The cached model of ``key``, or ``None`` (with a warning) if the entry cannot be trusted."""
    sha_path = path.with_suffix(".sha256")
    try:
        if not sha_path.is_file() or sha_path.read_text().split()[0] != _file_sha256(path):
            raise ValueError("its sha256 does not match the recorded one")
        model, extra = load_checkpoint(path)
        if extra.get("key") != key or model.config != _recipe_config(r, data):
            raise ValueError("it belongs to another recipe or config")
        return model
    except (ValueError, OSError, IndexError, RuntimeError) as err:
        warnings.warn(f"ignoring the damaged model cache {path} ({err}); training again")
        return None


def store(recipe: str | Recipe, data: TranslationData, model: Seq2Seq) -> Path | None:
    """Put a trained model of ``recipe`` into the disk cache (weights, then their sha256).

    Returns the path written, or ``None`` when the cache is off or not writable (a warning).
    """
    r = get_recipe(recipe)
    if not _cache_enabled():
        return None
    key = recipe_key(r, data)
    path = model_cache_dir() / f"{key}.pt"
    try:
        save_checkpoint(path, model, key=key, recipe=r.to_dict())
        write_atomically(path.with_suffix(".sha256"), lambda tmp: tmp.write_text(f"{_file_sha256(path)}  {path.name}\n"))
    except OSError as err:  # read-only home etc.: still usable, just slower next time
        warnings.warn(f"could not write the model cache {path}: {err}")
        return None
    return path


def get(recipe: str | Recipe, *, progress: bool = False, cache: bool = True):
    """A trained model for ``recipe``: from the cache if there, else trained (and cached).

    Args:
        recipe: a name from :func:`recipe_names` or a :class:`Recipe`.
        progress: show a progress bar *when training* (off by default: with it on, the
            output would differ between a cold and a warm cache).
        cache: use the on-disk cache (also off when ``$S2S_NO_MODEL_CACHE`` is set).
    Returns:
        ``(model, data)``: the :class:`~s2s_lib.models.Seq2Seq` in eval mode on the CPU
        and the :class:`~s2s_lib.data.TranslationData` it was trained on.
    """
    r = get_recipe(recipe)
    data = load_data(r)
    key = recipe_key(r, data)
    use_disk = cache and _cache_enabled()
    path = model_cache_dir() / f"{key}.pt"
    model = None
    if key in _MEMORY:
        with torch.random.fork_rng(devices=[]):  # the random init is overwritten anyway
            model = Seq2Seq(_recipe_config(r, data))
        model.load_state_dict(_MEMORY[key])
    elif use_disk and path.is_file():
        model = _load_cached(r, data, key, path)
    if model is None:
        model, _ = train_recipe(r, data, progress=progress)
        if use_disk:
            store(r, data, model)
    _MEMORY[key] = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    return model, data


def score(model: Seq2Seq, data: TranslationData, split: str = "test", *, max_len: int = 30,
          batch_size: int = 128) -> dict:
    """Held-out quality of a model: teacher-forced loss/perplexity and greedy BLEU.

    BLEU is sacrebleu's corpus BLEU (``tokenize="13a"``) of greedy translations against the
    split's (normalised) English references.

    Returns:
        ``{"loss", "ppl", "bleu", "hypotheses"}``.
    """
    import sacrebleu

    from s2s_lib.decode import greedy_decode

    batches = data.batches(split, batch_size, bucketing=False, shuffle=False)  # corpus order
    loss, ppl = evaluate_loss(model, batches)
    hyps = []
    for b in batches:
        result = greedy_decode(model, b.src, b.src_lengths, max_len)
        hyps += [data.tgt_tokenizer.decode(t) for t in result.tokens]
    refs = data.targets(split)
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a", force=True).score  # our text is pre-split on purpose
    return {"loss": loss, "ppl": ppl, "bleu": bleu, "hypotheses": hyps}
