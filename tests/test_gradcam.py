"""cam_helpers/gradcam.py: Grad-CAM (the CAM identity, batching, any layer, any head, a clean model
afterwards) and the rest of the family in METHODS (exact identities, batching, clear errors, and
agreement with the peers, torchcam and pytorch-grad-cam, on the same model, layer, classes and input)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cam_helpers.cam import class_activation_maps, normalize_maps, upsample_maps
from cam_helpers.explain import explain, forward_with_features
from cam_helpers.gradcam import (
    GRADIENT_METHODS,
    METHODS,
    GradCAMResult,
    Method,
    cam_family,
    forward_for_gradcam,
    fused_layer_cam,
    grad_cam,
    grad_cam_from_features,
    grad_cam_plus_plus_weights,
    maps_from_weights,
    score_gradients,
)
from cam_helpers.hooks import count_hooks
from cam_helpers import CAMNotApplicableError
from cam_helpers.models import load_classifier
from cam_helpers.tokens import TokenGrid
from cam_helpers.train import GAPNet


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
    assert torch.allclose(result.features, features)


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
    assert result.features.shape == (1, 128, 28, 28) and result.weights.shape == (1, 2, 128)
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
    logits, features = forward_for_gradcam(flatten, images, "layer4")
    grads = score_gradients(features["layer4"], logits.gather(1, result.classes))  # (2, 2, 512, 7, 7)
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
    assert torch.allclose(result.features, model.conv1(images).detach())
    assert (result.features < 0).any()
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
        logits, features = forward_for_gradcam(model, images, ["layer2", "layer3", "layer4"])
    finally:
        handle.remove()
    assert len(runs) == 1
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "layer2": (2, 128, 28, 28),
        "layer3": (2, 256, 14, 14),
        "layer4": (2, 512, 7, 7),
    }
    # The graph starts at the earliest layer: nothing below it gets a gradient.
    assert features["layer2"].is_leaf and features["layer2"].requires_grad
    classes = logits.detach().topk(3, dim=-1).indices  # (B, 3)
    for layer in ("layer4", "layer2", "layer3", "layer3"):  # the graph is kept between calls
        maps = grad_cam_from_features(features[layer], logits.gather(1, classes))
        direct = grad_cam(resnet18_random, images, layer, classes).maps
        assert torch.allclose(maps, direct, atol=1e-5 * direct.abs().max())
    gradients = score_gradients(features["layer4"], logits.gather(1, classes))
    assert gradients.shape == (2, 3, 512, 7, 7)
    assert_clean(model)


def test_detached_features_get_a_helpful_error(resnet18_random, random_batch):
    logits, features = forward_for_gradcam(resnet18_random, random_batch(1), "layer4")
    with pytest.raises(ValueError, match="forward_for_gradcam"):
        grad_cam_from_features(features["layer4"].detach(), logits[:, :2])
    with pytest.raises(ValueError, match="no_grad"):
        grad_cam_from_features(features["layer4"], logits[:, :2].detach())


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


# --------------------------------------------------------------------------- #
# The rest of the family (METHODS), on a small GAP net and on ResNet18
# --------------------------------------------------------------------------- #

SMALL_CHANNELS = (8, 16, 32, 64)


@pytest.fixture(scope="module")
def gapnet():
    """A small GAP -> FC net (random weights): last conv stage 'features.3', 64 channels, 4x4 at 32x32."""
    return GAPNet(5, channels=SMALL_CHANNELS, seed=0).eval()


@pytest.fixture(scope="module")
def small_images():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def relu_normalized(maps: torch.Tensor) -> torch.Tensor:
    """The comparison form: ReLU, then min-max per map (our normalize_maps on both sides)."""
    return normalize_maps(maps.detach().float().clamp_min(0))


def class_weights(model, classes: torch.Tensor) -> torch.Tensor:
    return model.fc.weight.detach()[classes]  # (B, n, C)


def one_method(method: str, *args, **options) -> torch.Tensor:
    """cam_family for one method: its maps (B, n, h, w)."""
    return cam_family(*args, methods=[method], **options)[method].maps


# --------------------------------------------------------------------------- #
# Identities at the last conv layer of a GAP -> FC net, where g_k(x, y) = w_k^c / (h w)
# --------------------------------------------------------------------------- #


def test_at_the_last_layer_of_a_gap_net_each_method_has_its_closed_form(gapnet, small_images):
    result = cam_family(gapnet, small_images, "features.3", classes=[0, 3], methods=GRADIENT_METHODS)
    features, classes = result["gradcam"].features, result["gradcam"].classes  # (B, 64, 4, 4), (B, 2)
    hw = features.shape[-2] * features.shape[-1]
    cam = class_activation_maps(features, gapnet.fc.weight.detach(), classes)  # (B, 2, 4, 4), no bias
    w = class_weights(gapnet, classes)  # (B, 2, 64)

    # HiResCAM = Grad-CAM = XGrad-CAM = ReLU(CAM) / (h w)
    for method in ("hirescam", "gradcam", "xgradcam"):
        torch.testing.assert_close(result[method].maps, cam.clamp_min(0) / hw, atol=1e-6, rtol=1e-5)
    # LayerCAM drops the negative class weights: ReLU(sum_k ReLU(w_k) A_k) / (h w)
    positive_only = torch.einsum("bnc,bchw->bnhw", w.clamp_min(0), features).clamp_min(0) / hw
    torch.testing.assert_close(result["layercam"].maps, positive_only, atol=1e-6, rtol=1e-5)
    # Grad-CAM++: alpha = 1 / (2 + (h w) mean(A_k) g) with g = w / (h w), summed over h w positions
    plus_plus = w.clamp_min(0) / (2 + w * features.mean(dim=(-2, -1))[:, None])  # (B, 2, 64)
    torch.testing.assert_close(result["gradcam++"].maps, maps_from_weights(features, plus_plus), atol=1e-6, rtol=1e-5)
    # ...and the identities are not empty: the maps differ from each other and are not all zero.
    assert result["gradcam"].maps.amax() > 0
    assert not torch.allclose(result["layercam"].maps, result["gradcam"].maps)
    assert not torch.allclose(normalize_maps(result["gradcam++"].maps), normalize_maps(result["gradcam"].maps))


def test_hirescam_without_relu_is_cam_over_hw_and_sums_to_the_logit_minus_bias(gapnet, small_images):
    maps = one_method("hirescam", gapnet, small_images, "features.3", [1, 2], relu=False)  # (B, 2, 4, 4)
    logits, captured = forward_for_gradcam(gapnet, small_images, ["features.3"])
    features = captured["features.3"].detach()
    cam = class_activation_maps(features, gapnet.fc.weight.detach(), [1, 2])
    torch.testing.assert_close(maps, cam / 16, atol=1e-6, rtol=1e-5)
    # the spatial sum of HiResCAM is the logit without its bias (the model is linear after the layer)
    torch.testing.assert_close(maps.sum(dim=(-2, -1)), logits.detach()[:, [1, 2]] - gapnet.fc.bias.detach()[[1, 2]])
    assert (maps < 0).any()  # without the ReLU the negative evidence is kept


def test_gradcam_in_the_family_is_grad_cam(resnet18_random, random_batch):
    images = random_batch(2, 96)
    ours = cam_family(resnet18_random, images, "layer3", classes=[[1, 2], [3, 4]], methods=["gradcam"])
    reference = grad_cam(resnet18_random, images, "layer3", classes=[[1, 2], [3, 4]])
    torch.testing.assert_close(ours["gradcam"].maps, reference.maps)
    assert ours["gradcam"].class_names == reference.class_names
    assert ours["gradcam"].method == reference.method == "gradcam"


def test_score_cam_weights_are_a_softmax_over_channels(gapnet, small_images):
    result = cam_family(gapnet, small_images, "features.3", classes=[0], methods=["scorecam"], progress=False)
    features = result["scorecam"].features  # (B, 64, 4, 4)
    masks = upsample_maps(normalize_maps(features), 32)  # (B, 64, 32, 32): A_k in [0, 1], at the image size
    with torch.no_grad():
        masked = small_images[:, None] * masks[:, :, None]  # (B, 64, 3, 32, 32)
        scores = gapnet(masked.flatten(0, 1))[:, 0].view(3, 64)  # (B, 64): logit of class 0
    weights = scores.softmax(dim=-1)[:, None]  # (B, 1, 64)
    torch.testing.assert_close(result["scorecam"].maps, maps_from_weights(features, weights), atol=1e-6, rtol=1e-5)


def test_score_cam_channels_that_never_fire_share_one_black_pass(small_images):
    """Silent channels (constant maps) give all-zero masks: one black image scores them all, with the same weights."""
    net = GAPNet(5, channels=SMALL_CHANNELS, seed=0).eval()
    last_conv = [m for m in net.features[3].modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():  # silence 40 of the 64 channels of the last stage: after its ReLU they are all zero
        last_conv.weight[:40] = 0
        if last_conv.bias is not None:
            last_conv.bias[:40] = -1
    images_seen = []
    handle = net.register_forward_hook(lambda module, inputs, output: images_seen.append(inputs[0].shape[0]))
    try:
        result = cam_family(net, small_images, "features.3", classes=[0, 2], methods=["scorecam"], progress=False)
    finally:
        handle.remove()
    features = result["scorecam"].features  # (3, 64, 4, 4)
    silent = features.flatten(2).amax(dim=-1) == features.flatten(2).amin(dim=-1)  # (3, 64)
    assert silent[:, :40].all() and (~silent).sum() >= 40  # (a random net silences a few more on its own)
    # one forward of the batch, one of the black image, one masked image per firing channel
    assert sum(images_seen) == 3 + 1 + int((~silent).sum())
    masks = upsample_maps(normalize_maps(features), 32)  # (3, 64, 32, 32)
    with torch.no_grad():  # the plain rule: one masked pass for every channel
        scores = net((small_images[:, None] * masks[:, :, None]).flatten(0, 1)).view(3, 64, -1)[..., [0, 2]]
    weights = scores.softmax(dim=1).transpose(1, 2)  # (3, 2, 64)
    torch.testing.assert_close(result["scorecam"].maps, maps_from_weights(features, weights), atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- #
# Batches, class specifications, a clean model
# --------------------------------------------------------------------------- #


def test_fused_layer_cam_is_the_max_of_tanh_scaled_maps(gapnet, small_images):
    fused = fused_layer_cam(gapnet, small_images, ["features.1", "features.3"], classes=[2])  # (B, 1, 8, 8)
    assert fused.shape == (3, 1, 8, 8)
    shallow = one_method("layercam", gapnet, small_images, "features.1", classes=[2])  # (B, 1, 8, 8)
    deep = one_method("layercam", gapnet, small_images, "features.3", classes=[2])  # (B, 1, 4, 4)
    expected = torch.maximum(
        torch.tanh(2 * normalize_maps(shallow)), upsample_maps(torch.tanh(2 * normalize_maps(deep)), 8)
    )
    torch.testing.assert_close(fused, expected)
    assert float(fused.max()) == pytest.approx(float(torch.tanh(torch.tensor(2.0))), abs=1e-6)


def test_a_batch_of_three_equals_each_image_alone(gapnet, small_images):
    classes = torch.tensor([[0, 1], [2, 3], [4, 0]])
    together = cam_family(gapnet, small_images, "features.2", classes=classes, methods=METHODS, progress=False)
    for i in range(3):
        alone = cam_family(
            gapnet, small_images[i : i + 1], "features.2", classes=classes[i : i + 1], methods=METHODS, progress=False
        )
        for method in METHODS:
            torch.testing.assert_close(together[method].maps[i : i + 1], alone[method].maps, atol=1e-6, rtol=1e-4)


def test_score_cam_batch_size_does_not_change_the_maps(gapnet, small_images):
    request = dict(layer="features.3", classes=[1, 4], progress=False)
    a = one_method("scorecam", gapnet, small_images, score_cam_batch_size=5, **request)
    b = one_method("scorecam", gapnet, small_images, score_cam_batch_size=500, **request)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_classes_by_name_top_k_and_one_list_per_image(resnet18_random, random_batch):
    images = random_batch(2, 64)
    by_name = cam_family(resnet18_random, images, "layer4", classes=["tabby", "espresso"], methods=["hirescam"])
    by_index = cam_family(resnet18_random, images, "layer4", classes=[281, 967], methods=["hirescam"])
    torch.testing.assert_close(by_name["hirescam"].maps, by_index["hirescam"].maps)
    assert by_name["hirescam"].class_names == [["tabby", "espresso"]] * 2
    top = cam_family(resnet18_random, images, "layer4", top_k=3, methods=["gradcam++"])
    assert torch.equal(top["gradcam++"].classes, top["gradcam++"].logits.topk(3, dim=-1).indices)
    per_image = cam_family(resnet18_random, images, "layer4", classes=[[1], [2]], methods=["xgradcam"])
    assert per_image["xgradcam"].classes.tolist() == [[1], [2]]
    assert by_name["hirescam"].upsampled().shape == (2, 2, 64, 64)


def test_no_hooks_no_grad_and_the_train_mode_restored(gapnet, small_images):
    gapnet.train()
    try:
        result = cam_family(gapnet, small_images, "features.3", classes=[0], methods=METHODS, progress=False)
        assert gapnet.training  # restored
        assert count_hooks(gapnet) == 0
        assert all(p.grad is None for p in gapnet.parameters())
        for method in GRADIENT_METHODS:
            one_method(method, gapnet, small_images, "features.3", classes=[0])
        fused_layer_cam(gapnet, small_images, ["features.1", "features.3"], classes=[0])
        assert gapnet.training and count_hooks(gapnet) == 0
        assert all(p.grad is None for p in gapnet.parameters())
    finally:
        gapnet.eval()
    # train mode would use batch statistics; the maps were computed in eval mode
    again = cam_family(gapnet, small_images, "features.3", classes=[0], methods=METHODS, progress=False)
    for method in METHODS:
        torch.testing.assert_close(result[method].maps, again[method].maps)


def test_works_inside_no_grad_and_leaves_no_hooks_after_an_error(gapnet, small_images):
    with torch.no_grad():
        maps = one_method("hirescam", gapnet, small_images, "features.3", classes=[0])
    assert maps.shape == (3, 1, 4, 4) and maps.amax() > 0
    with pytest.raises(ValueError, match="class indices must lie in 0..4"):
        cam_family(gapnet, small_images, "features.3", classes=[7])
    assert count_hooks(gapnet) == 0


def test_clear_errors_for_bad_layers_methods_and_classes(gapnet, small_images, resnet18_random, random_batch):
    with pytest.raises(ValueError, match="no layer named 'features.9'"):
        cam_family(gapnet, small_images, "features.9", classes=[0])
    with pytest.raises(ValueError, match=r"unknown CAM method 'gradcam\+'.*Did you mean 'gradcam\+\+'"):
        cam_family(gapnet, small_images, "features.3", methods=["gradcam+"])
    with pytest.raises(ValueError, match=r"class names \(.*\) need a Classifier"):
        cam_family(gapnet, small_images, "features.3", classes=["circle"])
    with pytest.raises(ValueError, match="name the layer"):
        cam_family(gapnet, small_images)
    with pytest.raises(ValueError, match=r"images must be a preprocessed batch \(B, 3, H, W\)"):
        cam_family(gapnet, small_images[0], "features.3")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        one_method("scorecam", gapnet, small_images, "features.3", classes=[0], score_cam_batch_size=0)
    with pytest.raises(ValueError, match="tabbby"):
        cam_family(resnet18_random, random_batch(1, 64), "layer4", classes=["tabbby"])
    with pytest.raises(ValueError, match=r"layer 'fc' gives \(3, 5\)\. Choose a convolutional layer"):
        cam_family(gapnet, small_images, "fc", classes=[0])
    with pytest.raises(ValueError, match="a list of one or more layer names"):
        fused_layer_cam(gapnet, small_images, "features.3")
    assert count_hooks(gapnet) == 0
    # The methods' display names count too: "Grad-CAM++" is "gradcam++".
    spelled = cam_family(gapnet, small_images, "features.3", [0], methods=["Grad-CAM++", "score_cam"],
                         progress=False)
    assert list(spelled) == ["gradcam++", "scorecam"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_the_cpu_maps(gapnet, small_images):
    on_cpu = cam_family(gapnet, small_images, "features.3", classes=[0, 1], methods=METHODS, progress=False)
    model = GAPNet(5, channels=SMALL_CHANNELS, seed=0).eval().cuda()
    on_gpu = cam_family(model, small_images.cuda(), "features.3", classes=[0, 1], methods=METHODS, progress=False)
    for method in METHODS:
        assert on_gpu[method].maps.device.type == "cuda"
        torch.testing.assert_close(on_gpu[method].maps.cpu(), on_cpu[method].maps, atol=1e-4, rtol=1e-3)


# --------------------------------------------------------------------------- #
# Agreement with the peers
# --------------------------------------------------------------------------- #

PEER_LAYER = "layer3"  # 6x6 at 96x96: a layer whose gradient varies over positions (unlike layer4 of a GAP net)
PEER_CLASSES = [3, 7]  # one class per image, the form both peers take
GAPNET_CLASSES = [1, 4]  # the same for the 5-class GAPNet


@pytest.fixture(scope="module")
def peer_setup(resnet18_random):
    images = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    classes = torch.tensor(PEER_CLASSES)[:, None]  # (B, 1)
    ours = cam_family(resnet18_random.model, images, PEER_LAYER, classes=classes, methods=GRADIENT_METHODS)
    return resnet18_random.model, images, classes, ours


def torchcam_maps(model, images, method_class, layer):
    with method_class(model, target_layer=layer, input_shape=tuple(images.shape[1:])) as extractor:
        scores = model(images)
        maps = extractor(class_idx=PEER_CLASSES, scores=scores, normalized=False)[0]  # (B, h, w), ReLU'd
    return maps.detach()[:, None]  # (B, 1, h, w)


@pytest.mark.parametrize(
    "method, peer_name", [("gradcam", "GradCAM"), ("xgradcam", "XGradCAM"), ("layercam", "LayerCAM")]
)
def test_torchcam_agrees(peer_setup, method, peer_name):
    methods = pytest.importorskip("torchcam.methods", reason="torchcam not installed: pip install -e '.[test]'")
    model, images, _, ours = peer_setup
    theirs = torchcam_maps(model, images, getattr(methods, peer_name), PEER_LAYER)
    diff = (relu_normalized(theirs) - relu_normalized(ours[method].maps)).abs().max()
    assert diff < 1e-4, f"{method}: max difference {diff:.2e}"


def test_torchcam_gradcampp_is_the_sum_of_cubed_positive_gradients(peer_setup):
    """torchcam's GradCAMpp divides by the denominator in place on a copy (``alpha[idx][mask].div_(...)``:
    boolean indexing copies), so its weights are sum_xy g^2 ReLU(g) = sum_xy ReLU(g)^3, not the paper's form."""
    methods = pytest.importorskip("torchcam.methods", reason="torchcam not installed: pip install -e '.[test]'")
    model, images, classes, ours = peer_setup
    theirs = torchcam_maps(model, images, methods.GradCAMpp, PEER_LAYER)
    logits, captured = forward_for_gradcam(model, images, [PEER_LAYER])
    features = captured[PEER_LAYER]
    with torch.enable_grad():
        gradients = score_gradients(features, logits.gather(1, classes)).detach()  # (B, 1, C, h, w)
    cubed = maps_from_weights(features.detach(), gradients.clamp_min(0).pow(3).sum(dim=(-2, -1)))
    assert (relu_normalized(theirs) - relu_normalized(cubed)).abs().max() < 1e-4
    # ...which is a different map from Grad-CAM++'s closed form:
    assert (relu_normalized(theirs) - relu_normalized(ours["gradcam++"].maps)).abs().max() > 1e-2


