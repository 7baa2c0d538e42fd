"""Turn an executed site notebook into a self-contained HTML report (nbconvert, code hidden).

Rendering goes through nbconvert's public exporter API: a ``TemplateExporter`` configured with
``template_name``, ``exclude_input`` and friends, called with ``from_notebook_node``. It is the
class ``HTMLExporter`` builds on; ``HTMLExporter.from_notebook_node`` adds a BeautifulSoup pass over
the finished page (``alt`` placeholders, focusable JupyterLab cell wrappers) that our template does
not need — every chart carries its own text alternative, and there are no cell wrappers — and that
pass costs about 30 times the rendering itself on a report with a dozen inline SVG charts.

One exporter is built per process and reused: building it costs far more than rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.exceptions import RenderError

TEMPLATES = Path(__file__).parent / "templates"
_EXPORTER: Any = None


def _exporter() -> Any:
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert.exporters import TemplateExporter

        _EXPORTER = TemplateExporter(
            template_name="kaizen",
            template_file="index.html.j2",
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
    return _EXPORTER


def warm_up() -> None:
    """Build this process's exporter (and load its template) ahead of the first report."""
    _ = _exporter().template


def render_notebook(notebook: Any, *, site_id: str | None = None) -> str:
    """HTML of an executed notebook (an ``nbformat.NotebookNode`` or a path to an .ipynb).

    Raises
    ------
    RenderError
        When nbconvert cannot render the notebook.
    """
    import nbformat

    try:
        if isinstance(notebook, str | Path):
            notebook = nbformat.read(str(notebook), as_version=4)
        body, _ = _exporter().from_notebook_node(notebook)
    except Exception as exc:  # nbconvert raises many types; all mean "no HTML"
        raise RenderError(f"the report could not be rendered: {exc}", site_id=site_id) from exc
    return body


#: Where a kept report takes the notice that a later run failed for its site (in header.html.j2).
STALE_MARK = "<!--kaizen:stale-->"
_STALE_END = "<!--/kaizen:stale-->"


def mark_stale(html: str, *, run_id: str, error: str) -> str:
    """``html`` (a published report) with the notice that run ``run_id`` failed for its site.

    The notice replaces any earlier one, so a site that keeps failing names the latest run; a page
    without the mark (written before it existed) is returned unchanged.
    """
    from pipeline.report.templating import render

    start = html.find(STALE_MARK)
    if start < 0:
        return html
    end = html.find(_STALE_END, start)
    end = start + len(STALE_MARK) if end < 0 else end + len(_STALE_END)
    first = next((line.strip() for line in error.splitlines() if line.strip()), "")
    # a long reason (a contract failure lists its rules) is cut at a word, the rest is one click away
    reason = first if len(first) <= 240 else first[:240].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"
    notice = render("site/stale.html.j2", run_id=run_id, reason=reason.rstrip(".:") or "no reason")
    return f"{html[:start]}{STALE_MARK}{notice}{_STALE_END}{html[end:]}"
