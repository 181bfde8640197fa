"""Tests for s2s_lib.gradients: gradient-norm measurements, the recall task, clipping."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from s2s_lib.gradients import (
    RecallModel,
    clip_grad_norm,
    grad_norm,
    grad_norm_grid,
    hidden_grad_norms,
    make_cell,
    recall_accuracy,
    recall_batch,
    rnn_jacobians,
    scale_spectral_radius,
    set_keep_gate_bias,
    spectral_radius,
    train_recall,
)
from s2s_lib.rnn import GRU, LSTM, GRUCell, LSTMCell, RNNCell, rnn_bptt


# -------------------------------------------------------------------------------- clipping
def _two_models_with_grads(seed=0, scale=1.0):
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    b = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    b.load_state_dict(a.state_dict())
    x = torch.randn(7, 4)
    for m in (a, b):
        (m(x).pow(2).sum() * scale).backward()
    return a, b


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    ours, ref = _two_models_with_grads(scale=10.0)
    total_ours = clip_grad_norm(ours.parameters(), max_norm, norm_type)
    total_ref = torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm, norm_type)
    torch.testing.assert_close(total_ours, total_ref)
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_clip_keeps_direction_and_cuts_size():
    model, _ = _two_models_with_grads(scale=100.0)
    before = torch.cat([p.grad.flatten() for p in model.parameters()])
    total = clip_grad_norm(model.parameters(), 1.0)
    after = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert float(total) > 1.0
    assert after.norm().item() == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(after / after.norm(), before / before.norm())


def test_clip_leaves_small_gradients_alone_and_skips_missing_grads():
    w = torch.zeros(3, requires_grad=True)
    unused = torch.zeros(2, requires_grad=True)
    (w * torch.tensor([0.1, 0.2, 0.2])).sum().backward()
    total = clip_grad_norm([w, unused], 5.0)
    assert float(total) == pytest.approx(0.3)
    torch.testing.assert_close(w.grad, torch.tensor([0.1, 0.2, 0.2]))
    assert unused.grad is None
    single = torch.ones(4, requires_grad=True)
    (single * 3).sum().backward()
    assert float(clip_grad_norm(single, 1.0)) == pytest.approx(6.0)  # a bare tensor works too
    assert single.grad.norm().item() == pytest.approx(1.0, rel=1e-5)


def test_clip_nonfinite_and_bad_arguments():
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm([w], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([w], 0.0)
    with pytest.raises(TypeError, match="max_norm"):
        clip_grad_norm([w], "1")
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm([w], 1.0, norm_type=-2)
    with pytest.raises(TypeError, match="parameters"):
        clip_grad_norm(3, 1.0)
    with pytest.raises(TypeError, match="parameters"):
        clip_grad_norm([1.0, 2.0], 1.0)


def test_grad_norm_reads_without_changing():
    model, ref = _two_models_with_grads(scale=50.0)
    n = grad_norm(model.parameters())
    assert float(n) > 1.0
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
    torch.testing.assert_close(n, torch.nn.utils.get_total_norm([p.grad for p in ref.parameters()]))


# -------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("kind,blocks", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_scale_spectral_radius_sets_every_block(kind, blocks):
    torch.manual_seed(0)
    cell = make_cell(kind, 3, 6, weight_scale=1.7, dtype=torch.float64)
    assert cell.weight_hh.shape == (blocks * 6, 6)
    for block in cell.weight_hh.detach().split(6, dim=0):
        assert spectral_radius(block) == pytest.approx(1.7, rel=1e-9)
    w = torch.randn(8, 4)
    original = w.clone()
    scale_spectral_radius(w, 0.3)
    torch.testing.assert_close(w, original)  # input untouched


def test_scale_spectral_radius_bad_input():
    with pytest.raises(ValueError, match="multiple"):
        scale_spectral_radius(torch.randn(5, 4), 1.0)
    with pytest.raises(ValueError, match="radius"):
        scale_spectral_radius(torch.randn(4, 4), -1.0)
    with pytest.raises(ValueError, match="weight_hh"):
        scale_spectral_radius(torch.randn(4), 1.0)
    with pytest.raises(ValueError, match="matrix"):
        spectral_radius(torch.randn(3, 4))
    with pytest.raises(ValueError, match="matrix must be square"):
        spectral_radius(torch.zeros(0, 0))  # no eigenvalue at all: torch's max() would fail
    with pytest.raises(ValueError, match="weight_hh"):
        scale_spectral_radius(torch.zeros(0, 0), 1.0)


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
def test_make_cell_refuses_a_nan_keep_bias(kind):
    with pytest.raises(ValueError, match="keep_bias must be a finite number"):
        make_cell(kind, 3, 4, keep_bias=float("nan"))  # it used to write NaN biases


@pytest.mark.parametrize("module,gate", [(GRUCell(3, 4), "z"), (LSTMCell(3, 4), "f"),
                                         (GRU(3, 4, num_layers=2), "z")])
def test_set_keep_gate_bias_opens_the_keep_gate(module, gate):
    set_keep_gate_bias(module, 3.0)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 2:
                p.zero_()  # only the biases matter now
        if isinstance(module, GRU):
            _, _, gates = module(torch.zeros(2, 1, 3), return_gates=True)
            values = [g[gate] for g in gates]
        elif isinstance(module, GRUCell):
            values = [module(torch.zeros(2, 3), return_gates=True)[1][gate]]
        else:
            values = [module(torch.zeros(2, 3), return_gates=True)[1][gate]]
    for v in values:
        torch.testing.assert_close(v, torch.full_like(v, torch.sigmoid(torch.tensor(3.0)).item()))


def test_set_keep_gate_bias_bad_input():
    with pytest.raises(TypeError, match="module"):
        set_keep_gate_bias(RNNCell(3, 4), 1.0)
    with pytest.raises(ValueError, match="no biases"):
        set_keep_gate_bias(LSTM(3, 4, bias=False), 1.0)
    with pytest.raises(TypeError, match="value"):
        set_keep_gate_bias(GRUCell(3, 4), "1")


# -------------------------------------------------------------------------------- norms
def test_hidden_grad_norms_match_bptt_by_hand():
    torch.manual_seed(1)
    cell = make_cell("rnn", 4, 6, weight_scale=0.9, dtype=torch.float64)
    x = torch.randn(3, 15, 4, dtype=torch.float64)
    v = torch.randn(6, dtype=torch.float64)
    norms = hidden_grad_norms("rnn", 15, cell=cell, inputs=x, readout=v)
    direct = torch.zeros(3, 15, 6, dtype=torch.float64)
    direct[:, -1] = v
    res = rnn_bptt(x, cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias_ih.detach(),
                   cell.bias_hh.detach(), direct)
    expected = res.grad_h.norm(dim=2).mean(dim=0)  # (T,)
    assert norms == pytest.approx(expected.tolist(), rel=1e-10)
    # and it is the product of Jacobians diag(1 - h_t^2) W_hh applied to dL/dh_T
    J = rnn_jacobians(res.states, cell.weight_hh.detach())  # (B, T, H, H)
    g = direct[:, -1]  # (B, H)
    for t in range(14, 0, -1):  # dL/dh_t = dL/dh_{t+1} J_{t+1}, J of step t+1 at index t
        g = torch.einsum("bi,bij->bj", g, J[:, t])
        torch.testing.assert_close(g, res.grad_h[:, t - 1])


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_small_weights_vanish_and_large_rnn_weights_explode(kind):
    small = hidden_grad_norms(kind, 40, weight_scale=0.5, hidden_size=16)
    assert len(small) == 40
    assert small[0] / small[-1] < 1e-4  # vanishing at every cell's default-like init
    if kind == "rnn":
        big = hidden_grad_norms(kind, 40, weight_scale=4.0, hidden_size=16)
        assert big[0] / big[-1] > 1e3  # exploding


def test_keep_gate_bias_keeps_gradient_alive():
    plain = hidden_grad_norms("lstm", 50, hidden_size=16)
    kept = hidden_grad_norms("lstm", 50, hidden_size=16, keep_bias=4.0)
    assert kept[0] / kept[-1] > 1e3 * plain[0] / plain[-1]


def test_hidden_grad_norms_bad_input():
    with pytest.raises(ValueError, match="kind"):
        hidden_grad_norms("tcn", 5)
    with pytest.raises(ValueError, match="seq_len"):
        hidden_grad_norms("rnn", 0)
    with pytest.raises(ValueError, match="weight_scale"):
        hidden_grad_norms("rnn", 5, weight_scale=0)
    with pytest.raises(TypeError, match="cell"):
        hidden_grad_norms("gru", 5, cell=LSTMCell(3, 4))
    with pytest.raises(ValueError, match="inputs"):
        hidden_grad_norms("rnn", 5, cell=RNNCell(3, 4), inputs=torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="readout"):
        hidden_grad_norms("rnn", 5, cell=RNNCell(3, 4), readout=torch.randn(5))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        hidden_grad_norms("rnn", 5, batch_size=0)  # it used to return NaNs (a mean over nothing)


def test_grad_norm_grid_shape():
    grid = grad_norm_grid([3, 5], [0.5, 2.0], hidden_size=4, progress=False)
    assert list(grid) == [(3, 0.5), (3, 2.0), (5, 0.5), (5, 2.0)]
    assert set(grid[(5, 2.0)]) == {"RNN", "GRU", "LSTM"}
    assert len(grid[(5, 2.0)]["GRU"]) == 5
    grid3 = grad_norm_grid([3], [1.0], keep_biases=[0.0, 2.0], kinds=["lstm"], hidden_size=4,
                           progress=False)
    assert list(grid3) == [(3, 1.0, 0.0), (3, 1.0, 2.0)]


def test_rnn_jacobians_bad_input():
    with pytest.raises(ValueError, match="states"):
        rnn_jacobians(torch.randn(3, 4), torch.randn(4, 4))
    with pytest.raises(ValueError, match="weight_hh"):
        rnn_jacobians(torch.randn(2, 3, 4), torch.randn(3, 3))


# -------------------------------------------------------------------------------- recall task
def test_recall_batch_layout_and_reproducibility():
    tokens, targets = recall_batch(50, 7, num_symbols=3, num_distractors=5,
                                   generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (50, 7) and targets.shape == (50,)
    assert tokens.dtype == torch.long
    assert torch.equal(tokens[:, 0], targets)
    assert ((targets >= 0) & (targets < 3)).all()
    assert ((tokens[:, 1:] >= 3) & (tokens[:, 1:] < 8)).all()
    again, _ = recall_batch(50, 7, num_symbols=3, num_distractors=5,
                            generator=torch.Generator().manual_seed(0))
    assert torch.equal(tokens, again)
    single, _ = recall_batch(4, 1)
    assert single.shape == (4, 1)


def test_recall_batch_random_position_has_exactly_one_symbol():
    tokens, targets = recall_batch(200, 9, num_symbols=4, position="random",
                                   generator=torch.Generator().manual_seed(1))
    is_symbol = tokens < 4  # (B, T)
    assert (is_symbol.sum(dim=1) == 1).all()
    assert torch.equal(tokens[is_symbol], targets)
    where = is_symbol.float().argmax(dim=1)
    assert where.min() == 0 and where.max() == 8  # every position is used


def test_recall_batch_bad_input():
    with pytest.raises(ValueError, match="seq_len"):
        recall_batch(4, 0)
    with pytest.raises(TypeError, match="batch_size"):
        recall_batch(4.0, 3)
    with pytest.raises(ValueError, match="num_symbols"):
        recall_batch(4, 3, num_symbols=0)
    with pytest.raises(ValueError, match="position"):
        recall_batch(4, 3, position="last")


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_recall_model_shapes_and_gates(kind):
    model = RecallModel(kind, 16, 8, emb_dim=5, hidden_size=7)
    tokens, _ = recall_batch(3, 6)
    logits, gates = model(tokens, return_gates=True)
    assert logits.shape == (3, 8)
    assert gates["h"].shape == (3, 6, 7)
    expected = {"rnn": {"h"}, "gru": {"r", "z", "g", "h"}, "lstm": {"i", "f", "g", "o", "c", "h"}}
    assert set(gates) == expected[kind]
    torch.testing.assert_close(model(tokens), logits)
    with pytest.raises(ValueError, match="tokens"):
        model(torch.zeros(3, 6))


def test_train_recall_learns_short_lags_and_is_reproducible():
    torch.set_flush_denormal(True)
    run = train_recall("gru", 4, steps=120, lr=1e-2, hidden_size=16, eval_examples=300,
                       progress=False)
    assert run.accuracy > 0.95
    assert len(run.losses) == len(run.grad_norms) == 120
    assert run.losses[-1] < run.losses[0] / 10
    again = train_recall("gru", 4, steps=5, lr=1e-2, hidden_size=16, eval_examples=300,
                         progress=False)
    assert again.losses == run.losses[:5]
    assert run.solved_at is None and again.solved_at is None  # no stop_loss: full budget


def test_train_recall_stops_early_once_learnt():
    run = train_recall("gru", 4, steps=300, lr=1e-2, hidden_size=16, stop_loss=0.1,
                       eval_examples=300, progress=False)
    assert run.solved_at is not None and run.solved_at == len(run.losses) < 300
    assert sum(run.losses[-10:]) / 10 < 0.1 <= sum(run.losses[-11:-1]) / 10
    assert run.accuracy > 0.95


def test_train_recall_untrained_is_at_chance():
    torch.manual_seed(0)
    model = RecallModel("rnn", 16, 8)
    assert abs(recall_accuracy(model, 30, num_examples=2000) - 1 / 8) < 0.06


def test_train_recall_clip_bounds_the_update():
    free = train_recall("rnn", 10, steps=30, lr=0.5, optimizer="sgd", weight_scale=3.0,
                        hidden_size=16, eval_examples=100, progress=False)
    clipped = train_recall("rnn", 10, steps=30, lr=0.5, optimizer="sgd", weight_scale=3.0,
                           hidden_size=16, eval_examples=100, clip=0.1, progress=False)
    assert free.grad_norms[0] == pytest.approx(clipped.grad_norms[0])  # measured before clipping
    assert free.losses[1] != clipped.losses[1]


def test_train_recall_bad_input():
    with pytest.raises(ValueError, match="optimizer"):
        train_recall("gru", 3, steps=1, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="clip"):
        train_recall("gru", 3, steps=1, clip=-1.0, progress=False)
    with pytest.raises(ValueError, match="kind"):
        train_recall("elman", 3, steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_recall("gru", 3, steps=0, progress=False)
    with pytest.raises(ValueError, match="position"):
        train_recall("gru", 3, steps=1, position="middle", progress=False)
    with pytest.raises(ValueError, match="stop_loss"):
        train_recall("gru", 3, steps=1, stop_loss=0.0, progress=False)
    with pytest.raises(TypeError, match="model"):
        recall_accuracy("model", 3)


# Defect: spectral_radius of a zero matrix is 0 and scale_spectral_radius divided by it
# (ZeroDivisionError; a tiny block gave inf/nan weights instead).
@pytest.mark.parametrize("weight", [
    torch.zeros(3, 3),
    torch.tensor([[0.0, 1.0], [0.0, 0.0]]),  # nilpotent: radius 0 but not zero
    torch.cat([torch.eye(3), torch.zeros(3, 3)]),  # one zero gate block of two
])
def test_scale_spectral_radius_refuses_a_block_of_radius_zero(weight):
    assert spectral_radius(weight[-weight.size(1):]) == 0.0  # the value itself is well defined
    with pytest.raises(ValueError, match=r"weight_hh block \d .* spectral radius 0"):
        scale_spectral_radius(weight, 1.0)


# Defect: the rescaled weights could overflow silently (inf/nan weights, e.g. make_cell with
# weight_scale=1e300 in float32), and nan/inf matrices gave nan radii (plus an MKL error print).
def test_scale_spectral_radius_refuses_overflow_and_non_finite_weights():
    with pytest.raises(ValueError, match="radius=1e\\+300 overflows torch.float32"):
        make_cell("rnn", 3, 4, weight_scale=1e300)
    with pytest.raises(ValueError, match="overflows"):
        scale_spectral_radius(torch.eye(3) * 1e-30, 1e10)  # scale 1e40: inf in float32
    with pytest.raises(ValueError, match="matrix must hold finite numbers, found 9 nan"):
        spectral_radius(torch.full((3, 3), math.nan))
    with pytest.raises(ValueError, match="weight_hh must hold finite numbers"):
        scale_spectral_radius(torch.tensor([[math.inf]]), 1.0)


# Defect: these reached torch with raw errors (dtype mismatch in the matmul, manual_seed of a
# str, nn.Module.to of an int dtype, an embedding IndexError) or NaN norms from NaN inputs.
@pytest.mark.parametrize("call, error, message", [
    (lambda: hidden_grad_norms("rnn", 3, cell=RNNCell(2, 4).double(), inputs=torch.randn(2, 3, 2)),
     TypeError, "inputs has dtype torch.float32 but cell.weight_hh has dtype torch.float64"),
    (lambda: hidden_grad_norms("rnn", 3, cell=RNNCell(2, 4), readout=torch.zeros(4, dtype=torch.long)),
     TypeError, "readout has dtype torch.int64"),
    (lambda: hidden_grad_norms("rnn", 3, cell=RNNCell(2, 4), inputs=torch.full((2, 3, 2), math.nan)),
     ValueError, "inputs must hold finite numbers"),
    (lambda: hidden_grad_norms("rnn", 3, seed="a"), TypeError, "seed must be an int"),
    (lambda: make_cell("rnn", 3, 4, dtype=torch.long), TypeError, "dtype must be a floating-point"),
    (lambda: make_cell("rnn", 3, 4, dtype="float64"), TypeError, "dtype must be a torch.dtype"),
    (lambda: recall_batch(2, 3, generator=123), TypeError, "generator must be a torch.Generator"),
    (lambda: RecallModel("rnn", 16, 8)(torch.full((2, 3), 16)), ValueError, r"tokens holds ids outside \[0, 16\)"),
    (lambda: RecallModel("rnn", 16, 8)(torch.full((2, 3), -1)), ValueError, "tokens holds ids outside"),
    (lambda: recall_accuracy(RecallModel("rnn", 4, 8), 3), ValueError, "at least one distractor"),
    (lambda: train_recall("rnn", 2, steps=1, seed="x", progress=False), TypeError, "seed"),
    (lambda: train_recall("rnn", 2, steps=1, lr=1e300, progress=False), ValueError, "lr must be <="),
    (lambda: train_recall("rnn", 2, steps=1, eval_examples=0, progress=False), ValueError, "eval_examples"),
    (lambda: clip_grad_norm([], 1.0, error_if_nonfinite="yes"), TypeError, "error_if_nonfinite"),
])
def test_bad_input_is_named_before_torch_sees_it(call, error, message):
    with pytest.raises(error, match=message):
        call()
