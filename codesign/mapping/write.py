"""Writing a map folder: netlists, manifest.json, quantization.md, map_summary.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from codesign.chip import ChipSpec
from codesign.fsio import atomic_write_text
from codesign.manifest import NetworkPlan, write_manifest
from codesign.mapping.netlists import build_netlists

# Over the PVT grid the comparators of the default chip decided the other way only where z lay
# within 4.8 % of +-beta (docs/results.md, "Networks over process, voltage and temperature"):
# test steps inside this window may be decided either way by a chip at a corner.
PVT_DECISION_WINDOW = 0.05


def near_threshold_mapped(plan: NetworkPlan, zs: list) -> dict[str, float]:
    """Fraction of the MRU unit-steps whose z lies within d * beta of +-beta, d = 1 % and the
    PVT decision window (the mapped network on the test set; zs from software_states)."""
    import numpy as np

    from codesign.mru import threshold_distance

    dist = np.concatenate([threshold_distance(z / layer.beta).ravel()
                           for z, layer in zip(zs, plan.layers)])
    return {f"{d:g}": float(np.mean(dist < d)) for d in (0.01, PVT_DECISION_WINDOW)}


def pvt_warning(summary: dict) -> str | None:
    """A warning when test inputs put z inside the PVT decision window (the map still stands)."""
    share = summary.get("test_near_threshold_mapped", {}).get(f"{PVT_DECISION_WINDOW:g}", 0.0)
    if share <= 0:
        return None
    return (f"warning: {share:.2%} of the test set's unit-steps put z within {PVT_DECISION_WINDOW:.0%} of +-beta, "
            "the PVT decision window: there the comparators decided the other way at some process, voltage "
            "and temperature points (docs/results.md), so a chip at such a point may leave the software on "
            "those steps; retrain with a larger train.threshold_margin to keep z out of the window")


def quantization_table(plan: NetworkPlan) -> str:
    rows = ["| parameter | bits | max abs | step | max error | max error / step | rms error |",
            "|---|---|---|---|---|---|---|"]
    for name, q in plan.quantization.items():
        if q["bits"] is None:
            rows.append(f"| {name} | analog | {q['max_abs']:.4g} | - | 0 | - | 0 |")
        else:
            rows.append(f"| {name} | {q['bits']} | {q['max_abs']:.4g} | {q['step']:.4g} | {q['max_abs_error']:.3g} "
                        f"| {q['max_error_in_steps']:.3f} | {q['rms_error']:.3g} |")
    return "\n".join(rows) + "\n"


def write_map(plan: NetworkPlan, folder: str | Path, extra: dict | None = None,
              recipe: dict | None = None) -> dict:
    """Write netlists, manifest.json and quantization.md into folder; returns {role: file}."""
    folder = Path(folder)
    (folder / "units").mkdir(parents=True, exist_ok=True)
    for name, text in build_netlists(plan).items():
        atomic_write_text(folder / name, text)
    atomic_write_text(folder / "quantization.md", f"# Quantization ({plan.chip.weight_bits} bits, per tensor)\n\n"
                      + quantization_table(plan))
    files = {"network": "network.spice", "units": [u.file for u in plan.units],
             "quantization": "quantization.md", **(extra or {})}
    derived = {}
    if plan.chip.synapses == "mirror":  # sizes and currents of layer 0's array, for reading
        from codesign.mapping.synapses import mirror_array

        derived["synapse_array"] = {"layer": plan.layers[0].name, "x_window": [plan.chip.x_min, plan.chip.x_max],
                                    **mirror_array(plan, plan.layers[0]).summary()}
    write_manifest(plan, files, folder, recipe, derived)
    return files


def map_run(run_dir: str | Path, chip: ChipSpec, out: str | Path) -> dict:
    """Load a training run, check, plan, write; returns a summary (also written as map_summary.json)."""
    from codesign.mapping.plan import plan_network
    from codesign.mapping.reference import software_outputs, software_states, task_metric
    from codesign.training.noise import IdealChip, NoiseProfile
    from codesign.training.trainer import evaluate, load_run, metric_name

    run_dir, out = Path(run_dir), Path(out)
    recipe, task, model = load_run(run_dir)
    plan = plan_network(recipe, task, model, chip)
    _, float_metric = evaluate(model, task, task.x_test, task.y_test, lambda: IdealChip(NoiseProfile()))
    zs, hs = software_states(plan, task.x_test.double().numpy())
    mapped_metric = task_metric(plan.loss, software_outputs(plan, hs[-1]), task.y_test.numpy())
    summary = {"run_dir": str(run_dir), "chip": chip.name, "hardware": chip.hardware,
               "units": len(plan.units), "metric": metric_name(task),
               "test_metric_float": float_metric, "test_metric_mapped": mapped_metric,
               "quantization_max_error_in_steps": max((q.get("max_error_in_steps", 0.0)
                                                       for q in plan.quantization.values()), default=0.0),
               "test_near_threshold_mapped": near_threshold_mapped(plan, zs)}
    write_map(plan, out, {"summary": "map_summary.json"}, recipe.to_dict())
    atomic_write_text(out / "map_summary.json", json.dumps(summary, indent=1))
    return summary


# Chip keys that change the netlists and nothing the training run decided (quantization, the fit):
# the mirror array's device sizes and bias voltages, the level comparators' device sizes and the
# packet time's trim (which follows the comparators' gates on the hold node; these two reach the
# plan only through each unit's memory cell, which `with_chip` builds again). A mapped network takes
# new values of them without its training run (`remap`); tests/test_synapses.py checks it.
NETLIST_ONLY_KEYS = ("mirror_w_um", "mirror_l_um", "mirror_nfet_w_um", "mirror_nfet_l_um", "mirror_cascode_w_um",
                     "mirror_cascode_l_um", "mirror_v_replica_v", "mirror_v_cascode_v", "level_cmp_w_in_um",
                     "level_cmp_l_in_um", "level_cmp_w_load_um", "level_cmp_l_load_um", "packet_trim",
                     "readout_w_um", "readout_l_um", "readout_trim")


def with_chip(plan: NetworkPlan, chip: ChipSpec) -> NetworkPlan:
    """The plan on `chip`, each unit's memory cell built for it as `plan_network` builds it (a
    function of the chip and the unit's alpha): the rest of the plan stays as mapped."""
    return dataclasses.replace(plan, chip=chip, layers=tuple(
        dataclasses.replace(layer, units=tuple(dataclasses.replace(u, memory=chip.kind.memory(chip, u.alpha))
                                               for u in layer.units)) for layer in plan.layers))