def torchcam_score_cam(model, images, layer):
    methods = pytest.importorskip("torchcam.methods", reason="torchcam not installed: pip install -e '.[test]'")
    with methods.ScoreCAM(model, target_layer=layer, batch_size=16, input_shape=tuple(images.shape[1:])) as extractor:
        with torch.no_grad():
            model(images)
        return extractor(class_idx=GAPNET_CLASSES, normalized=False)[0][:, None]  # (B, 1, h, w)


def test_torchcam_score_cam_agrees(gapnet):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    classes = torch.tensor(GAPNET_CLASSES)[:, None]
    ours = one_method("scorecam", gapnet, images, "features.3", classes, progress=False)
    theirs = torchcam_score_cam(gapnet, images, "features.3")
    assert (relu_normalized(theirs) - relu_normalized(ours)).abs().max() < 1e-4


# pytorch-grad-cam: maps come back ReLU'd, min-max normalised (x - min) / (max + 1e-7), resized to the
# input with cv2.resize (bilinear, = torch bilinear with align_corners=False) and normalised once more
# (its aggregate_multi_layers). The same steps on ours:


def pytorch_grad_cam_form(maps: torch.Tensor, size: int) -> torch.Tensor:
    return normalize_maps(upsample_maps(relu_normalized(maps), size))[:, 0]  # (B, H, W)


