"""A sweep's report: `results.json` (one row per point: its axes, status,
figures, targets, seconds) and `summary.md`, each echoing the exact command
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

AXIS_COLUMNS = ("map_dir", "corner", "temp_c", "supply", "vdd_v", "sequence")


def judge(job: str, figures: dict, targets: SweepTargets) -> list[dict]:
    """[{name, threshold, value, passed}]; a nan value (nothing measured) never passes."""
    if job == "level_trips":
        rows = [("worst level-comparator trip error (levels)", "<=", targets.max_trip_error_levels,
                 figures["worst_trip_error_levels"])]
    elif job == "hysteresis":
        rows = [("worst threshold error (relative)", "<=", targets.max_threshold_error_rel,
                 figures["worst_threshold_error_rel"])]
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


def _headline(row: dict) -> str:
    if row["status"] == "failed":
        return f"{row['error']}: {row['reason']}"[:200]
    return "; ".join(f"{t['name']} {_value(t['value'])} ({t['op']} {_value(t['threshold'])})" for t in row["targets"])


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


def write_report(out: Path, plan: Plan, outcome: Outcome, command: str) -> dict:
    """results.json and summary.md in `out`; returns what results.json holds."""
    table = rows(plan, outcome)
    n = counts(table, outcome)
    result = {"command": command, "plan_file": str(plan.path), "plan": plan.text, "job": plan.job,
              "counts": n, "seconds": outcome.seconds, "all_met": n["met"] == n["points"], "rows": table}
    atomic_write_text(Path(out) / "results.json", json.dumps(_finite(result), indent=1))
    atomic_write_text(Path(out) / "summary.md", _markdown(plan, command, table, n, outcome))
    return result
