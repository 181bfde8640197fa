"""Training a seq2seq model (Chapter "Sequence to sequence": loss, teacher forcing, training loop).

* :func:`sequence_loss` -- masked cross-entropy: the mean negative log-likelihood of the
  real target tokens (padding does not count), and :func:`perplexity` = ``exp(loss)``.
* Teacher forcing (교사 강요) schedules from Bengio, Vinyals, Jaitly & Shazeer (2015,
  "Scheduled Sampling for Sequence Prediction with Recurrent Neural Networks", section
  2.4): the probability ``eps_i`` of feeding the reference token decays with the training
  step ``i`` -- :func:`constant`, :func:`linear_decay`, :func:`exponential_decay`,
  :func:`inverse_sigmoid_decay`. The coin itself is thrown per sentence and per time step
  inside :meth:`s2s_lib.models.Seq2Seq.forward`.
* :func:`train` -- the loop every chapter shares: Adam, gradient clipping by norm, tqdm
  progress, a :class:`History` of per-step and per-evaluation numbers for plotting, seeded
  so that the same seed gives the same history.
* :func:`evaluate_loss` -- loss and perplexity on held-out batches (BLEU is in
  :mod:`s2s_lib.evaluate`).
Saving and loading a trained model: :mod:`s2s_lib.checkpoint`.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from s2s_lib import pick_device
from s2s_lib.batching import Batch
from s2s_lib.checks import (check_batches, check_callable, check_choice, check_int, check_mask, check_prob,
                            check_real, check_tensor, check_type, inference, model_device)
from s2s_lib.softmax import perplexity
from s2s_lib.tokenize import PAD_ID

__all__ = [
    "sequence_loss",
    "perplexity",
    "Schedule",
    "constant",
    "linear_decay",
    "exponential_decay",
    "inverse_sigmoid_decay",
    "History",
    "default_optimizer",
    "train",
    "train_step",
    "evaluate_loss",
]

# --------------------------------------------------------------------------- loss


def sequence_loss(logits: torch.Tensor, tgt_out: torch.Tensor, mask: torch.Tensor | None = None,
                  reduction: str = "mean", *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Masked cross-entropy over the real target tokens.

    ``loss = -(1/N) sum_{b,t: mask} log p(tgt_out[b,t] | ...)`` with N the number of real
    tokens. Masked-out positions contribute nothing: whatever (finite) logits the model
    outputs at padding change neither the loss nor its gradient.

    With ``label_smoothing = eps`` the target of each token is not the one-hot reference but
    ``(1 - eps) * one_hot + eps / V`` (Szegedy et al. 2016; Vaswani et al. 2017 use 0.1): the
    loss becomes ``(1 - eps) * NLL + eps * mean_v(-log p_v)``, exactly
    ``F.cross_entropy(..., label_smoothing=eps)``. It discourages over-confident outputs and
    helps small-data translation (Sennrich & Zhang 2019). Report held-out loss with eps = 0.

    Args:
        logits: (B, T, V) decoder outputs.
        tgt_out: (B, T) LongTensor of reference ids ``y1 ... yn <eos> <pad> ...``.
        mask: (B, T) bool, True on real tokens; default ``tgt_out != PAD_ID``
            (``Batch.tgt_mask``).
        reduction: ``"mean"`` (per real token, what we optimise), ``"sum"`` (add up over
            batches, then divide by :attr:`Batch.num_tokens`) or ``"none"`` ((B, T), 0 at padding).
        label_smoothing: eps in [0, 1).
    Returns:
        A 0-d tensor, or (B, T) for ``"none"``.
    """
    check_tensor(logits, "logits", dtype="float", ndim=3)
    check_tensor(tgt_out, "tgt_out", dtype=torch.long, shape=tuple(logits.shape[:2]))
    mask = tgt_out != PAD_ID if mask is None else check_mask(mask, "mask", shape=tuple(tgt_out.shape))
    check_choice(reduction, "reduction", ("mean", "sum", "none"))
    label_smoothing = check_real(label_smoothing, "label_smoothing", 0.0, below=1.0)
    if tgt_out.numel() and (int(tgt_out.min()) < 0 or int(tgt_out.max()) >= logits.size(-1)):
        raise ValueError(f"tgt_out holds ids outside [0, V={logits.size(-1)}) (min {int(tgt_out.min())}, "
                         f"max {int(tgt_out.max())}): encoded with another vocabulary?")
    if reduction == "none":
        nll = F.cross_entropy(logits.transpose(1, 2), tgt_out, reduction="none",
                              label_smoothing=label_smoothing)  # (B, T)
        return torch.where(mask, nll, torch.zeros_like(nll))
    count = int(mask.sum())
    if count == 0 and reduction == "mean":
        raise ValueError("mask selects no token: the mean loss is undefined")
    # Positions outside the mask get the target -100, which cross_entropy skips entirely.
    # (Cheaper than selecting logits[mask]: that copy and its scatter-back in the backward
    # pass cost ~8% of a training step.)
    targets = tgt_out.masked_fill(~mask, -100)  # (B, T)
    total = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                            ignore_index=-100, reduction="sum", label_smoothing=label_smoothing)
    return total if reduction == "sum" else total / count


