"""The redesigned library computes what the old one did.

``tests/data/decoder_reference.pt`` was written by ``scripts/record_decoder_reference.py``
with the code *before* the redesign of models/attention/beam/decode/train (weights, inputs
and every output recorded). Each test rebuilds a model from the recorded weights and checks
that today's code gives the same numbers to 1e-6: teacher-forced, free-running and mixed
logits (and the coins), the same in train mode with dropout (the order of random draws is
unchanged, so seeded training gives the same models), gradients, step-by-step decoding,
greedy decoding, beam search and a short training run.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_lib.batching import make_batches
from s2s_lib.beam import beam_search
from s2s_lib.decode import greedy_decode
from s2s_lib.models import Seq2Seq
from s2s_lib.train import sequence_loss, train

REFERENCE = torch.load(Path(__file__).parent / "data" / "decoder_reference.pt", weights_only=False)
SRC_V, TGT_V = 30, 25
TOL = dict(rtol=1e-6, atol=1e-6)


def _model(rec):
    model = Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, dropout=0.25, **rec["config"])
    model.load_state_dict(rec["state_dict"])
    return model


def _ids(rec):
    return "-".join(f"{k}={v}" for k, v in rec["config"].items())


CASES = [pytest.param(rec, id=_ids(rec)) for rec in REFERENCE["configs"]]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _close(a, b):
    if a is None or b is None:
        assert a is None and b is None
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, **TOL)
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, **TOL)
    else:
        assert a == pytest.approx(b, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("rec", CASES)
def test_seeded_initial_weights_are_unchanged(rec):
    torch.manual_seed(0)
    fresh = Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, dropout=0.25, **rec["config"])
    state = fresh.state_dict()
    assert list(state) == list(rec["state_dict"])  # same parameter names, same order
    for name, value in state.items():
        assert torch.equal(value, rec["state_dict"][name]), name


@pytest.mark.parametrize("rec", CASES)
def test_logits_and_coins_are_unchanged(rec):
    src, lengths, tgt_in, _ = REFERENCE["inputs"]
    model = _model(rec).eval()
    with torch.no_grad():
        _close(model(src, lengths, tgt_in), rec["logits_tf"])
        _close(model(src, lengths, tgt_in, teacher_forcing_ratio=0.0), rec["logits_free"])
        logits, coins = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5,
                              generator=torch.Generator().manual_seed(3), return_coins=True)
    _close(logits, rec["logits_mixed"])
    assert torch.equal(coins, rec["coins_mixed"])


@pytest.mark.parametrize("rec", CASES)
def test_dropout_draws_and_gradients_are_unchanged(rec):
    src, lengths, tgt_in, tgt_out = REFERENCE["inputs"]
    model = _model(rec).train()
    torch.manual_seed(11)
    logits = model(src, lengths, tgt_in)
    _close(logits.detach(), rec["logits_tf_dropout"])
    sequence_loss(logits, tgt_out).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, rec["grads"][name], rtol=1e-5, atol=1e-6, msg=name)
    torch.manual_seed(12)
    mixed = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5, generator=torch.Generator().manual_seed(4))
    _close(mixed.detach(), rec["logits_mixed_dropout"])


@pytest.mark.parametrize("rec", CASES)
def test_decode_steps_are_unchanged(rec):
    src, lengths, tgt_in, _ = REFERENCE["inputs"]
    model = _model(rec).eval()
    with torch.no_grad():
        memory = model.encode(src, lengths)
        state = memory.init_state
        for t, expected in enumerate(rec["steps"]):
            step = model.decode_step(tgt_in[:, t], state, memory)
            _close(step.logits, expected["logits"])
            _close(step.weights, expected["weights"])
            _close([x for x in step.state if x is not None], expected["state"])
            state = step.state


@pytest.mark.parametrize("rec", CASES)
def test_greedy_and_beam_search_are_unchanged(rec):
    src, lengths, _, _ = REFERENCE["inputs"]
    model = _model(rec).eval()
    greedy = greedy_decode(model, src, lengths, 8)
    assert greedy.tokens == rec["greedy"]["tokens"]
    _close(greedy.log_probs, rec["greedy"]["log_probs"])
    _close(greedy.attention, rec["greedy"]["attention"])
    beam = beam_search(model, src, lengths, 8, beam_size=3, n_best=2)
    assert [[h.tokens for h in hs] for hs in beam.hypotheses] == rec["beam"]["tokens"]
    _close([[h.score for h in hs] for hs in beam.hypotheses], rec["beam"]["scores"])
    _close([[h.attention for h in hs] for hs in beam.hypotheses], rec["beam"]["attention"])


def test_training_is_unchanged():
    rec = REFERENCE["training"]
    model = Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, dropout=0.2, attention="bahdanau")
    model.load_state_dict(rec["init"])
    history = train(model, make_batches(rec["src"], rec["tgt"], 8, seed=0), epochs=2, lr=1e-2,
                    teacher_forcing=0.7, device="cpu", seed=0, progress=False)
    _close(history.train_loss, rec["train_loss"])
    np.testing.assert_allclose(history.grad_norm, rec["grad_norm"], rtol=1e-5)
    # atol 2e-5 (lr is 1e-2): Adam divides by sqrt(v), so a weight whose gradient is ~0 moves by
    # ~lr * (rounding noise / noise) -- the speed work's tanh (2 sigmoid(2x) - 1) moved one W_q
    # entry by 9e-6 while every loss stayed within 1e-7 of the recording.
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, rec["final"][name], rtol=1e-5, atol=2e-5, msg=name)
