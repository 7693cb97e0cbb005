"""Overlays are RGB, blend as documented, and the grid has one row per class."""

import numpy as np
import pytest
import torch

from cam_helpers.viz import colorize, explanation_grid, overlay


def test_colorize_is_rgb_not_bgr():
    hot = colorize(np.ones((2, 2)), cmap="jet")
    cold = colorize(np.zeros((2, 2)), cmap="jet")
    assert hot[0, 0, 0] > hot[0, 0, 2]  # jet's top is red: channel 0 is R
    assert cold[0, 0, 2] > cold[0, 0, 0]  # its bottom is blue


def test_overlay_blends_with_alpha():
    image = torch.zeros(3, 4, 4)
    cam_map = torch.ones(4, 4)
    out = overlay(image, cam_map, alpha=0.25, cmap="gray")
    np.testing.assert_allclose(out, 0.25, atol=1e-6)
    np.testing.assert_allclose(overlay(image, cam_map, alpha=0.0), 0.0)
    with pytest.raises(ValueError, match="upsample"):
        overlay(image, torch.ones(2, 2))


def test_grid_has_a_row_per_class(lite0):
    from cam_helpers.explain import explain
    from cam_helpers.images import sample_path

    result = explain(lite0, sample_path("cat_and_coffee"), classes=["tabby", "espresso"])
    assert 0 <= float(result.display_images.min()) and float(result.display_images.max()) <= 1
    figure = explanation_grid(result)
    assert len(figure.axes) == 6
    assert "espresso" in figure.axes[5].get_title()


def test_show_overlay_with_a_shared_scale():
    import matplotlib.pyplot as plt

    from cam_helpers.viz import show_overlay

    ax = show_overlay(torch.zeros(3, 4, 4), torch.full((4, 4), 5.0), alpha=1.0, cmap="gray", vmin=0.0, vmax=10.0)
    np.testing.assert_allclose(ax.images[0].get_array()[..., 0], 0.5, atol=0.01)  # 5 on a 0..10 scale: mid grey
    plt.close("all")
