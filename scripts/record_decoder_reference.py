"""Record what every decoder computes, so a refactor can be checked against it.

Run once with the code *before* a refactor of ``s2s_lib.models`` / ``attention`` / ``beam`` /
``decode`` / ``train``; ``tests/test_reference_outputs.py`` then checks that the current code
reproduces every recorded tensor (to 1e-6) from the recorded weights and inputs. (The file in
``tests/data`` was recorded before the redesign of the library, with that code's API, where
the coins were read from ``model.teacher_forcing_coins``; this script now uses the current one.)

* teacher-forced logits (fast path), free-running and mixed (coins) logits, the coins;
* the same in train mode with dropout (so the order in which dropout draws random numbers
  stays the same: the book's trained models depend on it);
* gradients of the loss w.r.t. every parameter;
* step-by-step ``decode_step`` logits, states and attention weights;
* greedy decoding and batched beam search (tokens, scores, attention);
* a few optimisation steps of ``train`` (losses, gradient norms, final weights).

    python scripts/record_decoder_reference.py [--force]   # writes tests/data/decoder_reference.pt
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from s2s_lib.batching import make_batches
from s2s_lib.beam import beam_search
from s2s_lib.decode import greedy_decode
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import PAD_ID
from s2s_lib.train import sequence_loss, train

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_models  # noqa: E402  (the same random padded batch as the model tests)

SRC_V, TGT_V = test_models.SRC_V, test_models.TGT_V
CONFIGS = [
    dict(attention=None),
    dict(attention=None, cell="lstm"),
    dict(attention=None, cell="lstm", bidirectional=True, num_layers=2),
    dict(attention="bahdanau"),
    dict(attention="bahdanau", cell="lstm", bidirectional=True),
    dict(attention="bahdanau", num_layers=2),
    dict(attention="dot"),
    dict(attention="general"),
    dict(attention="concat"),
    dict(attention="general", cell="lstm", num_layers=2, bidirectional=True),
    dict(attention="concat", input_feeding=True),
    dict(attention="general", input_feeding=True, bidirectional=True),
    dict(attention="dot", cell="lstm", input_feeding=True, num_layers=2),
]
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "decoder_reference.pt"


def make_inputs():
    """The model tests' batch (B=5, S=7, T=6) and a target with an <eos> and some padding."""
    src, lengths, tgt_in = test_models.make_inputs()
    tgt_out = torch.roll(tgt_in, -1, dims=1)
    tgt_out[:, -1] = 2
    tgt_out[1, 4:] = PAD_ID
    return src, lengths, tgt_in, tgt_out


def state_tensors(state):
    return [x for x in (state.hidden, state.cell, state.feed) if x is not None]


def record(cfg):
    torch.manual_seed(0)
    model = Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, dropout=0.25, **cfg)
    src, lengths, tgt_in, tgt_out = make_inputs()
    rec = {"config": dict(cfg), "state_dict": {k: v.clone() for k, v in model.state_dict().items()}}
    model.eval()
    with torch.no_grad():
        rec["logits_tf"] = model(src, lengths, tgt_in)
        rec["logits_free"] = model(src, lengths, tgt_in, teacher_forcing_ratio=0.0)
        gen = torch.Generator().manual_seed(3)
        rec["logits_mixed"], rec["coins_mixed"] = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5,
                                                        generator=gen, return_coins=True)
        memory = model.encode(src, lengths)
        state, steps = memory.init_state, []
        for t in range(tgt_in.size(1)):
            step = model.decode_step(tgt_in[:, t], state, memory)
            steps.append({"logits": step.logits, "weights": step.weights,
                          "state": state_tensors(step.state)})
            state = step.state
        rec["steps"] = steps
    greedy = greedy_decode(model, src, lengths, 8)
    rec["greedy"] = {"tokens": greedy.tokens, "log_probs": greedy.log_probs,
                     "attention": greedy.attention}
    beam = beam_search(model, src, lengths, 8, beam_size=3, n_best=2)
    rec["beam"] = {"tokens": [[h.tokens for h in hs] for hs in beam.hypotheses],
                   "scores": [[h.score for h in hs] for hs in beam.hypotheses],
                   "attention": [[h.attention for h in hs] for hs in beam.hypotheses]}
    # Train mode: dropout draws from torch's global RNG in a fixed order.
    model.train()
    torch.manual_seed(11)
    logits = model(src, lengths, tgt_in)
    rec["logits_tf_dropout"] = logits.detach()
    loss = sequence_loss(logits, tgt_out)
    loss.backward()
    rec["grads"] = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    torch.manual_seed(12)
    gen = torch.Generator().manual_seed(4)
    rec["logits_mixed_dropout"] = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5,
                                        generator=gen).detach()
    return rec


def record_training():
    torch.manual_seed(0)
    model = Seq2Seq(SRC_V, TGT_V, emb_dim=8, hidden_dim=16, dropout=0.2, attention="bahdanau")
    init = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(5)
    src = [torch.randint(4, SRC_V, (int(n),), generator=g).tolist()
           for n in torch.randint(1, 8, (40,), generator=g)]
    tgt = [torch.randint(4, TGT_V, (int(n),), generator=g).tolist()
           for n in torch.randint(1, 8, (40,), generator=g)]
    batches = make_batches(src, tgt, 8, seed=0)
    history = train(model, batches, epochs=2, lr=1e-2, teacher_forcing=0.7, device="cpu",
                    seed=0, progress=False)
    return {"init": init, "src": src, "tgt": tgt, "train_loss": history.train_loss,
            "grad_norm": history.grad_norm,
            "final": {k: v.clone() for k, v in model.state_dict().items()}}


def main():
    if OUT.exists() and "--force" not in sys.argv:
        raise SystemExit(f"{OUT} exists: it records the code *before* a refactor. Overwriting it with today's "
                         "outputs would make the test compare the code with itself; pass --force if you mean it.")
    torch.set_num_threads(1)
    data = {"configs": [record(cfg) for cfg in CONFIGS], "training": record_training(),
            "inputs": make_inputs()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB), {len(CONFIGS)} configs")


if __name__ == "__main__":
    main()