def pytorch_grad_cam_maps(peer_class, model, images, layer, classes=PEER_CLASSES) -> torch.Tensor:
    targets_module = pytest.importorskip(
        "pytorch_grad_cam.utils.model_targets", reason="grad-cam not installed: pip install -e '.[test]'"
    )
    module = dict(model.named_modules())[layer]
    with peer_class(model=model, target_layers=[module]) as cam:
        maps = cam(input_tensor=images, targets=[targets_module.ClassifierOutputTarget(c) for c in classes])
    model.zero_grad(set_to_none=True)  # it calls loss.backward(): parameters get a .grad
    return torch.from_numpy(maps)  # (B, H, W)


@pytest.mark.parametrize(
    "method, peer_name",
    [("gradcam", "GradCAM"), ("xgradcam", "XGradCAM"), ("layercam", "LayerCAM"), ("hirescam", "HiResCAM")],
)
def test_pytorch_grad_cam_agrees(peer_setup, method, peer_name):
    peers = pytest.importorskip("pytorch_grad_cam", reason="grad-cam not installed: pip install -e '.[test]'")
    model, images, _, ours = peer_setup
    theirs = pytorch_grad_cam_maps(getattr(peers, peer_name), model, images, PEER_LAYER)
    diff = (theirs - pytorch_grad_cam_form(ours[method].maps, 96)).abs().max()
    assert diff < 1e-4, f"{method}: max difference {diff:.2e}"


