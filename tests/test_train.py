"""Tests for s2s_lib.train: masked loss, schedules, the training loop, evaluation, checkpoints."""
import math

import pytest
import torch
import torch.nn.functional as F

from s2s_lib.batching import make_batch
from s2s_lib.checkpoint import load_checkpoint, save_checkpoint
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import PAD_ID
from s2s_lib.train import (
    History,
    constant,
    evaluate_loss,
    exponential_decay,
    inverse_sigmoid_decay,
    linear_decay,
    perplexity,
    sequence_loss,
    train,
)

V = 12


def reverse_task(n=16, seed=1):
    """n random sequences over ids 4..V-1 (length 2-5) and their reversal."""
    g = torch.Generator().manual_seed(seed)
    src = [torch.randint(4, V, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g).tolist()
           for _ in range(n)]
    return src, [s[::-1] for s in src]


@pytest.fixture
def batch():
    return make_batch(*reverse_task())


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(V, V, emb_dim=16, hidden_dim=32, **kw)


# --------------------------------------------------------------------------- loss


def test_sequence_loss_is_mean_over_real_tokens(batch):
    torch.manual_seed(0)
    logits = torch.randn(*batch.tgt_out.shape, V)
    expected = F.cross_entropy(logits.reshape(-1, V), batch.tgt_out.reshape(-1), ignore_index=PAD_ID)
    torch.testing.assert_close(sequence_loss(logits, batch.tgt_out, batch.tgt_mask), expected)
    torch.testing.assert_close(sequence_loss(logits, batch.tgt_out), expected)  # default mask
    total = sequence_loss(logits, batch.tgt_out, batch.tgt_mask, reduction="sum")
    torch.testing.assert_close(total, expected * batch.num_tokens)
    per_token = sequence_loss(logits, batch.tgt_out, reduction="none")
    assert per_token.shape == batch.tgt_out.shape
    assert (per_token[~batch.tgt_mask] == 0).all()
    torch.testing.assert_close(per_token.sum(), total)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothing_is_the_smoothed_target_cross_entropy(batch, eps):
    torch.manual_seed(0)
    logits = torch.randn(*batch.tgt_out.shape, V, requires_grad=True)
    loss = sequence_loss(logits, batch.tgt_out, batch.tgt_mask, label_smoothing=eps)
    # by hand: target distribution (1 - eps) one_hot + eps / V over the real tokens
    log_p = torch.log_softmax(logits, dim=-1)[batch.tgt_mask]  # (N, V)
    target = torch.full_like(log_p, eps / V)
    target[torch.arange(len(target)), batch.tgt_out[batch.tgt_mask]] += 1 - eps
    torch.testing.assert_close(loss, -(target * log_p).sum(-1).mean())
    expected = F.cross_entropy(logits.reshape(-1, V), batch.tgt_out.reshape(-1), ignore_index=PAD_ID,
                               label_smoothing=eps)
    torch.testing.assert_close(loss, expected)
    per_token = sequence_loss(logits, batch.tgt_out, batch.tgt_mask, reduction="none", label_smoothing=eps)
    torch.testing.assert_close(per_token.sum() / batch.num_tokens, loss)
    with pytest.raises(ValueError, match="label_smoothing"):
        sequence_loss(logits, batch.tgt_out, label_smoothing=1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        train(small_model(), [batch], label_smoothing=-0.1, progress=False)


def test_training_with_label_smoothing_records_the_smoothed_loss(batch):
    plain = train(small_model(), [batch], steps=1, progress=False)
    smooth = train(small_model(), [batch], steps=1, label_smoothing=0.1, progress=False)
    with torch.no_grad():
        logits = small_model()(batch.src, batch.src_lengths, batch.tgt_in)
    assert smooth.train_loss[0] == pytest.approx(float(sequence_loss(logits, batch.tgt_out, label_smoothing=0.1)),
                                                 rel=1e-5)
    assert plain.train_loss[0] == pytest.approx(float(sequence_loss(logits, batch.tgt_out)), rel=1e-5)


def test_sequence_loss_ignores_padding_positions(batch):
    assert (~batch.tgt_mask).any(), "the fixture needs padding"
    torch.manual_seed(0)
    logits = torch.randn(*batch.tgt_out.shape, V, requires_grad=True)
    changed = logits.detach().clone()
    changed[~batch.tgt_mask] = torch.randn(int((~batch.tgt_mask).sum()), V) * 100
    changed[~batch.tgt_mask, 0] = 1e30  # even absurd values at padding do not matter
    a = sequence_loss(logits, batch.tgt_out, batch.tgt_mask)
    b = sequence_loss(changed, batch.tgt_out, batch.tgt_mask)
    torch.testing.assert_close(a, b)
    a.backward()
    assert (logits.grad[~batch.tgt_mask] == 0).all()
    assert logits.grad[batch.tgt_mask].abs().sum() > 0


def test_sequence_loss_validates(batch):
    logits = torch.randn(*batch.tgt_out.shape, V)
    with pytest.raises(ValueError, match="logits"):
        sequence_loss(logits[0], batch.tgt_out)
    with pytest.raises(TypeError, match="tgt_out"):
        sequence_loss(logits, batch.tgt_out.float())
    with pytest.raises(ValueError, match="tgt_out"):
        sequence_loss(logits, batch.tgt_out[:, :-1])
    with pytest.raises(TypeError, match="mask"):
        sequence_loss(logits, batch.tgt_out, batch.tgt_mask.long())
    with pytest.raises(ValueError, match="reduction"):
        sequence_loss(logits, batch.tgt_out, reduction="avg")
    with pytest.raises(ValueError, match="no token"):
        sequence_loss(logits, batch.tgt_out, torch.zeros_like(batch.tgt_mask))


def test_perplexity_is_exp_of_loss():
    assert perplexity(0.0) == 1.0
    assert math.isclose(perplexity(torch.tensor(math.log(50.0), dtype=torch.float64)), 50.0)
    assert perplexity(1e6) == math.inf


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("schedule", [constant(0.7), linear_decay(1.0, 0.01, 0.1), exponential_decay(0.97),
                                      inverse_sigmoid_decay(20.0), linear_decay(0.8, 1e-4)], ids=repr)
def test_schedules_are_monotone_probabilities(schedule):
    values = [schedule(i) for i in range(0, 3000, 7)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_schedule_formulas_of_bengio_et_al():
    lin = linear_decay(k=1.0, c=0.01, eps=0.2)
    assert lin(0) == 1.0 and math.isclose(lin(30), 0.7) and lin(10_000) == 0.2
    exp = exponential_decay(0.9)
    assert exp(0) == 1.0 and math.isclose(exp(3), 0.729)
    inv = inverse_sigmoid_decay(10.0)
    assert math.isclose(inv(0), 10 / 11) and math.isclose(inv(25), 10 / (10 + math.exp(2.5)))
    assert inv(10**7) == 0.0  # no overflow
    assert constant(0.3)(12345) == 0.3


@pytest.mark.parametrize("make", [lambda: constant(1.5), lambda: linear_decay(c=0), lambda: linear_decay(eps=-1),
                                  lambda: exponential_decay(1.0), lambda: inverse_sigmoid_decay(0.5)])
def test_schedules_reject_bad_parameters(make):
    with pytest.raises(ValueError):
        make()


def test_schedule_rejects_bad_steps():
    with pytest.raises(ValueError, match="step"):
        constant(0.5)(-1)
    with pytest.raises(TypeError, match="step"):
        constant(0.5)(1.5)


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("attention", [None, "bahdanau", "general"])
def test_training_overfits_a_tiny_reverse_task(batch, attention):
    model = small_model(attention=attention)
    history = train(model, [batch], steps=200, lr=1e-2, device="cpu", progress=False)
    assert history.num_steps == 200
    assert history.train_loss[-1] < 0.05 < history.train_loss[0]
    loss, ppl = evaluate_loss(model, [batch])
    assert loss < 0.05 and ppl < 1.06


def test_same_seed_same_history_different_seed_different(batch):
    batches = [batch, make_batch(*reverse_task(seed=2))]

    def run(seed):
        model = small_model(attention="bahdanau", dropout=0.3)
        return train(model, batches, steps=12, lr=3e-3, device="cpu", seed=seed, progress=False,
                     teacher_forcing=linear_decay(1.0, 0.05), valid_batches=[batch], eval_every=4)

    a, b, c = run(0), run(0), run(1)
    assert a == b  # every recorded number, dropout and coins included
    assert a.train_loss != c.train_loss
    assert a.seconds > 0


def test_history_records_schedule_steps_and_evaluations(batch):
    model = small_model()
    schedule = exponential_decay(0.9)
    h = train(model, [batch, batch, batch], epochs=2, device="cpu", progress=False,
              teacher_forcing=schedule, valid_batches=[batch], eval_free_running=True)
    assert h.step == [1, 2, 3, 4, 5, 6] and h.epoch == [1, 1, 1, 2, 2, 2]
    assert h.tf_prob == [schedule(i) for i in range(6)]
    assert h.tokens == [batch.num_tokens] * 6
    assert h.eval_step == [3, 6]  # end of each epoch
    assert len(h.valid_loss) == len(h.valid_ppl) == len(h.valid_free_loss) == 2
    assert math.isclose(h.valid_ppl[-1], math.exp(h.valid_loss[-1]))
    assert all(g > 0 for g in h.grad_norm)
    assert isinstance(h.to_dict()["train_loss"], list)
    assert len(h.smoothed_loss(4)) == 6


def test_eval_every_and_steps_limit(batch):
    h = train(small_model(), [batch] * 3, steps=7, device="cpu", progress=False,
              valid_batches=[batch], eval_every=3)
    assert h.num_steps == 7 and h.eval_step == [3, 6, 7]
    h = train(small_model(), [batch] * 3, epochs=5, steps=4, device="cpu", progress=False)
    assert h.num_steps == 4  # whichever limit comes first
    h = train(small_model(), [batch] * 3, device="cpu", progress=False)
    assert h.num_steps == 3  # default: one epoch


def test_batches_can_be_a_function_of_the_epoch(batch):
    seen = []

    def make(epoch):
        seen.append(epoch)
        return [batch] * epoch

    h = train(small_model(), make, epochs=3, steps=100, device="cpu", progress=False)
    assert seen == [1, 2, 3] and h.epoch == [1, 2, 2, 3, 3, 3]


def test_clipping_limits_the_update(batch):
    model = small_model()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    h = train(model, [batch], steps=1, optimizer=opt, clip=1e-3, device="cpu", progress=False)
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert h.grad_norm[0] > 1e-3  # recorded before clipping
    assert moved.item() == pytest.approx(1e-3, rel=1e-3)  # lr 1 * clipped norm


def test_callbacks_can_stop_training(batch):
    calls = []

    def cb(step, model, history):
        calls.append(step)
        return step == 3

    h = train(small_model(), [batch], steps=50, device="cpu", progress=False, callbacks=[cb],
              valid_batches=[batch], eval_every=100)
    assert calls == [1, 2, 3] and h.num_steps == 3 and h.eval_step == [3]


def test_train_shows_tqdm_progress(batch, capsys):
    train(small_model(), [batch], steps=2, device="cpu", progress=True)
    assert "train" in capsys.readouterr().err
    train(small_model(), [batch], steps=2, device="cpu", progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(steps=-1), ValueError, "steps"),
        (dict(lr=0), ValueError, "lr"),
        (dict(clip=-1.0), ValueError, "clip"),
        (dict(teacher_forcing=1.5), ValueError, "teacher_forcing"),
        (dict(teacher_forcing="always"), TypeError, "teacher_forcing"),
        (dict(optimizer="adam"), TypeError, "optimizer"),
        (dict(valid_batches=[]), ValueError, "valid_batches"),
        (dict(callbacks=[1]), TypeError, "callbacks"),
        (dict(seed=-1), ValueError, "seed"),
    ],
)
def test_train_rejects_bad_arguments(batch, kwargs, error, word):
    with pytest.raises(error, match=word):
        train(small_model(), [batch], device="cpu", progress=False, **kwargs)


