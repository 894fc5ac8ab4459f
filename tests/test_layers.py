"""stonith/ as layers (issue 24): no layer reaches up.

From the bottom: ``stonith.contract`` (the driver API) imports nothing else of stonith; the
transports import only the contract; a driver only the contract, the transports and the drivers'
own kits; the engine (``stonith.fencing``) those, and of the rendering layer only its translation
run time (``stonith.render.i18n``: messages and driver texts in the user's language); rendering
(metadata, marshalling, CLI texts) the engine below it (the registry finds a type's class, the
device check validates a configuration); the front ends (cli, server) whatever lies below them.
Imports are read from the source (also those inside functions), so a lazy import cannot hide an
arrow pointing up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

ALLOWED = {
    "stonith/contract": ("stonith.contract",),
    "stonith/transport": ("stonith.contract", "stonith.transport"),
    "drivers": ("stonith.contract", "stonith.transport", "stonith.drivers"),
    "stonith/fencing": (
        "stonith.contract",
        "stonith.transport",
        "stonith.drivers",
        "stonith.fencing",
        "stonith.render.i18n",
    ),
    "stonith/render": ("stonith.contract", "stonith.transport", "stonith.fencing", "stonith.render"),
}
# Test equipment a layer may load when a user asks for it: the USB transport's fake pyusb backend
# over a Unix socket (STONITH_USB_BACKEND=unix:/PATH, served by ``stonith-mock sispm``), and the
# mocks a devices.d ``[mock]`` table starts (stonith.fencing.lab: ``stonith demo``, hwtests).
EQUIPMENT = {"stonith/transport": {"stonith.mocks.usb_socket"}, "stonith/fencing": {"stonith.mocks.harness"}}


def stonith_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "stonith" else [f"stonith.{a.name}" for a in node.names]
            found += [(node.lineno, name) for name in names if name.startswith("stonith")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("stonith")]
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_lower_layer_never_imports_a_higher_one(layer: str) -> None:
    allowed = ALLOWED[layer]
    wrong = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for path in sorted((REPO / layer).glob("*.py"))
        for line, name in stonith_imports(path)
        if name != "stonith"
        and name not in EQUIPMENT.get(layer, ())
        and not name.startswith(tuple(f"{a}." for a in allowed) + allowed)
    ]
    assert wrong == [], f"{layer} may import only {', '.join(allowed)}"


def test_the_driver_api_lists_only_names_it_has() -> None:
    import stonith.contract as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
