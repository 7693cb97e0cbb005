"""Sanity checks (cascading randomisation, rank correlation) and deletion/insertion curves."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cam_helpers.metrics import (
    cascade_randomize,
    curve_area,
    deletion_curve,
    insertion_curve,
    layers_top_down,
    rank_correlation,
    _replacement_images as replacement_images,
)
from cam_helpers.train import GAPNet

# ---------------------------------------------------------------- rank correlation


def test_rank_correlation_identical_reversed_and_monotone():
    maps = torch.rand(5, 8, 8)
    assert rank_correlation(maps, maps).tolist() == pytest.approx([1.0] * 5)
    assert rank_correlation(maps, -maps).tolist() == pytest.approx([-1.0] * 5)
    # Spearman only sees the order: any increasing transform keeps it at 1.
    assert rank_correlation(maps, maps.exp() * 3 + 1).tolist() == pytest.approx([1.0] * 5)


def test_rank_correlation_with_ties_matches_spearman():
    a = torch.tensor([[1.0, 2.0, 2.0, 3.0]])
    b = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    # Average ranks (0, 1.5, 1.5, 3) vs (0, 1, 2, 3): 4.5 / sqrt(4.5 * 5) = 0.9487 (scipy agrees).
    assert rank_correlation(a, b).item() == pytest.approx(4.5 / (4.5 * 5) ** 0.5)


def test_rank_correlation_of_a_constant_map_is_zero_not_nan():
    result = rank_correlation(torch.ones(2, 4, 4), torch.rand(2, 4, 4))
    assert result.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(torch.ones(2, 4, 4), torch.ones(2, 5, 5))


def test_rank_correlation_is_near_zero_for_independent_maps():
    g = torch.Generator().manual_seed(0)
    result = rank_correlation(torch.rand(200, 16, 16, generator=g), torch.rand(200, 16, 16, generator=g))
    assert result.abs().mean() < 0.1


# ---------------------------------------------------------------- cascading randomisation


def test_layers_top_down_for_gapnet():
    names = layers_top_down(GAPNet(4, seed=0))
    assert names == ["fc", "features.3.0", "features.2.0", "features.1.0", "features.0.0"]


def test_cascade_randomize_resets_from_the_top_and_leaves_the_original():
    model = GAPNet(4, channels=(4, 8, 8, 8), seed=0)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    names = ["fc", "features.3", "features.2"]
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    copies = list(cascade_randomize(model, names, seed=1))
    assert torch.equal(torch.rand(3), expected)  # seeded blocks: the caller's random state is not touched
    assert [name for name, _ in copies] == names
    for step, (_, copy) in enumerate(copies):
        assert not copy.training
        state = copy.state_dict()
        changed = {k for k in state if not torch.equal(state[k], original[k])}
        touched = tuple(names[: step + 1])
        # Weights inside a randomised layer changed; everything below is as trained.
        assert any(k.startswith("fc.weight") for k in changed)
        assert all(k.startswith(touched) for k in changed), changed
        assert state["features.0.0.weight"].equal(original["features.0.0.weight"])
    assert not copies[0][1].state_dict()["features.3.0.weight"].equal(copies[1][1].state_dict()["features.3.0.weight"])
    for k, v in model.state_dict().items():  # the trained model is untouched
        assert torch.equal(v, original[k])
    again = list(cascade_randomize(model, names, seed=1))
    assert torch.equal(again[-1][1].fc.weight, copies[-1][1].fc.weight)  # seeded
    with pytest.raises(ValueError, match="no layers named"):
        next(cascade_randomize(model, ["layer4"]))


# ---------------------------------------------------------------- deletion / insertion


class _PixelSum(nn.Module):
    """Toy classifier: logit_0 = sum_p weight_p * x_p (all channels), logit_1 = 0.

    Its truly important pixels are where ``weight`` is large, so ``weight``
    itself is the perfect explanation for class 0."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", weight)  # (H, W)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        score = (images.sum(dim=1) * self.weight).flatten(1).sum(dim=1)  # (B,)
        return torch.stack([score, torch.zeros_like(score)], dim=1)  # (B, 2)


