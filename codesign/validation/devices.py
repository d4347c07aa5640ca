"""Single-device benches: I-V of one sky130 transistor, and model load time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.netlist import number
from codesign.pdk import model_statement
from codesign.validation.ngspice import run

DEVICES = {"nfet": "sky130_fd_pr__nfet_01v8", "pfet": "sky130_fd_pr__pfet_01v8"}


@dataclass(frozen=True)
class DeviceBias:
    """One transistor with source and bulk at 0 V; a pfet gets negative biases."""

    kind: str = "nfet"  # "nfet" or "pfet"
    w_um: float = 1.0
    l_um: float = 1.0
    vds_v: float = 0.9
    corner: str = "tt"
    temp_c: float = 27.0


def iv_netlist(dev: DeviceBias, vgs_max_v: float, step_v: float, *, trimmed: bool = True) -> str:
    """A DC sweep of |Vgs| from 0 to vgs_max_v at fixed |Vds|."""
    if dev.kind not in DEVICES:
        raise ValueError(f"kind: {dev.kind!r} is not one of {sorted(DEVICES)}")
    sign = 1.0 if dev.kind == "nfet" else -1.0
    return "\n".join([
        f"* {dev.kind} I-V",
        model_statement(dev.corner, trimmed=trimmed),
        f".temp {number(dev.temp_c, 'temp_c')}",
        ".option gmin=1e-15",  # the default gmin would hide sub-pA currents
        f"X1 d g 0 0 {DEVICES[dev.kind]} w={number(dev.w_um, 'w_um', positive=True)} "
        f"l={number(dev.l_um, 'l_um', positive=True)}",
        f"Vd d 0 {number(sign * dev.vds_v, 'vds_v')}",
        "Vg g 0 0",
        f".dc Vg 0 {number(sign * vgs_max_v, 'vgs_max_v')} {number(sign * step_v, 'step_v')}",
        ".end",
    ]) + "\n"


def measure_iv(dev: DeviceBias, vgs_max_v: float = 1.8, step_v: float = 0.05, *,
               trimmed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(|Vgs|, |Id|) over the sweep."""
    res = run(iv_netlist(dev, vgs_max_v, step_v, trimmed=trimmed), name=f"iv_{dev.kind}")
    return np.abs(res.v("g")), np.abs(res.i("vd"))


def load_bench_netlist(corner: str, *, trimmed: bool) -> str:
    """The smallest useful bench (one nfet operating point): its run time is the model load time."""
    return "\n".join([
        "* load-time bench",
        model_statement(corner, trimmed=trimmed),
        "X1 d d 0 0 sky130_fd_pr__nfet_01v8 w=1 l=1",
        "Vd d 0 0.5",
        ".op",
        ".end",
    ]) + "\n"


def load_time_s(corner: str, *, trimmed: bool, repeat: int = 1) -> float:
    """Best wall time of `repeat` whole ngspice processes running the load bench."""
    return min(run(load_bench_netlist(corner, trimmed=trimmed), name="pdk_load").elapsed_s for _ in range(repeat))