def test_train_rejects_bad_batches_and_model(batch):
    with pytest.raises(ValueError, match="batches"):
        train(small_model(), [], progress=False)
    with pytest.raises(TypeError, match="batches"):
        train(small_model(), [batch, "x"], progress=False)
    with pytest.raises(TypeError, match="model"):
        train("model", [batch], progress=False)
    with pytest.raises(ValueError, match="schedule"):
        train(small_model(), [batch], teacher_forcing=lambda step: 2.0, device="cpu", progress=False)


def test_evaluate_averages_over_tokens_and_restores_mode(batch):
    other = make_batch(*reverse_task(n=3, seed=5))
    model = small_model(dropout=0.2).train()
    loss, ppl = evaluate_loss(model, [batch, other])
    assert model.training
    model.eval()
    with torch.no_grad():
        total = sum(float(sequence_loss(model(b.src, b.src_lengths, b.tgt_in), b.tgt_out, reduction="sum"))
                    for b in (batch, other))
    assert loss == pytest.approx(total / (batch.num_tokens + other.num_tokens), rel=1e-5)
    assert ppl == pytest.approx(math.exp(loss))
    free, _ = evaluate_loss(model, [batch], teacher_forcing_ratio=0.0)
    assert free != pytest.approx(evaluate_loss(model, [batch])[0])


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path, batch):
    model = small_model(attention="concat", cell="lstm", input_feeding=True)
    opt = torch.optim.Adam(model.parameters())
    train(model, [batch], steps=3, optimizer=opt, device="cpu", progress=False)
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, opt, epoch=3, note="hi", scores=[1.5, 2.0])
    loaded, extra = load_checkpoint(path)
    assert loaded.config == model.config and not loaded.training
    assert extra["epoch"] == 3 and extra["note"] == "hi" and extra["scores"] == [1.5, 2.0]
    assert "state" in extra["optimizer_state_dict"]
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(batch.src, batch.src_lengths, batch.tgt_in),
                           model(batch.src, batch.src_lengths, batch.tgt_in))
    opt2 = torch.optim.Adam(loaded.parameters())
    opt2.load_state_dict(extra["optimizer_state_dict"])
    assert not list(tmp_path.glob("sub/*.tmp"))


