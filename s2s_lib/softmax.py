"""Softmax from scratch, and the knobs of sampling (Chapter "Softmax: temperature and sampling").

A decoder ends every step with a vector of logits, one per vocabulary word, shape (..., V).
Softmax turns them into a probability distribution:

    softmax(z)_i = exp(z_i) / sum_j exp(z_j)

Written literally (:func:`naive_softmax`) this overflows: ``exp(1e4)`` is ``inf`` in any
float format and ``inf / inf`` is ``nan``. Because softmax does not change when the same
constant is added to every logit, we subtract the row maximum first (:func:`softmax`); the
largest exponent is then ``exp(0) = 1`` and nothing overflows. :func:`log_softmax` uses the
same trick, the log-sum-exp identity ``log sum_j exp(z_j) = m + log sum_j exp(z_j - m)``.

For generation we reshape the distribution before drawing from it:

* temperature ``T`` (Ackley, Hinton & Sejnowski 1985): ``softmax(z / T)``; ``T -> 0`` tends to
  the argmax (greedy), large ``T`` tends to the uniform distribution;
* top-k (Fan, Lewis & Dauphin 2018, "Hierarchical Neural Story Generation"): keep the k
  largest logits;
* top-p or nucleus sampling (Holtzman et al. 2020, "The Curious Case of Neural Text
  Degeneration"): keep the smallest set of most likely words whose probability adds up to p.

:func:`sampling_distribution` applies them in that order; ``s2s_lib.decode.sample_decode``
uses it for every step. All functions work on batched (..., V) tensors.
"""
from __future__ import annotations

import math

import torch

from s2s_lib.checks import check_choice, check_finite, check_int, check_real, check_tensor, check_type
from s2s_lib.tokenize import PAD_ID

__all__ = [
    "naive_softmax",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "perplexity",
    "temperature_scale",
    "top_k_filter",
    "top_p_filter",
    "sampling_distribution",
    "sample",
]


def naive_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``exp(z) / sum(exp(z))`` exactly as written: the version that overflows.

    Kept to show the problem: ``naive_softmax(torch.tensor([1e4, 0.]))`` is ``[nan, 0.]``
    because ``exp(1e4) = inf``. Use :func:`softmax`.

    Args:
        logits: (..., V) floating tensor.
        dim: the dimension that sums to one.
    Returns:
        (..., V) tensor, the same shape as ``logits``.
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    dim = check_int(dim, "dim", -logits.dim(), logits.dim() - 1)
    exps = torch.exp(logits)
    return exps / exps.sum(dim=dim, keepdim=True)


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax: subtract the maximum, then ``exp`` and normalise.

    ``softmax(z) = softmax(z - c)`` for any constant ``c``; with ``c = max(z)`` every
    exponent is <= 0, so ``exp`` cannot overflow and the largest term is exactly 1 (the sum
    cannot underflow to 0). Entries equal to ``-inf`` (masked or filtered words) get
    probability exactly 0. Matches ``torch.softmax``, also where a row is all ``-inf`` or holds
    nan or ``+inf``: that row is nan (:func:`sampling_distribution` refuses such logits).

    Args:
        logits: (..., V) floating tensor.
        dim: the dimension that sums to one.
    Returns:
        (..., V) probabilities, non-negative, summing to 1 along ``dim``.
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    dim = check_int(dim, "dim", -logits.dim(), logits.dim() - 1)
    shifted = logits - logits.amax(dim=dim, keepdim=True)  # (..., V), max entry is 0
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable ``log(softmax(z))`` with the log-sum-exp trick.

    ``log softmax(z)_i = z_i - logsumexp(z)`` and
    ``logsumexp(z) = m + log(sum_j exp(z_j - m))`` with ``m = max(z)``. Taking
    ``log(softmax(z))`` instead would give ``-inf`` where a probability underflows to 0.
    Matches ``torch.log_softmax``.

    Args:
        logits: (..., V) floating tensor.
        dim: the dimension to normalise over.
    Returns:
        (..., V) log-probabilities (all <= 0).
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    dim = check_int(dim, "dim", -logits.dim(), logits.dim() - 1)
    m = logits.amax(dim=dim, keepdim=True)  # (..., 1)
    shifted = logits - m
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int | None = PAD_ID,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of the target words, averaged over the non-ignored ones.

    ``loss = -(1/N) sum_t log softmax(logits_t)[y_t]`` over the N positions whose target is
    not ``ignore_index``. With the default ``ignore_index=PAD_ID`` padding does not count,
    so the loss is a per-real-token average, as in ``F.cross_entropy(..., ignore_index=0)``.

    Args:
        logits: (..., V) floating tensor, e.g. (B, T, V) decoder outputs.
        targets: (...) integer tensor of word ids in ``[0, V)``, e.g. (B, T) ``tgt_out``.
        ignore_index: target id that contributes nothing (``None``: every position counts).
        reduction: ``"mean"`` (over counted positions), ``"sum"``, or ``"none"`` (the
            per-position loss, 0 at ignored positions, shape of ``targets``).
    Returns:
        A 0-d tensor (``"mean"``/``"sum"``) or a tensor shaped like ``targets``.
    Raises:
        ValueError: shapes disagree, an id is out of range, or every target is ignored
            (the mean would be 0/0).
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    check_tensor(targets, "targets", dtype="int", shape=logits.shape[:-1])
    if ignore_index is not None:
        ignore_index = check_int(ignore_index, "ignore_index", minimum=None)
    check_choice(reduction, "reduction", ("mean", "sum", "none"))

    if ignore_index is None:
        keep = torch.ones_like(targets, dtype=torch.bool)  # (...)
    else:
        keep = targets != ignore_index  # (...)
    vocab_size = logits.size(-1)
    kept_ids = targets[keep]
    if kept_ids.numel() and (kept_ids.min() < 0 or kept_ids.max() >= vocab_size):
        raise ValueError(f"targets must be ids in [0, {vocab_size}), got values outside that range")

    safe_targets = torch.where(keep, targets, torch.zeros_like(targets))  # any valid id
    log_probs = log_softmax(logits, dim=-1)  # (..., V)
    nll = -log_probs.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (...)
    nll = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    count = int(keep.sum())
    if count == 0:
        raise ValueError(f"every target equals ignore_index={ignore_index}; the mean loss is undefined")
    return nll.sum() / count


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """Perplexity ``exp(mean negative log-likelihood per token)``.

    Intuition: a perplexity of 50 means the model is as unsure as if it picked uniformly
    among 50 words at each step; 1 is a perfect model, V a uniform guesser.

    Args:
        mean_nll: mean cross-entropy in nats, a float or a 0-d/one-element tensor.
    Returns:
        A Python float (``inf`` if ``exp`` overflows).
    """
    if isinstance(mean_nll, torch.Tensor):
        if mean_nll.numel() != 1:
            raise ValueError(
                f"mean_nll must be a single number, got a tensor of shape {tuple(mean_nll.shape)}"
            )
        mean_nll = mean_nll.item()
    mean_nll = check_real(mean_nll, "mean_nll", minimum=0, finite=False)
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


