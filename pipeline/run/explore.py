"""Write one site's parameterised notebook to explore by hand (``kaizen-reports notebook``).

The notebook is the report's own template with papermill's ``injected-parameters`` cell, next to
the site's validated input slice and its validation result, so it opens in JupyterLab and runs
as it is: every chart there is the report's chart, and a quality engineer can dig into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.data.config import Project, parse_as_of
from pipeline.exceptions import ConfigError, ContractViolation
from pipeline.files import atomic_write_json, atomic_write_text, child_path
from pipeline.run.execute import NOTEBOOK

__all__ = ["SiteNotebook", "write_site_notebook"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteNotebook:
    """What :func:`write_site_notebook` wrote: the notebook, its data and validation files."""

    site_id: str
    as_of: str
    notebook: Path
    site_data: Path
    validation_file: Path
    status: str

    def summary(self) -> str:
        """How to open it, in a few plain lines."""
        return (
            f"notebook for site {self.site_id!r} as of {self.as_of}: {self.notebook}\n"
            f"data: {self.site_data} (validation: {self.status})\n"
            f"open it with:  jupyter lab {self.notebook}\n"
            "then run all cells (Run > Run All Cells); the charts are the report's own."
        )


def write_site_notebook(
    project: Project,
    *,
    site_id: str,
    as_of: Any = None,
    directory: Path | None = None,
    force: bool = False,
) -> SiteNotebook:
    """Validate the site's data and write ``<directory>/<site_id>-<as_of>.ipynb`` beside
    ``<site_id>.inputs/`` (its input slice) and ``validation.json``.

    ``directory`` defaults to ``notebooks/<site_id>-<as_of>`` under the project's folder. The
    notebook's parameters name the slice and validation file relative to the notebook, so the
    folder can be moved or shared whole. Written again, the data are refreshed; a notebook
    that differs from a fresh one (edited, or saved with outputs) is kept unless ``force``.

    Raises
    ------
    ConfigError
        Unknown site id or a bad ``as_of``; or the notebook is there already, edited, and
        ``force`` is not given (nothing is written).
    ContractViolation
        The site's data fails a critical contract rule (the report would not be produced).
    """
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from pipeline.data import contracts, inputs

    project.site(site_id)  # unknown ids are refused with the list of known ones
    stamp = parse_as_of(as_of)
    as_of_text = stamp.date().isoformat()
    tables = inputs.read_tables(project)
    report = contracts.validate_project(tables, project, as_of=stamp, site_ids=[site_id])
    validation = report.for_site(site_id)
    if validation.has_critical:
        raise ContractViolation(validation.reason(), site_id=site_id)
    folder = Path(directory) if directory else child_path(project.path.parent / "notebooks",
                                                          f"{site_id}-{as_of_text}")  # fmt: skip
    data_dir = child_path(folder, f"{site_id}.inputs")
    vfile = folder / "validation.json"
    nb = load_notebook_node(str(NOTEBOOK))  # as papermill reads it (every cell gets its tags)
    nb = parameterize_notebook(
        nb,
        {
            "site_id": site_id,
            "as_of": as_of_text,
            "project_file": str(project.path.resolve()),
            "site_data": data_dir.name,
            "validation_file": vfile.name,
            "output_dir": ".",
            "run_id": "explore",
        },
    )
    text = nbformat.writes(nb)
    path = child_path(folder, f"{site_id}-{as_of_text}.ipynb")
    if not force and path.is_file() and _is_edited(path, nb):
        raise ConfigError(
            f"{path} is there already and differs from a fresh notebook (edited, or saved "
            "with outputs); it is kept as it is",
            hint="Pass --force to replace it, or --dir to write the new one elsewhere",
        )
    folder.mkdir(parents=True, exist_ok=True)
    inputs.split_by_site(tables, [site_id])[site_id].save(data_dir)
    atomic_write_json(vfile, validation.to_dict())
    atomic_write_text(path, text)
    return SiteNotebook(
        site_id=site_id, as_of=as_of_text, notebook=path, site_data=data_dir,
        validation_file=vfile, status=validation.status,
    )  # fmt: skip


def _is_edited(path: Path, fresh: Any) -> bool:
    """Whether the notebook at ``path`` differs from ``fresh`` in a cell's kind or source, or
    holds outputs (run and saved): cell ids and metadata are new at every write and do not
    count. A file that is no notebook counts as edited (it is not ours to replace)."""
    import nbformat

    try:
        there = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except (OSError, ValueError, UnicodeDecodeError):
        return True
    cells = [(c.cell_type, c.source) for c in there.cells]
    if cells != [(c.cell_type, c.source) for c in fresh.cells]:
        return True
    return any(c.get("outputs") for c in there.cells)
