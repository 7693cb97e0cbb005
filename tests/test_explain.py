"""explain(): the logit identity on real models, batches, class names, clean models."""

import pytest
import torch

from cam_helpers.cam import all_class_maps, logits_from_maps
from cam_helpers.explain import explain, forward_with_features
from cam_helpers.hooks import count_hooks
from cam_helpers.images import sample_path


@pytest.mark.parametrize("fixture", ["resnet18_random", "lite0"])
def test_logits_equal_spatial_mean_of_cam_plus_bias(fixture, request, random_batch):
    classifier = request.getfixturevalue(fixture)
    logits, features = forward_with_features(classifier, random_batch(2))
    fc = classifier.fc
    maps = all_class_maps(features, fc.weight, fc.bias)  # (B, 1000, 7, 7)
    assert (logits_from_maps(maps) - logits).abs().max() <= 1e-4
    # The same identity written the paper's way: mean of M_c (no bias) + b_c.
    raw = all_class_maps(features, fc.weight)
    assert (raw.mean(dim=(2, 3)) + fc.bias - logits).abs().max() <= 1e-4


def test_explain_on_the_composite_photo_separates_cat_and_cup(lite0):
    result = explain(lite0, sample_path("cat_and_coffee"), classes=["tabby", "espresso"])
    shown = result.upsampled()  # (1, 2, 224, 224) in [0, 1]
    assert result.maps.shape == (1, 2, 7, 7) and shown.shape == (1, 2, 224, 224)
    assert result.class_names == [["tabby", "espresso"]]
    assert float(shown.amin()) == 0 and float(shown.amax()) == 1
    # Where does each map put its mass? The cat is on the left, the cup on the right.
    cat_map, cup_map = shown[0]
    half = cat_map.shape[-1] // 2
    assert cat_map[:, :half].sum() > cat_map[:, half:].sum()
    assert cup_map[:, half:].sum() > cup_map[:, :half].sum()


def test_batch_of_eight_gives_each_image_its_own_maps(lite0, random_batch):
    batch = random_batch(8, seed=3)
    together = explain(lite0, batch, top_k=2)
    for i in range(8):
        alone = explain(lite0, batch[i : i + 1], top_k=2)
        assert torch.equal(alone.classes[0], together.classes[i])
        torch.testing.assert_close(alone.maps[0], together.maps[i], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(together.maps[0], together.maps[1])


def test_class_specs_by_index_name_and_per_image(lite0, random_batch):
    batch = random_batch(2)
    by_name = explain(lite0, batch, classes="golden retriever")
    by_index = explain(lite0, batch, classes=207)
    torch.testing.assert_close(by_name.maps, by_index.maps)
    per_image = explain(lite0, batch, classes=[[207, 281], [967, 1]])
    assert per_image.classes.tolist() == [[207, 281], [967, 1]]
    with pytest.raises(ValueError, match="golden retriever"):
        explain(lite0, batch, classes="golden retreiver")


def test_with_bias_maps_average_to_logits(lite0, random_batch):
    result = explain(lite0, random_batch(1), classes=[1, 2, 3], with_bias=True)
    torch.testing.assert_close(logits_from_maps(result.maps), result.logits[:, [1, 2, 3]], atol=1e-4, rtol=1e-4)


def test_model_left_clean_after_success_and_failure(lite0):
    model = lite0.model
    model.train()
    explain(lite0, sample_path("cat"))
    assert model.training and count_hooks(model) == 0
    with pytest.raises(RuntimeError):
        explain(lite0, torch.randn(1, 5, 224, 224))  # five channels: the stem conv fails
    assert model.training and count_hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_flatten_model_explain_raises_the_explanation():
    from cam_helpers import CAMNotApplicableError
    from cam_helpers.models import load_classifier

    flat = load_classifier("resnet18_flatten", pretrained=False)
    with pytest.raises(CAMNotApplicableError, match="Grad-CAM"):
        explain(flat, torch.randn(1, 3, 224, 224))


def test_class_maps_for_a_plain_module_and_per_image_classes():
    from cam_helpers.cam import upsample_and_normalize
    from cam_helpers.explain import class_maps

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, 4)
    )
    images = torch.randn(3, 3, 16, 16)
    maps = class_maps(net, images, torch.tensor([0, 3, 1]), with_bias=True)  # (3, 1, 16, 16)
    logits = net(images)
    expected = logits.gather(1, torch.tensor([[0], [3], [1]]))
    torch.testing.assert_close(maps.mean(dim=(2, 3)), expected, atol=1e-5, rtol=1e-5)
    shown = upsample_and_normalize(maps, 32)
    assert shown.shape == (3, 1, 32, 32) and float(shown.amax()) == 1.0
    every_class = class_maps(net, images, None, with_bias=True)  # None: all K classes, (3, 4, 16, 16)
    assert every_class.shape == (3, 4, 16, 16)
    torch.testing.assert_close(every_class.mean(dim=(2, 3)), logits, atol=1e-5, rtol=1e-5)


def test_class_probabilities_are_the_softmax_of_the_explained_classes(lite0, random_batch):
    result = explain(lite0, random_batch(2), classes=[1, 2, 3])
    expected = result.probabilities.gather(1, result.classes)  # (B, n) softmax outputs
    torch.testing.assert_close(result.class_probabilities, expected)
    assert 0 < float(result.class_probabilities.min()) and float(result.class_probabilities.max()) < 1


def test_upsampled_is_the_normalised_map_at_any_size_and_raw_maps_still_answer(lite0):
    from cam_helpers.cam import upsample_and_normalize

    result = explain(lite0, sample_path("coffee"), top_k=2, upsample="nearest")
    torch.testing.assert_close(result.upsampled(), upsample_and_normalize(result.maps, 224, mode="nearest"))
    torch.testing.assert_close(result.upsampled(56, "bilinear"), upsample_and_normalize(result.maps, 56))
    with pytest.warns(FutureWarning, match=r"now \.maps"):
        assert result.raw_maps is result.maps
    with pytest.raises(ValueError, match="'bilinear' or 'nearest'"):
        explain(lite0, sample_path("coffee"), upsample="cubic")
