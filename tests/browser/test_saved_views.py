"""Every view kind in Chromium straight from Python, without the book: a saved page.

Complements test_book.py (which only sees the views the chapters happen to show): every
kind in ``s2s_lib.views.KINDS`` is rendered from ``file://`` with no network, operated
with its registered interaction, attacked with hostile token text, and re-run to check
that rendering is idempotent.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from view_interactions import run_interaction

HOSTILE = '</script><img src=x onerror="window.__pwned=1">"\'&<b>한국어</b>'


def _png(label: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.set_title(label)
    ax.plot([0, 1], [0, 1] if label == "up" else [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    plt.close(fig)
    return buffer.getvalue()


def _all_kinds():
    from s2s_lib import views

    lines = views.line_grid(
        {(n, s): {"RNN": [s ** (n - t) for t in range(n)], HOSTILE: [1.0] * n}
         for n in (3, 6) for s in (0.5, 2.0)},
        {"sequence length": [3, 6], "weight scale": [0.5, 2.0]},
        title=HOSTILE, x_label="t", y_label="norm", log_y=True, y_scale="frame")
    cells = views.line_grid({"rnn": {"a": [1, 2, 3]}, "lstm": {"a": [3, 2, 1]}}, {"cell": ["rnn", "lstm"]},
                            title="select control", x_label="t", y_label="y")
    bars = views.prob_bars({0.5: [("go", 0.9), (HOSTILE, 0.1)], 2.0: [("go", 0.6), (HOSTILE, 0.4)]},
                           title="bars")
    weights = {"dot": [[0.9, 0.1], [0.2, 0.8]], "general": [[0.5, 0.5], [0.4, 0.6]]}
    attention = views.attention_explorer(
        [{"name": "나는 간다", "src_tokens": ["나는", HOSTILE], "tgt_tokens": ["I", "go"], "weights": weights},
         {"name": HOSTILE, "src_tokens": ["가", "나"], "tgt_tokens": ["a", "b"],
          "weights": {"dot": [[0.3, 0.7], [1.0, 0.0]], "general": [[0.0, 1.0], [0.6, 0.4]]}}],
        title="attention")
    figures = views.figure_switcher({"up": _png("up"), "down": _png("down")}, {"slope": ["up", "down"]},
                                    title="figures")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the decoding traces
    from test_views_decoding import traces

    t = traces()
    stepper = views.decode_stepper(t, title="stepper", names=[HOSTILE, "b", "c"])
    tree = views.beam_tree(t["beam (K=3)"][0], title="beam tree")
    return [lines, cells, bars, attention, figures, stepper, tree]


@pytest.mark.browser
def test_every_kind_works_in_a_saved_page(browser, tmp_path):
    from s2s_lib.views import KINDS

    shown = _all_kinds()
    assert {v.kind for v in shown} == set(KINDS), "add an example of the new kind to _all_kinds()"
    body = "\n".join(v.to_html() for v in shown)
    page_file = tmp_path / "views.html"
    page_file.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>',
                         encoding="utf-8")

    context = browser.new_context(viewport={"width": 1000, "height": 800}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(page_file.as_uri())
        states = page.locator(".s2sv").evaluate_all("vs => vs.map(v => v.getAttribute('data-s2s-rendered'))")
        assert states == ["1"] * len(shown)
        # hostile text is shown as text: no <img> or <b> was created from it, nothing ran
        assert page.evaluate("window.__pwned") is None
        assert page.locator(".s2sv img:not(.s2sv-figure), .s2sv b").count() == 0
        assert HOSTILE in page.locator(".s2sv").first.inner_text()
        for i in range(len(shown)):
            run_interaction(page, page.locator(".s2sv").nth(i))
        # re-running every view's script (a re-executed cell) changes nothing
        before = page.locator(".s2sv-body").count()
        page.evaluate("""() => document.querySelectorAll('.s2sv > script:not([type])').forEach(s => {
            const again = document.createElement('script');
            again.textContent = s.textContent;
            s.parentNode.appendChild(again);
        })""")
        assert page.locator(".s2sv-body").count() == before == len(shown)
        assert page.locator(".s2sv-controls").count() == len(shown)  # one control bar each
        assert not errors, errors
    finally:
        context.close()
