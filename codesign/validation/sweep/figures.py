"""The plots of a sweep's report (matplotlib, Agg), saved as PNG in the sweep folder next to
report.html. Each function takes the report's rows (report.rows) and returns
[(file name, caption)] for the plots it drew, none when the sweep has nothing to show there.

  heat_maps            corner x temperature: each judged figure at its worst (powers in nW), the share of
                       points met
  versus_temperature   trip points (hysteresis, level_trips), retention droop, unit power against
                       temperature, a line per corner and supply (and map folder)
  histograms           the Monte Carlo distributions (montecarlo.MC_FIGURES), one colour per condition
  trace_overlays       cosim jobs: software vs circuit levels of the worst points' worst unit
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from codesign.validation.montecarlo import distributions
from codesign.validation.sweep.report import shown_in

CONDITION = ("map_dir", "corner", "temp_c", "supply")  # what stays fixed while MC seeds and sequences vary
MAX_HISTOGRAM_GROUPS = 8


def _plt():
    from codesign.validation.characterize import _figure

    return _figure()


def _save(fig, out: Path, name: str) -> str:
    plt = _plt()
    tmp = out / f".{name}.{os.getpid()}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out / name)
    return name


def condition(row: dict) -> tuple:
    return tuple(row.get(k) for k in CONDITION)


def map_name(map_dir: str) -> str:
    return f"{Path(map_dir).parent.name}/{Path(map_dir).name}"


def condition_text(cond: tuple) -> str:
    map_dir, corner, temp_c, supply = cond
    text = f"{corner} {temp_c:g} C, vdd {supply:+.0%}"
    return f"{map_name(map_dir)} {text}" if map_dir else text


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")[:60]


def _worst(values: list[float], op: str) -> float:
    if not values or any(not math.isfinite(v) for v in values):
        return math.nan  # a failed or unmeasured point is the worst
    return max(values) if op == "<=" else min(values)


def heat_maps(table: list[dict], out: Path) -> list[tuple[str, str]]:
    corners = list(dict.fromkeys(r["corner"] for r in table))
    temps = sorted({r["temp_c"] for r in table})
    names = list(dict.fromkeys(t["name"] for r in table for t in r.get("targets", [])))
    cells = defaultdict(list)
    for r in table:
        cells[(r["corner"], r["temp_c"])].append(r)
    maps = []
    for name in names:
        op = next(t["op"] for r in table for t in r.get("targets", []) if t["name"] == name)
        scale, unit = shown_in(name)
        grid = np.full((len(corners), len(temps)), math.nan)
        for (c, t), rs in cells.items():
            values = [next((x["value"] for x in r.get("targets", []) if x["name"] == name), math.nan) for r in rs]
            grid[corners.index(c), temps.index(t)] = _worst([math.nan if v is None else v for v in values], op)
        title = f"{name}{f' ({unit})' if unit else ''}, worst of each cell ({op} {_threshold(table, name) * scale:g} " \
                "is met)"
        maps.append((title, grid * scale, "viridis" if op == "<=" else "viridis_r", None))
    if any(len(rs) > 1 for rs in cells.values()):
        grid = np.full((len(corners), len(temps)), math.nan)
        for (c, t), rs in cells.items():
            grid[corners.index(c), temps.index(t)] = sum(r["status"] == "met" for r in rs) / len(rs)
        maps.append(("share of the cell's points that met every target", grid, "RdYlGn", (0, 1)))
    drawn = []
    plt = _plt()
    for i, (title, grid, cmap, limits) in enumerate(maps):
        fig, ax = plt.subplots(figsize=(1.2 * len(temps) + 2.6, 0.45 * len(corners) + 1.6))
        vmin, vmax = limits or (None, None)
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
        for (y, x), v in np.ndenumerate(grid):  # black on a white box: readable on any colour
            ax.text(x, y, "failed" if math.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="red" if math.isnan(v) else "black",
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})
        ax.set_xticks(range(len(temps)), [f"{t:g} C" for t in temps])
        ax.set_yticks(range(len(corners)), corners)
        ax.set_title(title, fontsize=8)
        fig.colorbar(image, ax=ax)
        fig.tight_layout()
        drawn.append((_save(fig, out, f"heatmap_{i}.png"), title))
    return drawn


def _threshold(table: list[dict], name: str) -> float:
    return next(t["threshold"] for r in table for t in r.get("targets", []) if t["name"] == name)


# job -> (what the plot shows, ((figure key, axis label, scale), ...))
TEMPERATURE_FIGURES = {
    "hysteresis": ("trip points", (("up_on_rel", "up trip / threshold - 1 (%)", 100),
                                   ("dn_on_rel", "dn trip / threshold - 1 (%)", 100))),
    "level_trips": ("trip points", (("worst_trip_error_levels", "worst |trip - boundary| (levels)", 1),)),
    "retention": ("the worst droop", (("worst_droop_levels", "worst droop before a restore (levels)", 1),)),
    "unit_power": ("the worst unit power", (("worst_unit_power_w", "worst unit power (nW)", 1e9),)),
}


def _by_temperature(rows: list[dict], key: str, scale: float) -> dict[float, list[float]]:
    """The figure's finite values of the finished rows, scaled, by temperature."""
    by_t = defaultdict(list)
    for r in rows:
        v = r["figures"].get(key) if r["status"] != "failed" else None
        if v is not None and math.isfinite(v):
            by_t[r["temp_c"]].append(v * scale)
    return by_t


