"""Culture of continuous improvement: the idea funnel, participation, time to implement, savings
and survey scores of one site, from the optional ``suggestions``, ``headcount`` and ``surveys``
tables.

Definitions (all for one site, the *window* is ``window_start``..``as_of`` inclusive):

idea funnel
    The ideas **submitted in the window** (a cohort): ``submitted`` counts all of them,
    ``accepted`` those accepted or implemented (an implemented idea was accepted first),
    ``implemented``, ``rejected``, and ``awaiting`` those still at status ``submitted``.
    Shares are of ``submitted``. Ideas submitted late in the window have had less time to be
    implemented, so the share implemented of a recent cohort is a lower bound.
ideas per employee per month
    Per calendar month, ideas submitted / that month's headcount. Only months lying wholly in the
    window, from the first month with a recorded idea on, and with a headcount, are used (a part
    month would understate the rate). The window rate is sum(ideas) / sum(headcount) over those
    months, i.e. ideas per employee-month; ``start`` and ``end`` are the same ratio over the first
    and the last three such months. Without headcount the rate is "not enough data".
participation rate
    The tables do not name who submitted an idea (and the report never names individuals), so
    participation is measured by **area**: per month, the share of the site's areas (every area
    that ever submitted an idea up to ``as_of``) that submitted at least one idea; the window rate
    is the mean of the monthly shares over the same complete months. ``ideas per 100 employees``
    is reported beside it.
time to implement
    Days from ``submitted_on`` to ``implemented_on`` for ideas **implemented in the window** (by
    implementation date; rows without both dates, or with the implementation before the
    submission, are left out). The trend is the median per calendar quarter of implementation.
estimated savings
    The sum of ``estimated_saving`` over the cohort's implemented ideas (blank estimates count as
    unknown, not as zero), in total and by area, in the project's ``currency`` (configuration).
surveys
    Per instrument, scores in the window, one point per survey date (several rows on one date are
    averaged, weighted by ``responses`` when every row has it), on an XmR chart with
    ``better="higher"`` unless told otherwise. ``change`` is the latest score minus the mean score
    of the first year of the window's surveys (the surveys within 365 days of the first one).

Results are frozen dataclasses; their ``to_dict()`` holds plain JSON types only and never NaN,
None or infinity: a value that cannot be computed is left out of the dict (its key is absent) and
the prose says "not enough data".

References
----------
Imai, M. (1986) *Kaizen*, ch. 5 (suggestion systems: participation before savings).
NHS England (2019) *Making Data Count* (XmR charts for survey scores).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline.exceptions import StatisticsError
from pipeline.formatting import (
    NOT_ENOUGH,
    finite,
    fmt_count,
    fmt_date,
    fmt_money,
    fmt_number,
    fmt_percent,
    html_tables,
    is_missing,
    json_safe,
)
from pipeline.stats.spc import ControlChart, control_chart, describe_signals
from pipeline.vocabulary import SuggestionStatus

__all__ = [
    "CultureSummary",
    "change_text",
    "IdeaFunnel",
    "SurveyTrend",
    "summarise_culture",
    "instrument_name",
]

STATUSES = tuple(SuggestionStatus)
#: months at each end of the window compared by "ideas per employee rose from ... to ..."
TREND_MONTHS = 3
NO_AREA = "(no area)"


# --------------------------------------------------------------------------- helpers


def prune(value: Any) -> Any:
    """JSON-safe and without missing values: NaN/inf/None entries of dicts are dropped."""
    value = json_safe(value)
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value if v is not None]
    return value


_float = finite


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den and den > 0 else None


#: Survey instruments known by their initials, written as their users write them.
INITIALISMS = {"nps": "NPS", "enps": "eNPS", "csat": "CSAT", "ces": "CES", "esat": "ESAT"}


def instrument_name(instrument: str) -> str:
    """``customer_satisfaction -> 'Customer satisfaction'``, ``nps -> 'NPS'``,
    ``enps_q3 -> 'eNPS q3'`` (an initialism keeps its letters' case, as its users write it)."""
    words = [INITIALISMS.get(w.lower(), w) for w in str(instrument).replace("_", " ").split()]
    text = " ".join(words)
    return text if words and words[0] in INITIALISMS.values() else text[:1].upper() + text[1:]


def _rows(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    return frame if frame is not None and len(frame) else None


def _month_start(p: pd.Period) -> pd.Timestamp:
    return p.start_time.normalize()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True, kw_only=True)
class IdeaFunnel:
    """Counts of the ideas submitted in the window, by how far they got."""

    submitted: int
    accepted: int
    implemented: int
    rejected: int
    awaiting: int

    def share(self, stage: str) -> float | None:
        """Share of submitted ideas that reached ``stage`` (None when nothing was submitted)."""
        return _ratio(getattr(self, stage), self.submitted)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {s: getattr(self, s) for s in self.stages()}
        for s in ("accepted", "implemented", "rejected", "awaiting"):
            d[f"share_{s}"] = self.share(s)
        return prune(d)

    @staticmethod
    def stages() -> tuple[str, ...]:
        return ("submitted", "accepted", "implemented", "rejected", "awaiting")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "stage": list(self.stages()),
                "ideas": [getattr(self, s) for s in self.stages()],
                "share": [self.share(s) if s != "submitted" else 1.0 for s in self.stages()],
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SurveyTrend:
    """One survey instrument's scores in the window on an XmR chart."""

    instrument: str
    name: str
    better: str
    scores: pd.DataFrame  # date, score, responses
    chart: ControlChart | None
    latest_score: float | None
    latest_date: pd.Timestamp | None
    first_year_mean: float | None
    change: float | None

    @property
    def n_surveys(self) -> int:
        return int(len(self.scores))

    @property
    def variation(self) -> str | None:
        return self.chart.variation() if self.chart is not None else None

    def sentence(self) -> str:
        if self.latest_score is None:
            return f"{self.name}: {NOT_ENOUGH}."
        text = f"{self.name} scored {fmt_number(self.latest_score)} on {fmt_date(self.latest_date)}"
        if self.change is not None and self.n_surveys > 1:
            delta = change_text(self.change, self.latest_score)
            if delta == "0":
                text += ", level with the first year's average"
            else:
                word = "up" if self.change > 0 else "down"
                text += (
                    f", {word} {delta.lstrip('+-')} on the first year's average of "
                    f"{fmt_number(self.first_year_mean)}"
                )
        if self.chart is not None:
            text += f" ({self.signal_text})"
        return text + "."

    @property
    def signal_text(self) -> str:
        """The signals its chart shows, latest and earlier (the chart colours both)."""
        if self.chart is None:
            return NOT_ENOUGH
        return describe_signals(self.chart, last=1, latest="the latest survey")

    def to_dict(self) -> dict[str, Any]:
        points = []
        for i, row in enumerate(self.scores.itertuples(index=False)):
            p: dict[str, Any] = {"date": row.date, "score": row.score, "responses": row.responses}
            if self.chart is not None:
                p |= {
                    "centre": self.chart.centre[i],
                    "lcl": self.chart.lcl[i],
                    "ucl": self.chart.ucl[i],
                    "signals": self.chart.point_signals()[i],
                }
            points.append(p)
        return prune(
            {
                "instrument": self.instrument,
                "name": self.name,
                "better": self.better,
                "n_surveys": self.n_surveys,
                "latest_score": self.latest_score,
                "latest_date": self.latest_date,
                "first_year_mean": self.first_year_mean,
                "change": self.change,
                "variation": self.variation,
                "signal_text": self.signal_text,
                "sentence": self.sentence(),
                "points": points,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CultureSummary:
    """One site's culture-of-improvement numbers for the report window.

    Tables (DataFrames, tidy):

    ``monthly``
        month, ideas, headcount, ideas_per_employee, areas_submitting, areas_total, area_share:
        one row per complete month of the window from the first recorded idea on.
    ``time_to_implement``
        quarter (``"2025 Q3"``), quarter_start, implemented, median_days: ideas implemented in
        the window by quarter of implementation.
    ``by_area``
        area, ideas, implemented, share_implemented, savings, savings_estimates: the window's
        cohort by area, most ideas first.
    """

    as_of: pd.Timestamp
    window_start: pd.Timestamp
    has_suggestions: bool
    has_headcount: bool
    has_surveys: bool
    funnel: IdeaFunnel | None
    monthly: pd.DataFrame
    ideas_per_employee: float | None
    ideas_per_employee_start: float | None
    ideas_per_employee_end: float | None
    participation_rate: float | None
    n_areas: int
    median_days_to_implement: float | None
    n_implemented_in_window: int
    time_to_implement: pd.DataFrame
    savings_total: float | None
    savings_estimates: int
    by_area: pd.DataFrame
    surveys: tuple[SurveyTrend, ...] = ()
    findings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    #: ISO 4217 code of the savings (the project's ``currency``), None when not configured.
    currency: str | None = None

    # -- derived ---------------------------------------------------------------------------
    @property
    def share_implemented(self) -> float | None:
        return self.funnel.share("implemented") if self.funnel is not None else None

    @property
    def ideas_per_100_employees(self) -> float | None:
        return None if self.ideas_per_employee is None else 100 * self.ideas_per_employee

    def survey(self, instrument: str) -> SurveyTrend | None:
        return next((s for s in self.surveys if s.instrument == instrument), None)

    # -- output ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every number the culture section shows; keys of values that cannot be computed are
        absent (never NaN/None)."""
        return prune(
            {
                "as_of": self.as_of,
                "window_start": self.window_start,
                "has_suggestions": self.has_suggestions,
                "has_headcount": self.has_headcount,
                "has_surveys": self.has_surveys,
                "funnel": self.funnel.to_dict() if self.funnel is not None else None,
                "ideas_per_employee": self.ideas_per_employee,
                "ideas_per_100_employees": self.ideas_per_100_employees,
                "ideas_per_employee_start": self.ideas_per_employee_start,
                "ideas_per_employee_end": self.ideas_per_employee_end,
                "participation_rate": self.participation_rate,
                "participation_definition": (
                    "mean monthly share of the site's areas that submitted at least one idea"
                ),
                "n_areas": self.n_areas,
                "share_implemented": self.share_implemented,
                "median_days_to_implement": self.median_days_to_implement,
                "n_implemented_in_window": self.n_implemented_in_window,
                "savings_total": self.savings_total,
                "savings_estimates": self.savings_estimates,
                "currency": self.currency,
                "monthly": self.monthly.to_dict("records"),
                "time_to_implement": self.time_to_implement.to_dict("records"),
                "by_area": self.by_area.to_dict("records"),
                "surveys": [s.to_dict() for s in self.surveys],
                "findings": list(self.findings),
                "notes": list(self.notes),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """The headline measures, one row each: measure, value, text (for CSV and tests)."""
        rows = [
            ("ideas_submitted", self.funnel.submitted if self.funnel else None, None),
            ("ideas_per_employee_per_month", self.ideas_per_employee, None),
            ("ideas_per_100_employees_per_month", self.ideas_per_100_employees, None),
            ("participation_rate", self.participation_rate, "percent"),
            ("share_implemented", self.share_implemented, "percent"),
            ("median_days_to_implement", self.median_days_to_implement, "days"),
            ("estimated_savings", self.savings_total, "money"),
        ]
        for s in self.surveys:
            rows.append((f"survey_{s.instrument}_latest", s.latest_score, None))
            rows.append((f"survey_{s.instrument}_change", s.change, None))
        out = []
        for name, value, kind in rows:
            v = _float(value)
            if kind == "percent":
                text = fmt_percent(v)
            elif kind == "days":
                text = fmt_number(v, unit="days", digits=0) if v is not None else NOT_ENOUGH
            elif kind == "money":
                text = fmt_money(v, self.currency)
            else:
                text = fmt_number(v)
            out.append({"measure": name, "value": v, "text": text})
        return pd.DataFrame(out)

    def headline(self) -> list[tuple[str, str]]:
        """(label, formatted value) pairs for tiles or a small table."""
        f = self.funnel
        a, b = self.ideas_per_employee_start, self.ideas_per_employee_end
        if len(self.monthly) < 2 * TREND_MONTHS:
            a = b = None
        whole = self.ideas_per_employee
        # the scale the findings use ("Ideas per 100 employees rose from 2.1 to 4.5 a month")
        if a is not None and b is not None:
            label, k, d = _per_month_scale(min(a, b))
        else:
            label, k, d = _per_month_scale(whole if whole is not None else 0.0)
        rate_rows = [
            (
                f"{label} a month",
                fmt_number(k * whole, digits=d) if whole is not None else NOT_ENOUGH,
            )
        ]
        if a is not None and b is not None:
            rate_rows += [
                (f"{label} a month, first {TREND_MONTHS} months", fmt_number(k * a, digits=d)),
                (f"{label} a month, last {TREND_MONTHS} months", fmt_number(k * b, digits=d)),
            ]
        return [
            ("Ideas submitted", fmt_count(f.submitted) if f else NOT_ENOUGH),
            *rate_rows,
            ("Areas taking part each month", self.participation_text()),
            ("Share implemented", fmt_percent(self.share_implemented)),
            (
                "Median days to implement",
                fmt_number(self.median_days_to_implement, digits=0)
                if self.median_days_to_implement is not None
                else NOT_ENOUGH,
            ),
            ("Estimated savings", fmt_money(self.savings_total, self.currency)),
        ]

    def participation_text(self) -> str:
        """'4.6 of 6 areas (77%)': the mean number of areas submitting ideas in a month beside
        the share it is (a share alone reads as if 77% of the areas took part)."""
        if self.participation_rate is None or not self.n_areas:
            return fmt_percent(self.participation_rate)
        mean_areas = self.participation_rate * self.n_areas
        whole = abs(mean_areas - round(mean_areas)) < 0.05
        count = fmt_number(mean_areas, digits=0 if whole else 1)
        return f"{count} of {self.n_areas} areas ({fmt_percent(self.participation_rate)})"

    def summary(self) -> str:
        lines = [
            f"Culture of improvement, {fmt_date(self.window_start)} to {fmt_date(self.as_of)}:",
            *(f"  {label}: {value}" for label, value in self.headline()),
            *(f"  {s.sentence()}" for s in self.surveys),
            *(f"- {f}" for f in self.findings),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = pd.DataFrame(self.headline(), columns=["measure", "value"])
        parts = [
            (
                f"Culture of improvement, {fmt_date(self.window_start)} to {fmt_date(self.as_of)}",
                head,
            )
        ]
        if self.findings:
            parts.append(("Findings", pd.DataFrame({"finding": list(self.findings)})))
        if len(self.by_area):
            area = pd.DataFrame(
                {
                    "area": self.by_area["area"],
                    "ideas": [fmt_count(v) for v in self.by_area["ideas"]],
                    "implemented": [fmt_count(v) for v in self.by_area["implemented"]],
                    "share implemented": [
                        fmt_percent(v) for v in self.by_area["share_implemented"]
                    ],
                    "estimated savings": [
                        fmt_number(v, digits=0) if n else "none estimated"
                        for v, n in zip(
                            self.by_area["savings"], self.by_area["savings_estimates"], strict=True
                        )
                    ],
                }
            )
            parts.append(("Ideas by area (submitted in the window)", area))
        if self.surveys:
            surv = pd.DataFrame(
                {
                    "survey": [s.name for s in self.surveys],
                    "surveys": [fmt_count(s.n_surveys) for s in self.surveys],
                    "latest": [fmt_number(s.latest_score) for s in self.surveys],
                    "change vs first year": [
                        fmt_number(s.change) if s.change is not None else NOT_ENOUGH
                        for s in self.surveys
                    ],
                    "variation": [
                        (s.variation or NOT_ENOUGH).replace("_", " ") for s in self.surveys
                    ],
                }
            )
            parts.append(("Survey scores", surv))
        if self.notes:
            parts.append(("Notes", pd.DataFrame({"note": list(self.notes)})))
        return html_tables(*parts)


# --------------------------------------------------------------------------- computation


def _normalise_suggestions(frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    s = frame.copy()
    s["submitted_on"] = pd.to_datetime(s["submitted_on"])
    s = s[s["submitted_on"].notna() & (s["submitted_on"] <= as_of)].copy()
    impl = s["implemented_on"] if "implemented_on" in s.columns else pd.NaT
    s["implemented_on"] = pd.to_datetime(impl)
    # an implementation dated after as_of has not happened yet as far as this report knows
    s.loc[s["implemented_on"] > as_of, "implemented_on"] = pd.NaT
    status = s["status"].astype("object").fillna("").map(lambda v: str(v).strip().lower())
    s["status"] = status
    area = s["area"].astype("object") if "area" in s.columns else pd.Series(None, index=s.index)
    s["area"] = area.map(lambda v: NO_AREA if is_missing(v) or not str(v).strip() else str(v))
    saving = s["estimated_saving"] if "estimated_saving" in s.columns else np.nan
    s["estimated_saving"] = pd.to_numeric(saving, errors="coerce").astype(float)
    s["is_implemented"] = s["status"] == "implemented"
    s["is_accepted"] = s["status"].isin(("accepted", "implemented"))
    return s


def _funnel(cohort: pd.DataFrame) -> IdeaFunnel:
    st = cohort["status"]
    return IdeaFunnel(
        submitted=int(len(cohort)),
        accepted=int(cohort["is_accepted"].sum()),
        implemented=int(cohort["is_implemented"].sum()),
        rejected=int((st == "rejected").sum()),
        awaiting=int((st == "submitted").sum()),
    )


def _complete_months(window_start: pd.Timestamp, as_of: pd.Timestamp) -> pd.PeriodIndex:
    """Calendar months lying wholly inside window_start..as_of."""
    first = window_start.to_period("M")
    if _month_start(first) < window_start.normalize():
        first += 1
    last = as_of.to_period("M")
    if last.end_time.normalize() > as_of.normalize():
        last -= 1
    if last < first:
        return pd.PeriodIndex([], freq="M")
    return pd.period_range(first, last, freq="M")


def _monthly(
    ideas: pd.DataFrame | None,
    headcount: pd.DataFrame | None,
    window_start: pd.Timestamp,
    as_of: pd.Timestamp,
    areas_total: int,
) -> pd.DataFrame:
    cols = ["month", "ideas", "headcount", "ideas_per_employee", "areas_submitting",
            "areas_total", "area_share"]  # fmt: skip
    if ideas is None or not len(ideas):
        return pd.DataFrame(columns=cols)
    months = _complete_months(window_start, as_of)
    # the month of the first recorded idea is usually a part month of data: start after it
    first_idea = ideas["submitted_on"].min().to_period("M")
    months = months[months > first_idea]
    if not len(months):
        return pd.DataFrame(columns=cols)
    per = ideas["submitted_on"].dt.to_period("M")
    counts = per.value_counts().reindex(months, fill_value=0)
    areas = ideas.groupby(per)["area"].nunique().reindex(months, fill_value=0)
    heads = pd.Series(np.nan, index=months)
    if headcount is not None and len(headcount):
        h = headcount.dropna(subset=["month", "headcount"])
        h = h[h["headcount"] > 0]
        if len(h):
            by_month = h.groupby(pd.to_datetime(h["month"]).dt.to_period("M"))["headcount"].mean()
            heads = by_month.reindex(months)
    out = pd.DataFrame(
        {
            "month": [_month_start(m) for m in months],
            "ideas": counts.to_numpy(dtype=int),
            "headcount": heads.to_numpy(dtype=float),
            "areas_submitting": areas.to_numpy(dtype=int),
            "areas_total": areas_total,
        }
    )
    out["ideas_per_employee"] = out["ideas"] / out["headcount"]
    out["area_share"] = out["areas_submitting"] / areas_total if areas_total else np.nan
    return out[cols]


def _rate(rows: pd.DataFrame) -> float | None:
    ok = rows[rows["headcount"].notna()]
    return _ratio(ok["ideas"].sum(), ok["headcount"].sum()) if len(ok) else None


def _time_to_implement(done: pd.DataFrame) -> pd.DataFrame:
    cols = ["quarter", "quarter_start", "implemented", "median_days"]
    if not len(done):
        return pd.DataFrame(columns=cols)
    q = done["implemented_on"].dt.to_period("Q")
    g = done.groupby(q)["days"]
    out = pd.DataFrame(
        {
            "quarter": [f"{p.year} Q{p.quarter}" for p in g.median().index],
            "quarter_start": [p.start_time.normalize() for p in g.median().index],
            "implemented": g.size().to_numpy(dtype=int),
            "median_days": g.median().to_numpy(dtype=float),
        }
    )
    return out[cols]


def _by_area(cohort: pd.DataFrame) -> pd.DataFrame:
    cols = ["area", "ideas", "implemented", "share_implemented", "savings", "savings_estimates"]
    if not len(cohort):
        return pd.DataFrame(columns=cols)
    impl = cohort[cohort["is_implemented"]]
    g = cohort.groupby("area")
    out = pd.DataFrame({"ideas": g.size()})
    out["implemented"] = impl.groupby("area").size().reindex(out.index, fill_value=0)
    out["share_implemented"] = out["implemented"] / out["ideas"]
    out["savings"] = impl.groupby("area")["estimated_saving"].sum().reindex(out.index)
    out["savings"] = out["savings"].fillna(0.0).astype(float)
    est = impl["estimated_saving"].notna().groupby(impl["area"]).sum()
    out["savings_estimates"] = est.reindex(out.index, fill_value=0).astype(int)
    out = out.reset_index().rename(columns={"index": "area"})
    out = out.sort_values(["ideas", "area"], ascending=[False, True], kind="stable")
    out[["ideas", "implemented"]] = out[["ideas", "implemented"]].astype(int)
    return out[cols].reset_index(drop=True)


def _survey_trends(
    surveys: pd.DataFrame, window_start: pd.Timestamp, as_of: pd.Timestamp,
    better: Mapping[str, str],
) -> tuple[SurveyTrend, ...]:  # fmt: skip
    s = surveys.copy()
    s["date"] = pd.to_datetime(s["date"])
    s = s[s["date"].between(window_start, as_of) & s["score"].notna()]
    s = s[s["instrument"].notna()]
    if "responses" not in s.columns:
        s["responses"] = np.nan
    out = []
    for instrument, rows in s.groupby(s["instrument"].astype(str), sort=True):
        per_date = []
        for date, d in rows.groupby("date", sort=True):
            resp = d["responses"]
            if resp.notna().all() and (resp > 0).all():
                score = float(np.average(d["score"], weights=resp))
                total = float(resp.sum())
            else:
                score = float(d["score"].mean())
                total = float(resp.sum()) if resp.notna().any() else np.nan
            per_date.append({"date": date, "score": score, "responses": total})
        scores = pd.DataFrame(per_date, columns=["date", "score", "responses"])
        direction = better.get(instrument, "higher")
        chart = None
        if len(scores) >= 2:
            try:
                chart = control_chart(
                    scores["score"].to_numpy(), chart="xmr", times=scores["date"].to_numpy(),
                    better=direction,
                )  # fmt: skip
            except StatisticsError:
                chart = None
        first = scores["date"].iloc[0]
        first_year = scores[scores["date"] < first + pd.Timedelta(days=365)]
        fy_mean = float(first_year["score"].mean())
        latest = float(scores["score"].iloc[-1])
        out.append(
            SurveyTrend(
                instrument=instrument,
                name=instrument_name(instrument),
                better=direction,
                scores=scores,
                chart=chart,
                latest_score=latest,
                latest_date=pd.Timestamp(scores["date"].iloc[-1]),
                first_year_mean=fy_mean,
                change=latest - fy_mean if len(scores) > len(first_year) else None,
            )
        )
    return tuple(out)


def _digits(x: float) -> int:
    """The decimals :func:`fmt_number` shows for a value of this size."""
    ax = abs(x)
    return 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3


def change_text(change: float, level: float) -> str:
    """``+1.5`` / ``-0.09`` / ``0``, at the precision the level itself is shown with."""
    d = _digits(level)
    if round(change, d) == 0:
        return "0"
    return ("+" if change > 0 else "") + fmt_number(change, digits=d)


def _per_month_scale(low: float) -> tuple[str, float, int]:
    """Readable scale: per employee when every value is >= 0.1 a month, else per 100."""
    if low >= 0.1:
        return "Ideas per employee", 1.0, 2
    return "Ideas per 100 employees", 100.0, 1


def _findings(c: CultureSummary) -> tuple[str, ...]:
    out: list[str] = []
    f = c.funnel
    if f is not None and f.submitted:
        first = ""
        a, b = c.ideas_per_employee_start, c.ideas_per_employee_end
        if a is not None and b is not None and len(c.monthly) >= 2 * TREND_MONTHS:
            label, k, d = _per_month_scale(min(a, b))
            ta, tb = fmt_number(k * a, digits=d), fmt_number(k * b, digits=d)
            if ta == tb:
                first = f"{label} held at {tb} a month"
            else:
                first = f"{label} {'rose' if b > a else 'fell'} from {ta} to {tb} a month"
        elif c.ideas_per_employee is not None:
            label, k, d = _per_month_scale(c.ideas_per_employee)
            first = f"{label} averaged {fmt_number(k * c.ideas_per_employee, digits=d)} a month"
        else:
            first = f"{fmt_count(f.submitted)} ideas were submitted (headcount: {NOT_ENOUGH})"
        second = f"{fmt_percent(f.share('implemented'))} of ideas were implemented"
        if c.median_days_to_implement is not None:
            days = int(round(c.median_days_to_implement))
            second += f", a median of {days} day{'s' if days != 1 else ''} after submission"
        out.append(f"{first}; {second}.")
        if len(c.by_area):
            top = c.by_area.iloc[0]
            text = f"{top['area']} contributed the most ideas ({fmt_count(top['ideas'])})"
            if c.participation_rate is not None and c.n_areas > 1:
                count, _, share = c.participation_text().partition(" areas ")
                text += f"; each month, on average {count} areas {share} submitted ideas"
            if c.savings_total is not None and c.savings_total > 0:
                text += (
                    "; implemented ideas saved an estimated "
                    f"{fmt_money(c.savings_total, c.currency)}"
                )
            out.append(text + ".")
    if c.surveys:
        parts = []
        for s in c.surveys[:2]:
            if s.latest_score is None:
                continue
            p = f"{s.name.lower()} {fmt_number(s.latest_score)}"
            if s.change is not None:
                p += f" ({change_text(s.change, s.latest_score)} on the first year's average)"
            parts.append(p)
        if parts:
            text = "Latest survey scores: " + "; ".join(parts)
            # what each survey's chart shows, latest and earlier: the chart colours every signal
            # of the window, so "no special-cause variation" is said only when it has none
            told = [s for s in c.surveys[:2] if s.chart is not None and s.latest_score is not None]
            if told and all(s.signal_text == "no special-cause variation" for s in told):
                text += "; no special-cause variation"
            else:
                text += "".join(f"; {s.name.lower()}: {s.signal_text}" for s in told)
            out.append(text + ".")
    return tuple(out[:3])


def summarise_culture(
    *,
    suggestions: pd.DataFrame | None,
    headcount: pd.DataFrame | None,
    surveys: pd.DataFrame | None,
    as_of: pd.Timestamp,
    window_start: pd.Timestamp,
    survey_better: Mapping[str, str] | None = None,
    currency: str | None = None,
) -> CultureSummary | None:
    """Compute the culture section's numbers for one site.

    Parameters
    ----------
    suggestions, headcount, surveys : the site's rows of the optional tables (typed as
        :data:`pipeline.data.inputs.SCHEMA`), or None when the table is not configured.
    as_of, window_start : the report window (inclusive); nothing after ``as_of`` is used.
    survey_better : good direction per instrument (default ``"higher"`` for every instrument).
    currency : the project's currency code, written before the savings (none when None).

    Returns
    -------
    CultureSummary, or None when none of the tables has a row for the site.
    """
    as_of = pd.Timestamp(as_of)
    window_start = pd.Timestamp(window_start)
    sug, hc, sv = _rows(suggestions), _rows(headcount), _rows(surveys)
    if sug is None and hc is None and sv is None:
        return None
    notes: list[str] = []

    ideas = _normalise_suggestions(sug, as_of) if sug is not None else None
    funnel = None
    cohort = pd.DataFrame()
    monthly = _monthly(None, None, window_start, as_of, 0)
    n_areas = 0
    tti = _time_to_implement(pd.DataFrame())
    by_area = _by_area(pd.DataFrame())
    median_days = savings = None
    n_done = n_est = 0
    rate = rate_a = rate_b = participation = None
    if ideas is not None and len(ideas):
        cohort = ideas[ideas["submitted_on"] >= window_start]
        funnel = _funnel(cohort)
        n_areas = int(ideas["area"].nunique())
        monthly = _monthly(ideas, hc, window_start, as_of, n_areas)
        with_hc = monthly[monthly["headcount"].notna()]
        rate = _rate(with_hc)
        if len(with_hc) >= 2 * TREND_MONTHS:
            rate_a = _rate(with_hc.iloc[:TREND_MONTHS])
            rate_b = _rate(with_hc.iloc[-TREND_MONTHS:])
        if hc is None:
            notes.append(f"Ideas per employee: {NOT_ENOUGH} (no headcount for this site).")
        elif rate is None:
            notes.append(
                f"Ideas per employee: {NOT_ENOUGH} (no headcount for the window's months)."
            )
        if len(monthly):
            participation = float(monthly["area_share"].mean())
        done = ideas[ideas["is_implemented"] & ideas["implemented_on"].notna()].copy()
        done["days"] = (done["implemented_on"] - done["submitted_on"]).dt.days.astype(float)
        done = done[(done["days"] >= 0) & (done["implemented_on"] >= window_start)]
        n_done = int(len(done))
        median_days = float(done["days"].median()) if n_done else None
        tti = _time_to_implement(done)
        impl = cohort[cohort["is_implemented"]]
        n_est = int(impl["estimated_saving"].notna().sum())
        savings = float(impl["estimated_saving"].sum()) if n_est else None
        by_area = _by_area(cohort)
    elif sug is None:
        notes.append("No suggestions table: the idea funnel is not shown.")

    trends = _survey_trends(sv, window_start, as_of, survey_better or {}) if sv is not None else ()

    summary = CultureSummary(
        as_of=as_of,
        window_start=window_start,
        has_suggestions=ideas is not None and len(ideas) > 0,
        has_headcount=hc is not None,
        has_surveys=bool(trends),
        funnel=funnel,
        monthly=monthly,
        ideas_per_employee=rate,
        ideas_per_employee_start=rate_a,
        ideas_per_employee_end=rate_b,
        participation_rate=participation,
        n_areas=n_areas,
        median_days_to_implement=median_days,
        n_implemented_in_window=n_done,
        time_to_implement=tti,
        savings_total=savings,
        savings_estimates=n_est,
        by_area=by_area,
        surveys=trends,
        notes=tuple(notes),
        currency=currency,
    )
    return replace(summary, findings=_findings(summary))
