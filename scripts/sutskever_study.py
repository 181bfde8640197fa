"""Depth and source reversal at this corpus's scale (the capstone chapter's tables).

Trains every model of :func:`s2s_lib.sutskever.study_recipes` -- LSTM encoder-decoders without
attention: 1, 2, 3 and 4 layers reading the source backwards (seed 0), and the 4-layer model
reading it as written or backwards with seeds 0, 1 and 2 -- each from scratch with the shipped
``ko-en-lstm4`` recipe otherwise unchanged (the 4-layer reversed seed-0 model *is* that shipped
model and is loaded, not retrained). Each model is scored from its float16-rounded weights, as
the shipped ones are: validation and test perplexity, greedy test translations with sacreBLEU
BLEU and chrF (95 % bootstrap intervals), and each test sentence's loss split into the first
English token and the later ones (:func:`s2s_lib.evaluate.sentence_nll`).

The result goes to ``s2s_lib/weights/sutskever.json`` after every model, and a rerun skips the
models already there with the same recipe (about an hour and a half on 2 cores in all).

Run: ``python scripts/sutskever_study.py`` (after ``make zoo``).
"""
from __future__ import annotations

import dataclasses
import json
import time

import torch

from s2s_lib import zoo
from s2s_lib.checkpoint import write_atomically
from s2s_lib.evaluate import score_translations, sentence_nll, translate_split
from s2s_lib.sutskever import STUDY_BASE, STUDY_PATH, study_recipes
from s2s_lib.train import evaluate_loss


def as_shipped(model):
    """Round the weights to float16 and back, as the shipped weights are stored."""
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return model.eval()


def measure(model, data) -> dict:
    hyps = translate_split(model, data, "test", progress=False)
    nll = sentence_nll(model, data.batches("test", 128))
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "valid_ppl": evaluate_loss(model, data.batches("valid", 128))[1],
            "test_ppl": evaluate_loss(model, data.batches("test", 128))[1],
            "score": dataclasses.asdict(score_translations(hyps, data.targets("test"))),
            "hyps": hyps,
            "nll": {k: [round(float(x), 5) for x in v] for k, v in nll.items()}}


def main() -> None:
    out = json.loads(STUDY_PATH.read_text(encoding="utf-8")) if STUDY_PATH.is_file() else {"rows": {}}
    start = time.perf_counter()
    for label, recipe in study_recipes().items():
        fields = zoo._recipe_fields(recipe)
        if label in out["rows"] and out["rows"][label]["recipe"] == fields:
            print(f"{label}: stored", flush=True)
            continue
        t = time.perf_counter()
        if recipe.name == STUDY_BASE:
            model, data = zoo.get(STUDY_BASE)
            shipped_entry = zoo.shipped_manifest()["models"][STUDY_BASE]
            row = {"train_seconds": shipped_entry["train_seconds"], "selected_epoch": shipped_entry["selected_epoch"],
                   "valid_bleu": shipped_entry["valid_bleu"]}
        else:
            data = zoo.load_data(recipe)
            model, history = zoo.train_recipe(recipe, data, progress=True)
            model = as_shipped(model)
            row = {"train_seconds": round(time.perf_counter() - t, 1), "selected_epoch": history.selected_epoch,
                   "valid_bleu": history.valid_bleu}
        with torch.no_grad():
            row = {"recipe": fields, "layers": recipe.model["num_layers"], "reverse_source": recipe.reverse_source,
                   "seed": recipe.seed, **row, **measure(model, data)}
        out["rows"][label] = json.loads(json.dumps(row))
        out["signature"] = row["score"]["bleu_signature"]
        s = row["score"]
        print(f"{label}: {row['train_seconds']:.0f} s, epoch {row['selected_epoch']}, test PPL {row['test_ppl']:.2f}, "
              f"BLEU {s['bleu']:.2f} [{s['bleu_ci'][0]:.1f}, {s['bleu_ci'][1]:.1f}] ({time.perf_counter() - t:.0f} s)",
              flush=True)
        out["seconds"] = round(out.get("seconds", 0) + time.perf_counter() - t, 1)
        text = json.dumps(out, indent=1, ensure_ascii=False) + "\n"
        write_atomically(STUDY_PATH, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        STUDY_PATH.chmod(0o644)
    print(f"wrote {STUDY_PATH} ({time.perf_counter() - start:.0f} s this run)")


if __name__ == "__main__":
    main()
