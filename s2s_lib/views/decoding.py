"""Views of decoding (Chapter "Beam search"): a decoding stepper and a beam-search tree.

* :func:`decode_stepper` -- step through greedy decoding, sampling and beam search one
  token at a time: the Korean source (shaded by the attention row), the decoder input,
  the next-token probabilities as bars, the chosen token, and for beam search the live
  hypotheses with their scores and what was kept, finished or pruned at this step.
* :func:`beam_tree` -- the tree of hypotheses a beam search explored (Lowerre 1976;
  Sutskever et al. 2014), kept / finished / pruned nodes drawn differently, the winning
  path highlighted, with a step slider that grows the tree step by step.

Both are built from decode traces (plain data): ``greedy_decode`` / ``sample_decode`` with
``return_trace=True`` or ``beam_search`` with ``return_trace=True``, and
``s2s_lib.trace.attach_tokens``. The constructors check the
traces (errors name the argument), keep only what the browser draws, and round numbers.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from s2s_lib.checks import (check_bool, check_int, check_list, check_mapping, check_number,
                            check_probs, check_str, check_tokens, plain)

from .core import View

__all__ = ["decode_stepper", "beam_tree"]

_STATUSES = ("root", "kept", "finished", "pruned")
# A trace without its token strings: say how to add them (check_mapping's hints).
_TOKEN_HINTS = dict.fromkeys(
    ("src_tokens", "piece", "input_token", "top_tokens", "chosen_token"),
    " -- add the token strings first with s2s_lib.trace.attach_tokens(trace, src_tokenizer, tgt_tokenizer)")


def _attention(row: Any, name: str, n_src: int) -> list | None:
    """An attention row of a trace (or ``None``): one probability per source token."""
    if row is None:
        return None
    weights = check_probs(row, name)
    if len(weights) != n_src:
        raise ValueError(f"{name} must have one weight per source token ({n_src}), got {len(weights)}")
    return weights


def _bars(step: Mapping, name: str, top_k: int) -> list:
    tokens = check_tokens(step["top_tokens"], f"{name}['top_tokens']")
    probs = check_probs(step["top_probs"], f"{name}['top_probs']")
    if len(tokens) != len(probs):
        raise ValueError(f"{name}: top_tokens and top_probs must have the same length, "
                         f"got {len(tokens)} and {len(probs)}")
    return [[t, p] for t, p in zip(tokens, probs)][:top_k]


def _single_frame(trace: Mapping, where: str, n_src: int, top_k: int) -> dict:
    """A greedy / sampling trace -> the stepper's frame."""
    steps = check_list(trace["steps"], f"{where}['steps']")
    frame_steps, prefix = [], []
    for t, step in enumerate(steps):
        name = f"{where}['steps'][{t}]"
        check_mapping(step, name, ("input_token", "top_tokens", "top_probs", "chosen_token",
                                   "chosen_prob", "attention"), hints=_TOKEN_HINTS)
        bars = _bars(step, name, top_k)
        chosen = check_str(step["chosen_token"], f"{name}['chosen_token']")
        rank = next((k for k, (tok, _) in enumerate(bars) if tok == chosen), -1)
        frame_steps.append({
            "input": check_str(step["input_token"], f"{name}['input_token']"),
            "prefix": list(prefix), "bars": bars, "chosen": chosen, "rank": rank,
            "chosen_prob": check_probs([step["chosen_prob"]], f"{name}['chosen_prob']")[0],
            "attention": _attention(step["attention"], f"{name}['attention']", n_src),
        })
        prefix.append(chosen)
    return {"beam": False, "text": check_str(trace["text"], f"{where}['text']"),
            "finished": check_bool(plain(trace["finished"]), f"{where}['finished']"), "steps": frame_steps}


