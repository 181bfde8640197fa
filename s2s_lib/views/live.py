"""Live mode: recompute a view from Python with ipywidgets controls while a kernel runs.

The precomputed views (``s2s_lib.views.line_grid`` and friends) work everywhere, but only
over the grid computed in advance. ``live`` lets a learner try anything (their own Korean
sentence, any sequence length) by calling ``render(**values)`` again whenever a control
changes, and showing the returned view in an ``ipywidgets.Output``::

    live(lambda sentence, temperature: translate_view(model, sentence, temperature),
         sentence="나는 학생이에요.", temperature=[0.5, 1.0, 2.0])

Notebook convention: tag such a cell ``remove-output`` (the static book has no kernel, so
it shows the precomputed view of a neighbouring cell instead) and ``nbval-ignore-output``
(widget ids change on every run). Without ipywidgets or without a kernel (a plain Python
script, a static page) ``live`` returns the view for the starting values with a note saying
why it cannot be live.
"""
from __future__ import annotations

import numbers
import traceback
from typing import Any, Callable

from s2s_lib.checks import check_callable

__all__ = ["live", "LiveUnavailable"]


class LiveUnavailable:
    """What :func:`live` returns where it cannot run: a note plus the static first view."""

    def __init__(self, reason: str, view: Any):
        self.reason = reason
        self.view = view

    def __repr__(self) -> str:
        return f"live view unavailable: {self.reason}"

    def _repr_html_(self) -> str:
        import html

        note = f'<p class="s2sv-live-note"><em>Live view unavailable: {html.escape(self.reason)}</em></p>'
        inner = self.view._repr_html_() if hasattr(self.view, "_repr_html_") else html.escape(repr(self.view))
        return note + inner


def _has_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _initial(name: str, spec: Any) -> Any:
    """The starting value of a control given as list / str / bool / ipywidgets widget."""
    if hasattr(spec, "value") and hasattr(spec, "observe"):  # an ipywidgets widget
        return spec.value
    if isinstance(spec, (str, bool)):
        return spec
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(f"control {name!r} must list at least one value")
        return spec[0]
    raise TypeError(f"control {name!r} must be a list of choices, a str (text box), a bool "
                    f"(checkbox) or an ipywidgets widget, got {type(spec).__name__}")


def _widget(name: str, spec: Any):
    import ipywidgets as widgets

    if isinstance(spec, widgets.ValueWidget) or (hasattr(spec, "value") and hasattr(spec, "observe")):
        return spec
    style = {"description_width": "initial"}
    if isinstance(spec, bool):
        return widgets.Checkbox(value=spec, description=name, style=style)
    if isinstance(spec, str):
        return widgets.Text(value=spec, description=name, continuous_update=False, style=style,
                            layout=widgets.Layout(width="32em"))
    options = list(spec)
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in options)
    if numeric and len(options) > 1:
        return widgets.SelectionSlider(options=options, value=options[0], description=name,
                                       continuous_update=False, style=style)
    return widgets.Dropdown(options=options, value=options[0], description=name, style=style)


def live(render: Callable[..., Any], /, **controls: Any):
    """Show ipywidgets controls that re-render ``render(**values)`` on every change.

    Args:
        render: a function taking one keyword argument per control and returning a view
            (or anything with ``_repr_html_``, or a str of HTML).
        **controls: one per argument of ``render``: a list/tuple of choices (numbers get a
            selection slider, others a dropdown), a str (a text box, e.g. a Korean
            sentence), a bool (a checkbox) or a ready ipywidgets widget.
    Returns:
        An ``ipywidgets.VBox`` (controls above an ``Output`` holding the current view) when a
        kernel runs; otherwise a :class:`LiveUnavailable` that shows the view for the
        starting values and says why it is not live. An exception raised by ``render`` is
        shown in the output (its last line) instead of the view.
    """
    check_callable(render, "render")
    if not controls:
        raise ValueError("live needs at least one control, e.g. live(render, sentence='...')")
    values = {name: _initial(name, spec) for name, spec in controls.items()}
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return LiveUnavailable("ipywidgets is not installed (pip install ipywidgets)", render(**values))
    if not _has_kernel():
        return LiveUnavailable("no Jupyter kernel is running, so nothing can be recomputed", render(**values))
    return _build(render, controls)


def _build(render: Callable[..., Any], controls: dict):
    """The widget tree of :func:`live` (separate so tests can build it without a kernel)."""
    import ipywidgets as widgets
    from IPython.display import HTML

    inputs = {name: _widget(name, spec) for name, spec in controls.items()}
    out = widgets.Output()

    def update(_change=None):
        values = {name: w.value for name, w in inputs.items()}
        out.outputs = ()
        try:
            view = render(**values)
        except Exception as err:  # show the learner what went wrong, keep the widgets alive
            out.append_stderr("".join(traceback.format_exception_only(type(err), err)))
            return
        out.append_display_data(HTML(view) if isinstance(view, str) else view)

    for w in inputs.values():
        w.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox(list(inputs.values()), layout=widgets.Layout(flex_flow="row wrap")), out])
    box.s2s_inputs = inputs  # for tests and for learners who want to set values from code
    box.s2s_output = out
    box.s2s_update = update
    return box
