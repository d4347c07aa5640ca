"""Wrong transitions of a co-simulation sweep: for every point of a `codesign sweep` results.json
(jobs unit_cosim / network_cosim), each unit's levels are judged against the contract taken from
the circuit's own previous level (`Comparison.contract_from_circuit`), with the software
pre-activations z recomputed from the point's map folder and test sequence.

    .venv/bin/python benchmarks/sweep_transitions.py runs/sweep/x/results.json

Prints one line per point that has a unit off the software's levels (its map folder where the
sweep has several, its Monte Carlo chip where it has one): the worst unit's level
agreement, its transition agreement, and |z/beta| - 1 at each wrong transition (a circuit that
only errs on decisions a hair from a threshold has small values there). Exit status 1 when a
wrong transition lies farther than --near (default 3 %) from a threshold.
"""

import argparse
import json
import sys
from functools import lru_cache

import numpy as np

from codesign.mapping.reference import software_states
from codesign.mru import threshold_distance
from codesign.validation.cosim import Comparison, load_checked
from codesign.validation.report import test_sequences


@lru_cache(maxsize=4)
def _z(map_dir: str, sequences: int):
    plan = load_checked(map_dir)
    zs, _ = software_states(plan, test_sequences(map_dir, sequences)[0])
    return plan, zs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="results.json of a cosim sweep")
    p.add_argument("--near", type=float, default=0.03, help="how close to a threshold a wrong transition may be")
    args = p.parse_args()
    rows = json.load(open(args.results))["rows"]
    sequences = 1 + max(r["sequence"] for r in rows if r.get("figures"))
    far, totals = [], {}  # map folder -> [points, unit-steps, wrong transitions, farther than --near, farthest]
    several_maps = len({r["map_dir"] for r in rows}) > 1
    for r in rows:
        chip = "" if r.get("mc_seed") is None else f" chip {r['mc_seed']}"
        where = (f"{r['map_dir']}: " if several_maps else "") + \
            f"{r['corner']} {r['temp_c']:g} C {r['vdd_v']:g} V{chip} seq {r['sequence']}"
        if r["status"] == "failed":
            print(f"{where}: failed ({r.get('reason')})")
            continue
        plan, zs = _z(r["map_dir"], sequences)
        total = totals.setdefault(r["map_dir"], [0, 0, 0, 0, 0.0])
        total[0] += 1
        for li, layer in enumerate(plan.layers):
            traces = [t for t in r["figures"]["traces"] if t["layer"] == layer.name]
            c = Comparison.from_traces(layer.name, traces, layer.alpha, layer.beta, zs[li][r["sequence"]],
                                       plan.eps, plan.levels)
            wrong = c.contract_from_circuit() != c.k_circuit
            total[1] += wrong.size
            total[2] += int(wrong.sum())
            if np.array_equal(c.k_software, c.k_circuit):
                continue
            off = threshold_distance(c.z[wrong] / np.broadcast_to(c.beta, c.z.shape)[wrong])
            far += [float(v) for v in off if v > args.near]
            total[3] += int(np.sum(off > args.near))
            total[4] = max([total[4], *off.tolist()])
            print(f"{where} {layer.name}: level agreement {c.level_agreement:.3f}, transition agreement "
                  f"{1 - wrong.mean():.4f}, |z/beta| - 1 at the wrong transitions: "
                  + ", ".join(f"{v:.2%}" for v in off))
    for map_dir, (points, steps, wrong_steps, beyond, farthest) in totals.items():
        print(f"{map_dir}: {points} points, {steps} unit-steps: {wrong_steps} wrong transitions "
              f"({1 - wrong_steps / max(steps, 1):.5f} transition agreement); {beyond} farther than {args.near:.0%} "
              f"from a threshold" + (f" (the farthest {farthest:.2%})" if wrong_steps else ""))
    return 1 if far else 0


if __name__ == "__main__":
    sys.exit(main())
