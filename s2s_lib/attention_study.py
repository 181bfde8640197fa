"""Studying trained attention (Chapter "Attention: Bahdanau and Luong").

Two kinds of tools for the attention chapters:

**The score-function comparison.** Five Korean -> English models that differ only in their
attention (none, Bahdanau's additive score, Luong's dot / general / concat), trained with
the same data (the shipped translators'), size, budget and seed:

* :data:`COMPARED` and :func:`comparison_recipe` -- the shared :class:`~s2s_lib.zoo.Recipe`
  (one place, so every notebook asks the model zoo for exactly the same models).
* :func:`train_comparison_model` -- train one of them *with* its training history (the
  loss and validation curves) and store the weights in the zoo's cache, so a later
  ``zoo.get(recipe)`` loads them instead of training again.

**Looking at attention weights.** A trained attention model gives, for every target word
it writes, a distribution over the source words: a *soft alignment* (Bahdanau, Cho &
Bengio 2015, Fig. 3).

* :func:`forced_attention` -- the weights of every decoder step while the decoder reads a
  *given* target (the reference, or another model's translation) instead of its own
  output. Several models fed the same target give matrices of the same shape, so their
  alignments can be compared cell by cell (the score-function toggle of
  :func:`s2s_lib.views.attention_explorer`). :func:`forced_attentions` does the same for many
  pairs at once, in batches.
* :func:`attention_item` -- one sentence, several models -> an ``attention_explorer`` item.
* :func:`argmax_alignment`, :func:`count_crossings` -- the hard alignment (the source word
  each target word attends to most) and how often it crosses itself: 0 for a monotonic
  (diagonal) alignment, more when word order changes (Korean SOV -> English SVO, or the
  weekday that moves from the end of a Korean date to the front of an English one).
* :func:`attention_entropy` -- how peaked each row is (0 nats = all weight on one word,
  ``log S`` = uniform).
"""
from __future__ import annotations

import numbers
from typing import Mapping, Sequence

import numpy as np
import torch

from s2s_lib import zoo
from s2s_lib.batching import pad_sequences
from s2s_lib.checks import check_choice, check_decoder_model, check_ids, check_int, inference, model_device
from s2s_lib.tokenize import SOS_ID

__all__ = ["COMPARED", "comparison_recipe", "train_comparison_model", "EOS_LABEL",
           "forced_attention", "forced_attentions", "attention_item", "argmax_alignment", "count_crossings",
           "attention_entropy", "transformer_attention_items"]

COMPARED = (None, "bahdanau", "dot", "general", "concat")
"""The attention types of the comparison: the context-vector baseline and the four scores."""

EOS_LABEL = "<eos>"  # label of the last row of a forced-attention matrix


def _attention_model(model, name: str = "model"):
    """``model`` if it is a decoder model with attention weights to show."""
    check_decoder_model(model, name)
    if getattr(model, "has_attention", True) is False:
        raise ValueError(f"{name} has no attention (attention=None): there are no weights to show")
    return model


def comparison_recipe(attention: str | None) -> zoo.Recipe:
    """The recipe of one model of the score-function comparison.

    All five share everything but ``attention``. The data are the shipped translators' (the
    ``ko-en-*`` recipes of chapter 9: the text as written, at most 24 SentencePiece tokens,
    1,200 Korean and 1,000 English pieces, 4,545 training pairs), so the comparison and the
    translators are measured on the same test sentences. The model and budget are small
    enough to train five in a notebook: a GRU encoder-decoder with 64-dimensional embeddings
    and 128 hidden units, dropout 0.2, Adam with learning rate 5e-3, batches of 32 sentence
    pairs, 3 epochs, seed 0. Validation BLEU is recorded after every epoch and the weights of
    the best epoch are kept (``select="valid_bleu"``), so the history holds the validation
    curve. Three epochs are the time budget, not convergence: validation BLEU is still rising
    then. Training uses one CPU thread: for models this small a second thread mostly adds
    synchronisation, and on a busy machine it makes training many times slower.

    Args:
        attention: one of :data:`COMPARED` (``None`` = no attention).
    Returns:
        A :class:`~s2s_lib.zoo.Recipe` named ``"attn-compare-<attention or none>"``.
    """
    check_choice(attention, "attention", COMPARED)
    translator = zoo.get_recipe("ko-en-context")  # the data of the shipped translators
    return zoo.Recipe(
        name=f"attn-compare-{attention or 'none'}",
        model=dict(emb_dim=64, hidden_dim=128, cell="gru", dropout=0.2, attention=attention),
        normalize=translator.normalize, max_len=translator.max_len,
        src_vocab_size=translator.src_vocab_size, tgt_vocab_size=translator.tgt_vocab_size,
        batch_size=32, epochs=3, lr=5e-3, lr_decay=1.0, clip=1.0, teacher_forcing=1.0,
        select="valid_bleu", reverse_source=False, seed=0, threads=1,
        description=f"score-function comparison: attention={attention!r}, 64/128 GRU, 3 epochs, "
                    "the translators' data",
    )