# --------------------------------------------------------------------------- schedules


class Schedule:
    """A teacher-forcing schedule: ``schedule(step) -> probability in [0, 1]``.

    ``step`` is the number of optimisation steps done so far (0 for the first batch).
    """

    def __call__(self, step: int) -> float:
        return min(1.0, max(0.0, float(self._value(check_int(step, "step", 0)))))

    def _value(self, step: int) -> float:
        raise NotImplementedError


class constant(Schedule):
    """``eps_i = p`` for every step (``p = 1``: always teacher forcing)."""

    def __init__(self, p: float = 1.0):
        self.p = check_prob(p, "p")

    def _value(self, step):
        return self.p

    def __repr__(self):
        return f"constant({self.p})"


class linear_decay(Schedule):
    """Bengio et al. (2015): ``eps_i = max(eps, k - c * i)``.

    Args:
        k: starting probability (<= 1). c: decrease per step (> 0). eps: floor in [0, 1].
    """

    def __init__(self, k: float = 1.0, c: float = 1e-3, eps: float = 0.0):
        self.k, self.c, self.eps = check_prob(k, "k"), check_real(c, "c", above=0.0), check_prob(eps, "eps")

    def _value(self, step):
        return max(self.eps, self.k - self.c * step)

    def __repr__(self):
        return f"linear_decay(k={self.k}, c={self.c}, eps={self.eps})"


class exponential_decay(Schedule):
    """Bengio et al. (2015): ``eps_i = k ** i`` with ``0 < k < 1``."""

    def __init__(self, k: float = 0.999):
        self.k = check_real(k, "k", above=0.0, below=1.0)

    def _value(self, step):
        return self.k**step

    def __repr__(self):
        return f"exponential_decay(k={self.k})"


class inverse_sigmoid_decay(Schedule):
    """Bengio et al. (2015): ``eps_i = k / (k + exp(i / k))`` with ``k >= 1``.

    Stays near ``k / (k + 1)`` for a while, then falls like a sigmoid around ``i ~ k ln k``.
    """

    def __init__(self, k: float = 100.0):
        self.k = check_real(k, "k", 1.0)

    def _value(self, step):
        z = step / self.k
        return 0.0 if z > 700 else self.k / (self.k + math.exp(z))  # exp(>709) overflows

    def __repr__(self):
        return f"inverse_sigmoid_decay(k={self.k})"


