"""Benchmark: training and decoding speed of s2s_lib against the structure of its two peers.

The task is the one of the speed issue: a character-level date task (``make_task("date_iso")``,
Korean dates -> ISO dates, 8,000 training pairs), a 1-layer GRU encoder and a GRU decoder with
Bahdanau (additive) attention, embedding 128, hidden 256, teacher forcing, Adam (lr 1e-3),
batches of 64 (and 32) built by the library's length bucketing, 2 CPU threads. All three
implementations see exactly the same batches.

The two peer columns are *re-implementations of the peers' published structure*, written here
from their descriptions (not their code), at the same sizes:

* **PyTorch tutorial** ("NLP From Scratch: Translation with a Sequence to Sequence Network and
  Attention"): encoder = embedding -> GRU over the padded batch (no packing); decoder =
  ``BahdanauAttention`` with ``Wa``/``Ua``/``Va`` (biases) that projects the keys ``Ua(keys)``
  *again at every step*, a GRU step on ``[embedding; context]``, and the output layer applied
  *at every step*; ``log_softmax`` over all steps and ``NLLLoss`` over every position (no
  padding mask, attention not masked either); two Adam optimisers (encoder, decoder); no clipping.
* **D2L** (Dive into Deep Learning, "Bahdanau Attention"): time-major GRU encoder (no packing);
  ``AdditiveAttention`` (``W_k``, ``W_q``, ``w_v``, no biases) that also projects the keys every
  step, ``masked_softmax`` with the source lengths; GRU step on ``[context; embedding]``; the
  output layer *once after the loop* over all steps; cross-entropy with the padding mask;
  gradients clipped to norm 1 by hand; one Adam.
* **s2s_lib**: ``Seq2Seq(cell="gru", attention="bahdanau")`` -- the chapters' model, with its
  deep-output layer ``tanh(W_o [s_t; c_t; E y_{t-1}])`` (hence ~18 % more parameters) -- trained
  by :func:`s2s_lib.train.train_step`, the body of :func:`s2s_lib.train.train` (masked
  :func:`~s2s_lib.train.sequence_loss`, clip 1.0, fused Adam from ``default_optimizer``).

Printed, in one run: training target tokens/s and ms/step (median of ``--windows`` windows of
``--steps`` steps, the implementations interleaved window by window so that load changes hit
all alike), batched greedy decoding sentences/s (peers: the whole batch for ``max_len`` steps,
as both peers decode; s2s_lib: finished sentences leave the batch), beam search (k = 5, 64
sentences), the ratios to the faster peer, the *floor* (the time of only the matrix products
s2s_lib's model must do, at the same shapes, with every weight gradient as one product over
all steps: no implementation of this model using them in float32 can be faster here), the
exact match after 10 s and 20 s of training (each implementation's own recipe, Adam 1e-3;
s2s_lib's ``train`` defaults), and the training speed of the zoo's Korean -> English recipes. ``--profile`` adds a ``torch.profiler`` table
of s2s_lib's training steps.

Run: ``python benchmarks/bench_training.py`` (about 3 minutes on an idle 2-core CPU; ``--quick``
for a 30-second smoke run). On a busy machine set ``OMP_WAIT_POLICY=PASSIVE``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from s2s_lib import count_parameters, pick_device, set_seed, tasks
from s2s_lib.batching import make_batches
from s2s_lib.beam import beam_search
from s2s_lib.decode import greedy_decode
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import EOS_ID, SOS_ID, CharTokenizer
from s2s_lib.train import default_optimizer, train, train_step

E, H = 128, 256  # embedding and hidden size of all three implementations


# --------------------------------------------------------------------------- PyTorch tutorial structure


class TutorialAttention(nn.Module):
    """``Va(tanh(Wa(query) + Ua(keys)))``: the keys are projected at every call (every step)."""

    def __init__(self, hidden):
        super().__init__()
        self.Wa, self.Ua, self.Va = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)

    def forward(self, query, keys):  # (B, 1, H), (B, S, H)
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys))).squeeze(2).unsqueeze(1)  # (B, 1, S)
        weights = F.softmax(scores, dim=-1)  # no padding mask
        return torch.bmm(weights, keys), weights


class TutorialSeq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab):
        super().__init__()
        self.encoder = nn.ModuleDict(dict(embedding=nn.Embedding(src_vocab, E), gru=nn.GRU(E, H, batch_first=True)))
        self.decoder = nn.ModuleDict(dict(embedding=nn.Embedding(tgt_vocab, E), attention=TutorialAttention(H),
                                          gru=nn.GRU(E + H, H, batch_first=True), out=nn.Linear(H, tgt_vocab)))

    def encode(self, src):
        return self.encoder.gru(self.encoder.embedding(src))  # unpacked: padding is read too

    def step(self, token, hidden, enc_out):  # token (B, 1)
        dec = self.decoder
        context, _ = dec.attention(hidden.permute(1, 0, 2), enc_out)
        output, hidden = dec.gru(torch.cat([dec.embedding(token), context], dim=2), hidden)
        return dec.out(output), hidden  # the output layer at every step

    def forward(self, src, tgt_in):
        enc_out, hidden = self.encode(src)
        outputs = []
        for t in range(tgt_in.size(1)):
            logits, hidden = self.step(tgt_in[:, t : t + 1], hidden, enc_out)
            outputs.append(logits)
        return F.log_softmax(torch.cat(outputs, dim=1), dim=-1)

    @torch.no_grad()
    def greedy(self, src, max_len):
        enc_out, hidden = self.encode(src)
        token = torch.full((src.size(0), 1), SOS_ID, dtype=torch.long)
        out = []
        for _ in range(max_len):  # the whole batch, max_len steps
            logits, hidden = self.step(token, hidden, enc_out)
            token = logits.topk(1)[1].squeeze(-1).detach()
            out.append(token)
        return torch.cat(out, dim=1)


def tutorial_trainer(model):
    optimizers = [torch.optim.Adam(model.encoder.parameters(), lr=1e-3),
                  torch.optim.Adam(model.decoder.parameters(), lr=1e-3)]
    criterion = nn.NLLLoss()

    def step(batch):
        for opt in optimizers:
            opt.zero_grad()
        log_probs = model(batch.src, batch.tgt_in)
        loss = criterion(log_probs.view(-1, log_probs.size(-1)), batch.tgt_out.reshape(-1))  # padding counts
        loss.backward()
        for opt in optimizers:
            opt.step()
        return loss
    return step


# --------------------------------------------------------------------------- D2L structure


class D2LAttention(nn.Module):
    """``w_v^T tanh(W_q q + W_k k)``, keys projected every call, masked softmax by valid lengths."""

    def __init__(self, hidden):
        super().__init__()
        self.W_k, self.W_q, self.w_v = (nn.Linear(hidden, hidden, bias=False), nn.Linear(hidden, hidden, bias=False),
                                        nn.Linear(hidden, 1, bias=False))

    def forward(self, queries, keys, values, valid_lens):
        features = torch.tanh(self.W_q(queries).unsqueeze(2) + self.W_k(keys).unsqueeze(1))  # (B, 1, S, H)
        scores = self.w_v(features).squeeze(-1)  # (B, 1, S)
        mask = torch.arange(scores.size(-1))[None, None, :] < valid_lens[:, None, None]
        weights = F.softmax(scores.masked_fill(~mask, -1e6), dim=-1)
        return torch.bmm(weights, values)


class D2LSeq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab):
        super().__init__()
        self.enc_embedding, self.enc_rnn = nn.Embedding(src_vocab, E), nn.GRU(E, H)
        self.attention = D2LAttention(H)
        self.dec_embedding, self.dec_rnn, self.dense = nn.Embedding(tgt_vocab, E), nn.GRU(H + E, H), nn.Linear(H, tgt_vocab)

    def encode(self, src, src_lengths):
        outputs, state = self.enc_rnn(self.enc_embedding(src.t()))  # time-major, unpacked
        return outputs.permute(1, 0, 2), state, src_lengths

    def decode(self, tgt_in, state):
        enc_outputs, hidden, valid_lens = state
        outputs = []
        for x in self.dec_embedding(tgt_in).permute(1, 0, 2):  # (B, E) per step
            context = self.attention(hidden[-1].unsqueeze(1), enc_outputs, enc_outputs, valid_lens)
            out, hidden = self.dec_rnn(torch.cat([context, x.unsqueeze(1)], dim=-1).permute(1, 0, 2), hidden)
            outputs.append(out)
        return self.dense(torch.cat(outputs, dim=0)).permute(1, 0, 2), (enc_outputs, hidden, valid_lens)

    def forward(self, src, src_lengths, tgt_in):
        return self.decode(tgt_in, self.encode(src, src_lengths))[0]

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_len):
        state = self.encode(src, src_lengths)
        outputs = [torch.full((src.size(0), 1), SOS_ID, dtype=torch.long)]
        for _ in range(max_len):  # the whole batch, max_len steps
            logits, state = self.decode(outputs[-1], state)
            outputs.append(logits.argmax(2))
        return torch.cat(outputs[1:], dim=1)


def d2l_trainer(model):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(batch):
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.tgt_out.reshape(-1), reduction="none")
        mask = batch.tgt_mask.reshape(-1).float()
        loss = (loss * mask).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        params = [p for p in model.parameters() if p.requires_grad]
        norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
        if norm > 1.0:
            for p in params:
                p.grad[:] *= 1.0 / norm
        optimizer.step()
        return loss
    return step


# --------------------------------------------------------------------------- s2s_lib


def library_model(src_vocab, tgt_vocab):
    return Seq2Seq(src_vocab, tgt_vocab, emb_dim=E, hidden_dim=H, cell="gru", attention="bahdanau")


def library_trainer(model):
    optimizer = default_optimizer(model, lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def step(batch):
        return train_step(model, optimizer, batch, generator=generator)[0]
    return step


PEERS = {"PyTorch tutorial": (TutorialSeq2Seq, tutorial_trainer), "D2L": (D2LSeq2Seq, d2l_trainer)}
IMPLEMENTATIONS = {**PEERS, "s2s_lib": (library_model, library_trainer)}


def greedy_fn(name, model, max_len):
    if name == "PyTorch tutorial":
        return lambda b: model.greedy(b.src, max_len)
    if name == "D2L":
        return lambda b: model.greedy(b.src, b.src_lengths, max_len)
    return lambda b: greedy_decode(model, b.src, b.src_lengths, max_len).tokens


# --------------------------------------------------------------------------- timing


def windows(fns: dict, n_windows: int) -> dict:
    """Seconds of each of ``fns`` per window: a warm-up round, then ``n_windows`` interleaved rounds."""
    times = {name: [] for name in fns}
    for w in range(n_windows + 1):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if w:
                times[name].append(time.perf_counter() - start)
    return times


def train_window(step, model, batches):
    model.train()

    def run():
        for b in batches:
            step(b)
    return run


def decode_window(fn, model, batches):
    def run():
        model.eval()
        for b in batches:
            fn(b)
    return run


def exact_match(name, model, data, max_len) -> float:
    hits = total = 0
    for b in data:
        out = greedy_fn(name, model, max_len)(b)
        for i in range(b.batch_size):
            ref = b.tgt_out[i, : int(b.tgt_mask[i].sum()) - 1].tolist()
            hyp = list(out[i]) if name == "s2s_lib" else out[i].tolist()
            if name != "s2s_lib":
                hyp = hyp[: hyp.index(EOS_ID)] if EOS_ID in hyp else hyp
            hits += hyp == ref
            total += 1
    return hits / total


def time_to_accuracy(name, vocab, train_ids, test_batches, max_len, budgets=(10.0, 20.0)) -> list[float]:
    """Exact match on the test pairs after ``budgets`` seconds of training (epochs of fresh batches)."""
    set_seed(0, threads=torch.get_num_threads())
    build, trainer = IMPLEMENTATIONS[name]
    model = build(*vocab)
    results, spent, epoch = [], 0.0, 0
    if name == "s2s_lib":  # the library's own loop and defaults (one optimizer across the budgets)
        optimizer = default_optimizer(model)
        for budget in budgets:
            start = time.perf_counter()
            train(model, lambda e: make_batches(*train_ids, 64, seed=e), epochs=10_000,
                  optimizer=optimizer, progress=False, seed=len(results),
                  callbacks=[lambda *_: spent + time.perf_counter() - start >= budget])
            spent += time.perf_counter() - start
            results.append(exact_match(name, model.eval(), test_batches, max_len))
        return results
    step = trainer(model)
    for budget in budgets:
        while spent < budget:
            epoch += 1
            model.train()
            for b in make_batches(*train_ids, 64, seed=epoch):
                start = time.perf_counter()
                step(b)
                spent += time.perf_counter() - start
                if spent >= budget:
                    break
        results.append(exact_match(name, model.eval(), test_batches, max_len))
    return results


# --------------------------------------------------------------------------- the run


def date_task(n_train):
    task = tasks.make_task("date_iso", n_train=n_train, n_valid=0, n_test=500, seed=0)
    src_tok = CharTokenizer.train(s for s, _ in task.train)
    tgt_tok = CharTokenizer.train(t for _, t in task.train)
    train_ids = tasks.encode_pairs(task.train, src_tok, tgt_tok)
    test_ids = tasks.encode_pairs(task.test, src_tok, tgt_tok)
    return (src_tok.vocab_size, tgt_tok.vocab_size), train_ids, test_ids


def speed_table(vocab, train_ids, test_ids, batch_size, steps, n_windows, max_len):
    """Training ms/step and tokens/s, greedy and beam sentences/s of every implementation."""
    batches = make_batches(*train_ids, batch_size, seed=0)[:steps]
    decode_batches = make_batches(*test_ids, 64, shuffle=False)
    n_tok = sum(b.num_tokens for b in batches)
    n_sent = sum(b.batch_size for b in decode_batches)
    models, train_fns, decode_fns = {}, {}, {}
    for name, (build, trainer) in IMPLEMENTATIONS.items():
        torch.manual_seed(0)
        models[name] = model = build(*vocab)
        train_fns[name] = train_window(trainer(model), model, batches)
        decode_fns[name] = decode_window(greedy_fn(name, model, max_len), model, decode_batches)
    train_times = windows(train_fns, n_windows)
    decode_times = windows(decode_fns, n_windows)
    lib = models["s2s_lib"]
    beam_batch = decode_batches[0]
    beam_times = windows({"beam": lambda: beam_search(lib.eval(), beam_batch.src, beam_batch.src_lengths, max_len,
                                                      beam_size=5)}, n_windows)["beam"]
    rows = {}
    for name in IMPLEMENTATIONS:
        t, d = statistics.median(train_times[name]), statistics.median(decode_times[name])
        rows[name] = dict(params=count_parameters(models[name]), ms=1000 * t / len(batches), tok_s=n_tok / t,
                          sent_s=n_sent / d)
    rows["s2s_lib"]["beam_s"] = beam_batch.batch_size / statistics.median(beam_times)
    return rows


def _gemms(B, S, T, vocab, training):
    """The matrix products one batch of s2s_lib's benchmark model cannot avoid: ``(m, k, n, count)``.

    Forward: the encoder's input projection for all S steps and its S recurrent products;
    the key projection; per decoder step the product of s_{t-1} with [W_q; W_hh], the
    context block of the input matmul and the two attention bmms (counted as (1, S, H) per
    sentence); the embedding block, deep output and output layer once for all T steps
    (training) or per step (decoding). Backward (training): for every product the gradient
    of its input, per step where the recurrence forces it, and the gradient of its weight as
    *one* product over all steps (the cheapest arrangement; autograd does one per step).
    """
    Vt, G = vocab[1], 3 * H  # the source vocabulary needs no product (an embedding lookup)
    per_seq = [(B * S, E, G, 1), (B * S, H, H, 1)]  # encoder input projection, key projection
    per_step_enc = [(B, H, G, S)]  # encoder recurrence
    if training:
        per_seq += [(B * T, E, G, 1), (B * T, 2 * H + E, H, 1), (B * T, H, Vt, 1)]  # emb block, deep output, out
        per_step_dec = [(B, H, H + G, T), (B, H, G, T)]  # [W_q; W_hh] s_{t-1}, context block
    else:
        per_step_dec = [(B, E, G, T), (B, H, H + G, T), (B, H, G, T), (B, 2 * H + E, H, T), (B, H, Vt, T)]
    gemms = per_seq + per_step_enc + per_step_dec
    if training:
        gemms += [(m, n, k, c) for m, k, n, c in gemms]  # the input gradients (same count: recurrences)
        gemms += [(n, m * c, k, 1) for m, k, n, c in per_seq + per_step_enc + per_step_dec]  # weight gradients
    bmms = 2 * T * (3 if training else 1)  # score @ keys and weights @ values (and their gradients)
    return gemms, (B, S, H, bmms)


def gemm_floor(batches, vocab, n_windows, *, training=True, max_len=None) -> float:
    """Seconds per batch of only :func:`_gemms`' products (float32, these threads): a floor for any
    implementation of this model on this machine that uses the same products."""
    plans = [_gemms(b.batch_size, b.src.size(1), b.tgt_in.size(1) if training else max_len, vocab, training)
             for b in batches]
    work = []
    for gemms, (B, S, D, n_bmm) in plans:
        for m, k, n, count in gemms:
            a, w, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
            work.append((torch.mm, (a, w), out, count))
        q, keys, out = torch.randn(B, 1, S), torch.randn(B, S, D), torch.empty(B, 1, D)
        work.append((torch.bmm, (q, keys), out, n_bmm))

    def run():
        for fn, args, out, count in work:
            for _ in range(count):
                fn(*args, out=out)
    return statistics.median(windows({"floor": run}, n_windows)["floor"]) / len(batches)


def print_floor(vocab, train_ids, test_ids, rows, batch_size, steps, n_windows, max_len):
    batches = make_batches(*train_ids, batch_size, seed=0)[:steps]
    decode_batches = make_batches(*test_ids, 64, shuffle=False)
    train_floor = 1000 * gemm_floor(batches, vocab, n_windows)
    decode_floor = 1000 * gemm_floor(decode_batches, vocab, n_windows, training=False, max_len=max_len)
    best_ms = min(rows[p]["ms"] for p in PEERS)
    best_decode = max(rows[p]["sent_s"] for p in PEERS)
    n_sent = sum(b.batch_size for b in decode_batches)
    lib_decode = 1000 * n_sent / rows["s2s_lib"]["sent_s"] / len(decode_batches)
    peer_decode = 1000 * n_sent / best_decode / len(decode_batches)
    print(f"matrix products alone (the floor of this model here, float32): training {train_floor:.1f} ms/step "
          f"(s2s_lib {rows['s2s_lib']['ms']:.1f}; 2x the faster peer needs <= {best_ms / 2:.1f}); "
          f"greedy {decode_floor:.1f} ms per 64 sentences (s2s_lib {lib_decode:.1f}; 3x needs <= {peer_decode / 3:.1f})",
          flush=True)


def print_speed(rows, batch_size):
    best_train = max(rows[p]["tok_s"] for p in PEERS)
    best_decode = max(rows[p]["sent_s"] for p in PEERS)
    print(f"\nbatch {batch_size}: training (median of the windows) and batched greedy decoding")
    print(f"{'':<18} {'params':>9} {'ms/step':>8} {'target tok/s':>13} {'ratio':>6}   {'greedy sent/s':>13} {'ratio':>6}")
    for name, r in rows.items():
        print(f"{name:<18} {r['params']:>9,} {r['ms']:>8.1f} {r['tok_s']:>13,.0f} {r['tok_s'] / best_train:>5.2f}x"
              f"   {r['sent_s']:>13,.0f} {r['sent_s'] / best_decode:>5.2f}x")
    if "beam_s" in rows["s2s_lib"]:
        print(f"s2s_lib beam search, k = 5, 64 sentences: {rows['s2s_lib']['beam_s']:,.0f} sentences/s")
    print("(ratio: to the faster peer)", flush=True)


def korean_recipes(steps, n_windows):
    """Training speed of the zoo's Korean -> English recipes (s2s_lib.train_step, their batches)."""
    from s2s_lib import zoo
    print("\nzoo recipes (Korean -> English, their own model and batch size): training speed")
    for name, recipe in zoo.RECIPES.items():
        data = zoo.load_data(recipe)
        batches = data.batches("train", recipe.batch_size, seed=0)[:steps]
        torch.manual_seed(0)
        model = zoo.recipe_model(recipe, data)  # a Seq2Seq or a Transformer, as the recipe says
        fn = train_window(library_trainer(model), model, batches)
        t = statistics.median(windows({name: fn}, n_windows)[name])
        n_tok = sum(b.num_tokens for b in batches)
        print(f"  {name:<22} {1000 * t / len(batches):>7.1f} ms/step {n_tok / t:>9,.0f} target tok/s", flush=True)


