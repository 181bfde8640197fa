"""Bad input to the model, training, checkpoint, zoo and decoding code: clean errors, nothing corrupted.

Each test names the defect it guards against (found by trying the library as a new user
would); before the fix each one produced NaN, a raw torch error, or a silent wrong answer.
"""
import math
import time

import pytest
import torch

from s2s_lib import count_parameters
from s2s_lib.batching import make_batch
from s2s_lib.beam import beam_search
from s2s_lib.checkpoint import load_checkpoint, save_checkpoint
from s2s_lib.decode import greedy_decode
from s2s_lib.length_penalty import LengthPenalty, make_length_penalty
from s2s_lib.models import DecoderState, Encoder, Memory, Seq2Seq, Seq2SeqConfig
from s2s_lib.tokenize import PAD_ID, SOS_ID
from s2s_lib.toy import TableModel
from s2s_lib.train import constant, evaluate_loss, sequence_loss, train

V = 20


def _model(**kw):
    torch.manual_seed(0)
    return Seq2Seq(V, V, emb_dim=8, hidden_dim=16, **kw)


def _batch():
    return make_batch([[4, 5, 6], [7, 8]], [[9, 10], [11, 12, 13]])


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ training never corrupts the model


def test_a_nan_loss_stops_training_and_leaves_the_model_as_it_was():
    # defect: the history recorded nan and 11 of 12 parameter tensors became NaN
    model = _model(attention="bahdanau")
    with torch.no_grad():
        model.decoder.out.bias[5] = float("inf")  # every loss is now inf/nan
    before = _weights(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with pytest.raises(FloatingPointError, match=r"step 1 .*left as they were"):
        train(model, [_batch()], steps=3, optimizer=optimizer, device="cpu", progress=False)
    after = _weights(model)
    for name, value in before.items():
        assert torch.equal(value, after[name]) or (value.isnan() == after[name].isnan()).all(), name
    assert not optimizer.state  # Adam never stepped: no moments to corrupt later steps


def test_a_schedule_returning_none_or_nan_is_a_clean_error():
    # defect: a schedule returning None raised a raw "'<=' not supported" TypeError; nan slipped through
    for bad, error in ((lambda step: None, TypeError), (lambda step: float("nan"), ValueError),
                       (lambda step: 1.5, ValueError)):
        with pytest.raises(error, match="schedule"):
            train(_model(), [_batch()], steps=1, teacher_forcing=bad, device="cpu", progress=False)


def test_train_rejects_unknown_devices():
    # defect: train(device="tpu") gave a raw torch RuntimeError
    with pytest.raises(ValueError, match="tpu"):
        train(_model(), [_batch()], steps=1, device="tpu", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            train(_model(), [_batch()], steps=1, device="cuda", progress=False)


def test_sequence_loss_rejects_target_ids_outside_the_vocabulary():
    # defect: ids >= V or < 0 gave a raw IndexError from cross_entropy
    logits = torch.randn(2, 3, V)
    for bad in (V, -1, -100):  # -100 is cross_entropy's ignore_index: would be silently skipped
        tgt = torch.full((2, 3), 4)
        tgt[1, 1] = bad
        with pytest.raises(ValueError, match="tgt_out"):
            sequence_loss(logits, tgt)


def test_evaluate_loss_on_all_padding_targets_is_a_clean_error():
    # defect: ZeroDivisionError
    batch = _batch()
    empty = type(batch)(batch.src, batch.src_lengths, torch.full_like(batch.tgt_in, PAD_ID),
                        torch.full_like(batch.tgt_out, PAD_ID))
    with pytest.raises(ValueError, match="no real target token"):
        evaluate_loss(_model(), [empty])


# ------------------------------------------------------------------ models and configs


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(cell="rnn"), ValueError, "cell"),  # defect: Encoder(cell="rnn") silently built an LSTM
    (dict(attention="luong"), ValueError, "attention"),
    (dict(dropout=float("nan")), ValueError, "dropout"),
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(emb_dim=8.0), TypeError, "emb_dim"),
    (dict(num_layers=0), ValueError, "num_layers"),
    (dict(bidirectional=1), TypeError, "bidirectional"),
    (dict(input_feeding=True), ValueError, "input_feeding"),
])
def test_bad_configs_name_the_field(kwargs, error, word):
    with pytest.raises(error, match=word):
        Seq2SeqConfig(V, V, **kwargs)
    with pytest.raises(error, match=word):
        Seq2Seq(V, V, **kwargs)