def remap_changes(old: ChipSpec, new: ChipSpec) -> dict:
    """The chip keys a remap from `old` to `new` changes, with their new values; ValueError naming
    any key a remap cannot change (the name may change freely)."""
    changed = sorted(f.name for f in dataclasses.fields(ChipSpec)
                     if getattr(new, f.name) != getattr(old, f.name) and f.name != "name")
    others = [k for k in changed if k not in NETLIST_ONLY_KEYS]
    if others:
        raise ValueError(f"{', '.join(others)}: a mapped network takes new values of {', '.join(NETLIST_ONLY_KEYS)} "
                         "only; the others change its plan: map the training run again")
    return {k: getattr(new, k) for k in changed}


def remap(map_dir: str | Path, chip: ChipSpec, out: str | Path) -> dict:
    """The network mapped in map_dir written for `chip`, which may differ from map_dir's chip only in
    NETLIST_ONLY_KEYS (and its name): what `codesign map` writes from the training run on that chip.
    The recipe and map_summary.json come along (the plan, hence its accuracy, is the same); returns
    that summary with `remapped_from`."""
    from codesign.manifest import load_manifest

    map_dir, out = Path(map_dir), Path(out)
    plan, data = load_manifest(map_dir)
    changed = remap_changes(plan.chip, chip)
    source_summary = map_dir / "map_summary.json"
    summary = json.loads(source_summary.read_text()) if source_summary.is_file() else {}
    summary.update(chip=chip.name, remapped_from=str(map_dir), changed_keys=changed)
    write_map(with_chip(plan, chip), out, {"summary": "map_summary.json"}, data.get("recipe"))
    atomic_write_text(out / "map_summary.json", json.dumps(summary, indent=1))
    return summary
