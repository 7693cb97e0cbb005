"""Pretrained weights: the folder and cache search, the checked download, the fast failure offline."""

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torchvision

from cam_helpers import weights
from cam_helpers.models import load_classifier
from cam_helpers.weights import WeightsUnavailableError, download_weights, fetch_weights, find_weights, weights_url

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's file name: <model>-<first 8 hex digits of its SHA-256>.pth


@pytest.fixture()
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def closed_port_url(name: str = RESNET18_FILE) -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def save_with_hash_name(state: dict, folder: Path, stem: str) -> str:
    """Save ``state`` as <stem>-<sha256 prefix>.pth, the naming torch.hub checks; returns the file name."""
    scratch = folder / "scratch.pth"
    torch.save(state, scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
    name = f"{stem}-{digest[:8]}.pth"
    scratch.rename(folder / name)
    return name


def random_resnet18() -> torch.nn.Module:
    model = torchvision.models.resnet18(weights=None)
    torch.nn.init.normal_(model.fc.weight, generator=torch.Generator().manual_seed(0))
    return model


def test_download_goes_into_the_cache_and_checks_the_hash(torch_cache, served, monkeypatch):
    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    folder, base = served
    state = {"w": torch.arange(6.0)}
    name = save_with_hash_name(state, folder, "tiny")
    loaded = fetch_weights(f"{base}/{name}")
    torch.testing.assert_close(loaded["w"], state["w"])
    assert (torch_cache / name).read_bytes() == (folder / name).read_bytes()
    # A file whose content does not match its hash prefix is rejected and not kept.
    (folder / "bad-deadbeef.pth").write_bytes(b"not the right bytes")
    with pytest.raises(WeightsUnavailableError, match=r"could not download .*invalid hash value"):
        fetch_weights(f"{base}/bad-deadbeef.pth")
    assert sorted(p.name for p in torch_cache.iterdir()) == [name]  # no partial file left behind
    # A missing file is a plain error too, before any download starts.
    with pytest.raises(WeightsUnavailableError, match="the server answered HTTP 404"):
        fetch_weights(f"{base}/missing-12345678.pth")


def test_no_network_fails_in_seconds_and_changes_no_process_setting(torch_cache, monkeypatch):
    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    before = socket.getdefaulttimeout()
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="the server cannot be reached") as error:
        fetch_weights(closed_port_url(), timeout=3)
    assert time.perf_counter() - start < 10
    assert "Check the internet connection" in str(error.value) and "CAM_HELPERS_WEIGHTS" in str(error.value)
    assert socket.getdefaulttimeout() == before  # nothing process-wide was set
    assert not torch_cache.exists() or not any(torch_cache.iterdir())


def test_offline_switch_forbids_downloads_and_names_the_folders(torch_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    monkeypatch.setenv("CAM_HELPERS_WEIGHTS", str(tmp_path / "stick"))
    with pytest.raises(WeightsUnavailableError) as error:
        fetch_weights(closed_port_url())
    message = str(error.value)
    assert "CAM_HELPERS_OFFLINE is set" in message
    assert str(tmp_path / "stick") in message and str(torch_cache) in message


def test_load_classifier_finds_weights_in_the_folder_named_by_cam_helpers_weights(torch_cache, tmp_path, monkeypatch):
    stick = tmp_path / "stick"
    stick.mkdir()
    reference = random_resnet18()
    # Under torchvision's real file name: a file found locally is trusted like torch's own cache
    # (torch.hub checks the hash when it downloads, not when it loads).
    torch.save(reference.state_dict(), stick / RESNET18_FILE)
    monkeypatch.setenv("CAM_HELPERS_WEIGHTS", str(stick))
    assert find_weights(weights_url("resnet18")) == stick / RESNET18_FILE
    classifier = load_classifier("resnet18")
    assert classifier.pretrained and classifier.note == ""
    torch.testing.assert_close(classifier.model.fc.weight, reference.fc.weight)
    assert not torch_cache.exists()  # read in place, nothing copied into the cache


def test_load_classifier_finds_weights_under_torch_home(tmp_path):
    # TORCH_HOME is read when torch starts, so a fresh interpreter shows what a learner gets.
    checkpoints = tmp_path / "torch_home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    reference = random_resnet18()
    torch.save(reference.state_dict(), checkpoints / RESNET18_FILE)
    script = (
        "from cam_helpers import load_classifier\n"
        "c = load_classifier('resnet18')\n"
        "print(c.pretrained, repr(c.note), float(c.model.fc.weight.sum()))\n"
    )
    env = dict(os.environ, TORCH_HOME=str(tmp_path / "torch_home"), CAM_HELPERS_OFFLINE="1")
    env.pop("CAM_HELPERS_WEIGHTS", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    pretrained, note, total = done.stdout.split()
    assert (pretrained, note) == ("True", "''")
    assert float(total) == pytest.approx(float(reference.fc.weight.detach().sum()), rel=1e-5)


def test_download_weights_fills_a_folder_for_usb_sticks(torch_cache, served, tmp_path, monkeypatch):
    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    folder, base = served
    name = save_with_hash_name(random_resnet18().state_dict(), folder, "resnet18")
    monkeypatch.setattr(weights, "weights_url", lambda model_name: f"{base}/{name}")
    stick = tmp_path / "stick"
    assert download_weights(["resnet18"], to=stick, progress=False) == [stick / name]
    assert (stick / name).read_bytes() == (folder / name).read_bytes()
    assert not torch_cache.exists()  # --to writes only the folder


def test_download_weights_copies_from_the_cache_without_a_network(torch_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    torch_cache.mkdir(parents=True)
    torch.save(random_resnet18().state_dict(), torch_cache / RESNET18_FILE)
    stick = tmp_path / "stick"
    assert download_weights(["resnet18"], to=stick) == [stick / RESNET18_FILE]
    assert (stick / RESNET18_FILE).read_bytes() == (torch_cache / RESNET18_FILE).read_bytes()
    # Into the cache itself: already there, nothing to do.
    assert download_weights(["resnet18"]) == [torch_cache / RESNET18_FILE]


def test_weights_url_matches_the_models_and_refuses_what_needs_no_download():
    for name in ("resnet18", "resnet34", "resnet50"):
        assert weights_url(name) == torchvision.models.get_model_weights(name).DEFAULT.url
    assert weights_url("resnet18").endswith("/" + RESNET18_FILE)  # the post's original ImageNet weights
    assert weights_url("resnet18_flatten") == weights_url("resnet18")  # the twin's trunk
    assert weights_url("mobilenet_v2") == torchvision.models.MobileNet_V2_Weights.DEFAULT.url
    with pytest.raises(ValueError, match="needs no download"):
        weights_url("efficientnet_lite0")
    with pytest.raises(ValueError, match="Did you mean 'resnet18'"):
        weights_url("resnet81")
    with pytest.raises(ValueError, match="Unknown model name 'ResNet-81'"):  # quoted as the learner typed it
        weights_url("ResNet-81")
