"""Beam search (빔 서치) for the encoder-decoder models (Chapter "Beam search").

Greedy decoding commits to the most likely word at every step and can never take it back;
exhaustive search scores every possible output and is exponential in the length. Beam
search keeps the ``K`` best partial translations (the *beam*, 빔) at every step -- the idea
goes back to speech recognition (Lowerre 1976, the Harpy system) and is the decoder of
Sutskever, Vinyals & Le (2014) and Bahdanau, Cho & Bengio (2015). Length normalisation
follows Wu et al. (2016, "Google's Neural Machine Translation System", GNMT), section 7.

What this module offers:

* :func:`beam_search` -- the **batched** search used everywhere: all B sentences x K beams
  advance as one (B*K)-row batch through ``model.encode`` / ``model.decode_step``;
* :func:`beam_search_reference` -- the same algorithm written plainly, one sentence and one
  hypothesis at a time with a :class:`Hypothesis` dataclass (the chapter shows it; the tests
  check that both give the same answers);
* :func:`exhaustive_search` -- every output up to ``max_len`` tokens, for tiny vocabularies;
* :class:`TableModel` -- a toy "model" with next-word probabilities from a table;
* :class:`LengthPenalty` / :func:`make_length_penalty` -- no normalisation, the average
  log-probability per token, or GNMT's ``lp(Y) = ((5 + |Y|) / 6) ** alpha``;
* ``return_trace=True`` -- plain JSON data of the whole search (every hypothesis considered,
  kept, pruned or finished) for the views ``decode_stepper`` and ``beam_tree``;
  :func:`attach_beam_tokens` adds the token strings.

The algorithm (both implementations), for one sentence with beam size K:

1. Start with one live hypothesis, the empty output (the decoder reads ``<sos>``).
2. At step t, extend every live hypothesis by every word ``y``; its raw score is the
   log-probability ``log p(y_1 .. y_t | x)``, the sum of the per-word log-probabilities.
3. Rank all extensions by raw score and look at the best 2K. An extension ending in
   ``<eos>`` that ranks in the top K is *finished* and leaves the beam (its score is
   length-normalised now); the K best extensions that do not end in ``<eos>`` are the new
   live hypotheses (*kept*); the rest are *pruned*. (There are always K of them: each
   parent has one ``<eos>`` extension, so at most K of the best 2K end in ``<eos>``.)
4. **Stopping criterion** (exact, not a heuristic): stop once there are ``n_best`` finished
   hypotheses and no live one can still beat the ``n_best``-th best of them. Extending a
   hypothesis only lowers its raw score (log-probabilities are <= 0), but a length
   penalty divides by a divisor that grows with the length, so the best normalised score a
   live hypothesis with raw score ``s`` can still reach is ``s / lp(max_len)``
   (:meth:`LengthPenalty.best_possible`); without normalisation it is ``s`` itself. Hence
   early stopping never changes the result -- it equals running to ``max_len``.
5. At ``max_len`` the search ends. The answer is the ``n_best`` finished hypotheses with the
   best normalised scores; only if there are fewer, the best unfinished (cut-off) live
   hypotheses fill the list, ranked after the finished ones, with ``finished=False``.

With ``beam_size=1`` and no length normalisation this is exactly greedy decoding. The length
``|Y|`` of a hypothesis counts its scored tokens: the words plus the final ``<eos>``.
"""
from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from s2s_lib.checks import check_decoder_model, check_int, check_src, inference, model_device
from s2s_lib.models import DecoderStep
from s2s_lib.tokenize import EOS_ID, SOS_ID

__all__ = [
    "DEFAULT_LENGTH_PENALTY",
    "TRACE_TOP_K",
    "LengthPenalty",
    "make_length_penalty",
    "Hypothesis",
    "BeamResult",
    "beam_search",
    "beam_search_reference",
    "exhaustive_search",
    "attach_beam_tokens",
    "TableModel",
]

DEFAULT_LENGTH_PENALTY = ("gnmt", 0.6)  # GNMT / Marian / Tensor2Tensor's usual alpha
TRACE_TOP_K = 5  # next-word candidates recorded per expanded hypothesis in a trace
_EXHAUSTIVE_LIMIT = 200_000  # most prefixes exhaustive_search scores at one length


# --------------------------------------------------------------------------- length penalty


