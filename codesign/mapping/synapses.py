"""Layer 0's synapse array as sky130 subthreshold current mirrors (chip.synapses = "mirror";
docs/mapping.md, "Mirror synapse array"; templates in netlists/synapse.spice).

Unit i must receive i_bias + (W x + b)_i / beta_i * I_unit, with W = code * step
(the plan's quantized weights). Here:

    front end   I_x,j = i_xbias + x_j * i_xunit, kept in [i_xmin, i_xmax] (ideal: the
                previous stage), sunk from column j's pfet diode of M_c unit devices
                differential: two columns per input, I_x,j+- = i_xbias + max(+-x_j, 0) * i_xunit,
                each kept below i_xmax
    synapse     |code_ij| unit pfets, gate on column j, source on row rail i; drain on
                the unit input (code > 0) or on row i's cascoded 1:1 nfet mirror
                (code < 0), which sinks the same current from the unit input;
                differential: that on column j+, and the opposite drain on column j-
    row gain    one code carries k_i = step / beta_i * I_unit per unit of x: it is m_i unit
                pfets (1 unless chip.mirror_row_gain_min > 0), and the rail of row i is held
                where a replica unit pfet on the reference column (x = 0) carries
                k_i / m_i * i_xbias / i_xunit (the row's reference current), i.e. a gain
                g_i = k_i * M_c / (m_i * i_xunit) on each unit device
    fixed       per unit, from the bias generator: i_bias + b_i / beta_i * I_unit minus the
                x-independent part of the mirrors, k_i * i_xbias / i_xunit * sum_j code_ij
                (differential: none, the two columns' i_xbias cancel in each synapse)

Only layer 0 takes x; deeper layers would take readout currents and stay behavioural.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.chip import ChipSpec
from codesign.netlist import identifier, instance, node, number


@dataclass(frozen=True)
class MirrorArrayParams:
    """One layer's mirror array, derived from the plan (nothing here is stored separately)."""

    codes: tuple[tuple[int, ...], ...]  # [d, n_in] signed weight codes
    i_code_a: tuple[float, ...]  # k_i: current of one code per unit of x, per row
    i_fixed_a: tuple[float, ...]  # per unit, into the input (< 0: sunk from it)
    m_column: int  # M_c: unit devices in each input diode
    i_xunit_a: float
    i_xbias_a: float
    i_xmin_a: float
    i_xmax_a: float
    w_p_um: float  # unit pfet: columns, synapses, replicas
    l_p_um: float
    w_n_um: float  # row nfet mirror of the negative synapses
    l_n_um: float
    w_c_um: float  # its cascodes
    l_c_um: float
    v_replica_v: float  # drain of the replicas: the unit input's voltage near i_bias
    v_cascode_v: float  # gate of the row mirrors' cascodes
    differential: bool  # two columns per input (x+ and x-) instead of one
    row_multiplicity: tuple[int, ...]  # m_i: unit devices per code in row i

    @property
    def m_row(self) -> np.ndarray:
        return np.asarray(self.row_multiplicity, dtype=np.int64).reshape(len(self.codes))

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(node, instance suffix) of each input column, in column_codes' order."""
        n = range(self.n_in)
        if self.differential:
            return [(f"syn_xp{j}", f"{j}p") for j in n] + [(f"syn_xn{j}", f"{j}n") for j in n]
        return [(f"syn_x{j}", f"{j}") for j in n]

    @property
    def n_in(self) -> int:
        return len(self.codes[0]) if self.codes else 0

    @property
    def column_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """|code| [d, columns] of each row on each column draining into the unit input, and into
        the row's nfet mirror (each code is m_i devices). Columns: x_j (single) or x_j+ then x_j-
        (differential)."""
        c = np.asarray(self.codes, dtype=np.int64).reshape(len(self.codes), self.n_in)
        up, down = np.clip(c, 0, None), np.clip(-c, 0, None)
        if self.differential:
            return np.concatenate([up, down], axis=1), np.concatenate([down, up], axis=1)
        return up, down

    def column_currents(self, x) -> np.ndarray:
        """The front end's column currents [..., columns] for inputs x [..., n_in], in A."""
        x = np.asarray(x, dtype=np.float64)
        if self.differential:
            halves = np.concatenate([np.clip(x, 0, None), np.clip(-x, 0, None)], axis=-1)
            return np.minimum(self.i_xbias_a + halves * self.i_xunit_a, self.i_xmax_a)
        return np.clip(self.i_xbias_a + x * self.i_xunit_a, self.i_xmin_a, self.i_xmax_a)

    @property
    def i_row_ref_a(self) -> tuple[float, ...]:
        """The row reference currents: what one code carries at x = 0."""
        return tuple(k / m * self.i_xbias_a / self.i_xunit_a for k, m in zip(self.i_code_a, self.m_row.tolist()))

    @property
    def row_gain(self) -> tuple[float, ...]:
        """g_i: row i's unit device carries g_i times a column device's current."""
        return tuple(k * self.m_column / (m * self.i_xunit_a) for k, m in zip(self.i_code_a, self.m_row.tolist()))

    def summary(self) -> dict:
        """Sizes and currents for reading (the manifest's derived section; the x window is the chip's)."""
        up, down = self.column_codes
        return {"m_column": self.m_column, "front_end": "differential" if self.differential else "single",
                "i_xunit_a": self.i_xunit_a, "i_xbias_a": self.i_xbias_a,
                "i_code_a": list(self.i_code_a), "row_gain": list(self.row_gain),
                "row_multiplicity": self.m_row.tolist(),
                "i_row_ref_a": list(self.i_row_ref_a), "i_fixed_a": list(self.i_fixed_a),
                "unit_pfet_um": [self.w_p_um, self.l_p_um], "row_nfet_um": [self.w_n_um, self.l_n_um],
                "row_cascode_um": [self.w_c_um, self.l_c_um],
                "devices": self.m_column * (up.shape[1] + 1) + int(((up + down).sum(axis=1) * self.m_row).sum())
                + 5 * len(self.codes)}


