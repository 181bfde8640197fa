"""Execute chapter notebooks in place, the way they are committed.

    python scripts/execute_notebooks.py book/03_seq2seq.ipynb [more.ipynb ...]

Runs each notebook top to bottom in its own kernel (cwd = book/), stores the outputs,
drops saved ipywidgets state (myst-nb would otherwise load the widget manager from a CDN
and the static book would show blank boxes), and prints how long each notebook took —
every chapter must stay within 90 s on a 2-core CPU, because `pytest --nbval` re-runs it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUDGET_S = 90.0


def run_notebook(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600) -> float:
    """Execute ``nb`` in place in a fresh kernel whose working directory is ``cwd``.

    The kernel inherits this process's environment (``S2S_DEVICE``, ``S2S_DATA_DIR``, ...).
    Saved ipywidgets state is dropped. Returns the wall time in seconds; a failing cell
    raises nbclient's ``CellExecutionError`` with the outputs up to it left in ``nb``.
    """
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        nb.metadata.pop("widgets", None)
    return time.perf_counter() - start


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    elapsed = run_notebook(nb, path.parent, timeout)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    over = []
    for path in args.notebooks:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"not a notebook file: {path}")
        seconds = execute(path)
        flag = "  OVER BUDGET" if seconds > BUDGET_S else ""
        print(f"{path}: {seconds:.1f} s{flag}", flush=True)
        if flag:
            over.append(path)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
