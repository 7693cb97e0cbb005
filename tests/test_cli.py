"""python -m cam_helpers explain works offline and writes the figure."""

import subprocess
import sys

from cam_helpers.images import sample_path


def test_cli_explain_prints_top_classes_and_writes_png(tmp_path):
    out = tmp_path / "coffee.png"
    done = subprocess.run(
        [sys.executable, "-m", "cam_helpers", "explain", str(sample_path("coffee")), "--model", "efficientnet_lite0", "--top", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1. espresso" in done.stdout
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


def test_cli_default_model_falls_back_offline_and_says_so():
    done = subprocess.run([sys.executable, "-m", "cam_helpers", "explain", "cat", "--top", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "offline" in done.stdout and "efficientnet_lite0" in done.stdout


def test_cli_bad_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture")
    done = subprocess.run([sys.executable, "-m", "cam_helpers", "explain", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "notes.jpg" in done.stderr
