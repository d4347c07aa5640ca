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
from codesign.manifest import LayerPlan, NetworkPlan, UnitPlan, load_manifest, pool_states
from codesign.mapping.netlists import (
    build_netlists,
    library,
    network_netlist,
    separable,
    shared_sources,
    state_from_current,
    unit_instance,
    unit_subckt,
)
from codesign.mapping.reference import decisions, software_outputs, software_states
from codesign.mru import reference, threshold_distance
from codesign.netlist import identifier, number
from codesign.validation.benches import header, step_pwl, tran, unit_supply
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


def step_end_levels(plan: NetworkPlan, res, units, steps: int) -> np.ndarray:
    """Level index k [T, d] of each unit at the end of each step (read as the chip's kind says)."""
    return plan.chip.kind.read_levels(plan, res, units, _end_times(plan, steps))


def _max_step_s(plan: NetworkPlan) -> float:
    return plan.chip.clock_period_s / 20


ADDED_FIELDS = ("trtol",)


@dataclass(frozen=True, repr=False)
class SolverOptions:
    """How co-simulation benches are solved (not what they simulate).

    REFERENCE (ngspice's defaults, one netlist per layer) is how the figures before
    2026-11-30 were measured. DEFAULT: one netlist per unit, solved at ngspice's reltol
    1e-3 with device bypass; every netlist whose levels leave the software's on any step is
    solved again at reltol 1e-4 (TIGHT), and where that run still leaves them, at 1e-5 with
    gear integration (FINEST), whose run is the verdict. Why: the units' SR latches
    can flip on a clock edge with no input to flip them, a wrong Newton solution after a
    long time step. Measured: the latch network over PVT missed at 9 of 45 points under
    reltol 1e-2, at 3 under 1e-3; a latch unit at tt -40 C flipped at step 1 under 1e-4 with
    bypass and followed the software without bypass and at 1e-5; one at sf 85 C flipped at
    step 1 under both 1e-3 with bypass and 1e-4, and followed the software at 1e-5, so
    two settings agreeing on a departure does not make it real (docs/results.md,
    "Simulation speed"). A real departure persists whatever the tolerance and integration
    method, a numerical one changes with them, and a spurious agreement was never seen, so
    only departures pay for the tight runs (1e-4 costs 2.2-2.9x the Newton iterations of
    1e-3). Gear in the verdict: a latch unit at ss 85 C, its input falling from 1.6 beta to 0,
    flipped from +1 to -1 under trapezoidal integration at both 1e-4 and 1e-5, and held under
    gear (1e-4 or 1e-5), with gmin 1e-12, or with a 2 us maximum step (measured 2026-12-01):
    trapezoidal ringing on a slowly switching node, not the circuit. `bypass` lets
    ngspice skip device evaluations whose terminal voltages did not move (same iterations,
    about 30 % less device time): only in the first pass. One netlist per unit: the units
    of a layer share only ideal sources, and one small netlist costs less per Newton
    iteration than a large one (network level: only where `separable`).
    `decided_within`: a departure whose first wrong step had the unit's input within this
    fraction of beta of a threshold is the circuit's decision at its resolution, not solved
    again. Measured on the keyword-spotting chip at tt 27 C (benchmarks/decided_within.py,
    4 utterances, 64 unit netlists, 2026-12-02): all 16 departures of the first pass were
    such steps (0.07-0.91 % of beta from a threshold), each still a departure under FINEST
    (13 at the same step, 3 at an earlier one), which cost 4.8x the first pass: about 70 s
    per such unit with TIGHT for no other verdict. The numerical flips above all came with
    the input 0.35 beta or more from a threshold. The verdict can be numerical too: a latch
    unit of the annealed keyword-spotting BMRU (results/kws_bmru, utterance 0, unit 9) held
    its valid flag on the first pass and dropped it for two steps under FINEST, a state only
    the power-on reset makes (measured 2026-12-04); under FINEST unit 7 of utterance 6 flipped
    with z at 0.34 beta, where nothing fires (2026-12-05). Such a reading, one the hardware
    kind says its cell cannot make on those inputs (`impossible_readings`), is solved again at
    any level of the cascade, and a verdict that holds one once more with RESOLVE: FINEST with
    ngspice's truncation-error tolerance trtol at 1 instead of 7, which held both units
    reproduced alone (docs/results.md, "Simulation speed").
    benchmarks/cosim_speed.py checks that DEFAULT and REFERENCE give the same level on
    every step and prints the ratio."""

    reltol: float = 1e-3  # ngspice's default
    one_unit_per_netlist: bool = False
    bypass: bool = False
    gear: bool = False  # gear integration instead of ngspice's trapezoidal rule
    recheck: SolverOptions | None = None  # solve departures from the software again with these
    decided_within: float = 0.0  # fraction of beta: departures first made this close to a threshold stand
    trtol: float = 7.0  # ngspice's truncation-error tolerance factor (its default); lower: finer time steps

    def __repr__(self) -> str:
        # Sweep points are keyed on this text: a field added since appears only when set, so the
        # points solved before it existed keep their keys.
        shown = [f.name for f in dataclasses.fields(self) if f.name not in ADDED_FIELDS
                 or getattr(self, f.name) != f.default]
        return f"SolverOptions({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def describe(self) -> str:
        text = f"ngspice reltol {self.reltol:g}" + (", device bypass" if self.bypass else "")
        text += ", gear integration" if self.gear else ""
        text += f", trtol {self.trtol:g}" if self.trtol != 7.0 else ""
        text += ", one netlist per unit" if self.one_unit_per_netlist else ", one netlist per layer"
        if self.recheck is not None:
            text += f"; netlists leaving the software's levels solved again with {self.recheck.describe()}"
            if self.decided_within:
                text += f" (unless first left within {self.decided_within:.0%} of beta of a threshold)"
        return text

    def lines(self) -> list[str]:
        opts = [] if self.reltol == 1e-3 else [f"reltol={number(self.reltol, 'reltol', positive=True)}"]
        opts += ["bypass=1"] if self.bypass else []
        opts += ["method=gear"] if self.gear else []
        opts += [f"trtol={number(self.trtol, 'trtol', positive=True)}"] if self.trtol != 7.0 else []
        return [".option " + " ".join(opts)] if opts else []


