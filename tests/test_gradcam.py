"""Grad-CAM: the CAM identity, batching, any layer, any head, and a clean model afterwards."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cam_helpers.cam import class_activation_maps, normalize_maps, upsample_maps
from cam_helpers.explain import explain, forward_with_features
from cam_helpers.gradcam import (
    GradCAMResult,
    forward_for_gradcam,
    grad_cam,
    grad_cam_from_activations,
    score_gradients,
)
from cam_helpers.hooks import count_hooks
from cam_helpers.models import CAMNotApplicableError, load_classifier


def assert_clean(model: nn.Module, *, training: bool = False) -> None:
    """No hooks left, the mode as it was, no .grad anywhere, gradient mode back on."""
    assert count_hooks(model) == 0
    assert model.training is training
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()


def reference_grad_cam(model: nn.Module, images: torch.Tensor, layer: str, classes: torch.Tensor) -> torch.Tensor:
    """The textbook recipe, one image and one class at a time: (B, n, h, w)."""
    module = dict(model.named_modules())[layer]
    rows = []
    for b in range(images.shape[0]):
        row = []
        for c in classes[b].tolist():
            kept = {}

            def hook(_m, _i, out):
                kept["A"] = out
                return out.clone()  # a copy for the rest of the net, as in-place ops may follow

            handle = module.register_forward_hook(hook)
            try:
                with torch.enable_grad():
                    x = images[b : b + 1].clone().requires_grad_()  # makes every activation require grad
                    logit = model(x)[0, c]
                    (grad,) = torch.autograd.grad(logit, kept["A"])  # (1, C, h, w)
            finally:
                handle.remove()
            alpha = grad.mean(dim=(2, 3))  # (1, C)
            row.append(torch.relu(torch.einsum("bc,bchw->bhw", alpha, kept["A"].detach()))[0])
        rows.append(torch.stack(row))
    return torch.stack(rows)  # (B, n, h, w)


# --------------------------------------------------------------------------- #
# The identity with CAM at the last conv layer of a GAP -> FC model
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("fixture", ["resnet18_random", "lite0"])
def test_gradcam_at_the_cam_layer_is_relu_cam_over_hw(fixture, request, random_batch):
    classifier = request.getfixturevalue(fixture)
    images = random_batch(2)
    result = grad_cam(classifier, images, classifier.feature_layer, top_k=3)

    logits, features = forward_with_features(classifier, images)  # (B, K), (B, C, 7, 7)
    h, w = features.shape[-2:]
    cam = class_activation_maps(features, classifier.fc.weight.detach(), result.classes)  # (B, 3, 7, 7)
    expected = cam.clamp_min(0) / (h * w)

    assert result.maps.shape == (2, 3, 7, 7)
    assert torch.equal(result.classes, logits.topk(3, dim=-1).indices)
    scale = expected.abs().max()
    assert scale > 0
    assert (result.maps - expected).abs().max() <= 1e-5 * scale
    # alpha_k^c = w_k^c / (h w): the gradient is the same at every position.
    fc_weight = classifier.fc.weight.detach()[result.classes]  # (B, 3, C)
    assert torch.allclose(result.weights, fc_weight / (h * w), rtol=1e-4, atol=1e-7 * fc_weight.abs().max())
    assert torch.allclose(result.logits, logits, atol=1e-5)
    assert torch.allclose(result.activations, features)


def test_gradcam_identity_holds_for_named_classes_of_the_pretrained_model(lite0, random_batch):
    images = random_batch(1)
    result = grad_cam(lite0, images, "_head_act", classes=["tabby", "espresso", 0])
    assert result.class_names == [["tabby", "espresso", "tench"]]
    features = forward_with_features(lite0, images)[1]
    expected = class_activation_maps(features, lite0.fc.weight.detach(), result.classes).clamp_min(0) / 49
    assert (result.maps - expected).abs().max() <= 1e-5 * expected.abs().max()


# --------------------------------------------------------------------------- #
# Batches and several classes
# --------------------------------------------------------------------------- #


def test_batched_classes_equal_one_class_at_a_time(resnet18_random, random_batch):
    images = random_batch(4)
    classes = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])  # each image its own classes
    together = grad_cam(resnet18_random, images, "layer3", classes)
    assert together.maps.shape == (4, 3, 14, 14)
    reference = reference_grad_cam(resnet18_random.model, images, "layer3", classes)
    scale = reference.abs().max()
    assert scale > 0
    assert (together.maps - reference).abs().max() <= 1e-5 * scale
    for i in range(3):  # one class at a time, whole batch
        single = grad_cam(resnet18_random, images, "layer3", classes[:, i : i + 1])
        assert (single.maps[:, 0] - together.maps[:, i]).abs().max() <= 1e-5 * scale


def test_each_image_of_a_batch_gets_its_own_maps(resnet18_random, random_batch):
    images = random_batch(4)
    batched = grad_cam(resnet18_random, images, "layer4", top_k=5)
    for b in range(4):
        alone = grad_cam(resnet18_random, images[b : b + 1], "layer4", top_k=5)
        assert torch.equal(alone.classes[0], batched.classes[b])
        assert (alone.maps[0] - batched.maps[b]).abs().max() <= 1e-5 * batched.maps.abs().max()
    # Different images, different maps (not the first image's map repeated).
    assert not torch.allclose(batched.maps[0], batched.maps[1])


def test_the_fallback_loop_gives_the_same_maps(resnet18_random, random_batch, monkeypatch):
    images = random_batch(2)
    batched = grad_cam(resnet18_random, images, "layer3", top_k=3)
    original = torch.autograd.grad

    def no_vmap(*args, is_grads_batched=False, **kwargs):
        if is_grads_batched:
            raise RuntimeError("pretend: no batching rule")
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", no_vmap)
    looped = grad_cam(resnet18_random, images, "layer3", top_k=3)
    assert torch.allclose(looped.maps, batched.maps, atol=1e-6 * batched.maps.abs().max())


# --------------------------------------------------------------------------- #
# Any layer, any head
# --------------------------------------------------------------------------- #


def test_earlier_layers_give_larger_maps(resnet18_random, random_batch):
    images = random_batch(1)
    sizes = {layer: tuple(grad_cam(resnet18_random, images, layer).maps.shape[-2:]) for layer in ("layer2", "layer3", "layer4")}
    assert sizes == {"layer2": (28, 28), "layer3": (14, 14), "layer4": (7, 7)}
    result = grad_cam(resnet18_random, images, "layer2", top_k=2)
    assert result.activations.shape == (1, 128, 28, 28) and result.weights.shape == (1, 2, 128)
    big = result.upsampled()
    assert big.shape == (1, 2, 224, 224)
    assert torch.equal(big, normalize_maps(upsample_maps(result.maps, 224)))
    assert 0 <= float(big.min()) and float(big.max()) <= 1


def test_layer_given_as_a_module(resnet18_random, random_batch):
    images = random_batch(1)
    by_module = grad_cam(resnet18_random.model, images, resnet18_random.model.layer3, classes=7)
    by_name = grad_cam(resnet18_random, images, "layer3", classes=7)
    assert by_module.layer == "layer3" and by_module.class_names is None
    assert torch.equal(by_module.maps, by_name.maps)


def test_gradcam_works_for_the_flatten_head_where_cam_does_not():
    torch.manual_seed(0)
    flatten = load_classifier("resnet18_flatten", pretrained=False)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with pytest.raises(CAMNotApplicableError):
        forward_with_features(flatten, images)
    with pytest.raises(CAMNotApplicableError):
        explain(flatten, images)
    result = grad_cam(flatten, images, "layer4", top_k=2, relu=False)
    assert result.maps.shape == (2, 2, 7, 7)
    assert torch.isfinite(result.maps).all() and result.maps.abs().max() > 0
    # The flatten head weighs every position differently: the gradient is not constant in (x, y).
    logits, activations = forward_for_gradcam(flatten, images, "layer4")
    grads = score_gradients(activations["layer4"], logits.gather(1, result.classes))  # (2, 2, 512, 7, 7)
    spread = grads.amax(dim=(-2, -1)) - grads.amin(dim=(-2, -1))  # (2, 2, 512) per channel
    assert (spread > 1e-3 * grads.abs().max()).all()
    # ... and the gradient is the FC weight of that class, laid out as (C, h, w).
    fc_rows = flatten.fc.weight.detach()[result.classes].view(2, 2, 512, 7, 7)
    assert torch.allclose(grads, fc_rows)
    assert result.layer == "layer4" and grad_cam(flatten, images).layer == "layer4"  # default: last stage
    reference = reference_grad_cam(flatten.model, images, "layer4", result.classes)
    relu_maps = grad_cam(flatten, images, "layer4", result.classes).maps
    assert (relu_maps - reference).abs().max() <= 1e-5 * reference.abs().max()
    assert_clean(flatten.model)
    # 256x256 makes layer4 8x8, which the flatten head cannot take: the error comes
    # after the hook switched gradient recording on, and the caller's mode comes back.
    with torch.no_grad():
        with pytest.raises(RuntimeError):
            grad_cam(flatten, torch.zeros(1, 3, 256, 256), "layer3")
        assert not torch.is_grad_enabled()
    assert_clean(flatten.model)


# --------------------------------------------------------------------------- #
# The model stays clean, also after an error
# --------------------------------------------------------------------------- #


def test_model_is_clean_after_success_and_after_errors(resnet18_random, random_batch):
    model = resnet18_random.model
    images = random_batch(2)
    model.train()  # a mode to restore; Grad-CAM itself runs in eval mode
    try:
        result = grad_cam(resnet18_random, images, "layer3", top_k=2)
        assert_clean(model, training=True)
        model.eval()
        assert torch.equal(result.maps, grad_cam(resnet18_random, images, "layer3", top_k=2).maps)
        model.train()

        failing_calls = [  # (call, the message it should give)
            # index out of range (found after the forward pass)
            (lambda: grad_cam(model, images, "layer3", classes=1000), r"must lie in 0\.\.999 .*got \[1000\]"),
            (lambda: grad_cam(resnet18_random, images, "layer3", classes=[3, 5000]), r"class index 5000 is out of range.*0\.\.999"),
            (
                lambda: grad_cam(resnet18_random, images, "layer3", classes="golden retriver"),
                r"'golden retriver' is not a class of resnet18\. Did you mean 'golden retriever'",
            ),
            # names need a Classifier
            (lambda: grad_cam(model, images, "layer3", classes="tabby"), r"class names \('tabby'\) need a Classifier"),
            # 1 channel: fails inside the forward pass (PyTorch's own message)
            (lambda: grad_cam(model, images[:, :1], "layer3"), r"expected input\[2, 1, 224, 224\] to have 3 channels"),
            (lambda: grad_cam(model, images[0], "layer3"), r"got \(3, 224, 224\).*\.unsqueeze\(0\)"),  # no batch dimension
            (lambda: grad_cam(model, images, "layer9"), r"no layer named 'layer9'\. Did you mean 'layer4', 'layer3', 'layer2', 'layer1'"),
            # not a feature map (B, C, h, w)
            (lambda: grad_cam(model, images, "fc"), r"layer 'fc' gives \(2, 1000\)\. Choose a convolutional layer"),
            (lambda: grad_cam(model, images, "layer3", top_k=0), r"top_k must lie in 1\.\.1000.*got 0"),
            (lambda: grad_cam(model, images), r"name the layer, e\.g\. grad_cam\(model, images, 'layer4'\)"),
        ]
        for call, message in failing_calls:
            with pytest.raises((ValueError, RuntimeError), match=message):
                call()
            assert_clean(model, training=True)
        # A Classifier that knows its stages names them as the layers that would work.
        with pytest.raises(ValueError, match=r"layer 'fc' gives .*\('layer1', 'layer2', 'layer3', 'layer4'\)"):
            grad_cam(resnet18_random, images, "fc")
        assert_clean(model, training=True)
    finally:
        model.eval()


def test_an_error_inside_the_forward_pass_leaves_no_hooks(resnet18_random, random_batch):
    model = resnet18_random.model
    with pytest.raises(RuntimeError):
        forward_for_gradcam(model, random_batch(1)[:, :2], ["layer2", "layer3"])
    assert_clean(model)


def test_works_under_no_grad_inference_mode_and_with_frozen_parameters(resnet18_random, random_batch):
    images = random_batch(2)
    expected = grad_cam(resnet18_random, images, "layer3", top_k=2).maps
    with torch.no_grad():
        under_no_grad = grad_cam(resnet18_random, images, "layer3", top_k=2).maps
        assert not torch.is_grad_enabled()  # the caller's mode is kept
    with torch.inference_mode():
        inference_images = images.clone()
        under_inference = grad_cam(resnet18_random, inference_images, "layer3", top_k=2).maps
        chosen = grad_cam(resnet18_random, inference_images, "layer3", torch.tensor([[1, 2], [3, 4]]))
    assert chosen.maps.shape == (2, 2, 14, 14)
    frozen = copy.deepcopy(resnet18_random)
    frozen.model.requires_grad_(False)
    frozen_maps = grad_cam(frozen, images, "layer3", top_k=2).maps
    assert all(not p.requires_grad and p.grad is None for p in frozen.model.parameters())
    for maps in (under_no_grad, under_inference, frozen_maps):
        assert torch.allclose(maps, expected, atol=1e-6 * expected.abs().max())


class TinyNet(nn.Module):
    """conv -> ReLU(inplace) -> conv -> ReLU(inplace) -> GAP -> FC, the in-place trap."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.relu1(self.conv1(x))  # the in-place ReLU right after the hooked conv1
        x = self.relu2(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


def test_inplace_relu_right_after_the_layer():
    torch.manual_seed(0)
    model = TinyNet().eval()
    images = torch.randn(3, 3, 16, 16)
    result = grad_cam(model, images, "conv1", classes=[0, 3])
    assert result.maps.shape == (3, 2, 16, 16)
    # The captured A is the conv output itself, not overwritten by the in-place ReLU.
    assert torch.allclose(result.activations, model.conv1(images).detach())
    assert (result.activations < 0).any()
    # The same numbers by hand, with an out-of-place ReLU.
    a = model.conv1(images).detach().requires_grad_()
    head = model.fc(model.pool(torch.relu(model.conv2(torch.relu(a)))).flatten(1))  # (3, 5)
    expected = []
    for c in (0, 3):
        (grad,) = torch.autograd.grad(head[:, c].sum(), a, retain_graph=True)
        expected.append(torch.relu(torch.einsum("bc,bchw->bhw", grad.mean(dim=(2, 3)), a.detach())))
    expected = torch.stack(expected, dim=1)  # (3, 2, 16, 16)
    assert torch.allclose(result.maps, expected, atol=1e-6)
    assert_clean(model)


# --------------------------------------------------------------------------- #
# One forward pass, reused (the explorer's way)
# --------------------------------------------------------------------------- #


def test_one_forward_pass_serves_several_layers_and_classes(resnet18_random, random_batch):
    model = resnet18_random.model
    images = random_batch(2)
    runs = []
    handle = model.register_forward_hook(lambda *_: runs.append(1))
    try:
        logits, activations = forward_for_gradcam(model, images, ["layer2", "layer3", "layer4"])
    finally:
        handle.remove()
    assert len(runs) == 1
    assert {k: tuple(v.shape) for k, v in activations.items()} == {
        "layer2": (2, 128, 28, 28),
        "layer3": (2, 256, 14, 14),
        "layer4": (2, 512, 7, 7),
    }
    # The graph starts at the earliest layer: nothing below it gets a gradient.
    assert activations["layer2"].is_leaf and activations["layer2"].requires_grad
    classes = logits.detach().topk(3, dim=-1).indices  # (B, 3)
    for layer in ("layer4", "layer2", "layer3", "layer3"):  # the graph is kept between calls
        maps = grad_cam_from_activations(activations[layer], logits.gather(1, classes))
        direct = grad_cam(resnet18_random, images, layer, classes).maps
        assert torch.allclose(maps, direct, atol=1e-5 * direct.abs().max())
    gradients = score_gradients(activations["layer4"], logits.gather(1, classes))
    assert gradients.shape == (2, 3, 512, 7, 7)
    assert_clean(model)


def test_detached_activations_get_a_helpful_error(resnet18_random, random_batch):
    logits, activations = forward_for_gradcam(resnet18_random, random_batch(1), "layer4")
    with pytest.raises(ValueError, match="forward_for_gradcam"):
        grad_cam_from_activations(activations["layer4"].detach(), logits[:, :2])
    with pytest.raises(ValueError, match="no_grad"):
        grad_cam_from_activations(activations["layer4"], logits[:, :2].detach())


def test_result_repr_and_type(resnet18_random, random_batch):
    result = grad_cam(resnet18_random, random_batch(1), "layer4", classes=["goldfish"])
    assert isinstance(result, GradCAMResult)
    assert "layer 'layer4'" in repr(result) and result.class_names == [["goldfish"]]


# --------------------------------------------------------------------------- #
# CPU and CUDA agree
# --------------------------------------------------------------------------- #


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; runs on the device machine")
def test_gradcam_cpu_vs_cuda(lite0, random_batch):
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    images = random_batch(2)
    try:
        cpu = {layer: grad_cam(lite0, images, layer, classes=[281, 967]) for layer in ("_blocks.10", "_head_act")}
        lite0.to("cuda")
        for layer, expected in cpu.items():
            gpu = grad_cam(lite0, images.cuda(), layer, classes=[281, 967])
            assert gpu.maps.device.type == "cuda" and gpu.upsampled().device.type == "cuda"
            scale = expected.maps.abs().max()
            assert (gpu.maps.cpu() - expected.maps).abs().max() <= 1e-4 * scale
            big = upsample_maps(expected.maps, 224)
            assert (upsample_maps(gpu.maps, 224).cpu() - big).abs().max() <= 1e-4 * scale
        assert all(p.grad is None for p in lite0.model.parameters())
    finally:
        lite0.to("cpu")
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous
