"""Write book/glossary.md from book/glossary.yml (English, Korean, symbol, defining chapter).

    python scripts/build_glossary.py          # rewrite book/glossary.md
    python scripts/build_glossary.py --check  # exit 1 if book/glossary.md is out of date

tests/test_glossary.py runs the check and verifies that the chapters use the same terms.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE, PAGE = ROOT / "book" / "glossary.yml", ROOT / "book" / "glossary.md"


def chapter_title(chapter: str) -> str:
    """The first heading of a chapter notebook (for the table)."""
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("# "):
                return line[2:].strip()
    return chapter


def render(entries: list[dict]) -> str:
    lines = ["# Glossary (용어집)", "",
             "The key terms of the book, in English and Korean, with the symbol the equations use and the",
             "chapter that introduces each one. Generated from `book/glossary.yml` by",
             "`scripts/build_glossary.py`; a test checks that the chapters use exactly these Korean terms.",
             "The last column gives other Korean names you may meet in other books and papers.", "",
             "| English | 한국어 | symbol | introduced in | elsewhere also |", "|---|---|---|---|---|"]
    titles: dict[str, str] = {}
    for e in sorted(entries, key=lambda e: e["en"].lower()):
        chapter = e["chapter"]
        titles.setdefault(chapter, chapter_title(chapter))
        symbol = f"${e['symbol']}$" if e.get("symbol") else ""
        elsewhere = ", ".join(e.get("elsewhere", []))
        lines.append(f"| {e['en']} | {e['ko']} | {symbol} | [{titles[chapter]}]({chapter}.ipynb) | {elsewhere} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(yaml.safe_load(SOURCE.read_text(encoding="utf-8")))
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python scripts/build_glossary.py")
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
