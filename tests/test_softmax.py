"""Tests for s2s_lib.softmax: stable softmax, cross-entropy, temperature, top-k, top-p."""
import math

import pytest
import torch
import torch.nn.functional as F

from s2s_lib.softmax import (
    cross_entropy,
    log_softmax,
    naive_softmax,
    perplexity,
    sample,
    sampling_distribution,
    softmax,
    temperature_scale,
    top_k_filter,
    top_p_filter,
)

NEG_INF = float("-inf")


def _logits(*shape, seed=0, scale=3.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


# --- softmax / log_softmax -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (4, 7), (2, 3, 11)])
@pytest.mark.parametrize("dim", [-1, 0])
def test_softmax_and_log_softmax_match_torch(shape, dim):
    x = _logits(*shape, seed=len(shape))
    torch.testing.assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim))
    torch.testing.assert_close(log_softmax(x, dim=dim), torch.log_softmax(x, dim=dim))


def test_rows_sum_to_one_and_are_non_negative():
    x = _logits(5, 3, 50, seed=1, scale=10.0)
    probs = softmax(x)
    assert (probs >= 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(5, 3))


def test_huge_logits_are_stable_where_naive_overflows():
    x = torch.tensor([[1e4, -1e4, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    expected = torch.softmax(x, dim=-1)
    assert torch.isfinite(expected).all()
    ours = softmax(x)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(ours[1], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(ours[2], torch.full((3,), 1 / 3))
    log_expected = torch.log_softmax(x, dim=-1)
    assert torch.isfinite(log_expected).all()
    torch.testing.assert_close(log_softmax(x), log_expected)
    # exp(1e4) = inf and inf / inf = nan (0 / inf = 0); exp(-1e4) = 0 and 0 / 0 = nan.
    naive = naive_softmax(x)
    assert torch.isnan(naive[0]).tolist() == [True, False, False]
    assert torch.isnan(naive[1]).tolist() == [True, True, False]
    assert torch.isnan(naive[2]).all()
    # Small logits: the naive version is correct.
    small = _logits(3, 5, seed=2)
    torch.testing.assert_close(naive_softmax(small), torch.softmax(small, -1))


def test_log_softmax_keeps_tiny_probabilities_finite():
    x = torch.tensor([0.0, -200.0])  # p = exp(-200) underflows to 0 in float32
    assert softmax(x)[1] == 0
    assert torch.log(softmax(x))[1] == NEG_INF
    torch.testing.assert_close(log_softmax(x), torch.tensor([0.0, -200.0]))


def test_minus_inf_entries_get_exactly_zero_probability():
    x = torch.tensor([[1.0, NEG_INF, 2.0, NEG_INF]])
    probs = softmax(x)
    assert probs[0, 1] == 0 and probs[0, 3] == 0
    torch.testing.assert_close(probs, torch.softmax(x, -1))


def test_softmax_gradient_matches_torch():
    x = _logits(3, 6, seed=3, dtype=torch.float64).requires_grad_()
    upstream = _logits(3, 6, seed=4, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((softmax(x) * upstream).sum(), x)
    (g_torch,) = torch.autograd.grad((torch.softmax(x, -1) * upstream).sum(), x)
    torch.testing.assert_close(g_ours, g_torch)
    assert torch.autograd.gradcheck(lambda z: log_softmax(z), (x,))


# --- cross-entropy and perplexity ----------------------------------------------------


def test_cross_entropy_matches_torch_with_padding():
    logits = _logits(3, 5, 9, seed=5)
    targets = torch.tensor([[4, 5, 2, 0, 0], [7, 2, 0, 0, 0], [1, 8, 6, 3, 2]])
    expected = F.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1), ignore_index=0)
    torch.testing.assert_close(cross_entropy(logits, targets), expected)  # default PAD_ID = 0
    torch.testing.assert_close(
        cross_entropy(logits, targets, ignore_index=None),
        F.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1)),
    )
    torch.testing.assert_close(
        cross_entropy(logits, targets, reduction="sum"),
        F.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1), ignore_index=0, reduction="sum"),
    )
    per_token = cross_entropy(logits, targets, reduction="none")
    assert per_token.shape == targets.shape
    assert (per_token[targets == 0] == 0).all()
    torch.testing.assert_close(
        per_token,
        F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=0, reduction="none"),
    )


