"""Matplotlib with Hangul, and the plots chapters share (first used in Chapter 0).

Matplotlib's default font (DejaVu Sans) has no Korean glyphs, so 한국어 labels come out
as empty boxes. Importing this module registers NanumGothic (shipped inside the
``koreanize-matplotlib`` wheel; we read its font files without importing that package,
which still imports the removed ``distutils``) or, failing that, any installed font with
Hangul (Noto Sans CJK, Nanum, Malgun Gothic, Apple SD Gothic Neo), and sets
``axes.unicode_minus=False`` (NanumGothic lacks the Unicode minus sign).

Shared helpers:
    :func:`heatmap` - a labelled matrix (attention weights (T, S), masks, confusion tables);
    :func:`bar_counts` - labelled bars (type counts, OOV rates).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import matplotlib
from matplotlib import font_manager

from s2s_lib.checks import check_bool, check_list, check_path, check_real, check_str, plain

__all__ = ["HANGUL_SAMPLE", "hangul_font_path", "has_glyphs", "setup_hangul", "heatmap",
           "bar_counts"]

HANGUL_SAMPLE = "가한글어절"
_FALLBACK_FAMILIES = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic",
                      "Apple SD Gothic Neo", "UnDotum")


def has_glyphs(font_path: str | Path, text: str = HANGUL_SAMPLE) -> bool:
    """True if the font file at ``font_path`` has a glyph for every character of ``text``."""
    from matplotlib.ft2font import FT2Font

    check_str(text, "text")
    path = check_path(font_path, "font_path")
    try:
        font = FT2Font(str(path))
    except RuntimeError as err:  # FreeType cannot read it (a missing file stays FileNotFoundError)
        raise ValueError(f"font_path {str(path)!r} is not a font file FreeType can read ({err})") from None
    return all(font.get_char_index(ord(c)) != 0 for c in text if not c.isspace())


def _bundled_nanum() -> list[Path]:
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    fonts = Path(list(spec.submodule_search_locations)[0]) / "fonts"
    return sorted(fonts.glob("NanumGothic*.ttf"))


def hangul_font_path() -> Path:
    """Path of a font file that renders Hangul (bundled NanumGothic first).

    Raises:
        RuntimeError: no font with Hangul glyphs is available.
    """
    for path in _bundled_nanum():
        if path.name == "NanumGothic.ttf" and has_glyphs(path):
            return path
    for family in _FALLBACK_FAMILIES:
        try:
            path = Path(font_manager.findfont(family, fallback_to_default=False))
        except ValueError:
            continue
        if has_glyphs(path):
            return path
    raise RuntimeError(
        "no font with Hangul glyphs found: pip install koreanize-matplotlib "
        "or install fonts-noto-cjk / fonts-nanum"
    )


def setup_hangul() -> str:
    """Register a Hangul font, make it matplotlib's default family, return its name."""
    path = hangul_font_path()
    for extra in _bundled_nanum():  # bold variants too, for titles
        font_manager.fontManager.addfont(str(extra))
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    # DejaVu Sans (matplotlib's own font) as a per-glyph fallback: NanumGothic lacks
    # e.g. SentencePiece's word marker "▁" (U+2581).
    matplotlib.rcParams["font.family"] = [name, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return name


FONT_NAME = setup_hangul()


def heatmap(matrix, x_labels: Sequence[str] | None = None, y_labels: Sequence[str] | None = None,
            *, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            ax=None, cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
            annotate: bool = False, fmt: str = "{:.2f}", colorbar: bool = True):
    """Draw a labelled matrix, e.g. attention weights with target rows and source columns.

    Args:
        matrix: (rows, cols) array-like or tensor of finite real numbers, rows, cols >= 1
            (bool masks are shown as 0/1).
        x_labels: ``cols`` labels for the columns (e.g. source pieces).
        y_labels: ``rows`` labels for the rows (e.g. target pieces).
        title, xlabel, ylabel: texts.
        ax: axes to draw on (a new figure if None).
        cmap, vmin, vmax: colour map and limits.
        annotate: write each value in its cell using ``fmt``.
        colorbar: add a colour bar.
    Returns:
        The matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if hasattr(matrix, "detach"):
        matrix = matrix.detach().cpu()
        if str(matrix.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            matrix = matrix.float()
        matrix = matrix.numpy()
    try:
        m = np.asarray(matrix)
    except (ValueError, TypeError) as err:
        raise ValueError(f"matrix must be a 2-D array (rows of one length): {err}") from None
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D (rows, cols), got shape {m.shape}")
    if m.dtype == bool:
        m = m.astype(float)
    if not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m):
        raise TypeError(f"matrix must be numeric, got dtype {m.dtype}")
    if m.size == 0:
        raise ValueError(f"matrix must have at least one row and one column, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"matrix holds {int(np.isnan(m).sum())} nan and {int(np.isinf(m).sum())} inf "
                         "value(s); a heatmap needs finite numbers")
    rows, cols = m.shape
    for name, labels in (("x_labels", x_labels), ("y_labels", y_labels)):
        if labels is not None:
            check_list(labels, name, "a list of labels", empty=True)
    if x_labels is not None and len(x_labels) != cols:
        raise ValueError(f"x_labels has {len(x_labels)} labels for {cols} columns")
    if y_labels is not None and len(y_labels) != rows:
        raise ValueError(f"y_labels has {len(y_labels)} labels for {rows} rows")
    for name, limit in (("vmin", vmin), ("vmax", vmax)):
        if limit is not None:
            check_real(limit, name)
    if vmin is not None and vmax is not None and vmin > vmax:
        raise ValueError(f"vmin ({vmin}) must not be above vmax ({vmax})")
    for name, flag in (("annotate", annotate), ("colorbar", colorbar)):
        check_bool(flag, name)
    if annotate:
        _format_check(fmt, m.flat[0])
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.45 * cols + 1.5), max(2.5, 0.4 * rows + 1.0)))
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    if x_labels is not None:
        x_labels = [str(x) for x in x_labels]
        if max(map(len, x_labels), default=0) <= 3:  # short pieces and characters: upright
            ax.set_xticklabels(x_labels)
        else:
            ax.set_xticklabels(x_labels, rotation=60, ha="right", rotation_mode="anchor")
    if y_labels is not None:
        ax.set_yticklabels(list(y_labels))
    if annotate:
        lo, hi = np.nanmin(m), np.nanmax(m)
        mid = (lo + hi) / 2
        for i in range(rows):
            for j in range(cols):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8,
                        color="black" if m[i, j] > mid else "white")
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def _format_check(fmt, value) -> None:
    """``fmt`` (a ``str.format`` pattern) can format ``value``, else a ValueError naming fmt."""
    check_str(fmt, "fmt")
    try:
        fmt.format(value)
    except (ValueError, TypeError, IndexError, KeyError) as err:
        raise ValueError(f"fmt {fmt!r} cannot format the value {value!r}: {err}") from None


def bar_counts(labels: Sequence[str], values: Sequence[float], *, title: str | None = None,
               ylabel: str | None = None, ax=None, log: bool = False, annotate: bool = True,
               fmt: str = "{:,}", color=None):
    """Bar chart with one labelled bar per value (e.g. vocabulary sizes per tokenization).

    Args:
        labels: one label per bar. values: finite real numbers (> 0 with ``log``).
        fmt: ``str.format`` pattern of the annotations.
    Returns:
        The matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt

    for name, seq in (("labels", labels), ("values", values)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__"):
            raise TypeError(f"{name} must be a list, got {type(seq).__name__}")
    labels, values = list(labels), list(values)
    if len(labels) != len(values):
        raise ValueError(f"labels ({len(labels)}) and values ({len(values)}) differ in length")
    if not labels:
        raise ValueError("labels is empty")
    check_bool(log, "log")
    check_bool(annotate, "annotate")
    for i, v in enumerate(values):
        if check_real(plain(v), f"values[{i}]") <= 0 and log:
            raise ValueError(f"values[{i}] = {v} cannot be drawn on a log axis (log=True needs values > 0)")
    if annotate:
        for v in values:
            _format_check(fmt, v)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.5, 1.1 * len(labels) + 1), 3.2))
    bars = ax.bar(range(len(values)), values, color=color)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    if log:
        ax.set_yscale("log")
    if annotate:
        for rect, v in zip(bars, values):
            ax.annotate(fmt.format(v), (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                        ha="center", va="bottom", fontsize=9, xytext=(0, 2),
                        textcoords="offset points")
    if title:
        ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax
