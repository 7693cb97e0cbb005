"""The CAM math: values, not just shapes."""

import pytest
import torch

from cam_helpers.cam import (
    all_class_maps,
    class_activation_maps,
    logits_from_maps,
    normalize_maps,
    upsample_maps,
)


def make(b=3, c=16, h=5, w=6, k=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g), torch.randn(k, c, generator=g), torch.randn(k, generator=g)


def test_all_class_maps_equal_the_per_class_loop():
    features, weight, _ = make()
    maps = all_class_maps(features, weight)  # (B, K, h, w)
    for b in range(features.shape[0]):
        for k in range(weight.shape[0]):
            by_hand = (weight[k].view(-1, 1, 1) * features[b]).sum(0)  # sum_k w_k^c f_k(x, y)
            torch.testing.assert_close(maps[b, k], by_hand, atol=1e-5, rtol=1e-5)


def test_maps_with_bias_average_to_the_logits():
    features, weight, bias = make()
    logits = features.mean(dim=(2, 3)) @ weight.T + bias  # GAP -> FC
    maps = all_class_maps(features, weight, bias)
    torch.testing.assert_close(logits_from_maps(maps), logits, atol=1e-5, rtol=1e-5)


def test_chosen_classes_match_all_classes_in_order():
    features, weight, bias = make()
    everything = all_class_maps(features, weight, bias)
    chosen = class_activation_maps(features, weight, [7, 2], bias)  # (B, 2, h, w)
    torch.testing.assert_close(chosen, everything[:, [7, 2]])
    per_image = torch.tensor([[1], [4], [9]])
    own = class_activation_maps(features, weight, per_image)  # each image its own class
    for b, k in enumerate([1, 4, 9]):
        torch.testing.assert_close(own[b, 0], all_class_maps(features, weight)[b, k])
    assert class_activation_maps(features, weight, 5).shape == (3, 1, 5, 6)


def test_relu_keeps_only_positive_evidence():
    features, weight, _ = make()
    raw = all_class_maps(features, weight)
    clipped = all_class_maps(features, weight, relu=True)
    assert (raw < 0).any() and (clipped >= 0).all()
    torch.testing.assert_close(clipped, raw.clamp_min(0))


def test_batch_items_are_independent():
    features, weight, _ = make(b=8)
    together = all_class_maps(features, weight)
    one_by_one = torch.cat([all_class_maps(features[i : i + 1], weight) for i in range(8)])
    torch.testing.assert_close(together, one_by_one)


def test_normalize_maps_min_max_and_constant_maps_become_zero():
    maps = torch.stack([torch.arange(12.0).view(3, 4), torch.full((3, 4), 7.0)]).unsqueeze(0)
    out = normalize_maps(maps)
    assert not torch.isnan(out).any()
    assert out[0, 0].min() == 0 and out[0, 0].max() == 1
    torch.testing.assert_close(out[0, 0, 1, 1], torch.tensor(5.0 / 11.0))
    assert (out[0, 1] == 0).all()


def test_upsample_keeps_values_and_modes():
    maps = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    nearest = upsample_maps(maps, 4, mode="nearest")
    assert nearest.shape == (1, 1, 4, 4)
    torch.testing.assert_close(nearest[0, 0, :2, :2], torch.zeros(2, 2))
    torch.testing.assert_close(nearest[0, 0, 2:, 2:], torch.full((2, 2), 3.0))
    smooth = upsample_maps(maps, (224, 224))
    assert smooth.shape == (1, 1, 224, 224)
    assert torch.isclose(smooth.mean(), maps.mean(), atol=1e-3)
    with pytest.raises(ValueError, match="bilinear"):
        upsample_maps(maps, 4, mode="cubic-ish")


def test_bad_shapes_get_clear_errors():
    features, weight, _ = make()
    with pytest.raises(ValueError, match="unsqueeze"):
        all_class_maps(features[0], weight)
    with pytest.raises(ValueError, match="global average pooling"):
        all_class_maps(features, weight[:, :5])
    with pytest.raises(ValueError, match="0..9"):
        class_activation_maps(features, weight, [3, 10])