def test_pytorch_grad_cam_plus_plus_is_ours_with_its_epsilon(peer_setup):
    """pytorch-grad-cam adds eps = 1e-6 to Grad-CAM++'s denominator 2 g^2 + sum(A) g^3; here g^2 is about
    that size, so the epsilon visibly changes the map. With the same epsilon the maps agree."""
    peers = pytest.importorskip("pytorch_grad_cam", reason="grad-cam not installed: pip install -e '.[test]'")
    model, images, classes, ours = peer_setup
    theirs = pytorch_grad_cam_maps(peers.GradCAMPlusPlus, model, images, PEER_LAYER)
    logits, captured = forward_for_gradcam(model, images, [PEER_LAYER])
    features = captured[PEER_LAYER]
    with torch.enable_grad():
        gradients = score_gradients(features, logits.gather(1, classes)).detach()  # (B, 1, C, h, w)
    weights = grad_cam_plus_plus_weights(features, gradients, eps=1e-6)  # (B, 1, C)
    same_eps = maps_from_weights(features, weights)
    assert (theirs - pytorch_grad_cam_form(same_eps, 96)).abs().max() < 1e-4
    assert (theirs - pytorch_grad_cam_form(ours["gradcam++"].maps, 96)).abs().max() > 1e-3


def test_pytorch_grad_cam_score_cam_differs_only_in_the_mask_upsampling(gapnet):
    """pytorch-grad-cam upsamples A_k with align_corners=True (nn.UpsamplingBilinear2d) and normalises
    after upsampling; we (and torchcam) normalise at the layer's resolution and upsample with
    align_corners=False. Its masks by hand reproduce its maps; at a layer with the input's resolution
    (no upsampling) ours and its agree directly."""
    peers = pytest.importorskip("pytorch_grad_cam", reason="grad-cam not installed: pip install -e '.[test]'")
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    classes = torch.tensor(GAPNET_CLASSES)[:, None]

    full_resolution = "features.0.2"  # the first ReLU: 8 channels at 32x32
    theirs = pytorch_grad_cam_maps(peers.ScoreCAM, gapnet, images, full_resolution, GAPNET_CLASSES)
    ours = one_method("scorecam", gapnet, images, full_resolution, classes=classes, progress=False)
    assert (theirs - pytorch_grad_cam_form(ours, 32)).abs().max() < 1e-4

    theirs = pytorch_grad_cam_maps(peers.ScoreCAM, gapnet, images, "features.3", GAPNET_CLASSES)
    ours = one_method("scorecam", gapnet, images, "features.3", classes=classes, progress=False)
    assert (theirs - pytorch_grad_cam_form(ours, 32)).abs().max() > 1e-4  # the upsampling differs...
    _, captured = forward_for_gradcam(gapnet, images, ["features.3"])
    features = captured["features.3"].detach()  # (B, 64, 4, 4)
    masks = normalize_maps(F.interpolate(features, size=32, mode="bilinear", align_corners=True))  # its masks
    with torch.no_grad():
        scores = gapnet((images[:, None] * masks[:, :, None]).flatten(0, 1)).view(2, 64, 5)
    weights = scores.gather(2, classes[:, None, :].expand(2, 64, 1)).transpose(1, 2).softmax(-1)  # (B, 1, 64)
    by_hand = maps_from_weights(features, weights)
    assert (theirs - pytorch_grad_cam_form(by_hand, 32)).abs().max() < 1e-4  # ...and only that


