"""ngspice's own counts for one unit's co-simulation bench under solver option sets: transient
time points, Newton iterations and analysis time. Counts are exact whatever else the machine
is doing (times are not), so the cost of a tolerance is measured by its iterations.

    .venv/bin/python benchmarks/solver_counts.py tests/golden/maps/cmru --steps 20 \\
        --options "" "reltol=1e-4" "reltol=1e-2" "method=gear"

Each option set is added as `.option ...` to the same bench: unit 0 of layer 0 driven by the
`random` stimulus set (margin 5 % of beta). `--chip-set key=value` changes the map's chip spec
first (e.g. t_edge_s=2e-5 for slower clock edges), as `codesign map --chip-set` would.
"""

import argparse
import dataclasses
import os
import re
import subprocess
import tempfile
from pathlib import Path

from codesign.chip import chip_from_dict
from codesign.config import parse_override
from codesign.manifest import load_manifest
from codesign.validation.cosim import REFERENCE, unit_bench
from codesign.validation.ngspice import _spiceinit
from codesign.validation.stimulus import layer_stimulus

COUNTS = {"time points": "Transient timepoints", "iterations": "Transient iterations",
          "analysis s": "Transient analysis time"}


def counts(netlist: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench.cir").write_text(netlist.replace(".end\n", ".options acct\n.end\n"))
        (folder / ".spiceinit").write_text(_spiceinit())  # one OpenMP thread, as every run
        proc = subprocess.run(["ngspice", "-b", "-r", "out.raw", "bench.cir"], cwd=folder, capture_output=True,
                              text=True, env={**os.environ, "HOME": tmp}, check=True)
    log = proc.stdout + proc.stderr
    return {k: float(m[1]) if (m := re.search(rf"{v}\s*=?\s*([\d.]+)", log)) else float("nan")
            for k, v in COUNTS.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("map_dir", type=Path)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--options", nargs="+", default=["", "reltol=1e-4"], help='option sets, "" for the defaults')
    ap.add_argument("--chip-set", action="append", default=[], metavar="KEY=VALUE", help="override a chip key")
    args = ap.parse_args()
    plan, _ = load_manifest(args.map_dir)
    if args.chip_set:
        keys = dict(parse_override(a, "--chip-set") for a in args.chip_set)
        plan = dataclasses.replace(plan, chip=chip_from_dict({**dataclasses.asdict(plan.chip), **keys}, "chip"))
    layer = dataclasses.replace(plan.layers[0], units=(plan.layers[0].units[0],))
    z, _ = layer_stimulus(plan, 0, "random", 1, args.steps, 0.05, seed=1)
    base = unit_bench(plan, layer, z[0], plan.chip.supply(), REFERENCE)
    first = None
    for opts in args.options:
        bench = base.replace(".end\n", f".option {opts}\n.end\n") if opts else base
        c = counts(bench)
        first = first or c
        print(f"{opts or 'ngspice defaults':24s} " + "  ".join(f"{k} {v:g}" for k, v in c.items())
              + f"  iterations x{c['iterations'] / first['iterations']:.2f}", flush=True)


if __name__ == "__main__":
    main()