REFERENCE = SolverOptions()
FINEST = SolverOptions(reltol=1e-5, one_unit_per_netlist=True, gear=True)
TIGHT = SolverOptions(reltol=1e-4, one_unit_per_netlist=True, recheck=FINEST, decided_within=NEAR_THRESHOLD)
DEFAULT = SolverOptions(one_unit_per_netlist=True, bypass=True, recheck=TIGHT, decided_within=NEAR_THRESHOLD)
# The first pass alone as the verdict: for screening many points where departures are real (PVT
# corners, Monte Carlo chips), each of which the cascade solves twice more. Measured on three KWS
# points (docs/results.md, "Keyword spotting"): the cascade's levels on 30 of 32 unit netlists at
# ff 85 C but 10 of 16 at sf -40 C (there it departs where the verdict does not, up to 11 % of beta
# from a threshold), the cascade's decision on all three, in 1/4.1 to 1/5.9 of the time.
FIRST_PASS = dataclasses.replace(DEFAULT, recheck=None, decided_within=0.0)
SOLVERS = {"cascade": DEFAULT, "first_pass": FIRST_PASS}  # sweep plans name them (`solver`)
# Solves once more a verdict holding a reading its cell cannot make (HardwareKind.impossible_readings).
RESOLVE = dataclasses.replace(FINEST, trtol=1.0)


def solver_key(options: SolverOptions, kind) -> str:
    """What a co-simulation's levels follow from besides its netlists: the options, and for a
    hardware kind with impossible readings, the rule and the options that solve them again."""
    return repr(options) + ("" if kind.reading_rule is None else f"; {kind.reading_rule}: {RESOLVE!r}")


