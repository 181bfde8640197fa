"""scripts/run_book_on_device.py on the CPU path, and its output comparison.

The end-to-end run uses book/99_interactive_views.ipynb (a few seconds, no corpus needed):
on the device the notebooks were committed from, every compared cell must match.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
NOTEBOOK = ROOT / "book" / "99_interactive_views.ipynb"


@pytest.fixture
def device_script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # as when it runs as a script
    import run_book_on_device
    return run_book_on_device


@pytest.mark.slow
def test_cpu_run_matches_the_committed_outputs(tmp_path):
    committed = NOTEBOOK.read_bytes()
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # S2S_DATA_DIR, if set, passes through
    result = subprocess.run(
        [sys.executable, SCRIPTS / "run_book_on_device.py", "--device", "cpu", NOTEBOOK,
         "--into", tmp_path / "run", "--out", out],
        check=False, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["device"] == "cpu"
    (row,) = report["notebooks"]
    assert row["notebook"] == NOTEBOOK.name and row["error"] is None
    assert row["seconds"] > 0 and row["compared_cells"] > 0 and row["not_run_cells"] == []
    assert row["differing_cells"] == 0, row["differences"]
    assert NOTEBOOK.name in result.stdout and "differing cells" in result.stdout  # the table
    assert (tmp_path / "run" / NOTEBOOK.name).is_file()
    assert NOTEBOOK.read_bytes() == committed  # book/ untouched


def test_a_changed_text_output_counts_and_ignored_cells_do_not(device_script):
    reference = nbformat.read(NOTEBOOK, as_version=4)
    executed = copy.deepcopy(reference)
    code = [c for c in executed.cells if c.cell_type == "code"]
    sanitizers = device_script.load_sanitizers()
    assert device_script.compare_notebook(reference, executed, sanitizers)["differing_cells"] == 0

    printing = next(i for i, c in enumerate(code) if any(o.get("name") == "stdout" for o in c.outputs))
    stream = next(o for o in code[printing].outputs if o.get("name") == "stdout")
    stream.text = stream.text + "one more line\n"
    ignored = next(i for i, c in enumerate(code) if "nbval-ignore-output" in c.metadata.get("tags", []))
    code[ignored].outputs = []
    result = device_script.compare_notebook(reference, executed, sanitizers)
    assert result["differing_cells"] == 1
    assert result["differences"][0]["cell"] == printing and result["differences"][0]["key"] == "stdout"

    code[printing].outputs, code[printing].execution_count = [], None  # never reached
    assert device_script.compare_notebook(reference, executed, sanitizers)["not_run_cells"] == [printing]


def test_sanitized_and_skipped_keys_do_not_count(device_script):
    def cell(outputs):
        return nbformat.v4.new_code_cell(source="x", execution_count=1, outputs=outputs)

    sanitizers = device_script.load_sanitizers()
    ref = cell([nbformat.v4.new_output("stream", name="stdout", text="at 0x7f00aa11bb22\n"),
                nbformat.v4.new_output("display_data", data={"text/plain": "fig", "image/png": "AAAA"})])
    run = cell([nbformat.v4.new_output("stream", name="stdout", text="at "),
                nbformat.v4.new_output("stream", name="stdout", text="0x55d0cc33dd44\n"),
                nbformat.v4.new_output("display_data", data={"text/plain": "fig", "image/png": "BBBB"})])
    assert device_script.compare_cell(ref, run, sanitizers) is None
    run.outputs[-1].data["text/plain"] = "other fig"
    assert device_script.compare_cell(ref, run, sanitizers)["key"] == "text/plain"


def test_refuses_to_write_into_book(tmp_path):
    result = subprocess.run(
        [sys.executable, SCRIPTS / "run_book_on_device.py", "--device", "cpu", NOTEBOOK,
         "--into", ROOT / "book" / "run", "--out", tmp_path / "r.json"],
        check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "choose another folder" in result.stderr
    assert not (ROOT / "book" / "run").exists() and not (tmp_path / "r.json").exists()
