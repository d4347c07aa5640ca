"""Network co-simulation of a mirror-array chip in two stages: the array, then the units.

A unit's input node is its comparator's input and nothing else (`unit_subckt`): the current
into it is set by the synapse array and that comparator's input stage, never by the unit's
memory. So the array can be solved first, alone, and each unit then in a netlist of its own:

1. the whole mirror array of layer 0 with one comparator per row as its load
   (`codesign.validation.synapses.array_bench`, the characterization's bench), DC: one
   operating point per frame, in frame order, each started from the one before. The current
   each row delivers is read there. With the whole comparators that start converges on the
   keyword-spotting map only where the inputs move little: elsewhere ngspice gives up after its
   floor of 100 Newton iterations and solves the frame afresh (about 150 iterations a frame).
   Loaded by each comparator's input diode alone, the same DC load without the comparator's
   bistable halves (`array_load`, `synapses.ARRAY_LOADS`), it takes about 80 a frame and 4.4-5.7x
   less CPU, every current within 3.4e-4 I_unit (docs/mapping.md, "What stage 1 costs"). In a
   transient the array settles within the compare phase, and its currents at the end of a step
   equal these to 0.001 I_unit (docs/mapping.md);
2. each unit in its own netlist (its comparator, memory and readout), driven by its row's
   current held for each step as `unit_bench` holds the contract's (1 us edges), and solved
   through the same tolerance cascade as every co-simulation (`solve_cascade`), a departure
   judged against the golden model on the delivered currents (`delivered_levels`), the
   delivered z's distance from a threshold deciding which departures stand (`decided_within`).

Why: a unit's netlist in the coupled path carries the array's columns and its row (hundreds
of devices per unit on the keyword-spotting map) through every time point of every clock
edge, and on a Monte Carlo chip the coupled array cannot be cut per unit at all (its
columns' mismatch is shared by every row): one netlist of every unit and the array, 11.5 min
to expand. Here the array is one DC run per sequence and the units are small netlists. On a
Monte Carlo chip the array draws under the chip's seed and each unit under a seed of its own
(`unit_supply`); the stage-1 comparators only load the rows (their own draws decide nothing).

What the split leaves out, measured against the coupled path in docs/results.md: the array's
settling within a step (a column still moving when the comparator decides) and the input
node's swing when the comparator switches (the DC load is the same comparator, so the node
sits where it sits in the unit).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from codesign.hardware.params import Supply
from codesign.manifest import NetworkPlan
from codesign.mapping.reference import software_outputs, software_states
from codesign.mapping.synapses import RowTrims
from codesign.mru import reference
from codesign.validation.cosim import (
    DEFAULT,
    NetworkComparison,
    SolverOptions,
    _comparison,
    _end_times,
    _stack_groups,
    check_readout_zero,
    current_bench,
    group_columns,
    outputs_from_units,
    solve_cascade,
    step_end_levels,
    unit_groups,
)
from codesign.validation.ngspice import Job, run_many
from codesign.validation.synapses import array_bench, currents_from_dc


def array_benches(plan: NetworkPlan, x: np.ndarray, supply: Supply, trims: RowTrims | None = None,
                  load: str | None = None) -> list[str]:
    """Stage 1's netlists: the array (with the chip's row trims, if any) on each sequence of
    x [N, T, n_in], one DC sweep each; load: what loads its rows (`synapses.ARRAY_LOADS`, default
    each comparator's input stage)."""
    if plan.chip.synapses != "mirror" or len(plan.layers) != 1:
        raise ValueError("staged co-simulation: needs a single-layer network on a mirror synapse array "
                         "(chip.synapses = 'mirror')")
    return [array_bench(plan, xn, supply, trims=trims, load=load) for xn in x]


def array_input_currents(plan: NetworkPlan, x: np.ndarray, supply: Supply, workers: int = 1,
                         timeout_s: float = 3600, progress: str | None = None,
                         trims: RowTrims | None = None, load: str | None = None) -> np.ndarray:
    """Each unit's input current [N, T, d] from the array alone (stage 1)."""
    benches = array_benches(plan, x, supply, trims, load)
    jobs = [Job(b, f"staged_array_{n}", timeout_s) for n, b in enumerate(benches)]
    results = run_many(jobs, workers, progress=progress)
    return np.stack([currents_from_dc(plan, r, x.shape[1]) for r in results])


def delivered_z_beta(plan: NetworkPlan, i_in: np.ndarray) -> np.ndarray:
    """z / beta [N, T, d] read back from the currents the array delivered (i_bias + z / beta * I_unit)."""
    return (i_in - plan.chip.i_bias_a) / plan.chip.i_unit_a


def delivered_levels(plan: NetworkPlan, i_in: np.ndarray) -> np.ndarray:
    """Levels k [N, T, d] the golden model takes on the currents the array delivered (z read back
    from i_bias + z / beta * I_unit): what each unit's stage-2 run is checked against. A unit
    that leaves the software because its row's current left the contract made a real departure,
    solved again by nobody; one that leaves these levels is solved down the tolerance cascade
    like any other (numerical flips: `SolverOptions`)."""
    layer = plan.layers[0]
    alpha, beta = layer.alpha, layer.beta
    z = delivered_z_beta(plan, i_in) * beta
    return np.rint(reference(z, alpha, beta, plan.eps, plan.levels * alpha) / alpha).astype(np.int64)


def cosim_network_staged(plan: NetworkPlan, x: np.ndarray, supply: Supply | None = None, workers: int = 1,
                         timeout_s: float = 3600, progress: bool = False,
                         options: SolverOptions = DEFAULT, trims: RowTrims | None = None,
                         readout_zero: str = "reference", array_load: str | None = None) -> NetworkComparison:
    """`cosim_network` for a single-layer mirror-array chip, array and units solved apart; trims:
    the chip's row trims (`codesign.validation.array_trim`), default none; readout_zero: where the
    readout puts each unit's zero (`codesign.validation.cosim.READOUT_ZERO`); array_load: what loads
    the array's rows in stage 1 (`codesign.validation.synapses.ARRAY_LOADS`)."""
    check_readout_zero(readout_zero)
    supply = supply or plan.chip.supply()
    layer = plan.layers[0]
    i_in = array_input_currents(plan, x, supply, workers, timeout_s, "ngspice, array" if progress else None, trims,
                                array_load)
    zs, hs = software_states(plan, x)
    y_sw = software_outputs(plan, hs[-1])
    steps, ends = x.shape[1], _end_times(plan, x.shape[1])
    k_delivered = delivered_levels(plan, i_in)
    z_beta = delivered_z_beta(plan, i_in)
    work = [(n, g) for n in range(len(x)) for g in unit_groups(layer, options)]

    def bench(o: SolverOptions, n: int, g: tuple) -> str:
        cols = [u.index for u in g]
        return current_bench(plan, dataclasses.replace(layer, units=g), i_in[n][:, cols], supply, o,
                             save_outputs=True)

    benches = [lambda o, n=n, g=g: bench(o, n, g) for n, g in work]
    results, levels, again = solve_cascade(
        benches, lambda i, r: [step_end_levels(plan, r, work[i][1], steps)],
        lambda i: [group_columns(k_delivered, *work[i])],
        "cosim_staged", options, workers, timeout_s, "ngspice, units" if progress else None,
        lambda i: [group_columns(z_beta, *work[i])], kind=plan.chip.kind)
    y_c, y_reference = outputs_from_units(plan, work, results, ends, readout_zero)
    comparison = _comparison(plan, layer, zs[0], hs[0], _stack_groups(levels, len(x)), again)
    return NetworkComparison(plan.loss, plan.readout.mode, y_sw, y_c, (comparison,), i_in, y_reference)
