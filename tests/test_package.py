"""Tests for the helpers of the package itself (s2s_lib/__init__.py): set_seed, pick_device."""
import random

import pytest
import torch

from s2s_lib import pick_device, set_seed


def test_set_seed_repeats_every_stream():
    threads = torch.get_num_threads()
    try:
        g = set_seed(7, threads=None)
        first = (random.random(), torch.rand(2).tolist(), torch.rand(1, generator=g).item())
        g = set_seed(7, threads=None)
        assert (random.random(), torch.rand(2).tolist(), torch.rand(1, generator=g).item()) == first
    finally:
        torch.set_num_threads(threads)


def test_set_seed_bad_arguments_name_the_argument():
    with pytest.raises(TypeError, match="seed must be an int"):
        set_seed(1.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        set_seed(-1)
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        set_seed(0, threads=0)  # torch's own RuntimeError used to come through
    with pytest.raises(TypeError, match="threads must be an int"):
        set_seed(0, threads=2.0)


def test_pick_device(monkeypatch):
    monkeypatch.delenv("S2S_DEVICE", raising=False)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device().type in ("cpu", "cuda")
    monkeypatch.setenv("S2S_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")


def test_pick_device_bad_names_raise_naming_the_argument(monkeypatch):
    monkeypatch.delenv("S2S_DEVICE", raising=False)
    with pytest.raises(ValueError, match="prefer must be a device such as 'cpu'.*got 'gpu'"):
        pick_device("gpu")  # torch's RuntimeError used to come through
    with pytest.raises(TypeError, match="prefer must be a device name"):
        pick_device(0.5)
    monkeypatch.setenv("S2S_DEVICE", "gpu")
    with pytest.raises(ValueError, match="S2S_DEVICE must be a device"):
        pick_device()
