"""Beam search (빔 서치) for the encoder-decoder models (Chapter "Beam search").

Greedy decoding commits to the most likely word at every step; exhaustive search
(:func:`s2s_lib.toy.exhaustive_search`) is exponential in the length. Beam search keeps the
``K`` best partial translations (the *beam*, 빔) at every step (Lowerre 1976; the decoder of
Sutskever et al. 2014 and Bahdanau et al. 2015), ranked with :mod:`s2s_lib.length_penalty`.

The algorithm, for one sentence with beam size K:

1. Start with one live hypothesis, the empty output (the decoder reads ``<sos>``).
2. At step t, extend every live hypothesis by every word ``y``; its raw score is the
   log-probability ``log p(y_1 .. y_t | x)``, the sum of the per-word log-probabilities.
3. :func:`select_candidates`: rank all extensions by raw score and look at the best 2K.
   An extension ending in ``<eos>`` that ranks in the top K is *finished* and leaves the
   beam (its score is length-normalised now); the K best extensions that do not end in
   ``<eos>`` are the new live hypotheses (*kept*); the rest are *pruned*. (There are always
   K of them: each parent has one ``<eos>`` extension, so at most K of the best 2K end in it.)
4. **Stopping criterion** (exact, not a heuristic): stop once there are ``n_best`` finished
   hypotheses and no live one can still beat the ``n_best``-th best of them. Extending a
   hypothesis only lowers its raw score, and the length penalty's divisor grows with the
   length, so a live hypothesis with raw score ``s`` can reach at best ``s / lp(max_len)``
   (``LengthPenalty.best_possible``). Early stopping never changes the result.
5. At ``max_len`` the search ends. The answer: the ``n_best`` best finished hypotheses; if
   there are fewer, cut-off live ones (``finished=False``) fill the list after them.

:func:`beam_search_one` writes this plainly, one sentence and one hypothesis at a time;
:func:`beam_search` -- the one the library uses -- advances all B sentences x K
hypotheses as one (B*K)-row batch. Both call :func:`select_candidates`, and the tests check
that they agree. With ``beam_size=1`` and no length normalisation this is greedy decoding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from s2s_lib.checks import check_bool, check_decoder_model, check_int, inference, model_device
from s2s_lib.length_penalty import DEFAULT_LENGTH_PENALTY, LengthPenalty, make_length_penalty
from s2s_lib.tokenize import EOS_ID, SOS_ID
from s2s_lib.trace import BeamTracer

__all__ = ["DEFAULT_LENGTH_PENALTY", "LengthPenalty", "make_length_penalty", "Hypothesis", "BeamResult",
           "Selection", "select_candidates", "beam_search_one", "beam_search"]

# --------------------------------------------------------------------------- results


@dataclass
class Hypothesis:
    """One candidate translation.

    Attributes:
        tokens: the generated ids, without ``<sos>`` and without the final ``<eos>``.
        log_probs: the log-probability of each scored token (``len = len(tokens) + finished``).
        score: the length-normalised score the search ranks by.
        finished: True if it ended with ``<eos>``; False while live or when cut off at ``max_len``.
        attention: (steps, S) float32 attention rows over the real source tokens, or ``None``
            without attention (a list of rows while :func:`beam_search_one` searches).
        state: the decoder state after the last token (only while searching).
    """

    tokens: list[int]
    log_probs: list[float]
    score: float = 0.0
    finished: bool = False
    attention: Any = field(default=None, repr=False, compare=False)
    state: Any = field(default=None, repr=False, compare=False)

    @property
    def raw_score(self) -> float:
        """``log p(Y | x)``: the sum of the step log-probabilities (no length normalisation)."""
        return float(sum(self.log_probs))

    @property
    def length(self) -> int:
        """``|Y|``: the number of scored tokens."""
        return len(self.log_probs)


@dataclass
class BeamResult:
    """Output of :func:`beam_search` for B sentences: per sentence the ``n_best`` hypotheses.

    ``tokens``, ``log_probs``, ``scores``, ``raw_scores``, ``finished`` and ``attention`` describe
    each sentence's best one, as in :class:`s2s_lib.decode.DecodeResult` (code written for greedy
    decoding works unchanged)."""

    hypotheses: list[list[Hypothesis]]
    trace: list[dict] | None = None

    best = property(lambda self: [h[0] for h in self.hypotheses])  # each sentence's best Hypothesis
    tokens = property(lambda self: [h.tokens for h in self.best])
    log_probs = property(lambda self: [h.log_probs for h in self.best])
    scores = property(lambda self: [h.score for h in self.best])
    raw_scores = property(lambda self: [h.raw_score for h in self.best])
    finished = property(lambda self: [h.finished for h in self.best])

    @property
    def attention(self) -> list[np.ndarray] | None:
        rows = [h.attention for h in self.best]
        return None if any(a is None for a in rows) else rows

    def __len__(self) -> int:
        return len(self.hypotheses)


# --------------------------------------------------------------------------- one step's choice


class Selection(NamedTuple):
    """What one step of beam search keeps, per sentence (``b`` rows; ``2K`` candidates, best first)."""

    scores: torch.Tensor    # (b, 2K) raw scores of the best 2K extensions
    parent: torch.Tensor    # (b, 2K) beam slot of the hypothesis each one extends
    token: torch.Tensor     # (b, 2K) the word it adds
    log_prob: torch.Tensor  # (b, 2K) log p of that word
    valid: torch.Tensor     # (b, 2K) False: an extension of an empty slot (score -inf)
    finish: torch.Tensor    # (b, 2K) ends in <eos> and ranks in the top K: a finished hypothesis
    live: torch.Tensor      # (b, K) positions (in the 2K) of the K best not ending in <eos>: the new beam


def select_candidates(raw: torch.Tensor, log_p: torch.Tensor) -> Selection:
    """Step 3 of the algorithm: rank every extension and choose finished and live hypotheses.

    Args:
        raw: (b, K, V) float64 raw score of every extension of every beam slot
            (``-inf`` for empty slots).
        log_p: (b, K, V) the log-probability of each added word.
    """
    b, K, V = raw.shape
    top_scores, top_idx = raw.view(b, K * V).topk(2 * K, dim=1)  # (b, 2K), best first
    parent, token = top_idx // V, top_idx % V
    rank = torch.arange(2 * K, device=raw.device)  # (2K,)
    is_eos = token == EOS_ID
    valid = torch.isfinite(top_scores)
    live = torch.where(is_eos, rank + 2 * K, rank).topk(K, dim=1, largest=False).indices  # <eos> sorts last
    return Selection(top_scores, parent, token, log_p.view(b, K * V).gather(1, top_idx), valid,
                     is_eos & valid & (rank < K), live)


def _search_args(model, max_len, beam_size, length_penalty, n_best):
    """The searches' shared arguments; returns ``(max_len, beam_size, LengthPenalty, n_best)``."""
    check_decoder_model(model)
    max_len, beam_size, n_best = check_int(max_len, "max_len"), check_int(beam_size, "beam_size"), check_int(n_best, "n_best")
    if n_best > beam_size:
        raise ValueError(f"n_best must be <= beam_size ({beam_size}): the beam holds at most beam_size "
                         f"hypotheses, got n_best={n_best}")
    return max_len, beam_size, make_length_penalty(length_penalty), n_best


