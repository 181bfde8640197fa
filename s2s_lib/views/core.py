"""The core of the book's interactive views: one self-contained HTML fragment per view.

Used by every chapter with a widget, and explained in the appendix "How the interactive views
work" (``book/99_interactive_views.ipynb``).

Why not plain ipywidgets? In the published (static) book there is no kernel: ipywidgets are
frozen snapshots whose outputs never change, and their JavaScript comes from a CDN, so offline
they are blank boxes. A :class:`View` instead carries its data and its code inside one fragment::

    <div id="s2sv-<uuid4 hex>" class="s2sv" data-s2s-kind="<kind>">
      <style data-s2sv-asset="<version>">...views.css...</style>
      <script type="application/json">...the data, with < > & U+2028 U+2029 escaped...</script>
      <div class="s2sv-fallback">(shown only if JavaScript does not run)</div>
      <script data-s2sv-asset="<version>">...core.js + <kind>.js...;
              window.s2sViews.boot("s2sv-<uuid4 hex>", document.currentScript)</script>
    </div>

No URL, CDN or require.js is involved, so the same fragment works in Jupyter, JupyterLab,
Colab, VS Code, a saved ``.html`` file and the static book. The data is precomputed in
Python (every combination of the controls), so moving a control only redraws in the browser.
When a kernel is running, :func:`s2s_lib.views.live` recomputes the same views from Python.

The shared runtime ``core.js`` is defined once per page as ``window.s2sViews`` (guarded by a
version hash of the asset files); every fragment inlines it anyway because Colab and VS Code
run each output in its own iframe. ``boot`` renders each container once (it sets
``data-s2s-rendered``), so re-running a cell or showing two views of one kind never clash.

Adding a view kind (e.g. a decoding stepper):

1. Write ``s2s_lib/views/<kind>.js``::

       (function (ui) {
         ui.register("<kind>", function (root, data, ui) {
           // build DOM under `root` from the JSON `data` with ui.el / ui.svg / ui.controlBar;
           // set user text only through textContent (ui.el's third argument)
         });
       })(window.s2sViews);

2. Write a Python constructor (see ``kinds.py``) that validates its arguments with the
   ``check_*`` helpers of :mod:`s2s_lib.checks` (errors name the argument; the JSON payload
   checks are at the end of that module), turns arrays into plain lists and
   returns ``View("<kind>", data)``; export it from ``s2s_lib/views/__init__.py``.
3. Add a browser interaction for the kind in ``tests/browser/view_interactions.py`` (the
   browser test fails on a kind it cannot exercise), unit tests in ``tests/test_views.py``,
   and show it in the appendix notebook.

Notebooks: nbval compares ``text/html`` outputs, so ``tests/nbval_sanitize.cfg`` replaces
the ``s2sv-<id>`` ids, and the inlined assets (``data-s2sv-asset``) and embedded PNGs can be
sanitized the same way; data values are rounded (4 significant digits) so that the last
digits of floats cannot make outputs differ between runs.
"""
from __future__ import annotations

import hashlib
import html
import itertools
import json
import re
import uuid
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from s2s_lib.checks import check_mapping, check_str, check_type, plain

__all__ = ["View", "escape_json", "KINDS"]

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_PACKAGE = "s2s_lib.views"


# --------------------------------------------------------------------------- assets

def _asset_names() -> list[str]:
    return sorted(p.name for p in resources.files(_PACKAGE).iterdir()
                  if p.name.endswith((".js", ".css")))


@lru_cache(maxsize=None)
def _read_asset(name: str) -> str:
    text = resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise RuntimeError(f"asset {name} must not contain a closing </script> or </style> tag")
    return text


@lru_cache(maxsize=None)
def asset_version() -> str:
    """A short hash of every ``*.js`` / ``*.css`` file: a changed asset gets a new runtime."""
    digest = hashlib.sha1()
    for name in _asset_names():
        digest.update(name.encode() + b"\0" + _read_asset(name).encode("utf-8"))
    return digest.hexdigest()[:12]


def _kinds() -> tuple[str, ...]:
    return tuple(n[:-3] for n in _asset_names() if n.endswith(".js") and n != "core.js")


KINDS = _kinds()
"""The view kinds that have a renderer (``s2s_lib/views/<kind>.js``)."""


# --------------------------------------------------------------------------- JSON

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}