def train_comparison_model(attention: str | None, data=None, *, progress: bool = False):
    """Train one comparison model, keep its history, and put it in the zoo's cache.

    Training is :func:`s2s_lib.zoo.train_recipe` itself, so the weights are bit-for-bit the
    ones ``zoo.get(comparison_recipe(attention))`` would train; storing them in the cache
    lets later notebooks load them in a second.

    Args:
        attention: one of :data:`COMPARED`.
        data: the recipe's :class:`~s2s_lib.data.TranslationData` (loaded if ``None``).
        progress: show a progress bar while training.
    Returns:
        ``(model, history)``: the trained model (eval mode, CPU; the weights of the epoch
        with the best validation BLEU) and its :class:`~s2s_lib.train.History` (training
        loss per step, ``valid_bleu`` per epoch, ``selected_epoch``).
    """
    recipe = comparison_recipe(attention)
    data = zoo.load_data(recipe) if data is None else data
    model, history = zoo.train_recipe(recipe, data, progress=progress)
    zoo.store(recipe, data, model)
    return model, history


def forced_attention(model, src_ids: Sequence[int], tgt_ids: Sequence[int]) -> np.ndarray:
    """Attention weights of each decoder step while the decoder reads a given target.

    The decoder starts from ``<sos>`` and at step t is fed ``tgt_ids[t-1]`` (teacher
    forcing), whatever it would have predicted itself; row t holds the weights it uses to
    predict ``tgt_ids[t]``, and the last row those for predicting ``<eos>``.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` with attention (run in eval mode without
            gradients; its mode is restored).
        src_ids: the S source token ids (no special tokens), a list or 1-D tensor.
        tgt_ids: the T target token ids (no ``<sos>``/``<eos>``); may be empty.
    Returns:
        A float32 array (T + 1, S) whose rows sum to 1.
    Raises:
        TypeError: ``model`` is not a seq2seq model, ids are not integers.
        ValueError: the model has no attention, ``src_ids`` is empty, an id is outside the
            model's vocabulary.
    """
    return _forced_attentions(model, [src_ids], [tgt_ids], ["src_ids"], ["tgt_ids"], batch_size=1)[0]


def forced_attentions(model, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], *,
                      batch_size: int = 128) -> list[np.ndarray]:
    """:func:`forced_attention` of many sentence pairs, decoded ``batch_size`` pairs at a time.

    The same weights as one :func:`forced_attention` call per pair, up to float rounding
    (a batch pads its sources and targets; the padding gets no weight and its rows are dropped),
    in a fraction of the time.

    Args:
        model: a decoder model with attention, as for :func:`forced_attention`.
        sources / targets: equally many source and target id sequences.
        batch_size: pairs per batch.
    Returns:
        One float32 array (T_i + 1, S_i) per pair, in order.
    """
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise TypeError(f"sources must be a sequence of id sequences, got {type(sources).__name__}")
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence):
        raise TypeError(f"targets must be a sequence of id sequences, got {type(targets).__name__}")
    if len(sources) != len(targets):
        raise ValueError(f"sources has {len(sources)} sequences but targets has {len(targets)}")
    names = range(len(sources))
    return _forced_attentions(model, sources, targets, [f"sources[{i}]" for i in names],
                              [f"targets[{i}]" for i in names], batch_size=check_int(batch_size, "batch_size", minimum=1))


