"""Monte Carlo spread of a group of unit pfets, as the synapse template instantiates it and with m alone.

    .venv/bin/python benchmarks/group_mismatch.py [--chips 40] [--devices 16] [--workers 1]

sky130's pfet_01v8 draws its mismatch once per instance, divided by sqrt(l * w * mult): a group
of n devices given as one instance with m = n draws one device's mismatch unless mult = n is
passed too. The synapse template (`netlists/synapse.spice`, mru_syn_unit) passes both. Each chip
(ngspice Monte Carlo seed) biases one unit pfet (1/1 um) and a group of n at the same
source-gate voltage in weak inversion (0.42 V, about 1 pA each); printed: the spread
(sigma / mean over the chips) of one device's current and of the group's per device, for the
template and for a bare instance with m alone. Exit 0 when the template's group spread is
within 30 % of one device's / sqrt(n), 1 if not.
"""

import argparse
import dataclasses
import sys

import numpy as np

from codesign.chip import chip_from_dict
from codesign.netlist import instance
from codesign.pdk.bins import MC_OVER_NEEDED_BINS
from codesign.validation.benches import header
from codesign.validation.ngspice import Job, run_many

V_GATE = 1.38  # 0.42 V below the 1.8 V source: weak inversion, about 1 pA per device


def deck(seed: int, n: int, template: bool) -> str:
    supply = dataclasses.replace(chip_from_dict({"preset": "sky130_mirror"}).supply(), mc_seed=seed)
    lines = header("group_mismatch", supply, "synapse") + [MC_OVER_NEEDED_BINS, "Vdd vdd 0 1.8", f"Vg g 0 {V_GATE}"]
    for count in (1, n):
        lines.append(f"Vm{count} d{count} 0 0.9")
        lines.append(instance(f"g{count}", [f"d{count}", "g", "vdd", "vdd"], "mru_syn_unit",
                              {"w": 1.0, "l": 1.0, "count": count}, "group") if template
                     else f"Xg{count} d{count} g vdd vdd sky130_fd_pr__pfet_01v8 w=1 l=1 m={count}")
    return "\n".join(lines + [".op", f".save i(vm1) i(vm{n})", ".end"]) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chips", type=int, default=40)
    p.add_argument("--devices", type=int, default=16)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    if args.chips < 3 or args.devices < 2:
        p.error("--chips: at least 3; --devices: at least 2")
    seeds, n, spreads = range(1, args.chips + 1), args.devices, {}
    for template in (True, False):
        name = "template (mult and m)" if template else "bare instance, m alone"
        res = run_many([Job(deck(k, n, template), f"group_{k}", 300) for k in seeds], args.workers, progress=name)
        one, group = (np.array([float(np.atleast_1d(r.i(f"vm{c}"))[0]) / c for r in res]) for c in (1, n))
        spreads[template] = tuple(float(np.std(v) / abs(np.mean(v))) for v in (one, group))
        print(f"{name}: {args.chips} chips, one device {abs(one.mean()) * 1e12:.2f} pA, "
              f"spread {spreads[template][0]:.3f}; "
              f"{n} devices, per device {abs(group.mean()) * 1e12:.2f} pA, spread {spreads[template][1]:.3f} "
              f"(one device's / sqrt({n}) = {spreads[template][0] / np.sqrt(n):.3f})")
    one, group = spreads[True]
    return 0 if abs(group / (one / np.sqrt(n)) - 1) < 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
