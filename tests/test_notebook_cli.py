"""``kaizen-reports notebook``: one site's parameterised notebook with its validated data, which
runs as it is (executed here through papermill, as JupyterLab would run it)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.report.results import load_results
from tests.conftest import AS_OF


def test_notebook_is_written_with_its_data_and_runs(mini_project: Path, tmp_path: Path) -> None:
    import papermill as pm

    out = tmp_path / "explore"
    res = CliRunner().invoke(
        main,
        ["notebook", "--project", str(mini_project), "--site", "north", "--as-of", str(AS_OF),
         "--dir", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    path = out / f"north-{AS_OF}.ipynb"
    assert res.stdout.strip().splitlines()[-1] == str(path)
    assert f"jupyter lab {path}" in res.stderr
    assert (out / "north.inputs" / "observations.arrow").is_file()
    assert json.loads((out / "validation.json").read_text())["status"] in ("ok", "warnings")
    nb = nbformat.read(str(path), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert 'site_data = "north.inputs"' in injected[0].source
    assert f'as_of = "{AS_OF}"' in injected[0].source
    # JupyterLab runs a notebook in its own folder: so does this
    pm.execute_notebook(str(path), str(tmp_path / "ran.ipynb"), cwd=str(out), progress_bar=False)
    results = load_results(out)
    assert results.site_id == "north" and results.as_of == str(AS_OF)


def test_notebook_refuses_an_unknown_site(mini_project: Path) -> None:
    res = CliRunner().invoke(main, ["notebook", "--project", str(mini_project), "--site", "nope"])
    assert res.exit_code == 2
    assert "unknown site id 'nope'; known sites: north, south" in res.output


def test_notebook_written_again_refreshes_its_data_but_keeps_an_edited_notebook(
    mini_project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "explore"
    args = ["notebook", "--project", str(mini_project), "--site", "north", "--as-of", str(AS_OF),
            "--dir", str(out)]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 0
    path = out / f"north-{AS_OF}.ipynb"
    assert CliRunner().invoke(main, args).exit_code == 0  # unchanged: written again, no fuss
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("my analysis"))
    nbformat.write(nb, str(path))
    edited = path.read_bytes()
    (out / "validation.json").write_text("{}", encoding="utf-8")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "differs from a fresh notebook" in res.output
    assert "--force" in res.output
    assert path.read_bytes() == edited and (out / "validation.json").read_text() == "{}"
    res = CliRunner().invoke(main, [*args, "--force"])
    assert res.exit_code == 0 and b"my analysis" not in path.read_bytes()
    assert json.loads((out / "validation.json").read_text())["status"] in ("ok", "warnings")
