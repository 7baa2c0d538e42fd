"""Turn raw observations into the series a chart plots: one point per period, subgroup or sample.

Raw rows (one per unit, shift, lot…) are grouped by the metric's ``period`` (day, week starting
Monday, month) and combined by its ``aggregate`` for individuals and run charts; attribute charts
add counts and sizes per period; x-bar charts keep every reading with its subgroup. Periods in the
window with no data become missing points, so charts show them as gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.data.inputs import period_start
from pipeline.vocabulary import (
    ATTRIBUTE_CHARTS,
    RATE_CHARTS,
    SIZED_CHARTS,
    SUBGROUP_CHARTS,
    ChartType,
    Kind,
)

_FREQ = {"day": "D", "week": "W-MON", "month": "MS"}


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSeries:
    """A metric's chart-ready data.

    ``points`` has one row per plotted point: ``time`` (period start), ``value`` (the statistic
    before division: mean/median/sum for individuals, count for attribute charts), ``n`` (size
    for p/np/u charts, else NaN). ``readings`` holds every reading with its ``subgroup`` for x-bar
    charts (else None).
    """

    metric_id: str
    chart: str
    period: str
    points: pd.DataFrame
    readings: pd.DataFrame | None = None

    @property
    def kind(self) -> Kind:
        """continuous, proportion or count: how before/after impact is computed."""
        return Kind.of_chart(self.chart)

    def rates(self) -> pd.Series:
        """The plotted value per point: proportion for p, rate for u, the value otherwise."""
        v = self.points["value"].astype(float)
        if self.chart in RATE_CHARTS:
            return v / self.points["n"].astype(float)
        return v


def build_series(
    observations: pd.DataFrame,
    *,
    metric_id: str,
    chart: str,
    period: str = "week",
    aggregate: str = "mean",
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> MetricSeries:
    """The chart-ready series of one metric from its raw observations.

    Parameters
    ----------
    observations
        Rows of one site with columns metric_id, timestamp, value, n, subgroup.
    start, end
        The report window; rows outside it are left out and empty periods inside it are gaps.
    """
    period = period or "week"
    rows = observations[observations["metric_id"] == metric_id]
    if start is not None:
        rows = rows[rows["timestamp"] >= start]
    if end is not None:
        rows = rows[rows["timestamp"] < end + pd.Timedelta(days=1)]
    rows = rows.sort_values("timestamp", kind="stable")
    keys = period_start(rows["timestamp"], period)

    if chart in (ChartType.G, ChartType.T):
        # rare-event charts plot one point per event (its gap since the previous one): no
        # grouping into periods and no empty periods as gaps
        points = pd.DataFrame(
            {
                "time": rows["timestamp"].to_numpy(),
                "value": rows["value"].astype(float).to_numpy(),
                "n": np.nan,
            }
        )
        return MetricSeries(metric_id=metric_id, chart=chart, period=period, points=points)

    if chart in SUBGROUP_CHARTS:
        sub = rows["subgroup"].where(rows["subgroup"].notna(), keys.dt.strftime("%Y-%m-%d"))
        readings = pd.DataFrame(
            {
                "time": rows["timestamp"].to_numpy(),
                "subgroup": sub.to_numpy(),
                "value": rows["value"].astype(float).to_numpy(),
            }
        )
        first = readings.groupby("subgroup", sort=False).agg(
            time=("time", "min"), value=("value", "mean"), n=("value", "count")
        )
        points = first.reset_index(drop=True)
        points["time"] = period_start(points["time"], "day")
        return MetricSeries(
            metric_id=metric_id, chart=chart, period=period, points=points, readings=readings
        )

    frame = pd.DataFrame(
        {
            "time": keys.to_numpy(),
            "value": rows["value"].astype(float).to_numpy(),
            "n": rows["n"].astype(float).to_numpy(),
        }
    )
    grouped = frame.groupby("time", sort=True)
    if chart in ATTRIBUTE_CHARTS:
        value = grouped["value"].sum(min_count=1)
        n = grouped["n"].sum(min_count=1) if chart in SIZED_CHARTS else value * np.nan
        points = pd.DataFrame({"value": value, "n": n})
    else:
        how = aggregate if aggregate in ("mean", "median", "sum") else "mean"
        agg = getattr(grouped["value"], how)
        value = agg() if how != "sum" else grouped["value"].sum(min_count=1)
        points = pd.DataFrame({"value": value, "n": grouped["value"].count().astype(float)})
        points["n"] = np.nan
    if len(points):
        full = pd.date_range(points.index.min(), points.index.max(), freq=_FREQ[period])
        points = points.reindex(full.union(points.index))
    points.index.name = "time"
    points = points.reset_index()
    return MetricSeries(metric_id=metric_id, chart=chart, period=period, points=points)
