"""Benchmark: batched beam search vs one sentence and one hypothesis at a time (Chapter 8).

:func:`s2s_lib.beam.beam_search` advances all B sentences x K hypotheses as one (B*K)-row
batch through the decoder; :func:`s2s_lib.beam.beam_search_one` (the version the
chapter shows) runs the decoder once per hypothesis per step, one sentence at a time. Both
implement the same algorithm, so their outputs must be identical; this script checks that
and times both on a trained model (the shipped Luong translator by default, ``--recipe``
for another), beam size 5, 64 real test sentences, 2 CPU threads.

Run: ``python benchmarks/bench_beam.py`` (needs the corpus, see ``s2s_lib.data``; the
shipped weights load in a second, other recipes train the first time).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from s2s_lib import set_seed, zoo
from s2s_lib.batching import Batch
from s2s_lib.beam import BeamResult, beam_search, beam_search_one


def timed_pair(fast, slow, repeats: int):
    """Time ``fast()`` and ``slow()`` alternately (so load changes hit both); returns the
    run times of each and their last results."""
    times = {"fast": [], "slow": []}
    results = {}
    for _ in range(repeats):
        for name, fn in (("fast", fast), ("slow", slow)):
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times["fast"], times["slow"], results["fast"], results["slow"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="ko-en-luong")
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs of each (median and best reported)")
    args = parser.parse_args()

    set_seed(0, threads=2)
    model, data = zoo.get(args.recipe)
    batch: Batch = data.batches("test", args.sentences, bucketing=False, shuffle=False)[0]
    src, lengths = batch.src, batch.src_lengths
    kw = dict(beam_size=args.beam_size, length_penalty=("gnmt", 1.0), n_best=args.beam_size)
    beam_search(model, src[:4], lengths[:4], args.max_len, **kw)  # warm-up

    fast_all, slow_all, fast, slow = timed_pair(
        lambda: beam_search(model, src, lengths, args.max_len, **kw),
        lambda: BeamResult([beam_search_one(model, src[i, :n], args.max_len, **kw)
                            for i, n in enumerate(lengths.tolist())]), args.repeats)
    fast_s, slow_s = statistics.median(fast_all), statistics.median(slow_all)

    # identical outputs: every n-best list, token for token, scores to float rounding
    assert len(fast) == len(slow) == src.size(0)
    for a, b in zip(fast.hypotheses, slow.hypotheses):
        assert [h.tokens for h in a] == [h.tokens for h in b], (a, b)
        assert [h.finished for h in a] == [h.finished for h in b]
        assert all(abs(x.score - y.score) < 1e-4 for x, y in zip(a, b))

    print(f"model: {args.recipe}, {src.size(0)} test sentences, beam size {args.beam_size}, "
          f"n-best {args.beam_size}, max_len {args.max_len}, torch threads {torch.get_num_threads()}")
    print("outputs identical: yes (all n-best lists, tokens and scores)")
    print(f"{'implementation':<38} {'median s':>9} {'best s':>8}  all runs (s)")
    for name, median, runs in (("batched (B*K rows per decoder step)", fast_s, fast_all),
                               ("per sentence, per hypothesis", slow_s, slow_all)):
        print(f"{name:<38} {median:>9.3f} {min(runs):>8.3f}  " + ", ".join(f"{t:.3f}" for t in runs))
    print(f"speed-up of batching: {slow_s / fast_s:.1f}x (medians), "
          f"{min(slow_all) / min(fast_all):.1f}x (best runs)")


if __name__ == "__main__":
    main()
