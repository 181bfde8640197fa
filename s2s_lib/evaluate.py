"""Evaluating a trained translator (Chapters "Encoder-decoder: the context vector" and "Attention").

The pieces every chapter that trains a Korean -> English model needs after training:

* :func:`translate_split` -- greedy (or sampled) translations of a whole split, in the order
  of ``data.targets(split)``, ready for BLEU.
* :func:`bleu_score` -- corpus BLEU of :mod:`s2s_lib.bleu` (identical to sacrebleu; print
  ``.signature()`` next to the number).
* :func:`bleu_by_length` -- corpus BLEU per source-length bucket: the "BLEU vs sentence
  length" curve of Cho et al. (2014, "On the Properties of Neural Machine Translation:
  Encoder-Decoder Approaches", Fig. 4) and Bahdanau, Cho & Bengio (2015, "Neural Machine
  Translation by Jointly Learning to Align and Translate", Fig. 2), which shows the
  context vector becoming a bottleneck as sentences grow.
* :func:`context_vectors` and :func:`pca_2d` -- the encoder's summary of each sentence and
  a 2-D principal-component projection of it, as in Sutskever, Vinyals & Le (2014,
  "Sequence to Sequence Learning with Neural Networks", Fig. 2).
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from s2s_lib.bleu import BLEUScore, corpus_bleu
from s2s_lib.checks import (check_batches, check_bool, check_choice, check_decoder_model, check_int, check_strings,
                            inference)
from s2s_lib.batching import pad_sequences
from s2s_lib.decode import beam_search, encode_sentences, greedy_decode, sample_decode

__all__ = [
    "translate_split",
    "bleu_score",
    "TranslationScore",
    "score_translations",
    "paired_bootstrap",
    "bleu_by_length",
    "sentence_nll",
    "context_vectors",
    "pca_2d",
]


# --------------------------------------------------------------------------- translating


def translate_split(model, data, split: str = "test", *, method: str = "greedy",
                    max_len: int | None = None, batch_size: int = 128,
                    reverse_source: bool = False, progress: bool = True,
                    **decode_kw) -> list[str]:
    """Translate every Korean sentence of a split; one English string per pair, in order.

    The batches keep the split's order (no bucketing, no shuffling), so ``hypotheses[i]``
    is the translation of ``data.sources(split)[i]`` and lines up with
    ``data.targets(split)[i]``.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (anything with ``encode``/``decode_step``).
        data: the :class:`~s2s_lib.data.TranslationData` the model was trained on (its
            tokenizers are needed).
        split: "train", "valid" or "test".
        method: "greedy" (:func:`~s2s_lib.decode.greedy_decode`), "sample"
            (:func:`~s2s_lib.decode.sample_decode`; pass ``generator=`` etc. in
            ``decode_kw``) or "beam" (:func:`s2s_lib.beam.beam_search`; e.g.
            ``beam_size=5`` in ``decode_kw``).
        max_len: most output tokens per sentence (the ``<eos>`` step included); default
            ``2 * data.max_len + 2``, room for any reference of the split plus slack.
        batch_size: sentences decoded together.
        reverse_source: feed each source reversed (for a model trained with
            ``reverse_source=True``, Sutskever et al. 2014).
        progress: show a tqdm bar over the batches.
        **decode_kw: passed on to the decoding function (e.g. ``temperature=0.7``).
    Returns:
        The detokenised English hypotheses, in the form of the split's references: the text
        as written for the translators (``data.normalized`` False), the corpus normal form
        (lower case, punctuation split off) otherwise.
    """
    from s2s_lib.data import SPLITS

    check_decoder_model(model)
    if not all(hasattr(data, attr) for attr in ("batches", "targets", "tgt_tokenizer", "max_len")):
        raise TypeError(f"data must be a TranslationData, got {type(data).__name__}")
    check_choice(split, "split", SPLITS)
    decoders = {"greedy": greedy_decode, "sample": sample_decode, "beam": beam_search}
    check_choice(method, "method", sorted(decoders))
    max_len = check_int(2 * int(data.max_len) + 2 if max_len is None else max_len, "max_len")
    batch_size = check_int(batch_size, "batch_size")
    check_bool(reverse_source, "reverse_source")

    batches = data.batches(split, batch_size, bucketing=False, shuffle=False,
                           reverse_source=reverse_source)
    hypotheses: list[str] = []
    for batch in tqdm(batches, desc=f"translate {split}", unit="batch", disable=not progress):
        result = decoders[method](model, batch.src, batch.src_lengths, max_len, **decode_kw)
        hypotheses += [data.tgt_tokenizer.decode(ids) for ids in result.tokens]
    if len(hypotheses) != len(data.targets(split)):  # would mean the batches reordered pairs
        raise RuntimeError(f"translated {len(hypotheses)} sentences for {len(data.targets(split))} pairs")
    return hypotheses


# --------------------------------------------------------------------------- BLEU


def _hyps_and_refs(hypotheses, references, name: str = "hypotheses") -> tuple[list[str], list[str]]:
    hypotheses, references = check_strings(hypotheses, name), check_strings(references, "references")
    if not hypotheses:
        raise ValueError(f"{name} is empty: BLEU needs at least one sentence")
    if len(hypotheses) != len(references):
        raise ValueError(f"references has {len(references)} sentences but {name} has "
                         f"{len(hypotheses)}; give exactly one reference per hypothesis")
    return hypotheses, references


def bleu_score(hypotheses: Sequence[str], references: Sequence[str], *,
               tokenize: str = "13a") -> BLEUScore:
    """Corpus BLEU of hypotheses against one reference each (:func:`s2s_lib.bleu.corpus_bleu`).

    The English is either the text as written (the translators: ``13a`` tokenizes it as
    sacreBLEU always does) or the corpus normal form (punctuation split off, lower case on
    both sides), where ``13a`` changes nothing; sacreBLEU's "looks tokenized" warning is
    silenced (``force=True``) because that form is deliberate. ``force`` changes no score.

    Args:
        hypotheses: system outputs, one string per sentence.
        references: one reference string per hypothesis (same order).
        tokenize: "13a" (default, WMT's), "char" or "none".
    Returns:
        A :class:`~s2s_lib.bleu.BLEUScore`: ``.score`` on the 0-100 scale, ``.signature()``
        naming the options (print it with the score).
    """
    hypotheses, references = _hyps_and_refs(hypotheses, references)
    return corpus_bleu(hypotheses, [references], tokenize=tokenize, force=True)


@dataclass(frozen=True)
class TranslationScore:
    """sacreBLEU's BLEU and chrF of a system, each with a 95 % bootstrap interval.

    Attributes:
        bleu, chrf: corpus scores (0-100) on the detokenised, cased text.
        bleu_ci, chrf_ci: ``(low, high)``: sacreBLEU's bootstrap mean +- its 95 % half-width
            (``n_bootstrap`` resampled test sets, seed 12345).
        bleu_signature, chrf_signature: sacreBLEU's signatures; print them with the numbers.
        sentences: test sentences scored.
    """

    bleu: float
    bleu_ci: tuple[float, float]
    chrf: float
    chrf_ci: tuple[float, float]
    bleu_signature: str
    chrf_signature: str
    sentences: int

    def __str__(self) -> str:
        return (f"BLEU {self.bleu:.1f} [{self.bleu_ci[0]:.1f}, {self.bleu_ci[1]:.1f}]  "
                f"chrF {self.chrf:.1f} [{self.chrf_ci[0]:.1f}, {self.chrf_ci[1]:.1f}]")


def score_translations(hypotheses: Sequence[str], references: Sequence[str], *,
                       n_bootstrap: int = 1000) -> TranslationScore:
    """BLEU and chrF with 95 % intervals, computed by sacreBLEU itself (Post 2018).

    The text must be what a reader sees: detokenised, cased output against the untouched
    references (``TranslationData.targets`` with ``normalize=False``). sacreBLEU then
    tokenises both sides the same way (``13a``) -- the comparable, published setting.
    The intervals come from sacreBLEU's bootstrap resampling of the test set (Koehn 2004).

    Args:
        hypotheses: system outputs, one string per sentence.
        references: one reference per hypothesis.
        n_bootstrap: resampled test sets for the intervals (>= 100).
    """
    from sacrebleu.metrics import BLEU, CHRF

    hypotheses, references = _hyps_and_refs(hypotheses, references)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", 100)
    out = {}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF())):
        with warnings.catch_warnings():  # the bootstrap seed note goes to sacrebleu's logger only
            result = metric.corpus_score(hypotheses, [references], n_bootstrap=n_bootstrap)
        mean, half = float(result._mean), float(result._ci)
        out[name] = (float(result.score), (mean - half, mean + half), str(metric.get_signature()))
    return TranslationScore(out["bleu"][0], out["bleu"][1], out["chrf"][0], out["chrf"][1],
                            out["bleu"][2], out["chrf"][2], len(hypotheses))


def paired_bootstrap(baseline: Sequence[str], system: Sequence[str], references: Sequence[str], *,
                     n_samples: int = 1000) -> dict:
    """Is ``system`` better than ``baseline`` on this test set? sacreBLEU's paired bootstrap test.

    Both systems are scored on the same ``n_samples`` resampled test sets (Koehn 2004; the
    Moses ``bootstrap-hypothesis-difference-significance.pl`` test, as ``sacrebleu
    --paired-bs``). The test is two-sided: p is the share of resamples (+1 smoothing) whose
    centred absolute difference exceeds the observed absolute difference, so p < 0.05 says
    the two systems differ on test sets like this one, and the sign of ``difference`` says
    which is better.

    Two identical lists of hypotheses get ``p = 1`` here. sacreBLEU would report the smallest
    p, 1/(n+1), on purpose (it counts resamples whose difference *exceeds* the observed one,
    and with identical systems none does: "a zero difference should not be attributed to
    chance"); read as a p-value, that would call two equal systems significantly different.

    Returns:
        ``{"bleu": (baseline, system), "difference": system - baseline, "p_value": p,
        "chrf": (baseline, system), "chrf_p_value": p, "signature": BLEU's signature}``.
    """
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    baseline, references = _hyps_and_refs(baseline, references, "baseline")
    system, _ = _hyps_and_refs(system, references, "system")
    n_samples = check_int(n_samples, "n_samples", 100)
    test = PairedTest([("baseline", baseline), ("system", system)], {"BLEU": BLEU(), "chrF": CHRF()},
                      [references], test_type="bs", n_samples=n_samples)
    signatures, results = test()
    (base, sys_), (base_chrf, sys_chrf) = results["BLEU"], results["chrF2"]
    identical = list(baseline) == list(system)
    return {"bleu": (base.score, sys_.score), "difference": sys_.score - base.score,
            "p_value": 1.0 if identical else sys_.p_value,
            "chrf": (base_chrf.score, sys_chrf.score), "chrf_p_value": 1.0 if identical else sys_chrf.p_value,
            "signature": str(signatures["BLEU"])}


def _bucket_bounds(buckets) -> list[float]:
    """The ``buckets`` argument of :func:`bleu_by_length` as a list of increasing bounds."""
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Sequence) or not buckets:
        raise TypeError("buckets must be a non-empty list of increasing upper bounds, e.g. [4, 6, 8, 10]")
    bounds: list[float] = []
    for i, b in enumerate(buckets):
        is_inf = isinstance(b, float) and math.isinf(b) and b > 0
        if not is_inf and (isinstance(b, bool) or not isinstance(b, numbers.Integral)):
            raise TypeError(f"buckets[{i}] must be an int (or math.inf), got {b!r}")
        if b < 1 or (bounds and b <= bounds[-1]):
            raise ValueError(f"buckets must be increasing upper bounds >= 1, got {list(buckets)}")
        if is_inf and i != len(buckets) - 1:
            raise ValueError("only the last bucket bound may be math.inf")
        bounds.append(b if is_inf else int(b))
    return bounds


def bleu_by_length(hypotheses: Sequence[str], references: Sequence[str],
                   source_lengths: Sequence[int], buckets: Sequence[float], *,
                   tokenize: str = "13a", n_bootstrap: int | None = None) -> list[dict]:
    """Corpus BLEU of each source-length bucket (the "BLEU vs sentence length" curve).

    Bucket ``k`` holds the sentences with ``buckets[k-1] < length <= buckets[k]`` (the
    first starts at length 1): ``buckets=[4, 6, 8, 10]`` gives 1-4, 5-6, 7-8, 9-10. Use
    ``math.inf`` as the last bound for an open-ended bucket. Every sentence must fall in a
    bucket, so the buckets partition the corpus; BLEU of a bucket is corpus BLEU of its
    sentences (not a mean of sentence scores).

    Args:
        hypotheses: system outputs. references: one reference each.
        source_lengths: length of each *source* sentence (tokens or words: the caller
            chooses, and labels the plot accordingly).
        buckets: increasing inclusive upper bounds.
        tokenize: BLEU tokenizer, as in :func:`bleu_score`.
        n_bootstrap: if given, every non-empty bucket also gets ``bleu_ci``, sacreBLEU's 95 %
            bootstrap interval (:func:`score_translations`, ``tokenize="13a"`` only): a
            bucket holds few sentences, so compare curves with their intervals.
    Returns:
        One dict per bucket, in order: ``bucket`` (label such as ``"5-6"``), ``lo``, ``hi``
        (inclusive bounds), ``sentences`` (count), ``bleu`` (score 0-100, ``nan`` for an
        empty bucket), ``result`` (the :class:`~s2s_lib.bleu.BLEUScore`, ``None`` if
        empty) and, with ``n_bootstrap``, ``bleu_ci`` (``(low, high)``, ``None`` if empty).
    Raises:
        ValueError: lists of different lengths, a length < 1 or above the last bound.
    """
    hypotheses, references = check_strings(hypotheses, "hypotheses"), check_strings(references, "references")
    bounds = _bucket_bounds(buckets)
    if isinstance(source_lengths, (str, bytes)) or not isinstance(source_lengths, Sequence):
        raise TypeError(f"source_lengths must be a list of int, got {type(source_lengths).__name__}")
    if not (len(hypotheses) == len(references) == len(source_lengths)):
        raise ValueError(
            f"hypotheses ({len(hypotheses)}), references ({len(references)}) and source_lengths "
            f"({len(source_lengths)}) must have the same length"
        )
    if not hypotheses:
        raise ValueError("hypotheses is empty: BLEU needs at least one sentence")
    if n_bootstrap is not None:
        n_bootstrap = check_int(n_bootstrap, "n_bootstrap", 100)
        if tokenize != "13a":
            raise ValueError(f"n_bootstrap needs tokenize='13a' (sacreBLEU's intervals), got tokenize={tokenize!r}")
    members: list[list[int]] = [[] for _ in bounds]
    for i, n in enumerate(source_lengths):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"source_lengths[{i}] must be an int, got {type(n).__name__}")
        if n < 1:
            raise ValueError(f"source_lengths[{i}] must be >= 1, got {n}")
        k = next((k for k, b in enumerate(bounds) if n <= b), None)
        if k is None:
            raise ValueError(f"source_lengths[{i}] = {n} is above the last bucket bound "
                             f"{bounds[-1]}; add a larger bound (or math.inf)")
        members[k].append(i)
    rows = []
    lo = 1
    for k, hi in enumerate(bounds):
        idx = members[k]
        if math.isinf(hi):
            label = f"{lo}+"
        else:
            label = str(lo) if hi == lo else f"{lo}-{hi}"
        result = bleu_score([hypotheses[i] for i in idx], [references[i] for i in idx],
                            tokenize=tokenize) if idx else None
        rows.append({"bucket": label, "lo": lo, "hi": hi, "sentences": len(idx),
                     "bleu": result.score if result is not None else float("nan"),
                     "result": result})
        if n_bootstrap is not None:
            rows[-1]["bleu_ci"] = score_translations(
                [hypotheses[i] for i in idx], [references[i] for i in idx],
                n_bootstrap=n_bootstrap).bleu_ci if idx else None
        if not math.isinf(hi):
            lo = hi + 1
    return rows


# --------------------------------------------------------------------------- per-sentence loss


def sentence_nll(model, batches) -> dict[str, np.ndarray]:
    """Each sentence's negative log-likelihood under teacher forcing, split as Sutskever et al.
    (2014) discuss reversal: the first target token, and all later ones.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` or :class:`~s2s_lib.transformer.Transformer`
            (run in eval mode, no gradients; its mode is restored).
        batches: :class:`~s2s_lib.batching.Batch` objects; the rows come out in their order
            (``data.batches(split, n)`` keeps the split's order).
    Returns:
        ``{"first": (N,), "later": (N,), "n_later": (N,)}``: -log p of the first target token
        (nats), the sum of -log p over the later ones (``<eos>`` included) and their number.
        ``first + later`` is the sentence's -log p(y | x), the score that rescoring uses.
    """
    from s2s_lib.train import sequence_loss

    check_decoder_model(model)
    batches = check_batches(batches)
    device = next(model.parameters()).device
    first, later, n_later = [], [], []
    with inference(model):
        for batch in batches:
            batch = batch.to(device)
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
            nll = sequence_loss(logits.float(), batch.tgt_out, batch.tgt_mask, reduction="none")  # (B, T), 0 at padding
            first.append(nll[:, 0].cpu())
            later.append(nll[:, 1:].sum(1).cpu())
            n_later.append(batch.tgt_mask[:, 1:].sum(1).cpu())
    if not first:
        raise ValueError("batches is empty")
    return {"first": torch.cat(first).double().numpy(), "later": torch.cat(later).double().numpy(),
            "n_later": torch.cat(n_later).numpy()}


# --------------------------------------------------------------------------- context vectors


def context_vectors(model, sentences: Sequence[str], src_tokenizer, *, normalize: bool = True,
                    reverse_source: bool = False) -> np.ndarray:
    """The context vector (컨텍스트 벡터) of each sentence: what the decoder starts from.

    For the context-vector model with a unidirectional encoder this is exactly the
    encoder's final hidden state ``h_S`` (top layer; for an LSTM the hidden state ``h``, not
    the memory cell). With a bidirectional encoder it is the bridged start state
    ``tanh(W_b [h_fwd; h_bwd])``.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (run in eval mode, no gradients; its mode
            is restored).
        sentences: Korean sentences.
        src_tokenizer: the model's source tokenizer.
        normalize: as in :func:`s2s_lib.decode.encode_sentences` (pass ``data.normalized``).
        reverse_source: reverse the tokens (for a model trained on reversed sources).
    Returns:
        A float32 array (N, H), row ``i`` for ``sentences[i]``.
    """
    check_decoder_model(model)
    if not check_strings(sentences, "sentences"):
        raise ValueError("sentences is empty")
    if not callable(getattr(src_tokenizer, "encode", None)):
        raise TypeError(f"src_tokenizer must have encode(), got {type(src_tokenizer).__name__}")
    encoded = encode_sentences(sentences, src_tokenizer, normalize=normalize, reverse_source=reverse_source)
    src, lengths = pad_sequences(encoded), torch.tensor([len(ids) for ids in encoded])  # (N, S), (N,)
    with inference(model):
        memory = model.encode(src, lengths)
    hidden = memory.init_state.hidden  # (L, N, H)
    return hidden[-1].float().cpu().numpy()  # (N, H): top layer


def pca_2d(x) -> tuple[np.ndarray, np.ndarray]:
    """Project points onto their first two principal components (PCA by SVD, from scratch).

    Centre the rows, ``X_c = U S V^T``; the principal directions are the first two rows of
    ``V^T`` and the coordinates ``X_c V[:, :2] = U[:, :2] S[:2]``. The variance along
    component ``k`` is ``S_k^2 / (N - 1)``, so its share of the total is
    ``S_k^2 / sum_j S_j^2``.

    An SVD fixes each direction only up to sign; we flip each so that its largest-magnitude
    coordinate (of the projected points) is positive, so the same input always gives the
    same picture.

    Args:
        x: (N, D) array, N >= 2 points (e.g. :func:`context_vectors`).
    Returns:
        ``(points, explained_variance_ratio)``: points (N, 2) float64 and the share of the
        total variance of each of the two components (2,), summing to <= 1. With D = 1 or
        N = 2 the second component is all zeros.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (N, D), got shape {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"x needs at least 2 points with at least 1 feature, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    centred = x - x.mean(axis=0, keepdims=True)  # (N, D)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)  # (N, r), (r,), (r, D)
    total = float(np.sum(s**2))
    if total <= 1e-24 * max(1.0, float(np.sum(x**2))):
        raise ValueError("x has (numerically) zero variance: all points are the same")
    k = min(2, s.size)
    points = np.zeros((x.shape[0], 2))
    points[:, :k] = u[:, :k] * s[:k]  # (N, k) = X_c V_k
    ratio = np.zeros(2)
    ratio[:k] = s[:k] ** 2 / total
    for c in range(k):
        j = int(np.argmax(np.abs(points[:, c])))
        if points[j, c] < 0:
            points[:, c] = -points[:, c]
    return points, ratio
