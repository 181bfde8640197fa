"""Tests for s2s_lib.zoo: recipes, cache keys, train == load, silence, caller's RNG untouched."""
import dataclasses
import hashlib
import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_lib import zoo
from s2s_lib.data import DataNotFoundError, find_corpus
from s2s_lib.models import Seq2Seq
from s2s_lib.checkpoint import save_checkpoint
from s2s_lib.evaluate import translate_split

TINY = zoo.Recipe(name="tiny-test", model=dict(emb_dim=8, hidden_dim=16, attention="general"),
                  max_len=5, src_vocab_size=1200, tgt_vocab_size=500, epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def corpus_dir():
    try:
        path = find_corpus(download=False)
    except DataNotFoundError:
        pytest.skip("the kor-eng corpus is not available locally (set S2S_DATA_DIR)")
    return str(Path(path).parent.parent)


@pytest.fixture
def cache_home(tmp_path, monkeypatch, corpus_dir):
    """A private, empty XDG cache (models and SentencePiece) for each test."""
    monkeypatch.setenv("S2S_DATA_DIR", corpus_dir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(zoo.NO_CACHE_ENV, raising=False)
    zoo.clear_memory()
    yield tmp_path
    zoo.clear_memory()


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_predefined_recipes_build_models():
    from s2s_lib.checkpoint import build_model, model_config

    assert set(zoo.SHIPPED) <= set(zoo.recipe_names())
    assert zoo.get_recipe("ko-en-context").model["attention"] is None
    assert zoo.get_recipe("ko-en-bahdanau").model["attention"] == "bahdanau"
    for name in zoo.recipe_names():
        r = zoo.get_recipe(name)
        assert r.name == name and r.description
        build_model(model_config({**r.model, "src_vocab_size": 100, "tgt_vocab_size": 100}))  # a valid config


def test_get_recipe_validates():
    with pytest.raises(ValueError, match="unknown recipe.*ko-en-luong"):
        zoo.get_recipe("kor-eng-transformer")
    with pytest.raises(TypeError, match="recipe"):
        zoo.get_recipe(3)
    with pytest.raises(ValueError, match="epochs"):
        zoo.get_recipe(TINY.replace(epochs=0))
    with pytest.raises(ValueError, match="vocabulary sizes"):
        zoo.get_recipe(TINY.replace(model=dict(src_vocab_size=10)))
    with pytest.raises(ValueError, match="lr_decay"):
        zoo.get_recipe(TINY.replace(lr_decay=1.5))


def test_cache_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert zoo.model_cache_dir() == tmp_path / "s2s_course" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert zoo.model_cache_dir() == Path.home() / ".cache" / "s2s_course" / "models"


def test_recipe_key_depends_on_everything_that_changes_the_weights(cache_home):
    data = zoo.load_data(TINY)
    key = zoo.recipe_key(TINY, data)
    assert key == zoo.recipe_key(TINY, data) and key.startswith("tiny-test-")
    assert zoo.recipe_key(TINY.replace(description="other words"), data) == key
    for change in (dict(epochs=2), dict(seed=1), dict(lr=1e-3), dict(threads=1),
                   dict(model=dict(TINY.model, hidden_dim=32))):
        assert zoo.recipe_key(TINY.replace(**change), data) != key, change
    smaller = zoo.load_data(TINY.replace(max_len=4))
    assert zoo.recipe_key(TINY, smaller) != key  # other training data
    assert zoo.cache_path(TINY, data).name == key + ".pt"


def test_recipe_key_is_about_meaning_not_source_bytes(cache_home, monkeypatch):
    """Editing comments or checks keeps the key; ZOO_VERSION (bumped when numerics change) moves it."""
    data = zoo.load_data(TINY)
    key = zoo.recipe_key(TINY, data)
    monkeypatch.setattr(zoo, "ZOO_VERSION", zoo.ZOO_VERSION + 1)
    assert zoo.recipe_key(TINY, data) != key
    monkeypatch.undo()
    assert zoo.recipe_key(TINY, data) == key


FINGERPRINT = Path(__file__).parent / "data" / "zoo_fingerprint.json"
# Two tiny recipes that between them use every kind of layer the zoo trains: GRU + Luong
# "general" (the whole-sequence path), LSTM + Bahdanau with a bidirectional encoder (the loop).
# A third, a tiny Transformer with warm-up, covers the Transformer's layers and the schedule.
FINGERPRINTED = {"tiny-test": TINY,
                 "tiny-test-bahdanau": TINY.replace(name="tiny-test-bahdanau", model=dict(
                     emb_dim=8, hidden_dim=16, cell="lstm", attention="bahdanau", bidirectional=True)),
                 "tiny-test-transformer": TINY.replace(name="tiny-test-transformer", warmup=5, model=dict(
                     arch="transformer", d_model=8, num_heads=2, num_layers=1, ff_dim=16, dropout=0.1))}


def fingerprint(model) -> dict:
    """Per weight tensor: its sum and its norm (robust to last-bit rounding across CPUs)."""
    return {k: [float(v.double().sum()), float(v.double().norm())] for k, v in model.state_dict().items()}


def machine() -> str:
    """What decides the last bits of trained weights: torch version, CPU model and architecture."""
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return f"torch {torch.__version__} | {platform.machine()} | {cpu}"


@pytest.mark.parametrize("name", FINGERPRINTED)
def test_tiny_recipes_still_train_to_the_recorded_weights(cache_home, name):
    """If this fails, the code now trains other weights: bump zoo.ZOO_VERSION (so stale caches are
    not reused) and re-record with ``python tests/test_zoo.py --record``. On the machine the
    fingerprint was recorded on, the weights must match bit for bit (sha256); elsewhere, where
    the CPU may round differently, every tensor's sum and norm to 1e-4."""
    recorded = json.loads(FINGERPRINT.read_text())
    assert recorded["zoo_version"] == zoo.ZOO_VERSION, "ZOO_VERSION changed: re-record the fingerprint"
    recipe = FINGERPRINTED[name]
    model, _ = zoo.train_recipe(recipe, zoo.load_data(recipe))
    entry = recorded["recipes"][name]
    if recorded["machine"] == machine():
        assert zoo.weights_sha256(model) == entry["sha256"]
    ours = fingerprint(model)
    assert ours.keys() == entry["tensors"].keys()
    for tensor, (total, norm) in entry["tensors"].items():
        assert ours[tensor][1] == pytest.approx(norm, rel=1e-4), tensor
        assert ours[tensor][0] == pytest.approx(total, abs=1e-4 * max(norm, 1.0)), tensor


def test_warmup_recipe_follows_the_schedule_and_round_trips_through_the_cache(cache_home, monkeypatch):
    recipe = FINGERPRINTED["tiny-test-transformer"]
    seen = []
    original = zoo._EpochEnd.__call__

    def spy(self, step, model, history):
        stop = original(self, step, model, history)
        seen.append(self.optimizer.param_groups[0]["lr"])
        return stop

    monkeypatch.setattr(zoo._EpochEnd, "__call__", spy)
    model, data = zoo.get(recipe)
    monkeypatch.undo()
    # the rate of step k + 1: linear up to warmup = 5, then lr * sqrt(5 / (k + 1))
    expected = [recipe.lr * min((k + 1) / 5, (5 / (k + 1)) ** 0.5) for k in range(1, len(seen) + 1)]
    assert seen == pytest.approx(expected)
    assert type(model).__name__ == "Transformer" and model.config.d_model == 8
    zoo.clear_memory()
    loaded, _ = zoo.get(recipe)  # from the disk cache, through load_checkpoint
    assert same_weights(weights(model), weights(loaded))
    # recipes without warm-up keep the manifest fields they were shipped with
    assert "warmup" not in zoo._recipe_fields(TINY) and zoo._recipe_fields(recipe)["warmup"] == 5


def test_trained_and_cached_models_are_identical_and_silent(cache_home, capsys, monkeypatch):
    model, data = zoo.get(TINY)
    first = weights(model)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert not model.training and data.src_tokenizer.vocab_size == model.config.src_vocab_size
    path = zoo.cache_path(TINY, data)
    assert path.is_file()

    zoo.clear_memory()

    def no_training(*args, **kwargs):
        raise AssertionError("should have loaded from the cache")

    monkeypatch.setattr(zoo, "train_recipe", no_training)
    loaded, _ = zoo.get(TINY)
    assert same_weights(first, weights(loaded))
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    monkeypatch.undo()

    # without the cache: trains again and gets the very same weights
    monkeypatch.setenv(zoo.NO_CACHE_ENV, "1")
    zoo.clear_memory()
    path.unlink()
    again, _ = zoo.get(TINY)
    assert same_weights(first, weights(again))
    assert not path.exists()  # the cache was neither read nor written


def test_get_keeps_the_callers_random_state(cache_home):
    for _ in range(2):  # first call trains, second loads
        zoo.clear_memory()
        torch.manual_seed(123)
        random.seed(123)
        np.random.seed(123)
        threads = torch.get_num_threads()
        zoo.get(TINY)
        assert torch.get_num_threads() == threads
        after = (torch.rand(3), random.random(), np.random.rand())
        torch.manual_seed(123)
        random.seed(123)
        np.random.seed(123)
        assert torch.equal(after[0], torch.rand(3))
        assert after[1] == random.random() and after[2] == np.random.rand()


@pytest.mark.parametrize("damage", ["truncate", "flip a bit", "no sha256", "other config"])
def test_a_damaged_cache_entry_is_never_used(cache_home, damage):
    model, data = zoo.get(TINY)
    first = weights(model)
    path = zoo.cache_path(TINY, data)
    sha = path.with_suffix(".sha256")
    assert sha.read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(raw[:100])
    elif damage == "flip a bit":  # torch.load checks no CRC: this file would load other weights
        raw[len(raw) // 2] ^= 0x10
        path.write_bytes(raw)
    elif damage == "no sha256":
        sha.unlink()
    else:  # a valid file with the right key and hash but another architecture
        other = Seq2Seq(data.src_tokenizer.vocab_size, data.tgt_tokenizer.vocab_size, emb_dim=4, hidden_dim=8)
        save_checkpoint(path, other, key=zoo.recipe_key(TINY, data))
        sha.write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
    zoo.clear_memory()
    with pytest.warns(UserWarning, match="damaged model cache"):
        again, _ = zoo.get(TINY)
    assert same_weights(first, weights(again))
    zoo.clear_memory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.get(TINY)  # repaired: loads without a warning


def test_memory_copy_is_independent_of_the_returned_model(cache_home):
    model, _ = zoo.get(TINY)
    reference = weights(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    again, _ = zoo.get(TINY)
    assert same_weights(reference, weights(again))


def test_ablation_tables_print_every_row_of_their_files():
    for base in ("ko-en-bahdanau", "ko-en-transformer", "ko-en-luong"):
        rows = json.loads(zoo.ablation_path(base).read_text(encoding="utf-8"))["rows"]
        table = zoo.ablation_table(base).splitlines()
        assert base in table[0] and len(table) == 1 + len(rows)
        assert all(line.startswith(label) for line, label in zip(table[1:], rows))
    with pytest.raises(ValueError, match="base"):
        zoo.ablation_table("kor-eng-gru")


def test_seed_table_prints_every_run_and_pairing():
    study = json.loads(zoo.seeds_path().read_text(encoding="utf-8"))
    table = zoo.seed_table().splitlines()
    runs, pairs = study["runs"], study["pairs"]
    assert len(table) == 1 + len(runs) + 1 + len(pairs)
    assert all(f"seed {s}" in table[0] for s in study["seeds"])
    for line, (name, scores) in zip(table[1:], runs.items()):
        assert line.startswith(name) and all(f"{scores[str(s)]['bleu']:.1f}" in line for s in study["seeds"])
    # every attention model against the context vector, for every pairing of seeds
    assert len(pairs) == (len(runs) - 1) * len(study["seeds"]) ** 2
    assert all(f"{p['difference']:+5.2f}" in line for p, line in zip(pairs, table[-len(pairs):]))


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    recipes = {}
    for name, recipe in FINGERPRINTED.items():
        model, _ = zoo.train_recipe(recipe, zoo.load_data(recipe))
        recipes[name] = {"recipe": recipe.to_dict(), "sha256": zoo.weights_sha256(model), "tensors": fingerprint(model)}
    FINGERPRINT.write_text(json.dumps({"zoo_version": zoo.ZOO_VERSION, "machine": machine(), "recipes": recipes},
                                      indent=1) + "\n")
    print(f"wrote {FINGERPRINT} on {machine()}")


def test_early_stopping_keeps_the_best_validation_epoch_and_averages_its_window(cache_home, monkeypatch):
    """select="valid_bleu" + average=2 + patience=2, with scripted validation scores 1, 3, 2, 2.5, ...:
    epoch 2 is the best, training stops after epoch 4, the weights are the mean of epochs 1 and 2."""
    recipe = TINY.replace(name="tiny-select", epochs=6, select="valid_bleu", average=2, patience=2,
                          label_smoothing=0.1, lr=3e-2, decay_after=1, lr_decay=0.5)
    data = zoo.load_data(recipe)
    scores = iter([1.0, 3.0, 2.0, 2.5, 9.0, 9.0])
    monkeypatch.setattr(zoo, "_greedy_bleu", lambda model, data, split: next(scores))
    seen = []
    original = zoo._EpochEnd.__call__

    def spy(self, step, model, history):
        stop = original(self, step, model, history)
        if step % self.steps_per_epoch == 0:
            seen.append(({k: v.clone() for k, v in model.state_dict().items()}, self.optimizer.param_groups[0]["lr"]))
        return stop

    monkeypatch.setattr(zoo._EpochEnd, "__call__", spy)
    model, history = zoo.train_recipe(recipe, data)
    assert history.valid_bleu == [1.0, 3.0, 2.0, 2.5] and history.selected_epoch == 2  # stopped by patience
    assert history.epoch[-1] == 4
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, (seen[0][0][k] + seen[1][0][k]) / 2, msg=k)
    assert [lr for _, lr in seen] == pytest.approx([3e-2, 1.5e-2, 7.5e-3, 3.75e-3])  # decay after epoch 1
    last = zoo.train_recipe(TINY.replace(name="tiny-last", epochs=2, average=2), data)
    assert last[1].valid_bleu == [] and last[1].selected_epoch == 2


def test_recipe_fields_of_the_translator_practices_are_checked():
    for change, message in ((dict(select="best"), "select"), (dict(average=0), "average"),
                            (dict(patience=0), "patience"), (dict(label_smoothing=1.0), "label_smoothing"),
                            (dict(decay_after=-1), "decay_after")):
        with pytest.raises(ValueError, match=message):
            zoo.get_recipe(TINY.replace(**change))


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    monkeypatch.setattr(zoo, "SHIPPED_DIR", folder)
    return folder


def test_ship_writes_weights_tokenizers_and_a_manifest_that_get_loads(cache_home, shipped_dir, monkeypatch):
    recipe = TINY.replace(name="tiny-ship", normalize=False, max_len=6)
    monkeypatch.setitem(zoo.RECIPES, recipe.name, recipe)
    entry = zoo.ship(recipe.name, progress=False, slice_size=8)
    manifest = zoo.shipped_manifest()
    assert manifest["models"]["tiny-ship"] == entry
    for kind in ("weights", "src_tokenizer", "tgt_tokenizer"):
        path = shipped_dir / entry[kind]["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry[kind]["sha256"]
    assert entry["weights"]["tensors_sha256"] == zoo.weights_sha256(zoo.load_checkpoint(shipped_dir / entry["weights"]["file"])[0])
    assert entry["recipe"]["normalize"] is False and entry["zoo_version"] == zoo.ZOO_VERSION
    for method in ("greedy", "beam"):
        score = entry["test"][method]
        assert score["bleu_ci"][0] <= score["bleu"] + 1e-6 and "case:mixed" in score["bleu_signature"]
    zoo.clear_memory()
    monkeypatch.setattr(zoo, "train_recipe", lambda *a, **k: pytest.fail("get() trained instead of loading"))
    model, data = zoo.get("tiny-ship")
    assert not data.normalized and model.decoder.out.weight.dtype == torch.float32
    from s2s_lib.evaluate import translate_split

    hyps = translate_split(model, data, "test", progress=False)[:8]
    assert hyps == entry["test_slice"]["greedy"]


def test_damaged_or_stale_shipped_files_are_not_used(cache_home, shipped_dir, monkeypatch):
    recipe = TINY.replace(name="tiny-ship2")
    monkeypatch.setitem(zoo.RECIPES, recipe.name, recipe)
    entry = zoo.ship(recipe.name, progress=False, slice_size=4)
    assert zoo.load_shipped(recipe.name) is not None
    assert zoo.load_shipped(recipe.replace(epochs=2)) is None  # another recipe: not this entry
    weights = shipped_dir / entry["weights"]["file"]
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.warns(UserWarning, match="shipped weights of tiny-ship2 is missing or damaged"):
        assert zoo.load_shipped(recipe.name) is None


def test_the_shipped_weights_match_their_manifest_and_reproduce_its_scores(corpus_dir, monkeypatch):
    """Every recipe in zoo.SHIPPED has a manifest entry for its current fields, files with the
    recorded sha256, and its loaded model writes the recorded greedy translations (CI never retrains)."""
    monkeypatch.setenv("S2S_DATA_DIR", corpus_dir)
    manifest = zoo.shipped_manifest()
    assert sorted(manifest["models"]) == sorted(zoo.SHIPPED), "run `make zoo` after changing zoo.SHIPPED"
    from s2s_lib.evaluate import translate_split

    for name in zoo.SHIPPED:
        entry = manifest["models"][name]
        assert entry["recipe"] == zoo._recipe_fields(zoo.get_recipe(name)), f"{name}: recipe changed; run make zoo"
        assert entry["zoo_version"] == zoo.ZOO_VERSION, f"{name}: ZOO_VERSION changed; run make zoo"
        for kind, path in zoo._shipped_files(entry).items():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry[kind]["sha256"], (name, kind)
        model, data = zoo.load_shipped(name)
        assert zoo.weights_sha256(model) == entry["weights"]["tensors_sha256"], name  # what make zoo reproduces
        n = entry["test_slice"]["sentences"]
        first = translate_split(model, data.__class__(data.train, data.valid, data.test[:n], data.src_tokenizer,
                                                     data.tgt_tokenizer, data.max_len, data.normalized),
                                "test", progress=False)
        assert first == entry["test_slice"]["greedy"], name
    total = sum((zoo.SHIPPED_DIR / e[k]["file"]).stat().st_size for e in manifest["models"].values()
                for k in ("weights", "src_tokenizer", "tgt_tokenizer"))
    assert total <= 40 * 2**20, f"shipped files take {total / 2**20:.1f} MiB (budget 40)"


def test_a_reversed_source_recipe_puts_the_reversal_into_the_model(cache_home):
    """reverse_source=True trains a model whose encoder reads backwards itself: decoding it with the
    source as written gives what its weights give, without the flag, on sources reversed by hand."""
    recipe = TINY.replace(name="tiny-test-reversed", reverse_source=True, model=dict(TINY.model, cell="lstm"))
    data = zoo.load_data(recipe)
    model, _ = zoo.train_recipe(recipe, data)
    assert model.config.reverse_source
    plain = Seq2Seq(dataclasses.replace(model.config, reverse_source=False))
    plain.load_state_dict(model.state_dict())
    plain.eval()
    assert translate_split(model, data, "valid", progress=False) == \
        translate_split(plain, data, "valid", reverse_source=True, progress=False)
    with pytest.raises(ValueError, match="reverse_source"):
        zoo.train_recipe(FINGERPRINTED["tiny-test-transformer"].replace(reverse_source=True), data)


def test_recipe_model_builds_each_recipes_architecture():
    from s2s_lib.models import Seq2Seq
    from s2s_lib.transformer import Transformer

    data = zoo.load_data("ko-en-luong")
    transformer = zoo.recipe_model("ko-en-transformer", data)
    assert isinstance(transformer, Transformer) and transformer.config.d_model == 256
    lstm4 = zoo.recipe_model("ko-en-lstm4", data)
    assert isinstance(lstm4, Seq2Seq) and lstm4.config.reverse_source and lstm4.config.num_layers == 4
    assert lstm4.src_vocab_size == data.src_tokenizer.vocab_size
    with pytest.raises(ValueError, match="unknown recipe"):
        zoo.recipe_model("no-such-recipe", data)
