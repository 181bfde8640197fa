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


@interaction("stepper")
def stepper(page, view):
    def shown():
        return view.evaluate("""v => [v.querySelector('.s2sv-step-label').textContent,
            Array.from(v.querySelectorAll('.s2sv-bar-row')).map(r => [
                r.querySelector('.s2sv-bar-label').textContent, r.querySelector('.s2sv-bar-fill').style.width]),
            v.querySelector('.s2sv-stepper').textContent]""")

    def label():
        return view.locator(".s2sv-step-label").inner_text()

    assert view.locator(".s2sv-bar-row").count() > 0, "no probability bars drawn"
    assert label().startswith("step 1 / "), f"the stepper does not start at step 1: {label()!r}"
    _eventually(page, view, """v => Array.from(v.querySelectorAll('.s2sv-bar-fill'))
        .some(f => f.getBoundingClientRect().width > 0)""", "all bars have zero width")
    before = shown()
    view.locator("button.s2sv-next").click()
    after = shown()
    assert label().startswith("step 2 / "), f"'next' did not advance the step: {label()!r}"
    assert after[1] != before[1], "the bars did not change after 'next'"
    view.locator("button.s2sv-prev").click()
    assert label().startswith("step 1 / ") and shown() == before, "'prev' did not go back to step 1"
    slider = view.locator("input.s2sv-step-slider")
    _operate(slider)
    assert label().startswith("step 2 / "), "the step slider did not move the step"
    selects = view.locator(".s2sv-controls select")  # sentence and strategy (shown if > 1 choice)
    for k in range(selects.count()):
        before = shown()
        what = _operate(selects.nth(k))
        assert shown() != before, f"the stepper did not redraw after {what}"
        assert label().startswith("step 1 / "), f"the stepper did not restart at step 1 after {what}"
    hyps = view.locator("button.s2sv-hyp")
    for _ in range(selects.last.locator("option").count() if selects.count() else 0):
        if hyps.count():  # a beam-search strategy: try its hypotheses
            break
        _operate(selects.last)
    if hyps.count():
        view.locator("button.s2sv-next").click()
        if hyps.count() > 1:
            before = shown()
            hyps.nth(1).click()
            assert hyps.nth(1).get_attribute("aria-pressed") == "true", "the hypothesis was not selected"
            assert shown() != before, "selecting another hypothesis did not redraw its bars"


@interaction("beam_tree")
def beam_tree(page, view):
    def drawn():
        return view.evaluate("""v => [v.querySelectorAll('g.s2sv-node').length,
            v.querySelectorAll('path.s2sv-edge.s2sv-win').length,
            Array.from(v.querySelectorAll('path.s2sv-edge')).map(p => p.getAttribute('d')).join(' ')]""")

    nodes, winning, paths = drawn()
    assert nodes > 1, f"the tree has {nodes} node(s)"
    assert winning >= 1, "no highlighted winning path"
    assert "NaN" not in paths, "an edge has NaN coordinates"
    _eventually(page, view, "v => v.querySelector('svg.s2sv-tree').getBoundingClientRect().height > 0",
                "the tree has zero size")
    slider = view.locator(".s2sv-controls input[type=range]")
    if slider.count():
        _operate(slider)  # at the last step: one step back hides the last step's nodes
        assert drawn()[0] < nodes, "moving the step slider back did not hide any node"
        _operate(slider)
    assert drawn()[0] == nodes, "the full tree did not come back"
    toggle = view.locator(".s2sv-controls .s2sv-buttons")
    if view.locator("g.s2sv-node-pruned").count():
        _operate(toggle)
        assert drawn()[0] < nodes and view.locator("g.s2sv-node-pruned").count() == 0, \
            "hiding the pruned nodes did not remove them"
    view.locator("g.s2sv-node.s2sv-win").last.locator("circle, rect").hover()  # the winner's last node
    assert "log p" in view.locator(".s2sv-caption").last.inner_text(), "hovering a node did not describe it"
