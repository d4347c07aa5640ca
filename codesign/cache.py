"""The user's cache folder, one for every stage (PDK models, features, data sets).

$CODESIGN_CACHE_DIR if set (tests point it at a temporary folder), else
$XDG_CACHE_HOME/codesign, else ~/.cache/codesign.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "CODESIGN_CACHE_DIR"


def cache_root(environ: dict | None = None) -> Path:
    environ = os.environ if environ is None else environ
    explicit = environ.get(CACHE_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "codesign"
