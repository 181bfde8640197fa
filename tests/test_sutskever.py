"""The capstone's pieces (s2s_lib.sutskever): the study's recipes, n-best lists, rescoring, the oracle."""
import numpy as np
import pytest
import torch

from s2s_lib import sutskever, zoo
from s2s_lib.beam import beam_search
from s2s_lib.ensemble import Ensemble
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import EOS_ID, PAD_ID, SOS_ID, UNK_ID
from s2s_lib.transformer import Transformer

V_SRC, V_TGT = 20, 15
SOURCES = [[5, 6, 7, 8, 9], [10, 11, 12], [4]]


def models():
    torch.manual_seed(0)
    rnn = Seq2Seq(V_SRC, V_TGT, emb_dim=8, hidden_dim=16, attention="general", cell="lstm", num_layers=2).eval()
    reverse = Seq2Seq(V_SRC, V_TGT, emb_dim=8, hidden_dim=16, cell="lstm", reverse_source=True).eval()
    tx = Transformer(V_SRC, V_TGT, d_model=16, num_heads=2, num_layers=1, ff_dim=32, dropout=0.0).eval()
    with torch.no_grad():  # like trained models, never write <pad>/<sos>/<unk>; finish some hypotheses early
        for out in (rnn.decoder.out, reverse.decoder.out, tx.out):
            out.bias[[PAD_ID, SOS_ID, UNK_ID]] = -30.0
            out.bias[EOS_ID] += 1.5
    return {"rnn": rnn, "reverse": reverse, "tx": tx}


def test_study_recipes_change_only_depth_reversal_and_seed():
    base = zoo.get_recipe(sutskever.STUDY_BASE)
    assert base.model["cell"] == "lstm" and base.model["num_layers"] == 4 and base.reverse_source
    assert base.model["attention"] is None and not base.model["bidirectional"]
    rows = sutskever.study_recipes()
    assert len(rows) == 9 and rows["4 layers, reversed, seed 0"] is base
    for label, r in rows.items():
        layers, order, seed = label.split(", ")
        assert r.model == dict(base.model, num_layers=int(layers.split()[0]))
        assert r.reverse_source == (order == "reversed") and r.seed == int(seed.split()[1])
        assert {k: v for k, v in r.to_dict().items() if k not in ("model", "reverse_source", "seed", "name")} == \
            {k: v for k, v in base.to_dict().items() if k not in ("model", "reverse_source", "seed", "name")}


@pytest.mark.parametrize("name", ["rnn", "reverse", "tx"])
def test_nbest_lists_are_the_beam_searchs_best_first(name):
    model = models()[name]
    lists = sutskever.nbest(model, SOURCES, beam_size=4, n_best=3, batch_size=2, max_len=9)
    src = torch.tensor([s + [0] * (5 - len(s)) for s in SOURCES])
    expected = beam_search(model, src, torch.tensor([len(s) for s in SOURCES]), 9, beam_size=4, n_best=3)
    assert [[h.tokens for h in hyps] for hyps in lists] == [[h.tokens for h in hyps] for hyps in expected.hypotheses]
    for hyps in lists:  # finished ones first, each group best first
        assert len(hyps) == 3 and [h.finished for h in hyps] == sorted((h.finished for h in hyps), reverse=True)
        for group in (True, False):
            scores = [h.score for h in hyps if h.finished == group]
            assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", ["rnn", "reverse", "tx"])
def test_forced_decoding_log_probability_is_the_beams_raw_score(name):
    """Scoring a model's own finished hypotheses with that model gives back their log p(y | x)."""
    model = models()[name]
    lists = sutskever.nbest(model, SOURCES, beam_size=4, max_len=30)
    logp = sutskever.forced_log_probs(model, lists, SOURCES, batch_size=5)
    checked = 0
    for hyps, values in zip(lists, logp):
        assert len(values) == len(hyps)
        for h, value in zip(hyps, values):
            if h.finished:
                assert value == pytest.approx(h.raw_score, abs=1e-4)
                checked += 1
    assert checked >= 3


def test_rescore_picks_the_best_weighted_sum():
    m = models()
    lists = sutskever.nbest(m["rnn"], SOURCES, beam_size=5, max_len=12)
    f = {name: sutskever.forced_log_probs(m[name], lists, SOURCES) for name in ("rnn", "tx")}
    assert sutskever.rescore(lists, {}, {"beam": 1.0}) == [0, 0, 0]  # the beam's own choice
    choice = sutskever.rescore(lists, f, {"rnn": 0.5, "tx": 0.5}, length_bonus=0.3)
    for i, hyps in enumerate(lists):
        total = [0.5 * a + 0.5 * b + 0.3 * len(h.tokens) for a, b, h in zip(f["rnn"][i], f["tx"][i], hyps)]
        assert choice[i] == max(range(len(hyps)), key=lambda j: (total[j], -j))
    # a huge length bonus picks the longest hypothesis, a huge penalty the shortest
    longest = sutskever.rescore(lists, f, {"rnn": 1.0}, length_bonus=1e6)
    shortest = sutskever.rescore(lists, f, {"rnn": 1.0}, length_bonus=-1e6)
    for hyps, i, j in zip(lists, longest, shortest):
        assert len(hyps[i].tokens) == max(len(h.tokens) for h in hyps)
        assert len(hyps[j].tokens) == min(len(h.tokens) for h in hyps)