@pytest.fixture
def toy():
    h = w = 16
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    weight = torch.exp(-((x - 5.0) ** 2 + (y - 9.0) ** 2) / 8) / 2  # a bump of evidence
    model = _PixelSum(weight).train()
    images = torch.ones(3, 3, h, w) * torch.tensor([1.0, 0.5, 0.8]).view(3, 1, 1, 1)
    perfect = weight.expand(3, h, w)
    return model, images, perfect


def test_deletion_of_a_perfect_map_drops_faster_than_of_a_reversed_map(toy):
    model, images, perfect = toy
    good = deletion_curve(model, images, perfect, 0, steps=16)
    bad = deletion_curve(model, images, -perfect, 0, steps=16)
    assert good.shape == bad.shape == (3, 17)
    assert torch.allclose(good[:, 0], bad[:, 0])  # both start from the intact image
    assert torch.allclose(good[:, -1], torch.full((3,), 0.5))  # all black: logits 0, 0
    assert (curve_area(good) < curve_area(bad) - 0.2).all()
    assert model.training  # mode restored


def test_insertion_of_a_perfect_map_rises_faster_than_of_a_reversed_map(toy):
    model, images, perfect = toy
    good = insertion_curve(model, images, perfect, [0, 0, 0], steps=8, baseline="zero")
    bad = insertion_curve(model, images, -perfect, [0, 0, 0], steps=8, baseline="zero")
    assert good.shape == (3, 9)
    assert torch.allclose(good[:, -1], bad[:, -1])  # both end at the intact image
    assert (curve_area(good) > curve_area(bad) + 0.2).all()
    # Low-resolution maps are upsampled to the image first.
    coarse = torch.nn.functional.avg_pool2d(perfect.unsqueeze(1), 4).squeeze(1)  # (3, 4, 4)
    assert insertion_curve(model, images, coarse, 0, steps=8, baseline="zero").shape == (3, 9)


def test_curve_area():
    steps = torch.linspace(0, 1, 11)
    curves = torch.stack([torch.ones(11), steps, 1 - steps])
    assert curve_area(curves).tolist() == pytest.approx([1.0, 0.5, 0.5])


def test_replacement_images():
    images = torch.rand(2, 3, 32, 32)
    assert torch.equal(replacement_images(images, "zero"), torch.zeros_like(images))
    blurred = replacement_images(images, "blur")
    assert blurred.shape == images.shape
    assert blurred.std() < images.std() / 3  # shapes gone
    assert blurred.mean().item() == pytest.approx(images.mean().item(), abs=0.02)  # colours kept
    flat = torch.full((2, 3, 32, 32), 0.3)
    assert torch.allclose(replacement_images(flat, "blur"), flat)
    with pytest.raises(ValueError, match="baseline"):
        replacement_images(images, "noise")


def _separable_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """The hand-written blur metrics used before torchvision's gaussian_blur: reflected borders,
    a kernel of +-ceil(3 sigma) clamped below the image side, one 1D pass per axis."""
    radius = max(1, min(math.ceil(3 * sigma), min(images.shape[-2:]) - 1))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    rows = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@pytest.mark.parametrize("size, sigma", [((32, 32), None), ((64, 48), 2.5), ((224, 224), None), ((12, 20), 6.0)])
def test_blur_is_the_same_as_the_hand_written_one(size, sigma):
    images = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = _separable_blur(images, sigma or max(size) / 16)  # (12, 20) with sigma 6: radius clamped to 11
    torch.testing.assert_close(replacement_images(images, "blur", sigma), expected, atol=1e-5, rtol=0)  # float32 rounding: up to 4e-6 seen