def _beam_nodes(trace: Mapping, where: str) -> list[dict]:
    """The nodes of a beam trace, checked: ids 0..n-1, parents earlier, known statuses."""
    nodes = check_list(trace["nodes"], f"{where}['nodes']")
    out = []
    for k, node in enumerate(nodes):
        name = f"{where}['nodes'][{k}]"
        check_mapping(node, name, ("id", "parent", "step", "piece", "score", "norm_score", "status"),
                      hints=_TOKEN_HINTS)
        if plain(node["id"]) != k:
            raise ValueError(f"{name}['id'] must be {k} (nodes are numbered in order), got {node['id']!r}")
        parent = plain(node["parent"])
        if k == 0:
            if parent is not None:
                raise ValueError(f"{name} must be the root (parent None), got parent {parent!r}")
        elif isinstance(parent, bool) or not isinstance(parent, int) or not 0 <= parent < k:
            raise ValueError(f"{name}['parent'] must be the id of an earlier node, got {parent!r}")
        status = node["status"]
        if status not in _STATUSES or (status == "root") != (k == 0):
            raise ValueError(f"{name}['status'] must be one of {_STATUSES[1:]} (root only for node 0), "
                             f"got {status!r}")
        step = check_number(node["step"], f"{name}['step']")
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"{name}['step'] must be an int >= 0, got {step!r}")
        out.append({"id": k, "parent": parent, "step": step,
                    "token": check_str(node["piece"], f"{name}['piece']"),
                    "score": check_number(node["score"], f"{name}['score']"),
                    "norm": check_number(node["norm_score"], f"{name}['norm_score']"),
                    "status": status})
    return out


def _path(nodes: list[dict], node: int) -> list[str]:
    """Tokens from the root (excluded) to ``node``."""
    tokens = []
    while node is not None and nodes[node]["parent"] is not None:
        tokens.append(nodes[node]["token"])
        node = nodes[node]["parent"]
    return tokens[::-1]


def _beam_frame(trace: Mapping, where: str, n_src: int, top_k: int) -> dict:
    """A beam-search trace -> the stepper's frame."""
    nodes = _beam_nodes(trace, where)
    steps = check_list(trace["steps"], f"{where}['steps']")
    frame_steps = []
    for t, step in enumerate(steps):
        name = f"{where}['steps'][{t}]"
        check_mapping(step, name, ("expanded", "candidates"), hints=_TOKEN_HINTS)
        hyps, index = [], {}
        for e_i, e in enumerate(check_list(step["expanded"], f"{name}['expanded']")):
            ename = f"{name}['expanded'][{e_i}]"
            check_mapping(e, ename, ("node", "input_token", "top_tokens", "top_probs", "attention"),
                          hints=_TOKEN_HINTS)
            node = plain(e["node"])
            if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < len(nodes):
                raise ValueError(f"{ename}['node'] must be a node id, got {node!r}")
            index[node] = len(hyps)
            hyps.append({"prefix": _path(nodes, node), "score": nodes[node]["score"],
                         "input": check_str(e["input_token"], f"{ename}['input_token']"),
                         "bars": _bars(e, ename, top_k),
                         "attention": _attention(e["attention"], f"{ename}['attention']", n_src)})
        cands = []
        for c in check_list(step["candidates"], f"{name}['candidates']", empty=True):
            c = plain(c)
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < len(nodes) \
                    or nodes[c]["parent"] not in index:
                raise ValueError(f"{name}['candidates'] must list nodes whose parent was expanded "
                                 f"at this step, got {c!r}")
            n = nodes[c]
            cands.append({"hyp": index[n["parent"]], "token": n["token"], "score": n["score"],
                          "norm": n["norm"], "status": n["status"]})
        stopped = check_bool(plain(step.get("stopped", False)), f"{name}['stopped']")
        frame_steps.append({"hyps": hyps, "cands": cands, "stopped": stopped})
    return {"beam": True, "text": check_str(trace["text"], f"{where}['text']"),
            "finished": check_bool(plain(trace["finished"]), f"{where}['finished']"), "steps": frame_steps}


