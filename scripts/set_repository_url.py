"""Write the repository's address from _config.yml everywhere else it appears.

    python scripts/set_repository_url.py                 # _config.yml -> notebooks, README
    python scripts/set_repository_url.py --url https://github.com/OWNER/REPO   # change it first
    python scripts/set_repository_url.py --check         # exit 1 where anything disagrees

``repository.url`` in _config.yml (which the book's repository and launch buttons use) is the
one setting; ``repository.branch`` goes into the Colab links. From them this rewrites

* the Colab install line (``%pip install ... "git+URL"``) in the *source* of the first code
  cell of every ``book/*.ipynb`` (outputs untouched; the JSON keeps the committed layout);
* in README.md: the ``pip install "git+URL"`` line, the Colab links
  (``colab.research.google.com/github/OWNER/REPO/blob/BRANCH/...``) and the GitHub Pages
  address (``https://OWNER.github.io/REPO/``).

The address must be a GitHub repository (Colab and GitHub Pages need one).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB_URL = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9-]+)/(?P<repo>[A-Za-z0-9._-]+?)(\.git)?/?$")
# In a notebook's install cell and README's pip line: the quoted git+ URL after `pip install`.
INSTALL = re.compile(r'(pip install\b[^"\n]*")git\+https://[^"\s]+(")')
COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+/")
PAGES = re.compile(r"https://[A-Za-z0-9-]+\.github\.io/[A-Za-z0-9._-]+/")
CONFIG_URL_LINE = re.compile(r"^(repository:[^\n]*\n(?:[ \t]+[^\n]*\n|\n)*?[ \t]+url:[ \t]*)(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Repository:
    url: str  # https://github.com/OWNER/REPO
    owner: str
    name: str
    branch: str

    @property
    def install(self) -> str:
        return f"git+{self.url}"

    @property
    def colab(self) -> str:
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.branch}/"

    @property
    def pages(self) -> str:
        return f"https://{self.owner.lower()}.github.io/{self.name}/"


def parse_url(url: str, branch: str = "main") -> Repository:
    match = GITHUB_URL.match(url.strip())
    if not match:
        raise ValueError(f"repository.url must look like https://github.com/OWNER/REPO, got {url!r}")
    owner, name = match["owner"], match["repo"]
    return Repository(f"https://github.com/{owner}/{name}", owner, name, branch)


def read_config(root: Path = ROOT) -> Repository:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    if not repo.get("url"):
        raise ValueError(f"{root / '_config.yml'} has no repository.url")
    return parse_url(str(repo["url"]), str(repo.get("branch") or "main"))


def set_config_url(url: str, root: Path = ROOT) -> bool:
    """Rewrite repository.url in _config.yml as text (its comments stay); True if it changed."""
    path = root / "_config.yml"
    text = path.read_text(encoding="utf-8")
    new_url = parse_url(url).url
    new, count = CONFIG_URL_LINE.subn(lambda m: m[1] + new_url, text, count=1)
    if count != 1:
        raise ValueError(f"{path}: no `url:` line under `repository:` to rewrite")
    if yaml.safe_load(new)["repository"]["url"] != new_url:
        raise ValueError(f"{path}: rewriting repository.url did not give {new_url}")
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def _sub_install(text: str, repo: Repository, where: str) -> str:
    new, count = INSTALL.subn(lambda m: m[1] + repo.install + m[2], text)
    if count == 0:
        raise ValueError(f'{where}: no `pip install ... "git+https://..."` line found')
    return new


def notebook_text(path: Path, repo: Repository) -> str:
    """The notebook's JSON with its install cell's source rewritten (the rest as it was)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    source = "".join(first["source"])
    first["source"] = _sub_install(source, repo, f"{path.name}: first code cell").splitlines(keepends=True)
    return json.dumps(nb, ensure_ascii=False, indent=1) + "\n"


def readme_text(path: Path, repo: Repository) -> str:
    text = _sub_install(path.read_text(encoding="utf-8"), repo, path.name)
    text = COLAB.sub(repo.colab, text)
    return PAGES.sub(repo.pages, text)


def planned(root: Path, repo: Repository) -> dict[Path, str]:
    """Every file this script writes, with the text it should have."""
    files = {path: notebook_text(path, repo) for path in sorted((root / "book").glob("*.ipynb"))}
    files[root / "README.md"] = readme_text(root / "README.md", repo)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="set repository.url in _config.yml to this first")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file disagrees")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # for the tests
    args = parser.parse_args(argv)
    try:
        if args.url:
            if args.check:
                parser.error("--check and --url exclude each other")
            set_config_url(args.url, args.root)
        repo = read_config(args.root)
        stale = [(path, text) for path, text in planned(args.root, repo).items()
                 if path.read_text(encoding="utf-8") != text]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path, text in stale:
        if args.check:
            print(f"{path.relative_to(args.root)}: does not use {repo.url}")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(args.root)}: now uses {repo.url}")
    if not stale:
        print(f"every notebook and README.md use {repo.url}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