def unit_groups(layer: LayerPlan, options: SolverOptions) -> list[tuple[UnitPlan, ...]]:
    """The units of a layer that share one netlist at unit level."""
    return [(u,) for u in layer.units] if options.one_unit_per_netlist else [layer.units]


def network_groups(plan: NetworkPlan, options: SolverOptions,
                   supply: Supply | None = None) -> list[tuple[UnitPlan, ...] | None]:
    """The units that share one netlist at network level (None: the whole network). On a Monte
    Carlo chip a mirror array stays whole: its columns' devices, and their mismatch, are shared
    by every row, and a netlist per unit would draw each unit its own columns."""
    shared_devices = supply is not None and supply.mc_seed is not None and plan.chip.synapses == "mirror"
    split = options.one_unit_per_netlist and separable(plan) and not shared_devices
    return [(u,) for u in plan.units] if split else [None]


def group_columns(a: np.ndarray, n: int, g: tuple[UnitPlan, ...] | None) -> np.ndarray:
    """Sequence n of a [N, T, d], the columns of the units of g (None: every unit)."""
    return a[n][:, slice(None) if g is None else [u.index for u in g]]


def _needs_recheck(levels: list, expected: list, z_beta: list | None, within: float) -> bool:
    """Levels leave the expected ones somewhere, and (with the inputs' z / beta [T, d] per layer)
    some unit first leaves them on a step whose input was farther than `within` from a threshold."""
    for k, want, zb in zip(levels, expected, z_beta or [None] * len(levels)):
        wrong = k != want
        if not wrong.any():
            continue
        if zb is None or not within:
            return True
        dist = threshold_distance(zb)
        first = wrong.argmax(axis=0)  # each unit's first wrong step (0 where none)
        departed = wrong.any(axis=0)
        if np.any(dist[first[departed], np.flatnonzero(departed)] > within):
            return True
    return False


def _impossible(levels: list, kind, z_beta: list | None) -> bool:
    return any(kind.impossible_readings(k, zb).any() for k, zb in zip(levels, z_beta or [None] * len(levels)))


def solve_cascade(benches: list, levels_of, expected, name: str, options: SolverOptions, workers: int,
                  timeout_s: float, progress: str | None, z_beta=None, *, kind) -> tuple[list, list, int]:
    """Run bench(options) for each bench; a bench whose levels_of(i, result) leave expected(i)
    is solved again with options.recheck, and so on down the chain: the last run is the
    verdict. z_beta(i): the inputs' z / beta, laid out as expected(i), so that departures
    first made within options.decided_within of a threshold stand.
    kind: the hardware kind; levels it says its cell cannot make (on those inputs) are solved
    again whatever the distance, and a verdict holding them once more with RESOLVE.
    Results and their levels in order, and how many netlists were solved again."""
    results = run_many([Job(b(options), f"{name}_{i}", timeout_s) for i, b in enumerate(benches)], workers,
                       progress=progress)
    levels = [levels_of(i, r) for i, r in enumerate(results)]
    inputs = z_beta or (lambda i: None)
    if options.recheck is not None:
        then = options.recheck
        again = [i for i, k in enumerate(levels) if _impossible(k, kind, inputs(i))
                 or _needs_recheck(k, expected(i), inputs(i), options.decided_within)]
    else:
        then = RESOLVE
        again = [i for i, k in enumerate(levels) if options != RESOLVE and _impossible(k, kind, inputs(i))]
    if not again:
        return results, levels, 0
    note = progress and f"{progress}, departures at reltol {then.reltol:g}"
    redo, redo_levels, deeper = solve_cascade([benches[i] for i in again], lambda j, r: levels_of(again[j], r),
                                              lambda j: expected(again[j]), f"{name}_again", then, workers,
                                              timeout_s, note, z_beta and (lambda j: z_beta(again[j])), kind=kind)
    for i, r, k in zip(again, redo, redo_levels):
        results[i], levels[i] = r, k
    return results, levels, len(again) + deeper


