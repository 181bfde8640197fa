"""Run the book's notebooks on a device and compare their outputs with the committed ones.

    python scripts/run_book_on_device.py                       # every notebook, on cuda
    python scripts/run_book_on_device.py --device cpu book/99_interactive_views.ipynb
    python scripts/run_book_on_device.py --out gpu.json --into /tmp/gpu_run

Each notebook is executed top to bottom in its own kernel (with scripts/execute_notebooks.py's
code), with ``S2S_DEVICE`` set so that ``s2s_lib.pick_device()`` returns the device asked for;
the working directory is the notebook's folder, as under ``pytest --nbval``. The executed
copies go to ``--into`` (default ``_build/on_device/<device>/``), never over ``book/``.

Each code cell's outputs are then compared with the committed ones the way ``make nbval``
does: nbval's stream merging, the regexes of tests/nbval_sanitize.cfg, nbval's list of keys
not compared (images, widget ids, metadata, execution counts), and cells tagged
``nbval-ignore-output`` / ``nbval-skip`` (or with the matching ``# NBVAL_...`` comment) left
out. Prints a table of notebooks, seconds and differing cells, and writes a JSON report to
``--out`` (default ``<into>/report.json``). Exit status 1 when a notebook failed to run;
differing outputs alone (expected on another device: other kernels, other rounding) do not
fail.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import nbformat

# scripts/ is on sys.path when this file runs as a script (tests prepend it when importing).
from execute_notebooks import run_notebook
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbval.plugin import (
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    transform_streams_for_comparison,
)

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SANITIZE_CFG = ROOT / "tests" / "nbval_sanitize.cfg"
# nbval 0.11's IPyNbFile.skip_compare without --nbdime: keys never compared.
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
SNIPPET = 400  # characters of each side kept in the report for a differing cell


def load_sanitizers(path: Path = SANITIZE_CFG) -> list[tuple[str, str]]:
    return get_sanitize_patterns(path.read_text(encoding="utf-8"))


def cell_options(cell) -> dict:
    """nbval's options for one code cell: its tags, then its comment markers."""
    options = defaultdict(bool, find_metadata_tags(cell.metadata))
    options.update(dict(find_comment_markers(cell.source)))
    options.setdefault("check", True)  # `pytest --nbval` checks unmarked cells
    return options


def _flatten(outputs, sanitizers) -> dict[str, list]:
    """Outputs as nbval compares them: key (stream name or MIME type) -> sanitized values."""
    def sanitize(value):
        if isinstance(value, str):
            for regex, replace in sanitizers:
                value = re.sub(regex, replace, value)
        return value

    flat: dict[str, list] = defaultdict(list)
    for out in transform_streams_for_comparison(coalesce_streams(copy.deepcopy(list(outputs)))):
        for key, value in out.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(sanitize(data))
            else:
                flat[key].append(sanitize(value))
    return dict(flat)


def compare_cell(reference, executed, sanitizers) -> dict | None:
    """``None`` when nbval would pass the cell, else what differs (first key, both sides)."""
    ref, test = _flatten(reference.outputs, sanitizers), _flatten(executed.outputs, sanitizers)
    if ref == test:
        return None
    for key in sorted(set(ref) | set(test)):
        if ref.get(key) != test.get(key):
            return {"key": key,
                    "committed": str(ref.get(key, "<missing>"))[:SNIPPET],
                    "executed": str(test.get(key, "<missing>"))[:SNIPPET]}
    return None  # unreachable: the dicts differ in some key


def compare_notebook(reference, executed, sanitizers) -> dict:
    """Compare code cells pairwise; cells are numbered as nbval numbers them (code cells only)."""
    ref_cells = [c for c in reference.cells if c.cell_type == "code"]
    run_cells = [c for c in executed.cells if c.cell_type == "code"]
    compared, differing, not_run = 0, [], []
    for i, (ref, run) in enumerate(zip(ref_cells, run_cells)):
        options = cell_options(ref)
        if options["skip"] or not options["check"] or ref.execution_count is None:
            continue  # nbval does not compare these (an unrun reference has nothing to compare)
        if run.execution_count is None:
            not_run.append(i)  # after a failing cell
            continue
        compared += 1
        diff = compare_cell(ref, run, sanitizers)
        if diff is not None:
            differing.append({"cell": i, **diff})
    return {"compared_cells": compared, "differing_cells": len(differing),
            "differences": differing, "not_run_cells": not_run}


def run_one(path: Path, into: Path, sanitizers, timeout: int) -> dict:
    reference = nbformat.read(path, as_version=4)
    nb = copy.deepcopy(reference)
    for cell in nb.cells:  # a cell never reached must not keep its committed outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    error = None
    start = time.perf_counter()
    try:
        run_notebook(nb, path.parent, timeout)
    except CellExecutionError as err:
        error = f"{err.ename}: {err.evalue}"[:SNIPPET]
    except (CellTimeoutError, DeadKernelError) as err:
        error = f"{type(err).__name__}: {err}"[:SNIPPET]
    seconds = time.perf_counter() - start
    nbformat.write(nb, into / path.name)
    return {"notebook": path.name, "seconds": round(seconds, 2), "error": error,
            **compare_notebook(reference, nb, sanitizers)}


def print_table(rows: list[dict]) -> None:
    width = max([len("notebook")] + [len(r["notebook"]) for r in rows])
    print(f"{'notebook':<{width}}  {'seconds':>8}  {'differing cells':>15}  {'compared':>8}")
    for r in rows:
        note = f"  ERROR: {r['error']}" if r["error"] else ""
        print(f"{r['notebook']:<{width}}  {r['seconds']:>8.1f}  {r['differing_cells']:>15}  "
              f"{r['compared_cells']:>8}{note}")
    print(f"{'total':<{width}}  {sum(r['seconds'] for r in rows):>8.1f}  "
          f"{sum(r['differing_cells'] for r in rows):>15}  {sum(r['compared_cells'] for r in rows):>8}")


def _device_info(device) -> dict:
    import torch
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every book/*.ipynb)")
    parser.add_argument("--device", default="cuda", help="what S2S_DEVICE is set to (default: cuda)")
    parser.add_argument("--into", type=Path, help="folder for the executed copies "
                        "(default: _build/on_device/<device>/)")
    parser.add_argument("--out", type=Path, help="JSON report (default: <into>/report.json)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: 600)")
    args = parser.parse_args(argv)

    notebooks = args.notebooks or sorted(BOOK.glob("*.ipynb"))
    for path in notebooks:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"not a notebook file: {path}")
    into = (args.into or ROOT / "_build" / "on_device" / args.device.replace(":", "_")).resolve()
    sources = {BOOK, *(path.resolve().parent for path in notebooks)}
    if any(into == src or src in into.parents for src in sources):  # pytest --nbval book recurses
        parser.error(f"--into {into} is inside a folder of the notebooks: choose another folder")
    # The notebooks' own choice of device: a clear error where CUDA is missing.
    from s2s_lib import pick_device
    try:
        device = pick_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    into.mkdir(parents=True, exist_ok=True)
    out = args.out or into / "report.json"

    os.environ["S2S_DEVICE"] = str(device)  # each kernel inherits it
    sanitizers = load_sanitizers()
    rows = []
    for path in notebooks:
        print(f"running {path} on {device} ...", flush=True)
        rows.append(run_one(path, into, sanitizers, args.timeout))
    print_table(rows)
    report = {**_device_info(device), "executed_into": str(into), "notebooks": rows,
              "total_seconds": round(sum(r["seconds"] for r in rows), 2),
              "total_differing_cells": sum(r["differing_cells"] for r in rows)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"report: {out}")
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
