"""The GitHub workflows: what `make workflows` checks them with, and what they must agree on.

`make workflows` validates .github/workflows/*.yml against the GitHub workflow schema that
check-jsonschema ships (offline). These tests make sure that check really rejects a broken
workflow, and that the workflows stay in step with the Makefile and _config.yml.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK = [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.github-workflows"]


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _makefile_recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    return [line.strip() for line in match[1].splitlines()]


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    good = (WORKFLOWS / "tests.yml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yml"
    broken.write_text(good.replace("runs-on:", "runs_on:"), encoding="utf-8")
    assert subprocess.run([*CHECK, WORKFLOWS / "tests.yml"], check=False, capture_output=True).returncode == 0
    result = subprocess.run([*CHECK, broken], check=False, capture_output=True, text=True)
    assert result.returncode == 1 and "'runs-on' is a required property" in result.stdout


def test_pages_builds_with_make_book_and_uploads_its_output():
    workflow = _load("pages.yml")
    steps = _steps(workflow)
    assert [s["run"] for s in steps if "run" in s] == ["make book"]
    assert _makefile_recipe("book") == ["$(BIN)/jupyter-book build . -W -n --keep-going"]  # -> _build/html
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload["with"]["path"] == "_build/html"
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    # The build renders committed outputs only: no notebook runs, so no corpus and no GPU.
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["execute_notebooks"] == "off"


def test_tests_workflow_runs_make_test_on_python_311():
    workflow = _load("tests.yml")
    assert "pull_request" in workflow[True]  # PyYAML reads the key `on` as True
    (job,) = workflow["jobs"].values()
    assert [s["run"] for s in job["steps"] if "run" in s] == ["make test"]
    assert job["container"].startswith("python:3.11-")
    (setup,) = [s for s in _steps(_load("pages.yml")) if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["python-version"] == "3.11"


def test_workflows_pin_the_makefiles_torch():
    default = re.search(r"^TORCH_SPEC \?= (\S+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)[1]
    for name in ("pages.yml", "tests.yml"):
        workflow = _load(name)
        places = [workflow, *workflow["jobs"].values(), *_steps(workflow)]
        (spec,) = [place["env"]["TORCH_SPEC"] for place in places if "TORCH_SPEC" in place.get("env", {})]
        assert spec.split()[0] == default and "--index-url" in spec.split()