# --------------------------------------------------------------------------- the plain version


def beam_search_one(model, src: torch.Tensor, max_len: int = 50, *, beam_size: int = 5,
                    length_penalty: Any = DEFAULT_LENGTH_PENALTY, n_best: int = 1,
                    early_stopping: bool = True) -> list[Hypothesis]:
    """Beam search written plainly: one sentence, and one hypothesis at a time.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (or anything with ``encode``/``decode_step``).
        src: one source sentence, a (S,) LongTensor of ids without padding.
        max_len, beam_size, length_penalty, n_best: as in :func:`beam_search`.
        early_stopping: stop as soon as the answer is certain (False: always ``max_len`` steps;
            the answer is the same).
    Returns:
        The ``n_best`` best :class:`Hypothesis`, best first.
    """
    max_len, K, penalty, n_best = _search_args(model, max_len, beam_size, length_penalty, n_best)
    early_stopping = check_bool(early_stopping, "early_stopping")
    if not isinstance(src, torch.Tensor) or src.dim() != 1:
        raise TypeError("src must be one sentence, a (S,) LongTensor (use beam_search for a batch)")
    device = model_device(model)
    with inference(model):
        memory = model.encode(src.unsqueeze(0), [src.numel()])
        beams = [Hypothesis(tokens=[], log_probs=[], attention=[], state=memory.init_state)]
        finished: list[Hypothesis] = []
        for t in range(1, max_len + 1):
            # 2. Extend every live hypothesis by every word: raw score log p(y_1..y_t | x).
            steps = [model.decode_step(torch.tensor([h.tokens[-1] if h.tokens else SOS_ID], device=device),
                                       h.state, memory) for h in beams]
            log_p = torch.full((K, steps[0].logits.size(-1)), float("-inf"))  # (K, V): empty slots: -inf
            log_p[: len(beams)] = torch.stack([torch.log_softmax(s.logits[0].float(), -1).cpu() for s in steps])
            raw = torch.tensor([h.raw_score for h in beams] + [0.0] * (K - len(beams)), dtype=torch.float64)
            # 3. Of the best 2K: <eos> in the top K finishes, the K best others stay live.
            sel = select_candidates((raw[:, None] + log_p.double()).unsqueeze(0), log_p.unsqueeze(0))
            new_beams = []
            for j in range(2 * K):
                if not sel.valid[0, j]:
                    continue
                hyp, step = beams[int(sel.parent[0, j])], steps[int(sel.parent[0, j])]
                rows = hyp.attention + ([] if step.weights is None else [step.weights[0].float().cpu()])
                lps = hyp.log_probs + [float(sel.log_prob[0, j])]
                if sel.finish[0, j]:
                    finished.append(Hypothesis(hyp.tokens, lps, penalty(float(sel.scores[0, j]), t),
                                               finished=True, attention=rows))
                elif j in sel.live[0].tolist():
                    new_beams.append(Hypothesis(hyp.tokens + [int(sel.token[0, j])], lps, attention=rows,
                                                state=step.state))
            beams = new_beams
            # 4. Stop when no live hypothesis can beat the n_best-th finished one any more.
            finished.sort(key=lambda h: h.score, reverse=True)
            if (early_stopping and len(finished) >= n_best and
                    penalty.best_possible(max(h.raw_score for h in beams), max_len) <= finished[n_best - 1].score):
                break
    # 5. Cut-off hypotheses only fill up an n-best list that is too short.
    for hyp in beams:
        hyp.score = penalty(hyp.raw_score, hyp.length)
    best = (finished + sorted(beams, key=lambda h: h.score, reverse=True))[:n_best]
    for hyp in best:
        hyp.state = None
        hyp.attention = np.stack([r.numpy() for r in hyp.attention]).astype(np.float32) if hyp.attention else None
    return best