def _stack_groups(levels: list, sequences: int, layer: int = 0) -> np.ndarray:
    """Levels [N, T, d] of one layer from solve_cascade's per-(sequence, group) levels, groups in unit order."""
    groups = len(levels) // sequences
    return np.stack([np.concatenate([levels[n * groups + j][layer] for j in range(groups)], axis=1)
                     for n in range(sequences)])


def unit_bench(plan: NetworkPlan, layer: LayerPlan, z: np.ndarray, supply: Supply,
               options: SolverOptions = REFERENCE) -> str:
    """All units of `layer`, each driven by its own column of z [T, d] as an input current."""
    c = plan.chip
    i_in = [[c.i_bias_a + v * c.i_unit_a for v in np.clip(z[:, u.index] / u.beta, c.z_min, c.z_max)]
            for u in layer.units]
    return current_bench(plan, layer, np.array(i_in).T, supply, options)


def current_bench(plan: NetworkPlan, layer: LayerPlan, i_in_a: np.ndarray, supply: Supply,
                  options: SolverOptions = REFERENCE, save_outputs: bool = False) -> str:
    """All units of `layer`, unit j driven by the input current i_in_a[:, j] (A, one value per
    step); save_outputs: their readout currents i(vo_<unit>) saved too."""
    c = plan.chip
    sources = [step_pwl([float(v) for v in i_in_a[:, j]], c.clock_period_s, 1e-6, "z") for j in range(len(layer.units))]
    saves = [f"i(vo_{identifier(u.name, 'unit name')})" for u in layer.units] if save_outputs else []
    return driven_bench(plan, layer, sources, supply, options, saves, len(i_in_a) * c.clock_period_s, _max_step_s(plan))


def driven_bench(plan: NetworkPlan, layer: LayerPlan, sources: list[str], supply: Supply, options: SolverOptions,
                 saves: list[str], stop_s: float, max_step_s: float, title: str = "cosim_units") -> str:
    """All units of `layer` on the chip's clocks, unit j's input current the waveform sources[j]
    (built from numbers by our code), run to stop_s. Units cut out of their layer draw under a
    seed of their own (`unit_supply`): the same netlist with other sources draws the same chip."""
    c = plan.chip
    if layer.units != next(whole for whole in plan.layers if whole.name == layer.name).units:  # units cut out
        supply = unit_supply(supply, [u.name for u in layer.units])
    lines = header(title, supply) + options.lines() + [library(plan)]
    lines += [unit_subckt(plan, u) for u in layer.units] + shared_sources(plan, supply.vdd_v)
    for u, i_in in zip(layer.units, sources, strict=True):
        n = identifier(u.name, "unit name")
        lines += [f"Iin_{n} vdd in_{n} {i_in}", unit_instance(plan, u, f"in_{n}", f"out_{n}"),
                  f"Vo_{n} out_{n} 0 {number(c.v_out_v, 'v_out_v')}"]
    lines += c.kind.initial_states(plan, layer.units)
    lines += [".save " + " ".join(saves + c.kind.state_saves(plan, layer.units)), tran(stop_s, max_step_s), ".end"]
    return "\n".join(lines) + "\n"


