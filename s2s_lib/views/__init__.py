"""Interactive views that work without a kernel (the static book) and with one (live mode).

Precomputed views, one self-contained HTML fragment each (no CDN, no require.js):

* :func:`line_grid` - SVG line chart, controls pick the lines (vanishing gradients).
* :func:`prob_bars` - probability bars under a slider (softmax temperature).
* :func:`attention_explorer` - attention heatmap, sentence picker, score-function toggle.
* :func:`figure_switcher` - precomputed matplotlib figures switched by controls.
* :func:`decode_stepper` - greedy / sampling / beam search, one token at a time.
* :func:`beam_tree` - the tree of hypotheses of a beam search.

:func:`live` recomputes any of them from Python with ipywidgets when a kernel runs;
:func:`show_source` shows the library's current code in a chapter.
How it works, and how to add a view kind: see :mod:`s2s_lib.views.core` and the book's
appendix "How the interactive views work".
"""
from .core import KINDS, View, escape_json
from .decoding import beam_tree, decode_stepper
from .kinds import attention_explorer, figure_switcher, line_grid, prob_bars
from .live import LiveUnavailable, live
from .source import SourceView, show_source

__all__ = ["View", "KINDS", "escape_json", "line_grid", "prob_bars", "attention_explorer",
           "figure_switcher", "decode_stepper", "beam_tree", "live", "LiveUnavailable", "show_source",
           "SourceView"]
