"""Where a `run.py --full` run stands: the figures of the utterances its sweeps have finished so far.

    .venv/bin/python examples/kws/progress.py OUT        # OUT: run.py's --out folder (map/ and sweep*/ in it)
    .venv/bin/python examples/kws/progress.py OUT --plots DIR [--raster N] [--map NAME]   # and the report's figures
    .venv/bin/python examples/kws/progress.py OUT --same-utterances-as OUT2  # only the utterances OUT2 has

A full run's sweeps take days; each finished point is stored in OUT/sweep*/points as it arrives, but
the report is written only when every sweep has ended. This reads the stored points (verified
entries only) and prints, for tt 27 C, each PVT point and each Monte Carlo chip (of each map folder
the points ran on apart: map/ and its remaps onto other device sizes): utterances done,
software and circuit accuracy on them, decisions identical, level agreement (mean over the units,
then mean and worst utterance; where a decision differs, the software's margin between its two
largest outputs and the circuit's outputs' error), the split of the departures (the array alone
against the software, the units against the array's delivered levels), wrong transitions (count,
farthest from a threshold), how long a unit stays off the software's level once it leaves it, and
the time per point; then on which side of a threshold the wrong transitions fall (software z
recomputed from the map), how many unit-steps read a level the unit's cell cannot make, and the
readout: where its zero sat (each unit's own output at reset, or the ideal reference) and, for
points zeroed at reset, their outputs read against the reference too.
With --plots, the report's figures of the tt points so far (run.py's `plots`: the confusion
matrices, the readout outputs, the levels over utterance N). Nothing is simulated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import on_utterances, plots, split_rows  # noqa: E402  the report's own arithmetic

from codesign.fsio import check_entry  # noqa: E402
from codesign.mapping.reference import software_states  # noqa: E402
from codesign.validation.cosim import Comparison, load_checked  # noqa: E402


def stored_rows(out: Path) -> list[dict]:
    """Every verified point record of OUT/sweep*/points, as the sweep report's rows (axes, status, figures)."""
    rows = []
    for path in sorted(out.glob("sweep*/points/*.json")):
        data, why = check_entry(path)  # a reader: a bad record is left to the sweep, which runs it again
        if data is None:
            if why is not None:
                print(f"progress: {path} skipped: {why}", file=sys.stderr)
            continue
        r = json.loads(data)
        rows.append({**r["axes"], "mc_seed": r["axes"].get("mc_seed"), "status": r["status"],
                     "figures": r.get("figures") or {}, "seconds": r.get("seconds")})
    return rows


def map_name(row: dict) -> str:
    """The map folder a point ran on, by name (its stored path is where the sweep ran)."""
    return Path(row.get("map_dir") or "map").name


def point_groups(rows: list) -> list[tuple[str, list]]:
    """(name, rows) of tt 27 C, each PVT point and each Monte Carlo chip, for each map folder the
    points ran on ("map" first, unnamed; another, such as the same network on other array sizes,
    named after its folder): points of two arrays are never pooled."""
    groups = []
    for name in sorted({map_name(r) for r in rows}, key=lambda n: (n != "map", n)):
        tt, pvt, chips = split_rows([r for r in rows if map_name(r) == name])
        suffix = "" if name == "map" else f", {name}"
        groups += ([(f"tt 27 C{suffix}", tt)] if tt else [])
        groups += [(f"{c} {t:g} C{suffix}", r) for (c, t), r in sorted(pvt.items())]
        loads = {array_load(r) for rs in chips.values() for r in rs}
        for k, chip in sorted(chips.items()):  # a chip's array solved under another load is another draw
            for load in sorted({array_load(r) for r in chip}):
                note = f", {load.replace('_', '-')} load" if len(loads) > 1 else ""
                groups.append((f"Monte Carlo chip {k}{suffix}{note}", [r for r in chip if array_load(r) == load]))
    return groups


def array_load(row: dict) -> str:
    """What loaded a staged point's array rows (recorded since points could differ: the whole comparators before)."""
    return (row.get("figures") or {}).get("array_load", "comparators")


def solver_note(rows: list) -> str:
    """Which solvers' verdicts a group holds when not only the cascade's (a sweep plan's `solver`)."""
    solvers = {r["figures"].get("solver", "cascade") for r in rows}
    return "" if solvers == {"cascade"} else f" ({', '.join(sorted(s.replace('_', ' ') for s in solvers))})"


def same_utterances(rows: list, other: list) -> list:
    """The rows of the utterances `other` has points of: two runs compared on the same utterances."""
    sequences = {r["sequence"] for r in other}
    return [r for r in rows if r["sequence"] in sequences]