@dataclass(frozen=True)
class LengthPenalty:
    """How a hypothesis' raw log-probability is normalised by its length ``|Y|``.

    ``score = raw / divisor(|Y|)`` with

    * ``"none"``: divisor 1 -- the raw log-probability ``log p(Y | x)``;
    * ``"avg"``: divisor ``|Y|`` -- the average log-probability per token;
    * ``"gnmt"``: divisor ``((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016); ``alpha = 0`` is
      "none", ``alpha = 1`` is close to "avg" for long outputs.

    Build one with :func:`make_length_penalty`. Calling it normalises:
    ``penalty(raw, length)``; raw may be a float or a tensor.

    Attributes:
        kind: ``"none"``, ``"avg"`` or ``"gnmt"``.
        alpha: GNMT's exponent (>= 0; 0 for the other kinds).
    """

    kind: str = "none"
    alpha: float = 0.0

    def divisor(self, length):
        """``lp(|Y|)`` for a length (int or tensor of ints)."""
        if self.kind == "avg":
            return length
        if self.kind == "gnmt":
            return ((5.0 + length) / 6.0) ** self.alpha
        return 1.0

    def __call__(self, raw, length):
        """The normalised score of a hypothesis with raw log-probability ``raw`` and ``length`` tokens."""
        return raw / self.divisor(length)

    def best_possible(self, raw, max_len: int):
        """An upper bound on the normalised score of any continuation of a live hypothesis.

        Continuing lowers the raw score (each token adds a log-probability <= 0), and for
        ``raw <= 0`` dividing by a larger divisor can only raise the score; every divisor here
        grows with the length, so the bound is ``raw / lp(max_len)``.
        """
        return raw / self.divisor(max_len)

    def __str__(self) -> str:
        return f"gnmt(alpha={self.alpha:g})" if self.kind == "gnmt" else self.kind


def make_length_penalty(spec: Any) -> LengthPenalty:
    """Turn the ``length_penalty`` argument of the searches into a :class:`LengthPenalty`.

    Accepted values: ``None`` or ``"none"`` (raw log-probability), ``"avg"`` (per-token
    average), ``"gnmt"`` (GNMT with ``alpha = 0.6``), ``("gnmt", alpha)``, a bare number
    ``alpha`` (GNMT), or a :class:`LengthPenalty`.
    """
    if isinstance(spec, LengthPenalty):
        return make_length_penalty((spec.kind, spec.alpha)) if spec.kind == "gnmt" else spec
    if spec is None or spec == "none":
        return LengthPenalty("none")
    if spec == "avg":
        return LengthPenalty("avg")
    if spec == "gnmt":
        return LengthPenalty("gnmt", 0.6)
    alpha = None
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "gnmt":
        alpha = spec[1]
    elif isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        alpha = spec
    if alpha is None:
        raise ValueError(
            "length_penalty must be None, 'none', 'avg', 'gnmt', ('gnmt', alpha), a number alpha "
            f"or a LengthPenalty, got {spec!r}")
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha)
            or alpha < 0):
        raise ValueError(f"length_penalty's alpha must be a finite number >= 0, got {alpha!r}")
    return LengthPenalty("gnmt", float(alpha))


# --------------------------------------------------------------------------- results


@dataclass
class Hypothesis:
    """One candidate translation.

    Attributes:
        tokens: the generated ids, without ``<sos>`` and without the final ``<eos>``.
        log_probs: the log-probability of each scored token, one per decoding step, so it
            includes the ``<eos>`` step when ``finished`` (``len = len(tokens) + finished``).
        score: the length-normalised score the search ranks by.
        finished: True if the hypothesis ended with ``<eos>``; False for a live hypothesis
            (while searching) or one cut off at ``max_len``.
        attention: (steps, S) float32 array of attention weights, one row per step over the
            real source tokens, or ``None`` for a model without attention. While
            :func:`beam_search_reference` searches it is a list of (S,) rows.
        state: the decoder state after the last token (only while searching; ``None`` in
            results).
    """

    tokens: list[int]
    log_probs: list[float]
    score: float = 0.0
    finished: bool = False
    attention: Any = field(default=None, repr=False)
    state: Any = field(default=None, repr=False, compare=False)

    @property
    def raw_score(self) -> float:
        """``log p(Y | x)``: the sum of the step log-probabilities (no length normalisation)."""
        return float(sum(self.log_probs))

    @property
    def length(self) -> int:
        """``|Y|``: the number of scored tokens (words plus ``<eos>`` when finished)."""
        return len(self.log_probs)


@dataclass
class BeamResult:
    """Output of :func:`beam_search` / :func:`beam_search_reference` for B sentences.

    ``tokens``, ``log_probs``, ``scores``, ``attention`` and ``finished`` describe each
    sentence's best hypothesis, like :class:`s2s_lib.decode.DecodeResult`, so code written for
    greedy decoding (e.g. ``translate``) works unchanged.

    Attributes:
        hypotheses: per sentence, at most ``n_best`` :class:`Hypothesis`, best first.
        trace: per sentence a plain-data dict (see :func:`beam_search`), or ``None``.
    """

    hypotheses: list[list[Hypothesis]]
    trace: list[dict] | None = None

    @property
    def best(self) -> list[Hypothesis]:
        """The best hypothesis of each sentence."""
        return [h[0] for h in self.hypotheses]

    @property
    def tokens(self) -> list[list[int]]:
        """Per sentence, the best hypothesis' ids (no ``<sos>``/``<eos>``)."""
        return [h.tokens for h in self.best]

    @property
    def log_probs(self) -> list[list[float]]:
        """Per sentence, the best hypothesis' step log-probabilities."""
        return [h.log_probs for h in self.best]

    @property
    def scores(self) -> list[float]:
        """Per sentence, the best hypothesis' normalised score."""
        return [h.score for h in self.best]

    @property
    def raw_scores(self) -> list[float]:
        """Per sentence, ``log p(Y | x)`` of the best hypothesis."""
        return [h.raw_score for h in self.best]

    @property
    def finished(self) -> list[bool]:
        """Per sentence, whether the best hypothesis ended with ``<eos>``."""
        return [h.finished for h in self.best]

    @property
    def attention(self) -> list[np.ndarray] | None:
        """Per sentence, the best hypothesis' (steps, S_i) attention, or ``None``."""
        rows = [h.attention for h in self.best]
        return None if any(a is None for a in rows) else rows

    def __len__(self) -> int:
        return len(self.hypotheses)


