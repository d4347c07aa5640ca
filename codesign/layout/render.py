"""PNG previews of GDS cells, rendered offscreen by KLayout's own layout view
(`klayout.lay.LayoutView`) with colours from KLayout's default palette, one per layer."""

from __future__ import annotations

from pathlib import Path

from codesign.layout.rules import LAYERS

# KLayout's default palette (the first colours of its layer colour table)
PALETTE = (0xff80a8, 0xc080ff, 0x9580ff, 0x8086ff, 0x80a8ff, 0xff0000, 0xff0080, 0xff00ff, 0x8000ff, 0x0000ff,
           0x008000, 0x00ff00, 0x80ff00, 0xffff00, 0xff8000, 0x00ff80, 0x00ffff, 0x0080ff, 0x808080, 0xc0c0c0)
# drawn order: wells and implants faint at the bottom, metals on top
_STYLE = {"nwell": 0, "nsdm": 19, "psdm": 18, "npc": 17, "diff": 11, "tap": 10, "poly": 5, "licon": 16, "li1": 2,
          "mcon": 15, "met1": 9, "via": 14, "met2": 7, "via2": 13, "met3": 12, "via3": 6, "met4": 1, "capm": 4,
          "met3_pin": 12, "met3_label": 12, "boundary": 19}


def render(gds: Path, cell: str, png: Path, size_px: int = 800) -> Path:
    import klayout.lay as lay

    view = lay.LayoutView()
    index = view.load_layout(str(gds), False)
    view.active_cellview().cell_name = cell
    view.clear_layers()
    for name, palette_index in _STYLE.items():
        spec = LAYERS[name]
        node = lay.LayerPropertiesNode()
        node.source = f"{spec.gds_layer}/{spec.gds_datatype}@{index + 1}"
        node.name = name
        color = PALETTE[palette_index]
        node.fill_color = node.frame_color = color
        node.dither_pattern = 1 if name in ("nwell", "nsdm", "psdm", "npc") else 2 if name.startswith("met") else 5
        node.transparent = name == "boundary"
        view.insert_layer(view.end_layers(), node)
    view.set_config("background-color", "#ffffff")
    view.max_hier()
    view.zoom_fit()
    view.save_image(str(png), size_px, size_px)
    return Path(png)