@dataclass(frozen=True)
class RowTrims:
    """One chip's trims of its mirror array, one pair per row, set at test from that chip's measured
    currents (codesign.validation.array_trim): the row's reference current times ref_scale[i] (every
    unit device of the row carries its current in proportion: the row's gain) and offset_a[i] added to
    its fixed current. Both come from the bias generator, whose trim DACs are modelled ideally."""

    ref_scale: tuple[float, ...]
    offset_a: tuple[float, ...]

    def __post_init__(self):
        if len(self.ref_scale) != len(self.offset_a):
            raise ValueError(f"row trims: {len(self.ref_scale)} gains for {len(self.offset_a)} offsets")
        if not all(math.isfinite(g) and g > 0 for g in self.ref_scale) or not all(map(math.isfinite, self.offset_a)):
            raise ValueError("row trims: reference scales must be finite and positive, offsets finite")

    @staticmethod
    def none(rows: int) -> "RowTrims":
        return RowTrims((1.0,) * rows, (0.0,) * rows)


def weight_codes(weight, step: float) -> np.ndarray:
    """The DAC codes of quantized weights (w = code * step, on the grid by construction)."""
    w = np.asarray(weight, dtype=np.float64)
    return np.rint(w / step).astype(np.int64) if step > 0 else np.zeros(w.shape, dtype=np.int64)


def mirror_array(plan, layer) -> MirrorArrayParams:
    """Size layer's mirror array (plan: a NetworkPlan, layer: one of its LayerPlans)."""
    c: ChipSpec = plan.chip
    step = plan.quantization[f"{layer.name}.W"]["step"]
    codes = weight_codes(layer.weight, step)
    beta = layer.beta
    k = step / beta * c.i_unit_a
    m_column, m_row = row_sizes(k / c.i_xunit_a, c.mirror_row_gain_min, c.mirror_row_gain_max)
    fixed = c.i_bias_a + np.array(layer.bias) / beta * c.i_unit_a
    if not c.differential_front_end:  # the x-independent part of the mirrors
        fixed = fixed - k * c.i_xbias_a / c.i_xunit_a * codes.sum(axis=1)
    return MirrorArrayParams(codes=tuple(map(tuple, codes.tolist())), i_code_a=tuple(k.tolist()),
                             i_fixed_a=tuple(fixed.tolist()), m_column=m_column, i_xunit_a=c.i_xunit_a,
                             i_xbias_a=c.i_xbias_a, i_xmin_a=c.i_xmin_a, i_xmax_a=c.i_xmax_a,
                             w_p_um=c.mirror_w_um, l_p_um=c.mirror_l_um, w_n_um=c.mirror_nfet_w_um,
                             l_n_um=c.mirror_nfet_l_um, w_c_um=c.mirror_cascode_w_um, l_c_um=c.mirror_cascode_l_um,
                             v_replica_v=c.mirror_v_replica_v, v_cascode_v=c.mirror_v_cascode_v,
                             differential=c.differential_front_end, row_multiplicity=tuple(m_row.tolist()))


# n U_T of a unit pfet in weak inversion at 27 C (n ~ 1.35): a rail g below vdd's gain sits
# n U_T ln(1 / g) below vdd. Only a hint for the operating point, so the temperature is left out.
N_UT_V = 0.035


