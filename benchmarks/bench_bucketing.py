"""Benchmark: random batching vs length bucketing for one training epoch (Chapter 0).

Sutskever, Vinyals & Le (2014, section 3.4) sort sentences by length so that a minibatch
holds sentences of similar length, and report a 2x speed-up. Here: the real Korean ->
English training split with SentencePiece ids, a small standard GRU encoder-decoder in
plain ``torch.nn`` (embedding 128, hidden 256, batch 64, 2 CPU threads), one epoch of
forward + backward + Adam step with each batching scheme.

Run: ``python benchmarks/bench_bucketing.py`` (needs the corpus, see ``s2s_lib.data``).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from s2s_lib import set_seed
from s2s_lib.batching import padding_fraction
from s2s_lib.data import prepare_translation
from s2s_lib.tokenize import PAD_ID


class GRUSeq2Seq(nn.Module):
    """A plain GRU encoder-decoder: the encoder's last real state starts the decoder."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 128, hidden: int = 256):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=PAD_ID)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=PAD_ID)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, tgt_vocab)

    def forward(self, src, src_lengths, tgt_in):
        enc_out, _ = self.encoder(self.src_emb(src))  # (B, S, H), padding included
        last = enc_out[torch.arange(src.size(0)), src_lengths - 1]  # (B, H) at the last real token
        dec_out, _ = self.decoder(self.tgt_emb(tgt_in), last.unsqueeze(0).contiguous())  # (B, T, H)
        return self.out(dec_out)  # (B, T, V)


def run_epoch(model, optimizer, batches) -> float:
    start = time.perf_counter()
    for b in batches:
        logits = model(b.src, b.src_lengths, b.tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), b.tgt_out.flatten(), ignore_index=PAD_ID)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per scheme")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    set_seed(0, threads=2)
    data = prepare_translation()
    print(f"data: {data}")
    model = GRUSeq2Seq(data.src_tokenizer.vocab_size, data.tgt_tokenizer.vocab_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schemes = {"random": False, "bucketed": True}
    run_epoch(model, optimizer, data.batches("train", args.batch_size, bucketing=False)[:10])  # warm-up
    times = {name: [] for name in schemes}
    pad = {}
    for epoch in range(args.epochs):
        for name, bucketing in schemes.items():  # interleave so load changes hit both equally
            batches = data.batches("train", args.batch_size, bucketing=bucketing, seed=epoch)
            pad[name] = padding_fraction(batches)
            times[name].append(run_epoch(model, optimizer, batches))
    print(f"torch threads: {torch.get_num_threads()}, batches/epoch: {len(batches)}, "
          f"epochs timed: {args.epochs}")
    print(f"{'batching':<10} {'padding':>8} {'epoch s (median)':>17}  all epochs (s)")
    for name in schemes:
        print(f"{name:<10} {pad[name]:>8.1%} {statistics.median(times[name]):>17.2f}  "
              + ", ".join(f"{t:.1f}" for t in times[name]))
    ratio = statistics.median(times["random"]) / statistics.median(times["bucketed"])
    print(f"speed-up of bucketing: {ratio:.2f}x (Sutskever et al. 2014 report ~2x)")


if __name__ == "__main__":
    main()
