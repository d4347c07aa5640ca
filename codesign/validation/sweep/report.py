"""A sweep's report: `results.json` (one row per point: its axes, status,
figures, targets, seconds), `summary.md` (the same as a table), and
`report.html` with its Markdown twin `report.md` (heat maps over corner x
temperature, trip points against temperature, Monte Carlo histograms and
statistics, the worst points' level traces, the failures; plots in
figures.py, PNG files next to the report), each echoing the exact command
and the plan file.

A row's status: "met" (finished, every target met), "not met" (finished, a
target missed) or "failed" (no result: the reason and the kept netlist say
why). Targets are judged here, on the stored figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from codesign.fsio import atomic_write_text
from codesign.validation.sweep.engine import Outcome
from codesign.validation.sweep.plan import Plan, SweepTargets

AXIS_COLUMNS = ("map_dir", "corner", "temp_c", "supply", "vdd_v", "mc_seed", "sequence")
# Targets shown in another unit than their figure is stored in (headlines, heat maps): name -> (scale, unit).
SHOWN_IN = {"worst unit power": (1e9, "nW")}


def judge(job: str, figures: dict, targets: SweepTargets) -> list[dict]:
    """[{name, threshold, value, passed}]; a nan value (nothing measured) never passes."""
    if job == "level_trips":
        rows = [("worst level-comparator trip error (levels)", "<=", targets.max_trip_error_levels,
                 figures["worst_trip_error_levels"])]
    elif job == "hysteresis":
        rows = [("worst threshold error (relative)", "<=", targets.max_threshold_error_rel,
                 figures["worst_threshold_error_rel"])]
    elif job == "packets":
        rows = [("worst packet error (relative)", "<=", targets.max_packet_error_rel,
                 figures["worst_packet_error_rel"]),
                ("steps restored to a wrong level", "<=", targets.max_wrong_levels, float(figures["wrong_levels"]))]
    elif job == "retention":
        rows = [("level kept (1 yes, 0 no)", ">=", 1, float(figures["kept"])),
                ("worst droop before a restore (levels)", "<=", targets.max_droop_levels,
                 figures["worst_droop_levels"])]
    elif job == "unit_power":
        rows = [("worst unit power", "<=", targets.max_unit_power_w, figures["worst_unit_power_w"]),
                # a record from before the check has no such figure: nan, never passes
                ("units off the golden model's levels", "<=", 0, float(figures.get("units_off_contract", math.nan)))]
    else:
        rows = [("worst unit level agreement", ">=", targets.min_level_agreement, figures["worst_level_agreement"])]
        if job == "network_cosim":
            rows.append(("decision agreement", ">=", targets.min_decision_agreement, figures["decision_agreement"]))
    out = []
    for name, op, threshold, value in rows:
        ok = math.isfinite(value) and (value <= threshold if op == "<=" else value >= threshold)
        out.append({"name": name, "op": op, "threshold": threshold, "value": value, "passed": bool(ok)})
    return out


def rows(plan: Plan, outcome: Outcome) -> list[dict]:
    out = []
    for record in outcome.records:
        row = {**record["axes"], "key": record["key"], "seconds": record.get("seconds")}
        if record["status"] == "done":
            row["targets"] = judge(plan.job, record["figures"], plan.settings.targets)
            row["status"] = "met" if all(t["passed"] for t in row["targets"]) else "not met"
            row["figures"] = record["figures"]
        else:
            row.update(status="failed", error=record.get("error"), reason=record.get("reason"),
                       netlist=record.get("netlist"), kept_netlist=record.get("kept_netlist"))
        out.append(row)
    return out


def counts(table: list[dict], outcome: Outcome) -> dict:
    return {"points": len(table), "met": sum(r["status"] == "met" for r in table),
            "not_met": sum(r["status"] == "not met" for r in table),
            "failed": sum(r["status"] == "failed" for r in table),
            "computed": outcome.computed, "from_cache": outcome.from_cache}


def _value(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def shown_in(name: str) -> tuple[float, str]:
    """(scale, unit) a target's values are shown in; (1, "") for those shown as stored."""
    return SHOWN_IN.get(name, (1, ""))


def _shown(name: str, x) -> str:
    scale, unit = shown_in(name)
    return _value(x * scale) + (f" {unit}" if unit else "")


def _headline(row: dict) -> str:
    if row["status"] == "failed":
        return f"{row['error']}: {row['reason']}"[:200]
    return "; ".join(f"{t['name']} {_shown(t['name'], t['value'])} ({t['op']} {_shown(t['name'], t['threshold'])})"
                     for t in row["targets"])


def _markdown(plan: Plan, command: str, table: list[dict], n: dict, outcome: Outcome) -> str:
    axes = [c for c in AXIS_COLUMNS if any(c in r for r in table)]
    md = [f"# Sweep: {plan.job}, {n['points']} points\n",
          f"Command: `{command}`\n",
          f"Met {n['met']}, not met {n['not_met']}, failed {n['failed']} (computed {n['computed']}, "
          f"from the cache {n['from_cache']}; {outcome.seconds:.0f} s).\n",
          "| " + " | ".join(axes) + " | status | figures | seconds |",
          "|" + "---|" * (len(axes) + 3)]
    for r in table:
        secs = "" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        md.append("| " + " | ".join(_value(r.get(c, "")) for c in axes) +
                  f" | {r['status']} | {_headline(r)} | {secs} |")
    failed = [r for r in table if r["status"] == "failed"]
    if failed:
        md.append("\n## Failed points (rerun them with --retry-failed)\n")
        md += [f"- {r['key'][:12]}: {r['error']}: {r['reason']}" + (f" (netlist: {r['netlist']})" if r.get("netlist")
                                                                      else "") for r in failed]
    md += [f"\n## Plan ({plan.path})\n", "```toml", plan.text.rstrip(), "```\n"]
    return "\n".join(md)


