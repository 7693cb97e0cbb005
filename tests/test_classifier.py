"""cam_helpers/classifier.py: resolve_classes, the one place where a class request becomes indices; summary()."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_weights import RESNET18_FILE

from cam_helpers.classifier import resolve_classes

NAMES = ["tabby", "espresso", "golden retriever", "tiger cat"]


def test_every_form_of_a_request_gives_the_same_b_by_n_indices():
    expected = [[1, 3], [1, 3]]
    for request in ([1, 3], ["Espresso", "tiger cat"], [np.int64(1), np.int32(3)], torch.tensor([1, 3]),
                    [[1, 3], [1, 3]], np.array([1, 3])):
        index = resolve_classes(request, 2, 4, class_names=NAMES)
        assert index.dtype == torch.long and index.tolist() == expected, request
    assert resolve_classes("tabby", 3, 4, class_names=NAMES).tolist() == [[0], [0], [0]]
    assert resolve_classes([[0], [2]], 2, 4).tolist() == [[0], [2]]  # one list per image


def test_none_means_the_top_k_of_the_logits_or_later():
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 4.0]])
    assert resolve_classes(None, 2, 4, logits=logits, top_k=2).tolist() == [[1, 2], [0, 3]]
    assert resolve_classes(None, 2, 4) is None  # decided after the forward pass
    with pytest.raises(ValueError, match=r"top_k must lie in 1\.\.4"):
        resolve_classes(None, 2, 4, logits=logits, top_k=5)


def test_bad_requests_name_the_class_the_range_and_what_would_work():
    with pytest.raises(ValueError, match=r"'espreso' is not a class of resnet18\. Did you mean 'espresso'"):
        resolve_classes("espreso", 1, 4, class_names=NAMES, model_name="resnet18")
    with pytest.raises(ValueError, match=r"0\.\.3"):
        resolve_classes([1, 4], 1, 4, class_names=NAMES)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        resolve_classes(torch.tensor([[-1]]), 1, 4)
    with pytest.raises(ValueError, match="integers"):
        resolve_classes(torch.tensor([1.0]), 1, 4)
    with pytest.raises(ValueError, match=r"shape \(2, n\)"):
        resolve_classes([[1], [2], [3]], 2, 4)
    with pytest.raises(ValueError, match="1.5"):  # a float is not a class index
        resolve_classes(1.5, 1, 4)
    # A plain nn.Module has no names: the error says to pass indices, or how to give it names.
    with pytest.raises(ValueError, match=r"give class indices, or wrap it: Classifier\.from_model"):
        resolve_classes("tabby", 1, 4)


# --- summary(): where the weights came from (issue 22) ---


@pytest.fixture()
def weights_folder(resnet18_checkpoint, tmp_path, monkeypatch) -> Path:
    """A teacher's CAM_HELPERS_WEIGHTS folder holding random ResNet18 weights under torchvision's file name."""
    folder = tmp_path / "usb_stick"
    folder.mkdir()
    shutil.copyfile(resnet18_checkpoint, folder / RESNET18_FILE)
    monkeypatch.setenv("CAM_HELPERS_WEIGHTS", str(folder))
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "empty_hub"))  # nothing in the torch cache
    return folder


def test_summary_says_substitute_weights_came_from_the_folder(weights_folder):
    from cam_helpers import load_classifier

    lines = load_classifier("resnet18").summary().splitlines()
    assert lines == [
        "Model: ResNet18 with substitute weights; last conv [512, 7, 7]",
        f"Weights: read from {weights_folder / RESNET18_FILE} (the folder in CAM_HELPERS_WEIGHTS); "
        "not torchvision's ImageNet file (its SHA-256 does not begin with f37072fd)",
    ]
    flat = load_classifier("resnet18_flatten").summary().splitlines()
    assert flat[0].startswith("Model: ResNet18 trunk (substitute trunk) with a flatten head")
    assert "ImageNet trunk" not in flat[0] and flat[1] == lines[1]


def test_summary_names_imagenets_file_when_its_hash_matches(weights_folder, monkeypatch):
    from cam_helpers import classifier as classifier_module
    from cam_helpers import load_classifier

    monkeypatch.setattr(classifier_module, "_sha256", lambda path: "f37072fd" + "0" * 56)  # as the real file's
    assert load_classifier("resnet18").summary().splitlines() == [
        "Model: ResNet18 with torchvision's ImageNet weights; last conv [512, 7, 7]",
        f"Weights: torchvision's ImageNet file, read from {weights_folder / RESNET18_FILE} (the folder in CAM_HELPERS_WEIGHTS)",
    ]


def test_summary_checks_a_file_in_the_torch_cache_too(torch_home_with_resnet18):
    from cam_helpers import load_classifier

    lines = load_classifier("resnet18").summary().splitlines()
    assert lines[0] == "Model: ResNet18 with substitute weights; last conv [512, 7, 7]"
    assert lines[1].startswith(f"Weights: read from {torch_home_with_resnet18 / RESNET18_FILE} (the torch cache); not")


def test_summary_of_random_and_offline_models_looks_up_no_file(weights_folder, lite0):
    from cam_helpers import load_classifier

    assert load_classifier("resnet18", pretrained=False).summary() == (
        "Model: ResNet18 with random weights; last conv [512, 7, 7]"
    )
    assert "Weights:" not in lite0.summary() and "substitute" not in lite0.summary()


def test_sha256_is_hashlibs(tmp_path):
    from cam_helpers.classifier import _sha256

    path = tmp_path / "file.bin"
    path.write_bytes(b"x" * (3 << 20) + b"tail")  # more than one 1 MiB piece
    assert _sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
