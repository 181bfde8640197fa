"""What the browser test does with each kind of view (``data-s2s-kind``) it finds on a page.

Every function performs real user input through Playwright (keyboard on sliders, choosing
an option, clicking, hovering) and asserts that what the view shows changed. The test fails
on a view kind with no entry here, so a new kind cannot ship untested: register one with
``@interaction("<kind>")`` (e.g. a stepper: click "next" and check the step advanced; a beam
tree: check the tree has nodes and that choosing a step redraws it).
"""
from __future__ import annotations

from typing import Callable

INTERACTIONS: dict[str, Callable] = {}


def interaction(kind: str):
    """Register ``fn(page, view)`` as the interaction for views of ``kind``."""
    def register(fn):
        INTERACTIONS[kind] = fn
        return fn
    return register


def run_interaction(page, view) -> str:
    """Run the interaction registered for ``view``'s kind; returns the kind."""
    kind = view.get_attribute("data-s2s-kind")
    if kind not in INTERACTIONS:
        raise AssertionError(f"no browser interaction registered for view kind {kind!r}: "
                             "add one to tests/browser/view_interactions.py")
    INTERACTIONS[kind](page, view)
    return kind


# ------------------------------------------------------------------ helpers

def _operate(control) -> str:
    """Change one control the way a person would; returns a description of what was done."""
    tag = control.evaluate("e => e.tagName.toLowerCase()")
    if tag == "input":  # a range slider: one keyboard step (back one step at the end)
        value, top = int(control.input_value()), int(control.get_attribute("max"))
        control.focus()
        control.press("ArrowRight" if value < top else "ArrowLeft")
        assert int(control.input_value()) != value, "the slider did not move"
        return f"slider {value} -> {control.input_value()}"
    if tag == "select":
        count = control.locator("option").count()
        current = int(control.input_value())
        control.select_option(index=(current + 1) % count)
        return f"select option {current} -> {(current + 1) % count}"
    buttons = control.locator("button[aria-pressed='false']")  # a toggle group
    assert buttons.count() > 0, "a toggle group has no other choice"
    text = buttons.first.inner_text()
    buttons.first.click()
    return f"toggle to {text!r}"


def _eventually(page, view, predicate: str, message: str, timeout: float = 3000) -> None:
    """Wait until ``predicate`` (JS, given the view's element) holds; CSS transitions take time."""
    try:
        page.wait_for_function(predicate, arg=view.element_handle(), timeout=timeout)
    except Exception as err:  # playwright's TimeoutError -> a test failure with our message
        raise AssertionError(message) from err


def _controls(view):
    """Every operable control of a view (range inputs, selects, toggle groups)."""
    found = view.locator(".s2sv-controls input[type=range], .s2sv-controls select, "
                         ".s2sv-controls .s2sv-buttons")
    return [found.nth(i) for i in range(found.count())]


def _each_control_changes(view, snapshot: Callable[[], object], what: str) -> int:
    for control in _controls(view):
        before = snapshot()
        done = _operate(control)
        after = snapshot()
        assert after != before, f"{what} did not change after {done}"
    return len(_controls(view))


# ------------------------------------------------------------------ the kinds

@interaction("line_grid")
def line_grid(page, view):
    def paths():
        return view.locator("path.s2sv-line").evaluate_all("ps => ps.map(p => p.getAttribute('d'))")

    drawn = paths()
    assert drawn and all(d and d.startswith("M") and "NaN" not in d for d in drawn), f"no lines drawn: {drawn}"
    assert view.locator(".s2sv-legend-item").count() == len(drawn)
    _each_control_changes(view, paths, "the SVG path d")


@interaction("prob_bars")
def prob_bars(page, view):
    def bars():
        return view.evaluate("""v => Array.from(v.querySelectorAll('.s2sv-bar-row')).map(r => [
            r.querySelector('.s2sv-bar-label').textContent,
            r.querySelector('.s2sv-bar-fill').style.width,
            r.querySelector('.s2sv-bar-value').textContent])""")

    shown = bars()
    assert shown, "no bars drawn"
    _eventually(page, view, """v => Array.from(v.querySelectorAll('.s2sv-bar-fill'))
        .some(f => f.getBoundingClientRect().width > 0)""", f"all bars have zero width: {shown}")
    assert _each_control_changes(view, bars, "the bar widths/labels") >= 1


@interaction("attention_explorer")
def attention_explorer(page, view):
    def cells():
        return view.evaluate("""v => Array.from(v.querySelectorAll('th, td.s2sv-cell')).map(
            c => c.textContent + '|' + getComputedStyle(c).backgroundColor)""")

    assert view.locator("td.s2sv-cell").count() > 0, "no heatmap cells"
    sentence = view.locator(".s2sv-controls select")
    if sentence.count() and sentence.locator("option").count() > 1:
        before = cells()
        _operate(sentence)
        assert cells() != before, "the heatmap did not change after choosing another sentence"
    toggle = view.locator(".s2sv-controls .s2sv-buttons")
    if toggle.count() and toggle.locator("button").count() > 1:
        before = cells()
        _operate(toggle)
        assert cells() != before, "the heatmap did not change after switching the score function"
    rows = view.locator("tbody tr.s2sv-row")
    row = rows.nth(rows.count() - 1)
    row.hover()
    assert "s2sv-active" in (row.get_attribute("class") or ""), "hovering a target row did not highlight it"
    _eventually(page, view, """v => Array.from(v.querySelectorAll('.s2sv-vbar'))
        .some(b => b.getBoundingClientRect().height > 0)""", "no weight bars under the source words")
    token = row.locator("th").inner_text()
    assert token in view.locator(".s2sv-caption").inner_text(), "the caption does not name the hovered word"
    page.mouse.move(0, 0)
    _eventually(page, view, "v => v.querySelectorAll('tr.s2sv-active').length === 0",
                "the highlight stayed after the mouse left")


@interaction("figure_switcher")
def figure_switcher(page, view):
    image = view.locator("img.s2sv-figure")

    def picture():
        return image.get_attribute("src")

    loaded = "i => i.complete && i.naturalWidth > 0"
    assert picture().startswith("data:image/png;base64,"), "the figure is not an embedded PNG"
    _eventually(page, image, loaded, "the figure is not shown")
    assert _each_control_changes(view, picture, "the image src") >= 1
    _eventually(page, image, loaded, "the new figure is not shown")
