"""Pareto analysis of defect or waste categories, as qcc's ``paretoChart()``.

Categories are sorted by count, descending (ties by category name, so that the order is stable);
``percent`` is 100 x count / total and ``cumulative_percent`` the running sum of the percentages
(qcc: ``Percentage``, ``Cum.Percent.``).

References
----------
Juran, J. M. (1951) *Quality Control Handbook* (the Pareto principle in quality).
Scrucca, L. qcc: ``R/paretochart.R``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.exceptions import StatisticsError
from pipeline.formatting import html_tables

__all__ = ["Pareto", "ParetoCategory", "pareto"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParetoCategory:
    category: str
    count: float
    percent: float
    cumulative_percent: float

    def to_dict(self) -> dict[str, Any]:
        count: float | int = int(self.count) if float(self.count).is_integer() else self.count
        return {
            "category": self.category,
            "count": count,
            "percent": self.percent,
            "cumulative_percent": self.cumulative_percent,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Pareto:
    """Categories in Pareto order with their counts and (cumulative) percentages."""

    categories: tuple[ParetoCategory, ...]

    @property
    def total(self) -> float:
        return float(sum(c.count for c in self.categories))

    def vital_few(self, share: float = 80.0) -> tuple[ParetoCategory, ...]:
        """The leading categories that together first reach ``share`` percent of the total."""
        out = []
        for c in self.categories:
            out.append(c)
            if c.cumulative_percent >= share - 1e-9:
                break
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kaizen-reports pareto``."""
        return {"categories": [c.to_dict() for c in self.categories]}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [c.to_dict() for c in self.categories],
            columns=["category", "count", "percent", "cumulative_percent"],
        )

    def summary(self) -> str:
        few = self.vital_few()
        return (
            f"{len(self.categories)} categories, total {self.total:g}; "
            f"{len(few)} make up {few[-1].cumulative_percent:.0f}%: "
            + ", ".join(c.category for c in few)
            if few
            else "no categories"
        )

    def _repr_html_(self) -> str:
        return html_tables((self.summary(), self.to_frame()))


def pareto(categories: Any, counts: Any = None) -> Pareto:
    """Pareto table of ``categories`` (one label per row), weighted by ``counts`` if given.

    Rows with a missing category are an error; missing counts count as 0. Counts must not be
    negative and must not all be 0.
    """
    cat = pd.Series(categories, dtype=object).reset_index(drop=True)
    missing = cat.isna() | (cat.astype(str).str.strip() == "")
    if missing.any():
        raise StatisticsError(
            "categories must not be empty",
            column="category",
            rows=np.nonzero(missing.to_numpy())[0][:10].tolist(),
        )
    if counts is None:
        cnt = pd.Series(np.ones(len(cat)))
    else:
        cnt = pd.Series(pd.to_numeric(pd.Series(counts), errors="coerce")).reset_index(drop=True)
        if len(cnt) != len(cat):
            raise StatisticsError("counts and categories differ in length", column="count")
        cnt = cnt.fillna(0.0)
        neg = cnt < 0
        if neg.any():
            raise StatisticsError(
                "counts must not be negative",
                column="count",
                rows=np.nonzero(neg.to_numpy())[0][:10].tolist(),
            )
    totals = cnt.groupby(cat.astype(str).str.strip()).sum()
    total = float(totals.sum())
    if len(totals) == 0 or total <= 0:
        raise StatisticsError("nothing to count: no categories or every count is 0")
    order = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    out, running = [], 0.0
    for name, c in order:
        running += float(c)
        out.append(
            ParetoCategory(
                category=str(name),
                count=float(c),
                percent=100 * float(c) / total,
                cumulative_percent=100 * running / total,
            )
        )
    return Pareto(categories=tuple(out))
