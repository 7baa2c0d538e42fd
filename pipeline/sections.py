"""The site report's sections as HTML fragments built from a :class:`SiteAnalysis`.

Every string that comes from data or configuration passes through :func:`esc`, so a title such as
``<script>alert(1)</script>`` is shown as text and never runs.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from pipeline.analysis import MetricAnalysis, SiteAnalysis
from pipeline.formatting import fmt_date, fmt_number
from pipeline.plots.style import ChartImage, new_figure


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True, slots=True)
class Html:
    """An HTML fragment that a notebook cell displays as itself."""

    body: str

    def _repr_html_(self) -> str:
        return self.body


def header(site: SiteAnalysis) -> Html:
    banner = ""
    if site.status == "warnings":
        n = sum(1 for f in site.validation.get("failures", []) if f.get("severity") == "warning")
        banner = (
            f'<div class="banner" role="note"><strong>Data-quality warning:</strong> {n} contract '
            "rule(s) raised warnings for this site. The report was produced; see "
            '<a href="#data-quality">Data quality</a>.</div>'
        )
    return Html(
        f'<header><p class="meta">{esc(site.project_name)} · Kaizen impact report</p>'
        f"<h1>{esc(site.site_name)}</h1>"
        f'<p class="meta">Window {esc(fmt_date(site.window_start))} to '
        f"{esc(fmt_date(site.as_of))} · as of {esc(fmt_date(site.as_of))} · data up to "
        f"{esc(fmt_date(site.data_freshness))} · run {esc(site.run_id or 'manual')}</p>"
        f"{banner}</header>"
    )


def metric_chart(metric: MetricAnalysis) -> ChartImage:
    fig, ax = new_figure()
    pts = metric.series.points
    ax.plot(pts["time"], metric.values, marker="o", markersize=3, linewidth=1.2)
    ax.set_ylabel(metric.unit)
    ax.set_title(metric.name, loc="left")
    alt = f"{metric.name} by {metric.period}, {int(metric.values.notna().sum())} points"
    return ChartImage.from_figure(fig, alt=alt)


def metric_section(metric: MetricAnalysis) -> Html:
    chart = metric_chart(metric)
    latest = fmt_number(metric.latest, unit=metric.unit)
    return Html(
        f'<section id="metric-{esc(metric.metric_id)}"><h2>{esc(metric.name)}</h2>'
        f"<p>Latest {esc(metric.period)}: <strong>{esc(latest)}</strong>.</p>"
        f"{chart._repr_html_()}</section>"
    )


def summary_table(site: SiteAnalysis) -> Html:
    rows = "".join(
        f"<tr><td>{esc(m.name)}</td><td>{esc(m.chart)}</td>"
        f'<td class="num">{esc(fmt_number(m.latest, unit=m.unit))}</td>'
        f"<td>{esc(fmt_date(m.latest_time))}</td></tr>"
        for m in site.metrics
    )
    return Html(
        '<section id="summary"><h2>Executive summary</h2><div class="table-wrap"><table>'
        '<thead><tr><th>Metric</th><th>Chart</th><th class="num">Latest</th><th>Period</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def data_quality(site: SiteAnalysis) -> Html:
    failures = site.validation.get("failures", [])
    if failures:
        rows = "".join(
            f"<tr><td>{esc(f.get('severity'))}</td><td>{esc(f.get('table'))}</td>"
            f"<td>{esc(f.get('column') or '')}</td><td>{esc(f.get('description'))}</td>"
            f"<td>{esc(', '.join(str(r) for r in f.get('rows', [])[:5]))}</td></tr>"
            for f in failures
        )
        body = (
            '<div class="table-wrap"><table><thead><tr><th>Severity</th><th>Table</th>'
            "<th>Column</th><th>Rule</th><th>Rows</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )
    else:
        body = "<p>Every data-contract rule passed for this site.</p>"
    counts = site.validation.get("row_counts", {})
    count_rows = "".join(
        f'<tr><td>{esc(t)}</td><td class="num">{int(c):,}</td></tr>' for t, c in counts.items()
    )
    if count_rows:
        body += (
            '<div class="table-wrap"><table><caption>Rows read</caption><thead><tr><th>Table</th>'
            f'<th class="num">Rows</th></tr></thead><tbody>{count_rows}</tbody></table></div>'
        )
    return Html(f'<section id="data-quality"><h2>Data quality</h2>{body}</section>')


__all__ = ["Html", "data_quality", "esc", "header", "metric_section", "summary_table"]