def test_cross_entropy_huge_logits_and_gradient():
    logits = torch.tensor([[1e4, -1e4, 0.0], [0.0, 1e4, -1e4]], requires_grad=True)
    targets = torch.tensor([2, 1])
    ours = cross_entropy(logits, targets, ignore_index=None)
    expected = F.cross_entropy(logits, targets)
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_torch,) = torch.autograd.grad(F.cross_entropy(logits, targets), logits)
    torch.testing.assert_close(g_ours, g_torch)


def test_uniform_model_has_perplexity_v():
    vocab_size = 37
    logits = torch.zeros(4, 6, vocab_size)
    targets = torch.randint(1, vocab_size, (4, 6), generator=torch.Generator().manual_seed(0))
    loss = cross_entropy(logits, targets)
    assert perplexity(loss) == pytest.approx(vocab_size, rel=1e-5)
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.inf
    assert isinstance(perplexity(torch.tensor(1.0)), float)


def test_cross_entropy_bad_arguments():
    logits = _logits(2, 3, 5)
    with pytest.raises(ValueError, match="targets"):
        cross_entropy(logits, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="targets"):
        cross_entropy(logits, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="targets"):
        cross_entropy(logits, torch.full((2, 3), 5))
    with pytest.raises(ValueError, match="ignore_index"):
        cross_entropy(logits, torch.zeros(2, 3, dtype=torch.long))  # everything is padding
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(logits, torch.ones(2, 3, dtype=torch.long), reduction="avg")
    with pytest.raises(TypeError, match="ignore_index"):
        cross_entropy(logits, torch.ones(2, 3, dtype=torch.long), ignore_index=0.5)
    with pytest.raises(TypeError, match="logits"):
        cross_entropy(torch.ones(2, 3, 5, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(-1.0)
    with pytest.raises(TypeError, match="mean_nll"):
        perplexity("2.0")
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(torch.ones(3))


# --- temperature ---------------------------------------------------------------------


def test_temperature_goes_to_argmax_and_to_uniform():
    x = torch.tensor([[1.0, 3.0, 2.0, 0.5], [2.0, -1.0, 0.0, 1.9]])
    cold = softmax(temperature_scale(x, 1e-3))
    torch.testing.assert_close(cold, F.one_hot(x.argmax(-1), 4).float())
    hot = softmax(temperature_scale(x, 1e4))
    torch.testing.assert_close(hot, torch.full_like(x, 0.25), atol=1e-3, rtol=0)
    # Entropy grows monotonically with T.
    entropies = []
    for t in (0.25, 0.5, 1.0, 2.0, 4.0):
        p = softmax(temperature_scale(x, t))
        entropies.append(-(p * p.log()).sum(-1))
    for lower, higher in zip(entropies, entropies[1:]):
        assert (higher > lower).all()
    torch.testing.assert_close(temperature_scale(x, 1.0), x)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_temperature_must_be_positive(bad):
    with pytest.raises(ValueError, match="temperature"):
        temperature_scale(torch.zeros(3), bad)


def test_temperature_type_errors():
    with pytest.raises(TypeError, match="temperature"):
        temperature_scale(torch.zeros(3), "1")
    with pytest.raises(TypeError, match="temperature"):
        temperature_scale(torch.zeros(3), True)
    with pytest.raises(TypeError, match="logits"):
        temperature_scale([1.0, 2.0], 1.0)


# --- top-k and top-p -----------------------------------------------------------------


def test_top_k_keeps_the_k_largest():
    x = torch.tensor([[0.1, 2.0, -1.0, 5.0, 3.0], [4.0, 3.0, 2.0, 1.0, 0.0]])
    out = top_k_filter(x, 2)
    kept = torch.tensor([[0, 0, 0, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(torch.isfinite(out), kept)
    assert torch.equal(out[torch.isfinite(out)], x[torch.isfinite(out)])  # kept logits unchanged
    assert torch.equal(top_k_filter(x, 5), x)
    assert torch.equal(top_k_filter(x, 100), x)
    assert torch.isfinite(top_k_filter(x, 1)).sum(-1).tolist() == [1, 1]
    original = torch.tensor([[0.1, 2.0, -1.0, 5.0, 3.0], [4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.equal(x, original)  # not modified in place


def test_top_k_keeps_ties_with_the_kth_value():
    x = torch.tensor([1.0, 3.0, 2.0, 3.0, 2.0])
    assert torch.isfinite(top_k_filter(x, 1)).tolist() == [False, True, False, True, False]
    assert torch.isfinite(top_k_filter(x, 2)).tolist() == [False, True, False, True, False]
    assert torch.isfinite(top_k_filter(x, 3)).tolist() == [False, True, True, True, True]


def test_top_p_keeps_the_smallest_nucleus():
    # probabilities 0.5, 0.3, 0.15, 0.05 (in a shuffled order)
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])
    x = probs.log()
    kept = lambda p: torch.isfinite(top_p_filter(x, p)).tolist()  # noqa: E731
    assert kept(0.1) == [False, True, False, False]  # the top word alone already has 0.5
    assert kept(0.5) == [False, True, False, False]
    assert kept(0.6) == [False, True, False, True]  # 0.5 < 0.6 -> add 0.3
    assert kept(0.79) == [False, True, False, True]
    assert kept(0.9) == [True, True, False, True]  # 0.8 < 0.9 -> add 0.15
    assert kept(0.99) == [True, True, True, True]
    assert kept(1.0) == [True, True, True, True]
    # the resulting distribution is the renormalised nucleus
    torch.testing.assert_close(softmax(top_p_filter(x, 0.6)), torch.tensor([0.0, 0.625, 0.0, 0.375]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_p_exact_boundary_stops_at_the_word_that_reaches_p(dtype):
    # probabilities exactly 1/2, 1/4, 1/8, 1/8 (powers of two: no rounding in the cumsum)
    x = torch.tensor([1.0, 4.0, 2.0, 1.0], dtype=dtype).log()
    assert softmax(x).tolist() == [0.125, 0.5, 0.25, 0.125]
    assert torch.isfinite(top_p_filter(x, 0.5)).tolist() == [False, True, False, False]
    assert torch.isfinite(top_p_filter(x, 0.75)).tolist() == [False, True, True, False]
    # 0.875 is reached by either 1/8 word: both are tied, both are kept
    assert torch.isfinite(top_p_filter(x, 0.875)).tolist() == [True, True, True, True]


def test_top_p_batched_rows_are_independent_and_keep_ties():
    x = torch.tensor([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0]]).repeat(3, 1, 1)  # (3, 2, 4)
    out = top_p_filter(x, 0.3)
    # uniform row: the top word has 0.25 < 0.3, so a second is needed; all four are tied
    assert torch.isfinite(out[:, 0]).all()
    # peaked row: the top word has ~1.0 >= 0.3
    assert torch.isfinite(out[:, 1]).tolist() == [[True, False, False, False]] * 3


def test_top_p_respects_earlier_filters():
    x = torch.tensor([[2.0, NEG_INF, 1.0, NEG_INF]])
    out = top_p_filter(x, 0.99)
    assert torch.isfinite(out).tolist() == [[True, False, True, False]]


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_top_p_range(bad):
    with pytest.raises(ValueError, match="p must"):
        top_p_filter(torch.zeros(3), bad)


def test_top_k_and_top_p_argument_errors():
    with pytest.raises(ValueError, match="k must"):
        top_k_filter(torch.zeros(3), 0)
    with pytest.raises(TypeError, match="k must"):
        top_k_filter(torch.zeros(3), 2.0)
    with pytest.raises(TypeError, match="p must"):
        top_p_filter(torch.zeros(3), "0.5")
    with pytest.raises(ValueError, match="logits"):
        top_k_filter(torch.tensor(1.0), 1)
    with pytest.raises(TypeError, match="dim"):
        softmax(torch.zeros(3), dim=1.0)
    with pytest.raises(ValueError, match="dim"):
        softmax(torch.zeros(3), dim=2)


# --- sampling ------------------------------------------------------------------------


def test_sampling_distribution_applies_temperature_then_top_k_then_top_p():
    x = torch.tensor([[3.0, 1.0, 2.0, 0.0, -1.0]])
    plain = sampling_distribution(x)
    torch.testing.assert_close(plain, torch.softmax(x, -1))
    filtered = sampling_distribution(x, temperature=0.5, top_k=3, top_p=0.9)
    expected_k = torch.softmax(torch.tensor([6.0, 2.0, 4.0, NEG_INF, NEG_INF]), -1)  # top-3 of x / 0.5
    # probabilities of the top 3: 0.867, 0.117, 0.016 -> nucleus 0.9 keeps the first two
    assert expected_k[0] < 0.9 < expected_k[0] + expected_k[2]
    expected = torch.softmax(torch.tensor([[6.0, NEG_INF, 4.0, NEG_INF, NEG_INF]]), -1)
    torch.testing.assert_close(filtered, expected)
    torch.testing.assert_close(filtered.sum(-1), torch.ones(1))


def test_sampling_with_a_generator_is_reproducible_and_follows_the_distribution():
    logits = _logits(4, 20, seed=7)
    first = sample(logits, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(123))
    second = sample(logits, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(123))
    assert first.shape == (4,) and first.dtype == torch.int64
    assert torch.equal(first, second)
    allowed = torch.isfinite(top_k_filter(logits, 5))
    assert allowed.gather(1, first[:, None]).all()
    # empirical frequencies approach the probabilities
    probs = sampling_distribution(logits[:1], temperature=1.5, top_p=0.8)  # (1, 20)
    g = torch.Generator().manual_seed(0)
    draws = sample(logits[:1].expand(20000, -1), temperature=1.5, top_p=0.8, generator=g)
    freq = torch.bincount(draws, minlength=20).float() / 20000
    torch.testing.assert_close(freq, probs[0], atol=0.015, rtol=0)
    assert (freq[probs[0] == 0] == 0).all()


def test_sample_keeps_leading_shape_and_checks_generator():
    ids = sample(_logits(2, 3, 6), generator=torch.Generator().manual_seed(0))
    assert ids.shape == (2, 3)
    with pytest.raises(TypeError, match="generator"):
        sample(_logits(2, 6), generator=0)


# Defect: logits that are all -inf in a row, or hold nan / +inf, gave nan probabilities from
# sampling_distribution and torch.multinomial's "probability tensor contains either inf, nan
# or element < 0" from sample; now a ValueError names logits.
BAD_LOGITS = [
    torch.full((2, 4), NEG_INF),
    torch.tensor([[0.0, 1.0], [NEG_INF, NEG_INF]]),  # one bad row is enough
    torch.tensor([[0.0, math.nan, 1.0]]),
    torch.tensor([[0.0, math.inf, 1.0]]),
]


@pytest.mark.parametrize("logits", BAD_LOGITS)
@pytest.mark.parametrize("fn", [sample, sampling_distribution])
def test_sampling_refuses_logits_with_no_distribution(fn, logits):
    with pytest.raises(ValueError, match=r"^logits must hold finite numbers \(or -inf"):
        fn(logits)


def test_sampling_keeps_partly_masked_rows():
    logits = torch.tensor([[0.0, NEG_INF, 1.0]])
    probs = sampling_distribution(logits)
    assert probs[0, 1] == 0 and torch.isfinite(probs).all()


# Defect: a temperature small enough to overflow logits / temperature (finite logits, e.g.
# 1e-300, or huge logits at 0.5) gave nan probabilities / a multinomial error.
@pytest.mark.parametrize("logits, temperature", [(torch.tensor([[0.3, -1.0, 2.0]]), 1e-300),
                                                 (torch.tensor([[3e38, -3e38, 0.0]]), 0.5)])
def test_temperature_that_overflows_the_logits_is_refused(logits, temperature):
    with pytest.raises(ValueError, match=r"logits / temperature \(temperature="):
        sample(logits, temperature=temperature)


# Defect: top_p_filter raised torch's "index -1 is out of bounds" for a row of all -inf (or
# nan) and for a p that rounds to 0 in the logits' dtype (1e-300 in float32).
def test_top_p_filter_bad_rows_and_a_p_that_is_zero_in_the_dtype():
    with pytest.raises(ValueError, match="logits must hold finite numbers"):
        top_p_filter(torch.full((2, 3), NEG_INF), 0.5)
    with pytest.raises(ValueError, match=r"p=1e-300 is 0 in torch.float32"):
        top_p_filter(_logits(2, 5), 1e-300)
    with pytest.raises(ValueError, match="p=1e-300"):
        sample(_logits(2, 5), top_p=1e-300)
    kept = top_p_filter(_logits(2, 5, dtype=torch.float64), 1e-300)  # representable: the top word
    assert (torch.isfinite(kept).sum(-1) == 1).all()


def test_knobs_of_sampling_are_clean_errors():  # already clean: kept as a guard
    for bad, error in ((dict(temperature=0), ValueError), (dict(temperature=-1.0), ValueError),
                       (dict(temperature=math.nan), ValueError), (dict(top_k=0), ValueError),
                       (dict(top_p=0.0), ValueError), (dict(top_p=1.5), ValueError),
                       (dict(top_p=math.nan), ValueError), (dict(top_k=True), TypeError)):
        with pytest.raises(error, match="temperature|k|p"):
            sample(_logits(2, 5), **bad)