def test_encoder_and_decoders_take_a_config():
    with pytest.raises(TypeError, match="config"):
        Encoder(V)  # the old signature Encoder(vocab_size, emb_dim, ...): build it from a Seq2SeqConfig


def test_a_memory_with_an_empty_source_row_is_refused():
    # defect: decode_step with an all-False source mask returned NaN logits and weights silently
    model = _model(attention="general")
    memory = model.encode(torch.tensor([[4, 5], [6, 7]]), torch.tensor([2, 2]))
    mask = memory.src_mask.clone()
    mask[1] = False
    with pytest.raises(ValueError, match="src_mask.*no real position"):
        Memory(memory.enc_out, mask, memory.init_state, memory.proj_keys)


def test_decode_step_rejects_ids_outside_the_vocabulary():
    # defect: a raw IndexError from the embedding
    model = _model()
    memory = model.encode(torch.tensor([[4, 5]]), torch.tensor([2]))
    for bad in (V, -1):
        with pytest.raises(ValueError, match="prev_tokens"):
            model.decode_step(torch.tensor([bad]), memory.init_state, memory)
    with pytest.raises(ValueError, match="prev_tokens"):
        model.decode_step(torch.tensor([SOS_ID, SOS_ID]), memory.init_state, memory)  # wrong B


def test_count_parameters_needs_a_module():
    with pytest.raises(TypeError, match="model"):
        count_parameters(5)


# ------------------------------------------------------------------ checkpoints from untrusted files


def _payload_with(tmp_path, **config_changes):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = torch.load(path, weights_only=True)
    payload["config"].update(config_changes)
    torch.save(payload, path)
    return path


def test_a_checkpoint_with_a_huge_config_fails_before_allocating_anything(tmp_path):
    # defect: the model was built from the file's config first (emb_dim 10**9 tried to allocate it)
    path = _payload_with(tmp_path, emb_dim=10**9)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="do not match the config"):
        load_checkpoint(path)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("change", [dict(emb_dim="8"), dict(cell="rnn"), dict(unknown_field=1),
                                    dict(src_vocab_size=-3)])
def test_a_checkpoint_with_an_invalid_config_says_so(tmp_path, change):
    with pytest.raises(ValueError, match="invalid model config"):
        load_checkpoint(_payload_with(tmp_path, **change))


def test_a_bad_map_location_is_not_reported_as_a_corrupted_file(tmp_path):
    # defect: map_location errors were reported as "truncated or corrupted"
    path = save_checkpoint(tmp_path / "m.pt", _model())
    with pytest.raises(ValueError, match="map_location") as err:
        load_checkpoint(path, map_location="tpu")
    assert "corrupted" not in str(err.value)
    model, _ = load_checkpoint(path, map_location="cpu")
    assert isinstance(model.config, Seq2SeqConfig)


def test_a_checkpoint_of_the_old_dict_config_still_loads(tmp_path):
    """Checkpoints written before the redesign stored a plain dict config: the same fields."""
    model = _model(attention="bahdanau")
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = torch.load(path, weights_only=True)
    assert isinstance(payload["config"], dict)
    loaded, _ = load_checkpoint(path)
    assert loaded.config == model.config


# ------------------------------------------------------------------ searches and toys


def test_unknown_length_penalties_are_refused():
    # defect: LengthPenalty("bogus") silently meant "none"
    with pytest.raises(ValueError, match="kind"):
        LengthPenalty("bogus")
    with pytest.raises(ValueError, match="alpha"):
        LengthPenalty("gnmt", -1.0)
    with pytest.raises(ValueError, match="alpha"):
        make_length_penalty(("gnmt", float("nan")))
    with pytest.raises(ValueError, match="length_penalty"):
        make_length_penalty("bogus")


