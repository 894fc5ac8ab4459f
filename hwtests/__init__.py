"""hwtests: the hardware-in-the-loop conformance suite, fault campaigns, fuzzing (not installed).

Run from the repository root: ``python -m pytest hwtests``, ``python -m hwtests.campaign``.  See
hwtests/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _import_installed_stonith() -> None:
    """Import the *installed* stonith, not the checkout's stonith/ that ``python -m`` puts first.

    ``stonith.drivers`` and ``stonith.mocks`` exist only in the installed package (setuptools maps
    drivers/ and mocks/), so the checkout's bare stonith/ must never be the one imported.
    """
    loaded = sys.modules.get("stonith")
    if loaded is not None and "stonith.mocks" in sys.modules:
        return
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO]
    try:
        for name in [m for m in sys.modules if m == "stonith" or m.startswith("stonith.")]:
            del sys.modules[name]
        import stonith.drivers
        import stonith.mocks  # noqa: F401
    finally:
        sys.path[:] = saved


_import_installed_stonith()
