"""The report's Jinja2 environment: every HTML fragment of a site report comes from a template.

Templates live in ``pipeline/report/templates/`` (``site/`` for the site report's sections). The
environment autoescapes everything and is strict: a name a template uses that its caller did not
pass is an error, never an empty string. Python hands templates typed values and text formatted
by :mod:`pipeline.formatting`, never pre-built HTML; the one exception is a chart's SVG, which
matplotlib writes and escapes itself (see :func:`labelled_svg`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from pipeline import formatting
from pipeline.report import palette

TEMPLATES = Path(__file__).parent / "templates"

__all__ = ["TEMPLATES", "Html", "environment", "labelled_svg", "render"]


@dataclass(frozen=True, slots=True)
class Html:
    """An HTML fragment that a notebook cell displays as itself."""

    body: str

    def __repr__(self) -> str:  # the text/plain twin of every output: keep it short
        return f"<report section, {len(self.body):,} characters of HTML>"

    def __str__(self) -> str:
        return self.body

    def __html__(self) -> str:  # markupsafe: a fragment rendered by a template stays as it is
        return self.body

    def _repr_html_(self) -> str:
        return self.body


def labelled_svg(svg: str, alt: str) -> Markup:
    """A chart's inline SVG with ``role="img"`` and its text alternative as ``aria-label``.

    Safe to emit unescaped: the SVG comes from matplotlib's SVG backend, which escapes every
    text it draws (titles, labels, legends from data) as XML character data, and the only text
    added here, ``alt``, is escaped as an attribute value.
    """
    label = escape(alt)
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))  # noqa: S704


@cache
def environment() -> jinja2.Environment:
    """The one environment (built once per process): autoescaping, StrictUndefined, the
    formatting module's functions as filters and the palette as a global."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=formatting.fmt_number,
        percent=formatting.fmt_percent,
        date=formatting.fmt_date,
        count=formatting.fmt_count,
        count_of=formatting.count_of,
        pvalue=formatting.fmt_pvalue,
        labelled_svg=labelled_svg,
    )
    env.globals.update(palette=palette, interval_label=formatting.interval_label)
    return env


def render(name: str, /, **context: Any) -> Html:
    """Render the template ``name`` (relative to the templates folder) with ``context``."""
    return Html(environment().get_template(name).render(**context))