def network_bench(plan: NetworkPlan, x: np.ndarray, supply: Supply, options: SolverOptions = REFERENCE,
                  units: tuple[UnitPlan, ...] | None = None) -> str:
    """network.spice driven by the input sequence x [T, n_in] (1 V per unit of input), or, for a
    `separable` network, only `units` of it (their output currents saved for the readout)."""
    c, steps = plan.chip, len(x)
    if units is not None and tuple(units) != tuple(plan.units):  # units cut out of the network
        supply = unit_supply(supply, [u.name for u in units])
    lines = header("cosim_network", supply) + options.lines() + [network_netlist(plan, supply.vdd_v, units)]
    for j in range(x.shape[1]):
        lines.append(f"Vx{j} x{j} 0 {step_pwl(list(map(float, x[:, j])), c.clock_period_s, 1e-6, 'x')}")
    simulated = plan.units if units is None else units
    lines += c.kind.initial_states(plan, simulated)
    saves = ([f"v(y{j})" for j in range(len(plan.readout.bias))] if units is None
             else [f"i(vo_{identifier(u.name, 'unit name')})" for u in units])
    saves += c.kind.state_saves(plan, simulated)
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
    solved_tight: int = 0  # netlists solved again at tighter tolerances (SolverOptions.recheck)
    eps: float = 0.0
    levels: int = 1  # L: states in -L..L

    @classmethod
    def from_traces(cls, layer: str, traces: list[dict], alpha: np.ndarray, beta: np.ndarray, z: np.ndarray,
                    eps: float = 0.0, levels: int = 1) -> "Comparison":
        """One sequence's comparison rebuilt from a stored record: `traces` (each unit of `layer` in
        order, with its k_software and k_circuit) against the software's z [T, d] of that sequence."""
        k = {side: np.array([t[side] for t in traces]).T[None] for side in ("k_software", "k_circuit")}
        return cls(layer, tuple(t["unit"] for t in traces), np.asarray(alpha), np.asarray(beta), z[None],
                   k["k_software"], k["k_circuit"], eps=eps, levels=levels)

    def contract_from_circuit(self) -> np.ndarray:
        """Level index [N, T, d] the contract takes each step to from the circuit's own level
        before it (0 before step 0): what the unit should have done, whatever it did before.
        Where it differs from k_circuit the circuit made a wrong transition; where only the
        software's levels differ, an earlier step (a decision a hair from a threshold) put the
        circuit on another level, which it then kept as a memory should."""
        n, t, d = self.k_circuit.shape
        before = np.concatenate([np.zeros((n, 1, d), np.int64), self.k_circuit[:, :-1]], axis=1)
        h = reference(self.z.reshape(n * t, 1, d), self.alpha, self.beta, self.eps, self.levels * self.alpha,
                      h0=before.reshape(n * t, d) * self.alpha)
        return np.rint(h.reshape(n, t, d) / self.alpha).astype(np.int64)

    def per_unit(self) -> list[dict]:
        rows = []
        wrong = self.contract_from_circuit() != self.k_circuit
        for i, name in enumerate(self.units):
            ks, kc = self.k_software[..., i], self.k_circuit[..., i]
            z_wrong = self.z[..., i][wrong[..., i]] / self.beta[i]
            err = (kc - ks) * self.alpha[i]
            first = [int(np.argmax(a != b)) if np.any(a != b) else None for a, b in zip(kc, ks)]
            # Steps where the software z lies within NEAR_THRESHOLD of +-beta: where the
            # comparator's finite resolution may decide otherwise (docs/training.md).
            near = threshold_distance(self.z[..., i] / self.beta[i]) < NEAR_THRESHOLD
            rows.append({"unit": name, "steps": int(ks.size), "level_agreement": float(np.mean(ks == kc)),
                         "rmse": float(np.sqrt(np.mean(err**2))), "alpha": float(self.alpha[i]),
                         "first_divergence": [f for f in first],
                         "mismatched_steps": int(np.sum(ks != kc)), "z_near_threshold_steps": int(near.sum()),
                         # the circuit against the contract from its own previous level
                         "transition_agreement": float(1 - wrong[..., i].mean()),
                         "wrong_transitions": int(z_wrong.size),
                         "farthest_wrong_transition": (float(threshold_distance(z_wrong).max()) if z_wrong.size
                                                       else None)})
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


def _software_levels(layer: LayerPlan, h: np.ndarray) -> np.ndarray:
    return np.rint(h / layer.alpha).astype(np.int64)


def _comparison(plan: NetworkPlan, layer: LayerPlan, z: np.ndarray, h: np.ndarray,
                k_circuit: np.ndarray, solved_tight: int = 0) -> Comparison:
    alpha, beta = layer.alpha, layer.beta
    return Comparison(layer.name, tuple(u.name for u in layer.units), alpha, beta, z,
                      _software_levels(layer, h), k_circuit, solved_tight, plan.eps, plan.levels)


