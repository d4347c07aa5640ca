"""The mapping plan and its JSON form, `manifest.json` (docs/design.md, "Data formats").

A `NetworkPlan` is everything the mapper decided: per unit its software
parameters (as mapped, i.e. quantized) and its circuit parameters, per
synapse its weight and current, the chip spec, the files written. The
manifest is this plan as JSON: enough to rebuild every netlist exactly
(`codesign.mapping.build_netlists(load_manifest(path)[0])`) and to map a
circuit trace back to software values (h = k * alpha).

Reading one back validates it like a chip spec: every value is checked for
type and range and every file it names must lie inside its folder.

Software values are in the units of the trained network; currents in A,
capacitances in F, voltages in V.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesign.chip import ChipSpec, chip_from_dict
from codesign.config import ConfigError, check_value, from_dict, limits
from codesign.hardware.params import ComparatorParams

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 2  # 2: a unit's memory cell under "memory"; 1 had "integrator" / "latch"
# Manifests written before the chip spec had `t_compare_s` were built with
# the fixed 200 us compare phase: they load with it, so their netlists still
# rebuild byte for byte. Re-map to get the spec's current compare time.
LEGACY_T_COMPARE_S = 200e-6
# Manifests written before the chip spec had `synapses` had behavioural synapse arrays only.
LEGACY_SYNAPSES = "behavioural"
_NAME = limits(identifier=True)


@dataclass(frozen=True)
class UnitPlan:
    name: str = field(metadata=_NAME)  # e.g. "layer0_u3": also its subcircuit `mru_unit_layer0_u3` and file
    layer: int = field(metadata=limits(0, 64))
    index: int = field(metadata=limits(0, 4096))
    alpha: float = field(metadata=limits(0, 1e6, lo_open=True))  # software quantum: h = k * alpha
    beta: float = field(metadata=limits(0, 1e6, lo_open=True))  # comparator half-width (input sensed in units of beta)
    comparator: ComparatorParams  # beta = 1: thresholds at i_bias +- i_unit
    memory: Any  # the memory cell's parameters: the chip kind's `memory_type`
    file: str

    @property
    def i_step_a(self) -> float:
        return self.memory.i_step_a


@dataclass(frozen=True)
class LayerPlan:
    name: str
    n_in: int
    weight: tuple[tuple[float, ...], ...]  # quantized W [d, n_in], software units
    bias: tuple[float, ...]  # quantized b [d]
    units: tuple[UnitPlan, ...]

    @property
    def alpha(self) -> np.ndarray:
        """Per-unit software quantum [d]: a circuit state k reads back as h = k * alpha."""
        return np.array([u.alpha for u in self.units])

    @property
    def beta(self) -> np.ndarray:
        """Per-unit comparator half-width [d]: the input is sensed in units of beta."""
        return np.array([u.beta for u in self.units])


READOUT_MODES = ("last", "mean", "per_step")


def pool_states(mode: str, h):
    """What a readout of `mode` reads from states or outputs [B, T, ...]: the last step's
    ("last"), their mean over the steps ("mean": an integrate-and-dump readout sampled at the
    frame ends), or every step ("per_step"). Torch tensors or NumPy arrays."""
    return h[:, -1] if mode == "last" else h.mean(1) if mode == "mean" else h


@dataclass(frozen=True)
class ReadoutPlan:
    mode: str  # one of READOUT_MODES
    weight: tuple[tuple[float, ...], ...]  # quantized [n_out, d]
    bias: tuple[float, ...]


@dataclass(frozen=True)
class NetworkPlan:
    chip: ChipSpec
    cell: str
    eps: float
    levels: int  # L of the hardware state (1 on latch hardware)
    task: str
    loss: str  # "ce", "bce" or "mse": how outputs become decisions
    source: str  # the run folder it came from (for the netlist header)
    layers: tuple[LayerPlan, ...]
    readout: ReadoutPlan
    quantization: dict  # parameter -> error figures (see mapping.plan.quantize)

    @property
    def units(self) -> list[UnitPlan]:
        return [u for layer in self.layers for u in layer.units]


def synapses(plan: NetworkPlan) -> list[dict]:
    """Every synapse: where it sits, its (quantized) weight and the current per unit of input."""
    rows = []
    for layer in plan.layers:
        for unit, row in zip(layer.units, layer.weight):
            for j, w in enumerate(row):
                rows.append({"layer": layer.name, "unit": unit.name, "input": j, "weight": w,
                             "current_per_input_a": w / unit.beta * plan.chip.i_unit_a})
            rows.append({"layer": layer.name, "unit": unit.name, "input": "bias", "weight": layer.bias[unit.index],
                         "current_a": layer.bias[unit.index] / unit.beta * plan.chip.i_unit_a})
    for j, row in enumerate(plan.readout.weight):
        for i, w in enumerate(row):
            rows.append({"layer": "readout", "output": j, "input": plan.layers[-1].units[i].name, "weight": w})
    return rows


def to_manifest(plan: NetworkPlan, files: dict, recipe: dict | None = None, derived: dict | None = None) -> dict:
    """The manifest: the plan, a per-unit summary, every synapse, the files, the training
    recipe (so validation can regenerate the task's input sequences) and `derived`
    figures for reading (not read back)."""
    data = dataclasses.asdict(plan)
    data["units_summary"] = [{"name": u.name, "alpha": u.alpha, "beta": u.beta, "i_step_a": u.i_step_a,
                              "file": u.file} for u in plan.units]
    data["synapses"] = synapses(plan)
    data.update(derived or {})
    return {"manifest_version": MANIFEST_VERSION, "produced_by": "codesign map", "hardware": plan.chip.hardware,
            "files": files, "recipe": recipe, "plan": data}


def write_manifest(plan: NetworkPlan, files: dict, folder: Path, recipe: dict | None = None,
                   derived: dict | None = None) -> Path:
    from codesign.fsio import atomic_write_text

    path = Path(folder) / MANIFEST_FILE
    atomic_write_text(path, json.dumps(to_manifest(plan, files, recipe, derived), indent=1))
    return path


# ---------- reading back: every value checked ----------

def _table(data: Any, key: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: must be a table, got {type(data).__name__}")
    return data


def _field(data: dict, name: str, key: str):
    if name not in data:
        raise ConfigError(f"{key}.{name}: missing")
    return data[name]


def _matrix(rows: Any, key: str, n_rows: int, n_cols: int | None) -> tuple:
    if not isinstance(rows, list) or len(rows) != n_rows:
        raise ConfigError(f"{key}: must be a list of {n_rows} rows")
    return tuple(_vector(r, f"{key}[{i}]", n_cols) for i, r in enumerate(rows))


def _vector(values: Any, key: str, n: int | None) -> tuple:
    if not isinstance(values, list) or (n is not None and len(values) != n):
        raise ConfigError(f"{key}: must be a list of {n if n is not None else 'some'} numbers")
    return tuple(check_value(f"{key}[{i}]", float, v, limits(-1e9, 1e9)) for i, v in enumerate(values))


def relative_file(name: Any, key: str) -> str:
    """A file named by the manifest: a relative path inside its folder, made of plain names."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{key}: must be a file name, got {name!r}")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") or "\\" in p or ":" in p for p in parts):
        raise ConfigError(f"{key}: {name!r} must be a relative path inside the map folder")
    return name


