"""Measured co-simulation: the default flow (train -> map -> validate) with
many test sequences at tt, 27 C. The figures in docs/results.md
("## Co-simulation") come from this script.

    .venv/bin/python benchmarks/cosim_flow.py --sequences 10 --level both --workers 1 --out runs/cosim_benchmark

and on latch hardware (a BMRU):

    .venv/bin/python benchmarks/cosim_flow.py --sequences 10 --level both --workers 1 \
        --recipe training/flow_bmru_latch.toml --chip sky130_latch --out runs/cosim_latch
"""

import argparse
import json
import time
from pathlib import Path

from codesign.chip import load_chip
from codesign.flow import flow_recipe, run_flow


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequences", type=int, default=10)
    p.add_argument("--level", choices=["unit", "network", "both"], default="network")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/cosim_benchmark"))
    p.add_argument("--recipe", type=Path, help="training recipe (default: the flow's embedded default)")
    p.add_argument("--chip", help="chip spec: a preset name or a file (default: the sky130_subthreshold preset)")
    args = p.parse_args()
    started = time.perf_counter()
    s = run_flow(args.out, load_chip(args.chip), sequences=args.sequences, level=args.level, workers=args.workers,
                 recipe=flow_recipe(args.recipe), quiet=False)
    print((args.out / "validation" / "summary.md").read_text())
    print(json.dumps({"seconds": s["seconds"], "total_s": time.perf_counter() - started}, indent=1))


if __name__ == "__main__":
    main()