# --------------------------------------------------------------------------- checks


def _check_args(model, src, src_lengths, max_len, beam_size, length_penalty, n_best):
    """Validate the public arguments; returns ``(src_lengths as a tensor, LengthPenalty)``."""
    check_decoder_model(model)
    src_lengths = check_src(src, src_lengths)
    check_int(max_len, "max_len")
    check_int(beam_size, "beam_size")
    check_int(n_best, "n_best")
    if n_best > beam_size:
        raise ValueError(f"n_best must be <= beam_size ({beam_size}): the beam holds at most "
                         f"beam_size hypotheses, got n_best={n_best}")
    return src_lengths, make_length_penalty(length_penalty)


# --------------------------------------------------------------------------- reference


def beam_search_reference(model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 50, *,
                          beam_size: int = 5, length_penalty: Any = DEFAULT_LENGTH_PENALTY,
                          n_best: int = 1, early_stopping: bool = True) -> BeamResult:
    """Beam search written plainly: one sentence, and one hypothesis, at a time.

    Same arguments and results as :func:`beam_search` (which is much faster); with
    ``early_stopping=False`` it always runs ``max_len`` steps, which gives the same answer.
    """
    src_lengths, penalty = _check_args(model, src, src_lengths, max_len, beam_size, length_penalty, n_best)
    device = model_device(model)
    results = []
    with inference(model):
        for i in range(src.size(0)):
            n = int(src_lengths[i])
            memory = model.encode(src[i:i + 1, :n].to(device), src_lengths[i:i + 1].to(device))
            results.append(_reference_one(model, memory, max_len, beam_size, penalty, n_best,
                                          early_stopping, device))
    return BeamResult(results)


def _reference_one(model, memory, max_len, beam_size, penalty, n_best, early_stopping, device):
    """Beam search for one encoded sentence (``memory`` with B = 1)."""
    beams = [Hypothesis(tokens=[], log_probs=[], attention=[], state=memory.init_state)]
    finished: list[Hypothesis] = []
    for t in range(1, max_len + 1):
        # 1. Extend every live hypothesis by every word: raw score log p(y_1..y_t | x).
        candidates = []  # (raw score, parent hypothesis, word, log p(word), decoder step)
        for hyp in beams:
            prev = torch.tensor([hyp.tokens[-1] if hyp.tokens else SOS_ID], device=device)
            step = model.decode_step(prev, hyp.state, memory)
            log_p = torch.log_softmax(step.logits[0].float(), dim=-1)  # (V,)
            top = log_p.topk(min(2 * beam_size, log_p.numel()))  # only these can reach the best 2K
            for lp, word in zip(top.values.tolist(), top.indices.tolist()):
                candidates.append((hyp.raw_score + lp, hyp, word, lp, step))
        # 2. Of the best 2K: <eos> in the top K finishes, the K best others stay live.
        candidates.sort(key=lambda c: c[0], reverse=True)
        beams = []
        for rank, (raw, hyp, word, lp, step) in enumerate(candidates[: 2 * beam_size]):
            rows = hyp.attention + ([] if step.weights is None else [step.weights[0].cpu()])
            if word == EOS_ID:
                if rank < beam_size:
                    finished.append(Hypothesis(hyp.tokens, hyp.log_probs + [lp], penalty(raw, t),
                                               finished=True, attention=rows))
            elif len(beams) < beam_size:
                beams.append(Hypothesis(hyp.tokens + [word], hyp.log_probs + [lp], attention=rows,
                                        state=step.state))
        # 3. Stop when no live hypothesis can beat the n_best-th finished one any more.
        finished.sort(key=lambda h: h.score, reverse=True)
        best_live = max(h.raw_score for h in beams)
        if (early_stopping and len(finished) >= n_best
                and penalty.best_possible(best_live, max_len) <= finished[n_best - 1].score):
            break
    # 4. Cut-off hypotheses only fill up an n-best list that is too short.
    for hyp in beams:
        hyp.score = penalty(hyp.raw_score, hyp.length)
    beams.sort(key=lambda h: h.score, reverse=True)
    best = (finished + beams)[:n_best]
    for hyp in best:
        hyp.state = None
        hyp.attention = (np.stack([r.numpy() for r in hyp.attention]).astype(np.float32)
                         if hyp.attention else None)
    return best


