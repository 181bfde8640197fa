"""Tests of the decoding views (s2s_lib.views.decode_stepper and beam_tree): data built from
real decode traces, round trips through the HTML fragment, escaping, and bad input.

What happens in a browser is tested in tests/browser/ (view_interactions.py)."""
from __future__ import annotations

import copy
import json
import math
from html.parser import HTMLParser

import pytest
import torch

from s2s_lib import views
from s2s_lib.beam import beam_search
from s2s_lib.decode import attach_tokens, greedy_decode, sample_decode
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import PAD_ID, CharTokenizer

SRC_V, TGT_V = 20, 14
HOSTILE = "</script><img src=x onerror=alert(1)> \"q\" & \u2028 <!-- 한국어"
SRC_TOK = CharTokenizer([chr(ord("가") + i) for i in range(SRC_V - 4)])
TGT_TOK = CharTokenizer([chr(ord("a") + i) for i in range(TGT_V - 4)])


def make_model(attention="bahdanau"):
    torch.manual_seed(0)
    model = Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, attention=attention)
    with torch.no_grad():
        model.decoder.out.weight.mul_(4.0)
    return model.eval()


def batch(B=3, S=5):
    src = torch.randint(4, SRC_V, (B, S), generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([5, 3, 4][:B])
    for i, n in enumerate(lengths.tolist()):
        src[i, n:] = PAD_ID
    return src, lengths


def traces(attention="bahdanau", K=3):
    model = make_model(attention)
    src, lengths = batch()
    greedy = greedy_decode(model, src, lengths, 6, return_trace=True)
    sample = sample_decode(model, src, lengths, 6, temperature=1.5, return_trace=True,
                           generator=torch.Generator().manual_seed(0))
    beam = beam_search(model, src, lengths, 6, beam_size=K, n_best=2, return_trace=True)
    return {"greedy": attach_tokens(greedy.trace, SRC_TOK, TGT_TOK),
            "sampling (T=1.5)": attach_tokens(sample.trace, SRC_TOK, TGT_TOK),
            f"beam (K={K})": attach_tokens(beam.trace, SRC_TOK, TGT_TOK)}


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.json, self._in = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in = tag == "script" and dict(attrs).get("type") == "application/json"
        if self._in:
            self.json.append("")

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.json[-1] += data


def data_of(html: str) -> dict:
    parser = _Scripts()
    parser.feed(html)
    assert len(parser.json) == 1
    return json.loads(parser.json[0])


# ------------------------------------------------------------------ registration, round trip


def test_kinds_are_registered_and_exported():
    assert {"stepper", "beam_tree"} <= set(views.KINDS)
    assert "decode_stepper" in views.__all__ and "beam_tree" in views.__all__
    t = traces()
    assert views.decode_stepper(t, title="s").kind == "stepper"
    assert views.beam_tree(t["beam (K=3)"][0], title="b").kind == "beam_tree"


@pytest.mark.parametrize("attention", ["bahdanau", None])
def test_stepper_data_follows_the_traces(attention):
    t = traces(attention)
    view = views.decode_stepper(t, title="Decoding", top_k=4)
    html = view.to_html()
    assert 'data-s2s-kind="stepper"' in html and 'ui.register("stepper"' in html
    data = data_of(html)
    assert data == view.data
    assert data["strategies"] == ["greedy", "sampling (T=1.5)", "beam (K=3)"]
    assert len(data["items"]) == 3
    for i, item in enumerate(data["items"]):
        assert item["src"] == t["greedy"][i]["src_tokens"]
        assert item["name"] == "".join(item["src"])  # CharTokenizer pieces joined
        greedy, sample, beam = item["frames"]
        for frame, trace in ((greedy, t["greedy"][i]), (sample, t["sampling (T=1.5)"][i])):
            assert frame["beam"] is False and frame["text"] == trace["text"]
            assert len(frame["steps"]) == len(trace["steps"])
            for k, (step, raw) in enumerate(zip(frame["steps"], trace["steps"])):
                assert step["input"] == raw["input_token"] and len(step["bars"]) == 4
                assert step["prefix"] == [s["chosen_token"] for s in trace["steps"][:k]]
                assert step["chosen"] == raw["chosen_token"]
                if step["rank"] >= 0:
                    assert step["bars"][step["rank"]][0] == step["chosen"]
                if attention is None:
                    assert step["attention"] is None
                else:
                    assert len(step["attention"]) == len(item["src"])
                    assert math.isclose(sum(step["attention"]), 1, abs_tol=1e-3)
        assert all(step["rank"] == 0 for step in greedy["steps"])  # greedy takes the top token
        raw = t["beam (K=3)"][i]
        assert beam["beam"] is True and beam["text"] == raw["text"] and len(beam["steps"]) == len(raw["steps"])
        assert [h["prefix"] for h in beam["steps"][0]["hyps"]] == [[]]  # the search starts empty
        for step in beam["steps"]:
            assert 1 <= len(step["hyps"]) <= 3 and len(step["cands"]) <= 6
            assert {c["status"] for c in step["cands"]} <= {"kept", "finished", "pruned"}
            assert all(0 <= c["hyp"] < len(step["hyps"]) for c in step["cands"])
        for before, after in zip(beam["steps"], beam["steps"][1:]):  # the kept ones live on
            kept = sorted((before["hyps"][c["hyp"]]["prefix"] + [c["token"]], c["score"])
                          for c in before["cands"] if c["status"] == "kept")
            assert kept == sorted((h["prefix"], h["score"]) for h in after["hyps"])


def test_beam_tree_data():
    trace = traces(K=2)["beam (K=2)"][1]
    view = views.beam_tree(trace, title="Beam tree")
    data = data_of(view.to_html())
    assert data == view.data
    assert data["src"] == trace["src_tokens"] and data["text"] == trace["text"] and data["beam_size"] == 2
    assert data["steps"] == len(trace["steps"]) and data["winner"] == trace["winner"]
    assert [n["token"] for n in data["nodes"]] == [n["piece"] for n in trace["nodes"]]
    assert data["nodes"][0]["status"] == "root" and data["nodes"][0]["parent"] is None
    assert data["length_penalty"] == "gnmt(alpha=0.6)"


def test_hostile_tokens_are_data_not_markup():
    t = traces()
    for strategy in t.values():
        strategy[0]["src_tokens"] = [HOSTILE] + strategy[0]["src_tokens"][1:]
    t["greedy"][0]["steps"][0]["top_tokens"][0] = HOSTILE
    beam = t["beam (K=3)"][0]
    beam["nodes"][1]["piece"] = HOSTILE
    for view in (views.decode_stepper(t, title=HOSTILE, names=[HOSTILE, "b", "c"]),
                 views.beam_tree(beam, title=HOSTILE)):
        html = view.to_html()
        parser = _Scripts()
        parser.feed(html)
        assert parser.tags.count("script") == 2 and "img" not in parser.tags
        assert "<img" not in html and "<!--" not in html
        assert all("\u2028" not in text for text in parser.json)  # would end a JS string early
        data = data_of(html)
        assert data["title"] == HOSTILE
        assert HOSTILE in (data["items"][0]["src"] if view.kind == "stepper" else [n["token"] for n in data["nodes"]])
    assert views.decode_stepper(t, title="x", names=[HOSTILE, "b", "c"]).data["items"][0]["name"] == HOSTILE


def test_numbers_are_rounded():
    t = traces()
    t["greedy"][0]["steps"][0]["top_probs"][0] = 0.123456789
    data = views.decode_stepper(t, title="x").data
    assert data["items"][0]["frames"][0]["steps"][0]["bars"][0][1] == 0.1235


# ------------------------------------------------------------------ bad input


def _raw_greedy():
    return greedy_decode(make_model(), *batch(), 6, return_trace=True).trace


def _bad_stepper():
    t = traces()
    cases = []

    def case(change, error, message):
        bad = copy.deepcopy(t)
        change(bad)
        cases.append((lambda bad=bad: views.decode_stepper(bad, title="t"), error, message))

    case(lambda b: b["greedy"].pop(), ValueError, "same sentences")
    case(lambda b: b["sampling (T=1.5)"][1].__setitem__("src_tokens", ["x"]), ValueError,
         r"traces\['sampling \(T=1.5\)'\]\[1\] decodes another source sentence than traces\['greedy'\]\[1\]")
    case(lambda b: b["greedy"][0]["steps"][0].__setitem__("top_probs", [1.5] * 10), ValueError, r"\['top_probs'\] must hold probabilities")
    case(lambda b: b["greedy"][0]["steps"][0].__setitem__("top_probs", [0.5]), ValueError, "same length")
    case(lambda b: b["greedy"][0]["steps"][0].__setitem__("attention", [0.5, 0.5]), ValueError, r"one weight per source token \(5\)")
    case(lambda b: b["greedy"][0]["steps"][0].__setitem__("chosen_token", 7), TypeError, "chosen_token")
    case(lambda b: b["greedy"][0]["steps"][0].__setitem__("top_probs", [math.nan] * 10), ValueError, "finite")
    case(lambda b: b["beam (K=3)"][0]["nodes"][2].__setitem__("status", "lost"), ValueError, r"\['status'\] must be one of")
    case(lambda b: b["beam (K=3)"][0]["nodes"][2].__setitem__("parent", 9999), ValueError, "earlier node")
    case(lambda b: b["beam (K=3)"][0]["steps"][0].__setitem__("candidates", [0]), ValueError, "candidates")
    case(lambda b: b["beam (K=3)"][0]["nodes"][1].pop("piece"), ValueError, "attach_tokens")
    case(lambda b: b.__setitem__("greedy", b["greedy"][0]), TypeError, "not one dict")
    return cases


BAD = _bad_stepper() + [
    (lambda: views.decode_stepper([1], title="t"), TypeError, "traces"),
    (lambda: views.decode_stepper({}, title="t"), ValueError, "at least one strategy"),
    (lambda: views.decode_stepper({"greedy": []}, title="t"), ValueError, "must not be empty"),
    (lambda: views.decode_stepper({"greedy": _raw_greedy()}, title="t"), ValueError, "attach_tokens"),
    (lambda: views.decode_stepper({3: traces()["greedy"]}, title="t"), TypeError, "traces key"),
    (lambda: views.decode_stepper(traces(), title=None), TypeError, "title"),
    (lambda: views.decode_stepper(traces(), title="t", top_k=0), ValueError, "top_k"),
    (lambda: views.decode_stepper(traces(), title="t", names=["a"]), ValueError, "names"),
    (lambda: views.beam_tree(traces()["greedy"][0], title="t"), ValueError, "trace is missing"),
    (lambda: views.beam_tree({**traces()["greedy"][0], "method": "greedy", "nodes": [], "winner": [],
                              "beam_size": 1}, title="t"), ValueError, "beam_search"),
    (lambda: views.beam_tree(traces()["beam (K=3)"], title="t"), TypeError, "trace must be a dict"),
    (lambda: views.beam_tree({**traces()["beam (K=3)"][0], "winner": [0, 5, 1]}, title="t"), ValueError, "path"),
    (lambda: views.beam_tree({**traces()["beam (K=3)"][0], "winner": [1]}, title="t"), ValueError, "root"),
    (lambda: views.beam_tree(traces()["beam (K=3)"][0], title=5), TypeError, "title"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"{i}-{m}" for i, (_, _, m) in enumerate(BAD)])
def test_bad_input_raises_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


# Defects: True passed as node id 1 (expanded node, candidate, winner), and "finished" /
# "stopped" / "beam_size" were taken for their truth value or any number (beam size 2.5, 0).
def _bad_beam():
    t = traces()
    b0 = t["beam (K=3)"][0]
    cases = []

    def stepper(change, message):
        bad = copy.deepcopy(t)
        change(bad)
        cases.append((lambda bad=bad: views.decode_stepper(bad, title="t"), message))

    def tree(change, message):
        bad = copy.deepcopy(b0)
        change(bad)
        cases.append((lambda bad=bad: views.beam_tree(bad, title="t"), message))

    stepper(lambda b: b["beam (K=3)"][0]["steps"][0]["expanded"][0].__setitem__("node", True), r"\['node'\] must be a node id")
    stepper(lambda b: b["beam (K=3)"][0]["steps"][0].__setitem__("candidates", [True]), "candidates")
    stepper(lambda b: b["beam (K=3)"][0]["steps"][0].__setitem__("stopped", "no"), r"\['stopped'\] must be True or False")
    stepper(lambda b: b["greedy"][0].__setitem__("finished", "no"), r"\['finished'\] must be True or False")
    stepper(lambda b: b["beam (K=3)"][0].__setitem__("finished", None), r"\['finished'\] must be True or False")
    tree(lambda b: b.__setitem__("winner", [0, True]), "winner")
    tree(lambda b: b.__setitem__("beam_size", 2.5), r"trace\['beam_size'\] must be an int")
    tree(lambda b: b.__setitem__("beam_size", 0), r"trace\['beam_size'\] must be >= 1")
    return cases


@pytest.mark.parametrize("make, message", _bad_beam(), ids=[m for _, m in _bad_beam()])
def test_beam_ids_flags_and_sizes_must_have_their_types(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_winner_may_hold_numpy_ints():  # it was refused as "not a list of node ids"
    import numpy as np

    trace = traces()["beam (K=3)"][0]
    view = views.beam_tree({**trace, "winner": list(np.array(trace["winner"]))}, title="t")
    assert view.data["winner"] == trace["winner"]