def _unit(d: Any, key: str, kind) -> UnitPlan:
    d = dict(_table(d, key))
    # version 1 kept the memory cell under the kind's name, and None under the other's
    memory = d.pop("memory") if "memory" in d else d.get(kind.name)
    for name in ("integrator", "latch"):
        d.pop(name, None)
    d["memory"] = from_dict(kind.memory_type, memory, f"{key}.memory")
    unit = from_dict(UnitPlan, d, key)
    relative_file(unit.file, f"{key}.file")
    return unit


def _layer(d: Any, key: str, kind, n_in_expected: int | None, position: int) -> LayerPlan:
    d = _table(d, key)
    name = check_value(f"{key}.name", str, _field(d, "name", key), _NAME)
    n_in = check_value(f"{key}.n_in", int, _field(d, "n_in", key), limits(1, 100_000))
    if n_in_expected is not None and n_in != n_in_expected:
        raise ConfigError(f"{key}.n_in: {n_in}, but the layer before has {n_in_expected} units")
    units_data = _field(d, "units", key)
    if not isinstance(units_data, list) or not units_data:
        raise ConfigError(f"{key}.units: must be a non-empty list")
    units = tuple(_unit(u, f"{key}.units[{i}]", kind) for i, u in enumerate(units_data))
    for i, u in enumerate(units):  # a unit's place is its index: weights, bias and nodes are looked up by it
        if u.index != i or u.layer != position:
            raise ConfigError(f"{key}.units[{i}]: layer {u.layer}, index {u.index}; expected layer {position}, "
                              f"index {i}")
    weight = _matrix(_field(d, "weight", key), f"{key}.weight", len(units), n_in)
    bias = _vector(_field(d, "bias", key), f"{key}.bias", len(units))
    return LayerPlan(name, n_in, weight, bias, units)


