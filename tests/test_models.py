"""load_classifier: real weights offline, the fail-fast download, CAM layer discovery."""

import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from cam_helpers import models
from cam_helpers.hooks import count_hooks
from cam_helpers import CAMNotApplicableError, Classifier, WeightsUnavailableError, find_cam_layers
from cam_helpers.models import load_classifier


def test_resnet18_loads_weights_from_the_torch_cache(torch_cache):
    # Write a state dict under the exact file name torchvision's URL uses.
    reference = torchvision.models.resnet18(weights=None)
    torch.nn.init.normal_(reference.fc.weight)
    torch_cache.mkdir(parents=True)
    path = torch_cache / Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    assert path.name == "resnet18-f37072fd.pth"
    torch.save(reference.state_dict(), path)

    classifier = load_classifier("resnet18")
    assert classifier.pretrained and classifier.note == ""
    assert "ImageNet" in classifier.description
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(classifier.model.state_dict()[name], tensor)
    assert classifier.feature_layer == "layer4" and classifier.fc_layer == "fc"
    assert not classifier.model.training
    assert classifier.class_names[207] == "golden retriever"


def test_no_network_fails_fast_with_a_plain_message(torch_cache, monkeypatch):
    monkeypatch.delenv("CAM_HELPERS_OFFLINE", raising=False)
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    real = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    unreachable = types.SimpleNamespace(url=f"http://127.0.0.1:{port}/resnet18-f37072fd.pth", meta=real.meta, transforms=real.transforms)
    monkeypatch.setattr(models, "imagenet_weights", lambda key: unreachable)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="fallback=True"):
        load_classifier("resnet18")
    assert time.perf_counter() - start < 5


def test_fallback_uses_the_offline_model_and_says_why(torch_cache):
    classifier = load_classifier("resnet18", fallback=True)
    assert classifier.name == "efficientnet_lite0"
    assert "resnet18 weights are not available" in classifier.note
    assert "efficientnet_lite0" in classifier.summary()
    with pytest.raises(WeightsUnavailableError, match="CAM_HELPERS_OFFLINE"):
        load_classifier("resnet18")


def test_flatten_twin_has_the_post_shapes_and_refuses_cam():
    classifier = load_classifier("resnet18_flatten", pretrained=False)
    assert tuple(classifier.fc.weight.shape) == (1000, 25088)
    with torch.no_grad():
        assert classifier.model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    with pytest.raises(CAMNotApplicableError, match="25088.*Grad-CAM"):
        classifier.require_cam()
    with pytest.raises(CAMNotApplicableError, match="flattens"):
        find_cam_layers(classifier.model)


@pytest.mark.parametrize(
    "name, feature_layer, fc_layer",
    [
        ("resnet50", "layer4", "fc"),
        ("densenet121", "features", "classifier"),
        ("mobilenet_v2", "features", "classifier.1"),
        ("efficientnet_b0", "features", "classifier.1"),
        ("regnet_y_400mf", "trunk_output", "fc"),
    ],
)
def test_cam_layers_found_automatically(name, feature_layer, fc_layer):
    classifier = load_classifier(name, pretrained=False)
    assert (classifier.feature_layer, classifier.fc_layer) == (feature_layer, fc_layer)
    assert count_hooks(classifier.model) == 0


def test_densenet_identity_holds_with_its_functional_relu():
    # DenseNet applies F.relu(..., inplace=True) after its `features` block, outside any
    # module. Shift norm5's bias so that the block's output has negative values: the CAM
    # identity must still hold for the features we capture.
    from cam_helpers.cam import all_class_maps
    from cam_helpers.explain import forward_with_features

    torch.manual_seed(0)
    model = torchvision.models.densenet121(weights=None)
    torch.nn.init.normal_(model.features.norm5.bias, mean=-0.5)
    torch.nn.init.normal_(model.classifier.weight)
    classifier = Classifier.from_model(model)
    assert classifier.feature_activation is torch.relu  # found by the identity check
    logits, features = forward_with_features(classifier, torch.randn(2, 3, 224, 224))
    assert features.min() >= 0  # after the ReLU
    maps = all_class_maps(features, classifier.fc.weight, classifier.fc.bias)
    assert (maps.mean(dim=(2, 3)) - logits).abs().max() <= 1e-3 * logits.abs().max()


