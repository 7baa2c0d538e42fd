"""What a report says, reduced to what a stakeholder would want to hear about when it changes.

``send --only-changed`` mails a site only when this changed since the last report sent to the
same recipient (the send ledgers remember it): a verdict of an improvement, a variation or
assurance icon, or a goal status; and a concern signal that was not in that report always sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.formatting import count_of
from pipeline.vocabulary import Better


def _is_concern(point: Mapping[str, Any], better: str) -> bool:
    """A signalled point on the worse side of its centre line (the metric's ``better``)."""
    value, centre = point.get("value"), point.get("centre")
    if not point.get("signals") or value is None or centre is None:
        return False
    if better == Better.LOWER:
        return float(value) > float(centre)
    if better == Better.HIGHER:
        return float(value) < float(centre)
    return False


def report_signature(results: Mapping[str, Any], metrics: Sequence[str] = ()) -> dict[str, Any]:
    """``{"metrics": {id: {variation, assurance, verdicts, goals}}, "concerns": [...]}`` of a
    results.json, restricted to ``metrics`` when given (per-metric routing)."""
    wanted = set(metrics)
    out: dict[str, Any] = {}
    concerns: list[str] = []
    for m in results.get("metrics") or []:
        if not isinstance(m, Mapping):
            continue
        mid = str(m.get("metric_id"))
        if wanted and mid not in wanted:
            continue
        out[mid] = {
            "variation": m.get("variation"),
            "assurance": m.get("assurance"),
            "verdicts": {
                str(e.get("event_id")): e.get("outcome")
                for e in m.get("events") or []
                if isinstance(e, Mapping)
            },
            "goals": {
                str(g.get("goal_id")): g.get("status")
                for g in m.get("goals") or []
                if isinstance(g, Mapping)
            },
        }
        chart = m.get("control_chart") or {}
        for p in chart.get("points") or [] if isinstance(chart, Mapping) else []:
            if isinstance(p, Mapping) and _is_concern(p, str(m.get("better"))):
                concerns.append(f"{mid}@{p.get('time')}")
    return {"metrics": out, "concerns": sorted(concerns)}


def what_changed(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """Why a report is worth sending again, in words; empty when nothing that matters changed."""
    if previous is None:
        return ["no report was sent to this recipient before"]
    reasons = []
    new = sorted(set(current.get("concerns", [])) - set(previous.get("concerns", [])))
    if new:
        reasons.append(count_of(len(new), "new concern signal"))
    before, now = previous.get("metrics", {}), current.get("metrics", {})
    for mid in sorted(set(before) | set(now)):
        if before.get(mid) != now.get(mid):
            reasons.append(f"{mid} changed")
    return reasons