# --------------------------------------------------------------------------- batched


def beam_search(model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 50, *,
                beam_size: int = 5, length_penalty: Any = DEFAULT_LENGTH_PENALTY, n_best: int = 1,
                return_trace: bool = False) -> BeamResult:
    """Batched beam search: all B sentences x K hypotheses advance as one (B*K)-row batch.

    The encoder runs once per sentence; its memory is repeated K times
    (``Memory.index_select``), and after every step the decoder states follow their
    hypotheses with one ``DecoderState.index_select`` (GRU or LSTM state, Luong's input
    feeding, attention or not). A sentence whose search is over (see the module docstring,
    step 4) leaves the batch. Raw scores are accumulated in float64.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (eval mode and no gradients while searching;
            the training flag is restored).
        src: (B, S) LongTensor of source ids, padded with ``PAD_ID``.
        src_lengths: (B,) real source lengths (a tensor or a list).
        max_len: at most this many steps (tokens, the ``<eos>`` included) per hypothesis.
        beam_size: K, the number of live hypotheses per sentence (1 = greedy when
            ``length_penalty=None``).
        length_penalty: how scores are normalised by length (:func:`make_length_penalty`):
            ``None``/``"none"``, ``"avg"``, ``"gnmt"``, ``("gnmt", alpha)`` or a number alpha.
            The default is GNMT with alpha = 0.6 (:data:`DEFAULT_LENGTH_PENALTY`).
        n_best: hypotheses to return per sentence (<= beam_size).
        return_trace: also return :attr:`BeamResult.trace`, per sentence the dict
            ``{"method": "beam", "beam_size", "n_best", "max_len", "length_penalty" (str),
            "src_ids", "tokens", "finished", "score", "raw_score",
            "nodes": [{"id", "parent", "step", "token", "log_prob", "score" (raw), "norm_score",
            "status": "root" | "kept" | "finished" | "pruned"}, ...],
            "steps": [{"step", "expanded": [{"node", "input", "top_ids", "top_probs",
            "attention"}], "candidates": [node ids], "stopped"}, ...],
            "winner": [node ids from the root to the best hypothesis], "n_best_nodes": [node ids]}``.
            ``candidates`` are the best 2K extensions of the step (the other K*V - 2K are
            pruned without being listed); ``expanded`` are the live hypotheses of the step,
            each with its :data:`TRACE_TOP_K` most likely next words and its attention row.
    Returns:
        A :class:`BeamResult`.

    Example::

        result = beam_search(model, batch.src, batch.src_lengths, 30, beam_size=5)
        english = [tgt_tokenizer.decode(t) for t in result.tokens]
    """
    src_lengths, penalty = _check_args(model, src, src_lengths, max_len, beam_size, length_penalty, n_best)
    device = model_device(model)
    with inference(model):
        return _beam_batched(model, src.to(device), src_lengths.to(device), max_len, beam_size,
                             penalty, n_best, return_trace)