def test_adding_a_method_is_one_row_of_the_table(gapnet, small_images, monkeypatch):
    """The module docstring's promise: a new row of METHODS is a method of cam_family, nothing else."""
    absolute = Method("Abs-Grad-CAM", "channel", lambda e: e.gradients.abs().mean(dim=(-2, -1)))
    monkeypatch.setitem(METHODS, "absgradcam", absolute)
    result = cam_family(gapnet, small_images, "features.3", [0, 2], methods=["Abs-Grad-CAM", "gradcam"])
    logits, captured = forward_for_gradcam(gapnet, small_images, "features.3")
    features = captured["features.3"]  # (3, 64, 4, 4)
    gradients = score_gradients(features, logits[:, [0, 2]]).detach()  # (3, 2, 64, 4, 4)
    by_hand = maps_from_weights(features, gradients.abs().mean(dim=(-2, -1)))  # (3, 2, 4, 4)
    torch.testing.assert_close(result["absgradcam"].maps, by_hand)
    assert not torch.allclose(result["absgradcam"].maps, result["gradcam"].maps)
    assert "Abs-Grad-CAM" in repr(result["absgradcam"])


def test_old_names_keep_working_for_one_release(gapnet, small_images):
    from cam_helpers import family
    from cam_helpers.gradcam import grad_cam_from_activations

    result = grad_cam(gapnet, small_images, "features.3", [1])
    with pytest.warns(FutureWarning, match=r"now \.features"):
        assert result.activations is result.features
    assert grad_cam_from_activations is grad_cam_from_features
    assert family.cam_family is cam_family and family.METHODS is METHODS


