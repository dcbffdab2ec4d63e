"""The repository root, set up for an entry point run as a file (``python src/train.py``).

Such a process has only the script's own folder on ``sys.path``, not the root, so ``import src``
would fail (or find another, pip-installed checkout). Every entry point therefore imports this
module first, from beside it: ``from project_root import PROJECT_ROOT`` in ``src/``, and in
``scripts/`` a ``project_root.py`` that runs this file. Importing it puts the root on
``sys.path`` and sets ``$PROJECT_ROOT``, which ``configs/paths`` reads, unless the caller has set
it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
