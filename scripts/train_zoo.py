"""Train the zoo's shipped recipes and write their weights, tokenizers and manifest (``make zoo``).

Each recipe trains deterministically on the CPU with its own thread count (2), from scratch,
and is scored on the test split from the float16 weights as shipped (greedy and beam-5
sacreBLEU BLEU and chrF with 95 % intervals). The files go to ``s2s_lib/weights/``; commit
them together with ``manifest.json``. Retrain only when a shipped recipe or the model code
changes (``tests/test_zoo.py`` fails when a recipe no longer matches its manifest entry).

Run: ``python scripts/train_zoo.py [names...]`` (default: every recipe in ``zoo.SHIPPED``).
"""
from __future__ import annotations

import argparse
import time

from s2s_lib import zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(zoo.SHIPPED), help="recipes to train and ship")
    args = parser.parse_args()
    for name in args.names:
        start = time.perf_counter()
        print(f"== {name}: training", flush=True)
        entry = zoo.ship(name, progress=True)
        greedy, beam = entry["test"]["greedy"], entry["test"]["beam"]
        print(f"   {entry['train_seconds']:.0f} s training, {entry['parameters']:,} parameters, epoch "
              f"{entry['selected_epoch']} kept; test greedy BLEU {greedy['bleu']:.1f} "
              f"[{greedy['bleu_ci'][0]:.1f}, {greedy['bleu_ci'][1]:.1f}] chrF {greedy['chrf']:.1f}; beam-5 BLEU "
              f"{beam['bleu']:.1f} [{beam['bleu_ci'][0]:.1f}, {beam['bleu_ci'][1]:.1f}]", flush=True)
        print(f"   {greedy['bleu_signature']}   ({time.perf_counter() - start:.0f} s in all)", flush=True)


if __name__ == "__main__":
    main()