@pytest.mark.parametrize("half", [False, True])
def test_transformer_checkpoint_round_trip(tmp_path, batch, half):
    from s2s_lib.transformer import Transformer

    torch.manual_seed(0)
    model = Transformer(V, V, d_model=16, num_heads=2, num_layers=2, ff_dim=32, positional="learned").eval()
    path = save_checkpoint(tmp_path / "t.pt", model, half=half, note="transformer")
    loaded, extra = load_checkpoint(path)
    assert isinstance(loaded, Transformer) and loaded.config == model.config and extra["note"] == "transformer"
    assert loaded.out.weight is loaded.tgt_embedding.weight  # still tied after loading
    with torch.no_grad():
        ours = loaded(batch.src, batch.src_lengths, batch.tgt_in)
        expected = model(batch.src, batch.src_lengths, batch.tgt_in)
    torch.testing.assert_close(ours, expected, atol=2e-2 if half else 0, rtol=0)


def test_the_same_checkpoint_holds_the_same_tensors_wherever_it_is_written(tmp_path):
    import zipfile

    from s2s_lib.zoo import weights_sha256

    model = small_model()
    a = save_checkpoint(tmp_path / "a.pt", model, half=True, recipe="x")
    b = save_checkpoint(tmp_path / "sub" / "other-name.pt", model, half=True, recipe="x")
    assert weights_sha256(load_checkpoint(a)[0]) == weights_sha256(load_checkpoint(b)[0])
    assert zipfile.ZipFile(a).namelist() == zipfile.ZipFile(b).namelist()  # not named after the file


