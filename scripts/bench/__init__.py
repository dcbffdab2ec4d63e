"""Parts of ``python -m scripts.benchmark``: timing method, sections, reference implementations."""