# --------------------------------------------------------------------------- the batched version


class _History:
    """What every step kept, [step, sentence, slot], to read the hypotheses back at the end."""

    def __init__(self, max_len: int, B: int, K: int):
        self.token = torch.zeros(max_len, B, K, dtype=torch.long)
        self.parent = torch.zeros(max_len, B, K, dtype=torch.long)
        self.lp = torch.zeros(max_len, B, K)
        self.attn = None  # (max_len, B, K, S) attention of the hypothesis in a slot at a step
        self.K = K

    def record(self, t, rows, token, parent, lp, weights, b):
        self.token[t - 1, rows] = token.cpu()
        self.parent[t - 1, rows] = parent.cpu()
        self.lp[t - 1, rows] = lp.float().cpu()
        if weights is not None:
            if self.attn is None:
                self.attn = torch.zeros(*self.token.shape, weights.size(-1))
            self.attn[t - 1, rows] = weights.float().view(b, self.K, -1).cpu()  # (b, K, S)

    def hypothesis(self, i: int, t: int, k: int, n_src: int, score: float, eos_lp: float | None = None):
        """Sentence i's hypothesis: the live one in slot k after step t, or (``eos_lp`` given)
        the one that finished at step t by extending slot k of step t - 1 with ``<eos>``."""
        tokens, lps, rows = [], [], []
        if eos_lp is not None:
            lps.append(eos_lp)
            rows.append(self._row(t - 1, i, k, n_src))
            t -= 1
        for s in range(t - 1, -1, -1):
            tokens.append(int(self.token[s, i, k]))
            lps.append(float(self.lp[s, i, k]))
            k = int(self.parent[s, i, k])
            rows.append(self._row(s, i, k, n_src))
        attention = None if self.attn is None else np.stack(rows[::-1]).astype(np.float32)
        return Hypothesis(tokens[::-1], lps[::-1], score, finished=eos_lp is not None, attention=attention)

    def _row(self, s, i, k, n_src):  # the attention row of slot k's hypothesis at step s + 1
        return None if self.attn is None else self.attn[s, i, k, :n_src].numpy()


