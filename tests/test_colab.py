"""The notebooks' Colab install, rehearsed in a fresh virtualenv (30-45 s).

Colab arrives with its own torch (a CUDA build) and runs each chapter's first cell::

    import sys
    if "google.colab" in sys.modules:
        %pip install -q "git+https://github.com/seq2seq-course/seq2seq-course"

This test builds such a machine in ``tmp_path``: a new venv with a torch already installed
(under a version no requirement of s2s_lib could name) and ipykernel (Colab has both), then
runs a chapter, ``book/07_bleu.ipynb``, top to bottom in a kernel of that venv with
``google.colab`` faked, so the chapter's *own* install cell runs ``%pip``, with the GitHub
URL swapped for ``git+file://<this repository>@<HEAD commit>``. Then it checks:

* torch was neither reinstalled nor upgraded (same version, same files): s2s_lib must never
  pin torch, or pip would replace Colab's CUDA build;
* ``s2s_lib`` imports from the venv (not from this checkout), at the commit asked for;
* every file tracked under ``s2s_lib/`` (the views' JS/CSS, and shipped weights in
  ``s2s_lib/weights/`` once there are any) arrived with the package, byte for byte.

A git+ URL installs **committed** files only (HEAD here, what Colab gets from the published
repository); uncommitted edits in the working tree are not part of what is tested.
Everything comes from the configured package index (torch as ``$TORCH_SPEC`` says, when the
Makefile exports it); pip's download cache is shared, the course's cache starts empty.
"""
from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "07_bleu.ipynb"
# Shown to pip as the installed torch's version: lower than any release s2s_lib could ask for
# and never a real one, so a pin (torch==X, torch>=X) would make pip replace it.
FAKE_TORCH_VERSION = "2.12.99"
# Pretends to be Colab, so that the chapter's own install cell runs.
FAKE_COLAB = 'import sys, types\nsys.modules["google.colab"] = types.ModuleType("google.colab")'
INSTALL_LINE = re.compile(r'^(\s*%pip install\b.*?)"(git\+https://[^"]+)"', re.M)


def _run(cmd, timeout=600, **kwargs) -> str:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
                    f"{(result.stdout + result.stderr)[-4000:]}", pytrace=False)
    return result.stdout


def _git(*args) -> str:
    return _run(["git", "-C", ROOT, *args]).strip()


def _site_packages(python: Path) -> Path:
    return Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())


