"""Keyword spotting from audio to a validated sky130 circuit, in one command.

    .venv/bin/python examples/kws/run.py                 # short: small data set, 1 utterance
    .venv/bin/python examples/kws/run.py --full          # the targets: 300 clips per class, 100 utterances (days)

The stages are the toolkit's own commands, so each can be re-run by hand:

    codesign train examples/kws/recipe.toml --out OUT/train ...   clips generated, CMRU trained
    codesign map OUT/train --chip examples/kws/chip.toml          mirror synapse array, 16 units
    codesign sweep OUT/cosim.toml --out OUT/sweep                 ngspice, one utterance per point, trimmed at test
    codesign sweep OUT/pvt.toml --out OUT/sweep_pvt               (--full) worst PVT points, trimmed per temperature
    codesign sweep OUT/montecarlo.toml --out OUT/sweep_montecarlo (--chips) each chip and unit trimmed at test
    (here)                                                        unit power as mapped + the array's
    (here)                                                        100 chips drawn in software (array model)

then OUT/report.md: software and circuit accuracy on the same held-out utterances (festival,
a synthesizer never heard in training), confusion matrix, state raster, power and energy per
inference, and the chip's Monte Carlo in software (`codesign.validation.array_model`: its device
sigmas from ngspice, a minute) beside ngspice's chips, which take hours. Everything resumes:
training from its checkpoint, the sweep from its cache (an interrupted --full run picks up where
it stopped). Exit 0 when every target is met, 1 if not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CODESIGN = [sys.executable, "-m", "codesign"]
MODES = {  # clips per class, epochs, utterances co-simulated at tt 27 C, Monte Carlo chips x their utterances
    "short": {"n_per_word": 60, "epochs": 30, "utterances": 1, "chips": 0, "chip_utterances": 0, "pvt": False},
    "full": {"n_per_word": 300, "epochs": 100, "utterances": 100, "chips": 20, "chip_utterances": 20, "pvt": True},
}
# The two worst points of the PVT grid for the comparator's decisions (docs/results.md, "Keyword spotting").
PVT_POINTS = (("sf", -40.0), ("ff", 85.0))
TARGETS = {"software_accuracy": 0.95, "circuit_gap": 0.01, "network_power_w": 1e-6}
MODEL_CHIPS, MODEL_UTTERANCES = 100, 100  # the array model's drawn chips, on up to this many held-out utterances


def stage(k: int, text: str) -> None:
    print(f"[{k}/6] {text}", file=sys.stderr, flush=True)


def run(args: list[str], ok=(0,)) -> int:
    code = subprocess.run(CODESIGN + [str(a) for a in args]).returncode
    if code not in ok:
        sys.exit(f"examples/kws: `codesign {' '.join(map(str, args))}` failed with exit status {code}")
    return code


def write_plans(out: Path, utterances: int, chips: int = 0, chip_utterances: int = 0,
                pvt: bool = False) -> list[Path]:
    """The sweep plans of every co-simulation, the array and the units solved apart (mirror_array):
    cosim.toml, the first `utterances` held-out utterances at tt 27 C; with pvt, pvt.toml, the same
    at PVT_POINTS (utterance by utterance over the points); with chips, montecarlo.toml, Monte
    Carlo chips 1..chips on their first `chip_utterances` (tt 27 C, utterance by utterance over the
    chips). Every chip is trimmed at test first, as a chip off the line would be: its array's rows
    and its comparators' thresholds, at the point's temperature (a temperature sensor and a table
    of trims); a chip drawn by Monte Carlo has each unit's comparator trimmed on its own trip
    points (mirror_trim, comparator_trim, trim_table; docs/mapping.md) and is read on the solver's
    first pass (solver = "first_pass": the same decisions as the cascade on the chips measured,
    at a third of the time; docs/results.md, "Keyword spotting"). Every unit's readout is zeroed
    on its own output at power-on reset (readout_zero; docs/design.md, "State -> readout
    current"). The array's operating points are solved with each row loaded by its comparator's
    input diode, the comparator's whole DC load (array_load; docs/mapping.md)."""
    nominal = [("tt", 27.0, n, None) for n in range(utterances)]
    hot_cold = [(c, t, n, None) for n in range(utterances) for c, t in (PVT_POINTS if pvt else ())]
    drawn = [("tt", 27.0, n, k) for n in range(chip_utterances) for k in range(1, chips + 1)]
    table = ('rows and comparators trimmed at test at the point\'s temperature\nmirror_trim = "rows"\n'
             'comparator_trim = "test"\ntrim_table = "temperature"')
    units = ('rows and each unit\'s comparator trimmed at test, the first pass as the verdict\nmirror_trim = "rows"\n'
             'comparator_trim = "units"\nsolver = "first_pass"')
    plans = []
    for name, points, head in [("cosim", nominal, f"tt 27 C, {table}"), ("pvt", hot_cold, f"PVT points, {table}"),
                               ("montecarlo", drawn, f"Monte Carlo chips, {units}")]:
        if not points:
            continue
        rows = [f'  {{ corner = "{c}", temp_c = {t:g}, map_dir = "map", sequence = {n}'
                + ("" if k is None else f", mc_seed = {k}") + " }," for c, t, n, k in points]
        plans.append(out / f"{name}.toml")
        plans[-1].write_text(f"# the mapped KWS network on its first held-out test utterances: {head}\n"
                             'job = "network_cosim"\nmirror_array = "staged"\narray_load = "input_stage"\n'
                             'readout_zero = "reset"\n'
                             'timeout_s = 1800\npoints = [\n'
                             + "\n".join(rows) + "\n]\n")
    return plans


def network_power(map_dir: Path, x: np.ndarray, workers: int) -> dict:
    """Every unit's power as mapped (ngspice) plus the mirror array's own supply current (Kirchhoff)."""
    from codesign.mapping.synapses import mirror_array
    from codesign.validation.cosim import load_checked
    from codesign.validation.power import mapped_unit_power, mirror_array_extra_current, shared_budget

    plan = load_checked(map_dir)
    supply = plan.chip.supply()
    units = mapped_unit_power(plan, supply, workers=workers)
    array = mirror_array_extra_current(mirror_array(plan, plan.layers[0]), x)
    units_w = sum(u["total_w"] for u in units)
    clock_w = sum(u["clock_w"] for u in units)
    array_w = array["total_a"] * supply.vdd_v
    budget = shared_budget(plan, units)  # estimated, not simulated
    total_w = units_w + clock_w + array_w + budget["total_w"]
    return {"vdd_v": supply.vdd_v, "units_w": units_w, "worst_unit_w": max(u["total_w"] for u in units),
            "readout_w": sum(u["readout_w"] for u in units), "clock_lines_w": clock_w, "synapse_array_w": array_w,
            "array_currents_a": array, "simulated_w": units_w + clock_w + array_w, "shared_budget": budget,
            "total_w": total_w, "energy_per_inference_j": total_w * x.shape[1] * plan.chip.clock_period_s}


def drawn_in_software(map_dir: Path, n_test: int) -> dict:
    """The mapped chip's Monte Carlo in software: its device sigmas measured by ngspice, MODEL_CHIPS
    chips drawn and trimmed at test, each on the first MODEL_UTTERANCES held-out utterances (or the
    whole test set, if smaller); every figure's mean and 5th / 95th percentile over the chips."""
    from codesign.validation.array_model import drawn_chips, measured_mismatch
    from codesign.validation.array_trim import map_calibration_inputs
    from codesign.validation.cosim import load_checked
    from codesign.validation.inputs import test_sequences

    plan = load_checked(map_dir)
    mismatch = measured_mismatch(plan)
    x, labels = test_sequences(map_dir, min(MODEL_UTTERANCES, n_test))
    chips = drawn_chips(plan, x, labels, map_calibration_inputs(map_dir), mismatch, MODEL_CHIPS, progress="drawn chips")
    spread = {k: [float(np.mean(v)), float(np.percentile(v, 5)), float(np.percentile(v, 95))]
              for k in ("accuracy", "decisions_identical", "level_agreement")
              for v in [[c[k] for c in chips]]}
    return {"chips": MODEL_CHIPS, "utterances": len(x), "software_accuracy": chips[0]["software_accuracy"],
            "sigmas": dataclasses.asdict(mismatch), **spread}


def plots(out: Path, rows: list, labels: np.ndarray, names: list, raster: dict | None = None) -> list[Path]:
    """The report's figures from tt sweep rows (one utterance each): confusion.png (the software's and the
    circuit's decisions on the same utterances), outputs.png (every readout output, circuit against
    software), state_raster.png (the units' levels over one utterance, `raster` or the first row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["status"] != "failed"]
    y = {side: np.array([r["figures"][f"y_{side}"] for r in rows]) for side in ("software", "circuit")}
    figures = {"confusion.png": _confusions(plt, y, labels[[r["sequence"] for r in rows]], names),
               "outputs.png": _outputs(plt, y), "state_raster.png": _raster(plt, raster or rows[0])}
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return [out / name for name in figures]


def _confusions(plt, y: dict, spoken: np.ndarray, names: list):
    n = len(names)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharey=True)
    for ax, (side, outputs) in zip(axes, y.items()):
        confusion = np.zeros((n, n), int)
        np.add.at(confusion, (spoken, outputs.argmax(axis=1)), 1)
        ax.imshow(confusion, cmap="Blues")
        ax.set(xticks=range(n), yticks=range(n), xlabel=f"{side} decision",
               title=f"{side}: {np.trace(confusion) / len(spoken):.1%} on {len(spoken)} utterances")
        ax.set_xticklabels(names, rotation=90)
        ax.set_yticklabels(names)
        for (i, j), v in np.ndenumerate(confusion):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    axes[0].set_ylabel("word spoken")
    return fig


def _outputs(plt, y: dict):
    differ = y["software"].argmax(axis=1) != y["circuit"].argmax(axis=1)
    fig, ax = plt.subplots(figsize=(5, 5))
    for mask, label, colour in ((~differ, "decision the same", "tab:blue"), (differ, "decision differs", "tab:red")):
        ax.plot(y["software"][mask].ravel(), y["circuit"][mask].ravel(), ".", ms=3, color=colour,
                label=f"{label} ({mask.sum()} utterances)")
    ends = [min(y["software"].min(), y["circuit"].min()), max(y["software"].max(), y["circuit"].max())]
    ax.plot(ends, ends, "k-", lw=0.5)
    ax.set(xlabel="software readout output", ylabel="circuit readout output (ngspice)",
           title=f"{y['software'].shape[1]} outputs x {len(differ)} utterances")
    ax.legend(fontsize=8)
    return fig


def _raster(plt, row: dict):
    k = {key: np.array([t[key] for t in row["figures"]["traces"]]) for key in ("k_software", "k_circuit")}
    apart = k["k_circuit"] - k["k_software"]
    span = max(np.abs(apart).max(), 1)  # centred on 0, the software's level
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
    panels = ((k["k_software"], "software", {}), (k["k_circuit"], "circuit", {}),
              (apart, "circuit - software", {"vmin": -span, "vmax": span}))
    for ax, (image, title, scale) in zip(axes, panels):
        im = ax.imshow(image, aspect="auto", cmap="coolwarm", interpolation="nearest", **scale)
        ax.set(xlabel="frame (10 ms)", title=f"utterance {row['sequence']}: {title}")
        fig.colorbar(im, ax=ax, label="levels apart" if scale else "level k")
    axes[0].set_ylabel("unit")
    return fig


def on_utterances(rows: list, labels: np.ndarray) -> dict:
    """Software and circuit on the utterances of some sweep rows (one point each): accuracy, decisions."""
    done = [r for r in rows if r["status"] != "failed"]
    y = labels[[r["sequence"] for r in done]]
    sw = np.array([np.argmax(r["figures"]["y_software"]) for r in done], dtype=int)
    circuit = np.array([np.argmax(r["figures"]["y_circuit"]) for r in done], dtype=int)
    return {"utterances": len(rows), "failed": len(rows) - len(done),
            "software_accuracy": float(np.mean(sw == y)) if done else None,
            "circuit_accuracy": float(np.mean(circuit == y)) if done else None,
            "decisions_identical": float(np.mean(sw == circuit)) if done else None,
            "worst_level_agreement": min((r["figures"]["worst_level_agreement"] for r in done), default=None)}


def split_rows(rows: list) -> tuple[list, dict, dict]:
    """Sweep rows as (tt 27 C, {(corner, temp): rows} at the PVT points, {chip: rows} of the Monte Carlo chips)."""
    tt, pvt, chips = [], {}, {}
    for r in rows:
        if r.get("mc_seed") is not None:
            chips.setdefault(r["mc_seed"], []).append(r)
        elif (r["corner"], r["temp_c"]) == ("tt", 27.0):
            tt.append(r)
        else:
            pvt.setdefault((r["corner"], r["temp_c"]), []).append(r)
    return tt, pvt, chips


def judge(out: Path, rows: list, labels: np.ndarray, power: dict, seconds: dict, full: bool,
          drawn: dict | None = None) -> dict:
    """kws.json: the figures (drawn: `drawn_in_software`'s) and the targets judged."""
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    summary = json.loads((out / "map" / "map_summary.json").read_text())
    tt, pvt, chips = split_rows(rows)
    result = {
        "mode": "full" if full else "short",
        "software_accuracy_test_set": metrics["test_accuracy"],
        "software_accuracy_mapped_test_set": summary["test_metric_mapped"],
        **on_utterances(tt, labels),
        "pvt": [{"corner": c, "temp_c": t, **on_utterances(r, labels)} for (c, t), r in sorted(pvt.items())],
        "monte_carlo": [{"mc_seed": k, **on_utterances(r, labels)} for k, r in sorted(chips.items())],
        "drawn_in_software": drawn,
        "power": power, "seconds": seconds, "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
    }
    gap = None if result["circuit_accuracy"] is None else result["software_accuracy"] - result["circuit_accuracy"]
    targets = [("software accuracy, mapped, held-out synthesizer", ">", TARGETS["software_accuracy"],
                summary["test_metric_mapped"]),
               ("circuit accuracy below software, same utterances", "<=", TARGETS["circuit_gap"], gap),
               ("whole-network power", "<", TARGETS["network_power_w"], power["total_w"])]
    result["targets"] = [{"name": n, "op": op, "threshold": t, "value": v,
                          "passed": v is not None and (v > t if op == ">" else v <= t if op == "<=" else v < t)}
                         for n, op, t, v in targets]
    (out / "kws.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def robustness_lines(r: dict) -> list[str]:
    """The PVT points' and Monte Carlo chips' rows of the report (none when not simulated)."""
    lines = []
    for p in r.get("pvt", []):
        lines.append(f"| at {p['corner']} {p['temp_c']:g} C: utterances (failed), software / circuit accuracy, "
                     f"decisions identical | {p['utterances']} ({p['failed']}), {_pct(p['software_accuracy'])} / "
                     f"{_pct(p['circuit_accuracy'])}, {_pct(p['decisions_identical'])} |")
    done = [c for c in r.get("monte_carlo", []) if c["failed"] < c["utterances"]]
    if done:
        acc = [c["circuit_accuracy"] for c in done]
        same = [c["decisions_identical"] for c in done]
        n = sum(c["utterances"] - c["failed"] for c in done)
        lines.append(f"| Monte Carlo chips (tt 27 C): {len(done)} chips, {n} utterances; circuit accuracy mean / "
                     f"worst chip | {np.mean(acc):.1%} / {min(acc):.1%} |")
        lines.append(f"| Monte Carlo chips: decisions identical to the software, mean / worst chip | "
                     f"{np.mean(same):.1%} / {min(same):.1%} |")
    m = r.get("drawn_in_software")
    if m:
        s = m["sigmas"]
        band = lambda k: f"{m[k][0]:.1%} ({m[k][1]:.1%}-{m[k][2]:.1%})"  # noqa: E731
        lines += [f"| Monte Carlo in software (array model): {m['chips']} chips drawn x {m['utterances']} utterances, "
                  f"software {m['software_accuracy']:.1%}; accuracy mean (5th-95th percentile) | {band('accuracy')} |",
                  f"| array model: decisions identical to the software / unit-steps on the software's level | "
                  f"{band('decisions_identical')} / {band('level_agreement')} |",
                  f"| array model's device sigmas (ngspice, Monte Carlo chips 1-2): unit pfet, row mirror, readout "
                  f"mirror pair | {s['unit_pfet_sigma_rel']:.1%}, {s['row_nfet_sigma_rel']:.1%}, "
                  f"{s['readout_mirror_sigma_rel']:.1%} |"]
    return lines


def write_report(out: Path, r: dict, frames: int) -> None:
    """report.md (printed too, from the table on)."""
    power = r["power"]
    lines = [f"# Keyword spotting on the mirror-array CMRU chip ({r['date']})", "", f"Command: `{r['command']}`", "",
             "| figure | value |", "|---|---|",
             f"| software accuracy, held-out synthesizer, whole test set (float / mapped) | "
             f"{r['software_accuracy_test_set']:.2%} / {r['software_accuracy_mapped_test_set']:.2%} |",
             f"| utterances co-simulated (failed) | {r['utterances']} ({r['failed']}) |"]
    if r["software_accuracy"] is not None:
        lines += [f"| software accuracy on them | {r['software_accuracy']:.2%} |",
                  f"| circuit accuracy on them (ngspice, tt 27 C) | {r['circuit_accuracy']:.2%} |",
                  f"| decisions identical | {r['decisions_identical']:.2%} |",
                  f"| worst unit level agreement | {r['worst_level_agreement']:.4%} |"]
    lines += robustness_lines(r)
    b = power["shared_budget"]
    lines += [f"| power: 16 units as mapped (readout included) | {power['units_w'] * 1e9:.1f} nW |",
              f"| power: clock lines, the units' gates charged (ngspice) | {power['clock_lines_w'] * 1e9:.2f} nW |",
              f"| power: synapse array beyond the unit inputs | {power['synapse_array_w'] * 1e9:.1f} nW |",
              f"| estimated, not simulated: bias master branches {b['bias_master_w'] * 1e9:.1f}, reference "
              f"{b['reference_w'] * 1e9:.2f}, level ladder {b['ladder_w'] * 1e9:.2f}, rail regulators "
              f"{b['rail_regulators_w'] * 1e9:.1f} nW | {b['total_w'] * 1e9:.1f} nW |",
              f"| whole network (simulated {power['simulated_w'] * 1e9:.1f} nW + estimated) | "
              f"{power['total_w'] * 1e9:.1f} nW |",
              f"| energy per inference ({frames} frames) | {power['energy_per_inference_j'] * 1e9:.2f} nJ |",
              "", "| target | threshold | value | |", "|---|---|---|---|"]
    lines += [f"| {t['name']} | {t['op']} {t['threshold']:g} | "
              f"{'n/a' if t['value'] is None else format(t['value'], '.4g')} | {'met' if t['passed'] else 'NOT met'} |"
              for t in r["targets"]]
    a = b["budget"]
    lines += ["", "The estimates (`codesign.validation.power.SharedBudget`): the master branches copy the "
              f"costliest unit's own supply current once, the reference is {a['reference_branches']} branches at "
              f"I_unit, the ladder {a['ladder_current_a'] * 1e12:g} pA, each row rail's regulator a "
              f"{a['regulator_quiescent_a'] * 1e12:g} pA tail. Not counted: the front end that computes the "
              "features (and their deltas) and turns them into currents (ideal sources here), and the "
              "readout's sum (behavioural; with a mean readout, an integrator per output).",
              "", "![confusion](confusion.png)", "", "![outputs](outputs.png)", "", "![raster](state_raster.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines[4:]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="the settings that measure the targets (hours)")
    p.add_argument("--out", type=Path, default=Path("runs/kws"), help="output folder (default runs/kws)")
    p.add_argument("--utterances", type=int, help="utterances to co-simulate (default: 1 short, 100 full)")
    p.add_argument("--chips", type=int, help="Monte Carlo chips (default: 0 short, 20 full)")
    p.add_argument("--chip-utterances", type=int, help="utterances per Monte Carlo chip (default: 0 short, 20 full)")
    p.add_argument("--no-pvt", action="store_true", help="--full without the two worst PVT points")
    p.add_argument("--workers", type=int, default=2, help="ngspice processes in parallel (default 2)")
    args = p.parse_args()
    mode = dict(MODES["full" if args.full else "short"])
    for key in ("utterances", "chips", "chip_utterances"):
        value = getattr(args, key)
        if value is not None:
            if value < (1 if key == "utterances" else 0):
                p.error(f"--{key.replace('_', '-')}: at least {1 if key == 'utterances' else 0}, got {value}")
            mode[key] = value
    if args.no_pvt:
        mode["pvt"] = False
    if bool(mode["chips"]) != bool(mode["chip_utterances"]):
        p.error("--chips and --chip-utterances: give both, or neither as 0")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    seconds = {}

    start = time.monotonic()
    stage(1, f"train: {mode['n_per_word']} clips per class, {mode['epochs']} epochs -> {out / 'train'}")
    run(["train", HERE / "recipe.toml", "--out", out / "train", "--set", f"task.params.n_per_word={mode['n_per_word']}",
         "--set", f"train.epochs={mode['epochs']}"])
    seconds["train"] = time.monotonic() - start

    start = time.monotonic()
    stage(2, f"map onto {HERE / 'chip.toml'} -> {out / 'map'}")
    run(["map", out / "train", "--chip", HERE / "chip.toml", "--out", out / "map"])
    from codesign.validation.array_trim import CALIBRATION_SEQUENCES
    from codesign.validation.inputs import store_inputs

    # The inputs the sweeps run on, kept with the map: their keys then hold on any machine.
    store_inputs(out / "map", max(mode["utterances"], mode["chip_utterances"]), CALIBRATION_SEQUENCES)
    seconds["map"] = time.monotonic() - start

    start = time.monotonic()
    pvt = f", the same at {' and '.join(f'{c} {t:g} C' for c, t in PVT_POINTS)}" if mode["pvt"] else ""
    chips = f", {mode['chips']} Monte Carlo chips x {mode['chip_utterances']}" if mode["chips"] else ""
    stage(3, f"co-simulate {mode['utterances']} held-out utterances at tt 27 C{pvt}{chips} -> {out / 'sweep'}")
    rows = []
    for plan in write_plans(out, mode["utterances"], mode["chips"], mode["chip_utterances"], mode["pvt"]):
        folder = out / ("sweep" if plan.stem == "cosim" else f"sweep_{plan.stem}")
        # exit 1 only says a level target was missed somewhere: accuracy is judged below
        run(["sweep", plan, "--out", folder, "--workers", args.workers], ok=(0, 1))
        rows += json.loads((folder / "results.json").read_text())["rows"]
    rows.sort(key=lambda r: r["sequence"])
    seconds["cosim"] = time.monotonic() - start

    from codesign.validation.inputs import test_sequences, trained_task

    task = trained_task(out / "map")  # the cached features
    x = test_sequences(out / "map", mode["utterances"])[0]  # the inputs the sweeps ran on
    labels = task.y_test.numpy()

    start = time.monotonic()
    stage(4, "power: every unit as mapped (ngspice) + the synapse array's currents")
    power = network_power(out / "map", x, args.workers)
    seconds["power"] = time.monotonic() - start

    start = time.monotonic()
    stage(5, f"Monte Carlo in software: device sigmas (ngspice), {MODEL_CHIPS} chips drawn")
    drawn = drawn_in_software(out / "map", len(labels))
    seconds["drawn_in_software"] = time.monotonic() - start

    stage(6, f"report -> {out / 'report.md'}")
    result = judge(out, rows, labels, power, seconds, args.full, drawn)
    tt = [r for r in split_rows(rows)[0] if r["status"] != "failed"]
    if tt:
        plots(out, tt, labels, list(task.class_names))
    write_report(out, result, x.shape[1])
    return 0 if all(t["passed"] for t in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