def _forced_attentions(model, sources, targets, src_names, tgt_names, *, batch_size: int) -> list[np.ndarray]:
    _attention_model(model)
    srcs = [check_ids(s, name, empty=False) for s, name in zip(sources, src_names)]
    tgts = [check_ids(t, name) for t, name in zip(targets, tgt_names)]
    vocab = getattr(model, "tgt_vocab_size", None)
    for tgt, name in zip(tgts, tgt_names):
        if isinstance(vocab, int) and tgt and max(tgt) >= vocab:
            raise ValueError(f"{name} holds ids outside the target vocabulary [0, {vocab}) "
                             f"(max {max(tgt)}); was it encoded with the source tokenizer?")
    device = model_device(model)
    out = []
    with inference(model):
        for start in range(0, len(srcs), batch_size):
            src, tgt = srcs[start:start + batch_size], tgts[start:start + batch_size]
            src_t = pad_sequences(src).to(device)  # (B, S)
            tgt_t = pad_sequences([[SOS_ID] + t for t in tgt]).to(device)  # (B, T + 1): the inputs fed
            memory = model.encode(src_t, torch.tensor([len(s) for s in src], device=device))
            state, rows = memory.init_state, []
            for t in range(tgt_t.size(1)):
                step = model.decode_step(tgt_t[:, t], state, memory)
                if step.weights is None:
                    raise ValueError("model returned no attention weights (attention=None)")
                rows.append(step.weights.float().cpu())  # (B, S)
                state = step.state
            weights = torch.stack(rows, 1).numpy()  # (B, T + 1, S)
            out += [weights[b, :len(t) + 1, :len(s)] for b, (s, t) in enumerate(zip(src, tgt))]
    return out


