"""Co-simulation: the mapped circuits in ngspice against the golden model
(docs/design.md; the report and its targets are in report.py).

Unit level: every unit of a layer is driven by the software pre-activations
z_t of a real input sequence, as its input current i_bias + z_t / beta * I_unit
(one value per clock step; the synapse array is not simulated). At the end of
each step the state is read (integrator: the hold-capacitor voltage -> level k;
latch: its q and valid nodes -> k in -1, 0, 1), mapped back to h = k * alpha and
compared with `codesign.mru.reference` on the same z with the mapped
(quantized) parameters.

Network level: `network.spice` (behavioural synapse arrays, or layer 0's in
transistors with chip.synapses = "mirror"; the units' transistor circuits;
behavioural readout) driven by the input sequence x_t as
voltages; outputs y_t are sampled at the end of each step and compared with
the mapped software network, decisions included.

Both rebuild the netlists from the manifest (checked values only) and refuse
to run if the files in the map folder were edited since. How a state is read
back from a trace is the hardware kind's (`codesign.hardware.kinds`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.hardware.params import Supply
from codesign.manifest import LayerPlan, NetworkPlan, load_manifest
from codesign.mapping.netlists import (
    build_netlists,
    library,
    network_netlist,
    shared_sources,
    unit_instance,
    unit_subckt,
)
from codesign.mapping.reference import decisions, software_outputs, software_states
from codesign.netlist import identifier, number
from codesign.validation.benches import header, step_pwl, tran
from codesign.validation.ngspice import Job, run_many

SAMPLE_BEFORE_END_S = 2e-6  # read the state just before the next step's input changes
NEAR_THRESHOLD = 0.01  # |z/beta| within 1 % of 1: reported per unit as z_near_threshold_steps


class NetlistEdited(RuntimeError):
    """A netlist in the map folder differs from what its manifest rebuilds."""


def load_checked(map_dir: str | Path) -> NetworkPlan:
    """The plan of a map folder, after checking its netlists are the mapper's."""
    map_dir = Path(map_dir)
    plan, _ = load_manifest(map_dir)
    for name, text in build_netlists(plan).items():
        path = map_dir / name
        if not path.is_file() or path.read_text() != text:
            raise NetlistEdited(f"{path} is missing or differs from what manifest.json rebuilds; "
                                f"re-run codesign map")
    return plan


def _end_times(plan: NetworkPlan, steps: int) -> np.ndarray:
    return (np.arange(steps) + 1) * plan.chip.clock_period_s - SAMPLE_BEFORE_END_S


def _levels(plan: NetworkPlan, res, units, steps: int) -> np.ndarray:
    """Level index k [T, d] of each unit at the end of each step (read as the chip's kind says)."""
    return plan.chip.kind.read_levels(plan, res, units, _end_times(plan, steps))


def _max_step_s(plan: NetworkPlan) -> float:
    return plan.chip.clock_period_s / 20


@dataclass(frozen=True)
class SolverOptions:
    """How co-simulation benches are solved (not what they simulate). REFERENCE (ngspice's
    defaults, one netlist per layer) is how the figures before 2026-11-30 were measured.
    DEFAULT: each unit of a layer in its own netlist at unit level (the units share only
    ideal sources, so they are independent; one small netlist costs less per Newton
    iteration and the runs spread over the cores) and reltol 1e-4. Why 1e-4: under
    ngspice's 1e-3 (and more often under 1e-2) the latch unit's SR latches flipped on a
    clock edge with no input to flip them (sf 27 C, fs -40 C, tt 27 C at 1.08 V): a wrong
    Newton solution after a long time step, gone at 1e-4 (docs/results.md, "Networks over
    process, voltage and temperature"). benchmarks/cosim_speed.py checks that both give the
    same level on every step and prints the ratio."""

    reltol: float = 1e-3  # ngspice's default
    one_unit_per_netlist: bool = False

    def lines(self) -> list[str]:
        return [] if self.reltol == 1e-3 else [f".option reltol={number(self.reltol, 'reltol', positive=True)}"]


REFERENCE = SolverOptions()
DEFAULT = SolverOptions(reltol=1e-4, one_unit_per_netlist=True)


