"""CONTRIBUTING.md stays true: every module of cam_helpers is on its map, every path and flag it names exists.

The modules are found by listing the package folder, so a new module fails here until its line is
written; a script path or a ``--flag`` that no longer exists fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cam_helpers"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
MAP_HEADING = "## The package"
# A repository path of a file CONTRIBUTING names: a script, a test, a doc or a workflow.
FOLDERS = r"(?:tools|benchmarks|tests|cam_helpers|docs|\.github/workflows)"
PATH = re.compile(rf"(?<![\w./-])({FOLDERS}/[\w/.-]*\w\.(?:py|md|yml))")
# A command: a script of tools/ or benchmarks/ and its arguments, up to the end of the code or a comment.
COMMAND = re.compile(r"((?:tools|benchmarks)/\w+\.py)([^`\n#]*)")


def package_modules(package: Path = PACKAGE) -> list[str]:
    """Every module of the package as a path from the repository root: cam_helpers/x.py, subpackages too."""
    files = (p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(p.relative_to(package.parent).as_posix() for p in files)


def module_map(text: str) -> str:
    """The section of CONTRIBUTING.md that lists the modules (up to the next '## ' heading)."""
    assert MAP_HEADING in text, f"CONTRIBUTING.md has no section '{MAP_HEADING}...'"
    return text.split(MAP_HEADING, 1)[1].split("\n## ", 1)[0]


def unmapped_modules(text: str, modules: list[str]) -> list[str]:
    """Modules without their own line `cam_helpers/x.py` | ... in the map."""
    rows = module_map(text)
    return [m for m in modules if not re.search(rf"^\| `{re.escape(m)}` \| \S", rows, re.M)]


def missing_paths(text: str) -> list[str]:
    return sorted({path for path in PATH.findall(text) if not (ROOT / path).exists()})


def unknown_flags(text: str) -> list[str]:
    """``script --flag`` pairs whose script does not define that flag (argparse: the string "--flag").

    A flag belongs to the script it follows in a command, and to the one script a line names (a table
    row such as "| `benchmarks/x.py` | ... (`--quick` for a short run) |").
    """
    pairs = [(script, flag) for script, arguments in COMMAND.findall(text)
             for flag in re.findall(r"--[\w-]+", arguments)]
    for line in text.splitlines():
        scripts = sorted({script for script, _ in COMMAND.findall(line)})
        if len(scripts) == 1:
            pairs += [(scripts[0], flag) for flag in re.findall(r"(?<![\w-])--[\w-]+", line)]
    unknown = set()
    for script, flag in pairs:
        source = (ROOT / script).read_text() if (ROOT / script).exists() else ""
        if f'"{flag}"' not in source:
            unknown.add(f"{script} {flag}")
    return sorted(unknown)


def test_every_module_of_the_package_has_its_line_in_the_map():
    modules = package_modules()
    assert {"cam_helpers/__init__.py", "cam_helpers/__main__.py", "cam_helpers/family.py"} <= set(modules)
    assert unmapped_modules(CONTRIBUTING.read_text(), modules) == []


def test_the_map_names_no_module_that_is_gone():
    named = re.findall(r"^\| `(cam_helpers/[\w/]+\.py)` \|", module_map(CONTRIBUTING.read_text()), re.M)
    assert sorted(named) == package_modules(), "one line per module, and no line for a module that is gone"


def test_a_new_module_fails_until_it_is_documented(tmp_path):
    """The check above can fail: a module added to a copy of the package is reported, in a subpackage too."""
    package = tmp_path / "cam_helpers"
    (package / "vit").mkdir(parents=True)
    for name in ("__init__.py", "cam.py", "vit/__init__.py", "vit/tokens.py"):
        (package / name).write_text("")
    text = f"{MAP_HEADING}: what each module owns\n\n| `cam_helpers/__init__.py` | the front door |\n" \
           "| `cam_helpers/cam.py` | the CAM math |\n\n## Next section\n\n`cam_helpers/vit/tokens.py` only here\n"
    assert unmapped_modules(text, package_modules(package)) == [
        "cam_helpers/vit/__init__.py", "cam_helpers/vit/tokens.py"]


def test_every_script_test_and_doc_it_names_exists():
    text = CONTRIBUTING.read_text()
    named = set(PATH.findall(text))
    assert {"tools/ko_parity.py", "tools/sync_links.py", "tools/render_series.py", "benchmarks/timing.py"} <= named
    assert missing_paths(text) == []
    assert missing_paths("run `tools/no_such_tool.py` and `benchmarks/gone.py`") == [
        "benchmarks/gone.py", "tools/no_such_tool.py"]


def test_every_flag_of_a_command_is_one_the_script_defines():
    text = CONTRIBUTING.read_text()
    assert "tools/ko_parity.py --scaffold" in text and "tools/sync_links.py --check" in text
    assert unknown_flags(text) == []
    assert unknown_flags("`.venv/bin/python tools/sync_links.py --dry-run`") == ["tools/sync_links.py --dry-run"]
    assert unknown_flags("| `benchmarks/big_photo.py` | one photo (`--quick` for a short run) |") == [
        "benchmarks/big_photo.py --quick"]


def test_the_test_command_is_the_readmes():
    command = "python3 quickstart.py test"
    assert command in (ROOT / "README.md").read_text() and command in CONTRIBUTING.read_text()
