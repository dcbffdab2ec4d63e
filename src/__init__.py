"""The project package. Importing it turns off the update checks that dependencies make over
the network at import (albumentations asks PyPI for its latest version, which offline prints a
warning and on a slow network delays every start), so no run phones home on its own."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
