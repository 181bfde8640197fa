"""Tests for s2s_lib.attention_study (forced attention, explorer items, alignment measures)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2s_lib.attention_study import (EOS_LABEL, argmax_alignment, attention_entropy,
                                   attention_item, count_crossings, forced_attention,
                                   forced_attentions)
from s2s_lib.decode import greedy_decode
from s2s_lib.models import Seq2Seq
from s2s_lib.tokenize import CharTokenizer
from s2s_lib.views import attention_explorer

SRC_TOK = CharTokenizer(list("가나다라마 "))
TGT_TOK = CharTokenizer(list("abcdef "))


def _model(attention="bahdanau", seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(SRC_TOK.vocab_size, TGT_TOK.vocab_size, emb_dim=8, hidden_dim=12,
                   attention=attention, **kw).eval()


@pytest.mark.parametrize("attention", ["bahdanau", "dot", "general", "concat"])
def test_forced_attention_shape_and_rows(attention):
    src, tgt = SRC_TOK.encode("가나다라"), TGT_TOK.encode("abc")
    w = forced_attention(_model(attention), src, tgt)
    assert w.dtype == np.float32
    assert w.shape == (len(tgt) + 1, len(src))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert (w >= 0).all()


@pytest.mark.parametrize("attention", ["bahdanau", "general"])
def test_forced_on_own_greedy_output_equals_decoder_weights(attention):
    """Fed its own greedy translation, the decoder must attend exactly as it did while decoding."""
    model = _model(attention, seed=3)
    src = SRC_TOK.encode("다라마가나")
    result = greedy_decode(model, torch.tensor([src]), torch.tensor([len(src)]), max_len=6)
    forced = forced_attention(model, src, result.tokens[0])
    steps = len(result.tokens[0]) + int(result.finished[0])  # rows the greedy decoder produced
    np.testing.assert_allclose(forced[:steps], result.attention[0][:steps], atol=1e-6)


def test_forced_attention_depends_on_the_target_fed():
    model = _model("general", seed=1)
    src = SRC_TOK.encode("가나다")
    a = forced_attention(model, src, TGT_TOK.encode("aaa"))
    b = forced_attention(model, src, TGT_TOK.encode("fed"))
    np.testing.assert_allclose(a[0], b[0], atol=1e-7)  # step 1 reads <sos> in both
    assert not np.allclose(a[1:], b[1:])


def test_forced_attention_accepts_tensors_empty_target_and_restores_mode():
    model = _model()
    model.train()
    w = forced_attention(model, torch.tensor(SRC_TOK.encode("가나")), [])
    assert w.shape == (1, 2)
    assert model.training


@pytest.mark.parametrize("attention", ["bahdanau", "dot", "general", "concat"])
def test_forced_attentions_in_batches_equal_one_pair_at_a_time(attention):
    """Padding the sources and targets of a batch must not move any real weight."""
    model = _model(attention, seed=2)
    pairs = [("가나다라마", "abcdef"), ("다", ""), ("라마가", "fa"), ("가나 다라", "bb cc"), ("마마", "e")]
    sources = [SRC_TOK.encode(s) for s, _ in pairs]
    targets = [TGT_TOK.encode(t) for _, t in pairs]
    for batch_size in (1, 2, 128):
        batched = forced_attentions(model, sources, targets, batch_size=batch_size)
        assert len(batched) == len(pairs)
        for w, src, tgt in zip(batched, sources, targets):
            assert w.shape == (len(tgt) + 1, len(src))
            np.testing.assert_allclose(w, forced_attention(model, src, tgt), atol=1e-6)


def test_forced_attentions_errors_name_the_pair():
    model = _model()
    with pytest.raises(ValueError, match="sources has 2 sequences but targets has 1"):
        forced_attentions(model, [[4], [5]], [[4]])
    with pytest.raises(ValueError, match=r"sources\[1\] is empty"):
        forced_attentions(model, [[4], []], [[4], [4]])
    with pytest.raises(ValueError, match=r"targets\[0\] holds ids outside"):
        forced_attentions(model, [[4]], [[TGT_TOK.vocab_size]])
    with pytest.raises(TypeError, match="sources must be a sequence"):
        forced_attentions(model, "가나", ["ab"])
    with pytest.raises(ValueError, match="batch_size"):
        forced_attentions(model, [[4]], [[4]], batch_size=0)


def test_forced_attention_errors():
    model = _model()
    with pytest.raises(ValueError, match="no attention"):
        forced_attention(_model(attention=None), [4, 5], [4])
    with pytest.raises(TypeError, match="model"):
        forced_attention("not a model", [4, 5], [4])
    with pytest.raises(ValueError, match="src_ids is empty"):
        forced_attention(model, [], [4])
    with pytest.raises(TypeError, match=r"tgt_ids\[1\]"):
        forced_attention(model, [4, 5], [4, 1.5])
    with pytest.raises(TypeError, match="src_ids"):
        forced_attention(model, "가나", [4])
    with pytest.raises(ValueError, match="src_ids"):
        forced_attention(model, [4, -1], [4])
    with pytest.raises(ValueError, match="src_ids"):
        forced_attention(model, torch.tensor([[4, 5]]), [4])
    with pytest.raises(ValueError, match="tgt_ids holds ids outside"):
        forced_attention(model, [4, 5], [4, TGT_TOK.vocab_size])
    with pytest.raises(ValueError, match="src"):
        forced_attention(model, [4, SRC_TOK.vocab_size], [4])


def test_attention_item_feeds_the_explorer():
    models = {"bahdanau": _model("bahdanau"), "dot": _model("dot")}
    src, tgt = SRC_TOK.encode("가 나다"), TGT_TOK.encode("ab")
    item = attention_item(models, src, tgt, SRC_TOK, TGT_TOK)
    assert item["name"] == "가 나다"
    assert item["src_tokens"] == ["가", "▁", "나", "다"]
    assert item["tgt_tokens"] == ["a", "b", EOS_LABEL]
    assert set(item["weights"]) == {"bahdanau", "dot"}
    np.testing.assert_array_equal(item["weights"]["dot"], forced_attention(models["dot"], src, tgt))
    view = attention_explorer([item, attention_item(models, src[:2], [], SRC_TOK, TGT_TOK, name="x")],
                              title="t")
    assert view.data["scores"] == ["bahdanau", "dot"]
    assert view.data["items"][1]["name"] == "x"


def test_attention_item_errors():
    src, tgt = SRC_TOK.encode("가나"), TGT_TOK.encode("a")
    with pytest.raises(TypeError, match="models"):
        attention_item({}, src, tgt, SRC_TOK, TGT_TOK)
    with pytest.raises(TypeError, match="models keys"):
        attention_item({1: _model()}, src, tgt, SRC_TOK, TGT_TOK)
    with pytest.raises(ValueError, match=r"models\['none'\] has no attention"):
        attention_item({"none": _model(None)}, src, tgt, SRC_TOK, TGT_TOK)
    with pytest.raises(TypeError, match="tgt_tokenizer"):
        attention_item({"a": _model()}, src, tgt, SRC_TOK, object())
    with pytest.raises(TypeError, match="name"):
        attention_item({"a": _model()}, src, tgt, SRC_TOK, TGT_TOK, name=3)


def test_argmax_alignment_and_crossings():
    diagonal = np.eye(4)
    assert argmax_alignment(diagonal) == [0, 1, 2, 3]
    assert count_crossings(argmax_alignment(diagonal)) == 0
    reversed_ = np.eye(4)[::-1]
    assert argmax_alignment(torch.tensor(reversed_.copy())) == [3, 2, 1, 0]
    assert count_crossings([3, 2, 1, 0]) == 6  # n(n-1)/2
    assert count_crossings([0, 0, 1, 1, 2]) == 0  # staircase: monotonic
    assert count_crossings([2, 0, 1]) == 2
    assert count_crossings([]) == 0
    assert argmax_alignment([[0.5, 0.5]]) == [0]  # ties -> first


def test_alignment_errors():
    with pytest.raises(ValueError, match="2-D"):
        argmax_alignment([1.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        argmax_alignment([[float("nan"), 1.0]])
    with pytest.raises(TypeError, match="alignment"):
        count_crossings("012")
    with pytest.raises(TypeError, match=r"alignment\[1\]"):
        count_crossings([0, 1.0])


def test_attention_entropy():
    h = attention_entropy([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(h, [0.0, math.log(3), math.log(2)], atol=1e-12)
    with pytest.raises(ValueError, match="sum to 1"):
        attention_entropy([[0.5, 0.2]])
    with pytest.raises(ValueError, match="non-negative"):
        attention_entropy([[1.5, -0.5]])


# --------------------------------------------------------------------------- comparison recipes


def test_comparison_recipes_differ_only_in_attention():
    from s2s_lib import attention_study, zoo

    recipes = [attention_study.comparison_recipe(a) for a in attention_study.COMPARED]
    assert [r.model["attention"] for r in recipes] == list(attention_study.COMPARED)
    assert len({r.name for r in recipes}) == len(recipes)
    for r in recipes:
        zoo.get_recipe(r)  # a valid recipe
        rest = {k: v for k, v in r.to_dict().items() if k not in ("name", "description", "model")}
        assert rest == {k: v for k, v in recipes[0].to_dict().items()
                        if k not in ("name", "description", "model")}
        assert {k: v for k, v in r.model.items() if k != "attention"} == \
            {k: v for k, v in recipes[0].model.items() if k != "attention"}
    with pytest.raises(ValueError, match="attention must be one of"):
        attention_study.comparison_recipe("luong")


def test_comparison_recipes_use_the_translators_data():
    """Same data regime as the shipped ko-en-* translators, so both are scored on one test set."""
    from s2s_lib import attention_study, zoo

    translator = zoo.get_recipe("ko-en-context")
    for a in attention_study.COMPARED:
        r = attention_study.comparison_recipe(a)
        for name in ("normalize", "max_len", "src_vocab_size", "tgt_vocab_size"):
            assert getattr(r, name) == getattr(translator, name), name
        assert r.normalize is False and r.max_len == 24
        assert r.select == "valid_bleu" and r.epochs == 3  # the validation curve is recorded


@pytest.fixture
def tiny_comparison(tmp_path, monkeypatch):
    """A private cache and a tiny stand-in for comparison_recipe (needs the local corpus)."""
    from s2s_lib import attention_study, zoo
    from s2s_lib.data import DataNotFoundError, find_corpus

    try:
        find_corpus(download=False)
    except DataNotFoundError:
        pytest.skip("the kor-eng corpus is not available locally (set S2S_DATA_DIR)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(zoo.NO_CACHE_ENV, raising=False)

    def tiny(attention):
        return zoo.Recipe(name=f"tiny-compare-{attention}", max_len=5, src_vocab_size=1200,
                          tgt_vocab_size=500, epochs=1, batch_size=32,
                          model=dict(emb_dim=8, hidden_dim=16, attention=attention))

    monkeypatch.setattr(attention_study, "comparison_recipe", tiny)
    zoo.clear_memory()
    yield tiny
    zoo.clear_memory()


def test_train_comparison_model_fills_the_zoo_cache(tiny_comparison, monkeypatch):
    from s2s_lib import attention_study, zoo

    model, history = attention_study.train_comparison_model("dot")
    assert history.num_steps > 0 and not model.training
    assert zoo.cache_path(tiny_comparison("dot")).is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("zoo.get trained although the model was cached")

    monkeypatch.setattr(zoo, "train_recipe", no_training)
    loaded, _ = zoo.get(tiny_comparison("dot"))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_train_comparison_model_respects_no_cache(tiny_comparison, monkeypatch):
    from s2s_lib import attention_study, zoo

    monkeypatch.setenv(zoo.NO_CACHE_ENV, "1")
    attention_study.train_comparison_model(None)
    assert not zoo.cache_path(tiny_comparison(None)).exists()
