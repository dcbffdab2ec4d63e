"""The layers import one way: each package imports only from the layers below it (README, "Layout").

The table runs from the ground up. A module may import its own package and any package of a lower
layer; two packages of one layer never import each other, so no import runs back up and no two
packages import each other in a loop. A package that is in no layer fails the table test, so a
new one is placed in the order when it is added.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("src.project_root", "src.utils"),  # small generic helpers: config checks, tables, files
    ("src.data", "src.cluster"),  # data sets and loaders; the cluster's process layout
    ("src.models", "src.metrics", "src.visualization"),  # networks and weights; metrics
    ("src.tasks",),  # training code: LightningModules, steps, optimisers, schedules
    ("src.runs",),  # a run's life: identity, resume, lock, stop signals, final validation
    (
        "src.callbacks",
        "src.sweep",
        "src.reporting",
    ),  # a Trainer's callbacks; sweeps; comparing runs
    ("src.weights_report",),  # what joins released weights and the data's protocol
    ("src.pipeline",),  # what the entry points run
    ("src.prediction",),  # what src/predict.py runs
    ("src.train", "src.eval", "src.predict"),  # the entry points
)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _place(module: str) -> tuple[int, str] | None:
    """The layer and package of a project module; None when it is in no layer."""
    for level, packages in enumerate(LAYERS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                return level, package
    return None


def _project_modules() -> dict[str, Path]:
    modules = {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}
    modules.pop("src")  # the package itself: a docstring
    return modules


def test_every_module_of_src_has_a_layer() -> None:
    assert not [module for module in _project_modules() if _place(module) is None]


def test_no_import_runs_against_the_layer_order() -> None:
    offenders = []
    for module, path in _project_modules().items():
        level, package = _place(module)
        for imported in sorted(_imported_modules(path)):
            if imported.split(".")[0] in ("scripts", "tests"):
                offenders.append(f"{module} imports {imported}: src never imports them")
            if not imported.startswith("src."):
                continue
            target = _place(imported)
            if target is None:
                offenders.append(f"{module} imports {imported}, which is in no layer")
            elif target[1] != package and target[0] >= level:
                offenders.append(f"{module} (layer {level}) imports {imported} (layer {target[0]})")
    assert not offenders


def test_the_data_layer_imports_nothing_from_the_models() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(
            m for m in _imported_modules(path) if m.startswith("src.models")
        )
        for path in sorted((SRC / "data").rglob("*.py"))
    }
    assert not {path: modules for path, modules in offenders.items() if modules}