def test_an_ensemble_of_one_scores_like_its_member():
    m = models()
    lists = sutskever.nbest(m["rnn"], SOURCES, beam_size=3, max_len=12)
    a = sutskever.forced_log_probs(Ensemble([m["rnn"]]), lists, SOURCES)
    b = sutskever.forced_log_probs(m["rnn"], lists, SOURCES)
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-4)


def test_oracle_picks_the_hypothesis_closest_to_the_reference():
    lists = sutskever.nbest(models()["rnn"], SOURCES, beam_size=4, max_len=12)
    words = {i: f"w{i}" for i in range(V_TGT)}

    def detok(ids):
        return " ".join(words[i] for i in ids)

    refs = [detok(hyps[-1].tokens) for hyps in lists]  # the worst of each list is the reference
    picked = sutskever.oracle(lists, refs, detok)
    assert [detok(hyps[i].tokens) for hyps, i in zip(lists, picked)] == refs


def test_rescoring_rejects_bad_input():
    m = models()
    lists = sutskever.nbest(m["rnn"], SOURCES, beam_size=2, max_len=8)
    f = {"rnn": sutskever.forced_log_probs(m["rnn"], lists, SOURCES)}
    with pytest.raises(ValueError, match="weights"):
        sutskever.rescore(lists, f, {"missing": 1.0})
    with pytest.raises(ValueError, match="weights"):
        sutskever.rescore(lists, f, {})
    with pytest.raises(TypeError, match="weights"):
        sutskever.rescore(lists, f, {"rnn": "1"})
    with pytest.raises(ValueError, match="features"):
        sutskever.rescore(lists[:2], f, {"rnn": 1.0})
    with pytest.raises(TypeError, match="features"):
        sutskever.rescore(lists, [f["rnn"]], {"rnn": 1.0})
    with pytest.raises(ValueError, match="sources"):
        sutskever.forced_log_probs(m["rnn"], lists, SOURCES[:2])
    with pytest.raises(ValueError, match="references"):
        sutskever.oracle(lists, ["a"], str)
    with pytest.raises(TypeError, match="model"):
        sutskever.nbest("model", SOURCES)


def test_the_stored_study_matches_its_recipes_and_the_shipped_model():
    """weights/sutskever.json holds one row per study recipe (the current recipe fields), and its
    4-layer reversed seed-0 row is the shipped ko-en-lstm4: the same greedy test translations."""
    study = sutskever.study()
    recipes = sutskever.study_recipes()
    assert list(study["rows"]) == list(recipes), "rerun scripts/sutskever_study.py"
    for label, row in study["rows"].items():
        assert row["recipe"] == zoo._recipe_fields(recipes[label]), label
        assert len(row["hyps"]) == len(row["nll"]["first"]) == len(row["nll"]["n_later"]) == row["score"]["sentences"]
    entry = zoo.shipped_manifest()["models"][sutskever.STUDY_BASE]
    row = study["rows"]["4 layers, reversed, seed 0"]
    assert row["hyps"][: entry["test_slice"]["sentences"]] == entry["test_slice"]["greedy"]
    assert row["score"]["bleu"] == pytest.approx(entry["test"]["greedy"]["bleu"])
    depth, reversal = sutskever.depth_table(study), sutskever.reversal_table(study)
    assert len(depth.splitlines()) == 1 + len(sutskever.DEPTHS)
    assert len(reversal.splitlines()) == 1 + 2 * len(sutskever.SEEDS)


def test_split_perplexity_agrees_with_the_total():
    nll = {"first": [1.0, 2.0], "later": [3.0, 1.0], "n_later": [2, 1]}
    assert sutskever.split_perplexity(nll) == pytest.approx(np.exp(7.0 / 5))
    assert sutskever.split_perplexity(nll, "first") == pytest.approx(np.exp(1.5))
    assert sutskever.split_perplexity(nll, "later", [0]) == pytest.approx(np.exp(1.5))
    with pytest.raises(ValueError, match="which"):
        sutskever.split_perplexity(nll, "middle")
    with pytest.raises(ValueError, match="sentences"):
        sutskever.split_perplexity(nll, "all", [])