def _mean(rows: list, name: str) -> str:
    values = [r["figures"][name] for r in rows if r["figures"].get(name) is not None]
    return f"{np.mean(values):.1%}" if values else "n/a"


def departures(rows: list) -> str:
    """How long a unit stays off the software's level once it leaves it: the runs of frames where a
    unit's circuit level differs from the software's (count, median and longest, in frames). A unit
    holds its level until its input crosses a threshold again, so one wrong transition lasts."""
    runs = []
    for trace in (t for r in rows for t in r["figures"].get("traces", ())):
        apart = np.r_[0, np.not_equal(trace["k_circuit"], trace["k_software"]).astype(int), 0]
        edges = np.diff(apart)
        runs += list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    return f"{len(runs)}: {np.median(runs):g} / {max(runs)} frames" if runs else "none"


def wrong_sides(rows: list, z: np.ndarray, alpha: np.ndarray, beta: np.ndarray, eps: float, levels: int) -> str:
    """Where the wrong transitions of some rows (one utterance each, one layer of units) fall: steps
    the circuit took while the software's |z| stayed inside beta (the circuit decided early), and steps
    it did not take although |z| crossed beta; each with the median of |z| / beta there. z: the
    software's pre-activations [utterances, T, d], indexed by the rows' sequence numbers."""
    inside, outside = [], []
    for r in (r for r in rows if r["status"] != "failed"):
        c = Comparison.from_traces("layer", r["figures"]["traces"], alpha, beta, z[r["sequence"]], eps, levels)
        zb = np.abs(c.z / beta)[c.contract_from_circuit() != c.k_circuit]
        inside += list(zb[zb < 1])
        outside += list(zb[zb >= 1])
    median = lambda v: f" (median {np.median(v):.4f})" if v else ""  # noqa: E731
    return f"{len(inside)}{median(inside)} / {len(outside)}{median(outside)}"


def impossible(rows: list, kind, z: np.ndarray, beta: np.ndarray) -> int:
    """Unit-steps whose circuit level the unit's cell cannot make on the software's inputs
    (`HardwareKind.impossible_readings`): readings the co-simulation's last solve left standing."""
    return int(sum(kind.impossible_readings(np.asarray(t["k_circuit"])[:, None],
                                            z[r["sequence"]][:, [i]] / beta[i]).sum()
                   for r in rows for i, t in enumerate(r["figures"].get("traces", ()))))


def differing(r: dict) -> str:
    """A point whose decision differs: its utterance, how far the software's decision was from its
    runner-up (its two largest outputs apart) and the circuit's outputs' RMS error against the
    software's, which a mean readout gathers from every frame's level differences."""
    first, second = np.sort(r["figures"]["y_software"])[::-1][:2]
    parts = [f"software margin {first - second:.2f}"]
    if r["figures"].get("output_rmse") is not None:
        parts.append(f"outputs' RMS error {r['figures']['output_rmse']:.2f}")
    return f"{r['sequence']} ({', '.join(parts)})"


def readout_zeros(name: str, rows: list, labels: np.ndarray) -> str:
    """One row of the readout's table: the readout zero the points read with (`readout_zero`), the
    outputs' RMS error against the software's, and where a point zeroed at reset keeps the outputs
    read against the ideal reference too, that readout's RMS error, decisions identical and accuracy."""
    done = [r for r in rows if r["status"] != "failed"]
    zeros = sorted({r["figures"].get("readout_zero", "reference") for r in done})
    rms = lambda key: float(np.sqrt(np.mean([np.mean(np.subtract(r["figures"][key], r["figures"]["y_software"])  # noqa: E731
                                             ** 2) for r in done if key in r["figures"]])))
    text = f"| {name} | {' and '.join(zeros)} | {rms('y_circuit'):.3f} |"
    referenced = [r for r in done if "y_circuit_reference" in r["figures"]]
    if not referenced:
        return text + " n/a |"
    as_referenced = [{**r, "figures": {**r["figures"], "y_circuit": r["figures"]["y_circuit_reference"]}}
                     for r in referenced]
    u = on_utterances(as_referenced, labels)
    return (text + f" {rms('y_circuit_reference'):.3f}, decisions identical {u['decisions_identical']:.1%}, "
            f"circuit {u['circuit_accuracy']:.1%} (software {u['software_accuracy']:.1%}) on {len(referenced)} |")


