"""Trained Korean -> English models shared by several chapters (the "model zoo").

The seq2seq, softmax, attention, beam-search, translator and Transformer chapters all analyse
trained translation models, and every notebook must still run on a clean machine in about a
minute. A :class:`Recipe` names everything that determines a model -- data options, model
config, training budget, seed -- and :func:`get` returns its trained weights::

    model, data = zoo.get("ko-en-luong")

The recipes in :data:`SHIPPED` have their weights in the package (``s2s_lib/weights``,
float16, each file checked against the sha256 in ``manifest.json``; ``make zoo`` retrains them
with :func:`ship`), so :func:`get` loads them in a second. Any other recipe (a notebook's own,
e.g. chapter 6b's comparison models) is trained deterministically the first time and kept in
the user cache; either way the weights are bit-for-bit the same and nothing is printed, so a
notebook's outputs do not depend on whether the cache was warm. The cache lives in
``$XDG_CACHE_HOME/s2s_course/models/<key>.pt`` (default ``~/.cache/...``) with the file's
sha256 beside it in ``<key>.sha256``; a file whose hash or config does not match is never
used (it is trained again). The key is a hash of what the weights *mean*: the recipe, the
training data and tokenizers, the torch version and :data:`ZOO_VERSION`, which is bumped
whenever a change to the code changes the numbers training produces (editing comments or
checks does not). ``tests/test_zoo.py`` trains tiny recipes and compares their weights
with a recorded fingerprint, so a forgotten bump fails the tests. Set
``S2S_NO_MODEL_CACHE=1`` to never read or write the cache.

Training always happens on the CPU with a fixed number of threads (results can depend on
both) inside :func:`torch.random.fork_rng`, so the caller's random state is the same
after :func:`get` whether it trained or loaded. (Weights are reproducible on the same
kind of machine; another CPU family may round differently and train slightly other weights.)

The shipped translators ``ko-en-*`` use the text as written, 98 % of the corpus (sentences
up to 24 tokens: 4,545 training, 531 validation, 511 test pairs) and the low-resource
practices described above :data:`RECIPES`. Test scores of the shipped weights (sacreBLEU on
cased, detokenised output against the untouched references, 95 % bootstrap intervals; the
manifest has the signatures), training time on 2 CPU threads:

=================  ==========  ==========  =====================  ============  ==========
recipe             attention   parameters  greedy BLEU            beam-5 BLEU   training
=================  ==========  ==========  =====================  ============  ==========
ko-en-context      none        1.88 M      9.5 [7.6, 11.3]        10.7          1028 s*
ko-en-bahdanau     additive    2.73 M      12.1 [10.1, 14.0]      13.8          1895 s*
ko-en-luong        general     2.21 M      13.2 [11.1, 15.1]      15.5          1199 s*
ko-en-transformer  4 heads     3.20 M      12.8 [10.6, 14.9]       14.4          418 s
ko-en-lstm4        none        4.77 M       6.9 [5.4, 8.2]          7.4          716 s
=================  ==========  ==========  =====================  ============  ==========

``*`` 80 epochs, measured on a busy CPU (another job took about one of the two cores); on a quiet
one about 6, 11 and 8 minutes (the 50-epoch runs took 226, 416 and 300 s there).

Both attention models score above the context vector (paired bootstrap p = 0.004 and 0.001),
and beam 5 above greedy decoding for all three (p <= 0.021). Retrained with seed 1
(:func:`seed_table`, chapter 9), attention stays ahead of the context vector in all eight
pairings of seeds (p <= 0.004), but Bahdanau's model (13.1) then scores above Luong's (12.8);
two other seeds of the 50-epoch Luong recipe scored 1.5 and 1.8 BLEU below seed 0
(``ablation_table("ko-en-luong")``). Trained for 80 epochs instead of 50, the Luong model's beam-5
BLEU rose by about one point with both seeds (seed 0: 14.5 to 15.5, the recipe of the shipped model;
seed 1: 13.1 to 14.2), which is why the three recipes train 80 epochs.
``ko-en-lstm4`` is the capstone chapter's Sutskever et al. (2014) model: 4-layer unidirectional
LSTMs without attention reading the source backwards (:mod:`s2s_lib.sutskever`).
"""
from __future__ import annotations

