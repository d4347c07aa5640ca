"""docs/schematics.py draws the schematic pictures of docs/circuits.md."""

import runpy
from pathlib import Path


def test_schematics_draw(tmp_path):
    module = runpy.run_path(str(Path(__file__).resolve().parents[1] / "docs" / "schematics.py"))
    for name in ("comparator", "unit"):
        path = module[name](tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
