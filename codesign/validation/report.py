"""A validation folder: co-simulate a map folder, judge the targets, write
cosim.json, summary.md and the trace overlays.

Targets (thresholds are options of `codesign validate` / `codesign flow`):
- level agreement: the worst unit's fraction of steps at the software's level,
  over every level simulated, at least `min_level_agreement`;
- decisions: at network level, the fraction of sequences whose decision equals
  the software's, at least `min_decision_agreement`.
`cosim.json` lists each target with its threshold, value and pass/fail; the
commands exit 1 when one fails.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.config import limits
from codesign.fsio import atomic_write_text
from codesign.manifest import NetworkPlan
from codesign.mapping.netlists import separable
from codesign.validation.cosim import (
    DEFAULT,
    NEAR_THRESHOLD,
    Comparison,
    NetworkComparison,
    check_readout_zero,
    cosim_layer,
    cosim_network,
    cosim_units,
    load_checked,
    solver_key,
)
from codesign.validation.inputs import test_sequences, trained_task, training_inputs  # noqa: F401  (re-exported)
from codesign.validation.power import mapped_unit_power
from codesign.validation.stimulus import layer_stimulus
from codesign.validation.unit import DEFAULT_Z


@dataclass(frozen=True)
class Targets:
    min_level_agreement: float = field(default=0.999, metadata=limits(0, 1))
    min_decision_agreement: float = field(default=1.0, metadata=limits(0, 1))
    max_unit_power_w: float = field(default=10e-9, metadata=limits(0, 1e-3, lo_open=True))  # with --power

    def judge(self, result: dict) -> list[dict]:
        """[{name, threshold, value, passed}] for what was run."""
        rows = result.get("unit_level", []) + result.get("network_level", {}).get("units", [])
        judged = [{"name": "worst unit level agreement", "threshold": self.min_level_agreement,
                   "value": min(r["level_agreement"] for r in rows)}] if rows else []
        judged += [{"name": f"stimulus {name}: worst unit level agreement", "threshold": self.min_level_agreement,
                    "value": min(r["level_agreement"] for r in units)}
                   for name, units in result.get("stimulus", {}).get("sets", {}).items()]
        if "network_level" in result:
            judged.append({"name": "decision agreement", "threshold": self.min_decision_agreement,
                           "value": result["network_level"]["decision_agreement"]})
        out = [{**t, "op": ">=", "passed": bool(t["value"] >= t["threshold"])} for t in judged]
        if "power" in result:
            worst = max(r["total_w"] for r in result["power"]["units"])
            out.append({"name": "worst unit power", "op": "<=", "threshold": self.max_unit_power_w, "value": worst,
                        "passed": bool(worst <= self.max_unit_power_w)})
        return out


def target_row(t: dict) -> str:
    """One Markdown table row of a judged target (fractions in %, powers in nW)."""
    fmt = (lambda x: f"{x * 1e9:.3g} nW") if "power" in t["name"] else (lambda x: f"{x:.4%}")  # noqa: E731
    return (f"| {t['name']} | {t.get('op', '>=')} {fmt(t['threshold'])} | {fmt(t['value'])} | "
            f"{'met' if t['passed'] else 'NOT met'} |")


def unit_table(comparisons: list[Comparison]) -> str:
    rows = ["| unit | steps | level agreement | RMSE (h) | RMSE / alpha | first divergence | "
            f"steps with z within {NEAR_THRESHOLD:.0%} of +-beta | wrong transitions (farthest from a threshold) |",
            "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        for r in c.per_unit():
            firsts = [f for f in r["first_divergence"] if f is not None]
            far = r["farthest_wrong_transition"]
            rows.append(f"| {r['unit']} | {r['steps']} | {r['level_agreement']:.4%} | {r['rmse']:.4g} | "
                        f"{r['rmse'] / r['alpha']:.4g} | {min(firsts) if firsts else 'none'} | "
                        f"{r['z_near_threshold_steps']} | {r['wrong_transitions']}"
                        + (f" (|z/beta| - 1 up to {far:.2%})" if far is not None else "") + " |")
    return "\n".join(rows) + "\n"


def cosim_stimulus(plan: NetworkPlan, names: list[str], sequences: int, steps: int, margin: float, seed: int,
                   supply, workers: int = 1, timeout_s: float = 3600, progress: bool = False
                   ) -> dict[str, list[Comparison]]:
    """Every layer's units driven by each stimulus set (codesign.validation.stimulus)."""
    out = {}
    for name in names:
        out[name] = []
        for li, layer in enumerate(plan.layers):
            z, h = layer_stimulus(plan, li, name, sequences, steps, margin, seed)
            out[name].append(cosim_layer(plan, li, z, h, supply, workers, timeout_s,
                                         f"ngspice, {name} set, {layer.name}" if progress else None))
    return out