def decode_stepper(traces: Mapping[str, Sequence[Mapping]], *, title: str,
                   names: Sequence[str] | None = None, top_k: int = 5) -> View:
    """Step through decoding strategies token by token, for several sentences.

    Example (the beam-search chapter)::

        greedy = attach_tokens(greedy_decode(model, src, lengths, 30, return_trace=True).trace, ko, en)
        beam = attach_tokens(beam_search(model, src, lengths, 30, beam_size=3,
                                              return_trace=True).trace, ko, en)
        decode_stepper({"greedy": greedy, "beam (K=3)": beam}, title="Decoding, step by step")

    Args:
        traces: ordered dict strategy name -> one trace per sentence (the same sentences, in
            the same order, for every strategy). A trace is an entry of a decode trace with
            its token strings: ``attach_tokens(greedy_decode(..., return_trace=True).trace,
            ...)[i]`` (also sampling), or ``attach_tokens(beam_search(...,
            return_trace=True).trace, ...)[i]``.
        title: the view's title.
        names: labels of the sentences in the picker (default: the source pieces joined).
        top_k: how many next-token bars to show (<= what the trace recorded).
    Returns:
        A ``View`` of kind ``"stepper"``: sentence and strategy pickers, ◀ / ▶ buttons and a
        step slider.
    """
    check_mapping(traces, "traces", what="a dict strategy name -> list of traces")
    if not traces:
        raise ValueError("traces must name at least one strategy")
    top_k = check_int(top_k, "top_k")
    strategies = [check_str(k, f"traces key {k!r}") for k in traces]
    sources: list[list[str]] | None = None
    frames = []
    for strategy in strategies:
        where = f"traces[{strategy!r}]"
        sents = traces[strategy]
        if isinstance(sents, Mapping):
            raise TypeError(f"{where} must be a list of per-sentence traces (e.g. result.trace after "
                            "attach_tokens), not one dict")
        sents = check_list(sents, where)
        if sources is None:
            sources = []
            for i, trace in enumerate(sents):
                check_mapping(trace, f"{where}[{i}]", ("src_tokens",), hints=_TOKEN_HINTS)
                sources.append(check_tokens(trace["src_tokens"], f"{where}[{i}]['src_tokens']"))
        elif len(sents) != len(sources):
            raise ValueError(f"{where} has {len(sents)} sentences but traces[{strategies[0]!r}] has "
                             f"{len(sources)}: every strategy must decode the same sentences")
        row = []
        for i, trace in enumerate(sents):
            name = f"{where}[{i}]"
            check_mapping(trace, name, ("src_tokens", "text", "finished", "steps"), hints=_TOKEN_HINTS)
            if check_tokens(trace["src_tokens"], f"{name}['src_tokens']") != sources[i]:
                raise ValueError(f"{name} decodes another source sentence than traces["
                                 f"{strategies[0]!r}][{i}]: every strategy must decode the same sentences")
            beam = trace.get("method") == "beam"
            if beam:
                check_mapping(trace, name, ("nodes",), hints=_TOKEN_HINTS)
            make = _beam_frame if beam else _single_frame
            row.append(make(trace, name, len(sources[i]), top_k))
        frames.append(row)
    if names is None:
        labels = ["".join(src).replace("\u2581", " ").strip() or " ".join(src) for src in sources]
    else:
        labels = check_tokens(names, "names")
        if len(labels) != len(sources):
            raise ValueError(f"names must have one label per sentence ({len(sources)}), got {len(labels)}")
    # frames[s][i] -> items[i]["frames"][s]: the sentence picker comes first
    items = [{"name": labels[i], "src": sources[i], "frames": [frames[s][i] for s in range(len(strategies))]}
             for i in range(len(sources))]
    return View("stepper", {"title": check_str(title, "title"), "strategies": strategies, "items": items})


def beam_tree(trace: Mapping, *, title: str) -> View:
    """The tree of hypotheses one beam search explored, with the winning path highlighted.

    Example::

        trace = attach_tokens(beam_search(model, src, lengths, 30, beam_size=3,
                                               return_trace=True).trace, ko, en)[0]
        beam_tree(trace, title="Beam search, K = 3")

    Args:
        trace: one sentence's beam-search trace with token strings (an entry of
            ``attach_tokens(result.trace, src_tokenizer, tgt_tokenizer)``).
        title: the view's title.
    Returns:
        A ``View`` of kind ``"beam_tree"``: an SVG tree (x = step), a slider revealing the
        search step by step and a toggle that shows or hides the pruned candidates.
    """
    check_mapping(trace, "trace", ("method", "src_tokens", "text", "nodes", "winner", "beam_size"),
                  hints=_TOKEN_HINTS)
    if trace["method"] != "beam":
        raise ValueError(f"trace must come from beam_search (method 'beam'), got method {trace['method']!r}")
    nodes = _beam_nodes(trace, "trace")
    winner = [plain(n) for n in check_list(trace["winner"], "trace['winner']")]
    if winner[0] != 0 or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(nodes)
                             for n in winner):
        raise ValueError("trace['winner'] must be a list of node ids starting at the root 0")
    if any(nodes[b]["parent"] != a for a, b in zip(winner, winner[1:])):
        raise ValueError("trace['winner'] must be a path: each node the parent of the next")
    return View("beam_tree", {
        "title": check_str(title, "title"),
        "src": check_tokens(trace["src_tokens"], "trace['src_tokens']"),
        "text": check_str(trace["text"], "trace['text']"),
        "beam_size": check_int(plain(trace["beam_size"]), "trace['beam_size']"),
        "length_penalty": str(trace.get("length_penalty", "")),
        "steps": max(n["step"] for n in nodes),
        "nodes": nodes, "winner": winner,
    })
