"""The view kinds the chapters use: line charts, probability bars, attention heatmaps, figures.

Each constructor validates its arguments (errors name the argument), turns numpy arrays and
torch tensors into plain lists, precomputes everything the browser needs and returns a
:class:`~s2s_lib.views.core.View`. Chapters: vanishing gradients (``line_grid``), softmax
temperature (``prob_bars``), attention (Bahdanau et al. 2015, Luong et al. 2015:
``attention_explorer``), and anything else as pictures (``figure_switcher``).
"""
from __future__ import annotations

import base64
import io
import math
from typing import Any, Mapping, Sequence

from s2s_lib.checks import (check_bool, check_choice, check_controls, check_int, check_list,
                            check_mapping, check_matrix, check_number, check_numbers, check_str,
                            check_tokens, plain)

from .core import View, control_spec, control_specs, grid_frames, label

__all__ = ["line_grid", "prob_bars", "attention_explorer", "figure_switcher"]


def _line_points(value: Any, name: str) -> tuple[list, list]:
    """``ys`` (x = 1..n) or ``(xs, ys)`` -> (xs, ys) as lists of numbers of equal length."""
    value = plain(value)
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(plain(v), Sequence) and not isinstance(plain(v), str) for v in value)):
        xs = check_numbers(value[0], f"{name} xs", digits=6)
        ys = check_numbers(value[1], f"{name} ys")
        if len(xs) != len(ys):
            raise ValueError(f"{name}: xs and ys must have the same length, got {len(xs)} and {len(ys)}")
        return xs, ys
    ys = check_numbers(value, name)
    return list(range(1, len(ys) + 1)), ys


def line_grid(series: Mapping, controls: Mapping[str, Sequence], *, title: str, x_label: str,
              y_label: str, log_y: bool = False, y_scale: str = "shared",
              initial: Mapping | None = None) -> View:
    """A line chart whose lines are chosen by sliders/selects, all precomputed.

    Example (the vanishing-gradient chapter)::

        line_grid({(10, 0.5): {"RNN": rnn_norms, "LSTM": lstm_norms}, ...},
                  {"sequence length": [10, 20, 50], "weight scale": [0.5, 1.0, 1.5]},
                  title="Gradient norm ‖∂L/∂h_t‖", x_label="time step t",
                  y_label="norm", log_y=True)

    Args:
        series: maps each combination of control values, a tuple in control order (a bare
            value when there is one control, ``()`` when there are none), to
            ``{line name: ys}`` with x = 1..n, or ``{line name: (xs, ys)}``.
        controls: ordered dict control name -> list of values. Numeric values get a slider,
            strings a select. May be empty (a static chart, e.g. for :func:`live`).
        title, x_label, y_label: the chart's texts.
        log_y: logarithmic y axis (every y must then be > 0).
        y_scale: ``"shared"``: one y range for all combinations, so moving a control shows
            how the lines grow or shrink; ``"frame"``: each combination gets the range of its
            own lines (for values spanning many orders of magnitude, which one shared range
            would squash).
        initial: optional dict control name -> starting value (default: each first value).
    Returns:
        A ``View`` of kind ``"line_grid"``.
    """
    ctrls = check_controls(controls, "controls")
    specs = control_specs(ctrls, initial)
    check_bool(log_y, "log_y")
    check_choice(y_scale, "y_scale", ["shared", "frame"])
    names: list[str] = []
    frames, frame_ranges = [], []
    y_all = []
    for combo, lines in grid_frames(series, ctrls, "series"):
        where = f"series[{combo!r}]"
        if not isinstance(lines, Mapping) or not lines:
            raise TypeError(f"{where} must be a non-empty dict of line name -> ys, "
                            f"got {type(lines).__name__}")
        frame = []
        for line_name, value in lines.items():
            check_str(line_name, f"{where} line name {line_name!r}")
            xs, ys = _line_points(value, f"{where}[{line_name!r}]")
            if log_y and min(ys) <= 0:
                raise ValueError(f"{where}[{line_name!r}] has y <= 0, which log_y=True cannot "
                                 "draw; clamp it (e.g. max(y, 1e-30)) or use log_y=False")
            if line_name not in names:
                names.append(line_name)
            frame.append({"line": names.index(line_name), "x": xs, "y": ys})
            y_all.extend(ys)
        frames.append(frame)
        frame_ranges.append(_y_range([y for line in frame for y in line["y"]], log_y))
    data = {
        "title": check_str(title, "title"), "x_label": check_str(x_label, "x_label"),
        "y_label": check_str(y_label, "y_label"), "log_y": bool(log_y), "y_range": _y_range(y_all, log_y),
        "controls": specs, "names": names, "frames": frames,
    }
    if y_scale == "frame":
        data["y_ranges"] = frame_ranges
    return View("line_grid", data)