def _stimulus_section(folder: Path, stimulus: dict[str, list[Comparison]], margin: float) -> tuple[dict, list[str]]:
    sets = {name: [row for c in comps for row in c.per_unit()] for name, comps in stimulus.items()}
    md = [f"## Unit stimulus sets (units driven straight by z; margin {margin:g} beta from the thresholds)\n",
          "| set | level agreement | worst unit | steps |", "|---|---|---|---|"]
    for name, comps in stimulus.items():
        rows = sets[name]
        worst = min(rows, key=lambda r: r["level_agreement"])
        md.append(f"| {name} | {np.mean([c.level_agreement for c in comps]):.4%} | {worst['unit']} "
                  f"{worst['level_agreement']:.4%} | {sum(r['steps'] for r in rows)} |")
        comps[0].plot(folder / f"stimulus_{name}.png")
    md += ["", *[f"![{name}](stimulus_{name}.png)\n" for name in stimulus]]
    return {"margin": margin, "sets": sets}, md


def write_validation(folder: str | Path, plan: NetworkPlan, units: list[Comparison] | None,
                     network: NetworkComparison | None, seconds: dict, setting: dict,
                     targets: Targets = Targets(), stimulus: dict[str, list[Comparison]] | None = None,
                     margin: float = 0.0, power: list[dict] | None = None) -> dict:
    """cosim.json, summary.md and overlay plots (sequence 0, one figure per layer and level)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = {**setting, "seconds": seconds}
    what = (f"{setting['sequences']} sequences x {setting['steps']} steps" if setting["level"] != "none"
            else "unit stimulus sets only")
    md = [f"# Co-simulation ({setting['corner']}, {setting['temp_c']:g} C, vdd {setting['vdd_v']:g} V, {what})\n"]
    if units is not None:
        result["unit_level"] = [row for c in units for row in c.per_unit()]
        result["unit_level_agreement"] = float(np.mean([c.level_agreement for c in units]))
        md += ["## Unit level (each unit driven by the software z_t)\n", unit_table(units)]
        for c in units:
            c.plot(folder / f"units_{c.layer}.png")
            md.append(f"![units {c.layer}](units_{c.layer}.png)\n")
    if network is not None:
        s = network.summary()
        result["network_level"] = {**s, "units": [row for c in network.layers for row in c.per_unit()]}
        md += ["## Network level (synapse array, units, readout driven by x_t)\n", unit_table(list(network.layers)),
               f"\nOutputs ({network.readout_mode}): RMSE {s['output_rmse']:.4g} (software outputs' RMS "
               f"{s['output_rms_software']:.4g}); decisions identical on "
               f"{s['decision_agreement']:.1%} of sequences (all identical: {s['decisions_identical']}).\n"]
        if "reference_readout" in s:
            r = s["reference_readout"]
            md.append(f"Readout zeroed on each unit's own output at power-on reset; the same runs read against "
                      f"the ideal reference: RMSE {r['output_rmse']:.4g}, decisions identical on "
                      f"{r['decision_agreement']:.1%}.\n")
        for c in network.layers:
            c.plot(folder / f"network_{c.layer}.png")
            md.append(f"![network {c.layer}](network_{c.layer}.png)\n")
    if stimulus:
        result["stimulus"], section = _stimulus_section(folder, stimulus, margin)
        md += section
    if power is not None:
        result["power"] = {"pattern_z_over_beta": list(DEFAULT_Z), "units": power}
        md += ["## Power per unit, as mapped (activity: z / beta = " + " ".join(f"{z:g}" for z in DEFAULT_Z)
               + f", {1 / plan.chip.clock_period_s:g} Hz clock)\n",
               "| unit | alpha | supply + input | readout | total |", "|---|---|---|---|---|"]
        md += [f"| {r['unit']} | {r['alpha']:.3g} | {r['supply_w'] * 1e9:.3f} nW | {r['readout_w'] * 1e9:.3f} nW | "
               f"**{r['total_w'] * 1e9:.3f} nW** |" for r in power]
        md.append("")
    solved = list(units or []) + list(network.layers[:1] if network else [])
    solved += [c for comps in (stimulus or {}).values() for c in comps]
    result["solver"] = {"options": solver_key(DEFAULT, plan.chip.kind),
                        "netlists_solved_tight": sum(c.solved_tight for c in solved)}
    md.append(f"Solver: {DEFAULT.describe()}; {result['solver']['netlists_solved_tight']} netlist(s) solved again.\n")
    result["targets"] = targets.judge(result)
    result["targets_met"] = all(t["passed"] for t in result["targets"])
    md.append("## Targets\n\n| target | threshold | value | |\n|---|---|---|---|")
    md += [target_row(t) for t in result["targets"]]
    md.append("\nWall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + "\n")
    atomic_write_text(folder / "cosim.json", json.dumps(result, indent=1))
    atomic_write_text(folder / "summary.md", "\n".join(md))
    return result


def validate_map(map_dir: str | Path, out: str | Path, sequences: int, level: str = "network",
                 corner: str | None = None, temp_c: float | None = None, workers: int = 1,
                 vdd_v: float | None = None, targets: Targets = Targets(), timeout_s: float = 3600,
                 progress: bool = False, stimulus: tuple[str, ...] = (), stimulus_steps: int = 200,
                 margin: float = 0.02, seed: int = 0, power: bool = False, readout_zero: str = "reference") -> dict:
    """Co-simulate the first `sequences` test sequences (level "none": none) and each unit
    stimulus set (`sequences` x `stimulus_steps`); write the validation folder. readout_zero: where
    the network's readout puts each unit's zero (`codesign.validation.cosim.READOUT_ZERO`)."""
    plan = load_checked(map_dir)
    check_readout_zero(readout_zero, level in ("network", "both") and not separable(plan))
    x, _ = test_sequences(map_dir, sequences) if level != "none" else (np.zeros((sequences, 0, 0)), None)
    supply = plan.chip.supply(corner, temp_c, vdd_v)
    seconds, units, network = {}, None, None
    run = {"supply": supply, "workers": workers, "timeout_s": timeout_s, "progress": progress}
    if level in ("unit", "both"):
        started = time.perf_counter()
        units = cosim_units(plan, x, **run)
        seconds["unit_level"] = time.perf_counter() - started
    if level in ("network", "both"):
        started = time.perf_counter()
        network = cosim_network(plan, x, **run, readout_zero=readout_zero)
        seconds["network_level"] = time.perf_counter() - started
    stim = None
    if stimulus:
        started = time.perf_counter()
        stim = cosim_stimulus(plan, list(stimulus), sequences, stimulus_steps, margin, seed, **run)
        seconds["stimulus_sets"] = time.perf_counter() - started
    watts = None
    if power:
        started = time.perf_counter()
        watts = mapped_unit_power(plan, supply, workers=workers, timeout_s=timeout_s)
        seconds["power"] = time.perf_counter() - started
    setting = {"map_dir": str(map_dir), "corner": supply.corner, "temp_c": supply.temp_c, "vdd_v": supply.vdd_v,
               "sequences": sequences, "steps": int(x.shape[1]), "level": level, "readout_zero": readout_zero}
    return write_validation(out, plan, units, network, seconds, setting, targets, stim, margin, watts)
