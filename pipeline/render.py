"""Turn an executed site notebook into a self-contained HTML report (nbconvert, code hidden).

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
        from nbconvert import HTMLExporter

        _EXPORTER = HTMLExporter(
            template_name="kaizen",
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
    return _EXPORTER


def warm_up() -> None:
    """Build this process's exporter ahead of the first report."""
    _exporter()


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
