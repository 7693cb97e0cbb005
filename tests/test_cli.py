"""python -m cam_helpers explain works offline and writes the figure.

One test starts ``python -m cam_helpers`` in a fresh interpreter, to show that the entry point itself works.
The others call main(), the function it runs, in this process: each saves an interpreter start and torch's
import (about 5 s on a 2-core machine).
"""

import shutil
import subprocess
import sys
from pathlib import Path

from cam_helpers.__main__ import main
from cam_helpers.images import sample_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_weights import RESNET18_FILE  # noqa: E402


def test_cli_explain_prints_top_classes_and_writes_png(tmp_path):
    out = tmp_path / "coffee.png"
    done = subprocess.run(
        [sys.executable, "-m", "cam_helpers", "explain", str(sample_path("coffee")), "--model", "efficientnet_lite0", "--top", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1. espresso" in done.stdout
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


def test_cli_default_model_falls_back_offline_and_says_so(torch_cache, monkeypatch, capsys):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    monkeypatch.delenv("CAM_HELPERS_WEIGHTS", raising=False)  # and torch_cache is empty: no ResNet18 weights here
    assert main(["explain", "cat", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "offline" in out and "efficientnet_lite0" in out


def test_cli_bad_image_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture")
    assert main(["explain", str(bad)]) == 2
    assert "notes.jpg" in capsys.readouterr().err


def test_cli_download_weights_without_a_network_fails_in_seconds(tmp_path, monkeypatch, capsys):
    import socket
    import time

    from cam_helpers import weights

    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    with socket.socket() as probe:  # a port nobody listens on: what a laptop without a network sees
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(weights, "weights_url", lambda name: f"http://127.0.0.1:{port}/resnet18-f37072fd.pth")
    start = time.perf_counter()
    assert main(["download-weights", "resnet18", "--to", str(tmp_path / "stick")]) == 1
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert err.startswith("error: could not download http://127.0.0.1:")
    assert "the server cannot be reached" in err and "Check the internet connection" in err
    assert not (tmp_path / "stick" / "resnet18-f37072fd.pth").exists()


def test_cli_download_weights_offline_switch_and_unknown_model(torch_cache, monkeypatch, capsys):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    monkeypatch.delenv("CAM_HELPERS_WEIGHTS", raising=False)
    assert main(["download-weights"]) == 1  # resnet18 by default
    assert "resnet18-f37072fd.pth is not in" in capsys.readouterr().err
    assert main(["download-weights", "resnet81"]) == 1
    assert "Did you mean 'resnet18'" in capsys.readouterr().err


def test_cli_download_weights_to_a_folder_says_how_to_use_it(torch_cache, resnet18_checkpoint, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")  # the file is in the cache already: copied, not downloaded
    torch_cache.mkdir(parents=True)
    shutil.copyfile(resnet18_checkpoint, torch_cache / RESNET18_FILE)
    assert main(["download-weights", "resnet18", "--to", str(tmp_path / "stick")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {tmp_path / 'stick' / RESNET18_FILE} (47 MB)")
    assert f"CAM_HELPERS_WEIGHTS={tmp_path / 'stick'}" in out
