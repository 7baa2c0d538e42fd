"""The package's metadata, environment.yml and notebook template stay consistent, and a wheel
built from the repository works on its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from pipeline.report.manifest import load_manifest

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
    # "  run/   execute, kernels, ... — what they do": the names before the dash (an entry may
    # run on over indented lines) are exactly the folder's modules and subfolders
    entries: dict[str, str] = {}
    folder = None
    for line in tree.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            folder = line.split()[0]
            folder = "" if folder in ("(top", "cli.py") else folder
            entries[folder] = entries.get(folder, "") + " " + line.split(None, 1)[1]
        elif line.startswith("   ") and folder is not None and " — " not in entries[folder]:
            entries[folder] += " " + line.strip()
        elif not line.startswith(" "):
            folder = None
    for folder, text in entries.items():
        names = set(re.findall(r"[a-z_]+", text.split(" — ", 1)[0].replace("level)", "")))
        for module in names:
            path = ROOT / "pipeline" / folder / module
            assert path.with_suffix(".py").exists() or path.is_dir(), f"README names {path}"
        if folder:
            present = {
                p.stem if p.suffix == ".py" else p.name
                for p in (ROOT / "pipeline" / folder).iterdir()
                if (p.suffix == ".py" and p.stem != "__init__")
                or (p.is_dir() and p.name != "__pycache__")
            }
            assert present <= names, (
                f"README's tree does not name pipeline/{folder}{sorted(present - names)}"
            )
    listed = set(re.findall(r"^\| `(\w+)` \|", readme, flags=re.M))
    help_text = CliRunner().invoke(main, ["--help"]).output
    for command in listed:
        assert f"  {command} " in help_text or f"  {command}\n" in help_text, command
    assert listed >= {"run", "validate", "send", "chart", "impact", "demo"}


@pytest.mark.slow
def test_a_wheel_built_from_the_repository_runs_the_demo_in_a_fresh_venv(tmp_path: Path) -> None:
    """The wheel carries what a run needs (the notebook, the contract suites, the templates),
    installs into a virtual environment outside the repository, and ``kaizen-reports demo``
    there writes every report. The fresh environment sees this test environment's packages
    through a ``.pth`` line (so nothing is downloaded) but not its editable install of the
    repository: a ``.pth`` line adds a folder to ``sys.path`` without running the ``.pth`` files
    in it, and the editable install works through one of those."""
    # a copy of the tracked files, so that building leaves nothing in the working tree
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    src = tmp_path / "src"
    for name in files:
        path = ROOT / name
        if path.is_file() and not path.is_symlink():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(wheels), str(src)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = wheels.glob("kaizen_reports-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "pipeline/notebooks/site_report.ipynb",
        "pipeline/data/suites/observations.json",
        "pipeline/report/templates/kaizen/index.html.j2",
        "pipeline/report/templates/kaizen/static/report.css",
        "pipeline/py.typed",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tools/", "tests/", "benchmarks/"))]
    assert not [n for n in names if "screenshots" in n]
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    )
    assert b"kaizen-warm-fork = pipeline.run.provisioner:WarmForkProvisioner" in entry_points

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bin_dir = venv / "bin"
    purelib = subprocess.run(
        [str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    # nbconvert's base templates are data files of its install, in the test environment's prefix
    # (an ordinary install puts them in the new environment's own prefix)
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         str(wheel)],
        check=True, capture_output=True, env=env, timeout=600,
    )  # fmt: skip
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import pipeline; print(pipeline.__file__)"],
        capture_output=True, text=True, check=True, cwd=work, env=env,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(purelib), where  # the wheel's copy, not the repository's

    proc = subprocess.run(
        [str(bin_dir / "kaizen-reports"), "demo", "--dir", "demo", "--output", "reports",
         "--as-of", "2026-11-27", "--jobs", "1", "-q"],
        capture_output=True, text=True, cwd=work, env=env, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = work / "reports" / "2026-11-27"
    assert proc.stdout.strip() == str(out / "index.html")
    manifest = load_manifest(out)  # the demo's manifest.json, checked against its schema
    assert manifest.sites and not any(s.is_failed for s in manifest.sites)
    for site in manifest.sites:
        html = (out / site.site_id / "report.html").read_text()
        assert html.rstrip().endswith("</html>")