def temperature_scale(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by the temperature ``T``: ``softmax(z / T)`` is sharper for T < 1.

    Args:
        logits: (..., V) floating tensor.
        temperature: a finite number > 0 (for T = 0, greedy decoding, use the argmax).
    Returns:
        (..., V) tensor ``logits / temperature``.
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    return logits / check_real(temperature, "temperature", above=0)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row and set the others to ``-inf``.

    Words tied with the k-th largest logit are all kept (as in nanoGPT and Hugging Face),
    so the result does not depend on how ``torch.topk`` breaks ties; a row may then keep
    more than k words. ``k >= V`` keeps everything.

    Args:
        logits: (..., V) floating tensor.
        k: number of words to keep, an int >= 1.
    Returns:
        (..., V) new tensor with ``-inf`` outside the top k.
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    k = check_int(k, "k")
    if k >= logits.size(-1):
        return logits.clone()
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely words whose probability is >= p.

    Sort the words by probability; a word is kept when the words strictly before it add
    up to less than p, so the word that crosses p is included and the most likely word is
    always kept. Words tied with the last kept word are kept too, as in
    :func:`top_k_filter`. ``p = 1`` keeps everything.

    Args:
        logits: (..., V) floating tensor (may already contain ``-inf``, but not in a whole row;
            no nan or ``+inf``).
        p: the probability mass to keep, ``0 < p <= 1`` (and not 0 in the logits' dtype).
    Returns:
        (..., V) new tensor with ``-inf`` outside the nucleus.
    """
    check_tensor(logits, "logits", dtype="float")
    if logits.dim() == 0 or logits.size(-1) == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    p = check_real(p, "p", maximum=1, above=0)
    if p == 1:
        return logits.clone()
    if float(torch.tensor(p, dtype=logits.dtype)) == 0:
        raise ValueError(f"p={p} is 0 in {logits.dtype} (the nucleus would be empty); use a larger p")
    check_finite(logits, "logits", neg_inf=True)
    sorted_logits, _ = torch.sort(logits, dim=-1, descending=True)  # (..., V)
    sorted_probs = softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # (..., V), 0 for the top word
    in_nucleus = mass_before < p  # a prefix of the sorted order
    n_keep = in_nucleus.sum(dim=-1, keepdim=True)  # (..., 1), >= 1
    smallest_kept = sorted_logits.gather(-1, n_keep - 1)  # (..., 1)
    return logits.masked_fill(logits < smallest_kept, float("-inf"))


def sampling_distribution(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The distribution a sampler draws the next word from.

    Order: temperature, then top-k, then top-p (on the tempered distribution), then softmax.

    Args:
        logits: (..., V) floating tensor, e.g. (B, V) from one ``decode_step``.
        temperature: > 0; 1 leaves the model's distribution unchanged.
        top_k: keep the k most likely words (``None``: no top-k filter).
        top_p: keep the nucleus of mass p (``None``: no top-p filter).
    Returns:
        (..., V) probabilities, rows summing to 1, exactly 0 on filtered words.
    Raises:
        ValueError: ``logits`` hold nan or ``+inf``, or a row is all ``-inf`` (no distribution
            to draw from), or ``logits / temperature`` overflows.
    """
    scaled = temperature_scale(logits, temperature)
    check_finite(logits, "logits", neg_inf=True)
    check_finite(scaled, f"logits / temperature (temperature={temperature})", neg_inf=True)
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    return softmax(scaled, dim=-1)


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one word id per row from :func:`sampling_distribution`.

    Args:
        logits: (..., V) floating tensor.
        temperature, top_k, top_p: as in :func:`sampling_distribution`.
        generator: a ``torch.Generator`` on the logits' device for reproducible draws.
    Returns:
        (...) int64 tensor of sampled ids.
    """
    if generator is not None:
        check_type(generator, "generator", torch.Generator, "a torch.Generator or None")
    probs = sampling_distribution(logits, temperature, top_k, top_p)  # (..., V)
    if generator is not None and generator.device != probs.device:
        raise ValueError(f"generator is on {generator.device} but logits are on {probs.device}: "
                         "use torch.Generator(device=logits.device)")
    flat = probs.reshape(-1, probs.size(-1))  # (N, V)
    ids = torch.multinomial(flat, num_samples=1, generator=generator)  # (N, 1)
    return ids.reshape(probs.shape[:-1])
