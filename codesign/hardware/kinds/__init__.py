"""The hardware kinds: every module of this package defines `KIND`, a
`HardwareKind` (base.py). Found by listing the package, so a new kind is one
new module; `KINDS` maps each kind's name to it."""

from __future__ import annotations

import importlib
import pkgutil

from codesign.hardware.kinds.base import HardwareKind


def _discover() -> dict[str, HardwareKind]:
    kinds = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name != "base":
            kind = importlib.import_module(f"{__name__}.{info.name}").KIND
            kinds[kind.name] = kind
    return kinds


KINDS: dict[str, HardwareKind] = _discover()


def kind_for_eps(eps: float) -> HardwareKind:
    """The kind that implements eps; ValueError naming the kinds there are if none does."""
    for kind in KINDS.values():
        if kind.eps == eps:
            return kind
    have = ", ".join(f"{k.name} (eps = {k.eps:g})" for k in KINDS.values())
    raise ValueError(f"eps = {eps:g}: no hardware kind implements it; there are {have}")


__all__ = ["HardwareKind", "KINDS", "kind_for_eps"]