def _beam_batched(model, src, src_lengths, max_len, K, penalty, n_best, return_trace) -> BeamResult:
    B, S = src.shape
    device = src.device
    memory = model.encode(src, src_lengths)
    sentence_rows = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,) row -> sentence
    memory = memory.index_select(sentence_rows)  # every sentence K times
    state = memory.init_state
    prev = torch.full((B * K,), SOS_ID, dtype=torch.long, device=device)  # (B*K,)
    scores = torch.zeros(B, K, dtype=torch.float64, device=device)  # raw score of each live hypothesis
    scores[:, 1:] = float("-inf")  # all K start as <sos>: only one may be extended
    alive = list(range(B))  # original index of every sentence still in the batch
    # What each step kept, to read the hypotheses back at the end: [step, sentence, slot].
    hist_token = torch.zeros(max_len, B, K, dtype=torch.long)
    hist_parent = torch.zeros(max_len, B, K, dtype=torch.long)
    hist_lp = torch.zeros(max_len, B, K, dtype=torch.float32)
    hist_attn = None  # (max_len, B, K, S): attention of the hypothesis in a slot at a step
    finished: list[list[tuple]] = [[] for _ in range(B)]  # (score, step, parent slot, lp, node)
    threshold = torch.full((B,), float("-inf"), dtype=torch.float64)  # n_best-th finished score
    rank = torch.arange(2 * K, device=device)  # (2K,)
    tracer = _Tracer(K, penalty, src_lengths.tolist()) if return_trace else None

    for t in range(1, max_len + 1):
        b = len(alive)
        step = model.decode_step(prev, state, memory)
        log_p = torch.log_softmax(step.logits.float(), dim=-1)  # (b*K, V)
        V = log_p.size(1)
        cand = (scores.view(-1, 1) + log_p.double()).view(b, K * V)  # (b, K*V) raw scores
        top_scores, top_idx = cand.topk(2 * K, dim=1)  # (b, 2K), best first
        parent, token = top_idx // V, top_idx % V  # (b, 2K) slot of the parent, new word
        top_lp = log_p.view(b, K * V).gather(1, top_idx)  # (b, 2K) log p of the new word
        is_eos = token == EOS_ID
        valid = torch.isfinite(top_scores)  # -inf: an extension of an empty slot
        finish = is_eos & valid & (rank < K)  # <eos> in the top K: a finished hypothesis
        # The K best extensions that do not end in <eos> (<eos> ones sort after them).
        live = torch.where(is_eos, rank + 2 * K, rank).topk(K, dim=1, largest=False).indices  # (b, K)
        new_scores, new_parent = top_scores.gather(1, live), parent.gather(1, live)  # (b, K)
        new_token = token.gather(1, live)  # (b, K)
        rows = torch.tensor(alive)
        hist_token[t - 1, rows] = new_token.cpu()
        hist_parent[t - 1, rows] = new_parent.cpu()
        hist_lp[t - 1, rows] = top_lp.gather(1, live).float().cpu()
        if step.weights is not None:
            if hist_attn is None:
                hist_attn = torch.zeros(max_len, B, K, S)
            hist_attn[t - 1, rows] = step.weights.float().view(b, K, -1).cpu()  # (b, K, S)

        ended = finish.nonzero().tolist()  # [(row, position)] of the finished hypotheses
        node_of = {}  # (row, position) -> trace node id
        if tracer is not None:
            node_of = tracer.record(t, alive, log_p, step.weights, top_scores, parent, token,
                                    top_lp, finish, live, valid)
        for r, j in ended:
            raw = float(top_scores[r, j])
            finished[alive[r]].append((penalty(raw, t), t, int(parent[r, j]), float(top_lp[r, j]),
                                       node_of.get((r, j))))
        for i in {alive[r] for r, _ in ended}:
            finished[i].sort(key=lambda f: f[0], reverse=True)  # stable: earlier first on ties
            if len(finished[i]) >= n_best:
                threshold[i] = finished[i][n_best - 1][0]

        # Stop a sentence when no live hypothesis can beat its n_best-th finished one.
        bound = penalty.best_possible(new_scores.max(dim=1).values.cpu(), max_len)  # (b,)
        done = bound <= threshold[rows]  # (b,)
        parent_rows = (torch.arange(b, device=device) * K).unsqueeze(1) + new_parent  # (b, K) parents' rows
        if t == max_len:
            break
        if bool(done.any()):
            if tracer is not None:
                for r in done.nonzero().squeeze(1).tolist():
                    tracer.stop(alive[r])
            keep = (~done).nonzero().squeeze(1).to(device)  # (b',)
            if keep.numel() == 0:
                break
            alive = [alive[r] for r in keep.tolist()]
            block = (keep * K).unsqueeze(1) + torch.arange(K, device=device)  # (b', K) rows of kept sentences
            memory = memory.index_select(block.view(-1))
            parent_rows, new_token, new_scores = parent_rows[keep], new_token[keep], new_scores[keep]
        state = step.state.index_select(parent_rows.view(-1))  # follow the parents
        prev = new_token.reshape(-1)  # (b*K,)
        scores = new_scores

    final_scores = {i: scores_row for i, scores_row in zip(alive, new_scores.cpu().tolist())}
    lengths = src_lengths.tolist()
    hist = _History(hist_token.numpy(), hist_parent.numpy(), hist_lp.numpy(),
                    None if hist_attn is None else hist_attn.numpy())
    results, result_nodes = [], []
    for i in range(B):
        entries = finished[i][:n_best]
        best = [hist.finished_hypothesis(i, t, k, lp, score, lengths[i]) for score, t, k, lp, _ in entries]
        nodes = [node for *_, node in entries]
        if len(best) < n_best and i in final_scores:  # cut-off hypotheses fill the list
            cut = [(penalty(raw, max_len), k) for k, raw in enumerate(final_scores[i]) if math.isfinite(raw)]
            cut.sort(key=lambda c: c[0], reverse=True)
            cut = cut[: n_best - len(best)]
            best += [hist.live_hypothesis(i, max_len, k, score, lengths[i]) for score, k in cut]
            nodes += [tracer.slot_node[i][k] if tracer is not None else None for _, k in cut]
        results.append(best)
        result_nodes.append(nodes)
    trace = None
    if tracer is not None:
        trace = tracer.finish(results, result_nodes, src, lengths, max_len, n_best)
    return BeamResult(results, trace)


