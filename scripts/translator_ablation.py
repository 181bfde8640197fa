"""Ablation of the translator's low-resource practices (for the seq2seq chapter's table).

Starting from the shipped Bahdanau recipe (``zoo.get_recipe("ko-en-bahdanau")``), each row
switches one practice off (or changes one setting), trains the recipe from scratch on the
CPU and scores greedy test translations: sacreBLEU BLEU and chrF with 95 % bootstrap
intervals, and the paired-bootstrap p-value of the difference to the full recipe. Rows that
need no training come from the shipped models (beam search; no attention is the shipped
``ko-en-context``, the same recipe with ``attention=None``). The result goes to
``s2s_lib/weights/ablation.json``; the chapter prints it (training the five rows takes ~30
minutes, far beyond a notebook's budget).

``--base ko-en-transformer`` tunes the shipped Transformer instead (chapter 10): dropout 0.1 and
no warm-up, one change each, into ``s2s_lib/weights/ablation-ko-en-transformer.json`` (~15 minutes).

Run: ``python scripts/translator_ablation.py [--base NAME]`` (after ``make zoo``).
"""
from __future__ import annotations

import argparse
import json
import time

from s2s_lib import zoo
from s2s_lib.checkpoint import write_atomically
from s2s_lib.evaluate import paired_bootstrap, score_translations, translate_split

BASE = "ko-en-bahdanau"


def rows(base: zoo.Recipe) -> dict[str, zoo.Recipe]:
    """label -> recipe with one change from ``base``."""
    model = base.model
    if model.get("arch") == "transformer":
        return {
            "dropout 0.1 (not 0.3)": base.replace(model=dict(model, dropout=0.1)),
            "no warm-up (constant 1e-3)": base.replace(warmup=None),
        }
    return {
        "unidirectional encoder": base.replace(model=dict(model, bidirectional=False)),
        "no word dropout": base.replace(model=dict(model, word_dropout=0.0)),
        "no label smoothing": base.replace(label_smoothing=0.0),
        "untied output embeddings": base.replace(model=dict(model, tie_embeddings=False)),
    }


def score_row(model, data, refs, baseline_hyps, method="greedy"):
    hyps = translate_split(model, data, "test", method=method, progress=False)
    row = {"score": json.loads(json.dumps(score_translations(hyps, refs).__dict__))}
    if baseline_hyps is not None:
        test = paired_bootstrap(baseline_hyps, hyps, refs)
        row["difference"], row["p_value"] = test["difference"], test["p_value"]
    return row, hyps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASE, help="the shipped recipe to start from")
    name = parser.parse_args().base
    base = zoo.get_recipe(name)
    out = {"base": name, "rows": {}}
    start = time.perf_counter()
    model, data = zoo.load_shipped(name) or zoo.get(name)
    refs = data.targets("test")
    out["rows"]["full recipe (greedy)"], base_hyps = score_row(model, data, refs, None)
    out["rows"]["full recipe, beam 5"], _ = score_row(model, data, refs, base_hyps, method="beam")
    if base.model.get("arch") != "transformer":
        context, _ = zoo.load_shipped("ko-en-context") or zoo.get("ko-en-context")  # the recipe without attention
        out["rows"]["no attention (ko-en-context)"], _ = score_row(context, data, refs, base_hyps)
        last_model, history = zoo.train_recipe(base.replace(select="last", name=base.name + "-last-epoch"), data)
        out["rows"]["no early stopping (last epoch)"], _ = score_row(last_model, data, refs, base_hyps)
        print("no early stopping", out["rows"]["no early stopping (last epoch)"], flush=True)
    for label, recipe in rows(base).items():
        t = time.perf_counter()
        recipe = recipe.replace(name=f"{base.name}-ablation")
        data_r = zoo.load_data(recipe)
        model_r, history = zoo.train_recipe(recipe, data_r)
        if data_r.targets("test") != refs:  # other vocabularies keep other sentences under max_len
            print(f"   ({label}: {len(data_r.test)} test sentences instead of {len(refs)}; no paired test)")
            out["rows"][label], _ = score_row(model_r, data_r, data_r.targets("test"), None)
        else:
            out["rows"][label], _ = score_row(model_r, data_r, refs, base_hyps)
        out["rows"][label]["train_seconds"] = round(time.perf_counter() - t, 1)
        print(f"{label:34s} {out['rows'][label]}", flush=True)
    out["seconds"] = round(time.perf_counter() - start, 1)
    path = zoo.ablation_path(name)
    text = json.dumps(out, indent=1, ensure_ascii=False) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print("wrote", path)


if __name__ == "__main__":
    main()