@pytest.mark.parametrize("row, word", [({4: float("nan")}, "table"), ({4: -0.2}, "table"), ({4: 0.7, 5: 0.6}, "sum")])
def test_the_toy_model_refuses_impossible_probabilities(row, word):
    # defect: TableModel silently renormalised NaN or negative probabilities
    with pytest.raises(ValueError, match=word):
        TableModel({(): row}, vocab_size=8)


def test_decoders_check_the_source_once_in_encode():
    model = _model(attention="bahdanau")
    for decode in (greedy_decode, lambda *a: beam_search(*a, beam_size=2)):
        with pytest.raises(ValueError, match="src_lengths"):
            decode(model, torch.tensor([[4, 5, PAD_ID]]), torch.tensor([0]), 5)
        with pytest.raises(ValueError, match="src holds ids outside"):
            decode(model, torch.tensor([[4, V + 3]]), torch.tensor([2]), 5)
        with pytest.raises(TypeError, match="src"):
            decode(model, [[4, 5]], torch.tensor([2]), 5)


def test_memories_from_encode_and_index_select_stay_valid():
    model = _model(attention="dot")
    memory = model.encode(torch.tensor([[4, 5, 6], [7, PAD_ID, PAD_ID]]), [3, 1])
    repeated = memory.index_select(torch.tensor([1, 1, 0]))
    assert repeated.batch_size == 3 and repeated.src_mask.sum().item() == 5
    assert isinstance(repeated.init_state, DecoderState)
    with torch.no_grad():
        logits = model.decode_step(torch.full((3,), SOS_ID), repeated.init_state, repeated).logits
    assert not math.isnan(float(logits.sum()))
    assert constant(0.5)(3) == 0.5


def test_attention_rejects_mixed_dtypes():
    # defect: float64 queries against float32 weights (or keys) gave a raw torch dtype error
    from s2s_lib.attention import Attention

    attn = Attention("general", 4, 4)
    q, k = torch.randn(2, 4), torch.randn(2, 3, 4)
    with pytest.raises(TypeError, match="query"):
        attn(q.double(), k)
    with pytest.raises(TypeError, match="keys"):
        attn(q, k.double())
    with pytest.raises(TypeError, match="query"):
        attn(q.long(), k)
    dot = Attention("dot", 4, 4)
    with pytest.raises(TypeError, match="keys"):
        dot(q.double(), k)
    assert dot(q.double(), k.double())[0].dtype == torch.float64  # no parameters: any float, consistently


def test_checkpoint_weights_of_another_dtype_or_absurd_depth_are_refused(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"] = {k: v.double() for k, v in payload["state_dict"].items()}  # silently cast before
    torch.save(payload, path)
    with pytest.raises(ValueError, match="dtype mismatch"):
        load_checkpoint(path)
    deep = _payload_with(tmp_path, num_layers=10**6)  # would create millions of meta parameters
    start = time.perf_counter()
    with pytest.raises(ValueError, match="layers"):
        load_checkpoint(deep)
    assert time.perf_counter() - start < 5


def test_saving_leaves_no_temporary_files_and_numpy_config_values_are_plain(tmp_path):
    import numpy as np

    model = Seq2Seq(np.int64(V), V, emb_dim=8, hidden_dim=16, attention="concat", attn_dim=np.int64(6))
    path = save_checkpoint(tmp_path / "m.pt", model)  # defect: a numpy attn_dim made an unreadable file
    assert load_checkpoint(path)[0].config == model.config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_sdpa_with_different_batch_sizes_is_a_clean_error():
    # defect: q (B=2) against k (B=3) gave a raw broadcast error from the matmul
    from s2s_lib.transformer import scaled_dot_product_attention

    with pytest.raises(ValueError, match="k must have shape"):
        scaled_dot_product_attention(torch.randn(2, 4, 8), torch.randn(3, 5, 8), torch.randn(3, 5, 8))