def unit_bench(plan: NetworkPlan, layer: LayerPlan, z: np.ndarray, supply: Supply,
               options: SolverOptions = REFERENCE) -> str:
    """All units of `layer`, each driven by its own column of z [T, d] as an input current."""
    c, steps = plan.chip, len(z)
    lines = header("cosim_units", supply) + options.lines() + [library(plan)]
    lines += [unit_subckt(plan, u) for u in layer.units] + shared_sources(plan, supply.vdd_v)
    for u in layer.units:
        zn = np.clip(z[:, u.index] / u.beta, c.z_min, c.z_max)
        i_in = step_pwl([c.i_bias_a + v * c.i_unit_a for v in zn], c.clock_period_s, 1e-6, "z")
        n = identifier(u.name, "unit name")
        lines += [f"Iin_{n} vdd in_{n} {i_in}", unit_instance(plan, u, f"in_{n}", f"out_{n}"),
                  f"Vo_{n} out_{n} 0 {number(c.v_out_v, 'v_out_v')}"]
    lines += c.kind.initial_states(plan, layer.units)
    lines += [".save " + " ".join(c.kind.state_saves(plan, layer.units)),
              tran(steps * c.clock_period_s, _max_step_s(plan)), ".end"]
    return "\n".join(lines) + "\n"


