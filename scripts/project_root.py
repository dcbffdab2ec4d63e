"""``python scripts/<name>.py`` has only this folder on ``sys.path``: run ``src/project_root.py``,
which puts the repository root there (and in ``$PROJECT_ROOT``)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "src" / "project_root.py"))