def _y_range(ys: list, log_y: bool) -> list:
    """``[lo, hi]`` of the y axis for these values (from 0 on a linear axis)."""
    lo, hi = min(ys), max(ys)
    if not log_y:
        lo = min(lo, 0)
    if not math.isfinite(hi - lo):
        raise ValueError(f"series: the y values span [{lo:g}, {hi:g}], wider than a float can hold, "
                         "so no axis can be drawn; rescale them")
    return [lo, hi]


def prob_bars(grid: Mapping, *, control: str = "temperature", title: str,
              value_label: str = "probability", initial: Any = None) -> View:
    """Horizontal probability bars, one set per value of a slider (e.g. the temperature).

    Example (the softmax-temperature chapter)::

        prob_bars({0.5: [("go", 0.71), ("eat", 0.2), ...], 1.0: [...], 2.0: [...]},
                  title="Next-word probabilities after “I want to”")

    Args:
        grid: maps each control value (in slider order) to a list of ``(label, value)``
            pairs, labels str (tokens), values finite and >= 0. Bars keep the given order.
        control: the control's name shown beside the slider.
        title: the view's title.
        value_label: what the numbers are (column header).
        initial: the control value to start at (default: the first).
    Returns:
        A ``View`` of kind ``"prob_bars"``; bar lengths share one scale across values.
    """
    check_str(control, "control")
    check_mapping(grid, "grid", what=f"a dict of {control} value -> list of (label, prob)")
    if not grid:
        raise ValueError("grid must not be empty")
    ctrls = check_controls({control: list(grid.keys())}, "grid keys")
    frames = []
    for value, bars in grid_frames(grid, ctrls, "grid"):
        where = f"grid[{label(value[0])}]"
        bars = plain(bars)
        if isinstance(bars, (str, bytes)) or not isinstance(bars, Sequence) or not bars:
            raise TypeError(f"{where} must be a non-empty list of (label, prob) pairs")
        frame = []
        for i, pair in enumerate(bars):
            if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                raise TypeError(f"{where}[{i}] must be a (label, prob) pair, got {pair!r}")
            p = check_number(pair[1], f"{where}[{i}] prob")
            if p < 0:
                raise ValueError(f"{where}[{i}] prob must be >= 0, got {p}")
            frame.append([check_str(pair[0], f"{where}[{i}] label"), p])
        frames.append(frame)
    top = max(p for frame in frames for _, p in frame)
    data = {"title": check_str(title, "title"), "value_label": check_str(value_label, "value_label"),
            "max": top if top > 0 else 1.0,
            "control": control_spec(control, ctrls[0][1], initial, "initial"), "frames": frames}
    return View("prob_bars", data)


