"""Decode traces: what greedy decoding, sampling and beam search did, as plain data for the views.

With ``return_trace=True`` the decoders of :mod:`s2s_lib.decode` and :mod:`s2s_lib.beam`
also return, per sentence, a JSON-serialisable dict (lists, dicts, ints, floats, strings)
that :func:`s2s_lib.views.decode_stepper` and :func:`s2s_lib.views.beam_tree` render:

* greedy / sampling: ``{"method", "src_ids", "tokens", "finished", "steps": [{"step",
  "input", "top_ids", "top_probs", "chosen", "chosen_prob", "log_prob", "attention"}]}``;
* beam search: ``{"method": "beam", "beam_size", "n_best", "max_len", "length_penalty",
  "src_ids", "tokens", "finished", "score", "raw_score", "nodes": [...], "steps": [...],
  "winner", "n_best_nodes"}`` (see :func:`s2s_lib.beam.beam_search`).

Every trace records the :data:`TRACE_TOP_K` most likely next words of each step (of each
live hypothesis, for beam search); probabilities are rounded to 6 decimals.
:func:`attach_tokens` adds the token strings to either kind.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch

from s2s_lib.checks import check_type
from s2s_lib.tokenize import EOS_ID, SOS_ID

__all__ = ["TRACE_TOP_K", "top_candidates", "decode_trace", "BeamTracer", "attach_tokens"]

TRACE_TOP_K = 10  # next-word candidates recorded per step (per live hypothesis) in a trace


def _round(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def top_candidates(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The :data:`TRACE_TOP_K` most likely words: probs (..., V) -> (probs, ids), each (..., k)."""
    return probs.topk(min(TRACE_TOP_K, probs.size(-1)), dim=-1)


def decode_trace(method: str, src_ids: list[int], chosen: list[int], finished: bool, *,
                 inputs, top_p, top_i, chosen_p, log_probs, attention) -> dict:
    """The trace of one sentence of greedy decoding or sampling (per-step lists in step order).

    Args:
        chosen: the word chosen at each step (the final ``<eos>`` included when ``finished``).
        inputs / top_p / top_i / chosen_p / log_probs: per step, the decoder input, the top-k
            probabilities and ids of the distribution the word was chosen from, the chosen
            word's probability in it, and its log-probability under the model.
        attention: (steps, S) rows over the real source tokens, or ``None``.
    """
    return {
        "method": method, "src_ids": list(src_ids),
        "tokens": list(chosen[:-1] if finished else chosen), "finished": finished,
        "steps": [{"step": t, "input": inputs[t], "top_ids": top_i[t], "top_probs": _round(top_p[t]),
                   "chosen": chosen[t], "chosen_prob": round(chosen_p[t], 6), "log_prob": round(log_probs[t], 6),
                   "attention": None if attention is None else _round(attention[t])}
                  for t in range(len(chosen))],
    }