def cosim_layer(plan: NetworkPlan, layer_index: int, z: np.ndarray, h: np.ndarray, supply: Supply,
                workers: int = 1, timeout_s: float = 3600, progress: str | None = None,
                options: SolverOptions = DEFAULT) -> Comparison:
    """One layer's units driven by z [N, T, d] against the software states h: one ngspice run
    per sequence, or per (unit, sequence) with options.one_unit_per_netlist."""
    layer = plan.layers[layer_index]
    groups = unit_groups(layer, options)
    work = [(n, g) for n in range(len(z)) for g in groups]
    steps, k_software = z.shape[1], _software_levels(layer, h)

    def levels_of(i, result) -> list[np.ndarray]:
        return [step_end_levels(plan, result, work[i][1], steps)]

    z_beta = z / layer.beta
    benches = [lambda o, n=n, g=g: unit_bench(plan, dataclasses.replace(layer, units=g), z[n], supply, o)
               for n, g in work]
    _, levels, again = solve_cascade(benches, levels_of, lambda i: [group_columns(k_software, *work[i])],
                                     f"cosim_{layer.name}", options, workers, timeout_s, progress,
                                     lambda i: [group_columns(z_beta, *work[i])], kind=plan.chip.kind)
    return _comparison(plan, layer, z, h, _stack_groups(levels, len(z)), again)


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
    row_currents_a: np.ndarray | None = field(default=None, repr=False)  # [N, T, d] staged: the array's
    # a readout zeroed at reset: the same units' outputs read against the ideal reference as well
    y_circuit_reference: np.ndarray | None = field(default=None, repr=False)

    def _against_software(self, y_circuit: np.ndarray) -> tuple[float, np.ndarray]:
        ds, dc = decisions(self.loss, self.y_software), decisions(self.loss, y_circuit)
        same = np.all(ds == dc, axis=-1) if self.loss == "bce" else ds == dc
        return float(np.sqrt(np.mean((self.y_software - y_circuit) ** 2))), same

    def summary(self) -> dict:
        rmse, same = self._against_software(self.y_circuit)
        out = {"sequences": int(len(self.y_software)), "output_rmse": rmse,
               "output_rms_software": float(np.sqrt(np.mean(self.y_software**2))),
               "decisions_identical": bool(np.all(same)),
               "decision_agreement": float(np.mean(same)),
               "state_level_agreement": [c.level_agreement for c in self.layers],
               "netlists_solved_tight": self.layers[0].solved_tight if self.layers else 0}
        if self.y_circuit_reference is not None:
            rmse, same = self._against_software(self.y_circuit_reference)
            out["reference_readout"] = {"output_rmse": rmse, "decision_agreement": float(np.mean(same))}
        return out


# Where the readout puts a unit's zero: "reference", the ideal L alpha I_unit its behavioural sources
# subtract (`state_expr`); "reset", each unit's own output current read at power-on reset, where every
# unit holds h = 0, before its first transfer (an auto-zero, the reading stored ideally). The second
# takes out what the readout branches add at every level where they run off their trim: at ff 85 C
# the KWS chip's off branches leak 29 pA, 0.2 I_unit at h = 0 (docs/circuits.md, "Readout zero").
READOUT_ZERO = ("reference", "reset")


def check_readout_zero(readout_zero: str, one_netlist: bool = False) -> str:
    """readout_zero, refused when unknown, or for a network solved as one netlist (one_netlist), whose
    readout sources use the reference: stacked layers read each other's currents."""
    if readout_zero not in READOUT_ZERO:
        raise ValueError(f"readout_zero: {readout_zero!r}, not one of {', '.join(READOUT_ZERO)}")
    if one_netlist and readout_zero != "reference":
        raise ValueError(f"readout_zero: {readout_zero!r} reads each unit's own output current; this network "
                         "is one netlist whose readout sources use the reference (a single-layer network "
                         "solved one unit per netlist reads its units)")
    return readout_zero


