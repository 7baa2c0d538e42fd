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
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        class ReportExporter(HTMLExporter):
            """nbconvert's HTML exporter without its BeautifulSoup pass over the finished page.

            That pass gives <img> tags without ``alt`` a placeholder text and makes JupyterLab's
            cell wrappers focusable; our template emits neither (every chart carries its own
            text alternative), and re-parsing the page costs as much as rendering it.
            """

            def from_notebook_node(  # type: ignore[override]
                self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
            ) -> tuple[str, dict[str, Any]]:
                langinfo = nb.metadata.get("language_info", {})
                lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
                self.register_filter(
                    "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
                )
                resources = self._init_resources(resources)
                self.register_filter(
                    "filter_data_type",
                    WidgetsDataTypeFilter(
                        notebook_metadata=self._nb_metadata, parent=self, resources=resources
                    ),
                )
                return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

        _EXPORTER = ReportExporter(
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
