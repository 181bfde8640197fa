"""Tests for s2s_lib.batching: Batch, padding, masks, shift, bucketing."""
import math

import pytest
import torch

from s2s_lib.batching import (Batch, batch_indices, batch_iterator, make_batch, make_batches,
                              pad_sequences, padding_fraction)
from s2s_lib.tokenize import EOS_ID, PAD_ID, SOS_ID


def test_make_batch_shapes_masks_and_shift():
    b = make_batch([[5, 6, 7], [8]], [[9], [10, 11, 12]])
    assert isinstance(b, Batch)
    assert b.src.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert b.src.dtype == torch.long and b.src_lengths.tolist() == [3, 1]
    assert b.tgt_in.tolist() == [[SOS_ID, 9, PAD_ID, PAD_ID], [SOS_ID, 10, 11, 12]]
    assert b.tgt_out.tolist() == [[9, EOS_ID, PAD_ID, PAD_ID], [10, 11, 12, EOS_ID]]
    assert b.src_mask.dtype == torch.bool
    assert b.src_mask.tolist() == [[True, True, True], [True, False, False]]
    assert b.tgt_mask.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert b.num_tokens == 6 and b.batch_size == 2 and len(b) == 2
    # tgt_in[:, 1:] == tgt_out[:, :-1] on real tokens
    real = b.tgt_in[:, 1:] != PAD_ID  # the words y1..yn, shifted by one
    assert torch.equal(b.tgt_in[:, 1:][real], b.tgt_out[:, :-1][real])


def test_tensor_inputs_and_to():
    b = make_batch([torch.tensor([4, 5]), torch.tensor([6])], torch.tensor([[7, 8]] * 2))
    assert b.src.tolist() == [[4, 5], [6, 0]]
    assert b.tgt_out.tolist() == [[7, 8, EOS_ID]] * 2
    c = b.to("cpu")
    assert c is not b and torch.equal(c.src, b.src)


def test_empty_target_gives_only_eos():
    b = make_batch([[4]], [[]])
    assert b.tgt_in.tolist() == [[SOS_ID]] and b.tgt_out.tolist() == [[EOS_ID]]


def test_reverse_source_reverses_only_real_tokens():
    b = make_batch([[4, 5, 6], [7, 8]], [[9], [9]], reverse_source=True)
    assert b.src.tolist() == [[6, 5, 4], [8, 7, 0]]
    assert b.src_lengths.tolist() == [3, 2]


def test_max_len_raises_or_truncates():
    with pytest.raises(ValueError, match="max_len"):
        make_batch([[4, 5, 6]], [[7]], max_len=2)
    with pytest.raises(ValueError, match="tgt_seqs"):
        make_batch([[4]], [[7, 8, 9]], max_len=2)
    b = make_batch([[4, 5, 6]], [[7, 8, 9]], max_len=2, truncate=True)
    assert b.src.tolist() == [[4, 5]] and b.tgt_out.tolist() == [[7, 8, EOS_ID]]


@pytest.mark.parametrize("src,tgt,exc,word", [
    ([], [], ValueError, "src_seqs"),
    ([[]], [[1]], ValueError, "empty"),
    ([[1]], [[1], [2]], ValueError, "differ"),
    ([[1.5]], [[1]], TypeError, "src_seqs"),
    ([torch.tensor([1.0])], [[1]], TypeError, "dtype"),
    ([torch.tensor([[1]])], [[1]], ValueError, "1-D"),
    ("abc", [[1]], TypeError, "src_seqs"),
    ([[4]], ["ab"], TypeError, "tgt_seqs"),
    ([[-1]], [[1]], ValueError, "negative"),
    ([[True]], [[1]], TypeError, "src_seqs"),
])
def test_bad_inputs(src, tgt, exc, word):
    with pytest.raises(exc, match=word):
        make_batch(src, tgt)


def test_bad_max_len():
    with pytest.raises(ValueError, match="max_len"):
        make_batch([[4]], [[4]], max_len=0)
    with pytest.raises(TypeError, match="max_len"):
        make_batch([[4]], [[4]], max_len=2.0)


def test_pad_sequences():
    assert pad_sequences([[1], [2, 3], []], pad_id=9).tolist() == [[1, 9], [2, 3], [9, 9]]


def test_pad_sequences_refuses_a_pad_id_that_is_not_an_int():
    with pytest.raises(TypeError, match="pad_id must be an int, got float"):
        pad_sequences([[1], [2, 3]], pad_id=1.5)  # it used to pad with 1
    with pytest.raises(TypeError, match="pad_id"):
        pad_sequences([[1], [2, 3]], pad_id=True)
    with pytest.raises(ValueError, match="pad_id must be >= 0"):
        pad_sequences([[1], [2, 3]], pad_id=-1)