# --- Token layers (Vision Transformers): one reshape, done inside the forward hook ---


def tiny_vit(seed: int = 0) -> nn.Module:
    """torchvision's ViT, tiny: 64x64 -> 4 x 4 patches + a class token, 3 blocks of D = 32."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(
        image_size=64, patch_size=16, num_layers=3, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    ).eval()
    nn.init.normal_(model.heads.head.weight)  # torchvision starts the head at zero: every gradient would be 0
    return model


BLOCK = "encoder.layers.encoder_layer_{}"


class MeanPooledTokens(nn.Module):
    """A ViT-shaped GAP network: patches -> tokens (B, 16, 8) -> one block -> mean of the tokens -> fc."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.patches = nn.Conv2d(3, 8, kernel_size=16, stride=16)
        self.block = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8), nn.GELU())
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patches(x).flatten(2).transpose(1, 2)  # (B, 16, 8)
        return self.fc(self.block(tokens).mean(dim=1))  # (B, 5)


def test_grad_cam_at_a_transformer_block_equals_pytorch_grad_cams_reshape_transform():
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    def reshape_transform(tokens, h=4, w=4):  # the recipe of pytorch-grad-cam's ViT tutorial
        return tokens[:, 1:, :].reshape(tokens.size(0), h, w, tokens.size(2)).permute(0, 3, 1, 2)

    model, images = tiny_vit(), torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    classes = [3, 5, 7]
    for block in (0, 1):
        ours = grad_cam(model, images, BLOCK.format(block), classes=[[c] for c in classes])
        assert ours.features.shape == (3, 32, 4, 4) and ours.maps.shape == (3, 1, 4, 4)
        assert ours.maps.amax() > 0
        assert_clean(model)  # (pytorch-grad-cam leaves .grad on the parameters: checked before it runs)
        with GradCAM(model, [model.encoder.layers[block]], reshape_transform=reshape_transform) as theirs:
            expected = torch.from_numpy(theirs(images, targets=[ClassifierOutputTarget(c) for c in classes]))
        assert torch.allclose(ours.upsampled()[:, 0], expected, atol=1e-5)
        model.zero_grad(set_to_none=True)