def _as_schedule(teacher_forcing) -> Callable[[int], float]:
    """A schedule (callable) as it is, a probability as :class:`constant`."""
    return teacher_forcing if callable(teacher_forcing) else constant(check_prob(teacher_forcing, "teacher_forcing"))


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What :func:`train` records, as plain lists ready for plotting.

    Per optimisation step (``step`` counts from 1): ``train_loss`` (mean per token),
    ``tf_prob`` (teacher-forcing probability used), ``grad_norm`` (before clipping),
    ``tokens`` (real target tokens in the batch), ``epoch``.
    Per evaluation: ``eval_step`` (after how many steps), ``valid_loss``, ``valid_ppl`` and,
    if asked for, ``valid_free_loss`` (free-running loss: ``teacher_forcing_ratio=0``).
    ``valid_bleu`` (validation BLEU per epoch) and ``selected_epoch`` (the epoch whose
    weights were kept) are filled by callers that select a checkpoint, such as
    :func:`s2s_lib.zoo.train_recipe`. ``seconds`` (wall-clock training time) is not part of
    equality comparisons.
    """

    step: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    tf_prob: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_ppl: list[float] = field(default_factory=list)
    valid_free_loss: list[float] = field(default_factory=list)
    valid_bleu: list[float] = field(default_factory=list)
    selected_epoch: int | None = None
    seconds: float = field(default=0.0, compare=False)

    @property
    def num_steps(self) -> int:
        return len(self.step)

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)

    def to_dict(self) -> dict:
        """A plain dict of lists (JSON-serialisable)."""
        return asdict(self)

    def smoothed_loss(self, window: int = 20) -> list[float]:
        """Running mean of ``train_loss`` over the last ``window`` steps (for plots)."""
        window = check_int(window, "window")
        out, total = [], 0.0
        for i, x in enumerate(self.train_loss):
            total += x
            if i >= window:
                total -= self.train_loss[i - window]
            out.append(total / min(i + 1, window))
        return out


# --------------------------------------------------------------------------- evaluation


def evaluate_loss(model: torch.nn.Module, batches: Sequence[Batch], teacher_forcing_ratio: float = 1.0,
                  *, generator: torch.Generator | None = None) -> tuple[float, float]:
    """Mean per-token loss and perplexity of ``model`` on ``batches`` (no gradients).

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (put in eval mode here; its mode is restored).
        batches: Batch objects (moved to the model's device).
        teacher_forcing_ratio: 1 = the usual teacher-forced validation loss; 0 = free
            running (the decoder reads its own greedy predictions, as at test time).
        generator: for the coins when ``0 < ratio < 1``.
    Returns:
        ``(loss, perplexity)`` as Python floats; the loss is averaged over all real tokens
        of all batches (not over batches).
    """
    check_type(model, "model", torch.nn.Module, "a torch.nn.Module (Seq2Seq)")
    batches = check_batches(batches)
    device = model_device(model)
    total, count = 0.0, 0
    with inference(model):
        for batch in batches:
            batch = batch.to(device)
            logits = model(batch.src, batch.src_lengths, batch.tgt_in,
                           teacher_forcing_ratio=teacher_forcing_ratio, generator=generator)
            total += float(sequence_loss(logits, batch.tgt_out, batch.tgt_mask, reduction="sum"))
            count += batch.num_tokens
    if count == 0:
        raise ValueError("batches hold no real target token: the loss is undefined")
    loss = total / count
    return loss, perplexity(loss)


# --------------------------------------------------------------------------- training


def default_optimizer(model: torch.nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) over ``model``'s parameters, the fused kernel where available.

    ``fused=True`` updates all parameters in one kernel instead of ~10 small ops per tensor:
    for our 2M-parameter models one update takes ~1.5 ms instead of ~6-7 ms on one CPU
    thread (about 8% of a whole training step). Falls back to the plain implementation
    where torch has no fused Adam for the device.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, *,
               teacher_forcing_ratio: float = 1.0, generator: torch.Generator | None = None,
               clip: float | None = 1.0, label_smoothing: float = 0.0) -> tuple[torch.Tensor, float]:
    """One optimisation step on one batch -- the body of :func:`train`'s loop.

    Forward with teacher forcing, :func:`sequence_loss` (with ``label_smoothing``), backward, clip the global gradient
    norm to ``clip`` (``None``: no clipping, the norm is still measured), Adam update. The
    model checks the batch; ``batch`` must already be on the model's device.

    Returns:
        ``(loss, grad_norm)``: the 0-d loss tensor and the gradient norm before clipping.
    Raises:
        FloatingPointError: the loss or a gradient is nan/inf; the model and the optimizer
            are then left as they were before the step.
    """
    logits = model(batch.src, batch.src_lengths, batch.tgt_in,
                   teacher_forcing_ratio=teacher_forcing_ratio, generator=generator)  # (B, T, V)
    loss = sequence_loss(logits, batch.tgt_out, batch.tgt_mask, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip is not None else float("inf")))
    if not math.isfinite(grad_norm):  # nan/inf loss or gradients: do not update
        raise FloatingPointError(f"loss {loss.item()}, gradient norm {grad_norm}; the model and optimizer are "
                                 "left as they were before this step (try a smaller lr or clip)")
    optimizer.step()
    return loss, grad_norm


def train(
    model: torch.nn.Module,
    batches: Sequence[Batch] | Callable[[int], Sequence[Batch]],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    clip: float | None = 1.0,
    teacher_forcing: float | Callable[[int], float] = 1.0,
    label_smoothing: float = 0.0,
    valid_batches: Sequence[Batch] | None = None,
    eval_every: int | None = None,
    eval_free_running: bool = False,
    shuffle: bool = True,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    callbacks: Sequence[Callable] = (),
) -> History:
    """Train ``model`` on ``batches`` with Adam, masked cross-entropy and gradient clipping.

    One optimisation step per batch: forward with teacher-forcing probability
    ``teacher_forcing(step)``, :func:`sequence_loss`, backward, clip the global gradient
    norm to ``clip``, update.

    Args:
        model: a :class:`~s2s_lib.models.Seq2Seq` (moved to ``device``; left in train mode).
        batches: the training batches; each epoch visits all of them (in a new order
            every epoch when ``shuffle``). Or a function ``epoch -> list of Batch``
            (epoch counts from 1), e.g. ``lambda e: data.batches("train", 64, seed=e)``
            for a fresh bucketing every epoch.
        epochs: passes over ``batches``. steps: optimisation steps. Give either or both
            (training stops at whichever comes first); neither means one epoch.
        lr: Adam's learning rate (ignored if ``optimizer`` is given; the default optimizer
            is :func:`default_optimizer`).
        optimizer: your own optimizer over ``model.parameters()``.
        clip: max global gradient norm (Pascanu et al. 2013); ``None`` = no clipping (the
            norm is still recorded).
        teacher_forcing: a probability in [0, 1] or a schedule ``step -> probability``
            (see :func:`linear_decay` etc.).
        label_smoothing: eps of :func:`sequence_loss` for the training loss (the recorded
            validation loss is the plain one).
        valid_batches: held-out batches; evaluated every ``eval_every`` steps (default:
            at the end of every epoch) and always at the end of training.
        eval_free_running: also record the free-running validation loss.
        shuffle: reshuffle the batch order every epoch (seeded).
        device: where to train; ``None`` = :func:`s2s_lib.pick_device`.
        seed: seeds torch's global RNG (dropout), the batch order and the teacher-forcing
            coins, so the same seed gives the same :class:`History`.
        progress: show a tqdm bar (to stderr) with the running loss.
        callbacks: functions called as ``callback(step, model, history)`` after every
            step; one returning ``True`` stops training.
    Returns:
        The :class:`History`.
    """
    check_type(model, "model", torch.nn.Module, "a torch.nn.Module (Seq2Seq)")
    make_epoch = batches if callable(batches) else None
    first = check_batches(make_epoch(1), "batches(1)") if make_epoch else check_batches(batches)
    valid_batches = None if valid_batches is None else check_batches(valid_batches, "valid_batches")
    epochs, steps, eval_every = (None if v is None else check_int(v, name)
                                 for v, name in ((epochs, "epochs"), (steps, "steps"), (eval_every, "eval_every")))
    if epochs is None and steps is None:
        epochs = 1
    clip = None if clip is None else check_real(clip, "clip", above=0.0)
    if optimizer is None:
        lr = check_real(lr, "lr", above=0.0)
    else:
        check_type(optimizer, "optimizer", torch.optim.Optimizer)
    schedule = _as_schedule(teacher_forcing)
    label_smoothing = check_real(label_smoothing, "label_smoothing", 0.0, below=1.0)
    seed = check_int(seed, "seed", 0)
    callbacks = [check_callable(cb, f"callbacks[{i}]") for i, cb in enumerate(callbacks)]

    device = pick_device(device)
    model.to(device)
    model.train()
    if optimizer is None:
        optimizer = default_optimizer(model, lr)  # after model.to(device): fused needs the device
    torch.manual_seed(seed)  # dropout masks
    order_rng = random.Random(seed)  # batch order
    coin_gen = torch.Generator(device="cpu").manual_seed(seed)  # teacher-forcing coins
    max_steps = steps if steps is not None else math.inf
    max_epochs = epochs if epochs is not None else math.inf
    bar_total = min(max_steps, max_epochs * len(first))  # exact unless batches vary per epoch

    history = History()
    start = time.perf_counter()
    step, epoch = 0, 0
    bar = tqdm(total=bar_total, disable=not progress, desc="train", unit="step")
    stop = False
    try:
        while epoch < max_epochs and step < max_steps and not stop:
            epoch += 1
            if make_epoch is None or epoch == 1:
                batches = first
            else:
                batches = check_batches(make_epoch(epoch), f"batches({epoch})")
            order = list(range(len(batches)))
            if shuffle:
                order_rng.shuffle(order)
            for i in order:
                batch = batches[i].to(device)
                p = check_prob(schedule(step), f"the teacher_forcing schedule's value at step {step}")
                try:
                    loss, grad_norm = train_step(model, optimizer, batch, teacher_forcing_ratio=p,
                                                 generator=coin_gen, clip=clip, label_smoothing=label_smoothing)
                except FloatingPointError as error:
                    raise FloatingPointError(f"training diverged at step {step + 1} (epoch {epoch}): {error}") from None
                step += 1
                loss_value = loss.item()
                history.step.append(step)
                history.epoch.append(epoch)
                history.train_loss.append(loss_value)
                history.tf_prob.append(float(p))
                history.grad_norm.append(grad_norm)
                history.tokens.append(batch.num_tokens)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
                if valid_batches is not None and eval_every is not None and step % eval_every == 0:
                    _record_eval(model, valid_batches, history, step, eval_free_running)
                if any(cb(step, model, history) is True for cb in callbacks):
                    stop = True
                if stop or step >= max_steps:
                    break
            if valid_batches is not None and eval_every is None:  # end of the epoch
                _record_eval(model, valid_batches, history, step, eval_free_running)
        if valid_batches is not None and (not history.eval_step or history.eval_step[-1] != step):
            _record_eval(model, valid_batches, history, step, eval_free_running)  # the final model
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


def _record_eval(model, valid_batches, history: History, step: int, free_running: bool) -> None:
    loss, ppl = evaluate_loss(model, valid_batches)
    history.eval_step.append(step)
    history.valid_loss.append(loss)
    history.valid_ppl.append(ppl)
    if free_running:
        history.valid_free_loss.append(evaluate_loss(model, valid_batches, teacher_forcing_ratio=0.0)[0])