def beam_search(model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 50, *,
                beam_size: int = 5, length_penalty: Any = DEFAULT_LENGTH_PENALTY, n_best: int = 1,
                return_trace: bool = False) -> BeamResult:
    """Batched beam search: all B sentences x K hypotheses advance as one (B*K)-row batch.

    The encoder runs once; its memory is repeated K times (``Memory.index_select``) and after
    every step the states follow their parents (``DecoderState.index_select``). A sentence
    whose search is over (step 4) leaves the batch. Raw scores are summed in float64.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (eval mode, no gradients while searching;
            the training flag is restored).
        src: (B, S) LongTensor of source ids, padded with ``PAD_ID``.
        src_lengths: (B,) real source lengths (a tensor or a list).
        max_len: at most this many steps (tokens, the ``<eos>`` included) per hypothesis.
        beam_size: K, the number of live hypotheses per sentence.
        length_penalty: how scores are normalised by length (:func:`make_length_penalty`);
            default GNMT with alpha = 0.6 (:data:`DEFAULT_LENGTH_PENALTY`).
        n_best: hypotheses to return per sentence (<= beam_size).
        return_trace: also return :attr:`BeamResult.trace`, per sentence a dict with every
            node the search created (``{"id", "parent", "step", "token", "log_prob", "score",
            "norm_score", "status": "root" | "kept" | "finished" | "pruned"}``), per step the
            expanded live hypotheses (their top next words and attention row) and the 2K
            candidates, the ``winner`` path and the ``n_best_nodes`` (:mod:`s2s_lib.trace`).
    Returns:
        A :class:`BeamResult`, e.g. ``[tgt_tokenizer.decode(t) for t in result.tokens]``.
    """
    max_len, K, penalty, n_best = _search_args(model, max_len, beam_size, length_penalty, n_best)
    device = model_device(model)
    with inference(model):
        memory = model.encode(src, src_lengths)  # checks the batch, moves it to the device
        B, S = src.shape
        lengths = torch.as_tensor(src_lengths).tolist()
        memory = memory.index_select(torch.arange(B, device=device).repeat_interleave(K))  # each sentence K times
        state, prev = memory.init_state, torch.full((B * K,), SOS_ID, dtype=torch.long, device=device)
        scores = torch.zeros(B, K, dtype=torch.float64, device=device)  # raw score of each live hypothesis
        scores[:, 1:] = float("-inf")  # all K start as <sos>: only one may be extended
        alive = list(range(B))  # original index of every sentence still in the batch
        history = _History(max_len, B, K)
        finished: list[list[tuple]] = [[] for _ in range(B)]  # (score, step, parent slot, log p, trace node)
        threshold = torch.full((B,), float("-inf"), dtype=torch.float64)  # n_best-th finished score
        tracer = BeamTracer(K, penalty, lengths) if return_trace else None
        for t in range(1, max_len + 1):
            b, rows = len(alive), torch.tensor(alive)
            step = model.decode_step(prev, state, memory)
            log_p = torch.log_softmax(step.logits.float(), dim=-1)  # (b*K, V)
            sel = select_candidates(scores.unsqueeze(2) + log_p.double().view(b, K, -1), log_p.view(b, K, -1))
            new_scores, new_parent, new_token = (x.gather(1, sel.live)  # (b, K) each: the new beam
                                                 for x in (sel.scores, sel.parent, sel.token))
            history.record(t, rows, new_token, new_parent, sel.log_prob.gather(1, sel.live), step.weights, b)
            node_of = tracer.record(t, alive, log_p, step.weights, sel) if tracer is not None else {}
            for r, j in sel.finish.nonzero().tolist():
                i = alive[r]
                finished[i].append((penalty(float(sel.scores[r, j]), t), t, int(sel.parent[r, j]),
                                    float(sel.log_prob[r, j]), node_of.get((r, j))))
                finished[i].sort(key=lambda f: f[0], reverse=True)  # stable: earlier first on ties
                if len(finished[i]) >= n_best:
                    threshold[i] = finished[i][n_best - 1][0]
            # Stop a sentence when no live hypothesis can beat its n_best-th finished one.
            done = penalty.best_possible(new_scores.max(dim=1).values.cpu(), max_len) <= threshold[rows]  # (b,)
            parent_rows = (torch.arange(b, device=device) * K).unsqueeze(1) + new_parent  # (b, K)
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
                memory = memory.index_select(((keep * K).unsqueeze(1) + torch.arange(K, device=device)).view(-1))
                parent_rows, new_token, new_scores = parent_rows[keep], new_token[keep], new_scores[keep]
            state = step.state.index_select(parent_rows.view(-1))  # follow the parents
            prev, scores = new_token.reshape(-1), new_scores
    cut = dict(zip(alive, new_scores.cpu().tolist()))  # live hypotheses when the search ended
    results, result_nodes = [], []
    for i in range(B):
        best = [history.hypothesis(i, step_t, k, lengths[i], score, lp)
                for score, step_t, k, lp, _ in finished[i][:n_best]]
        nodes = [node for *_, node in finished[i][:n_best]]
        if len(best) < n_best and i in cut:  # cut-off hypotheses fill the list
            fill = sorted(((penalty(raw, max_len), k) for k, raw in enumerate(cut[i]) if math.isfinite(raw)),
                          key=lambda c: c[0], reverse=True)[: n_best - len(best)]
            best += [history.hypothesis(i, max_len, k, lengths[i], score) for score, k in fill]
            nodes += [tracer.slot_node[i][k] if tracer is not None else None for _, k in fill]
        results.append(best)
        result_nodes.append(nodes)
    trace = tracer.finish(results, result_nodes, src, max_len, n_best) if tracer is not None else None
    return BeamResult(results, trace)