def profile(vocab, train_ids, steps=10):
    torch.manual_seed(0)
    model = library_model(*vocab)
    step = library_trainer(model)
    batches = make_batches(*train_ids, 64, seed=0)[:steps]
    step(batches[0])
    with torch.profiler.profile(record_shapes=True) as prof:
        for b in batches:
            step(b)
    print(f"\n== profile: s2s_lib, {steps} training steps")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=15,
                                                               max_name_column_width=28))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per window")
    parser.add_argument("--windows", type=int, default=3, help="timed windows (the median is reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few steps, one window, no recipes")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table of s2s_lib")
    parser.add_argument("--device", default="cpu", help="only 'cpu' is measured for the peers")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.windows = 4, 1
    set_seed(0, threads=args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {pick_device(args.device)}")
    vocab, train_ids, test_ids = date_task(8000)
    max_len = max(len(t) for t in train_ids[1]) + 1  # + <eos>
    print(f"date_iso: {len(train_ids[0])} training pairs, sources <= {max(len(s) for s in train_ids[0])} "
          f"characters, targets {max_len} tokens with <eos>; embedding {E}, hidden {H}, GRU, Bahdanau")
    for batch_size in (64, 32):
        rows = speed_table(vocab, train_ids, test_ids, batch_size, args.steps, args.windows, max_len)
        print_speed(rows, batch_size)
        print_floor(vocab, train_ids, test_ids, rows, batch_size, args.steps, args.windows, max_len)
    if not args.quick:
        print("\nexact match on 500 test dates after 10 s / 20 s of training (greedy):")
        test_batches = make_batches(*test_ids, 250, shuffle=False)
        for name in IMPLEMENTATIONS:
            acc = time_to_accuracy(name, vocab, train_ids, test_batches, max_len)
            print(f"  {name:<18} " + " / ".join(f"{a:.3f}" for a in acc), flush=True)
        korean_recipes(args.steps, args.windows)
    if args.profile:
        profile(vocab, train_ids)


if __name__ == "__main__":
    main()
