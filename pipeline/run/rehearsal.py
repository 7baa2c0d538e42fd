"""A dress rehearsal of the site notebook in the warm kernel process, before any kernel forks.

Every site's kernel is a fork of the warm kernel process (:mod:`pipeline.run.kernels`), so what
that process has loaded, compiled and measured, every kernel has for free. Imports alone leave a
first site paying for what is done lazily on first use: the report's Jinja templates compiled, the
results schema's validator built, fonts opened and text measured for the SVG charts, the first
model fits. A forked kernel paid that again for every site (about a seventh of a demo site's CPU).

So the warm process runs the notebook's own cells once on a demo site in a temporary folder and
throws the result away. It changes no result: each kernel is still a fresh process, the caches
hold only what is the same for every site (compiled templates, font files, text metrics per
string and font), and the random state is re-seeded at every fork. A failure here costs only the
saving: it is swallowed, and the kernels start as they would without it.
"""

from __future__ import annotations

import ast
import json
import tempfile
from pathlib import Path
from typing import Any

#: The demo site the rehearsal plays; any would do (what it leaves behind serves every site).
SITE = "hotel-lisbon"
AS_OF = "2026-06-29"
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "site_report.ipynb"


def rehearse(notebook: Path = NOTEBOOK, *, site_id: str = SITE) -> int:
    """Run ``notebook``'s code cells on the demo site ``site_id`` in this process; every HTML
    output is rendered and dropped. Returns the number of characters of HTML rendered."""
    from pipeline.data.config import load_project
    from pipeline.data.demo import write_demo_project
    from pipeline.data.inputs import read_tables, split_by_site

    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    with tempfile.TemporaryDirectory(prefix="kz-rehearsal-") as tmp:
        root = Path(tmp)
        project_file = write_demo_project(root / "project", as_of=AS_OF, output=root / "out")
        tables = read_tables(load_project(project_file))
        slice_dir = root / "slice"
        split_by_site(tables, [site_id])[site_id].save(slice_dir)
        shown: list[int] = []
        namespace: dict[str, Any] = {
            "__name__": "__rehearsal__",
            "display": lambda *objs: shown.extend(_html_size(o) for o in objs),
        }
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            source = "".join(cell.get("source", ""))
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                namespace.update(
                    site_id=site_id,
                    as_of=AS_OF,
                    project_file=str(project_file),
                    site_data=str(slice_dir),
                    validation_file="",
                    output_dir=str(root / "out"),
                    run_id="rehearsal",
                )
                continue
            value = _run_cell(source, namespace)
            if value is not None:
                shown.append(_html_size(value))
    return sum(shown)


def _run_cell(source: str, namespace: dict[str, Any]) -> Any:
    """Execute a cell as IPython does: its statements, then its last expression's value."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
    exec(compile(tree, "<rehearsal>", "exec"), namespace)  # noqa: S102 - our own notebook
    if not isinstance(last, ast.Expr):
        return None
    return eval(compile(ast.Expression(last.value), "<rehearsal>", "eval"), namespace)  # noqa: S307


def _html_size(obj: Any) -> int:
    render = getattr(obj, "_repr_html_", None)
    return len(render() or "") if callable(render) else 0


__all__ = ["rehearse"]