class _History:
    """Reads hypotheses back from what every step kept (numpy arrays [step, sentence, slot])."""

    def __init__(self, token, parent, lp, attn):
        self.token, self.parent, self.lp, self.attn = token, parent, lp, attn

    def _path(self, i: int, t: int, k: int, n_src: int):
        """Tokens, log-probs and attention rows of the live hypothesis in slot k after step t."""
        tokens, lps, rows = [], [], []
        for s in range(t - 1, -1, -1):
            tokens.append(int(self.token[s, i, k]))
            lps.append(float(self.lp[s, i, k]))
            k = int(self.parent[s, i, k])
            if self.attn is not None:
                rows.append(self.attn[s, i, k, :n_src])
        return tokens[::-1], lps[::-1], rows[::-1]

    def live_hypothesis(self, i, t, k, score, n_src) -> Hypothesis:
        tokens, lps, rows = self._path(i, t, k, n_src)
        return Hypothesis(tokens, lps, score, finished=False, attention=self._array(rows))

    def finished_hypothesis(self, i, t, k, lp, score, n_src) -> Hypothesis:
        """The hypothesis that ended with <eos> at step t, extending slot k of step t - 1."""
        tokens, lps, rows = self._path(i, t - 1, k, n_src)
        if self.attn is not None:
            rows.append(self.attn[t - 1, i, k, :n_src])
        return Hypothesis(tokens, lps + [lp], score, finished=True, attention=self._array(rows))

    def _array(self, rows):
        return None if self.attn is None else np.stack(rows).astype(np.float32)


class _Tracer:
    """Records the search as plain data (see :func:`beam_search`'s ``return_trace``)."""

    def __init__(self, K, penalty, lengths):
        B = len(lengths)
        self.K, self.penalty, self.lengths = K, penalty, lengths
        self.nodes = [[{"id": 0, "parent": None, "step": 0, "token": SOS_ID, "log_prob": 0.0,
                        "score": 0.0, "norm_score": 0.0, "status": "root"}] for _ in range(B)]
        self.slot_node = [[0] + [None] * (K - 1) for _ in range(B)]  # node id in each live slot
        self.steps = [[] for _ in range(B)]

    def record(self, t, alive, log_p, weights, top_scores, parent, token, top_lp, finish, live, valid):
        """Add step t's nodes; returns {(row, position): node id} for the finished ones."""
        K = self.K
        b = len(alive)
        probs = log_p.exp().view(b, K, -1)  # (b, K, V)
        top_p, top_i = probs.topk(min(TRACE_TOP_K, probs.size(-1)), dim=-1)  # (b, K, k)
        attn = None if weights is None else weights.float().view(b, K, -1).cpu().tolist()  # (b, K, S)
        top_p, top_i = top_p.cpu().tolist(), top_i.cpu().tolist()
        sc, pa, tok, lp = (x.cpu().tolist() for x in (top_scores, parent, token, top_lp))
        fin, val, kept = finish.cpu().tolist(), valid.cpu().tolist(), live.cpu().tolist()
        node_of = {}
        for r, i in enumerate(alive):
            nodes, slots = self.nodes[i], self.slot_node[i]
            expanded = [{"node": slots[k], "input": nodes[slots[k]]["token"],
                         "top_ids": top_i[r][k], "top_probs": [round(p, 6) for p in top_p[r][k]],
                         "attention": (None if attn is None
                                       else [round(a, 6) for a in attn[r][k][: self.lengths[i]]])}
                        for k in range(K) if slots[k] is not None]
            candidates, new_slots = [], [None] * K
            kept_pos = {j: k for k, j in enumerate(kept[r])}
            for j in range(2 * K):
                if not val[r][j]:  # an extension of an empty slot: not a real hypothesis
                    continue
                status = "finished" if fin[r][j] else ("kept" if j in kept_pos else "pruned")
                node = {"id": len(nodes), "parent": slots[pa[r][j]], "step": t, "token": tok[r][j],
                        "log_prob": round(lp[r][j], 6), "score": round(sc[r][j], 6),
                        "norm_score": round(float(self.penalty(sc[r][j], t)), 6), "status": status}
                nodes.append(node)
                candidates.append(node["id"])
                if status == "kept":
                    new_slots[kept_pos[j]] = node["id"]
                elif status == "finished":
                    node_of[(r, j)] = node["id"]
            self.steps[i].append({"step": t, "expanded": expanded, "candidates": candidates,
                                  "stopped": False})
            self.slot_node[i] = new_slots
        return node_of

    def stop(self, i):
        self.steps[i][-1]["stopped"] = True

    def finish(self, results, result_nodes, src, lengths, max_len, n_best):
        traces = []
        for i, hyps in enumerate(results):
            nodes = self.nodes[i]
            winner, n = [], result_nodes[i][0]
            while n is not None:  # from the best hypothesis' last node back to the root
                winner.append(n)
                n = nodes[n]["parent"]
            best = hyps[0]
            traces.append({
                "method": "beam", "beam_size": self.K, "n_best": n_best, "max_len": max_len,
                "length_penalty": str(self.penalty), "src_ids": src[i, : lengths[i]].tolist(),
                "tokens": list(best.tokens), "finished": best.finished,
                "score": round(best.score, 6), "raw_score": round(best.raw_score, 6),
                "nodes": nodes, "steps": self.steps[i], "winner": winner[::-1],
                "n_best_nodes": list(result_nodes[i]),  # node ids of the n-best results
            })
        return traces