def test_torchcam_without_a_reshape_transform_does_not_read_tokens_as_a_grid():
    """Without a ``reshape_transform`` torchcam 0.5 takes (B, N, D) for (B, C, L): its "map" is a vector over
    the D features, not the patches; ours needs none. (With one it agrees with ours: tests/test_vit.py.)"""
    from torchcam.methods import GradCAM

    model, images = tiny_vit(), torch.randn(2, 3, 64, 64)
    extractor = GradCAM(model, BLOCK.format(1), input_shape=(3, 64, 64))
    try:
        (maps,) = extractor([3, 5], model(images))
    finally:
        extractor.remove_hooks()
    assert maps.shape == (2, 32)  # D = 32 values per image: no 4 x 4 grid


def test_the_last_block_of_a_class_token_vit_has_exactly_zero_gradient_and_a_warning():
    model, images = tiny_vit(), torch.randn(2, 3, 64, 64)
    layers = [BLOCK.format(i) for i in range(3)] + ["encoder.ln"]
    logits, features = forward_for_gradcam(model, images, layers)
    norms = {name: score_gradients(a, logits[:, :2]).norm().item() for name, a in features.items()}
    # The head reads only the class token of encoder.ln; LayerNorm works token by token, so the last
    # block's patch tokens (and ln's) never reach it. The blocks before it feed the class token through attention.
    assert norms[BLOCK.format(2)] == 0.0 and norms["encoder.ln"] == 0.0
    assert norms[BLOCK.format(0)] > 0 and norms[BLOCK.format(1)] > 0
    with pytest.warns(UserWarning, match=r"encoder_layer_2' is exactly 0.*last block of a class-token ViT.*choose an earlier block"):
        blank = grad_cam(model, images, BLOCK.format(2))
    assert torch.count_nonzero(blank.maps) == 0
    assert_clean(model)


