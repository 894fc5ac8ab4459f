"""Benchmark harness: ``python -m bench`` (``make bench``) from the repository root; see README.md."""
