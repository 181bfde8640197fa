"""Drive every page of the built book in Chromium, as a reader would.

For each page listed in ``_toc.yml``: it loads; no JavaScript error is logged or thrown;
no view, widget area or cell output is empty; every image loads and every diagram
(``book/figures/*.svg``) has alt text; a full-page screenshot goes to
``_build/screenshots/<page>.png``; and every interactive view on it is operated (slider
moved, sentence chosen, row hovered, ...) with a check that what it shows changed
(see ``view_interactions.py``). Run: ``python -m pytest tests/browser -m browser``.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

from book_site import HARMLESS, HTML, SCREENSHOTS, toc_pages
from view_interactions import INTERACTIONS, run_interaction

# Run in the page: every place where something should be shown but is not.
FIND_EMPTY = r"""() => {
  const problems = [];
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const folded = e => e.closest("details:not([open])") !== null;
  document.querySelectorAll(".s2sv").forEach((v, i) => {
    const what = `view ${i} (${v.getAttribute("data-s2s-kind")})`;
    const state = v.getAttribute("data-s2s-rendered");
    if (state !== "1") problems.push(`${what} was not rendered (data-s2s-rendered=${state})`);
    const body = v.querySelector(":scope > .s2sv-body");
    if (!body || !body.querySelector(":scope > :not(.s2sv-title)")) problems.push(`${what} has no content`);
    else if (!folded(v) && !shown(body)) problems.push(`${what} has zero size`);
    if (v.querySelector(".s2sv-fallback")) problems.push(`${what} still shows its no-JavaScript fallback`);
    if (v.querySelector(".s2sv-error")) problems.push(`${what}: ${v.querySelector(".s2sv-error").textContent}`);
  });
  document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').forEach((s, i) => {
    const host = s.parentElement;
    if (!host.querySelector(".jupyter-widgets") || !shown(host))
      problems.push(`ipywidgets output ${i} is blank (the static book has no kernel: tag the cell remove-output)`);
  });
  document.querySelectorAll(".jupyter-widgets").forEach((w, i) => {
    if (!folded(w) && (!shown(w) || (w.innerText.trim() === "" && w.children.length === 0)))
      problems.push(`ipywidgets area ${i} is blank`);
  });
  document.querySelectorAll(".bd-article img").forEach((img, i) => {
    const src = img.getAttribute("src") || "";
    if (!img.complete || img.naturalWidth === 0) problems.push(`image ${i} (${src.slice(0, 60)}) did not load`);
    if (/(^|\/)figures\//.test(src) && !(img.getAttribute("alt") || "").trim())
      problems.push(`diagram ${src} has no alt text`);
  });
  document.querySelectorAll(".cell_output").forEach((o, i) => {
    const media = o.querySelector("img, svg, canvas, iframe, table, video, .s2sv, mjx-container, .math");
    if (!media && o.innerText.trim() === "" && o.textContent.trim() === "")
      problems.push(`cell output ${i} is empty`);
    else if (!folded(o) && !shown(o)) problems.push(`cell output ${i} has zero size`);
  });
  return problems;
}"""


def _harmless(text: str) -> bool:
    return any(message in text for message in HARMLESS)


@pytest.mark.browser
def test_pages_are_discovered_from_the_toc(built_book):
    pages = toc_pages()
    assert pages and pages[0].endswith("intro")
    missing = [p for p in pages if not (HTML / f"{p}.html").exists()]
    assert not missing, f"toc pages missing from the build: {missing}"

    class Links(HTMLParser):
        hrefs: list[str] = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "a" and "reference internal" in (attrs.get("class") or ""):
                self.hrefs.append(attrs["href"])

    parser = Links()
    parser.feed((HTML / f"{pages[0]}.html").read_text(encoding="utf-8"))
    sidebar = {re.sub(r"\.html(#.*)?$", "", urljoin(f"{pages[0]}.html", h)) for h in parser.hrefs
               if re.search(r"\.html(#.*)?$", h) and "://" not in h}
    not_tested = sorted(p for p in sidebar if p not in pages and p not in {"genindex", "search", "index"})
    assert set(pages[1:]) <= sidebar, f"sidebar links {sorted(sidebar)} lack toc pages {pages[1:]}"
    assert not not_tested, f"pages linked from the sidebar but not tested: {not_tested}"


@pytest.mark.browser
def test_page(page_name, browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_local(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" and not _harmless(m.text) else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}") if not _harmless(str(e)) else None)
    try:
        response = page.goto(f"{site}{page_name}.html", wait_until="load")
        assert response is not None and response.ok, f"{page_name}.html did not load"
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        try:  # views render (and images decode) right after load; give them a moment, then report
            page.wait_for_function("""() => Array.from(document.querySelectorAll('.s2sv'))
                .every(v => v.getAttribute('data-s2s-rendered'))
                && Array.from(document.querySelectorAll('.bd-article img')).every(i => i.complete)""",
                                   timeout=5000)
        except Exception:
            pass
        problems = page.evaluate(FIND_EMPTY)
        shot = SCREENSHOTS / f"{page_name}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert not problems, f"{page_name}: " + "; ".join(problems)

        views = page.locator(".s2sv")
        failures = []
        for i in range(views.count()):
            view = views.nth(i)
            try:
                run_interaction(page, view)
            except AssertionError as err:
                failures.append(f"view {i} ({view.get_attribute('data-s2s-kind')}): {err}")
        assert not failures, f"{page_name}: " + "; ".join(failures)
        assert not errors, f"{page_name}: JavaScript errors: {errors}" + (
            f" (blocked requests to other hosts: {blocked})" if blocked else "")
    finally:
        context.close()


def test_every_view_kind_has_a_browser_interaction():
    """Runs with the unit tests: a view kind without an interaction cannot ship."""
    from s2s_lib.views import KINDS

    missing = sorted(set(KINDS) - set(INTERACTIONS))
    assert not missing, f"add an interaction for {missing} to tests/browser/view_interactions.py"


def test_unknown_view_kinds_fail():
    class FakeView:
        def get_attribute(self, name):
            return "made_up_kind"

    with pytest.raises(AssertionError, match="no browser interaction registered for view kind 'made_up_kind'"):
        run_interaction(None, FakeView())
