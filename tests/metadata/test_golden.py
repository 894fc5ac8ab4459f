"""Golden renders of every shipped driver's metadata, and schema checks.

Regenerate after an intended change with ``STONITH_UPDATE_GOLDEN=1 pytest tests/metadata``
and review the diff like code.  An empty golden file (``stonith new-driver`` writes them so) is
filled on the first run, which passes and says so; a golden file with text that differs fails.
"""

from __future__ import annotations

import os
import subprocess
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stonith.fencing import registry
from stonith.render.metadata import fence_xml, glue_xml
from tests.conftest import fence_rng, require_peer, run_stonith

HERE = Path(__file__).parent
UPDATE = os.environ.get("STONITH_UPDATE_GOLDEN") == "1"


def shipped() -> list[str]:
    return sorted(
        name for name, ep in registry.entry_points().items() if ep.value.startswith("stonith.drivers.")
    )


def _golden(path: Path, text: str) -> None:
    if UPDATE or (path.exists() and path.stat().st_size == 0):
        if not UPDATE:
            warnings.warn(f"{path.name} was empty: wrote it; review it and commit it", stacklevel=2)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with STONITH_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; review and regenerate"


@pytest.mark.parametrize("name", shipped())
def test_glue_metadata_golden(name: str) -> None:
    _golden(HERE / f"{name}.glue.xml", glue_xml(registry.load(name).INFO))


@pytest.mark.parametrize("name", shipped())
def test_fence_metadata_golden(name: str) -> None:
    _golden(HERE / f"{name}.fence.xml", fence_xml(registry.load(name).INFO))


@pytest.mark.parametrize("name", shipped())
def test_cli_renders_the_same(name: str) -> None:
    _golden(HERE / f"{name}.glue.xml", glue_xml(registry.load(name).INFO))  # fills an empty one first
    _golden(HERE / f"{name}.fence.xml", fence_xml(registry.load(name).INFO))
    result = run_stonith("-t", name, "-m")
    assert result.returncode == 0
    assert result.stdout == (HERE / f"{name}.glue.xml").read_text(encoding="utf-8")
    result = run_stonith("metadata", name, "--format", "fence")
    assert result.stdout == (HERE / f"{name}.fence.xml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", shipped())
@pytest.mark.parametrize("lang", ["en", "de"])
def test_fence_metadata_validates_against_rng(name: str, lang: str, tmp_path: Path) -> None:
    xmllint = require_peer("xmllint", "libxml2-utils")
    rng = fence_rng()
    doc = tmp_path / "agent.xml"
    doc.write_text(
        run_stonith("metadata", name, "--format", "fence", "--lang", lang).stdout, encoding="utf-8"
    )
    proc = subprocess.run(
        [xmllint, "--noout", "--relaxng", rng, str(doc)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def _shape(root: ET.Element) -> list[str]:
    """Element names in document order, with only the first <parameter> of <parameters> kept."""
    out: list[str] = []

    def walk(element: ET.Element) -> None:
        out.append(element.tag)
        children = list(element)
        if element.tag == "parameters":
            children = children[:1]
        for child in children:
            walk(child)

    walk(root)
    return out


@pytest.mark.peer
@pytest.mark.parametrize("name", ["null", "meatware"])
def test_glue_xml_has_cluster_glues_element_structure(name: str) -> None:
    glue = require_peer("/usr/sbin/stonith", "cluster-glue")
    theirs = subprocess.run(
        [glue, "-t", name, "-m"], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    ).stdout
    ours = run_stonith("-t", name, "-m").stdout
    strip = lambda text: text.split("\n", 2)[2]  # noqa: E731 - drop the XML declaration and DOCTYPE lines
    assert ours.splitlines()[:2] == theirs.splitlines()[:2]
    ours_shape = _shape(ET.fromstring(strip(ours)))
    theirs_shape = _shape(ET.fromstring(strip(theirs)))
    # Same elements in the same order; ours may carry a `default` attribute on <content>.
    assert ours_shape == theirs_shape


@pytest.mark.parametrize("name", shipped())
def test_fence_parameter_names_are_unique(name: str) -> None:
    root = ET.fromstring(fence_xml(registry.load(name).INFO).split("\n", 1)[1])
    names = [p.get("name") for p in root.iter("parameter")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_shipped_driver_has_golden_files() -> None:
    for name in shipped():
        assert (HERE / f"{name}.glue.xml").exists()
        assert (HERE / f"{name}.fence.xml").exists()
