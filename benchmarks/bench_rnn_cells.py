"""How much slower is our from-scratch cell loop than torch's fused RNN/GRU/LSTM? (chapter 2)

Three implementations of the same layer, forward + backward over a (B, T, E) batch:

* ``ours``         s2s_lib.rnn.RNN/GRU/LSTM: a Python loop over time, every gate one
                   small tensor op (the code the book reads);
* ``torch cell``   a Python loop over nn.RNNCell/GRUCell/LSTMCell (one fused kernel per step);
* ``torch layer``  nn.RNN/GRU/LSTM(batch_first=True): the whole sequence in one call
                   (ATen/oneDNN kernels on CPU, cuDNN on a GPU).

All three hold the same weights (the tests check outputs and gradients agree). Also prints
the parameter counts. Run: ``python benchmarks/bench_rnn_cells.py [--device cuda]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from s2s_lib.rnn import GRU, LSTM, RNN, count_parameters, expected_num_parameters

KINDS = {
    "rnn": (RNN, nn.RNNCell, nn.RNN),
    "gru": (GRU, nn.GRUCell, nn.GRU),
    "lstm": (LSTM, nn.LSTMCell, nn.LSTM),
}


class CellLoop(nn.Module):
    """A Python loop over one of torch's cells, batch-first."""

    def __init__(self, cell: nn.Module, lstm: bool) -> None:
        super().__init__()
        self.cell, self.lstm = cell, lstm

    def forward(self, x: torch.Tensor):
        h = x.new_zeros(x.size(0), self.cell.hidden_size)
        state = (h, h) if self.lstm else h
        outs = []
        for t in range(x.size(1)):
            state = self.cell(x[:, t], state)
            outs.append(state[0] if self.lstm else state)
        return torch.stack(outs, dim=1), state  # (B, T, H)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_fwd_bwd(module: nn.Module, x: torch.Tensor, repeats: int, warmup: int = 3) -> float:
    """Median seconds of one forward + backward (loss = sum of the outputs)."""
    def step():
        module.zero_grad(set_to_none=True)
        out, _ = module(x)
        out.sum().backward()

    for _ in range(warmup):
        step()
    _sync(x.device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        _sync(x.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--emb", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    # Full float32 everywhere: cuDNN's RNNs would otherwise use TF32 on Ampere and later,
    # which is faster but no longer the same function as our float32 loop.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    device = torch.device(args.device)
    B, T, E, H = args.batch, args.seq_len, args.emb, args.hidden
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"torch {torch.__version__} on {where}; B={B} T={T} E={E} H={H}; "
          f"forward+backward, median of {args.repeats}")
    print()
    print(f"{'cell':<5} {'params':>7} {'formula':>7} {'ours ms':>8} {'torch cell ms':>14} "
          f"{'torch layer ms':>15} {'ours/layer':>11} {'ours/cell':>10}")
    x = torch.randn(B, T, E, device=device)
    for kind, (ours_cls, cell_cls, layer_cls) in KINDS.items():
        layer = layer_cls(E, H, batch_first=True).to(device)
        ours = ours_cls(E, H).to(device)
        ours.load_state_dict(layer.state_dict())
        cell = cell_cls(E, H).to(device)
        cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # drop "_l0"
        loop = CellLoop(cell, lstm=kind == "lstm")
        with torch.no_grad():  # same weights, same answer
            torch.testing.assert_close(ours(x)[0], layer(x)[0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(loop(x)[0], layer(x)[0], atol=1e-5, rtol=1e-4)
        t_ours = time_fwd_bwd(ours, x, args.repeats)
        t_cell = time_fwd_bwd(loop, x, args.repeats)
        t_layer = time_fwd_bwd(layer, x, args.repeats)
        n = count_parameters(ours)
        assert n == count_parameters(layer) == expected_num_parameters(kind, E, H)
        print(f"{kind:<5} {n:>7} {expected_num_parameters(kind, E, H):>7} {t_ours * 1e3:>8.2f} "
              f"{t_cell * 1e3:>14.2f} {t_layer * 1e3:>15.2f} {t_ours / t_layer:>10.1f}x "
              f"{t_ours / t_cell:>9.1f}x")
    print()
    print("params = G * (H*E + H*H + 2H) with G = 1 (RNN), 3 (GRU), 4 (LSTM); torch keeps two "
          "bias vectors b_ih and b_hh.")


if __name__ == "__main__":
    main()
