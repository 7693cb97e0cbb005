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


# ---------------------------------------------------------------- overlay_grid


def _drawn(ax) -> np.ndarray:
    """The RGB pixels that an axis shows: (H, W, 3)."""
    return np.asarray(ax.images[0].get_array())


def test_overlay_grid_draws_each_cell_as_overlay_draws_it():
    import matplotlib.pyplot as plt

    from cam_helpers.viz import overlay_grid

    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))   # (cols, 3, H, W)
    maps = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))     # (rows, cols, H, W)
    figure = overlay_grid(images, maps, alpha=0.3, cmap="viridis")
    assert len(figure.axes) == 6
    for index, ax in enumerate(figure.axes):   # row by row: cell (row, col) shows image col under map (row, col)
        row, col = divmod(index, 3)
        np.testing.assert_allclose(_drawn(ax), overlay(images[col], maps[row, col], alpha=0.3, cmap="viridis"), atol=1e-6)
        assert not ax.get_xticks().size and not ax.get_yticks().size
        assert not any(spine.get_visible() for spine in ax.spines.values())
    plt.close(figure)


def test_overlay_grid_titles_row_labels_and_empty_cells():
    import matplotlib.pyplot as plt

    from cam_helpers.viz import overlay_grid

    image = torch.zeros(3, 4, 4)
    figure = overlay_grid(image, [[torch.ones(4, 4), None], [None, torch.zeros(4, 4)]],
                          titles=["left", "right"], row_labels=["first", "second"], title="all", empty_text="not run")
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["left", "right", "", ""]   # column titles over the top row
    assert [axes[0].get_ylabel(), axes[2].get_ylabel()] == ["first", "second"]
    assert figure.get_suptitle() == "all"
    for ax in (axes[1], axes[2]):   # an empty cell: no picture, the placeholder text
        assert not ax.images and [t.get_text() for t in ax.texts] == ["not run"]
    np.testing.assert_allclose(_drawn(axes[3]), overlay(image, torch.zeros(4, 4)))

    per_cell = overlay_grid(image, [torch.ones(4, 4), torch.ones(4, 4)], titles=[["a", None]])
    assert [ax.get_title() for ax in per_cell.axes] == ["a", ""]   # a flat list of maps is one row
    plt.close("all")


def test_overlay_grid_upsamples_a_small_map_to_the_image():
    import matplotlib.pyplot as plt

    from cam_helpers.cam import upsample_maps
    from cam_helpers.viz import overlay_grid

    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))
    small = torch.rand(4, 4, generator=torch.Generator().manual_seed(3))        # a 4x4 grid under a 16x16 image
    for mode in ("bilinear", "nearest"):
        figure = overlay_grid(image, small, upsample=mode)
        expected = overlay(image, upsample_maps(small[None, None], 16, mode=mode)[0, 0])
        np.testing.assert_allclose(_drawn(figure.axes[0]), expected, atol=1e-6)
    assert not np.allclose(expected, overlay(image, upsample_maps(small[None, None], 16)[0, 0]))  # the mode matters
    with pytest.raises(ValueError, match="larger than"):
        overlay_grid(image, torch.rand(32, 32))
    plt.close("all")


def test_overlay_grid_says_what_does_not_fit():
    import matplotlib.pyplot as plt

    from cam_helpers.viz import overlay_grid

    image, cam_map = torch.zeros(3, 4, 4), torch.zeros(4, 4)
    with pytest.raises(ValueError, match="row 1 has 1 maps but row 0 has 2"):
        overlay_grid(image, [[cam_map, cam_map], [cam_map]])
    with pytest.raises(ValueError, match="one per column"):
        overlay_grid(torch.zeros(3, 3, 4, 4), [cam_map, cam_map])          # 3 images for 2 columns
    with pytest.raises(ValueError, match="3 column titles for 2 columns"):
        overlay_grid(image, [cam_map, cam_map], titles=["a", "b", "c"])
    with pytest.raises(ValueError, match="2 rows of 2"):
        overlay_grid(image, [[cam_map, cam_map]] * 2, titles=[["a", "b"], ["c"]])
    with pytest.raises(ValueError, match="1 row labels for 2 rows"):
        overlay_grid(image, [[cam_map, cam_map]] * 2, row_labels=["a"])
    with pytest.raises(ValueError, match=r"row 0: every cell must be an \(h, w\)"):
        overlay_grid(image, [[cam_map, torch.zeros(2, 4, 4)]])
    with pytest.raises(ValueError, match="rows, cols, h, w"):
        overlay_grid(image, torch.zeros(1, 1, 1, 4, 4))
    plt.close("all")


def test_overlay_grid_gives_each_cell_its_own_image():
    import matplotlib.pyplot as plt

    from cam_helpers.viz import overlay_grid

    images = torch.stack([torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)])     # (rows, cols, 3, H, W)
    figure = overlay_grid(images, torch.zeros(2, 2, 4, 4), alpha=0.0)
    assert [float(_drawn(ax).mean()) for ax in figure.axes] == [0.0, 0.0, 1.0, 1.0]  # alpha 0: the image itself
    by_row = overlay_grid(torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)]), torch.zeros(2, 3, 4, 4),
                          alpha=0.0, image_per="row")                               # (rows, 3, H, W)
    assert [float(_drawn(ax).mean()) for ax in by_row.axes] == [0.0] * 3 + [1.0] * 3
    by_column = overlay_grid(torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)]), torch.zeros(3, 2, 4, 4), alpha=0.0)
    assert [float(_drawn(ax).mean()) for ax in by_column.axes] == [0.0, 1.0] * 3
    with pytest.raises(ValueError, match="one per row"):
        overlay_grid(torch.zeros(2, 3, 4, 4), torch.zeros(3, 2, 4, 4), image_per="row")   # 2 images for 3 rows
    plt.close("all")