def _finite(x):
    """JSON-safe copy: nan and inf (nothing measured) become null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


MAX_TABLE_ROWS = 60  # report.md/html list every point up to this; summary.md and results.json always do


def _blocks(plan: Plan, command: str, table: list[dict], n: dict, outcome: Outcome, out: Path) -> list[tuple]:
    """The report: headline, heat maps, trip points against temperature, Monte Carlo histograms
    and statistics, the worst points' traces, failures, points, the command and the plan."""
    from codesign.validation.sweep import figures

    verdict = "every point met its targets" if n["met"] == n["points"] else "NOT every point met its targets"
    blocks = [("h1", f"Sweep: {plan.job}, {n['points']} points"), ("p", f"Command: `{command}`"),
              ("p", f"{verdict}: met {n['met']}, not met {n['not_met']}, failed {n['failed']} (computed "
                    f"{n['computed']}, from the cache {n['from_cache']}; {outcome.seconds:.0f} s)."),
              ("p", "Targets: " + "; ".join(f"{t['name']} {t['op']} {_shown(t['name'], t['threshold'])}"
                                            for t in next((r["targets"] for r in table if "targets" in r), [])))]
    maps = figures.heat_maps(table, out)
    if maps:
        blocks.append(("h2", "Over corner and temperature"))
        blocks += [("img", f, c) for f, c in maps]
    blocks += [("img", f, c) for f, c in figures.versus_temperature(plan.job, table, out)]
    groups = figures.mc_groups(plan.job, table)
    if groups:
        blocks.append(("h2", "Monte Carlo chips"))
        blocks.append(("p", "Each Monte Carlo chip is one seed of the `_mm` models (codesign.validation.montecarlo); "
                            "unmeasured: the point failed or its bench measured nothing (e.g. a comparator that "
                            "never switched within its sweep)."))
        stats = [(figures.condition_text(c), d.label, *(_value(float(v)) if k not in ("n", "missing") else str(v)
                                                         for k, v in d.stats().items()))
                 for c, dists in groups.items() for d in dists]
        blocks.append(("table", ["condition", "figure", "n", "mean", "sigma", "min", "max", "unmeasured"],
                       [(c, lab, n_, mean, sig, lo, hi, miss) for c, lab, n_, mean, sig, lo, hi, miss in stats]))
        blocks += [("img", f, c) for f, c in figures.histograms(plan.job, table, out)]
    worst = figures.trace_overlays(table, out)
    if worst:
        blocks.append(("h2", "Worst points: software vs circuit levels"))
        blocks += [("img", f, c) for f, c in worst]
    failed = [r for r in table if r["status"] == "failed"]
    blocks.append(("h2", f"Failed points ({len(failed)})"))
    blocks.append(("list", [f"{_where(r)}: {r['error']}: {r['reason']}" + (f" (netlist: {r['netlist']})"
                                                                           if r.get("netlist") else "")
                            for r in failed] or ["none"]))
    missed = [r for r in table if r["status"] == "not met"]
    if missed:
        blocks.append(("h2", f"Points that missed a target ({len(missed)})"))
        blocks.append(("list", [f"{_where(r)}: {_headline(r)}" for r in missed[:MAX_TABLE_ROWS]] +
                       ([f"... and {len(missed) - MAX_TABLE_ROWS} more (results.json)"]
                        if len(missed) > MAX_TABLE_ROWS else [])))
    axes = [c for c in AXIS_COLUMNS if any(c in r for r in table)]
    blocks.append(("h2", "Points"))
    if len(table) <= MAX_TABLE_ROWS:
        blocks.append(("table", [*axes, "status", "figures"],
                       [[_value(r.get(c, "")) for c in axes] + [r["status"], _headline(r)] for r in table]))
    else:
        blocks.append(("p", f"{len(table)} points: every one is listed in summary.md and results.json."))
    blocks += [("h2", f"Plan ({plan.path})"), ("code", plan.text)]
    return blocks


def _where(row: dict) -> str:
    return ", ".join(f"{c} {_value(row[c])}" for c in AXIS_COLUMNS if c in row and c != "vdd_v")


def write_report(out: Path, plan: Plan, outcome: Outcome, command: str) -> dict:
    """results.json, summary.md, report.md and report.html (with its PNG plots) in `out`;
    returns what results.json holds."""
    from codesign.validation.sweep.pages import markdown, page

    out = Path(out)
    table = rows(plan, outcome)
    n = counts(table, outcome)
    result = {"command": command, "plan_file": str(plan.path), "plan": plan.text, "job": plan.job,
              "counts": n, "seconds": outcome.seconds, "all_met": n["met"] == n["points"], "rows": table}
    atomic_write_text(out / "results.json", json.dumps(_finite(result), indent=1))
    atomic_write_text(out / "summary.md", _markdown(plan, command, table, n, outcome))
    blocks = _blocks(plan, command, table, n, outcome, out)
    atomic_write_text(out / "report.md", markdown(blocks))
    atomic_write_text(out / "report.html", page(f"Sweep: {plan.job}", blocks))
    return result