def network_bench(plan: NetworkPlan, x: np.ndarray, supply: Supply, options: SolverOptions = REFERENCE) -> str:
    """network.spice driven by the input sequence x [T, n_in] (1 V per unit of input)."""
    c, steps = plan.chip, len(x)
    lines = header("cosim_network", supply) + options.lines() + [network_netlist(plan, supply.vdd_v)]
    for j in range(x.shape[1]):
        lines.append(f"Vx{j} x{j} 0 {step_pwl(list(map(float, x[:, j])), c.clock_period_s, 1e-6, 'x')}")
    lines += c.kind.initial_states(plan, plan.units)
    saves = [f"v(y{j})" for j in range(len(plan.readout.bias))] + c.kind.state_saves(plan, plan.units)
    lines += [".save " + " ".join(saves), tran(steps * c.clock_period_s, _max_step_s(plan)), ".end"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Comparison:
    """Circuit vs software levels k [N, T, d] of one layer (N sequences)."""

    layer: str
    units: tuple[str, ...]
    alpha: np.ndarray  # [d]
    beta: np.ndarray  # [d]
    z: np.ndarray = field(repr=False)  # software pre-activations [N, T, d]
    k_software: np.ndarray = field(repr=False)
    k_circuit: np.ndarray = field(repr=False)

    def per_unit(self) -> list[dict]:
        rows = []
        for i, name in enumerate(self.units):
            ks, kc = self.k_software[..., i], self.k_circuit[..., i]
            err = (kc - ks) * self.alpha[i]
            first = [int(np.argmax(a != b)) if np.any(a != b) else None for a, b in zip(kc, ks)]
            # Steps where the software z lies within NEAR_THRESHOLD of +-beta: where the
            # comparator's finite resolution may decide otherwise (docs/training.md).
            near = np.abs(np.abs(self.z[..., i] / self.beta[i]) - 1) < NEAR_THRESHOLD
            rows.append({"unit": name, "steps": int(ks.size), "level_agreement": float(np.mean(ks == kc)),
                         "rmse": float(np.sqrt(np.mean(err**2))), "alpha": float(self.alpha[i]),
                         "first_divergence": [f for f in first],
                         "mismatched_steps": int(np.sum(ks != kc)), "z_near_threshold_steps": int(near.sum())})
        return rows

    @property
    def level_agreement(self) -> float:
        return float(np.mean(self.k_software == self.k_circuit))

    def plot(self, path: Path, sequence: int = 0) -> Path:
        from codesign.validation.characterize import _figure

        plt = _figure()
        d = len(self.units)
        fig, axes = plt.subplots(d, 1, figsize=(8, 1.6 * d + 0.6), sharex=True, squeeze=False)
        steps = np.arange(self.k_software.shape[1])
        for i, ax in enumerate(axes[:, 0]):
            ax.step(steps, self.k_software[sequence, :, i] * self.alpha[i], where="post", lw=2.5, alpha=0.45,
                    label="software (golden model)")
            ax.plot(steps, self.k_circuit[sequence, :, i] * self.alpha[i], ".", ms=3, color="k",
                    label="circuit (ngspice)")
            ax.set_ylabel(f"h {self.units[i]}", fontsize=8)
        axes[0, 0].legend(fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("step")
        fig.suptitle(f"{self.layer}: circuit vs software, sequence {sequence}", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _comparison(plan: NetworkPlan, layer: LayerPlan, z: np.ndarray, h: np.ndarray,
                k_circuit: np.ndarray) -> Comparison:
    alpha, beta = np.array([u.alpha for u in layer.units]), np.array([u.beta for u in layer.units])
    return Comparison(layer.name, tuple(u.name for u in layer.units), alpha, beta, z,
                      np.rint(h / alpha).astype(np.int64), k_circuit)


def cosim_layer(plan: NetworkPlan, layer_index: int, z: np.ndarray, h: np.ndarray, supply: Supply,
                workers: int = 1, timeout_s: float = 3600, progress: str | None = None,
                options: SolverOptions = DEFAULT) -> Comparison:
    """One layer's units driven by z [N, T, d] against the software states h: one ngspice run
    per sequence, or per (unit, sequence) with options.one_unit_per_netlist."""
    layer = plan.layers[layer_index]
    groups = [dataclasses.replace(layer, units=(u,)) for u in layer.units] if options.one_unit_per_netlist else [layer]
    jobs = [Job(unit_bench(plan, g, z[n], supply, options), f"cosim_{g.name}_{n}", timeout_s)
            for n in range(len(z)) for g in groups]
    results = iter(run_many(jobs, workers, progress=progress))
    steps = z.shape[1]
    k_circuit = np.stack([np.concatenate([_levels(plan, next(results), g.units, steps) for g in groups], axis=1)
                          for _ in range(len(z))])
    return _comparison(plan, layer, z, h, k_circuit)


def cosim_units(plan: NetworkPlan, x: np.ndarray, supply: Supply | None = None, workers: int = 1,
                timeout_s: float = 3600, progress: bool = False, options: SolverOptions = DEFAULT) -> list[Comparison]:
    """Unit-level co-simulation on inputs x [N, T, n_in]: each layer's units driven by the software z."""
    supply = supply or plan.chip.supply()
    zs, hs = software_states(plan, x)
    return [cosim_layer(plan, li, zs[li], hs[li], supply, workers, timeout_s,
                        f"ngspice, {layer.name} units" if progress else None, options)
            for li, layer in enumerate(plan.layers)]


@dataclass(frozen=True)
class NetworkComparison:
    loss: str
    readout_mode: str
    y_software: np.ndarray = field(repr=False)  # [N, T, m] or [N, m]
    y_circuit: np.ndarray = field(repr=False)
    layers: tuple[Comparison, ...] = ()

    def summary(self) -> dict:
        ds, dc = decisions(self.loss, self.y_software), decisions(self.loss, self.y_circuit)
        same = np.all(ds == dc, axis=-1) if self.loss == "bce" else ds == dc
        return {"sequences": int(len(self.y_software)), "output_rmse": float(np.sqrt(np.mean(
                (self.y_software - self.y_circuit) ** 2))),
                "output_rms_software": float(np.sqrt(np.mean(self.y_software**2))),
                "decisions_identical": bool(np.all(same)),
                "decision_agreement": float(np.mean(same)),
                "state_level_agreement": [c.level_agreement for c in self.layers]}


def cosim_network(plan: NetworkPlan, x: np.ndarray, supply: Supply | None = None, workers: int = 1,
                  timeout_s: float = 3600, progress: bool = False,
                  options: SolverOptions = DEFAULT) -> NetworkComparison:
    """Network-level co-simulation on inputs x [N, T, n_in]: one ngspice run per sequence."""
    supply = supply or plan.chip.supply()
    zs, hs = software_states(plan, x)
    y_sw = software_outputs(plan, hs[-1])
    steps, m = x.shape[1], len(plan.readout.bias)
    results = run_many([Job(network_bench(plan, x[n], supply, options), f"cosim_network_{n}", timeout_s)
                        for n in range(len(x))], workers, progress="ngspice, network" if progress else None)
    ends = _end_times(plan, steps)
    y_c = np.stack([np.stack([np.interp(ends, r["time"], r.v(f"y{j}")) for j in range(m)], -1) for r in results])
    if plan.readout.mode == "last":
        y_c = y_c[:, -1]
    layers = tuple(_comparison(plan, layer, zs[li], hs[li],
                               np.stack([_levels(plan, r, layer.units, steps) for r in results]))
                   for li, layer in enumerate(plan.layers))
    return NetworkComparison(plan.loss, plan.readout.mode, y_sw, y_c, layers)
