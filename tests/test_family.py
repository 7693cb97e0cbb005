"""The CAM family (cam_helpers/family.py): exact identities, batching, a clean model, clear errors,
and agreement with the peers (torchcam, pytorch-grad-cam) on the same model, layer, classes and input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cam_helpers.cam import class_activation_maps, normalize_maps, upsample_maps
from cam_helpers.family import (
    GRADIENT_METHODS, METHODS, cam_family, fused_layer_cam, grad_cam_plus_plus_weights,
)
from cam_helpers.gradcam import forward_for_gradcam, grad_cam, maps_from_weights, score_gradients
from cam_helpers.hooks import count_hooks
from cam_helpers.train import GAPNet

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
    return cam_family(*args, methods=[method], **options).maps[method]


# --------------------------------------------------------------------------- #
# Identities at the last conv layer of a GAP -> FC net, where g_k(x, y) = w_k^c / (h w)
# --------------------------------------------------------------------------- #


def test_at_the_last_layer_of_a_gap_net_each_method_has_its_closed_form(gapnet, small_images):
    result = cam_family(gapnet, small_images, "features.3", classes=[0, 3], methods=GRADIENT_METHODS)
    features, classes = result.activations, result.classes  # (B, 64, 4, 4), (B, 2)
    hw = features.shape[-2] * features.shape[-1]
    cam = class_activation_maps(features, gapnet.fc.weight.detach(), classes)  # (B, 2, 4, 4), no bias
    w = class_weights(gapnet, classes)  # (B, 2, 64)

    # HiResCAM = Grad-CAM = XGrad-CAM = ReLU(CAM) / (h w)
    for method in ("hirescam", "gradcam", "xgradcam"):
        torch.testing.assert_close(result.maps[method], cam.clamp_min(0) / hw, atol=1e-6, rtol=1e-5)
    # LayerCAM drops the negative class weights: ReLU(sum_k ReLU(w_k) A_k) / (h w)
    positive_only = torch.einsum("bnc,bchw->bnhw", w.clamp_min(0), features).clamp_min(0) / hw
    torch.testing.assert_close(result.maps["layercam"], positive_only, atol=1e-6, rtol=1e-5)
    # Grad-CAM++: alpha = 1 / (2 + (h w) mean(A_k) g) with g = w / (h w), summed over h w positions
    plus_plus = w.clamp_min(0) / (2 + w * features.mean(dim=(-2, -1))[:, None])  # (B, 2, 64)
    torch.testing.assert_close(result.maps["gradcam++"], maps_from_weights(features, plus_plus), atol=1e-6, rtol=1e-5)
    # ...and the identities are not empty: the maps differ from each other and are not all zero.
    assert result.maps["gradcam"].amax() > 0
    assert not torch.allclose(result.maps["layercam"], result.maps["gradcam"])
    assert not torch.allclose(normalize_maps(result.maps["gradcam++"]), normalize_maps(result.maps["gradcam"]))


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
    torch.testing.assert_close(ours.maps["gradcam"], reference.maps)
    assert ours.class_names == reference.class_names


def test_score_cam_weights_are_a_softmax_over_channels(gapnet, small_images):
    result = cam_family(gapnet, small_images, "features.3", classes=[0], methods=["scorecam"], progress=False)
    features = result.activations  # (B, 64, 4, 4)
    masks = upsample_maps(normalize_maps(features), 32)  # (B, 64, 32, 32): A_k in [0, 1], at the image size
    with torch.no_grad():
        masked = small_images[:, None] * masks[:, :, None]  # (B, 64, 3, 32, 32)
        scores = gapnet(masked.flatten(0, 1))[:, 0].view(3, 64)  # (B, 64): logit of class 0
    weights = scores.softmax(dim=-1)[:, None]  # (B, 1, 64)
    torch.testing.assert_close(result.maps["scorecam"], maps_from_weights(features, weights), atol=1e-6, rtol=1e-5)


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
    features = result.activations  # (3, 64, 4, 4)
    silent = features.flatten(2).amax(dim=-1) == features.flatten(2).amin(dim=-1)  # (3, 64)
    assert silent[:, :40].all() and (~silent).sum() >= 40  # (a random net silences a few more on its own)
    # one forward of the batch, one of the black image, one masked image per firing channel
    assert sum(images_seen) == 3 + 1 + int((~silent).sum())
    masks = upsample_maps(normalize_maps(features), 32)  # (3, 64, 32, 32)
    with torch.no_grad():  # the plain rule: one masked pass for every channel
        scores = net((small_images[:, None] * masks[:, :, None]).flatten(0, 1)).view(3, 64, -1)[..., [0, 2]]
    weights = scores.softmax(dim=1).transpose(1, 2)  # (3, 2, 64)
    torch.testing.assert_close(result.maps["scorecam"], maps_from_weights(features, weights), atol=1e-6, rtol=1e-5)


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
            torch.testing.assert_close(together.maps[method][i : i + 1], alone.maps[method], atol=1e-6, rtol=1e-4)


def test_score_cam_batch_size_does_not_change_the_maps(gapnet, small_images):
    request = dict(layer="features.3", classes=[1, 4], progress=False)
    a = one_method("scorecam", gapnet, small_images, score_cam_batch_size=5, **request)
    b = one_method("scorecam", gapnet, small_images, score_cam_batch_size=500, **request)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_classes_by_name_top_k_and_one_list_per_image(resnet18_random, random_batch):
    images = random_batch(2, 64)
    by_name = cam_family(resnet18_random, images, "layer4", classes=["tabby", "espresso"], methods=["hirescam"])
    by_index = cam_family(resnet18_random, images, "layer4", classes=[281, 967], methods=["hirescam"])
    torch.testing.assert_close(by_name.maps["hirescam"], by_index.maps["hirescam"])
    assert by_name.class_names == [["tabby", "espresso"]] * 2
    top = cam_family(resnet18_random, images, "layer4", top_k=3, methods=["gradcam++"])
    assert torch.equal(top.classes, top.logits.topk(3, dim=-1).indices)
    per_image = cam_family(resnet18_random, images, "layer4", classes=[[1], [2]], methods=["xgradcam"])
    assert per_image.classes.tolist() == [[1], [2]]
    assert by_name.upsampled("hirescam").shape == (2, 2, 64, 64)


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
        torch.testing.assert_close(result.maps[method], again.maps[method])


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
    assert list(spelled.maps) == ["gradcam++", "scorecam"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_the_cpu_maps(gapnet, small_images):
    on_cpu = cam_family(gapnet, small_images, "features.3", classes=[0, 1], methods=METHODS, progress=False)
    model = GAPNet(5, channels=SMALL_CHANNELS, seed=0).eval().cuda()
    on_gpu = cam_family(model, small_images.cuda(), "features.3", classes=[0, 1], methods=METHODS, progress=False)
    for method in METHODS:
        assert on_gpu.maps[method].device.type == "cuda"
        torch.testing.assert_close(on_gpu.maps[method].cpu(), on_cpu.maps[method], atol=1e-4, rtol=1e-3)


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
    diff = (relu_normalized(theirs) - relu_normalized(ours.maps[method])).abs().max()
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
    assert (relu_normalized(theirs) - relu_normalized(ours.maps["gradcam++"])).abs().max() > 1e-2


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
    diff = (theirs - pytorch_grad_cam_form(ours.maps[method], 96)).abs().max()
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
    assert (theirs - pytorch_grad_cam_form(ours.maps["gradcam++"], 96)).abs().max() > 1e-3


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