def versus_temperature(job: str, table: list[dict], out: Path) -> list[tuple[str, str]]:
    shows, figures = TEMPERATURE_FIGURES.get(job, ("", ()))
    if not figures or len({r["temp_c"] for r in table}) < 2:
        return []
    plt = _plt()
    fig, axes = plt.subplots(1, len(figures), figsize=(5 * len(figures), 3.4), squeeze=False)
    # the nominal supply solid, the others dashed, dotted, ...
    styles = {s: ls for s, ls in zip(sorted({r["supply"] for r in table}, key=abs), ("-", "--", ":", "-.") * 300)}
    maps = list(dict.fromkeys(r.get("map_dir") for r in table))  # a line each: their figures are not averaged
    lines = [(m, c, s) for m in maps for c in dict.fromkeys(r["corner"] for r in table) for s in styles]
    for ax, (key, label, scale) in zip(axes[0], figures):
        for map_dir, corner, supply in lines:
            rows = [r for r in table if (r.get("map_dir"), r["corner"], r["supply"]) == (map_dir, corner, supply)]
            by_t = _by_temperature(rows, key, scale)
            if not by_t:
                continue
            t = sorted(by_t)
            mean = [np.mean(by_t[x]) for x in t]
            err = [np.std(by_t[x], ddof=1) if len(by_t[x]) > 1 else 0 for x in t]
            where = f"{map_name(map_dir)} " if len(maps) > 1 else ""
            ax.errorbar(t, mean, yerr=err if any(err) else None, ls=styles[supply], marker="o", ms=3, capsize=2,
                        label=f"{where}{corner} vdd {supply:+.0%}")
        ax.set(xlabel="temperature (C)", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=6, ncol=2)
    fig.suptitle("against temperature (mean over Monte Carlo chips, bars: one sigma)" if any(
        "mc_seed" in r for r in table) else "against temperature", fontsize=9)
    fig.tight_layout()
    return [(_save(fig, out, "temperature.png"), f"{shows} against temperature, a line per corner and supply")]


def mc_groups(job: str, table: list[dict]) -> dict[tuple, list]:
    """Monte Carlo points by condition: {condition: [Distribution]} (empty without MC points, or
    for a job with no Monte Carlo figures in montecarlo.MC_FIGURES)."""
    groups = defaultdict(list)
    for r in table:
        if r.get("mc_seed") is not None:
            groups[condition(r)].append(r)
    return {c: dists for c, rs in groups.items() if (dists := distributions(job, rs))}


def histograms(job: str, table: list[dict], out: Path) -> list[tuple[str, str]]:
    groups = mc_groups(job, table)
    if not groups:
        return []
    shown = list(groups.items())[:MAX_HISTOGRAM_GROUPS]
    keys = [d.key for d in shown[0][1]]
    plt = _plt()
    drawn = []
    for key in keys:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        label = ""
        for cond, dists in shown:
            d = next(x for x in dists if x.key == key)
            label = d.label
            if d.values:
                s = d.stats()
                ax.hist(d.values, bins=min(40, max(5, d.n // 5)), histtype="step", lw=1.4,
                        label=f"{condition_text(cond)}: n {d.n}, mean {s['mean']:.3g}, sigma {s['sigma']:.3g}"
                              + (f", {d.missing} unmeasured" if d.missing else ""))
        ax.set(xlabel=label, ylabel="chips")
        ax.legend(fontsize=6)
        fig.tight_layout()
        drawn.append((_save(fig, out, f"mc_{_slug(key)}.png"), f"Monte Carlo: {label}"))
    return drawn


def trace_overlays(table: list[dict], out: Path, count: int = 3) -> list[tuple[str, str]]:
    rows = [r for r in table if r["status"] != "failed" and r["figures"].get("traces")]
    rows.sort(key=lambda r: (r["figures"]["worst_level_agreement"], r["figures"].get("decision_agreement", 1)))
    plt = _plt()
    drawn = []
    for i, r in enumerate(rows[:count]):
        traces = sorted(r["figures"]["traces"], key=lambda t: np.mean(np.array(t["k_software"]) ==
                                                                       np.array(t["k_circuit"])))[:3]
        fig, axes = plt.subplots(len(traces), 1, figsize=(8, 1.7 * len(traces) + 0.7), sharex=True, squeeze=False)
        for ax, t in zip(axes[:, 0], traces):
            steps = np.arange(len(t["k_software"]))
            ax.step(steps, np.array(t["k_software"]) * t["alpha"], where="post", lw=2.5, alpha=0.45,
                    label="software (golden model)")
            ax.plot(steps, np.array(t["k_circuit"]) * t["alpha"], ".", ms=3, color="k", label="circuit (ngspice)")
            ax.set_ylabel(f"h {t['layer']}.{t['unit']}", fontsize=7)
        axes[0, 0].legend(fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("step")
        where = condition_text(condition(r)) + (f", chip {r['mc_seed']}" if r.get("mc_seed") else "") + \
            f", sequence {r.get('sequence')}"
        fig.suptitle(f"worst point {i + 1}: {where}; level agreement "
                     f"{r['figures']['worst_level_agreement']:.4g}", fontsize=8)
        fig.tight_layout()
        drawn.append((_save(fig, out, f"worst_{i + 1}.png"), f"worst point {i + 1}: {where}"))
    return drawn