# --------------------------------------------------------------------------- exhaustive


def exhaustive_search(model, src: torch.Tensor, max_len: int, *, length_penalty: Any = None,
                      src_lengths: torch.Tensor | None = None) -> Hypothesis:
    """The best finished output of all outputs up to ``max_len`` tokens (tiny vocabularies only).

    Scores every sequence ``y_1 .. y_n <eos>`` with ``n + 1 <= max_len`` -- all
    ``sum_n (V-1)^n`` of them, one decoder step per prefix, level by level -- and returns the
    one with the best (length-normalised) score. This is what beam search approximates.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq`.
        src: one source sentence, (S,) or (1, S) LongTensor.
        max_len: longest output in tokens, ``<eos>`` included.
        length_penalty: as in :func:`beam_search` (default: none, the raw log-probability).
        src_lengths: (1,) length of the sentence (default: S, no padding).
    Returns:
        The best :class:`Hypothesis` (``finished=True``; ``attention`` is ``None``).
    Raises:
        ValueError: if the longest prefixes would number more than 200,000.
    """
    if isinstance(src, torch.Tensor) and src.dim() == 1:
        src = src.unsqueeze(0)
    if src_lengths is None and isinstance(src, torch.Tensor) and src.dim() == 2:
        src_lengths = torch.full((src.size(0),), src.size(1), dtype=torch.long)
    src_lengths, penalty = _check_args(model, src, src_lengths, max_len, 1, length_penalty, 1)
    if src.size(0) != 1:
        raise ValueError(f"src must hold one sentence, (S,) or (1, S), got shape {tuple(src.shape)}")
    device = model_device(model)
    with inference(model):
        memory = model.encode(src.to(device), src_lengths.to(device))
        prefixes = [[]]  # all prefixes of the current length, without <eos>
        raw = torch.zeros(1, dtype=torch.float64, device=device)  # (P,)
        lps = torch.zeros(1, 0, device=device)  # (P, t) log-probs of each prefix
        state, mem = memory.init_state, memory
        prev = torch.tensor([SOS_ID], device=device)
        best = None
        for t in range(1, max_len + 1):
            step = model.decode_step(prev, state, mem)
            log_p = torch.log_softmax(step.logits.float(), dim=-1)  # (P, V)
            V = log_p.size(1)
            # finishing here: every prefix + <eos>
            end = penalty(raw + log_p[:, EOS_ID].double(), t)  # (P,)
            j = int(end.argmax())
            if best is None or float(end[j]) > best.score:
                best = Hypothesis(list(prefixes[j]), lps[j].tolist() + [float(log_p[j, EOS_ID])],
                                  float(end[j]), finished=True)
            if t == max_len:
                break
            words = [w for w in range(V) if w != EOS_ID]
            if t == 1 and (V - 1) ** (max_len - 1) > _EXHAUSTIVE_LIMIT:  # the widest level, checked up front
                raise ValueError(f"exhaustive_search would score (V-1)^(max_len-1) = {V - 1}^{max_len - 1} "
                                 f"prefixes at once (limit {_EXHAUSTIVE_LIMIT:,}); use a smaller max_len "
                                 f"(got {max_len}) or vocabulary (V = {V})")
            w = torch.tensor(words, device=device)  # (W,)
            P, W = len(prefixes), len(words)
            parent = torch.arange(P, device=device).repeat_interleave(W)  # (P*W,)
            word = w.repeat(P)  # (P*W,)
            raw = raw[parent] + log_p[parent, word].double()
            lps = torch.cat([lps[parent], log_p[parent, word].unsqueeze(1)], dim=1)  # (P*W, t)
            prefixes = [prefixes[p] + [x] for p in range(P) for x in words]
            state = step.state.index_select(parent)
            mem = memory.index_select(torch.zeros(P * W, dtype=torch.long, device=device))
            prev = word
    return best


# --------------------------------------------------------------------------- a toy model


class _TableState(NamedTuple):
    prefix: torch.Tensor  # (B,) index of each row's prefix in TableModel.prefixes

    def index_select(self, index: torch.Tensor) -> "_TableState":
        return _TableState(self.prefix.index_select(0, index))


class _TableMemory(NamedTuple):
    init_state: _TableState

    def index_select(self, index: torch.Tensor) -> "_TableMemory":
        return _TableMemory(self.init_state.index_select(index))

    @property
    def batch_size(self) -> int:
        return int(self.init_state.prefix.numel())


