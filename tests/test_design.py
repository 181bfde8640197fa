"""The library's shape, checked: checks in proportion, one home for each idea, layered imports.

Run as a script to print the table of validation / logic lines per module::

    python tests/test_design.py

How lines are counted (``ast`` over the module's source):

* *code lines*: the physical lines of every statement, without docstrings, comments and
  blank lines; *logic lines* are the code lines that are not validation lines (the
  algorithm), and the ratio is validation / logic;
* *validation lines*: the lines of ``if ...: raise ...`` blocks (an ``if`` whose body only
  raises, with its ``elif``/``else`` branches of the same kind), of ``for`` loops that only
  hold such blocks, of ``raise TypeError/ValueError`` statements anywhere, of statements
  with a call to a ``check_*`` helper in them, and the whole of any function named ``check*``/``_check*``
  defined in the module.
"""
from __future__ import annotations

import ast
import pkgutil
import re
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "s2s_lib"
CORE = ("models.py", "attention.py", "train.py", "beam.py", "decode.py")
MAX_RATIO = 0.2


def _docstring_lines(tree) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def _code_lines(source: str) -> set[int]:
    """Line numbers that hold code (not blank, not only a comment)."""
    return {i for i, line in enumerate(source.splitlines(), start=1)
            if line.strip() and not line.strip().startswith("#")}


def _span(node) -> set[int]:
    return set(range(node.lineno, node.end_lineno + 1))


def _only_raises(body) -> bool:
    return bool(body) and all(isinstance(s, ast.Raise) or (isinstance(s, ast.If) and _is_guard(s))
                              or (isinstance(s, ast.For) and _only_raises(s.body)) for s in body)


def _is_guard(node: ast.If) -> bool:
    """``if cond: raise ...`` (``elif``/``else`` branches raising too, or absent)."""
    return _only_raises(node.body) and (not node.orelse or _only_raises(node.orelse))


def _calls_check(node) -> bool:
    """A simple statement (expression, assignment, return) with a call to a check_* helper in it."""
    if not isinstance(node, ast.Expr | ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Return):
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = sub.func.id if isinstance(sub.func, ast.Name) else getattr(sub.func, "attr", "")
            if name.startswith(("check_", "_check")):
                return True
    return False


def measure(path: Path) -> tuple[int, int]:
    """(validation lines, code lines) of one module; logic lines = code - validation."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    code = _code_lines(source) - _docstring_lines(tree)
    validation: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_guard(node):
            validation |= _span(node)
        elif isinstance(node, ast.For) and _only_raises(node.body):
            validation |= _span(node)
        elif isinstance(node, ast.FunctionDef) and re.match(r"_?check", node.name):
            validation |= _span(node)
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                getattr(node.exc.func, "id", "") in ("TypeError", "ValueError"):
            validation |= _span(node)
        elif _calls_check(node):
            validation |= _span(node)
    return len(validation & code), len(code)


def ratios() -> dict[str, tuple[int, int, float]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        v, n = measure(path)
        out[str(path.relative_to(PACKAGE))] = (v, n - v, v / max(n - v, 1))
    return out


@pytest.mark.parametrize("module", CORE)
def test_checks_stay_in_proportion_in_the_core_modules(module):
    v, n = measure(PACKAGE / module)
    ratio = v / (n - v)
    assert ratio <= MAX_RATIO, f"{module}: {v} validation lines to {n - v} logic lines = {ratio:.2f} > {MAX_RATIO}"


def test_the_measure_counts_what_it_says(tmp_path):
    import textwrap
    src = textwrap.dedent('''
        """doc"""
        def f(x):
            """doc
            more"""
            # a comment
            if x < 0:
                raise ValueError("x")
            check_int(x, "x")
            y = x + 1
            return y
    ''')
    probe = tmp_path / "probe.py"
    probe.write_text(src)
    assert measure(probe) == (3, 6)  # def, if, raise, check, y =, return


def test_no_check_function_is_defined_outside_checks_py():
    """Argument checks live in s2s_lib/checks.py (the views' payload checks too)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel in ("checks.py",):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and re.match(r"_?check", node.name):
                offenders.append(f"{rel}:{node.lineno} {node.name}")
    assert not offenders, offenders


def test_no_public_name_is_defined_twice():
    """Every public function or class has one home (re-exports are imports, not definitions)."""
    homes: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                homes.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    twice = {name: where for name, where in homes.items() if len(where) > 1}
    assert not twice, twice


def _imports_of(module: str) -> set[str]:
    """The s2s_lib modules ``module`` imports at its top level."""
    path = PACKAGE / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE / module.replace(".", "/") / "__init__.py"
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # imports inside functions too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("s2s_lib"):
            base = node.module.removeprefix("s2s_lib").lstrip(".")
            if base:
                deps.add(base)
            else:  # from s2s_lib import zoo, set_seed: modules count as themselves
                for alias in node.names:
                    sub = alias.name
                    is_module = (PACKAGE / f"{sub}.py").exists() or (PACKAGE / sub).is_dir()
                    deps.add(sub if is_module else "__init__")
        elif isinstance(node, ast.ImportFrom) and node.level:
            deps.add(module.rsplit(".", 1)[0] + "." + (node.module or ""))
    return {d for d in deps if d and d != module}


# DESIGN.md's layers, top to bottom: a module imports only modules listed before it.
LAYERS = ("checks", "__init__", "tokenize", "batching", "data", "tasks", "plotting", "rnn", "gradients",
          "softmax", "attention", "models", "transformer", "ensemble", "train", "checkpoint", "length_penalty", "trace",
          "beam", "decode", "toy", "bleu", "evaluate", "zoo", "attention_study", "sutskever", "exercises", "views")


def test_modules_import_only_the_layers_above_them():
    modules = ["__init__", "views"] + [m.name for m in pkgutil.walk_packages([str(PACKAGE)]) if not m.ispkg]
    assert sorted(modules) == sorted(LAYERS), "add new modules to LAYERS and to DESIGN.md's layout"
    for m in LAYERS[:-1]:
        above = set(LAYERS[: LAYERS.index(m)])
        assert _imports_of(m) <= above, f"{m} imports {sorted(_imports_of(m) - above)} from below it"


def test_import_graph_is_acyclic():
    modules = [m.name for m in pkgutil.walk_packages([str(PACKAGE)]) if not m.ispkg]
    graph = {m: _imports_of(m) for m in modules}
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in graph.get(m, ()):
            visit(d, path + [m])
        state[m] = 2

    for m in modules:
        visit(m, [])


if __name__ == "__main__":
    print(f"{'module':28s} {'validation':>10s} {'logic':>6s} {'ratio':>6s}")
    total_v = total_n = 0
    for name, (v, n, r) in ratios().items():
        total_v, total_n = total_v + v, total_n + n  # n: logic lines
        print(f"{name:28s} {v:10d} {n:6d} {r:6.2f}{'  *' if name in CORE else ''}")
    print(f"{'all':28s} {total_v:10d} {total_n:6d} {total_v / total_n:6.2f}")
    sys.exit(0)