def _toy(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 40, (n,), generator=g).tolist()
    src = [[4 + i % 7] * k for i, k in enumerate(lengths)]
    tgt = [[5] * max(1, k // 2) for k in lengths]
    return src, tgt


def test_every_example_once_and_sizes():
    for bucketing in (True, False):
        groups = batch_indices(list(range(103)), 10, bucketing=bucketing, seed=1)
        flat = sorted(i for g in groups for i in g)
        assert flat == list(range(103))
        assert all(1 <= len(g) <= 10 for g in groups)
    groups = batch_indices(list(range(103)), 10, bucketing=False, drop_last=True)
    assert all(len(g) == 10 for g in groups) and len(groups) == 10


def test_bucketing_reduces_padding():
    src, tgt = _toy()
    plain = make_batches(src, tgt, 32, bucketing=False, seed=0)
    bucketed = make_batches(src, tgt, 32, bucketing=True, seed=0)
    assert padding_fraction(bucketed) < 0.5 * padding_fraction(plain)
    assert sum(b.batch_size for b in bucketed) == len(src)


def test_determinism_with_seed():
    src, tgt = _toy()
    a = make_batches(src, tgt, 16, seed=3)
    b = make_batches(src, tgt, 16, seed=3)
    c = make_batches(src, tgt, 16, seed=4)
    assert all(torch.equal(x.src, y.src) for x, y in zip(a, b))
    assert any(not torch.equal(x.src, y.src) for x, y in zip(a, c))


def test_no_shuffle_keeps_order_and_bucketed_sorts():
    lengths = [3, 1, 2, 5, 4]
    assert batch_indices(lengths, 2, bucketing=False, shuffle=False) == [[0, 1], [2, 3], [4]]
    assert batch_indices(lengths, 2, bucketing=True, shuffle=False) == [[1, 2], [0, 4], [3]]


def test_iterator_matches_list():
    src, tgt = _toy(60)
    lazy = list(batch_iterator(src, tgt, 8, seed=2))
    eager = make_batches(src, tgt, 8, seed=2)
    assert len(lazy) == len(eager)
    assert all(torch.equal(x.tgt_out, y.tgt_out) for x, y in zip(lazy, eager))


def test_batch_indices_bad_args():
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices([1, 2], 0)
    with pytest.raises(TypeError, match="batch_size"):
        batch_indices([1, 2], 2.5)
    with pytest.raises(ValueError, match="batches"):
        padding_fraction([])


# Already clean (kept as guards): the brief's mismatched lengths, batch_size 0, negative ids.
def test_make_batches_basic_bad_input_stays_clean():
    with pytest.raises(ValueError, match="differ in length: 1 vs 2"):
        make_batches([[4]], [[4], [5]], 2)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        make_batches([[4]], [[4]], 0)
    with pytest.raises(ValueError, match="negative token id"):
        make_batches([[-4]], [[4]], 1)


# Defect: flags were taken for their truth value (shuffle="no" shuffled), and seed=None made
# the batches differ on every call (random.Random(None)) while a str seed was accepted.
@pytest.mark.parametrize("kwargs, error, name", [
    (dict(shuffle="no"), TypeError, "shuffle"),
    (dict(bucketing=1), TypeError, "bucketing"),
    (dict(drop_last="x"), TypeError, "drop_last"),
    (dict(truncate="y", max_len=1), TypeError, "truncate"),
    (dict(reverse_source=1), TypeError, "reverse_source"),
    (dict(seed=None), TypeError, "seed"),
    (dict(seed="a"), TypeError, "seed"),
])
def test_make_batches_flags_and_seed(kwargs, error, name):
    with pytest.raises(error, match=f"{name} must be"):
        make_batches([[4, 5]], [[4]], 1, **kwargs)


# Defect: a <pad>/<sos>/<eos> id inside a sequence was batched silently: <pad> in a target
# made tgt_mask (tgt_out != PAD) drop a real token, <eos> taught the model to stop early.
@pytest.mark.parametrize("src, tgt, where", [([[4]], [[EOS_ID]], r"tgt_seqs\[0\].*<eos>"),
                                             ([[4, PAD_ID, 5]], [[4]], r"src_seqs\[0\].*<pad>"),
                                             ([[4]], [[6, SOS_ID]], r"tgt_seqs\[0\].*<sos>")])
def test_special_ids_inside_a_sequence_are_refused(src, tgt, where):
    with pytest.raises(ValueError, match=where):
        make_batch(src, tgt)


# Defect: batch_indices took 1.7 as 1, nan and "a" gave int()'s errors, None "'NoneType' object
# is not iterable", and ints mixed with tuples "'<' not supported".
@pytest.mark.parametrize("lengths, message", [
    ([1.7, 1], r"lengths\[0\] must be an int"), ([math.nan], r"lengths\[0\]"), (["a"], r"lengths\[0\]"),
    (None, "lengths must be a list"), ([1, (1, 2)], "all ints or all tuples"),
])
def test_batch_indices_lengths_must_be_ints(lengths, message):
    with pytest.raises(TypeError, match=message):
        batch_indices(lengths, 2)


# Defect: ids beyond int64 gave torch's "Overflow when unpacking long long"; padding_fraction
# of a list of ints an AttributeError; Batch.to("nope") torch's RuntimeError.
def test_huge_ids_non_batches_and_bad_devices():
    with pytest.raises(ValueError, match=r"src_seqs\[0\] holds the id .* larger than a torch.long"):
        make_batch([[2**70]], [[4]])
    with pytest.raises(TypeError, match=r"batches\[0\] must be a Batch"):
        padding_fraction([1, 2])
    with pytest.raises(ValueError, match="device must be"):
        make_batch([[4]], [[4]]).to("nope")
