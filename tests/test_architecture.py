"""The codebase keeps its own rules: one owner per run-folder file name, one error rule, small pieces.

(The direction of imports is tests/test_layers.py.)
"""
from __future__ import annotations

import ast
from pathlib import Path

from vaelab import run

PACKAGE = Path(__file__).resolve().parents[1] / "vaelab"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
RUN_FOLDER_NAMES = [run.CONFIG, run.WEIGHTS, run.CHECKPOINT, run.METRICS, *run.ARTIFACTS.values(),
                    *(name for name in run.OUTPUTS.values() if "." in name), "property-"]


def sources() -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def strings_in_code(tree: ast.AST) -> list[ast.Constant]:
    """Every string constant except docstrings (documentation may name files; code must not)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_only_the_run_module_spells_a_run_folder_file_name():
    spelled = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}"
               for path, text in sources().items() if path != PACKAGE / "run.py"
               for node in strings_in_code(ast.parse(text)) for name in RUN_FOLDER_NAMES if name in node.value]
    assert spelled == []


def test_the_run_module_names_every_file_it_owns_as_a_constant():
    text = (PACKAGE / "run.py").read_text()
    for name in (run.CONFIG, run.WEIGHTS, run.CHECKPOINT, run.METRICS):
        assert text.count(f'"{name}"') == 1, name  # defined once; everything else uses the constant


def test_no_module_raises_the_base_error_itself():
    """VaelabError is the base of the three kinds (errors.py); a raise picks one of them."""
    raised = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
              for path, text in sources().items() for node in ast.walk(ast.parse(text))
              if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
              and getattr(node.exc.func, "id", None) == "VaelabError"]
    assert raised == []


def test_no_file_is_longer_than_the_limit():
    long = {str(p.relative_to(PACKAGE.parent)): t.count("\n") for p, t in sources().items()
            if t.count("\n") > MAX_FILE_LINES}
    assert long == {}


def test_no_function_is_longer_than_the_limit_outside_argument_tables():
    """`register` functions of the CLI are argument tables: one add_argument per line, nothing else."""
    long = []
    for path, text in sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "register":
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []
