"""The exercises' self-check (s2s_lib.exercises): verdicts and messages, never a traceback."""
import numpy as np
import pytest
import torch

from s2s_lib.exercises import same, self_check
from s2s_lib.models import reverse_real_tokens


def reference(x, lengths):
    return reverse_real_tokens(x, lengths)


CASES = [(torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])),
         (torch.tensor([[9, 0, 0]]), torch.tensor([1]))]


def test_a_right_answer_passes_every_case(capsys):
    def mine(x, lengths):
        out = x.clone()
        for b, n in enumerate(lengths.tolist()):
            out[b, :n] = x[b, :n].flip(0)
        return out

    assert self_check(mine, reference, CASES) is True
    out = capsys.readouterr().out
    assert "✓ case 1 agrees" in out and "agrees with the reference on all 2 cases" in out


def test_a_wrong_answer_says_where_it_differs(capsys):
    def flips_padding_too(x, lengths):
        return x.flip(1)

    assert self_check(flips_padding_too, reference, CASES, name="reverse") is False
    out = capsys.readouterr().out
    assert "✗ reverse, case 1" in out and "3 of 6 values differ, first at index (1, 0): got 0, expected 8" in out
    assert "expected" in out and "Traceback" not in out


@pytest.mark.parametrize("body, message", [
    (lambda x, lengths: (_ for _ in ()).throw(NotImplementedError()), "not written yet"),
    (lambda x, lengths: None, "returned None"),
    (lambda x, lengths: x[:, :1], "shape (2, 1), expected (2, 3)"),
    (lambda x, lengths: 1 / 0, "raised ZeroDivisionError"),
    (lambda x, lengths: x.tolist(), "expected an array/tensor"),
])
def test_broken_answers_are_reported_in_one_line(capsys, body, message):
    assert self_check(body, reference, CASES, name="f") is False
    out = capsys.readouterr().out
    assert message in out and len(out.strip().splitlines()) == 1


def test_same_compares_numbers_lists_dicts_and_arrays():
    assert same(1.0 + 1e-9, 1.0) is None and same(1.1, 1.0) is not None
    assert same([1, [2, 3]], [1, [2, 3]]) is None and "element 1" in same([1, [2, 4]], [1, [2, 3]])
    assert same({"a": np.ones(2)}, {"a": np.ones(2)}) is None and "key 'a'" in same({"a": np.zeros(2)}, {"a": np.ones(2)})
    assert same("tom", "tom") is None and same("tom", "Tom") is not None
    assert same(True, 1) is not None


def test_cases_may_be_keyword_dicts_or_single_values(capsys):
    assert self_check(lambda n: n * 2, lambda n: n + n, [1, 2.5, {"n": 3}]) is True
    capsys.readouterr()


def test_check_rejects_bad_arguments():
    with pytest.raises(TypeError, match="function"):
        self_check("f", reference, CASES)
    with pytest.raises(TypeError, match="cases"):
        self_check(reference, reference, [])
    with pytest.raises(ValueError, match="tol"):
        self_check(reference, reference, CASES, tol=-1.0)
