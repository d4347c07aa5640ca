"""The measured map folders rebuild byte for byte from their manifests.

tests/golden/maps/ holds four map folders written by `codesign map` from the
runs whose co-simulation figures are in docs/results.md (CMRU default, the
same on the mirror synapse array, BMRU on latch hardware, two layers), with
manifest format 1. A change to the netlist generators shows here as a diff.
"""

import difflib
from pathlib import Path

import pytest

from codesign.manifest import load_manifest
from codesign.mapping.mapper import build_netlists

GOLDEN = Path(__file__).parent / "golden" / "maps"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()))
def test_measured_map_folder_rebuilds_byte_for_byte(name):
    folder = GOLDEN / name
    plan, files = load_manifest(folder)
    rebuilt = build_netlists(plan)
    assert sorted(rebuilt) == sorted(["network.spice", *files["units"]])
    for file, text in rebuilt.items():
        expected = (folder / file).read_text()
        if text != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                                f"golden/{name}/{file}", "rebuilt", n=2))
            pytest.fail(f"{name}/{file} no longer rebuilds byte for byte:\n{diff[:6000]}")
