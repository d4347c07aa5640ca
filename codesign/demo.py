"""`codesign demo`: the main job on its embedded default.

The main job is `codesign flow`: a 4-unit CMRU trained on cue recall (T = 100),
mapped onto the default sky130 subthreshold chip spec, co-simulated in ngspice
against the golden model on real test sequences; one report folder with the
checkpoint, the netlists, the manifest, the plots and a summary page
(report.md). A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from codesign.flow import add_flow_arguments, run_flow_command

    p = subparsers.add_parser("demo", help="run the main job (codesign flow) on its embedded default",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flow_arguments(p, Path("runs/demo"))
    p.set_defaults(run=run_flow_command)
