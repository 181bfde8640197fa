"""Tests for s2s_lib.rnn: our cells and layers equal torch's, and BPTT by hand equals autograd."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from s2s_lib.rnn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
    count_parameters,
    expected_num_parameters,
    gru_cell_step,
    lstm_cell_step,
    rnn_bptt,
    rnn_cell_step,
    rnn_forward_states,
)

CELL_PAIRS = [
    (RNNCell, nn.RNNCell, {}),
    (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    (GRUCell, nn.GRUCell, {}),
    (LSTMCell, nn.LSTMCell, {}),
    (GRUCell, nn.GRUCell, {"bias": False}),
    (LSTMCell, nn.LSTMCell, {"bias": False}),
]
LAYER_PAIRS = [(RNN, nn.RNN), (GRU, nn.GRU), (LSTM, nn.LSTM)]
TOL = {torch.float32: dict(atol=1e-6, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}


def _grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters()}


def _assert_close(a, b, dtype):
    torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", CELL_PAIRS)
def test_cell_matches_torch_outputs_and_gradients(ours_cls, torch_cls, kwargs, dtype):
    torch.manual_seed(0)
    ref = torch_cls(5, 7, **kwargs).to(dtype)
    ours = ours_cls(5, 7, **kwargs).to(dtype)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 5, dtype=dtype)
    if torch_cls is nn.LSTMCell:
        state = (torch.randn(4, 7, dtype=dtype), torch.randn(4, 7, dtype=dtype))
        out_ref, out_ours = ref(x, state), ours(x, state)
        for a, b in zip(out_ours, out_ref):
            _assert_close(a, b, dtype)
        loss_ref = (out_ref[0] * 1.3 + out_ref[1] ** 2).sum()
        loss_ours = (out_ours[0] * 1.3 + out_ours[1] ** 2).sum()
    else:
        h = torch.randn(4, 7, dtype=dtype)
        out_ref, out_ours = ref(x, h), ours(x, h)
        _assert_close(out_ours, out_ref, dtype)
        loss_ref, loss_ours = (out_ref**2).sum(), (out_ours**2).sum()
    loss_ref.backward()
    loss_ours.backward()
    g_ref, g_ours = _grads(ref), _grads(ours)
    assert g_ref.keys() == g_ours.keys()
    for name in g_ref:
        _assert_close(g_ours[name], g_ref[name], dtype)


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", CELL_PAIRS[:4])
def test_cell_default_state_is_zeros_and_state_dict_loads_back_into_torch(ours_cls, torch_cls, kwargs):
    torch.manual_seed(1)
    ours = ours_cls(3, 6, **kwargs)
    ref = torch_cls(3, 6, **kwargs)
    ref.load_state_dict(ours.state_dict())  # ours -> torch works too
    x = torch.randn(2, 3)
    a, b = ours(x), ref(x)
    if isinstance(a, tuple):
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, atol=1e-6, rtol=1e-5)
    else:
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_parameter_shapes_follow_torch_layout():
    assert GRUCell(5, 7).weight_ih.shape == (21, 5)
    assert GRUCell(5, 7).weight_hh.shape == (21, 7)
    assert LSTMCell(5, 7).weight_ih.shape == (28, 5)
    assert LSTMCell(5, 7).bias_hh.shape == (28,)
    assert RNNCell(5, 7).weight_hh.shape == (7, 7)
    assert set(dict(GRU(5, 7, num_layers=2).named_parameters())) == set(
        dict(nn.GRU(5, 7, num_layers=2).named_parameters()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("ours_cls,torch_cls", LAYER_PAIRS)
def test_layer_matches_torch_batch_first(ours_cls, torch_cls, num_layers, dtype):
    torch.manual_seed(2)
    ref = torch_cls(5, 6, num_layers=num_layers, batch_first=True).to(dtype)
    ours = ours_cls(5, 6, num_layers=num_layers).to(dtype)
    ours.load_state_dict(ref.state_dict())
    x_ref = torch.randn(3, 9, 5, dtype=dtype, requires_grad=True)
    x_ours = x_ref.detach().clone().requires_grad_(True)
    h0 = torch.randn(num_layers, 3, 6, dtype=dtype)
    if torch_cls is nn.LSTM:
        state = (h0, torch.randn(num_layers, 3, 6, dtype=dtype))
        out_ref, (h_ref, c_ref) = ref(x_ref, state)
        out_ours, (h_ours, c_ours) = ours(x_ours, state)
        _assert_close(c_ours, c_ref, dtype)
        extra_ref, extra_ours = c_ref.sum(), c_ours.sum()
    else:
        out_ref, h_ref = ref(x_ref, h0)
        out_ours, h_ours = ours(x_ours, h0)
        extra_ref = extra_ours = 0.0
    _assert_close(out_ours, out_ref, dtype)
    _assert_close(h_ours, h_ref, dtype)
    weights = torch.randn_like(out_ref)
    ((out_ref * weights).sum() + h_ref.pow(2).sum() + extra_ref).backward()
    ((out_ours * weights).sum() + h_ours.pow(2).sum() + extra_ours).backward()
    _assert_close(x_ours.grad, x_ref.grad, dtype)
    g_ref, g_ours = _grads(ref), _grads(ours)
    for name in g_ref:
        _assert_close(g_ours[name], g_ref[name], dtype)


@pytest.mark.parametrize("ours_cls,torch_cls", LAYER_PAIRS)
def test_layer_zero_initial_state_and_eval_dropout(ours_cls, torch_cls):
    torch.manual_seed(3)
    ref = torch_cls(4, 5, num_layers=2, dropout=0.5, batch_first=True).eval()
    ours = ours_cls(4, 5, num_layers=2, dropout=0.5).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 6, 4)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-6, rtol=1e-5)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(4)
    layer = GRU(4, 5, num_layers=2, dropout=0.5)
    x = torch.randn(2, 6, 4)
    train_out = layer(x)[0]
    layer.eval()
    eval_out = layer(x)[0]
    assert not torch.allclose(train_out, eval_out)
    single = GRU(4, 5, num_layers=1, dropout=0.5)
    torch.testing.assert_close(single(x)[0], single.eval()(x)[0])  # no layer above: no dropout


def test_gru_gates_satisfy_the_book_equations():
    torch.manual_seed(5)
    layer = GRU(3, 4)
    x = torch.randn(2, 7, 3)
    out, h_n, gates = layer(x, return_gates=True)
    assert len(gates) == 1 and set(gates[0]) == {"r", "z", "g"}
    r, z, g = gates[0]["r"], gates[0]["z"], gates[0]["g"]
    assert r.shape == z.shape == g.shape == (2, 7, 4)
    assert ((z > 0) & (z < 1)).all() and ((r > 0) & (r < 1)).all()
    prev = torch.cat([torch.zeros(2, 1, 4), out[:, :-1]], dim=1)  # h_0 .. h_{T-1}
    torch.testing.assert_close(out, z * prev + (1 - z) * g)  # update gate z keeps the old state
    torch.testing.assert_close(h_n[0], out[:, -1])


def test_gru_uses_torch_reset_convention_not_cho():
    """torch: g = tanh(W_ig x + b_ig + r * (W_hg h + b_hg)); Cho et al.: W_hg (r * h)."""
    torch.manual_seed(6)
    cell = GRUCell(3, 4).double()
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    h_new, gates = gru_cell_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    W_ig, W_hg = cell.weight_ih[8:], cell.weight_hh[8:]
    b_ig, b_hg = cell.bias_ih[8:], cell.bias_hh[8:]
    r = gates["r"]
    torch_g = torch.tanh(x @ W_ig.T + b_ig + r * (h @ W_hg.T + b_hg))
    cho_g = torch.tanh(x @ W_ig.T + b_ig + (r * h) @ W_hg.T + b_hg)
    torch.testing.assert_close(gates["g"], torch_g)
    assert not torch.allclose(torch_g, cho_g, atol=1e-3)


def test_lstm_gates_and_cell_state():
    torch.manual_seed(7)
    layer = LSTM(3, 4)
    out, (h_n, c_n), gates = layer(torch.randn(2, 6, 3), return_gates=True)
    G = gates[0]
    assert set(G) == {"i", "f", "g", "o", "c"}
    prev_c = torch.cat([torch.zeros(2, 1, 4), G["c"][:, :-1]], dim=1)
    torch.testing.assert_close(G["c"], G["f"] * prev_c + G["i"] * G["g"])
    torch.testing.assert_close(out, G["o"] * torch.tanh(G["c"]))
    torch.testing.assert_close(c_n[0], G["c"][:, -1])


def test_cell_return_gates():
    torch.manual_seed(8)
    h, gates = GRUCell(3, 4)(torch.randn(2, 3), return_gates=True)
    assert h.shape == (2, 4) and set(gates) == {"r", "z", "g"}
    (h2, c2), gates = LSTMCell(3, 4)(torch.randn(2, 3), return_gates=True)
    assert c2.shape == (2, 4) and set(gates) == {"i", "f", "g", "o"}


# -------------------------------------------------------------------------------- BPTT
@pytest.mark.parametrize("loss_on", ["last", "all"])
@pytest.mark.parametrize("bias", [True, False])
def test_bptt_by_hand_equals_autograd(loss_on, bias):
    torch.manual_seed(9)
    dt = torch.float64
    B, T, E, H = 3, 12, 4, 5
    cell = RNNCell(E, H, bias=bias).to(dt)
    x = torch.randn(B, T, E, dtype=dt, requires_grad=True)
    h0 = torch.randn(B, H, dtype=dt, requires_grad=True)
    # a loss L = sum_t sum_b w_t . h_t (direct gradient w_t), only the last term for "last"
    direct = torch.randn(B, T, H, dtype=dt)
    if loss_on == "last":
        direct[:, :-1] = 0
    h, states = h0, []
    for t in range(T):
        h = cell(x[:, t], h)
        h.retain_grad()
        states.append(h)
    loss = (torch.stack(states, dim=1) * direct).sum()
    loss.backward()
    res = rnn_bptt(x.detach(), cell.weight_ih.detach(), cell.weight_hh.detach(),
                   cell.bias_ih.detach() if bias else None, cell.bias_hh.detach() if bias else None,
                   direct, h0=h0.detach())
    tight = dict(atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(res.states, torch.stack(states, dim=1).detach(), **tight)
    torch.testing.assert_close(res.grad_h, torch.stack([s.grad for s in states], dim=1), **tight)
    torch.testing.assert_close(res.grad_h0, h0.grad, **tight)
    torch.testing.assert_close(res.grad_x, x.grad, **tight)
    torch.testing.assert_close(res.grad_weight_ih, cell.weight_ih.grad, **tight)
    torch.testing.assert_close(res.grad_weight_hh, cell.weight_hh.grad, **tight)
    if bias:
        torch.testing.assert_close(res.grad_bias_ih, cell.bias_ih.grad, **tight)
        torch.testing.assert_close(res.grad_bias_hh, cell.bias_hh.grad, **tight)
    else:
        assert res.grad_bias_ih is None and res.grad_bias_hh is None


def test_rnn_forward_states_equals_layer_and_zero_h0_default():
    torch.manual_seed(10)
    layer = RNN(4, 5)
    x = torch.randn(2, 7, 4)
    out, _ = layer(x)
    states = rnn_forward_states(x, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0,
                                layer.bias_hh_l0)
    torch.testing.assert_close(states, out)


def test_bptt_rejects_bad_shapes():
    x = torch.randn(2, 5, 3)
    w_ih, w_hh = torch.randn(4, 3), torch.randn(4, 4)
    with pytest.raises(ValueError, match="grad_output"):
        rnn_bptt(x, w_ih, w_hh, None, None, torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="weight_hh"):
        rnn_bptt(x, w_ih, torch.randn(3, 4), None, None, torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="weight_ih"):
        rnn_bptt(x, torch.randn(4, 2), w_hh, None, None, torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="h0"):
        rnn_bptt(x, w_ih, w_hh, None, None, torch.zeros(2, 5, 4), h0=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="bias_ih"):
        rnn_bptt(x, w_ih, w_hh, torch.zeros(3), None, torch.zeros(2, 5, 4))


# -------------------------------------------------------------------------------- counts
@pytest.mark.parametrize("kind,ours_cls,torch_cls", [
    ("rnn", RNNCell, nn.RNNCell), ("gru", GRUCell, nn.GRUCell), ("lstm", LSTMCell, nn.LSTMCell)])
def test_parameter_counts(kind, ours_cls, torch_cls):
    expected = expected_num_parameters(kind, 16, 32)
    assert count_parameters(ours_cls(16, 32)) == expected == count_parameters(torch_cls(16, 32))
    assert expected == {"rnn": 1, "gru": 3, "lstm": 4}[kind] * (32 * 16 + 32 * 32 + 64)
    assert expected_num_parameters(kind, 16, 32, bias=False) == count_parameters(
        torch_cls(16, 32, bias=False))


# -------------------------------------------------------------------------------- bad input
def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="hidden_size"):
        GRUCell(3, 4.0)
    with pytest.raises(ValueError, match="input_size"):
        LSTMCell(0, 4)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="num_layers"):
        GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        LSTM(3, 4, dropout=1.5)
    with pytest.raises(TypeError, match="bias"):
        RNN(3, 4, bias="yes")
    with pytest.raises(ValueError, match="kind"):
        expected_num_parameters("transformer", 3, 4)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        count_parameters("not a module")


def test_bad_forward_arguments():
    cell, lstm_cell, layer, lstm = GRUCell(3, 4), LSTMCell(3, 4), GRU(3, 4), LSTM(3, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 3\)"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        cell(torch.randn(2, 1, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        cell([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="floating-point"):
        cell(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="h must have shape"):
        cell(torch.randn(2, 3), torch.randn(3, 4))
    with pytest.raises(TypeError, match="state must be a tuple"):
        lstm_cell(torch.randn(2, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        layer(torch.randn(2, 3))
    with pytest.raises(ValueError, match="h0 must have 3 dimensions"):
        layer(torch.randn(2, 5, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"state\[1\]"):
        lstm(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match="at least one time step"):
        layer(torch.randn(2, 0, 3))


# Defect: float64 input to float32 weights (or an int state) reached torch's matmul and gave
# "expected m1 and m2 to have the same dtype"; now a TypeError names the tensor and both dtypes.
@pytest.mark.parametrize("call, name", [
    (lambda: RNNCell(3, 4)(torch.randn(2, 3, dtype=torch.float64)), "x"),
    (lambda: GRUCell(3, 4)(torch.randn(2, 3), torch.randn(2, 4, dtype=torch.float64)), "h"),
    (lambda: LSTMCell(3, 4)(torch.randn(2, 3), (torch.zeros(2, 4, dtype=torch.long),) * 2), r"state\[0\] \(h\)"),
    (lambda: RNN(3, 4)(torch.randn(2, 5, 3, dtype=torch.float64)), "x"),
    (lambda: GRU(3, 4)(torch.randn(2, 5, 3), torch.zeros(1, 2, 4, dtype=torch.long)), "h0"),
    (lambda: LSTM(3, 4)(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4, dtype=torch.float64),) * 2), r"state\[0\] \(h0\)"),
    (lambda: rnn_cell_step(torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4), torch.randn(4, 3),
                           torch.randn(4, 4)), "x"),
    (lambda: rnn_forward_states(torch.randn(2, 5, 3), torch.randn(4, 3), torch.randn(4, 4),
                                torch.zeros(4, dtype=torch.float64)), "bias_ih"),
    (lambda: rnn_bptt(torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(4, 3), torch.randn(4, 4),
                      None, None, torch.zeros(2, 5, 4)), "x"),
    (lambda: rnn_bptt(torch.randn(2, 5, 3), torch.randn(4, 3), torch.randn(4, 4), None, None,
                      torch.zeros(2, 5, 4, dtype=torch.long)), "grad_output"),
])
def test_mixed_dtypes_raise_type_error_naming_the_tensor_and_both_dtypes(call, name):
    with pytest.raises(TypeError, match=rf"^{name} has dtype torch\.\w+ but \w+ has dtype torch\.\w+"):
        call()


# Defect: the step functions did no checks: a wrong weight shape gave torch's "mat1 and mat2
# shapes cannot be multiplied" (or a chunk/broadcast error), an unknown nonlinearity a KeyError.
@pytest.mark.parametrize("call, message", [
    (lambda: rnn_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(4, 3), torch.randn(4, 5)),
     r"weight_hh must have shape \(5, 5\)"),
    (lambda: rnn_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(4, 2), torch.randn(4, 4)),
     r"weight_ih must have shape \(4, 3\)"),
    (lambda: rnn_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(4, 3), torch.randn(4, 4),
                           torch.zeros(5)), r"bias_ih must have shape \(4\)"),
    (lambda: rnn_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(4, 3), torch.randn(4, 4),
                           nonlinearity="sigmoid"), "nonlinearity must be one of"),
    (lambda: gru_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(4, 3), torch.randn(4, 4)),
     r"weight_hh must have shape \(12, 4\)"),
    (lambda: gru_cell_step(torch.randn(2, 3), torch.randn(3, 4), torch.randn(12, 3), torch.randn(12, 4)),
     r"h must have shape \(2, 4\)"),
    (lambda: lstm_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4), torch.randn(12, 3),
                            torch.randn(16, 4)), r"weight_ih must have shape \(16, 3\)"),
    (lambda: lstm_cell_step(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 5), torch.randn(16, 3),
                            torch.randn(16, 4)), r"c must have shape \(2, 4\)"),
])
def test_step_functions_check_shapes_and_nonlinearity(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_step_functions_unchecked_is_the_same_computation():
    torch.manual_seed(3)
    args = (torch.randn(2, 3), torch.randn(2, 4), torch.randn(12, 3), torch.randn(12, 4))
    checked, unchecked = gru_cell_step(*args), gru_cell_step.unchecked(*args)
    assert torch.equal(checked[0], unchecked[0])
    layer = GRU(3, 4)
    x = torch.randn(2, 5, 3)
    h, step_states = torch.zeros(2, 4), []
    for t in range(5):  # the layer's loop calls the unchecked step: the very same numbers
        h, _ = gru_cell_step(x[:, t], h, *layer.layer_weights(0))
        step_states.append(h)
    assert torch.equal(layer(x)[0], torch.stack(step_states, dim=1))


# Defect: T = 0 reached torch.stack in rnn_forward_states / rnn_bptt ("stack expects a non-empty
# TensorList"); the layers already refused it. Now all raise ValueError (no empty result).
def test_empty_time_dimension_is_refused_by_bptt_and_forward_states():
    x, w_ih, w_hh = torch.randn(2, 0, 3), torch.randn(4, 3), torch.randn(4, 4)
    with pytest.raises(ValueError, match="x must have at least one time step"):
        rnn_forward_states(x, w_ih, w_hh)
    with pytest.raises(ValueError, match="x must have at least one time step"):
        rnn_bptt(x, w_ih, w_hh, None, None, torch.zeros(2, 0, 4))


# Defect: flags that are not bools were taken for their truth value ("yes" returned gates).
def test_flags_must_be_bools():
    with pytest.raises(TypeError, match="return_gates"):
        GRUCell(3, 4)(torch.randn(2, 3), return_gates="yes")
    with pytest.raises(TypeError, match="return_gates"):
        LSTM(3, 4)(torch.randn(2, 5, 3), return_gates=1)
    with pytest.raises(TypeError, match="bias"):
        expected_num_parameters("rnn", 3, 4, bias="no")


# Defect: a tensor on another device than the weights gave torch's device error.
def test_another_device_than_the_weights_raises_value_error():
    with pytest.raises(ValueError, match="x is on device meta but weight_ih is on cpu"):
        RNNCell(3, 4)(torch.randn(2, 3, device="meta"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_equals_torch_tanh_values_and_gradients(dtype):
    """s2s_lib.rnn.tanh (2 sigmoid(2x) - 1 on the CPU, for speed) is torch.tanh."""
    from s2s_lib.rnn import tanh

    x = (torch.randn(4, 33, 17, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    grad = torch.randn_like(x)
    y, y_ref = tanh(x), torch.tanh(x_ref)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(y, y_ref, rtol=0, atol=tol)
    y.backward(grad)
    y_ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=tol * 10)
    assert tanh(torch.tensor([-1e4, 0.0, 1e4], dtype=dtype)).tolist() == [-1.0, 0.0, 1.0]
    assert torch.autograd.gradcheck(tanh, (torch.randn(3, 5, dtype=torch.float64, requires_grad=True),))
