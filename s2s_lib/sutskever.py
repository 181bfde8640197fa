"""Sutskever, Vinyals & Le (2014) in miniature (the capstone chapter).

The paper's results at this corpus's scale, on the translators' data and evaluation:

* **Depth and reversal.** :func:`study_recipes` defines the LSTM encoder-decoders of the study
  (no attention, 1 to 4 layers, the source read backwards; and the 4-layer model reading the
  source as written, with three seeds each way). ``scripts/sutskever_study.py`` trains them once
  (about an hour and a half on 2 cores, far beyond a notebook) and stores each model's scores, greedy test
  translations and per-sentence losses in ``s2s_lib/weights/sutskever.json``;
  :func:`study` reads it, :func:`depth_table` and :func:`reversal_table` print it. The 4-layer
  reversed model of seed 0 is the shipped ``ko-en-lstm4``.
* **n-best rescoring.** :func:`nbest` keeps the ``n`` best hypotheses of the batched beam search,
  :func:`forced_log_probs` scores every hypothesis under another model (forced decoding),
  :func:`rescore` picks each sentence's best weighted sum of such scores, and :func:`oracle` picks, per sentence, the hypothesis closest to the reference:
  the best any rescoring of the list could do (Sutskever et al. rescored the 1000-best lists of a
  phrase-based system with their LSTMs).

Ensembles are :class:`s2s_lib.ensemble.Ensemble`; the decoding itself is :mod:`s2s_lib.beam`.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

from s2s_lib import zoo
from s2s_lib.batching import make_batch
from s2s_lib.beam import Hypothesis, beam_search
from s2s_lib.checks import check_decoder_model, check_int, check_real, check_type
from s2s_lib.evaluate import paired_bootstrap, sentence_nll

__all__ = ["STUDY_BASE", "STUDY_PATH", "study_recipes", "study", "depth_table", "reversal_table",
           "split_perplexity", "nbest", "forced_log_probs", "rescore", "oracle"]

#: The shipped model every study row varies: 4 layers, reversed source, seed 0.
STUDY_BASE = "ko-en-lstm4"
#: Where ``scripts/sutskever_study.py`` writes the study.
STUDY_PATH = zoo.SHIPPED_DIR / "sutskever.json"
DEPTHS = (1, 2, 3, 4)
SEEDS = (0, 1, 2)


def _label(layers: int, reverse: bool, seed: int) -> str:
    return f"{layers} layer{'s' if layers > 1 else ''}, {'reversed' if reverse else 'as written'}, seed {seed}"


def study_recipes() -> dict[str, zoo.Recipe]:
    """label -> recipe of every model in the study, in training order.

    The depth rows (1-4 layers, reversed, seed 0), then the reversal rows (4 layers, the source
    as written or reversed, seeds 0-2). Every recipe is :data:`STUDY_BASE` with the layers, the
    reversal or the seed changed; ``"4 layers, reversed, seed 0"`` is that recipe itself.
    """
    base = zoo.get_recipe(STUDY_BASE)
    rows = {}
    for layers, reverse, seed in [*((n, True, 0) for n in DEPTHS),
                                  *((4, rev, s) for s in SEEDS for rev in (False, True))]:
        label = _label(layers, reverse, seed)
        if label in rows:
            continue
        if (layers, reverse, seed) == (base.model["num_layers"], base.reverse_source, base.seed):
            rows[label] = base
        else:
            rows[label] = base.replace(name=f"{STUDY_BASE}-study", model=dict(base.model, num_layers=layers),
                                       reverse_source=reverse, seed=seed)
    return rows


def study() -> dict:
    """The stored study: ``{"rows": {label: row}, "signature": ..., "seconds": ...}``.

    Each row has the recipe, ``layers``, ``reverse_source``, ``seed``, ``parameters``,
    ``train_seconds``, ``selected_epoch``, ``valid_ppl``/``test_ppl``, ``score`` (greedy test
    BLEU and chrF with 95 % intervals), ``hyps`` (the 511 greedy test translations) and ``nll``
    (per test sentence: ``first``, ``later``, ``n_later``, as :func:`~s2s_lib.evaluate.sentence_nll`).
    """
    if not STUDY_PATH.is_file():
        raise FileNotFoundError(f"no study at {STUDY_PATH}; run scripts/sutskever_study.py")
    return json.loads(STUDY_PATH.read_text(encoding="utf-8"))


def split_perplexity(nll: Mapping, which: str = "all", sentences: Sequence[int] | None = None) -> float:
    """Perplexity of a study row's per-sentence losses (``row["nll"]``): over ``"all"`` target tokens,
    the ``"first"`` English token of each sentence only, or the ``"later"`` ones; over every
    sentence or only the ``sentences`` given (indices into the split)."""
    if which not in ("all", "first", "later"):
        raise ValueError(f"which must be 'all', 'first' or 'later', got {which!r}")
    first, later, n_later = (np.asarray(nll[k], dtype=float) for k in ("first", "later", "n_later"))
    if sentences is not None:
        index = np.asarray(list(sentences), dtype=int)
        if index.size == 0:
            raise ValueError("sentences is empty")
        first, later, n_later = first[index], later[index], n_later[index]
    if which == "first":
        return math.exp(first.mean())
    if which == "later":
        return math.exp(later.sum() / n_later.sum())
    return math.exp((first.sum() + later.sum()) / (len(first) + n_later.sum()))


def _ci(score: Mapping) -> str:
    return f"{score['bleu']:5.1f} [{score['bleu_ci'][0]:4.1f}, {score['bleu_ci'][1]:4.1f}]"


def depth_table(results: dict | None = None, references: Sequence[str] | None = None) -> str:
    """1-4 layers (reversed source, seed 0): parameters, training, valid/test perplexity, greedy
    test BLEU [95 % CI], chrF, and the BLEU change from the previous depth with its paired p."""
    rows = (results or study())["rows"]
    lines = [f"{'layers':>6s} {'parameters':>10s} {'training':>8s} {'epoch':>5s} {'valid PPL':>9s} {'test PPL':>8s} "
             f"{'BLEU [95% CI]':>18s} {'chrF':>5s} {'Δ BLEU':>7s} {'p':>6s}"]
    previous = None
    for layers in DEPTHS:
        row = rows.get(_label(layers, True, 0))
        if row is None:
            continue
        delta = p = ""
        if previous is not None and references is not None:
            test = paired_bootstrap(previous["hyps"], row["hyps"], references)
            delta, p = f"{test['difference']:+.2f}", f"{test['p_value']:.3f}"
        lines.append(f"{layers:6d} {row['parameters'] / 1e6:9.2f}M {row['train_seconds']:7.0f}s "
                     f"{row['selected_epoch']:5d} {row['valid_ppl']:9.2f} {row['test_ppl']:8.2f} {_ci(row['score'])} "
                     f"{row['score']['chrf']:5.1f} {delta:>7s} {p:>6s}")
        previous = row
    return "\n".join(lines)


def reversal_table(results: dict | None = None, references: Sequence[str] | None = None) -> str:
    """4 layers, the source as written vs reversed, per seed: test perplexity (all tokens, the first
    English token, later tokens), greedy test BLEU, and reversed - as written with its paired p."""
    rows = (results or study())["rows"]
    lines = [f"{'seed':>4s} {'':10s} {'test PPL':>8s} {'1st token':>9s} {'later':>6s} {'BLEU [95% CI]':>18s} "
             f"{'chrF':>5s} {'Δ BLEU':>7s} {'p':>6s}"]
    for seed in SEEDS:
        written, reverse = rows.get(_label(4, False, seed)), rows.get(_label(4, True, seed))
        for name, row in (("as written", written), ("reversed", reverse)):
            if row is None:
                continue
            delta = p = ""
            if name == "reversed" and written is not None and references is not None:
                test = paired_bootstrap(written["hyps"], row["hyps"], references)
                delta, p = f"{test['difference']:+.2f}", f"{test['p_value']:.3f}"
            lines.append(f"{seed:4d} {name:10s} {split_perplexity(row['nll'], 'all'):8.2f} {split_perplexity(row['nll'], 'first'):9.2f} "
                         f"{split_perplexity(row['nll'], 'later'):6.2f} {_ci(row['score'])} {row['score']['chrf']:5.1f} "
                         f"{delta:>7s} {p:>6s}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- n-best rescoring


def nbest(model, sources: Sequence[Sequence[int]], *, beam_size: int = 12, n_best: int | None = None,
          batch_size: int = 64, max_len: int = 50) -> list[list[Hypothesis]]:
    """The ``n_best`` best hypotheses of the batched beam search for every source sentence.

    Args:
        model: a model with the decoding interface (a ``Seq2Seq``, ``Transformer`` or ``Ensemble``).
        sources: source token ids, one list per sentence (e.g. ``data.encoded("test")[0]``).
        beam_size, max_len: as in :func:`~s2s_lib.beam.beam_search` (default length penalty).
        n_best: hypotheses kept per sentence (default: the beam size).
        batch_size: sentences searched at once.
    Returns:
        Per sentence, its :class:`~s2s_lib.beam.Hypothesis` list as the search ranks it: the
        finished hypotheses best first by the (length-normalised) score, then any cut off at
        ``max_len``; ``h.raw_score`` is ``log p(y | x)``.
    """
    check_decoder_model(model)
    n_best = beam_size if n_best is None else check_int(n_best, "n_best")
    batch_size = check_int(batch_size, "batch_size")
    out = []
    for start in range(0, len(sources), batch_size):
        chunk = [list(ids) for ids in sources[start:start + batch_size]]
        batch = make_batch(chunk, [[] for _ in chunk])
        out += beam_search(model, batch.src, batch.src_lengths, max_len, beam_size=beam_size,
                           n_best=n_best).hypotheses
    return out


def forced_log_probs(model, lists: Sequence[Sequence[Hypothesis]], sources: Sequence[Sequence[int]], *,
                     batch_size: int = 256) -> list[np.ndarray]:
    """``log p(y | x)`` of every hypothesis ``y`` of every n-best list under ``model`` (forced decoding).

    The sum over ``y``'s tokens and ``<eos>`` of the model's log-probabilities with the hypothesis
    as the teacher-forced input (:func:`~s2s_lib.evaluate.sentence_nll`). ``model`` must read the
    sources' tokenizer and write the hypotheses' one (any of the zoo's translators, or an
    :class:`~s2s_lib.ensemble.Ensemble`). Returns one array per sentence, in the lists' order.
    """
    check_decoder_model(model)
    batch_size = check_int(batch_size, "batch_size")
    if len(lists) != len(sources):
        raise ValueError(f"lists has {len(lists)} sentences but sources has {len(sources)}")
    if any(len(hyps) == 0 for hyps in lists):
        raise ValueError("every n-best list needs at least one hypothesis")
    flat_src = [list(sources[i]) for i, hyps in enumerate(lists) for _ in hyps]
    flat_hyp = [list(h.tokens) for hyps in lists for h in hyps]
    logp = []
    for start in range(0, len(flat_hyp), batch_size):
        batch = make_batch(flat_src[start:start + batch_size], flat_hyp[start:start + batch_size])
        nll = sentence_nll(model, [batch])
        logp.append(-(nll["first"] + nll["later"]))
    flat = np.concatenate(logp)
    bounds = np.cumsum([0] + [len(hyps) for hyps in lists])
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def rescore(lists: Sequence[Sequence[Hypothesis]], features: Mapping[str, Sequence[np.ndarray]],
            weights: Mapping[str, float], *, length_bonus: float = 0.0) -> list[int]:
    """Pick each sentence's hypothesis by a weighted sum of scores.

    Hypothesis ``j`` of sentence ``i`` scores ``sum_m weights[m] * features[m][i][j] +
    length_bonus * |y|``. The features are typically :func:`forced_log_probs` of several models;
    the name ``"beam"`` needs no feature: it is the beam's own length-normalised score.

    Returns:
        Per sentence the index of the chosen hypothesis (the first of equal scores: the beam's order).
    """
    check_type(features, "features", Mapping, "a mapping name -> per-sentence score arrays")
    check_type(weights, "weights", Mapping, "a mapping name -> weight")
    if not weights:
        raise ValueError("weights is empty: give at least one feature (or 'beam') to score with")
    for name, weight in weights.items():
        if name != "beam" and name not in features:
            raise ValueError(f"weights names {name!r}, which is neither in features {sorted(features)} nor 'beam'")
        check_real(weight, f"weights[{name!r}]")
        if name != "beam" and (len(features[name]) != len(lists) or
                               any(len(f) != len(h) for f, h in zip(features[name], lists))):
            raise ValueError(f"features[{name!r}] does not have one score per hypothesis of lists")
    check_real(length_bonus, "length_bonus")
    choice = []
    for i, hyps in enumerate(lists):
        if not hyps:
            raise ValueError(f"lists[{i}] is empty: every n-best list needs at least one hypothesis")
        total = length_bonus * np.array([len(h.tokens) for h in hyps], dtype=float)
        for name, weight in weights.items():
            value = np.array([h.score for h in hyps]) if name == "beam" else np.asarray(features[name][i], dtype=float)
            total = total + weight * value
        choice.append(int(np.argmax(total)))
    return choice


def oracle(lists: Sequence[Sequence[Hypothesis]], references: Sequence[str], detokenize) -> list[int]:
    """Per sentence, the hypothesis of its n-best list with the highest sentence BLEU against the
    reference (sacreBLEU's sentence BLEU, exp smoothing): the choice a perfect rescorer would make.

    ``detokenize`` turns target ids into text (``data.tgt_tokenizer.decode``).
    """
    from sacrebleu.metrics import BLEU

    if len(lists) != len(references):
        raise ValueError(f"lists has {len(lists)} sentences but references has {len(references)}")
    bleu = BLEU(effective_order=True)
    return [int(np.argmax([bleu.sentence_score(detokenize(h.tokens), [ref]).score for h in hyps]))
            for hyps, ref in zip(lists, references)]