def _disguise_torch(site: Path) -> Path:
    """Make pip see the installed torch as :data:`FAKE_TORCH_VERSION` (its files stay as they are).

    pip knows an installed distribution only by its ``*.dist-info`` folder: the ``Version:``
    line of ``METADATA`` and the folder's name. Rewriting both (and the folder's entries in
    ``RECORD``, so the installation stays consistent) gives a torch that satisfies a bare
    ``torch`` requirement but no pinned one, as Colab's ``2.x+cu12x`` build does.
    """
    (old,) = site.glob("torch-*.dist-info")
    new = site / f"torch-{FAKE_TORCH_VERSION}.dist-info"
    old.rename(new)
    meta = new / "METADATA"
    text, count = re.subn(r"^Version: .*$", f"Version: {FAKE_TORCH_VERSION}",
                          meta.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert count == 1, f"no Version: line in {meta}"
    meta.write_text(text, encoding="utf-8")
    record = new / "RECORD"
    record.write_text(record.read_text(encoding="utf-8").replace(f"{old.name}/", f"{new.name}/"),
                      encoding="utf-8")
    return new


def _torch_state(site: Path) -> dict:
    """What a reinstall or upgrade of torch would change."""
    version = re.search(r"^__version__.*$", (site / "torch" / "version.py").read_text(encoding="utf-8"), re.M)
    return {"dist-info": sorted(p.name for p in site.glob("torch-*.dist-info")),
            "torch/__init__.py mtime_ns": (site / "torch" / "__init__.py").stat().st_mtime_ns,
            "torch/version.py": version.group(0) if version else None}


def _colab_notebook(url: str) -> nbformat.NotebookNode:
    """The chapter with Colab faked and its install cell pointed at ``url``."""
    nb = nbformat.read(CHAPTER, as_version=4)
    install = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" in install.metadata.get("tags", []) and '"google.colab" in sys.modules' in install.source
    assert INSTALL_LINE.search(install.source), f"no %pip install \"git+https://...\" in:\n{install.source}"
    install.source = INSTALL_LINE.sub(lambda m: f'{m.group(1)}"{url}"', install.source)
    # %pip does not raise when pip fails; it leaves the exit status in _exit_code.
    check = nbformat.v4.new_code_cell("assert _exit_code == 0, f'pip install failed: {_exit_code}'")
    at = nb.cells.index(install)
    nb.cells[at + 1:at + 1] = [check]
    nb.cells.insert(at, nbformat.v4.new_code_cell(FAKE_COLAB))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    return nb


@pytest.mark.slow
def test_colab_install_keeps_torch_and_runs_a_chapter(tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the notebooks install s2s_lib from the git repository")
    data_dir = os.environ.get("S2S_DATA_DIR")
    if not data_dir or not (Path(data_dir) / "kor-eng" / "kor.txt").is_file():
        pytest.skip("the chapter needs the corpus: set S2S_DATA_DIR to a folder with kor-eng/kor.txt")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    started = time.monotonic()
    commit = _git("rev-parse", "HEAD")
    url = f"git+file://{ROOT}@{commit}"
    # A fresh machine: an empty cache for the course, a working folder outside this checkout
    # (so "import s2s_lib" cannot find ./s2s_lib). pip keeps its usual download cache.
    pip_cache = os.environ.get("PIP_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PIP_CACHE_DIR": pip_cache, "PIP_NO_INPUT": "1",
           "S2S_DATA_DIR": data_dir}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PYTHONPATH", raising=False)

    venv = tmp_path / "colab-venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    site = _site_packages(python)
    # This venv's torch, got as the Makefile got it: $TORCH_SPEC (words, may carry pip options
    # such as --index-url) when it is exported, else the installed version from pip's index.
    torch_spec = os.environ.get("TORCH_SPEC", "").split() or [f"torch=={importlib.metadata.version('torch')}"]
    _run([python, "-m", "pip", "install", "-q", "--no-compile", *torch_spec])
    _run([python, "-m", "pip", "install", "-q", "--no-compile", "ipykernel"])  # Colab has it
    _disguise_torch(site)
    before = _torch_state(site)
    assert _run([python, "-m", "pip", "show", "torch"]).count(f"Version: {FAKE_TORCH_VERSION}") == 1

    # A kernelspec for the venv's python, found through JUPYTER_PATH.
    spec_dir = tmp_path / "jupyter" / "kernels" / "colab-venv"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    work = tmp_path / "work"
    work.mkdir()
    nb = _colab_notebook(url)
    client = NotebookClient(copy.deepcopy(nb), kernel_name="colab-venv", timeout=600,
                            resources={"metadata": {"path": str(work)}})
    try:
        executed = client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{CHAPTER.name} failed in the Colab-like venv:\n{str(err)[-4000:]}", pytrace=False)
    finally:
        nbformat.write(client.nb, tmp_path / CHAPTER.name)  # for a look after a failure
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors

    # torch: not reinstalled, not upgraded (pip would have replaced the dist-info and the files).
    after = _torch_state(site)
    assert after == before, f"pip replaced torch (does a requirement name a torch version?): {before} -> {after}"
    # s2s_lib: from the venv, at the commit asked for, with all its committed files.
    probe = _run([python, "-c", (
        "import importlib.metadata as m, json, s2s_lib, torch\n"
        "d = m.distribution('s2s_lib')\n"
        "print(json.dumps({'file': s2s_lib.__file__, 'torch': m.version('torch'), "
        "'direct_url': json.loads(d.read_text('direct_url.json'))}))")], cwd=work)
    info = json.loads(probe.strip().splitlines()[-1])
    assert info["torch"] == FAKE_TORCH_VERSION
    package = Path(info["file"]).parent
    assert package == site / "s2s_lib", f"s2s_lib came from {package}, not from the venv"
    assert info["direct_url"]["vcs_info"]["commit_id"] == commit

    tracked = [Path(p) for p in _git("ls-tree", "-r", "--name-only", commit, "--", "s2s_lib").splitlines()]
    missing = [str(p) for p in tracked if not (site / p).is_file()]
    assert not missing, f"committed but not installed (add them to package-data in pyproject.toml): {missing}"
    for p in tracked:  # same bytes as committed (the views' JS/CSS, shipped weights)
        committed = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{p.as_posix()}"],
                                   capture_output=True, check=True).stdout
        assert (site / p).read_bytes() == committed, f"{p} differs from the committed file"
    # The translator's weights, once shipped, must come with the package (not a download).
    if (ROOT / "s2s_lib" / "weights").is_dir():
        weights = [p for p in tracked if p.parts[:2] == ("s2s_lib", "weights")]
        assert weights, "s2s_lib/weights/ exists but nothing in it is committed: git+ installs commits only"
    print(f"Colab-like install and {CHAPTER.name}: {time.monotonic() - started:.0f} s")
