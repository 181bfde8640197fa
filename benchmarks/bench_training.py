"""Benchmark: training and greedy-decoding throughput of s2s_lib.models.Seq2Seq.

Compares the library against the usual tutorial implementation of the *same* model: a
Python loop over target time steps that calls the RNN for one step at a time, computes
attention (key projection included) inside the loop, and projects every step to the
vocabulary separately. The tutorial version here reuses the library model's own
parameters, and the script first checks that both give the same logits, so the two
columns differ only in how the computation is organised:

* context-vector model: one RNN call over all T steps + one vocabulary projection;
* Bahdanau: keys projected once per sentence (``Memory.proj_keys``), vocabulary
  projection once after the loop (the loop itself is unavoidable: ``s_{t-1}`` is the query);
* Luong ("general", no input feeding): RNN over all steps, then attention for all T steps
  as one (B, T, S) batched product.

Greedy decoding: the library's batched :func:`s2s_lib.decode.greedy_decode` (finished
sentences leave the batch) vs the tutorial loop (whole batch until every sentence has
ended, keys projected every step).

Setting: the real Korean -> English training split (SentencePiece, sentences <= --max-len
tokens), embedding 128, hidden 256, GRU, batch 64, length bucketing, 2 CPU threads.
Training figures are target tokens per second (forward + backward + clip + Adam step),
first with the same plain ``torch.optim.Adam`` for both, then with the library's default
optimizer (fused Adam, :func:`s2s_lib.train.default_optimizer`). Every variant runs once
per round, interleaved, and the best round counts (the machine may be shared).

Run: ``python benchmarks/bench_training.py [--batches 20] [--repeats 3] [--profile]`` (about
2 minutes on an idle 2-core CPU). On a shared, busy machine set ``OMP_WAIT_POLICY=PASSIVE``
first: otherwise idle OpenMP threads spin while waiting for a core and the run can take
10x longer.
"""
from __future__ import annotations

import argparse
import time

import torch

from s2s_lib import set_seed
from s2s_lib.data import prepare_translation
from s2s_lib.decode import greedy_decode
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import EOS_ID, PAD_ID, SOS_ID
from s2s_lib.train import default_optimizer, sequence_loss

MODELS = {"context vector": None, "Bahdanau": "bahdanau", "Luong general": "general"}


# --------------------------------------------------------------------------- the tutorial way


def tutorial_forward(model: Seq2Seq, src, src_lengths, tgt_in):
    """Step-by-step forward pass, tutorial style, with ``model``'s parameters. -> (B, T, V)."""
    enc_out, final = model.encoder(src, src_lengths)  # same packed encoder
    mask = src != PAD_ID  # (B, S)
    dec = model.decoder
    hidden = final
    logits = []
    for t in range(tgt_in.size(1)):
        emb = dec.dropout(dec.embedding(tgt_in[:, t]))  # (B, E)
        out, ctx = _tutorial_step(model, emb, hidden, enc_out, mask)
        hidden = ctx
        logits.append(dec.out(dec.dropout(out)))  # (B, V): one projection per step
    return torch.stack(logits, dim=1)


def _tutorial_step(model, emb, hidden, enc_out, mask):
    """One decoder step; returns (features for the output layer, new hidden)."""
    dec = model.decoder
    kind = model.config.attention
    if kind is None:
        out, hidden = dec.rnn(emb.unsqueeze(1), hidden)
        return out.squeeze(1), hidden
    if kind == "bahdanau":
        attn = dec.attention
        s_prev = hidden[-1]  # (B, H)
        energy = torch.tanh(attn.W_q(s_prev).unsqueeze(1) + attn.U_k(enc_out))  # keys projected every step
        scores = attn.v_a(energy).squeeze(2).masked_fill(~mask, -1e10)  # (B, S)
        weights = torch.softmax(scores, dim=1)
        context = torch.bmm(weights.unsqueeze(1), enc_out).squeeze(1)  # (B, He)
        out, hidden = dec.rnn(torch.cat([emb, context], -1).unsqueeze(1), hidden)
        s_t = out.squeeze(1)
        return torch.tanh(dec.pre_output(torch.cat([s_t, context, emb], -1))), hidden
    # Luong general
    out, hidden = dec.rnn(emb.unsqueeze(1), hidden)
    h_t = out.squeeze(1)  # (B, H)
    keys = dec.attention.W_a(enc_out)  # (B, S, H), every step
    scores = torch.bmm(keys, h_t.unsqueeze(2)).squeeze(2).masked_fill(~mask, -1e10)
    weights = torch.softmax(scores, dim=1)
    context = torch.bmm(weights.unsqueeze(1), enc_out).squeeze(1)
    return torch.tanh(dec.combine(torch.cat([context, h_t], -1))), hidden


@torch.no_grad()
def tutorial_greedy(model: Seq2Seq, src, src_lengths, max_len):
    """Batched greedy decoding, tutorial style: the whole batch runs until all are done."""
    model.eval()
    enc_out, hidden = model.encoder(src, src_lengths)
    mask = src != PAD_ID
    dec = model.decoder
    prev = torch.full((src.size(0),), SOS_ID, dtype=torch.long)
    done = torch.zeros(src.size(0), dtype=torch.bool)
    outputs = []
    for _ in range(max_len):
        out, hidden = _tutorial_step(model, dec.embedding(prev), hidden, enc_out, mask)
        prev = dec.out(out).argmax(-1)
        outputs.append(prev)
        done |= prev == EOS_ID
        if done.all():
            break
    return torch.stack(outputs, 1)


