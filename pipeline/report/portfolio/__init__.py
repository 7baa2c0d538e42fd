"""The portfolio page for the governance team: every site's run status, a scorecard of sites by
metrics, improvements by verdict, goals of concern, what worked where, claimed against verified
savings, and history across runs; the same content as ``portfolio.json``.

``model`` builds the content from the run's manifest and the sites' results.json files;
``page`` renders it through the Jinja2 templates in ``report/templates/portfolio`` and writes
``index.html`` and ``portfolio.json`` (described by ``portfolio.schema.json``, shipped here).
"""

from pipeline.report.portfolio.model import (
    PORTFOLIO_FILE,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    Portfolio,
    build_portfolio,
    load_run,
)
from pipeline.report.portfolio.page import forest_plot, render_portfolio, warm_up, write_portfolio

__all__ = [
    "PORTFOLIO_FILE",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "Portfolio",
    "build_portfolio",
    "forest_plot",
    "load_run",
    "render_portfolio",
    "warm_up",
    "write_portfolio",
]