def test_checkpoint_rejects_unplain_metadata(tmp_path):
    with pytest.raises(TypeError, match="extra"):
        save_checkpoint(tmp_path / "m.pt", small_model(), fn=lambda: 1)
    with pytest.raises(TypeError, match="model"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "m.pt", small_model(), optimizer_state_dict={})


def test_load_checkpoint_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.pt")


def test_load_checkpoint_truncated_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_checkpoint(path)


def test_load_checkpoint_garbage_file(tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_load_checkpoint_foreign_torch_file(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(small_model().state_dict(), path)  # a bare state_dict, not our format
    with pytest.raises(ValueError, match="not an s2s_lib checkpoint"):
        load_checkpoint(path)


def test_load_checkpoint_weights_that_do_not_match_the_config(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_model())
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_dim"] = 64
    torch.save(payload, path)
    with pytest.raises(ValueError, match="do not match the config.*shape/dtype mismatch"):
        load_checkpoint(path)
    payload["config"]["hidden_dim"] = 32
    payload["config"]["attention"] = "general"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="missing weights"):
        load_checkpoint(path)
    payload["config"]["attention"] = "nonsense"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="invalid model config"):
        load_checkpoint(path)


def test_load_checkpoint_does_not_unpickle_code(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format": "s2s_lib.checkpoint", "version": 1, "obj": History()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)  # weights_only=True refuses arbitrary classes


def test_load_checkpoint_leaves_the_global_rng_alone(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_model())
    torch.manual_seed(5)
    load_checkpoint(path)
    after = torch.rand(2)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(2))


def test_half_precision_checkpoint_loads_as_float32_with_rounded_weights(tmp_path, batch):
    model = small_model(attention="bahdanau", tie_embeddings=True).eval()
    full = save_checkpoint(tmp_path / "full.pt", model)
    half = save_checkpoint(tmp_path / "half.pt", model, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_checkpoint(half)
    for name, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, model.state_dict()[name].half().float(), rtol=0, atol=0, msg=name)
    assert loaded.decoder.out.weight is loaded.decoder.embedding.weight  # still tied
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch.src, batch.src_lengths, batch.tgt_in),
                                   model(batch.src, batch.src_lengths, batch.tgt_in), rtol=0, atol=5e-3)
    with pytest.raises(TypeError, match="half"):
        save_checkpoint(tmp_path / "x.pt", model, half=1)