def test_grad_cam_of_a_mean_pooled_token_network_is_its_cam_divided_by_the_number_of_patches():
    model, images = MeanPooledTokens().eval(), torch.randn(2, 3, 64, 64)
    result = grad_cam(model, images, "block", classes=[[0, 4], [2, 1]])
    assert result.tokens == TokenGrid(prefix=0, grid=(4, 4))  # 16 tokens, no class token
    # CAM by hand: M_c(y, x) = sum_d w_cd f_d(y, x) on the block's tokens laid out on the 4 x 4 grid.
    with torch.no_grad():
        tokens = model.block(model.patches(images).flatten(2).transpose(1, 2))  # (2, 16, 8)
        cams = torch.einsum("cd,bnd->bcn", model.fc.weight, tokens).reshape(2, 5, 4, 4)
    expected = torch.stack([cams[0, [0, 4]], cams[1, [2, 1]]]).clamp_min(0) / 16
    assert torch.allclose(result.maps, expected, atol=1e-6)
    assert torch.allclose(result.features, tokens.transpose(1, 2).reshape(2, 8, 4, 4))


def test_a_token_layer_with_no_square_grid_gets_a_clear_error_and_leaves_the_model_clean():
    model = tiny_vit()
    with pytest.raises(ValueError, match=r"layer 'encoder.layers.encoder_layer_1' gives 17 tokens.*3 x 3 grid"):
        grad_cam(model, torch.randn(1, 3, 64, 64), BLOCK.format(1), tokens=(3, 3))
    assert_clean(model)
    result = grad_cam(model, torch.randn(1, 3, 64, 64), BLOCK.format(1), tokens=TokenGrid(prefix=1, grid=(4, 4)))
    assert result.maps.shape == (1, 1, 4, 4)


def test_vit_b_16_is_read_as_14_by_14_patches_with_its_blocks_as_stages():
    classifier = load_classifier("vit_b_16", pretrained=False)
    nn.init.normal_(classifier.model.heads.head.weight)  # torchvision starts the head at zero
    assert classifier.tokens == TokenGrid(prefix=1, grid=(14, 14))
    assert list(classifier.stages)[:2] == ["block 1", "block 2"] and len(classifier.stages) == 12
    with pytest.raises(CAMNotApplicableError, match="class token.*block BEFORE the last"):
        classifier.require_cam()
    result = grad_cam(classifier, torch.randn(1, 3, 224, 224), classes=[7])
    assert result.layer == "encoder.layers.encoder_layer_10"  # the default: the block before the last
    assert result.maps.shape == (1, 1, 14, 14) and result.maps.amax() > 0
    assert_clean(classifier.model)


def test_every_method_of_the_table_reads_a_transformer_block_through_the_same_reshape():
    model, images = tiny_vit(), torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    results = cam_family(model, images, BLOCK.format(1), [[3], [5]], methods=list(METHODS), progress=False)
    assert list(results) == list(METHODS)
    for method, result in results.items():
        assert result.tokens == TokenGrid(prefix=1, grid=(4, 4)), method
        assert result.maps.shape == (2, 1, 4, 4) and torch.isfinite(result.maps).all(), method
    assert torch.equal(results["gradcam"].maps, grad_cam(model, images, BLOCK.format(1), [[3], [5]]).maps)
    # HiResCAM by hand on the reshaped tokens: ReLU(sum_k g_k(x, y) A_k(x, y)) at each patch.
    logits, features = forward_for_gradcam(model, images, BLOCK.format(1))
    gradients = score_gradients(features[BLOCK.format(1)], logits.gather(1, torch.tensor([[3], [5]])))
    by_hand = (gradients[:, 0] * features[BLOCK.format(1)].detach()).sum(dim=1).clamp_min(0)  # (2, 4, 4)
    assert torch.allclose(results["hirescam"].maps[:, 0], by_hand, atol=1e-6)
    assert_clean(model)


def test_method_key_is_the_one_reading_of_a_method_name():
    from cam_helpers.gradcam import method_key

    assert [method_key(m) for m in ("Grad-CAM++", "score_cam", "LayerCAM", "gradcam")] == [
        "gradcam++", "scorecam", "layercam", "gradcam"]
    with pytest.raises(ValueError, match=r"unknown CAM method 'xgradcma'.*Did you mean 'xgradcam'"):
        method_key("xgradcma")
    with pytest.raises(ValueError, match=r"one name, e.g. 'gradcam'; got \['gradcam'\]"):
        method_key(["gradcam"])
