"""Benchmark harness: ``python -m bench`` (``./run bench``) from the repository root; see README.md."""

# Rows start mocks in this process: import the *installed* stonith, not the checkout's bare
# stonith/ that ``python -m`` puts first on sys.path (hwtests does it on import).
# (hwtests is not installed and not in the type-check tree.)
import hwtests  # type: ignore[import-not-found]  # noqa: F401