def line(name: str, rows: list, labels: np.ndarray) -> str:
    """One table row: the figures of some sweep rows (one utterance each)."""
    done = [r for r in rows if r["status"] != "failed"]
    u = on_utterances(rows, labels)
    units = [x for r in done for x in r["figures"]["units"]]
    wrong = sum(x["wrong_transitions"] for x in units)
    far = max((abs(x["farthest_wrong_transition"]) for x in units if x["farthest_wrong_transition"] is not None),
              default=0.0)
    level = [np.mean([x["level_agreement"] for x in r["figures"]["units"]]) for r in done]  # per utterance
    mean_level = np.mean(level) if level else float("nan")
    seconds = [r["seconds"] for r in done if r["seconds"]]
    sequences = ", ".join(differing(r) for r in sorted(done, key=lambda r: r["sequence"])
                          if np.argmax(r["figures"]["y_software"]) != np.argmax(r["figures"]["y_circuit"]))
    pct = lambda v: "n/a" if v is None else f"{v:.1%}"  # noqa: E731
    return (f"| {name} | {len(done)} ({u['failed']} failed) | {pct(u['software_accuracy'])} / "
            f"{pct(u['circuit_accuracy'])} | {pct(u['decisions_identical'])} (differ: {sequences or 'none'}) | "
            f"{mean_level:.1%} / {min(level, default=float('nan')):.1%} | {_mean(done, 'delivered_level_agreement')}"
            f" / {_mean(done, 'units_on_delivered_level_agreement')} | {wrong} ({far:.1%} of beta) | "
            f"{departures(done)} | "
            + (f"{min(seconds):.0f}-{max(seconds):.0f} s (mean {np.mean(seconds):.0f}) |" if seconds else "n/a |"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="run.py's --out folder")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write the figures of the tt points here")
    p.add_argument("--raster", type=int, metavar="N", help="the utterance of the state raster (default: the first)")
    p.add_argument("--map", default="map", metavar="NAME",
                   help="the map folder in OUT whose tt points are plotted (default: map; a remap such as map_readout)")
    p.add_argument("--same-utterances-as", type=Path, metavar="OUT2",
                   help="only the utterances another run's folder has points of (runs on other trims, on the same map)")
    args = p.parse_args()
    if not (args.out / "map" / "manifest.json").is_file():
        p.error(f"{args.out}: no map/manifest.json; give run.py's --out folder")
    rows = stored_rows(args.out)
    if args.same_utterances_as:
        rows = same_utterances(rows, stored_rows(args.same_utterances_as))
    if not rows:
        print(f"{args.out}: no finished point yet", file=sys.stderr)
        return 1
    from codesign.validation.inputs import test_sequences, trained_task

    # the map's stored inputs when it has them; else the clips are regenerated if not cached
    x, labels = test_sequences(args.out / "map", 1 + max(r["sequence"] for r in rows))
    tt = split_rows([r for r in rows if map_name(r) == args.map])[0]  # the plots'
    print("| point | utterances done | software / circuit accuracy | decisions identical | level agreement: "
          "mean / worst utterance | array alone / units on delivered | wrong transitions (farthest) | "
          "departures from the software's level: count: median / longest | time per point |\n"
          "|---|---|---|---|---|---|---|---|---|")
    groups = [(name + solver_note(group), group) for name, group in point_groups(rows)]
    for name, group in groups:
        print(line(name, group, labels))
    print("\n| point | readout zero | outputs' RMS error | the same runs read against the ideal reference: "
          "RMS error, decisions, accuracy |\n|---|---|---|---|")
    for name, group in groups:
        print(readout_zeros(name, group, labels))
    plan = load_checked(args.out / "map")
    if len(plan.layers) == 1:  # the KWS network; a stacked one would need each layer's traces apart
        layer = plan.layers[0]
        z = software_states(plan, x)[0][0]
        alpha, beta = layer.alpha, layer.beta
        print("\n| point | wrong transitions: stepped with \\|z\\| < beta / not stepped with \\|z\\| >= beta "
              "(median \\|z\\| / beta) | unit-steps read as the cell cannot make |\n|---|---|---|")
        for name, group in groups:
            print(f"| {name} | {wrong_sides(group, z, alpha, beta, plan.eps, plan.levels)} | "
                  f"{impossible(group, plan.chip.kind, z, beta)} |")
    if args.plots:
        names = list(trained_task(args.out / "map").class_names)
        return write_plots(args.plots, tt, labels, names, args.raster, where=args.map)
    return 0


def write_plots(folder: Path, tt: list, labels: np.ndarray, names: list, raster: int | None,
                where: str = "map") -> int:
    """The report's figures of the tt points `tt`, all on the map folder named `where`."""
    done = sorted((r for r in tt if r["status"] != "failed"), key=lambda r: r["sequence"])
    chosen = [r for r in done if r["sequence"] == raster] if raster is not None else done[:1]
    if not chosen:
        print(f"no finished tt 27 C point on {where}/" + (f" for utterance {raster}" if done else ""), file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    for path in plots(folder, done, labels, names, chosen[0]):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
