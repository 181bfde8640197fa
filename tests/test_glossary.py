"""The glossary page and the chapters agree on every key term and its Korean name."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = yaml.safe_load((ROOT / "book" / "glossary.yml").read_text(encoding="utf-8"))


def _markdown(chapter: str) -> str:
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.sub(r"\s+", " ", text)


CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
TEXT = {c: _markdown(c) for c in CHAPTERS}


def _uses(en: str) -> re.Pattern:
    """``en`` (maybe *emphasised*, plural -s) followed by a parenthesis starting with Hangul (what follows
    a comma or semicolon inside it, e.g. "(순환 신경망, RNN)", is not part of the Korean name)."""
    return re.compile(r"(?<![A-Za-z-])\**" + re.escape(en) + r"(?:e?s)?\**\s*\(([가-힣][가-힣 ·]*)(?:[,;][^)]*)?\)",
                      re.I)


def _korean_names(en: str, text: str) -> list[str]:
    """The Korean given for ``en`` in ``text``, skipping longer glossary terms that end with it
    (the "alignment" in "soft alignment (소프트 정렬)" is the other term)."""
    prefixes = [o["en"].lower()[: -len(en)].strip() for o in ENTRIES
                if o["en"].lower().endswith(" " + en.lower())]
    names = []
    entry = next((o for o in ENTRIES if o["en"] == en), {})
    matches = [m for form in [en] + entry.get("forms", []) for m in _uses(form).finditer(text)]
    for m in matches:
        before = text[: m.start()].lower().replace("*", "").rstrip()
        if not any(before.endswith(p) for p in prefixes):
            names.append(m.group(1).strip())
    return names


def test_the_glossary_page_is_up_to_date_and_in_the_toc():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_glossary.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "book/glossary" in (ROOT / "_toc.yml").read_text(encoding="utf-8")


def test_entries_are_complete_and_unique():
    seen = set()
    for e in ENTRIES:
        assert {"en", "ko", "chapter"} <= set(e) <= {"en", "ko", "chapter", "symbol", "forms", "elsewhere"}, e
        assert e["ko"] not in e.get("elsewhere", []), e
        assert e["chapter"] in CHAPTERS, e
        assert e["en"].lower() not in seen, f"{e['en']} twice"
        seen.add(e["en"].lower())


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["en"])
def test_the_defining_chapter_gives_the_korean_term(entry):
    found = _korean_names(entry["en"], TEXT[entry["chapter"]])
    assert entry["ko"] in found, (f"{entry['chapter']} should write '{entry['en']} ({entry['ko']})' where it "
                                  f"introduces the term; found {found or 'no Korean'}")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["en"])
def test_no_chapter_gives_the_term_another_korean_name(entry):
    others = {c: sorted(set(_korean_names(entry["en"], TEXT[c])) - {entry["ko"]}) for c in CHAPTERS}
    others = {c: k for c, k in others.items() if k}
    assert not others, f"'{entry['en']}' is {entry['ko']} in the glossary but {others} elsewhere"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.get("elsewhere")], ids=lambda e: e["en"])
def test_no_chapter_uses_the_names_of_other_texts(entry):
    # e.g. "context vector" is 컨텍스트 벡터 here; 문맥 벡터, common elsewhere, must not creep in.
    # Naming the other term beside the book's, "(어텐션, 주의 메커니즘)", is allowed.
    used = {c: [k for k in entry["elsewhere"] if k in TEXT[c].replace(f"{entry['ko']}, {k}", entry["ko"])]
            for c in CHAPTERS}
    used = {c: k for c, k in used.items() if k}
    assert not used, f"'{entry['en']}' is {entry['ko']} in this book, but {used} use another name"