class BeamTracer:
    """Records a batched beam search node by node (see :func:`s2s_lib.beam.beam_search`).

    Every extension among a step's best 2K becomes a node ``{"id", "parent", "step", "token",
    "log_prob", "score" (raw), "norm_score", "status": "kept" | "finished" | "pruned"}``; the
    step records the live hypotheses it expanded with their top-k next words and attention.
    """

    def __init__(self, beam_size: int, penalty, lengths: list[int]):
        self.K, self.penalty, self.lengths = beam_size, penalty, lengths
        self.nodes = [[{"id": 0, "parent": None, "step": 0, "token": SOS_ID, "log_prob": 0.0,
                        "score": 0.0, "norm_score": 0.0, "status": "root"}] for _ in lengths]
        self.slot_node = [[0] + [None] * (beam_size - 1) for _ in lengths]  # node id in each live slot
        self.steps: list[list[dict]] = [[] for _ in lengths]

    def record(self, t: int, alive: list[int], log_p: torch.Tensor, weights, sel) -> dict:
        """Add step t's nodes (``sel``: the step's :class:`~s2s_lib.beam.Selection`).

        Returns ``{(row, position): node id}`` of the hypotheses that finished.
        """
        K, b = self.K, len(alive)
        top_p, top_i = (x.cpu().tolist() for x in top_candidates(log_p.exp().view(b, K, -1)))  # (b, K, k)
        attn = None if weights is None else weights.float().view(b, K, -1).cpu().tolist()  # (b, K, S)
        sc, pa, tok, lp = (x.cpu().tolist() for x in (sel.scores, sel.parent, sel.token, sel.log_prob))
        fin, val, kept = sel.finish.cpu().tolist(), sel.valid.cpu().tolist(), sel.live.cpu().tolist()
        node_of = {}
        for r, i in enumerate(alive):
            nodes, slots = self.nodes[i], self.slot_node[i]
            expanded = [{"node": slots[k], "input": nodes[slots[k]]["token"], "top_ids": top_i[r][k],
                         "top_probs": _round(top_p[r][k]),
                         "attention": None if attn is None else _round(attn[r][k][: self.lengths[i]])}
                        for k in range(K) if slots[k] is not None]
            candidates, new_slots, kept_pos = [], [None] * K, {j: k for k, j in enumerate(kept[r])}
            for j in (j for j in range(2 * K) if val[r][j]):  # invalid: an extension of an empty slot
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
            self.steps[i].append({"step": t, "expanded": expanded, "candidates": candidates, "stopped": False})
            self.slot_node[i] = new_slots
        return node_of

    def stop(self, i: int) -> None:
        """Sentence ``i``'s search ended at its last recorded step."""
        self.steps[i][-1]["stopped"] = True

    def finish(self, results, result_nodes, src, max_len: int, n_best: int) -> list[dict]:
        """The per-sentence trace dicts, given the n-best results and their last nodes."""
        traces = []
        for i, hyps in enumerate(results):
            nodes, winner, n = self.nodes[i], [], result_nodes[i][0]
            while n is not None:  # from the best hypothesis' last node back to the root
                winner.append(n)
                n = nodes[n]["parent"]
            best = hyps[0]
            traces.append({
                "method": "beam", "beam_size": self.K, "n_best": n_best, "max_len": max_len,
                "length_penalty": str(self.penalty), "src_ids": src[i, : self.lengths[i]].tolist(),
                "tokens": list(best.tokens), "finished": best.finished,
                "score": round(best.score, 6), "raw_score": round(best.raw_score, 6),
                "nodes": nodes, "steps": self.steps[i], "winner": winner[::-1],
                "n_best_nodes": list(result_nodes[i]),
            })
        return traces


def attach_tokens(trace: Sequence[dict], src_tokenizer, tgt_tokenizer) -> list[dict]:
    """Return a copy of a decode trace (any method) with token strings next to the ids.

    Adds ``src_tokens`` and ``text`` (the output detokenised); per step ``input_token``,
    ``top_tokens`` and ``chosen_token`` (greedy/sampling) or, for beam search, per expanded
    hypothesis ``input_token`` and ``top_tokens``, per node ``piece`` and ``n_best_text``.

    Args:
        trace: ``result.trace`` of a decoder run with ``return_trace=True``.
        src_tokenizer / tgt_tokenizer: tokenizers with ``pieces(ids)`` and ``decode(ids)``.
    """
    if trace is None or isinstance(trace, dict):
        raise TypeError("trace must be the list of dicts in result.trace (decode with return_trace=True)")
    check_type(trace, "trace", Sequence, "the list of dicts in result.trace")
    out = copy.deepcopy(list(trace))
    for sent in out:
        if not isinstance(sent, dict) or "steps" not in sent or "src_ids" not in sent:
            raise ValueError("trace entries must be dicts from a decoder run with return_trace=True")
        one = lambda i: tgt_tokenizer.pieces([i])[0]  # noqa: E731
        sent["src_tokens"] = src_tokenizer.pieces(sent["src_ids"])
        sent["text"] = tgt_tokenizer.decode(sent["tokens"])
        if sent.get("method") != "beam":
            for s in sent["steps"]:
                s.update(input_token=one(s["input"]), top_tokens=tgt_tokenizer.pieces(s["top_ids"]),
                         chosen_token=one(s["chosen"]))
            continue
        nodes = sent["nodes"]
        for node in nodes:
            node["piece"] = one(node["token"])
        for s in sent["steps"]:
            for e in s["expanded"]:
                e.update(input_token=one(e["input"]), top_tokens=tgt_tokenizer.pieces(e["top_ids"]))
        texts = []
        for n in sent["n_best_nodes"]:
            path = []
            while n is not None and nodes[n]["parent"] is not None:
                path.append(nodes[n]["token"])
                n = nodes[n]["parent"]
            texts.append(tgt_tokenizer.decode([x for x in path[::-1] if x != EOS_ID]))
        sent["n_best_text"] = texts
    return out