def attention_item(models: Mapping[str, object], src_ids: Sequence[int], tgt_ids: Sequence[int],
                   src_tokenizer, tgt_tokenizer, *, name: str | None = None) -> dict:
    """One sentence pair seen by several attention models, as an ``attention_explorer`` item.

    Every model reads the same target (:func:`forced_attention`), so all weight matrices
    have the same shape (T + 1, S) and the view can toggle between them.

    Args:
        models: display name (e.g. the score function) -> model; at least one.
        src_ids: source ids. tgt_ids: target ids (the reference, or one model's output).
        src_tokenizer / tgt_tokenizer: tokenizers with ``pieces(ids)`` and ``decode(ids)``.
        name: label in the sentence picker (default: the decoded source sentence).
    Returns:
        ``{"name", "src_tokens", "tgt_tokens" (T pieces + "<eos>"), "weights": {model name:
        (T + 1, S) array}}``, ready for :func:`s2s_lib.views.attention_explorer`.
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict of name -> model")
    for key in models:
        if not isinstance(key, str):
            raise TypeError(f"models keys must be str (shown in the view), got {type(key).__name__}")
    for tok_name, tok in (("src_tokenizer", src_tokenizer), ("tgt_tokenizer", tgt_tokenizer)):
        if not callable(getattr(tok, "pieces", None)) or not callable(getattr(tok, "decode", None)):
            raise TypeError(f"{tok_name} must have pieces() and decode(), got {type(tok).__name__}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {type(name).__name__}")
    src, tgt = check_ids(src_ids, "src_ids", empty=False), check_ids(tgt_ids, "tgt_ids")
    weights = {key: forced_attention(_attention_model(model, f"models[{key!r}]"), src, tgt)
               for key, model in models.items()}
    return {
        "name": name if name is not None else src_tokenizer.decode(src),
        "src_tokens": list(src_tokenizer.pieces(src)),
        "tgt_tokens": list(tgt_tokenizer.pieces(tgt)) + [EOS_LABEL],
        "weights": weights,
    }


def _as_matrix(weights, name: str = "weights") -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    try:
        m = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (T, S) array of numbers") from None
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (T, S), got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return m


def argmax_alignment(weights) -> list[int]:
    """The hard alignment: for each target row, the source position with the largest weight.

    Args:
        weights: (T, S) attention matrix (array, tensor or nested lists).
    Returns:
        T source positions (ties go to the first position).
    """
    return [int(j) for j in _as_matrix(weights).argmax(axis=1)]


def count_crossings(alignment: Sequence[int]) -> int:
    """Number of crossing pairs in a hard alignment.

    Target positions ``i < j`` cross when they attend in the opposite order,
    ``alignment[i] > alignment[j]``. A monotonic (diagonal or staircase) alignment has 0
    crossings; a reversal of n words has n(n-1)/2.

    Args:
        alignment: source position per target position, e.g. from :func:`argmax_alignment`.
    """
    if isinstance(alignment, (str, bytes)) or not isinstance(alignment, Sequence):
        raise TypeError(f"alignment must be a list of int, got {type(alignment).__name__}")
    for i, a in enumerate(alignment):
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"alignment[{i}] must be an int source position, got {type(a).__name__}")
    a = list(alignment)
    return sum(1 for i in range(len(a)) for j in range(i + 1, len(a)) if a[i] > a[j])


def attention_entropy(weights) -> np.ndarray:
    """Entropy (in nats) of each row of an attention matrix: how spread out it is.

    ``H = -sum_s a_s log a_s`` is 0 when all weight sits on one source word and
    ``log S`` when it is uniform over S words.

    Args:
        weights: (T, S) matrix whose rows are distributions (non-negative, summing to 1).
    Returns:
        A float64 array (T,).
    Raises:
        ValueError: negative weights, or a row that does not sum to 1 (within 1e-3).
    """
    m = _as_matrix(weights)
    if (m < 0).any():
        raise ValueError("weights must be non-negative (rows are distributions)")
    sums = m.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"each row of weights must sum to 1; row {bad} sums to {sums[bad]:.4f}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(m > 0, -m * np.log(m), 0.0)  # 0 log 0 = 0
    return terms.sum(axis=1)


def transformer_attention_items(model, src_ids: Sequence[int], tgt_ids: Sequence[int], src_tokenizer,
                                tgt_tokenizer, *, name: str | None = None) -> dict:
    """One sentence pair seen by a :class:`~s2s_lib.transformer.Transformer`, as three
    ``attention_explorer`` items whose "score functions" are the layers and heads.

    Returns:
        ``{"cross": item, "encoder": item, "decoder": item}``: cross-attention (rows: the
        target positions, ``tgt_ids`` pieces + ``<eos>``; columns: the source pieces), encoder
        self-attention (source x source) and decoder self-attention (target x target, with
        ``<sos>`` + the pieces as the columns). Each item's ``weights`` maps
        ``"layer l, head h"`` (and ``"layer l, mean of heads"``) to the matrix.
    """
    if not callable(getattr(model, "attention_maps", None)):
        raise TypeError(f"model must be a Transformer (with attention_maps), got {type(model).__name__}")
    for tok_name, tok in (("src_tokenizer", src_tokenizer), ("tgt_tokenizer", tgt_tokenizer)):
        if not callable(getattr(tok, "pieces", None)) or not callable(getattr(tok, "decode", None)):
            raise TypeError(f"{tok_name} must have pieces() and decode(), got {type(tok).__name__}")
    src, tgt = check_ids(src_ids, "src_ids", empty=False), check_ids(tgt_ids, "tgt_ids")
    maps = model.attention_maps(src, tgt)
    src_pieces, tgt_pieces = src_tokenizer.pieces(src), tgt_tokenizer.pieces(tgt)
    rows = {"cross": (tgt_pieces + ["<eos>"], src_pieces), "encoder": (src_pieces, src_pieces),
            "decoder": (tgt_pieces + ["<eos>"], ["<sos>"] + tgt_pieces)}
    label = name if name is not None else src_tokenizer.decode(src)
    items = {}
    for kind, (row_tokens, col_tokens) in rows.items():
        weights = {}
        for layer, heads in enumerate(maps[kind], start=1):
            weights[f"layer {layer}, mean of heads"] = heads.mean(axis=0)
            for head, w in enumerate(heads, start=1):
                weights[f"layer {layer}, head {head}"] = w
        items[kind] = {"name": label, "src_tokens": col_tokens, "tgt_tokens": row_tokens, "weights": weights}
    return items
