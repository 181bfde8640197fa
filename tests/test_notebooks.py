"""Hygiene of the committed chapter notebooks.

nbval re-executes the notebooks and compares outputs; these checks catch what it cannot:
notebooks committed without outputs (nbval would then compare nothing), error outputs
rendered into the book, a missing Colab set-up cell, or a notebook missing from the toc.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_chapters():
    assert NOTEBOOKS, "book/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_outputs_and_no_errors(path):
    cells = _code_cells(_load(path))
    assert cells, f"{path.name} has no code cells"
    assert any(c.get("outputs") for c in cells), f"{path.name} was committed without outputs"
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path.name}: code cell {i} has an error output"
    counts = [c.get("execution_count") for c in cells if "".join(c["source"]).strip()]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: some code cells were never executed"
    assert counts == sorted(counts), f"{path.name}: cells were executed out of order {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_on_colab_only(path):
    first = _code_cells(_load(path))[0]
    source = "".join(first["source"])
    assert "google.colab" in source and "pip install" in source, f"{path.name}: no Colab set-up cell first"
    assert "remove-cell" in first.get("metadata", {}).get("tags", []), f"{path.name}: Colab cell not tagged remove-cell"


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in toc, f"{path.name} is not listed in _toc.yml"


def _show_source_calls(nb: dict) -> list[tuple[int, ast.Call]]:
    calls = []
    for i, cell in enumerate(_code_cells(nb)):
        try:
            tree = ast.parse("".join(line for line in cell["source"] if not line.lstrip().startswith("%")))
        except SyntaxError:
            continue
        calls += [(i, node) for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "show_source"]
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shown_source_exists_and_its_output_is_not_compared(path):
    """Every show_source(...) names an object the notebook's imports provide; its cell is
    nbval-ignore-output (the library may change), and holds nothing else whose output matters."""
    nb = _load(path)
    namespace: dict = {}
    for cell in _code_cells(nb):  # run only the notebook's imports
        try:
            tree = ast.parse("".join(line for line in cell["source"] if not line.lstrip().startswith("%")))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
    cells = _code_cells(nb)
    for i, call in _show_source_calls(nb):
        for arg in call.args:
            expr = ast.unparse(arg)
            assert callable(eval(expr, namespace)) or isinstance(eval(expr, namespace), type), f"{path.name}: {expr}"
        tags = cells[i].get("metadata", {}).get("tags", [])
        assert "nbval-ignore-output" in tags, f"{path.name}: code cell {i} shows source but is compared by nbval"
        assert len(ast.parse("".join(cells[i]["source"])).body) == 1, \
            f"{path.name}: code cell {i} shows source and does more: put the rest in its own cell"


def test_notebooks_do_not_print_library_source_by_hand():
    for path in NOTEBOOKS:
        for i, cell in enumerate(_code_cells(_load(path))):
            assert "getsource" not in "".join(cell["source"]), f"{path.name}: cell {i}: use s2s_lib.views.show_source"
