"""The machinery that runs the entry points in tests, and the pytest plugins of the suite."""
