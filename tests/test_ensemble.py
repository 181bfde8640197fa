"""Ensembles (s2s_lib.ensemble) decode like one model and combine the members' distributions."""
import pytest
import torch

from s2s_lib.beam import beam_search
from s2s_lib.decode import greedy_decode
from s2s_lib.ensemble import Ensemble
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import SOS_ID
from s2s_lib.transformer import Transformer
from test_beam import assert_batched_equals_reference

V_SRC, V_TGT = 20, 15
SRC = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0], [4, 0, 0, 0, 0]])
LENGTHS = torch.tensor([5, 3, 1])


def models():
    torch.manual_seed(0)
    rnn = Seq2Seq(V_SRC, V_TGT, emb_dim=8, hidden_dim=16, attention="general", bidirectional=True).eval()
    context = Seq2Seq(V_SRC, V_TGT, emb_dim=8, hidden_dim=16).eval()
    tx = Transformer(V_SRC, V_TGT, d_model=16, num_heads=2, num_layers=1, ff_dim=32, dropout=0.0).eval()
    return rnn, context, tx


@pytest.mark.parametrize("mode", ["prob", "log"])
def test_an_ensemble_of_one_decodes_exactly_like_its_member(mode):
    for model in models():
        one = Ensemble([model], mode=mode)
        a, b = greedy_decode(one, SRC, LENGTHS, 7), greedy_decode(model, SRC, LENGTHS, 7)
        assert a.tokens == b.tokens
        for x, y in zip(a.log_probs, b.log_probs):
            assert x == pytest.approx(y, abs=1e-5)
        beams = beam_search(one, SRC, LENGTHS, 7, beam_size=3, n_best=2)
        expected = beam_search(model, SRC, LENGTHS, 7, beam_size=3, n_best=2)
        assert [[h.tokens for h in s] for s in beams.hypotheses] == [[h.tokens for h in s] for s in expected.hypotheses]


@pytest.mark.parametrize("mode", ["prob", "log"])
def test_one_step_combines_the_members_distributions(mode):
    members = models()
    ensemble = Ensemble(list(members), weights=[2, 1, 1], mode=mode)
    prev = torch.full((3,), SOS_ID)
    with torch.no_grad():
        memory = ensemble.encode(SRC, LENGTHS)
        step = ensemble.decode_step(prev, memory.init_state, memory)
        probs = torch.stack([torch.softmax(m.decode_step(prev, mm.init_state, mm).logits, -1)
                             for m, mm in zip(members, memory.members)])  # (M, B, V)
    w = torch.tensor([0.5, 0.25, 0.25]).view(-1, 1, 1)
    if mode == "prob":
        expected = (w * probs).sum(0)
    else:
        expected = torch.softmax((w * probs.log()).sum(0), -1)
    torch.testing.assert_close(step.logits.exp(), expected, atol=1e-6, rtol=1e-5)
    # attention: the weighted mean of the members that have it (the context model has none)
    assert step.weights.shape == (3, 5) and torch.allclose(step.weights.sum(1), torch.ones(3))


def test_batched_beam_search_equals_the_reference_search_for_an_ensemble():
    assert_batched_equals_reference(Ensemble(list(models())), SRC, LENGTHS, 7, beam_size=3, n_best=2)


def test_bad_input_names_the_argument():
    rnn, context, tx = models()
    with pytest.raises(TypeError, match="models"):
        Ensemble([])
    with pytest.raises(TypeError, match="models"):
        Ensemble(rnn)
    with pytest.raises(ValueError, match="vocabularies"):
        Ensemble([rnn, Seq2Seq(V_SRC, V_TGT + 1, emb_dim=8, hidden_dim=16)])
    with pytest.raises(ValueError, match="weights"):
        Ensemble([rnn, tx], weights=[1.0])
    with pytest.raises(ValueError, match="weights"):
        Ensemble([rnn, tx], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="mode"):
        Ensemble([rnn], mode="max")
    with pytest.raises(TypeError, match="models\\[1\\]"):
        Ensemble([rnn, object()])


@pytest.mark.parametrize("mode", ["prob", "log"])
def test_teacher_forced_scores_are_the_combined_step_distributions(mode):
    members = models()
    ensemble = Ensemble(list(members), mode=mode)
    tgt_in = torch.tensor([[SOS_ID, 5, 6, 7], [SOS_ID, 8, 9, 0], [SOS_ID, 4, 0, 0]])
    with torch.no_grad():
        scores = ensemble(SRC, LENGTHS, tgt_in)  # (B, T, V)
        memory = ensemble.encode(SRC, LENGTHS)
        state = memory.init_state
        for t in range(tgt_in.size(1)):
            step = ensemble.decode_step(tgt_in[:, t], state, memory)
            torch.testing.assert_close(scores[:, t], step.logits)
            state = step.state
        one = Ensemble([members[0]], mode=mode)(SRC, LENGTHS, tgt_in)
        torch.testing.assert_close(one, torch.log_softmax(members[0](SRC, LENGTHS, tgt_in), -1), atol=1e-5, rtol=1e-5)
