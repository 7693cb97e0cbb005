"""Pretrained weights: the folder and cache search, the checked download, the fast failure offline."""

import hashlib
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
import torchvision

from cam_helpers import weights
from cam_helpers.models import load_classifier
from cam_helpers.weights import WeightsUnavailableError, download_weights, fetch_weights, find_weights, weights_url
from fake_weights import RESNET18_FILE, seeded_fc_weight



@pytest.fixture()
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Polling every 0.05 s instead of 0.5 s: shutdown() below waits for the next poll.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def closed_port_url(name: str = RESNET18_FILE) -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def give_hash_name(saved: Path, stem: str) -> str:
    """Rename the checkpoint ``saved`` to <stem>-<sha256 prefix>.pth, the naming torch.hub checks; returns the name."""
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    name = f"{stem}-{digest[:8]}.pth"
    saved.rename(saved.parent / name)
    return name


def test_download_goes_into_the_cache_and_checks_the_hash(torch_cache, served, monkeypatch):
    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    folder, base = served
    state = {"w": torch.arange(6.0)}
    torch.save(state, folder / "scratch.pth")
    name = give_hash_name(folder / "scratch.pth", "tiny")
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


def test_load_classifier_finds_weights_in_the_folder_named_by_cam_helpers_weights(
    torch_cache, resnet18_checkpoint, tmp_path, monkeypatch
):
    stick = tmp_path / "stick"
    stick.mkdir()
    # Under torchvision's real file name: a file found locally is trusted like torch's own cache
    # (torch.hub checks the hash when it downloads, not when it loads).
    shutil.copyfile(resnet18_checkpoint, stick / RESNET18_FILE)
    monkeypatch.setenv("CAM_HELPERS_WEIGHTS", str(stick))
    assert find_weights(weights_url("resnet18")) == stick / RESNET18_FILE
    classifier = load_classifier("resnet18")
    assert classifier.pretrained and classifier.note == ""
    torch.testing.assert_close(classifier.model.fc.weight, seeded_fc_weight())  # (1000, 512)
    assert not torch_cache.exists()  # read in place, nothing copied into the cache


def test_load_classifier_finds_weights_under_torch_home(torch_home_with_resnet18):
    assert find_weights(weights_url("resnet18")) == torch_home_with_resnet18 / RESNET18_FILE
    classifier = load_classifier("resnet18")
    assert classifier.pretrained and classifier.note == ""
    torch.testing.assert_close(classifier.model.fc.weight, seeded_fc_weight())  # (1000, 512)


def test_download_weights_fills_a_folder_for_usb_sticks(torch_cache, served, resnet18_checkpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    folder, base = served
    shutil.copyfile(resnet18_checkpoint, folder / "scratch.pth")
    name = give_hash_name(folder / "scratch.pth", "resnet18")
    monkeypatch.setattr(weights, "weights_url", lambda model_name: f"{base}/{name}")
    stick = tmp_path / "stick"
    assert download_weights(["resnet18"], to=stick, progress=False) == [stick / name]
    assert (stick / name).read_bytes() == (folder / name).read_bytes()
    assert not torch_cache.exists()  # --to writes only the folder


def test_download_weights_copies_from_the_cache_without_a_network(torch_cache, resnet18_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    torch_cache.mkdir(parents=True)
    shutil.copyfile(resnet18_checkpoint, torch_cache / RESNET18_FILE)
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
