"""The layers: bot/ (Slack, Teams, HTTP, settings) may use jobs/ and storage/, and jobs/ may use
storage/, never the other way round: a new destination or surface needs no change below bot/,
and the store knows nothing of what runs on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABOVE = {"jobs": ("bot",), "storage": ("bot", "jobs")}  # a layer -> the layers it must not import


def imported(tree: ast.AST) -> set[str]:
    """Every module a module imports, anywhere in it (inside functions too). A relative import
    cannot reach bot/ from a sibling top-level package, so only absolute ones are collected."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def within(names: set[str], layers: tuple[str, ...]) -> set[str]:
    return {name for name in names if name.split(".")[0] in layers}


def modules() -> list[Path]:
    found = sorted(path for layer in ABOVE for path in (ROOT / layer).rglob("*.py"))
    assert len(found) > 20, "the walk found the modules"
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_its_own(path):
    above = ABOVE[path.relative_to(ROOT).parts[0]]
    assert within(imported(ast.parse(path.read_text(encoding="utf-8"), str(path))), above) == set()


def test_the_check_sees_every_kind_of_import():
    source = "import bot\nfrom bot.settings import Settings\ndef f():\n    import bot.emit as e\nimport botany, jobs\n"
    assert within(imported(ast.parse(source)), ("bot",)) == {"bot", "bot.settings", "bot.emit"}
    assert within(imported(ast.parse(source)), ("bot", "jobs")) == {"bot", "bot.settings", "bot.emit", "jobs"}