def replica_hint(name: str, vdd_v: float, gain: float) -> str:
    """A .nodeset for row `name`'s replica source, where its rail will settle. Why: the replica's
    source is fed by a current source of a few pA and nothing else, so an operating point with the
    replica off (that node far above vdd, every rail with it) also solves the equations; on arrays
    of thousands of devices ngspice's gmin and source stepping failed and its fallback found that
    one. With the hint it converges directly (measured on the keyword-spotting array)."""
    v = number(vdd_v + N_UT_V * math.log(gain), "replica hint")
    return f".nodeset v(syn_ref_{identifier(name, 'unit name')})={v}"


M_COLUMN_MAX = 100_000  # unit devices in one input diode: beyond, the array is not worth building


def row_sizes(k_rel: np.ndarray, g_min: float, g_max: float) -> tuple[int, np.ndarray]:
    """M_c and the devices per code m_i for rows whose code carries k_rel[i] column currents per
    unit of x: the smallest M_c with every row gain k_rel[i] * M_c / m_i in [g_min, g_max].
    g_min = 0: one device per code, and the largest row gain as close to g_max as M_c allows."""
    k_max = float(k_rel.max()) if k_rel.size else 0.0
    if k_max <= 0:
        return 1, np.ones(k_rel.shape, dtype=np.int64)
    if g_min == 0:
        return max(1, math.floor(g_max / k_max)), np.ones(k_rel.shape, dtype=np.int64)
    for first in range(1, M_COLUMN_MAX + 1, 1024):  # in blocks: the answer is usually in the first
        m_column = np.arange(first, min(first + 1024, M_COLUMN_MAX + 1))[:, None]
        a = k_rel[None, :] * m_column  # [M_c, rows]: the gain of one device per code
        m_row = np.maximum(1, np.ceil(a / g_max))
        ok = np.flatnonzero(np.all(a / m_row >= g_min, axis=1))
        if ok.size:
            return int(m_column[ok[0], 0]), m_row[ok[0]].astype(np.int64)
    raise ValueError(f"mirror_row_gain_min: no input diode of up to {M_COLUMN_MAX} devices puts every row "
                     f"gain in [{g_min:g}, {g_max:g}]; lower mirror_row_gain_min")


def fit_problems(plan, task) -> list[str]:
    """Why layer 0 of `plan` cannot get a mirror array for `task`'s inputs; empty if it can."""
    c, problems = plan.chip, []
    xs = [t.detach().double().numpy() for t in (task.x_train, task.x_val, task.x_test)]
    lo, hi = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
    if lo < c.x_min or hi > c.x_max:
        problems.append(f"i_xbias_a: the task's inputs span [{lo:.3g}, {hi:.3g}], the mirror array's front end "
                        f"carries [{c.x_min:.3g}, {c.x_max:.3g}] (i_xmin_a, i_xbias_a, i_xunit_a, i_xmax_a): "
                        "widen the window")
    try:
        p = mirror_array(plan, plan.layers[0])
    except ValueError as err:  # no input diode size gives every row a gain in the band
        return problems + [str(err)]
    if max(p.row_gain, default=0.0) > 1.0:
        problems.append(f"i_xunit_a: one code needs {max(p.i_code_a):.3g} A per unit of x, more than "
                        f"i_xunit_a = {c.i_xunit_a:g} A can give through one unit device: raise i_xunit_a")
    return problems