import collections
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

from s2s_lib.checks import check_choice, check_int, check_real, check_type
from s2s_lib.data import TranslationData, prepare_translation
from s2s_lib.checkpoint import build_model, model_config
from s2s_lib.models import Seq2Seq
from s2s_lib.checkpoint import load_checkpoint, save_checkpoint, write_atomically
from s2s_lib.train import default_optimizer, train

__all__ = ["Recipe", "RECIPES", "ZOO_VERSION", "NO_CACHE_ENV", "SHIPPED_DIR", "SHIPPED", "recipe_names", "get_recipe",
           "shipped_manifest", "load_shipped", "ship",
           "model_cache_dir", "cache_path", "recipe_key", "load_data", "recipe_model", "train_recipe", "store", "get",
           "clear_memory", "weights_sha256", "ablation_path", "ablation_table", "seeds_path", "seed_table"]

# Bump when a code change alters what training computes (model numerics, init order, the
# training loop, batching, tokenization): the cache key includes it. tests/test_zoo.py
# checks a tiny recipe's trained weights against a recorded fingerprint to catch a missed bump.
ZOO_VERSION = 3
NO_CACHE_ENV = "S2S_NO_MODEL_CACHE"
SELECT = ("last", "valid_bleu")
#: Where the trained weights shipped with the package live (``make zoo`` writes them).
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"