def escape_json(data: Any) -> str:
    """Serialise ``data`` as JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc., so no user string (say a token
    ``</script><img src=x onerror=alert(1)>``) can close the script element, and U+2028/2029
    are escaped for old JavaScript parsers. ``JSON.parse`` restores the original text.
    NaN and infinity are refused (``ValueError``): JSON has no such numbers.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group(0)], text)


# --------------------------------------------------------------------------- View

class View:
    """One interactive view: a kind (the name of its JS renderer) plus plain JSON data.

    Build views with the constructors (:func:`line_grid`, :func:`prob_bars`, ...), not
    directly. A view shows itself in a notebook (``_repr_html_``) and can be saved as a
    standalone page (:meth:`save`). Every rendering gets a fresh ``s2sv-<uuid4 hex>`` id,
    so the same view displayed twice on one page does not clash.

    Args:
        kind: the renderer's name, e.g. ``"line_grid"`` (``s2s_lib/views/line_grid.js``).
        data: JSON-serialisable data for the renderer; ``data["title"]`` is shown above it.
    """

    def __init__(self, kind: str, data: Mapping[str, Any]):
        check_str(kind, "kind")
        if not _KIND_RE.match(kind) or kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        check_type(data, "data", Mapping, "a mapping")
        self.kind = kind
        self.data = dict(data)
        try:
            self._json = escape_json(self.data)  # fails early on NaN / non-JSON data
        except (TypeError, ValueError) as err:
            kind = TypeError if isinstance(err, TypeError) else ValueError
            raise kind(f"data must be plain JSON data (str keys; lists, dicts, str, finite numbers, "
                       f"bools, None): {err}") from None

    @property
    def title(self) -> str:
        return str(self.data.get("title", ""))

    def __repr__(self) -> str:
        return f"<s2s_lib view {self.kind}: {self.title!r}>"

    def to_html(self) -> str:
        """The self-contained HTML fragment (a new container id on every call)."""
        view_id = f"s2sv-{uuid.uuid4().hex}"
        version = asset_version()
        core = _read_asset("core.js").replace("__S2SV_VERSION__", version)
        script = (f"{core}\n{_read_asset(self.kind + '.js')}\n"
                  f'window.s2sViews.boot("{view_id}", document.currentScript);')
        fallback = (f"Interactive view \u201c{html.escape(self.title)}\u201d: it needs JavaScript. "
                    "In Jupyter, run this cell (or trust the notebook) to see it.")
        return (
            f'<div id="{view_id}" class="s2sv" data-s2s-kind="{self.kind}">'
            f'<style data-s2sv-asset="{version}">{_read_asset("views.css")}</style>'
            f'<script type="application/json">{self._json}</script>'
            f'<div class="s2sv-fallback">{fallback}</div>'
            f'<script data-s2sv-asset="{version}">{script}</script>'
            "</div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def save(self, path: str | Path) -> Path:
        """Write the view as a standalone HTML page (works offline, from ``file://``).

        Args:
            path: the ``.html`` file to write; parent folders must exist.
        Returns:
            The path written, as a ``Path``.
        """
        path = Path(check_type(path, "path", (str, Path), "a str or Path"))
        if path.is_dir():
            raise ValueError(f"path {str(path)!r} is a folder; give the .html file to write")
        page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"<title>{html.escape(self.title or self.kind)}</title>\n</head>\n"
                f"<body>\n{self.to_html()}\n</body>\n</html>\n")
        path.write_text(page, encoding="utf-8")
        return path


# --------------------------------------------------------------------------- controls

def label(value: Any) -> str:
    """How a control value is shown: ``0.5`` -> "0.5", ``1.0`` -> "1", "lstm" -> "lstm"."""
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def control_spec(cname: str, values: list, initial: Any, name: str) -> dict:
    """The JSON description of one control: a slider for numbers, a select for strings.

    ``initial`` is the starting value (``None``: the first); ``name`` names it in errors.
    """
    numeric = all(not isinstance(v, str) for v in values)
    if initial is None:
        index = 0
    else:
        initial = plain(initial)
        if initial not in values:
            raise ValueError(f"{name} for {cname!r} must be one of {values}, got {initial!r}")
        index = values.index(initial)
    return {"name": cname, "labels": [label(v) for v in values],
            "widget": "slider" if numeric else "select", "initial": index}


def control_specs(controls: list[tuple[str, list]], initial: Mapping | None,
                  name: str = "initial") -> list[dict]:
    """:func:`control_spec` of every control (from :func:`~s2s_lib.checks.check_controls`).

    ``initial`` optionally maps control names to starting values (default: each first value);
    an unknown control name is a ``ValueError`` naming ``name``.
    """
    start = {} if initial is None else check_mapping(
        initial, name, what="a dict of control name -> value")
    names = [c for c, _ in controls]
    unknown = [k for k in start if k not in names]
    if unknown:
        raise ValueError(f"{name} names unknown control(s) {unknown}; controls are {names}")
    return [control_spec(c, values, start.get(c), name) for c, values in controls]


def grid_frames(grid: Any, controls: list[tuple[str, list]], name: str) -> list:
    """The values of ``grid`` for every combination of the controls, in row-major order.

    ``grid`` maps a tuple of control values (in control order) to a frame; with a single
    control a bare value is accepted as key, with no controls the key is ``()``.
    Raises ``ValueError`` naming ``name`` on a missing or unknown combination.
    """
    check_mapping(grid, name, what="a dict keyed by control values")
    names = tuple(c for c, _ in controls)
    table = {}
    for key, value in grid.items():
        key = plain(key)
        if not isinstance(key, tuple):
            key = tuple(key) if isinstance(key, list) else (key,)
        if len(key) != len(controls):
            raise ValueError(f"{name} key {key!r} must be a tuple of {len(controls)} values "
                             f"for the controls {names}")
        table[tuple(plain(k) for k in key)] = value
    combos = list(itertools.product(*(values for _, values in controls)))
    missing = [c for c in combos if c not in table]
    if missing:
        raise ValueError(f"{name} has no entry for {len(missing)} control combination(s) of "
                         f"{names}, e.g. {missing[0]!r}")
    extra = set(table) - set(combos)
    if extra:
        raise ValueError(f"{name} has keys that match no control values of {names}, "
                         f"e.g. {sorted(extra, key=repr)[0]!r}")
    return [(combo, table[combo]) for combo in combos]
