"""Measured co-simulation: the default flow (train -> map -> validate) with
many test sequences at tt, 27 C. The figures in docs/results.md
("## Co-simulation") come from this script.

    .venv/bin/python benchmarks/cosim_flow.py --sequences 10 --workers 1 --out runs/cosim_benchmark
"""

import argparse
import json
import time
from pathlib import Path

from codesign.flow import run_flow


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequences", type=int, default=10)
    p.add_argument("--level", choices=["unit", "network", "both"], default="network")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/cosim_benchmark"))
    args = p.parse_args()
    started = time.perf_counter()
    s = run_flow(args.out, sequences=args.sequences, level=args.level, workers=args.workers)
    print((args.out / "validation" / "summary.md").read_text())
    print(json.dumps({"seconds": s["seconds"], "total_s": time.perf_counter() - started}, indent=1))


if __name__ == "__main__":
    main()