@pytest.mark.parametrize(
    "name, reason",
    [
        ("vgg11", "hidden fully connected"),
        ("alexnet", "hidden fully connected"),
        ("mobilenet_v3_small", "hidden fully connected"),
        ("convnext_tiny", "LayerNorm2d between pooling and the FC"),
    ],
)
def test_cam_refused_with_a_reason_that_points_to_gradcam(name, reason):
    with pytest.raises(CAMNotApplicableError, match=reason) as info:
        load_classifier(name, pretrained=False)
    assert "Grad-CAM" in str(info.value)


def test_unknown_names_and_classes_suggest_close_ones(lite0):
    with pytest.raises(ValueError, match=r"Unknown model name 'resnet81'\. Did you mean 'resnet18'.*Known: resnet18"):
        load_classifier("resnet81")
    assert lite0.class_index("Golden Retriever") == 207
    assert lite0.class_index(281) == 281
    with pytest.raises(ValueError, match=r"'golden retriver' is not a class of efficientnet_lite0\. Did you mean 'golden retriever', 'Labrador retriever'"):
        lite0.class_index("golden retriver")
    with pytest.raises(ValueError, match=r"Did you mean 'golden retriever', .*'Labrador retriever'.*classifier\.class_names"):
        lite0.class_index("retriever")
    with pytest.raises(ValueError, match="out of range"):
        lite0.class_index(1000)


def test_own_model_wrapping():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    )
    classifier = Classifier.from_model(net, class_names=["a", "b", "c"], input_size=32)
    assert classifier.feature_layer == "1" and classifier.fc_layer == "4"
    with pytest.raises(ValueError, match="3 outputs"):
        Classifier.from_model(net, class_names=["a"], input_size=32)
    flat = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(2 * 32 * 32, 3))
    with pytest.raises(CAMNotApplicableError):
        Classifier.from_model(flat, input_size=32)
    grad_only = Classifier.from_model(flat, input_size=32, require_cam=False)
    assert grad_only.feature_layer is None and "flattens" in grad_only.cam_unavailable_reason


def test_flatten_twin_falls_back_to_a_random_trunk_not_another_model(torch_cache):
    classifier = load_classifier("resnet18_flatten", fallback=True)
    assert classifier.name == "resnet18_flatten" and not classifier.pretrained
    assert "random weights" in classifier.note and tuple(classifier.fc.weight.shape) == (1000, 25088)


def test_resolve_classes_on_the_classifier(lite0):
    assert lite0.resolve_classes(None, 2) is None
    assert lite0.resolve_classes("Tabby", 2).tolist() == [[281], [281]]
    assert lite0.resolve_classes(["espresso", 0], 1).tolist() == [[967, 0]]
    assert lite0.resolve_classes([["espresso"], [207]], 2).tolist() == [[967], [207]]
    assert lite0.resolve_classes(torch.tensor([[1, 2]]), 1).tolist() == [[1, 2]]
    assert lite0.resolve_classes(np.int64(967), 1).tolist() == [[967]]  # e.g. from np.argmax
    with pytest.raises(ValueError, match=r"3\.7 is not a class"):
        lite0.resolve_classes(3.7, 1)
    with pytest.raises(ValueError, match=r"shape \(2, n\)"):
        lite0.resolve_classes([[1], [2], [3]], 2)
    with pytest.raises(ValueError, match="0..999"):
        lite0.resolve_classes(torch.tensor([1000]), 1)


def test_find_cam_layers_leaves_the_global_random_state_and_every_mode_alone():
    model = torchvision.models.resnet18(weights=None).train()
    model.layer1.eval()  # a frozen stage inside a training model
    modes = {name: m.training for name, m in model.named_modules()}
    state = torch.random.get_rng_state()
    assert find_cam_layers(model)["feature_layer"] == "layer4"
    assert torch.equal(torch.random.get_rng_state(), state)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert count_hooks(model) == 0
