"""The package's metadata, environment.yml and notebook template stay consistent."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_NAMES = {
    "matplotlib": "matplotlib-base",
    "nbconvert": "nbconvert-core",
    "jupyter-client": "jupyter_client",
}
EDITING_ONLY = {"python", "pip", "jupyterlab"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {}
    for req in pyproject["project"]["dependencies"]:
        name, spec = _split(req)
        wanted[CONDA_NAMES.get(name, name)] = spec
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert deps[-1] == {"pip": ["-e ."]}, "environment.yml must end with pip: [-e .]"
    have = dict(_split(d) for d in deps if isinstance(d, str))
    extra = set(have) - set(wanted) - EDITING_ONLY
    assert not extra, f"environment.yml has packages pyproject.toml lacks: {sorted(extra)}"
    assert {k: have.get(k) for k in wanted} == wanted


def test_python_version_agrees() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert "python>=3.11" in env["dependencies"]


def test_site_template_has_one_parameters_cell_and_no_outputs() -> None:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged parameters"
        assert code[0] is tagged[0], f"{path.name}: the parameters cell comes first"
        for c in code:
            assert c.get("outputs") == [] and c.get("execution_count") is None, path.name
            src = "".join(c["source"])
            assert "def " not in src and "class " not in src, (
                f"{path.name}: logic belongs in pipeline/"
            )
            assert "filterwarnings" not in src
        params = "".join(tagged[0]["source"])
        # plain scalars only; never secrets
        for line in params.splitlines():
            assert re.match(r'^\w+ = ("[^"]*"|\d+(\.\d+)?|True|False)$', line), line
        assert "password" not in params.lower()


def test_readme_tree_and_commands_match_the_repository() -> None:
    """The README's project tree and command table cannot go stale."""
    from click.testing import CliRunner

    from pipeline.cli import main

    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    tree = readme.split("```\nnotebooks/", 1)[1].split("```", 1)[0]
    names = ["notebooks/"] + [
        line.split()[0] for line in tree.splitlines()[1:] if line and not line.startswith(" ")
    ]
    for name in names:
        assert (ROOT / name).exists(), f"README lists {name}, which does not exist"
    for line in tree.splitlines():
        # "  run/   execute, kernels — what they do": every module named before the dash exists
        if not line.startswith("  ") or " — " not in line:
            continue
        folder = line.split()[0]
        folder = "" if folder in ("(top", "cli.py") else folder
        names = line.split(" — ", 1)[0].split(None, 1)[1].replace("level)", "")
        for module in re.findall(r"[a-z_]+", names):
            path = ROOT / "pipeline" / folder / module
            assert path.with_suffix(".py").exists() or path.is_dir(), f"README names {path}"
    listed = set(re.findall(r"^\| `(\w+)` \|", readme, flags=re.M))
    help_text = CliRunner().invoke(main, ["--help"]).output
    for command in listed:
        assert f"  {command} " in help_text or f"  {command}\n" in help_text, command
    assert listed >= {"run", "validate", "send", "chart", "impact", "demo"}
