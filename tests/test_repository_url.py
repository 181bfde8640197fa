"""The repository's address is set once: ``repository.url`` in _config.yml.

Every notebook's Colab install cell, README's pip line, its Colab links and its GitHub Pages
address must agree with it (``python scripts/set_repository_url.py`` rewrites them), and the
script must rewrite all of them, and nothing else, when the address changes.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "set_repository_url.py"
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
INSTALL_URL = re.compile(r'pip install\b[^"\n]*"git\+(https://[^"\s]+)"')


def _repository(root: Path = ROOT) -> tuple[str, str]:
    repo = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return repo["url"], repo.get("branch", "main")


def _install_urls(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    return INSTALL_URL.findall("".join(first["source"]))


def test_config_url_is_a_github_repository():
    url, _ = _repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_installs_from_the_config_url(path):
    url, _ = _repository()
    assert _install_urls(path) == [url], f"{path.name}: run scripts/set_repository_url.py"


def test_readme_uses_the_config_url():
    url, branch = _repository()
    owner, name = url.removeprefix("https://github.com/").split("/")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert INSTALL_URL.findall(readme) == [url]
    colab = re.findall(r"https://colab\.research\.google\.com/github/([^/\s]+/[^/\s]+/blob/[^/\s]+)/", readme)
    assert colab and set(colab) == {f"{owner}/{name}/blob/{branch}"}
    pages = re.findall(r"https://([\w-]+\.github\.io/[\w.-]+)/", readme)
    assert pages and set(pages) == {f"{owner.lower()}.github.io/{name}"}


def test_script_finds_nothing_to_change():
    result = subprocess.run([sys.executable, SCRIPT, "--check"], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_script_moves_every_place_to_a_new_url(tmp_path):
    shutil.copy(ROOT / "_config.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "book", tmp_path / "book")
    new = "https://github.com/Some-Fork/course"
    subprocess.run([sys.executable, SCRIPT, "--root", tmp_path, "--url", new + ".git"],
                   check=True, capture_output=True)

    assert _repository(tmp_path)[0] == new
    config_before = (ROOT / "_config.yml").read_text(encoding="utf-8").splitlines()
    config_after = (tmp_path / "_config.yml").read_text(encoding="utf-8").splitlines()
    assert [i for i, (a, b) in enumerate(zip(config_before, config_after, strict=True)) if a != b] == \
        [i for i, line in enumerate(config_before) if line.strip().startswith("url:")]  # comments kept
    for path in NOTEBOOKS:
        copy = tmp_path / "book" / path.name
        assert _install_urls(copy) == [new]
        before, after = json.loads(path.read_text(encoding="utf-8")), json.loads(copy.read_text(encoding="utf-8"))
        assert [c.get("outputs") for c in after["cells"]] == [c.get("outputs") for c in before["cells"]]
        first_code = next(i for i, c in enumerate(before["cells"]) if c["cell_type"] == "code")
        before["cells"][first_code]["source"] = after["cells"][first_code]["source"]
        assert after == before, f"{path.name}: more than the install URL changed"
        assert copy.read_text(encoding="utf-8") == json.dumps(after, ensure_ascii=False, indent=1) + "\n"
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "seq2seq-course/seq2seq-course" not in readme and "seq2seq-course.github.io" not in readme
    assert f'"git+{new}"' in readme and "some-fork.github.io/course/" in readme
    assert "colab.research.google.com/github/Some-Fork/course/blob/main/" in readme

    result = subprocess.run([sys.executable, SCRIPT, "--root", tmp_path, "--check"], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_script_refuses_an_address_that_is_not_a_github_repository(tmp_path):
    shutil.copy(ROOT / "_config.yml", tmp_path)
    result = subprocess.run([sys.executable, SCRIPT, "--root", tmp_path, "--url", "https://example.org/a/b"],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 1 and "github.com/OWNER/REPO" in result.stderr
    assert (tmp_path / "_config.yml").read_text(encoding="utf-8") == (ROOT / "_config.yml").read_text(encoding="utf-8")