def attention_explorer(items: Sequence[Mapping], *, title: str,
                       initial_score: str | None = None) -> View:
    """Attention weights of several sentences and score functions as an explorable heatmap.

    Example (the attention chapter)::

        attention_explorer([{"name": "나는 학생이에요.", "src_tokens": ["나는", "학생이에요", "."],
                             "tgt_tokens": ["I", "am", "a", "student", "."],
                             "weights": {"dot": w_dot, "additive": w_add}}],   # each (T, S)
                           title="Where does each English word look?")

    Args:
        items: a non-empty list of dicts with ``name`` (str, shown in the sentence picker),
            ``src_tokens`` (S Korean tokens), ``tgt_tokens`` (T English tokens) and
            ``weights``: score-function name -> matrix of shape (T, S) with values in [0, 1]
            (row t = the attention of target token t over the source). Every item must have
            the same score-function names.
        title: the view's title.
        initial_score: the score function shown first (default: the first one).
    Returns:
        A ``View`` of kind ``"attention_explorer"``.
    """
    items = check_list(items, "items", "a list of dicts")
    scores: list[str] | None = None
    out = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        check_mapping(item, where, ("name", "src_tokens", "tgt_tokens", "weights"))
        src = check_tokens(item["src_tokens"], f"{where}['src_tokens']")
        tgt = check_tokens(item["tgt_tokens"], f"{where}['tgt_tokens']")
        weights = item["weights"]
        if not isinstance(weights, Mapping) or not weights:
            raise TypeError(f"{where}['weights'] must be a non-empty dict of score name -> (T, S) matrix")
        names = [check_str(k, f"{where}['weights'] key {k!r}") for k in weights]
        if scores is None:
            scores = names
        elif sorted(names) != sorted(scores):
            raise ValueError(f"{where}['weights'] has score functions {names}, but items[0] has {scores}")
        matrices = []
        for score in scores:
            m = check_matrix(weights[score], f"{where}['weights'][{score!r}]", (len(tgt), len(src)))
            if any(w < 0 or w > 1 + 1e-6 for row in m for w in row):
                raise ValueError(f"{where}['weights'][{score!r}] must hold weights in [0, 1]")
            matrices.append(m)
        out.append({"name": check_str(item["name"], f"{where}['name']"), "src": src, "tgt": tgt,
                    "weights": matrices})
    start = 0 if initial_score is None else scores.index(
        check_choice(initial_score, "initial_score", scores))
    return View("attention_explorer", {"title": check_str(title, "title"), "scores": scores,
                                       "initial_score": start, "items": out})


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_bytes(figure: Any, name: str, dpi: int, close: bool) -> bytes:
    if isinstance(figure, (bytes, bytearray)):
        if not bytes(figure[:8]) == _PNG_MAGIC:
            raise ValueError(f"{name} must be PNG bytes (starting with the PNG signature)")
        return bytes(figure)
    if not hasattr(figure, "savefig"):
        raise TypeError(f"{name} must be a matplotlib Figure or PNG bytes, got {type(figure).__name__}")
    buffer = io.BytesIO()
    # No "Software" metadata: the bytes then depend only on the pixels.
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    if close:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return buffer.getvalue()


def figure_switcher(figures: Mapping, controls: Mapping[str, Sequence], *, title: str,
                    initial: Mapping | None = None, dpi: int = 96, close: bool = True) -> View:
    """Precomputed matplotlib figures (or PNG images) switched by controls.

    A fallback for anything that is hard to draw in SVG: every combination is rendered to a
    PNG now and embedded (base64), so keep the grid small (each image is some 20-60 kB).

    Args:
        figures: maps each combination of control values (tuple in control order; a bare
            value for one control) to a matplotlib ``Figure`` or PNG ``bytes``.
        controls: ordered dict control name -> list of values.
        title: the view's title.
        initial: optional dict control name -> starting value.
        dpi: resolution for figures, 1 to 600.
        close: close each Figure after rendering it (so the notebook does not show it too).
    Returns:
        A ``View`` of kind ``"figure_switcher"``.
    """
    ctrls = check_controls(controls, "controls")
    specs = control_specs(ctrls, initial)
    dpi = check_int(dpi, "dpi", maximum=600)  # every PNG is embedded in the page
    check_bool(close, "close")
    frames = []
    for combo, figure in grid_frames(figures, ctrls, "figures"):
        png = _png_bytes(figure, f"figures[{combo!r}]", dpi, close)
        frames.append("data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    return View("figure_switcher", {
        "title": check_str(title, "title"), "controls": specs, "frames": frames})