def mirror_netlist(p: MirrorArrayParams, units: list[str], inputs: list[str], vdd: str = "vdd",
                   rows: list[int] | None = None, other_rows_load: bool = True,
                   vdd_v: float | None = None, trims: RowTrims | None = None) -> list[str]:
    """Netlist lines of one mirror array: front end, columns, reference, rows, synapses, fixed currents.

    units: the unit names of all rows (their input nodes are in_<name>); inputs: the SPICE
    expressions of x_j (e.g. v(x0)), turned into I_x,j by the (behavioural) front end.
    rows: the indices of the rows to build (default all, in order); the front end, the
    columns and the reference column are always built whole (one unit's netlist:
    codesign.mapping.netlists.separable says why the other rows may be left out); with
    other_rows_load, each column keeps the left-out rows' synapse pfets as one gate load.
    vdd_v: the supply's voltage, for the operating-point hints of the replicas (none without).
    trims: one chip's row trims (default none: the array as mapped)."""
    vdd = node(vdd, "supply node")
    if len(units) != len(p.codes):
        raise ValueError(f"units: {len(units)} names for a mirror array of {len(p.codes)} rows")
    if len(inputs) != p.n_in:
        raise ValueError(f"inputs: {len(inputs)} expressions for a mirror array of {p.n_in} inputs")
    trims = trims or RowTrims.none(len(p.codes))
    if len(trims.ref_scale) != len(p.codes):
        raise ValueError(f"trims: {len(trims.ref_scale)} rows for a mirror array of {len(p.codes)} rows")
    rows = list(range(len(p.codes))) if rows is None else list(rows)
    if not all(0 <= r < len(p.codes) for r in rows) or len(set(rows)) != len(rows):
        raise ValueError(f"rows: {rows} are not distinct rows of a mirror array of {len(p.codes)} rows")
    sizes = {"w": p.w_p_um, "l": p.l_p_um}
    row_params = {"w_p": p.w_p_um, "l_p": p.l_p_um, "w_n": p.w_n_um, "l_n": p.l_n_um, "w_c": p.w_c_um,
                  "l_c": p.l_c_um}
    lo, hi = number(p.i_xmin_a, "i_xmin_a"), number(p.i_xmax_a, "i_xmax_a")
    bias, unit = number(p.i_xbias_a, "i_xbias_a"), number(p.i_xunit_a, "i_xunit_a")
    lines = [f"Vsyn_rep syn_vrep 0 {number(p.v_replica_v, 'mirror_v_replica_v')}",
             f"Vsyn_cn syn_vcn 0 {number(p.v_cascode_v, 'mirror_v_cascode_v')}",
             f"Isyn_xref syn_xref 0 {bias}",
             instance("syn_cref", ["syn_xref", "syn_xref", vdd, vdd], "mru_syn_unit",
                      {**sizes, "count": p.m_column}, "synapse column")]
    if p.differential:  # the front-end current of each column, in p.columns' order
        currents = [f"I=min({hi},{bias}+{unit}*max(0,{x}))" for x in inputs]
        currents += [f"I=min({hi},{bias}+{unit}*max(0,-({x})))" for x in inputs]
    else:
        currents = [f"I=max({lo},min({hi},{bias}+{unit}*({x})))" for x in inputs]
    columns = p.columns
    for (col, suffix), current in zip(columns, currents):
        lines += [f"Bsyn_fe{suffix} {col} 0 {current}",
                  instance(f"syn_c{suffix}", [col, col, vdd, vdd], "mru_syn_unit",
                           {**sizes, "count": p.m_column}, "synapse column")]
    to_input, to_mirror = p.column_codes
    devices = (to_input + to_mirror) * p.m_row[:, None]  # [rows, columns] synapse pfets
    left_out = devices[[r for r in range(len(p.codes)) if r not in rows]].sum(axis=0)
    for (col, suffix), count in zip(columns, left_out.tolist() if other_rows_load else []):
        if count:  # their gates load the column (drains at the replicas' drain, sources at vdd) and
            # slow its steps: hundreds of devices with m_i > 1 (docs/mapping.md, "One netlist per unit")
            lines.append(instance(f"syn_l{suffix}", ["syn_vrep", col, vdd, vdd], "mru_syn_unit",
                                  {**sizes, "count": int(count)}, "other rows' gate load"))
    for r in rows:
        name = units[r]
        i_ref, i_fixed = p.i_row_ref_a[r] * trims.ref_scale[r], p.i_fixed_a[r] + trims.offset_a[r]
        n = identifier(name, "unit name")
        row_nodes = [f"syn_rail_{n}", f"syn_ref_{n}", "syn_xref", "syn_vrep", "syn_vcn", f"syn_n_{n}", f"in_{n}", 0]
        lines += [instance(f"syn_r_{n}", row_nodes, "mru_syn_row", row_params, "synapse row"),
                  f"Isyn_rr_{n} {vdd} syn_ref_{n} {number(i_ref, 'i_row_ref_a', minimum=0)}",
                  f"Isyn_b_{n} {vdd} in_{n} {number(i_fixed, 'i_fixed_a', minimum=0)}" if i_fixed >= 0
                  else f"Isyn_b_{n} in_{n} 0 {number(-i_fixed, 'i_fixed_a')}"]
        if vdd_v is not None:
            lines.append(replica_hint(n, vdd_v, p.row_gain[r] * trims.ref_scale[r]))
        for (col, suffix), into_input, count in zip(columns, to_input[r], devices[r].tolist()):
            if count:  # into the input or the row mirror: a code has one sign
                drain = f"in_{n}" if into_input else f"syn_n_{n}"
                # bulk on the rail (one n-well per row): the gain then drifts less with I_x
                nodes = [drain, col, f"syn_rail_{n}", f"syn_rail_{n}"]
                lines.append(instance(f"syn_{n}_{suffix}", nodes, "mru_syn_unit", {**sizes, "count": count}, "synapse"))
    return lines
