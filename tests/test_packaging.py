"""The ways in agree: pyproject, environment.yml (Binder), quickstart, .ci/run."""

import re
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# conda-forge names for PyPI names that differ
CONDA_NAMES = {"torch": "pytorch-cpu"}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_parses_and_has_every_runtime_dependency():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = {requirement_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    pip = {requirement_name(d) for d in pip_lists[0]} if pip_lists else set()
    for spec in PYPROJECT["project"]["dependencies"]:
        name = requirement_name(spec)
        assert CONDA_NAMES.get(name, name) in conda | pip, f"{name} from pyproject.toml is missing in environment.yml"
    assert "-e ." in pip_lists[0], "Binder must install cam_helpers itself"
    assert {"jupyterlab", "ipywidgets"} <= conda


def test_torch_is_a_range_not_a_pin():
    torch_spec = next(d for d in PYPROJECT["project"]["dependencies"] if requirement_name(d) == "torch")
    assert ">=" in torch_spec and "==" not in torch_spec


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(python3 quickstart\.py \w+)", quickstart, re.M)
    assert commands == ["python3 quickstart.py lab", "python3 quickstart.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [l for l in ci.splitlines() if l.startswith("python")] == ["python3 quickstart.py test"]


def test_quickstart_lab_opens_notebook_00():
    sys.path.insert(0, str(ROOT))
    import quickstart

    assert (ROOT / quickstart.FIRST_NOTEBOOK).exists()
    assert quickstart.FIRST_NOTEBOOK == "notebooks/00_start_here.ipynb"
