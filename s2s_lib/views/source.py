"""Show library code in a chapter without freezing it into the notebook.

A chapter that explains a function shows its real source, read with :mod:`inspect` when the
cell runs, never a pasted copy::

    show_source(gru_cell_step)                      # one function
    show_source(BahdanauDecoder.step, LuongDecoder.step)   # several, one after the other

The result renders as a highlighted Python block (Markdown) in Jupyter and in the built
book, and as plain text elsewhere. Cells that call it carry the ``nbval-ignore-output``
tag: editing the library (a comment, a check) then changes what the book shows but never
breaks ``pytest --nbval``; ``tests/test_notebooks.py`` checks that every shown object exists.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

__all__ = ["SourceView", "show_source"]


def _without_docstring(source: str) -> str:
    """``source`` (one def or class) with the docstring of its outer definition removed."""
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        lines = source.splitlines()
        first, last = body[0].lineno - 1, body[0].end_lineno  # 0-based start, exclusive end
        if len(body) == 1:  # only a docstring: keep a `...` so the code stays valid Python
            indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
            return "\n".join(lines[:first] + [indent + "..."] + lines[last:])
        return "\n".join(lines[:first] + lines[last:])
    return source


class SourceView:
    """The source of one or more functions/classes; ``_repr_markdown_`` for notebooks and the book.

    Attributes:
        parts: ``(title, source)`` per object: ``"s2s_lib.rnn.gru_cell_step (s2s_lib/rnn.py, lines
            120-151)"`` and its code.
    """

    def __init__(self, parts: list[tuple[str, str]]):
        self.parts = parts

    def __repr__(self) -> str:
        return "\n\n".join(f"# {title}\n{code}" for title, code in self.parts)

    def _repr_markdown_(self) -> str:
        return "\n\n".join(f"`{title}`\n\n```python\n{code}\n```" for title, code in self.parts)


def show_source(*objects, docstring: bool = False) -> SourceView:
    """Display the current source of functions, methods or classes of the library.

    Args:
        *objects: the functions / methods / classes to show (at least one).
        docstring: keep their docstrings (default: drop them; the chapter's prose explains).
    Returns:
        A :class:`SourceView` (a notebook displays it when it is the cell's last value).
    Raises:
        TypeError: an object has no Python source (a builtin, an instance, ...).
    """
    if not objects:
        raise TypeError("show_source needs at least one function, method or class")
    parts = []
    for obj in objects:
        target = inspect.unwrap(obj.fget if isinstance(obj, property) else obj)
        try:
            lines, start = inspect.getsourcelines(target)
            path = inspect.getsourcefile(target)
        except (TypeError, OSError):
            raise TypeError(f"show_source shows functions, methods or classes with Python source, "
                            f"got {type(obj).__name__} {obj!r}") from None
        code = textwrap.dedent("".join(lines)).rstrip()
        code = code if docstring else _without_docstring(code)
        parts_of_path = Path(path).parts
        rel = "/".join(parts_of_path[parts_of_path.index("s2s_lib"):]) if "s2s_lib" in parts_of_path else path
        name = f"{target.__module__}.{target.__qualname__}"
        parts.append((f"{name} ({rel}, lines {start}-{start + len(lines) - 1})", code))
    return SourceView(parts)
