"""Turning a trained model into translations (Chapters "Sequence to sequence" and "Softmax").

At test time there is no reference to feed the decoder: it reads its own previous word.
Everything here is built on the two-method interface of DESIGN.md, so it works for every
model in :mod:`s2s_lib.models` (and for any object with the same methods)::

    memory = model.encode(src, src_lengths)
    step = model.decode_step(prev_tokens, state, memory)   # logits (B, V), state, weights

* :func:`greedy_decode` -- take the most likely word at every step (argmax).
* :func:`sample_decode` -- draw the next word from the (tempered, top-k / top-p filtered)
  distribution of :func:`s2s_lib.softmax.sampling_distribution`.
* :func:`translate` -- strings in, strings out.

Both decoders run the whole batch at once; a sentence that has produced ``<eos>`` leaves
the batch (its rows are dropped from the decoder state), so it is never continued.
With ``return_trace=True`` they also return a plain-data trace (:mod:`s2s_lib.trace`) of
every step -- decoder input, the most likely next words with their probabilities, the
chosen word, the attention row -- that the views render; :func:`attach_tokens` adds the
token strings. The model's ``encode`` checks the source batch (once per call).

Beam search (Chapter "Beam search") is written in :mod:`s2s_lib.beam` with the same pieces
(``Memory.index_select`` / ``DecoderState.index_select`` to follow hypotheses) and is
available here as :func:`beam_search`; ``translate(..., method="beam")`` calls it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from s2s_lib.batching import pad_sequences
from s2s_lib.beam import beam_search  # re-exported: s2s_lib.decode.beam_search
from s2s_lib.checks import check_bool, check_choice, check_decoder_model, check_int, check_type, inference, model_device
from s2s_lib.softmax import sampling_distribution
from s2s_lib.tokenize import EOS_ID, SOS_ID
from s2s_lib.trace import TRACE_TOP_K, attach_tokens, decode_trace, top_candidates

__all__ = ["beam_search", "TRACE_TOP_K", "DecodeResult", "greedy_decode", "sample_decode",
           "attach_tokens", "encode_sentences", "translate"]


@dataclass
class DecodeResult:
    """Output of :func:`greedy_decode` / :func:`sample_decode` for a batch of B sentences.

    Attributes:
        tokens: per sentence, the generated ids without ``<sos>``/``<eos>``.
        log_probs: per sentence, the model's log-probability (temperature 1, no filtering)
            of each chosen token, one per decoding step -- so it includes the final
            ``<eos>`` step when the sentence finished (``len = len(tokens) + finished``).
        attention: per sentence a float32 array (steps_i, S_i) of attention weights (one row per
            step, only the real source positions), or ``None`` for a model without attention.
        finished: per sentence, True if it ended with ``<eos>`` within ``max_len`` steps.
        trace: per sentence a plain-data dict (see :mod:`s2s_lib.trace`), or ``None``.
    """

    tokens: list[list[int]]
    log_probs: list[list[float]]
    attention: list[np.ndarray] | None
    finished: list[bool]
    trace: list[dict] | None = None

    @property
    def scores(self) -> list[float]:
        """Sum of the step log-probabilities of each sentence (log p(y | x) of the output)."""
        return [float(sum(lp)) for lp in self.log_probs]

    def __len__(self) -> int:
        return len(self.tokens)


# --------------------------------------------------------------------------- core loop


def _decode(model, src, src_lengths, max_len, choose: Callable, return_trace: bool, method: str) -> DecodeResult:
    """Decode a batch step by step with ``choose(logits (b, V), log_probs (b, V)) -> (ids (b,), probs)``.

    ``log_probs`` is the model's log-softmax; ``probs`` (b, V) is the distribution the
    word was chosen from (recorded in the trace), or ``None`` to derive it from ``log_probs``.
    A sentence that chose ``<eos>`` leaves the batch: it is never continued.
    """
    check_decoder_model(model)
    max_len = check_int(max_len, "max_len")
    device = model_device(model)
    with inference(model):
        memory = model.encode(src, src_lengths)  # checks the batch, moves it to the model's device
        B = memory.batch_size
        state = memory.init_state
        active = torch.arange(B, device=device)  # (b,) original index of each row still decoding
        prev = torch.full((B,), SOS_ID, dtype=torch.long, device=device)  # (b,)
        # One record per step, kept as tensors; regrouped per sentence once at the end.
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in ("row", "input", "chosen", "lp", "weights",
                                                                "top_p", "top_i", "chosen_p")}
        for _ in range(max_len):
            step = model.decode_step(prev, state, memory)
            logits = step.logits.float()  # (b, V)
            log_probs = torch.log_softmax(logits, dim=-1)  # (b, V)
            chosen, probs = choose(logits, log_probs)  # (b,), (b, V) | None
            steps["row"].append(active)
            steps["input"].append(prev)
            steps["chosen"].append(chosen)
            steps["lp"].append(log_probs.gather(1, chosen.unsqueeze(1)).squeeze(1))
            if step.weights is not None:
                steps["weights"].append(step.weights.float())  # (b, S)
            if return_trace:
                probs = log_probs.exp() if probs is None else probs
                top_p, top_i = top_candidates(probs)  # (b, k)
                steps["top_p"].append(top_p)
                steps["top_i"].append(top_i)
                steps["chosen_p"].append(probs.gather(1, chosen.unsqueeze(1)).squeeze(1))
            done = chosen == EOS_ID  # (b,)
            if bool(done.all()):
                break
            if bool(done.any()):  # drop finished sentences
                keep = (~done).nonzero().squeeze(1)  # (b',)
                active = active.index_select(0, keep)
                state = step.state.index_select(keep)
                memory = memory.index_select(keep)
                prev = chosen.index_select(0, keep)
            else:
                state, prev = step.state, chosen
    return _collect(steps, B, src, torch.as_tensor(src_lengths).tolist(), return_trace, method)


def _collect(steps, B, src, lengths, return_trace, method) -> DecodeResult:
    """Regroup the per-step records (rows of still-running sentences) per sentence."""
    rows = torch.cat(steps["row"])  # (N,) all (sentence, step) records in step order
    order = torch.sort(rows, stable=True).indices  # by sentence, steps stay in order
    counts = torch.bincount(rows, minlength=B).tolist()

    def per_sentence(name):
        return [x.tolist() for x in torch.cat(steps[name]).index_select(0, order).cpu().split(counts)]

    chosen, log_probs = per_sentence("chosen"), per_sentence("lp")
    finished = [len(c) > 0 and c[-1] == EOS_ID for c in chosen]
    tokens = [c[:-1] if f else c for c, f in zip(chosen, finished)]
    attention = None
    if steps["weights"]:
        attention = [np.asarray(w, dtype=np.float32).reshape(len(w), -1)[:, : lengths[i]]
                     for i, w in enumerate(per_sentence("weights"))]
    traces = None
    if return_trace:
        inputs, top_p, top_i, chosen_p = (per_sentence(k) for k in ("input", "top_p", "top_i", "chosen_p"))
        traces = [decode_trace(method, src[i, : lengths[i]].tolist(), chosen[i], finished[i], inputs=inputs[i],
                               top_p=top_p[i], top_i=top_i[i], chosen_p=chosen_p[i], log_probs=log_probs[i],
                               attention=None if attention is None else attention[i])
                  for i in range(B)]
    return DecodeResult(tokens, log_probs, attention, finished, traces)


# --------------------------------------------------------------------------- public decoders


def greedy_decode(model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 50, *,
                  return_trace: bool = False) -> DecodeResult:
    """Greedy decoding: at every step feed back the most likely word, ``argmax_y p(y | ...)``.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (set to eval mode while decoding, then
            restored).
        src: (B, S) LongTensor of source ids, padded with ``PAD_ID``.
        src_lengths: (B,) real source lengths.
        max_len: at most this many steps per sentence (the ``<eos>`` step included).
        return_trace: also return :attr:`DecodeResult.trace`: per sentence
            ``{"method", "src_ids", "tokens", "finished", "steps": [...]}`` where each step is
            ``{"step", "input" (decoder input id), "top_ids", "top_probs" (the most likely
            next words), "chosen", "chosen_prob", "log_prob", "attention" (S_i floats or None)}``.
    Returns:
        A :class:`DecodeResult`.
    """

    def choose(logits, log_probs):
        return logits.argmax(dim=-1), None  # the trace shows the model's own distribution

    return _decode(model, src, src_lengths, max_len, choose, return_trace, "greedy")


def sample_decode(model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 50,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  generator: torch.Generator | None = None, *,
                  return_trace: bool = False) -> DecodeResult:
    """Sampling: draw each next word from ``sampling_distribution(logits, temperature, top_k, top_p)``.

    With a seeded ``generator`` the draws repeat exactly (for the same batch). As
    ``temperature -> 0`` the distribution tends to the argmax and this becomes
    :func:`greedy_decode`.

    Args:
        model, src, src_lengths, max_len, return_trace: as in :func:`greedy_decode`; the
            trace's ``top_probs`` are those of the distribution sampled from.
        temperature: > 0; < 1 sharper, > 1 flatter.
        top_k: sample among the k most likely words only.
        top_p: nucleus sampling, keep the smallest set of words with mass >= p.
        generator: ``torch.Generator`` for reproducible draws (default: global RNG).
    Returns:
        A :class:`DecodeResult` (``log_probs`` are the model's own, unfiltered, at temperature 1).
    """
    if generator is not None:
        check_type(generator, "generator", torch.Generator, "a torch.Generator or None")
    sampling_distribution(torch.zeros(1, 4), temperature, top_k, top_p)  # checks the knobs once

    def choose(logits, log_probs):
        probs = sampling_distribution(logits, temperature, top_k, top_p)  # (b, V)
        draw_from = probs if generator is None else probs.to(generator.device)
        ids = torch.multinomial(draw_from, 1, generator=generator).squeeze(1)  # (b,)
        return ids.to(logits.device), probs

    return _decode(model, src, src_lengths, max_len, choose, return_trace, "sample")


# --------------------------------------------------------------------------- strings in, strings out


def encode_sentences(sentences: Sequence[str], tokenizer, *, normalize: bool = True,
                     reverse_source: bool = False) -> list[list[int]]:
    """Token ids of Korean sentences, as the model was trained to read them.

    Args:
        sentences: Korean sentences (a list of str).
        tokenizer: the source tokenizer (``encode(str) -> ids``).
        normalize: ``True``: the corpus normal form (:func:`s2s_lib.data.normalize_ko`) first;
            ``False``: the text as written (Unicode NFC, single spaces), for models trained
            on ``prepare_translation(normalize=False)`` data (pass ``data.normalized``).
        reverse_source: reverse the token order (for models trained that way).
    Raises:
        TypeError: ``sentences`` is a bare string or holds a non-string.
        ValueError: a sentence has no tokens.
    """
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError("sentences must be a list of str (wrap a single sentence in a list)")
    from s2s_lib.data import keep_text, normalize_ko

    clean = normalize_ko if check_bool(normalize, "normalize") else keep_text
    encoded = []
    for i, s in enumerate(sentences):
        check_type(s, f"sentences[{i}]", str)
        ids = tokenizer.encode(clean(s))
        if not ids:
            raise ValueError(f"sentences[{i}] is empty after tokenization: {s!r}")
        encoded.append(ids[::-1] if reverse_source else ids)
    return encoded


def translate(model, sentences: Sequence[str], src_tokenizer, tgt_tokenizer, *,
              method: str = "greedy", max_len: int = 50, batch_size: int = 64,
              normalize: bool = True, reverse_source: bool = False, **kw) -> list[str]:
    """Translate Korean sentences to English strings.

    Args:
        model: the trained model.
        sentences: Korean sentences (a list of str).
        src_tokenizer / tgt_tokenizer: the tokenizers the model was trained with.
        method: ``"greedy"``, ``"sample"`` (``kw`` go to :func:`sample_decode`), or
            ``"beam"`` (``kw`` go to :func:`s2s_lib.beam.beam_search`, e.g. ``beam_size=5``).
        max_len: longest output in tokens.
        batch_size: sentences decoded together (sorted by length to limit padding).
        normalize: ``True``: the corpus normal form (:func:`s2s_lib.data.normalize_ko`)
            first, as the training data had it; ``False`` for the translators trained on the
            text as written (pass ``data.normalized``).
        reverse_source: reverse the source tokens (if the model was trained that way).
    Returns:
        English sentences as the training data wrote them (the normal form, lower case with
        punctuation split off, or the text as written), one per input, in input order.
    """
    decoders = {"greedy": greedy_decode, "sample": sample_decode, "beam": beam_search}
    check_choice(method, "method", sorted(decoders))
    batch_size = check_int(batch_size, "batch_size")
    encoded = encode_sentences(sentences, src_tokenizer, normalize=normalize, reverse_source=reverse_source)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(encoded)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        seqs = [encoded[i] for i in idx]
        src, lengths = pad_sequences(seqs), torch.tensor([len(ids) for ids in seqs])  # (B, S), (B,)
        result = decoders[method](model, src, lengths, max_len, **kw)
        for row, i in enumerate(idx):
            outputs[i] = tgt_tokenizer.decode(result.tokens[row])
    return outputs
