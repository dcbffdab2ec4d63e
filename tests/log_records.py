"""What one logger said during a test, whatever other loggers said beside it.

Lightning, W&B and the project's other modules may warn in the same capture, so a test of one
module's message reads that module's records only, never ``(record,) = caplog.records``.
"""

from __future__ import annotations

import pytest


def messages_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """The messages ``logger`` (a module's ``logging.getLogger(__name__)``) logged, in order."""
    return [record.getMessage() for record in caplog.records if record.name == logger]