class TableModel:
    """A toy "model" whose next-word probabilities are written in a table.

    It ignores the source sentence and has the ``encode`` / ``decode_step`` interface of
    :class:`~s2s_lib.models.Seq2Seq`, so greedy decoding, :func:`beam_search` and
    :func:`exhaustive_search` all run on it: worked examples with probabilities you can
    check by hand (the chapter's "greedy is myopic"), and tests with known answers.

    Args:
        table: maps a prefix -- a tuple of word ids generated so far, without ``<sos>`` -- to
            ``{word id: probability}``. Probabilities missing from a row share what is left
            (at least ``floor`` each, so no log-probability is -inf); a prefix that is not in
            the table ends the sentence: ``<eos>`` gets all but the floors.
        vocab_size: V, larger than every id used.
        floor: the smallest probability of any word.

    Example::

        model = TableModel({(): {4: 0.6, 5: 0.4}, (4,): {EOS_ID: 0.4, 6: 0.6}}, vocab_size=8)
    """

    def __init__(self, table: dict, vocab_size: int, floor: float = 1e-6):
        check_int(vocab_size, "vocab_size", 4)
        if not isinstance(table, dict):
            raise TypeError("table must be a dict prefix tuple -> {word: prob}, "
                            f"got {type(table).__name__}")
        self.vocab_size, self.floor = int(vocab_size), float(floor)
        self.rows = {}
        for prefix, probs in table.items():
            if not isinstance(prefix, tuple) or not isinstance(probs, dict):
                raise TypeError("table entries must be tuple -> dict, "
                                f"got {prefix!r}: {type(probs).__name__}")
            if any(not 0 <= w < vocab_size for w in list(prefix) + list(probs)):
                raise ValueError(f"table entry {prefix!r} uses a word id outside [0, {vocab_size})")
            self.rows[prefix] = self._distribution(probs)
        self.prefixes: list[tuple] = [()]  # prefix of each state id
        self._ids = {(): 0}

    def _distribution(self, probs: dict) -> torch.Tensor:
        p = torch.zeros(self.vocab_size, dtype=torch.float64)
        for w, q in probs.items():
            p[w] = q
        rest = max(0.0, 1.0 - float(p.sum()))
        missing = p == 0
        if int(missing.sum()):
            p[missing] = rest / int(missing.sum())
        p = p.clamp_min(self.floor)
        return (p / p.sum()).log().float()  # (V,) log-probabilities

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> _TableMemory:
        return _TableMemory(_TableState(torch.zeros(src.size(0), dtype=torch.long)))

    def decode_step(self, prev_tokens: torch.Tensor, state: _TableState, memory: _TableMemory):
        ids = []
        for p, word in zip(state.prefix.tolist(), prev_tokens.tolist()):
            prefix = self.prefixes[p] + (() if word == SOS_ID else (word,))
            if prefix not in self._ids:
                self._ids[prefix] = len(self.prefixes)
                self.prefixes.append(prefix)
            ids.append(self._ids[prefix])
        end = self.rows.get(None)
        if end is None:
            end = self.rows[None] = self._distribution({EOS_ID: 1.0})
        logits = torch.stack([self.rows.get(self.prefixes[i], end) for i in ids])  # (B, V)
        return DecoderStep(logits, _TableState(torch.tensor(ids)), None)


# --------------------------------------------------------------------------- token strings


def attach_beam_tokens(trace: Sequence[dict], src_tokenizer, tgt_tokenizer) -> list[dict]:
    """Return a copy of a beam-search trace with token strings next to the ids.

    Adds ``src_tokens``, ``text`` (the best hypothesis detokenised), per node ``piece``, per
    expanded hypothesis ``input_token`` and ``top_tokens``, and ``n_best_text`` (one string per
    n-best hypothesis).

    Args:
        trace: ``BeamResult.trace`` (from ``beam_search(..., return_trace=True)``).
        src_tokenizer / tgt_tokenizer: tokenizers with ``pieces(ids)`` and ``decode(ids)``.
    """
    if trace is None or isinstance(trace, dict) or not isinstance(trace, Sequence):
        raise TypeError("trace must be the list of dicts in BeamResult.trace (search with return_trace=True)")
    out = copy.deepcopy(list(trace))
    for sent in out:
        if not isinstance(sent, dict) or sent.get("method") != "beam" or "nodes" not in sent:
            raise ValueError("trace entries must be dicts from beam_search(return_trace=True)")
        sent["src_tokens"] = src_tokenizer.pieces(sent["src_ids"])
        sent["text"] = tgt_tokenizer.decode(sent["tokens"])
        for node in sent["nodes"]:
            node["piece"] = tgt_tokenizer.pieces([node["token"]])[0]
        for s in sent["steps"]:
            for e in s["expanded"]:
                e["input_token"] = tgt_tokenizer.pieces([e["input"]])[0]
                e["top_tokens"] = tgt_tokenizer.pieces(e["top_ids"])
        nodes = sent["nodes"]
        texts = []
        for n in sent["n_best_nodes"]:
            path = []
            while n is not None and nodes[n]["parent"] is not None:
                path.append(nodes[n]["token"])
                n = nodes[n]["parent"]
            texts.append(tgt_tokenizer.decode([x for x in path[::-1] if x != EOS_ID]))
        sent["n_best_text"] = texts
    return out

