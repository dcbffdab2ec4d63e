"""The layers import one way: the data code never imports model code (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_data_layer_imports_nothing_from_the_models() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(
            m for m in _imported_modules(path) if m.startswith("src.models")
        )
        for path in sorted((SRC / "data").rglob("*.py"))
    }
    assert not {path: modules for path, modules in offenders.items() if modules}