def outputs_from_units(plan: NetworkPlan, work: list, results: list, ends: np.ndarray,
                       readout_zero: str = "reference") -> tuple[np.ndarray, np.ndarray | None]:
    """(y, y_reference): y [N, T, m] ([N, m] for a 'last' or 'mean' readout) of a single-layer network
    from its units' readout currents i(vo_<unit>), each (sequence, units) of `work` read from its run
    in `results`: what the readout's behavioural sources compute from them (`state_expr`), zeroed as
    `readout_zero` says; y_reference, for a zero other than the reference, the same read against it."""
    check_readout_zero(readout_zero)
    at_reset = plan.chip.t_compare_s - SAMPLE_BEFORE_END_S  # h = 0 until the first transfer
    h = np.zeros((1 + max(n for n, _ in work), len(ends), len(plan.units)))
    h_at_reset = np.zeros((len(h), 1, len(plan.units)))
    for (n, units), r in zip(work, results):
        for u in units:
            i_vo = r.i(f"vo_{u.name}")
            h[n, :, u.index] = state_from_current(plan, u, np.interp(ends, r["time"], i_vo))
            h_at_reset[n, 0, u.index] = state_from_current(plan, u, np.interp(at_reset, r["time"], i_vo))

    def outputs(states: np.ndarray) -> np.ndarray:
        return pool_states(plan.readout.mode, states @ np.array(plan.readout.weight).T + np.array(plan.readout.bias))

    if readout_zero == "reference":
        return outputs(h), None
    return outputs(h - h_at_reset), outputs(h)


def cosim_network(plan: NetworkPlan, x: np.ndarray, supply: Supply | None = None, workers: int = 1,
                  timeout_s: float = 3600, progress: bool = False,
                  options: SolverOptions = DEFAULT, readout_zero: str = "reference") -> NetworkComparison:
    """Network-level co-simulation on inputs x [N, T, n_in]: one ngspice run per sequence, or per
    (unit, sequence) where the network is `separable` and options.one_unit_per_netlist (the
    readout then sums the units' output currents as its behavioural sources do, zeroed as
    `readout_zero` says: READOUT_ZERO)."""
    supply = supply or plan.chip.supply()
    groups = network_groups(plan, options, supply)
    check_readout_zero(readout_zero, groups == [None])
    zs, hs = software_states(plan, x)
    y_sw = software_outputs(plan, hs[-1])
    steps, ends = x.shape[1], _end_times(plan, x.shape[1])
    k_software = [_software_levels(layer, h) for layer, h in zip(plan.layers, hs)]
    work = [(n, g) for n in range(len(x)) for g in groups]

    def layer_levels(result, g) -> list[np.ndarray]:
        return [step_end_levels(plan, result, layer.units if g is None else g, steps) for layer in plan.layers]

    # the software's z: the circuit's own (the array's output) is not read apart here
    z_betas = [z / layer.beta for layer, z in zip(plan.layers, zs)]

    def columns(i, per_layer: list) -> list[np.ndarray]:
        return [group_columns(a, *work[i]) for a in per_layer]

    benches = [lambda o, n=n, g=g: network_bench(plan, x[n], supply, o, g) for n, g in work]
    results, levels, again = solve_cascade(benches, lambda i, r: layer_levels(r, work[i][1]),
                                           lambda i: columns(i, k_software), "cosim_network", options, workers,
                                           timeout_s, "ngspice, network" if progress else None,
                                           lambda i: columns(i, z_betas), kind=plan.chip.kind)
    if groups != [None]:
        y_c, y_reference = outputs_from_units(plan, work, results, ends, readout_zero)
    else:  # one netlist: its readout sources use the reference (check_readout_zero)
        y_reference, m = None, len(plan.readout.bias)
        y_c = np.stack([np.stack([np.interp(ends, r["time"], r.v(f"y{j}")) for j in range(m)], -1) for r in results])
        y_c = pool_states(plan.readout.mode, y_c)
    layers = tuple(_comparison(plan, layer, zs[li], hs[li], _stack_groups(levels, len(x), li), again)
                   for li, layer in enumerate(plan.layers))
    return NetworkComparison(plan.loss, plan.readout.mode, y_sw, y_c, layers, y_circuit_reference=y_reference)