def plan_from_manifest(data: Any) -> NetworkPlan:
    """The plan of a manifest's JSON, every value checked; ConfigError names the key."""
    data = _table(data, "manifest")
    if data.get("manifest_version") not in (1, MANIFEST_VERSION):
        raise ConfigError(f"manifest_version: this codesign reads 1 and {MANIFEST_VERSION}, got "
                          f"{data.get('manifest_version')!r}; re-run codesign map")
    p = _table(_field(data, "plan", "manifest"), "plan")
    chip = dict(_table(_field(p, "chip", "plan"), "plan.chip"))
    chip.setdefault("t_compare_s", LEGACY_T_COMPARE_S)
    chip.setdefault("synapses", LEGACY_SYNAPSES)
    chip = chip_from_dict(chip, "plan.chip")
    kind = chip.kind
    layers_data = _field(p, "layers", "plan")
    if not isinstance(layers_data, list) or not layers_data:
        raise ConfigError("plan.layers: must be a non-empty list")
    layers, n_in = [], None
    for i, la in enumerate(layers_data):
        layers.append(_layer(la, f"plan.layers[{i}]", kind, n_in, i))
        n_in = len(layers[-1].units)
    names = [u.name for layer in layers for u in layer.units] + [layer.name for layer in layers]
    if len(set(names)) != len(names):  # each becomes a subcircuit, node or file name
        raise ConfigError(f"plan.layers: names must be unique, got {sorted(n for n in names if names.count(n) > 1)}")
    r = _table(_field(p, "readout", "plan"), "plan.readout")
    mode = check_value("plan.readout.mode", str, _field(r, "mode", "plan.readout"),
                       limits(choices=READOUT_MODES))
    bias = _vector(_field(r, "bias", "plan.readout"), "plan.readout.bias", None)
    readout = ReadoutPlan(mode, _matrix(_field(r, "weight", "plan.readout"), "plan.readout.weight", len(bias), n_in),
                          bias)
    eps = check_value("plan.eps", float, _field(p, "eps", "plan"), limits(0, 1))
    if eps != kind.eps:
        raise ConfigError(f"plan.eps: {eps:g}, but the chip's {kind.name} hardware implements eps = {kind.eps:g}")
    levels = check_value("plan.levels", int, _field(p, "levels", "plan"), limits(1, 8))
    if levels != kind.levels(chip):
        raise ConfigError(f"plan.levels: {levels}, but the chip's {kind.name} hardware has {kind.levels(chip)}")
    return NetworkPlan(chip=chip, cell=check_value("plan.cell", str, _field(p, "cell", "plan"), _NAME), eps=eps,
                       levels=levels, task=check_value("plan.task", str, _field(p, "task", "plan"), _NAME),
                       loss=check_value("plan.loss", str, _field(p, "loss", "plan"),
                                        limits(choices=("ce", "bce", "mse"))),
                       source=check_value("plan.source", str, _field(p, "source", "plan"), {}),
                       layers=tuple(layers), readout=readout,
                       quantization=_table(_field(p, "quantization", "plan"), "plan.quantization"))


def _files(files: Any) -> dict:
    """The manifest's {role: file or [files]}, each a relative path inside the map folder."""
    for role, names in _table(files, "files").items():
        for i, name in enumerate(names if isinstance(names, list) else [names]):
            relative_file(name, f"files.{role}[{i}]" if isinstance(names, list) else f"files.{role}")
    return files


def read_manifest(folder_or_file: str | Path) -> dict:
    """The manifest's JSON from a map folder or its manifest.json."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder_or_file}: no {MANIFEST_FILE} (not a `codesign map` output folder)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from None


def load_manifest(folder_or_file: str | Path) -> tuple[NetworkPlan, dict]:
    """(plan, files) from a map folder or its manifest.json; ConfigError names the file and key."""
    data = read_manifest(folder_or_file)
    try:
        return plan_from_manifest(data), _files(data.get("files", {}))
    except ConfigError as err:
        raise ConfigError(f"{folder_or_file}: {err}") from None