@dataclass
class Recipe:
    """Everything that determines a zoo model.

    Attributes:
        name: identifier, e.g. ``"kor-eng-gru"``.
        max_len: longest sentence kept, in SentencePiece tokens (either side).
        src_vocab_size / tgt_vocab_size: SentencePiece vocabulary sizes asked for.
        model: keyword arguments of :class:`~s2s_lib.models.Seq2Seq` except the vocabulary sizes;
            with ``arch="transformer"``, those of :class:`~s2s_lib.transformer.Transformer`.
        batch_size: sentence pairs per batch (length-bucketed, new buckets every epoch).
        epochs: passes over the training split.
        lr: Adam's learning rate; multiplied by ``lr_decay`` after every epoch.
        lr_decay: per-epoch learning-rate factor (1 = constant).
        clip: gradient-norm clipping.
        teacher_forcing: teacher-forcing probability.
        reverse_source: the encoder reads the Korean tokens in reverse order (Sutskever et al.
            2014); it is part of the model's config, so the model is fed the source as written.
        normalize: the data regime: ``True`` the corpus normal form (lower case, punctuation
            split off), ``False`` the text as written, scored against the untouched references
            (:func:`~s2s_lib.data.prepare_translation`).
        label_smoothing: eps of the training loss (:func:`~s2s_lib.train.sequence_loss`).
        decay_after: epochs at the full learning rate before ``lr_decay`` starts.
        select: which weights to keep: ``"last"`` (the final epoch) or ``"valid_bleu"`` (early
            stopping: the epoch with the best greedy validation BLEU).
        patience: with ``select="valid_bleu"``, stop after this many epochs without a better
            validation BLEU (``None``: train all ``epochs``).
        average: checkpoint averaging: the kept weights are the mean of this many consecutive
            end-of-epoch weights, ending at the selected epoch (1 = no averaging).
        warmup: steps of linear learning-rate warm-up, after which the rate decays as
            ``lr * sqrt(warmup / step)`` (the shape of Vaswani et al.'s schedule,
            :func:`~s2s_lib.transformer.warmup_lr`, peaking at ``lr``); ``None``: no warm-up.
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
    normalize: bool = True
    label_smoothing: float = 0.0
    decay_after: int = 0
    select: str = "last"
    patience: int | None = None
    average: int = 1
    warmup: int | None = None
    seed: int = 0
    threads: int = 2
    description: str = ""

    def replace(self, **changes) -> "Recipe":
        """A copy with some fields changed (e.g. ``recipe.replace(epochs=2)``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of the fields."""
        return dataclasses.asdict(self)


# The translators (shipped weights). The text as written (cased, punctuated: BLEU against the
# untouched Tatoeba English), sentences of up to 24 SentencePiece tokens on either side (98 %
# of the 5,697 cleaned pairs: 4,545 train, 531 valid, 511 test), small subword vocabularies
# (1,200 Korean, 1,000 English pieces) and the low-resource practices of Sennrich & Zhang
# (2019): bidirectional encoder, dropout 0.3 and word dropout 0.1, tied target embeddings,
# label smoothing 0.1, batch 32, 80 epochs of Adam 2e-3 decaying by 0.95 per epoch after 10,
# early stopping on greedy validation BLEU. 80 rather than 50 epochs: with 50 the Luong model
# kept its 47th epoch, and 80 raised its beam-5 BLEU by about one point with both seeds tried
# (ablation_table("ko-en-luong")). scripts/translator_ablation.py measures each practice.
_TRANSLATOR = dict(emb_dim=256, hidden_dim=256, cell="gru", bidirectional=True, dropout=0.3, word_dropout=0.1,
                   tie_embeddings=True)
_TRANSLATOR_TRAINING = dict(normalize=False, max_len=24, src_vocab_size=1200, tgt_vocab_size=1000, batch_size=32,
                            lr=2e-3, lr_decay=0.95, decay_after=10, epochs=80, label_smoothing=0.1, select="valid_bleu",
                            clip=1.0, seed=0, threads=2)

# The Transformer on the translators' data: pre-LN, 2 + 2 layers of d = 256 with 4 heads and a
# feed-forward width of 512, dropout 0.3, tied embeddings, sinusoidal positions; Adam peaking at
# 1e-3 after 1,000 warm-up steps, then decaying as 1/sqrt(step); 40 epochs, early stopping on
# validation BLEU. (3 layers with a 1,024-wide feed-forward layer took 19 s per epoch here, too slow
# for the 15-minute budget of a shipped recipe.)
_TRANSFORMER = dict(arch="transformer", d_model=256, num_heads=4, num_layers=2, ff_dim=512, dropout=0.3,
                    positional="sinusoidal", norm_first=True, max_len=128, tie_embeddings=True)

# Sutskever, Vinyals & Le (2014) in miniature (the capstone chapter): no attention, a
# unidirectional LSTM of 4 layers in encoder and decoder, reading the source backwards; the
# translators' data, dropout, label smoothing, tied embeddings and schedule, but 50 epochs (80
# would take it past the 15 minutes allowed to a shipped recipe; ~12 minutes.)
_SUTSKEVER = dict(emb_dim=256, hidden_dim=256, cell="lstm", num_layers=4, bidirectional=False, attention=None,
                  dropout=0.3, word_dropout=0.1, tie_embeddings=True)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        *(Recipe(name=f"ko-en-{kind}", model=dict(_TRANSLATOR, attention=attention), description=text,
                 **_TRANSLATOR_TRAINING)
          for kind, attention, text in (
              ("bahdanau", "bahdanau", "the translator: bidirectional GRU encoder, Bahdanau attention"),
              ("context", None, "the translator's recipe without attention (context vector)"),
              ("luong", "general", "the translator's recipe with Luong 'general' attention"))),
        Recipe(name="ko-en-transformer", model=_TRANSFORMER,
               description="the translators' data and evaluation, a Transformer (chapter 10)",
               **dict(_TRANSLATOR_TRAINING, epochs=40, lr=1e-3, lr_decay=1.0, decay_after=0, warmup=1000)),
        Recipe(name="ko-en-lstm4", model=_SUTSKEVER, reverse_source=True,
               description="Sutskever et al. (2014) in miniature: 4-layer LSTMs, no attention, reversed source",
               **dict(_TRANSLATOR_TRAINING, epochs=50)),
    ]
}


#: The recipes whose trained weights ship with the package (``make zoo`` trains them).
SHIPPED: tuple[str, ...] = ("ko-en-bahdanau", "ko-en-context", "ko-en-luong", "ko-en-transformer", "ko-en-lstm4")


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
    check_real(r.label_smoothing, f"recipe {r.name!r}: label_smoothing", 0.0, below=1.0)
    check_int(r.decay_after, f"recipe {r.name!r}: decay_after", 0)
    check_int(r.average, f"recipe {r.name!r}: average")
    check_choice(r.select, f"recipe {r.name!r}: select", SELECT)
    if r.patience is not None:
        check_int(r.patience, f"recipe {r.name!r}: patience")
    if r.warmup is not None:
        check_int(r.warmup, f"recipe {r.name!r}: warmup")
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
                               tgt_vocab_size=r.tgt_vocab_size, normalize=r.normalize)


def recipe_key(recipe: str | Recipe, data: TranslationData | None = None) -> str:
    """Cache key: a hash of the recipe, the training data, the tokenizers, the torch version
    and :data:`ZOO_VERSION` -- everything that decides the trained weights, nothing else."""
    r = get_recipe(recipe)
    data = load_data(r) if data is None else data
    h = hashlib.sha256()
    meta = {"recipe": _recipe_fields(r), "zoo": ZOO_VERSION,
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


def recipe_model(recipe: str | Recipe, data: TranslationData | None = None):
    """A freshly initialised model of ``recipe`` for ``data`` (its tokenizers' vocabulary sizes):
    a :class:`~s2s_lib.models.Seq2Seq` or a :class:`~s2s_lib.transformer.Transformer`, with the
    recipe's ``reverse_source``. Its initial weights come from torch's random state."""
    r = get_recipe(recipe)
    return build_model(_recipe_config(r, load_data(r) if data is None else data))


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
            model = recipe_model(r, data)
            optimizer = default_optimizer(model, r.lr / r.warmup if r.warmup else r.lr)
            steps_per_epoch = len(data.batches("train", r.batch_size, seed=r.seed + 1))

            epochs = _EpochEnd(r, data, optimizer, steps_per_epoch)
            history = train(
                model,
                lambda epoch: data.batches("train", r.batch_size, seed=r.seed + epoch),  # the model reverses
                epochs=r.epochs, optimizer=optimizer, clip=r.clip,
                teacher_forcing=r.teacher_forcing, label_smoothing=r.label_smoothing, device="cpu",
                seed=r.seed, progress=progress, callbacks=[epochs],
            )
            model.load_state_dict(epochs.kept_weights(model))
            history.valid_bleu, history.selected_epoch = epochs.valid_bleu, epochs.selected_epoch
    finally:
        torch.set_num_threads(threads)
        random.setstate(py_state)
        np.random.set_state(np_state)
    model.eval()
    return model, history


class _EpochEnd:
    """The callback :func:`train_recipe` runs after every step; it acts at the end of each epoch.

    It decays the learning rate (after ``decay_after`` epochs), keeps the last ``average``
    end-of-epoch weights, and with ``select="valid_bleu"`` scores greedy validation BLEU,
    remembers the weights around the best epoch and stops after ``patience`` epochs without
    improvement.
    """

    def __init__(self, r: Recipe, data: TranslationData, optimizer, steps_per_epoch: int):
        self.r, self.data, self.optimizer, self.steps_per_epoch = r, data, optimizer, steps_per_epoch
        self.window: collections.deque = collections.deque(maxlen=r.average)
        self.valid_bleu: list[float] = []
        self.selected: list[dict] = []
        self.selected_epoch = 0

    def __call__(self, step, model, history) -> bool:
        if self.r.warmup:  # the rate of the next step
            for group in self.optimizer.param_groups:
                group["lr"] = self.r.lr * min((step + 1) / self.r.warmup, (self.r.warmup / (step + 1)) ** 0.5)
        if step % self.steps_per_epoch:
            return False
        epoch, r = step // self.steps_per_epoch, self.r
        if r.lr_decay != 1.0 and epoch > r.decay_after and not r.warmup:
            for group in self.optimizer.param_groups:
                group["lr"] *= r.lr_decay
        self.window.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if r.select == "last":
            self.selected, self.selected_epoch = list(self.window), epoch
            return False
        self.valid_bleu.append(_greedy_bleu(model, self.data, "valid"))
        model.train()
        if self.valid_bleu[-1] > max(self.valid_bleu[:-1], default=-1.0):
            self.selected, self.selected_epoch = list(self.window), epoch
        return r.patience is not None and epoch - self.selected_epoch >= r.patience

    def kept_weights(self, model) -> dict:
        """The mean of the selected window of end-of-epoch weights (the model's own if none)."""
        if not self.selected:
            return model.state_dict()
        return {k: sum(w[k] for w in self.selected) / len(self.selected) if self.selected[0][k].is_floating_point()
                else self.selected[-1][k] for k in self.selected[0]}


def _greedy_bleu(model, data: TranslationData, split: str) -> float:
    """sacreBLEU of greedy translations of a split (selection only: no interval)."""
    from sacrebleu.metrics import BLEU

    from s2s_lib.evaluate import translate_split

    hyps = translate_split(model, data, split, progress=False)
    return BLEU(force=data.normalized).corpus_score(hyps, [data.targets(split)]).score


_MEMORY: dict[str, dict] = {}  # key -> state_dict, so one process trains a recipe once


def clear_memory() -> None:
    """Forget the models :func:`get` keeps in this process (the disk cache stays)."""
    _MEMORY.clear()


def _recipe_config(r: Recipe, data: TranslationData):
    """The model config of a recipe: a Seq2SeqConfig, or a TransformerConfig for ``arch="transformer"``.

    ``reverse_source`` becomes part of the model (its encoder reads backwards), so every decoding
    function, ensemble and view feeds it the source as written.
    """
    fields = {**r.model, "src_vocab_size": data.src_tokenizer.vocab_size, "tgt_vocab_size": data.tgt_tokenizer.vocab_size}
    if r.reverse_source:
        if r.model.get("arch") == "transformer":
            raise ValueError(f"recipe {r.name!r}: reverse_source is for recurrent encoders, not the Transformer")
        fields["reverse_source"] = True
    return model_config(fields)


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


# --------------------------------------------------------------------------- shipped weights


def shipped_manifest() -> dict:
    """The manifest of the shipped weights: ``{"models": {name: entry}}`` (empty if none).

    Each entry holds the recipe's fields, :data:`ZOO_VERSION`, the torch version and
    training seconds, the sha256 and file name of the weights and both tokenizers, and the
    test scores measured from the shipped (float16) weights, with their signatures.
    """
    path = SHIPPED_DIR / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"models": {}}


_LATER_FIELDS = {"warmup": None}  # fields added after weights were shipped: left out at their default


def _recipe_fields(r: Recipe) -> dict:
    """The recipe as the manifest stores it (JSON types; the description is not part of it,
    nor a field added later that still has its default, so older entries keep matching)."""
    fields = {k: v for k, v in r.to_dict().items()
              if k != "description" and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}
    return json.loads(json.dumps(fields))


def _shipped_files(entry: dict) -> dict[str, Path]:
    return {kind: SHIPPED_DIR / entry[kind]["file"] for kind in ("weights", "src_tokenizer", "tgt_tokenizer")}


def load_shipped(recipe: str | Recipe):
    """The shipped model of ``recipe`` and its data, or ``None`` if it has none that fits.

    An entry fits when its recipe fields and zoo version equal the current ones. Every file
    is checked against its sha256 first; a damaged or missing file is reported (warning) and
    ``None`` is returned, so :func:`get` trains instead of using it.
    """
    r = get_recipe(recipe)
    entry = shipped_manifest()["models"].get(r.name)
    if entry is None or entry.get("zoo_version") != ZOO_VERSION or entry.get("recipe") != _recipe_fields(r):
        return None
    files = _shipped_files(entry)
    for kind, path in files.items():
        if not path.is_file() or _file_sha256(path) != entry[kind]["sha256"]:
            warnings.warn(f"the shipped {kind.replace('_', ' ')} of {r.name} is missing or damaged ({path}: "
                          "sha256 does not match the manifest); training the recipe instead")
            return None
    from s2s_lib.tokenize import SentencePieceTokenizer

    tokenizers = (SentencePieceTokenizer.load(files["src_tokenizer"]), SentencePieceTokenizer.load(files["tgt_tokenizer"]))
    data = prepare_translation(max_len=r.max_len, normalize=r.normalize, tokenizers=tokenizers)
    model, _ = load_checkpoint(files["weights"])
    if model.config != _recipe_config(r, data):
        warnings.warn(f"the shipped weights of {r.name} do not fit its recipe; training the recipe instead")
        return None
    return model, data


def ship(recipe: str | Recipe, *, progress: bool = True, slice_size: int = 64) -> dict:
    """Train ``recipe`` and write its weights (float16), tokenizers and manifest entry (``make zoo``).

    The test scores in the manifest are measured on the weights as shipped: greedy and beam-5
    sacreBLEU BLEU and chrF with 95 % intervals, and the greedy translations of the first
    ``slice_size`` test sentences, which ``tests/test_zoo.py`` reproduces from the files.
    The weights get two hashes: ``sha256`` of the file (checked before every load) and
    ``tensors_sha256`` of the tensors in it (:func:`weights_sha256`). Training is deterministic,
    so retraining on the same kind of machine reproduces ``tensors_sha256``; the file's bytes
    differ between runs, because ``torch.save`` writes a fresh serialization id into every file.
    Returns the manifest entry.
    """
    import time

    from s2s_lib.evaluate import score_translations, translate_split

    r = get_recipe(recipe)
    data = load_data(r)
    start = time.perf_counter()
    model, history = train_recipe(r, data, progress=progress)
    seconds = time.perf_counter() - start
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    files = {"weights": SHIPPED_DIR / f"{r.name}.pt", "src_tokenizer": SHIPPED_DIR / f"{r.name}.ko.model",
             "tgt_tokenizer": SHIPPED_DIR / f"{r.name}.en.model"}
    save_checkpoint(files["weights"], model, half=True, recipe=r.name)
    data.src_tokenizer.save(files["src_tokenizer"])
    data.tgt_tokenizer.save(files["tgt_tokenizer"])
    for path in files.values():
        path.chmod(0o644)  # package data: readable by everyone (temporary files are created 0600)
    shipped, _ = load_checkpoint(files["weights"])  # score what is shipped, not the float32 original
    refs = data.targets("test")
    scores = {}
    for method in ("greedy", "beam"):
        hyps = translate_split(shipped, data, "test", method=method, progress=False)
        scores[method] = dataclasses.asdict(score_translations(hyps, refs))
        if method == "greedy":
            first = hyps[:slice_size]
    full_precision = translate_split(model, data, "test", progress=False)  # what float16 storage costs
    scores["greedy_float32_bleu"] = score_translations(full_precision, refs).bleu
    entry = {"recipe": _recipe_fields(r), "zoo_version": ZOO_VERSION, "torch": torch.__version__,
             "train_seconds": round(seconds, 1), "threads": r.threads,
             "parameters": sum(p.numel() for p in shipped.parameters()),
             "selected_epoch": history.selected_epoch, "valid_bleu": history.valid_bleu,
             "test": scores, "test_slice": {"sentences": len(first), "greedy": first},
             **{kind: {"file": path.name, "sha256": _file_sha256(path)} for kind, path in files.items()}}
    entry["weights"]["tensors_sha256"] = weights_sha256(shipped)
    entry = json.loads(json.dumps(entry))  # as the manifest holds it (tuples become lists)
    manifest = shipped_manifest()
    manifest["models"][r.name] = entry
    text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomically(SHIPPED_DIR / "manifest.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    (SHIPPED_DIR / "manifest.json").chmod(0o644)
    return entry


def get(recipe: str | Recipe, *, progress: bool = False, cache: bool = True):
    """A trained model for ``recipe``: the shipped weights (:func:`load_shipped`) if the package
    has them, else the user cache, else trained (and cached).

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
    shipped = load_shipped(r)
    if shipped is not None:  # weights shipped with the package, checked against their sha256
        return shipped
    data = load_data(r)
    key = recipe_key(r, data)
    use_disk = cache and _cache_enabled()
    path = model_cache_dir() / f"{key}.pt"
    model = None
    if key in _MEMORY:
        with torch.random.fork_rng(devices=[]):  # the random init is overwritten anyway
            model = recipe_model(r, data)
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


def ablation_path(base: str = "ko-en-bahdanau") -> Path:
    """Where ``scripts/translator_ablation.py --base`` writes the ablation of a shipped recipe."""
    check_choice(base, "base", SHIPPED)
    return SHIPPED_DIR / ("ablation.json" if base == "ko-en-bahdanau" else f"ablation-{base}.json")


def ablation_table(base: str = "ko-en-bahdanau") -> str:
    """The ablation of a shipped recipe (``scripts/translator_ablation.py --base``), as a table.

    One row per variant: greedy test BLEU with its 95 % interval, chrF, and the difference to
    the full recipe with its paired-bootstrap p-value.
    """
    path = ablation_path(base)
    if not path.is_file():
        raise FileNotFoundError(f"no ablation for {base} ({path}); run scripts/translator_ablation.py --base {base}")
    ablation = json.loads(path.read_text(encoding="utf-8"))
    start = f"greedy test BLEU, from {ablation['base']} at {ablation['epochs']} epochs"
    width = max(len(start), *(len(label) for label in ablation["rows"]))
    lines = [f"{start:{width}s} {'BLEU [95% CI]':>19s} {'chrF':>6s} {'Δ':>6s} {'p':>6s}"]
    for label, row in ablation["rows"].items():
        s = row["score"]
        delta = f"{row['difference']:+.2f}" if "difference" in row else ""
        p = f"{row['p_value']:.3f}" if "p_value" in row else ""
        lines.append(f"{label:{width}s} {s['bleu']:6.1f} [{s['bleu_ci'][0]:4.1f}, {s['bleu_ci'][1]:4.1f}] {s['chrf']:6.1f} "
                     f"{delta:>6s} {p:>6s}")
    return "\n".join(lines)


def seeds_path() -> Path:
    """Where ``scripts/translator_ablation.py --seeds`` writes the seed study of the attention variants."""
    return SHIPPED_DIR / "seeds.json"


def seed_table() -> str:
    """The seed study (``scripts/translator_ablation.py --seeds``), as a table.

    Greedy test BLEU (95 % interval) of the context-vector, Bahdanau and Luong recipes with each
    seed, then every attention model against the context vector for every pairing of seeds:
    the BLEU difference and its paired-bootstrap p-value.
    """
    path = seeds_path()
    if not path.is_file():
        raise FileNotFoundError(f"no seed study ({path}); run scripts/translator_ablation.py --seeds")
    study = json.loads(path.read_text(encoding="utf-8"))
    seeds = [str(s) for s in study["seeds"]]
    lines = [f"{'greedy test BLEU [95% CI]':26s}" + "".join(f"{'seed ' + s:>22s}" for s in seeds)
             + f"   ({study['epochs']} epochs)"]
    for name, runs in study["runs"].items():
        lines.append(f"{name:26s}" + "".join(f"{runs[s]['bleu']:9.1f} [{runs[s]['bleu_ci'][0]:4.1f}, "
                                              f"{runs[s]['bleu_ci'][1]:4.1f}]" for s in seeds))
    lines.append("attention against the context vector, every pairing of seeds:")
    for pair in study["pairs"]:
        lines.append(f"  {pair['system']} seed {pair['system_seed']} vs {pair['baseline']} seed "
                     f"{pair['baseline_seed']}: {pair['difference']:+5.2f} BLEU, p = {pair['p_value']:.3f}")
    return "\n".join(lines)