# --------------------------------------------------------------------------- timing


def train_pass(model, optimizer, batches, forward) -> float:
    """Seconds for one pass of forward + backward + clip + optimizer step over ``batches``."""
    model.train()
    start = time.perf_counter()
    for b in batches:
        logits = forward(model, b.src, b.src_lengths, b.tgt_in)
        loss = sequence_loss(logits, b.tgt_out, b.tgt_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return time.perf_counter() - start


def decode_pass(decode, batches) -> float:
    """Seconds to greedy-decode every batch."""
    start = time.perf_counter()
    for b in batches:
        decode(b)
    return time.perf_counter() - start


def best_rates(variants: dict, work: float, repeats: int) -> dict:
    """Run every variant once per round (interleaved, so load changes hit all alike) after a
    warm-up round; return work / best time for each."""
    best = {name: float("inf") for name in variants}
    for r in range(repeats + 1):
        for name, fn in variants.items():
            seconds = fn()
            if r:
                best[name] = min(best[name], seconds)
    return {name: work / t for name, t in best.items()}


def library_forward(model, src, src_lengths, tgt_in):
    return model(src, src_lengths, tgt_in)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20, help="training batches timed per pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (the best is reported)")
    parser.add_argument("--max-len", type=int, default=15, help="longest sentence in tokens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table per model")
    args = parser.parse_args()

    set_seed(0, threads=args.threads)
    data = prepare_translation(max_len=args.max_len)
    train_batches = data.batches("train", 64, seed=0)[: args.batches]
    eval_batches = data.batches("valid", 64) + data.batches("test", 64)
    vocab = (data.src_tokenizer.vocab_size, data.tgt_tokenizer.vocab_size)
    measure(train_batches, eval_batches, vocab, args.max_len + 1, args.repeats, args.profile)


def measure(train_batches, eval_batches, vocab, max_len, repeats=3, profile=False) -> list:
    """Time every model of :data:`MODELS` both ways; returns rows for :func:`print_tables`."""
    n_tok = sum(b.num_tokens for b in train_batches)
    n_sent = sum(b.batch_size for b in eval_batches)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(train_batches)} training "
          f"batches of 64 ({n_tok} target tokens), {n_sent} sentences to decode")
    print("training: target tokens/s (forward + backward + clip + Adam step; '+fused' = library with")
    print("fused Adam, the default of s2s_lib.train); greedy decoding: sentences/s, batches of 64\n")
    print(f"{'':<15} {'------------------ training ------------------':>46}   {'---------- greedy ---------':>26}")
    print(HEADER, flush=True)
    rows = []
    for label, attention in MODELS.items():
        torch.manual_seed(0)
        model = Seq2Seq(*vocab, emb_dim=128, hidden_dim=256, attention=attention).eval()
        b = train_batches[0]
        with torch.no_grad():  # the two implementations compute the same function
            diff = (model(b.src, b.src_lengths, b.tgt_in) - tutorial_forward(model, b.src, b.src_lengths, b.tgt_in)).abs().max()
        assert diff < 1e-4, f"{label}: library and tutorial logits differ by {diff}"

        plain = torch.optim.Adam(model.parameters(), lr=1e-3)  # what tutorials use
        fused = default_optimizer(model, lr=1e-3)  # what s2s_lib.train.train uses
        train_rates = best_rates({
            "tutorial": lambda: train_pass(model, plain, train_batches, tutorial_forward),
            "library": lambda: train_pass(model, plain, train_batches, library_forward),
            "library+fused": lambda: train_pass(model, fused, train_batches, library_forward),
        }, n_tok, repeats)
        decode_rates = best_rates({
            "tutorial": lambda: decode_pass(lambda b: tutorial_greedy(model, b.src, b.src_lengths, max_len),
                                            eval_batches),
            "library": lambda: decode_pass(lambda b: greedy_decode(model, b.src, b.src_lengths, max_len),
                                           eval_batches),
        }, n_sent, repeats)
        rows.append((label, train_rates, decode_rates))
        print(format_row(*rows[-1]), flush=True)
        if profile:
            _profile(model, train_batches[:10], label)
    return rows


HEADER = (f"{'model':<15} {'tutorial':>9} {'library':>9} {'+fused':>9} {'speed-up':>13}   "
          f"{'tutorial':>8} {'library':>8} {'speed-up':>8}")


def format_row(label, tr, dr) -> str:
    return (f"{label:<15} {tr['tutorial']:>9,.0f} {tr['library']:>9,.0f} {tr['library+fused']:>9,.0f} "
            f"{tr['library'] / tr['tutorial']:>5.2f}x/{tr['library+fused'] / tr['tutorial']:.2f}x   "
            f"{dr['tutorial']:>8,.0f} {dr['library']:>8,.0f} {dr['library'] / dr['tutorial']:>7.2f}x")


def print_tables(rows) -> None:
    """Print the summary table again (``measure`` prints each row as it is measured)."""
    print()
    print(HEADER)
    for row in rows:
        print(format_row(*row))


def _profile(model, batches, label):
    opt = torch.optim.Adam(model.parameters())
    model.train()
    with torch.profiler.profile() as prof:
        for b in batches:
            loss = sequence_loss(model(b.src, b.src_lengths, b.tgt_in), b.tgt_out, b.tgt_mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(f"\n== profile: {label} (library, {len(batches)} training steps)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
