"""The mapping plan and its JSON form, `manifest.json` (DESIGN.md section 3).

A `NetworkPlan` is everything the mapper decided: per unit its software
parameters (as mapped, i.e. quantized) and its circuit parameters, per
synapse its weight and current, the chip spec, the files written. The
manifest is this plan as JSON: enough to rebuild every netlist exactly
(`codesign.mapping.mapper.build_netlists(load_manifest(path))`) and to map a
circuit trace back to software values (h = k * alpha).

Software values are in the units of the trained network; currents in A,
capacitances in F, voltages in V.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from codesign.chip import ChipSpec, chip_from_dict
from codesign.mapping.cells import ComparatorParams, IntegratorParams, LatchParams

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
# Manifests written before the chip spec had `t_compare_s` were built with
# the fixed 200 us compare phase: they load with it, so their netlists still
# rebuild byte for byte (a new default would make `codesign validate` refuse
# them as edited). Re-map to get the spec's current compare time.
LEGACY_T_COMPARE_S = 200e-6
# Manifests written before the chip spec had `synapses` had behavioural synapse
# arrays only; they load as such whatever the spec's default becomes.
LEGACY_SYNAPSES = "behavioural"


@dataclass(frozen=True)
class UnitPlan:
    name: str  # e.g. "layer0_u3": also its subcircuit `mru_unit_layer0_u3` and its file
    layer: int
    index: int
    alpha: float  # software quantum: h = k * alpha
    beta: float  # software comparator half-width (the input is sensed in units of beta)
    comparator: ComparatorParams  # beta = 1: thresholds at i_bias +- i_unit
    integrator: IntegratorParams | None  # eps = 0 hardware
    latch: LatchParams | None  # eps = 1 hardware
    file: str

    @property
    def i_step_a(self) -> float:
        return (self.integrator or self.latch).i_step_a


@dataclass(frozen=True)
class LayerPlan:
    name: str
    n_in: int
    weight: tuple[tuple[float, ...], ...]  # quantized W [d, n_in], software units
    bias: tuple[float, ...]  # quantized b [d]
    units: tuple[UnitPlan, ...]


@dataclass(frozen=True)
class ReadoutPlan:
    mode: str  # "last" or "per_step"
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
    quantization: dict  # parameter -> error figures (see mapper.quantization_report)

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


def to_manifest(plan: NetworkPlan, files: dict[str, str], recipe: dict | None = None) -> dict:
    """The manifest: the plan, a per-unit summary, every synapse, the files and the
    training recipe (so validation can regenerate the task's input sequences)."""
    data = dataclasses.asdict(plan)
    data["units_summary"] = [{"name": u.name, "alpha": u.alpha, "beta": u.beta, "i_step_a": u.i_step_a,
                              "file": u.file} for u in plan.units]
    data["synapses"] = synapses(plan)
    if plan.chip.synapses == "mirror":  # sizes and currents of layer 0's array (derived, for reading)
        from codesign.mapping.synapses import mirror_array

        data["synapse_array"] = {"layer": plan.layers[0].name, **mirror_array(plan, plan.layers[0]).summary()}
    return {"manifest_version": MANIFEST_VERSION, "produced_by": "codesign map", "files": files,
            "recipe": recipe, "plan": data}


def write_manifest(plan: NetworkPlan, files: dict[str, str], folder: Path, recipe: dict | None = None) -> Path:
    path = Path(folder) / MANIFEST_FILE
    path.write_text(json.dumps(to_manifest(plan, files, recipe), indent=1))
    return path


def _tuples(rows) -> tuple:
    return tuple(tuple(float(v) for v in r) for r in rows)


def _unit(d: dict) -> UnitPlan:
    return UnitPlan(
        name=d["name"], layer=d["layer"], index=d["index"], alpha=d["alpha"], beta=d["beta"],
        comparator=ComparatorParams(**d["comparator"]),
        integrator=None if d["integrator"] is None else IntegratorParams(**d["integrator"]),
        latch=None if d["latch"] is None else LatchParams(**d["latch"]), file=d["file"])


def plan_from_manifest(data: dict) -> NetworkPlan:
    if data.get("manifest_version") != MANIFEST_VERSION:
        raise ValueError(f"manifest_version: expected {MANIFEST_VERSION}, got {data.get('manifest_version')!r}")
    p = data["plan"]
    chip = dict(p["chip"])
    chip.setdefault("t_compare_s", LEGACY_T_COMPARE_S)
    chip.setdefault("synapses", LEGACY_SYNAPSES)
    layers = tuple(LayerPlan(name=la["name"], n_in=la["n_in"], weight=_tuples(la["weight"]),
                             bias=tuple(la["bias"]), units=tuple(_unit(u) for u in la["units"]))
                   for la in p["layers"])
    r = p["readout"]
    return NetworkPlan(chip=chip_from_dict(chip), cell=p["cell"], eps=p["eps"], levels=p["levels"],
                       task=p["task"], loss=p["loss"], source=p["source"], layers=layers,
                       readout=ReadoutPlan(r["mode"], _tuples(r["weight"]), tuple(r["bias"])),
                       quantization=p["quantization"])


def read_manifest(folder_or_file: str | Path) -> dict:
    """The manifest's JSON from a map folder or its manifest.json."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder_or_file}: no {MANIFEST_FILE} (not a `codesign map` output folder)")
    return json.loads(path.read_text())


def load_manifest(folder_or_file: str | Path) -> tuple[NetworkPlan, dict]:
    """(plan, files) from a map folder or its manifest.json."""
    data = read_manifest(folder_or_file)
    return plan_from_manifest(data), data["files"]
