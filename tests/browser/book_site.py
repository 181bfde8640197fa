"""Where the built book is and which pages it has (shared by conftest.py and test_book.py).

Root: the repository, or ``$S2S_BOOK_DIR`` to test a scratch copy of the book.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOK = Path(os.environ.get("S2S_BOOK_DIR", ROOT)).resolve()
HTML = BOOK / "_build" / "html"
SCREENSHOTS = BOOK / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
# Two known, harmless messages of sphinx-book-theme; nothing else is tolerated.
HARMLESS = ("Identifier 'THEBE_JS_URL' has already been declared", "Got invalid theme mode")


def toc_pages(book: Path = BOOK) -> list[str]:
    """Every page of the book's ``_toc.yml`` (root, parts, chapters, sections), in order,
    as paths without suffix, e.g. ``["book/intro", "book/00_data_and_tokenization"]``."""
    import yaml

    toc = yaml.safe_load((book / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return [str(Path(p).with_suffix("")) if Path(p).suffix in {".md", ".ipynb"} else p for p in pages]
