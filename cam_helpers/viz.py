"""Drawing maps on images with matplotlib. RGB throughout, values in [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .images import to_display_array

__all__ = ["overlay", "colorize", "show_overlay", "explanation_grid", "draw_box"]


def _to_hw(cam_map) -> np.ndarray:
    if isinstance(cam_map, torch.Tensor):
        cam_map = cam_map.detach().float().cpu().numpy()
    cam_map = np.asarray(cam_map, dtype=np.float32).squeeze()
    if cam_map.ndim != 2:
        raise ValueError(f"a map must be 2D (H, W); got shape {cam_map.shape}")
    return cam_map


def colorize(cam_map, cmap: str = "jet", vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """A map (H, W) -> RGB colours (H, W, 3) in [0, 1] through a matplotlib colormap.

    matplotlib's colormaps return RGB, so no BGR/RGB swap is ever needed here
    (that swap is an OpenCV habit and a classic source of blue dogs).
    """
    values = _to_hw(cam_map)
    scaled = np.clip((values - vmin) / (vmax - vmin if vmax > vmin else 1.0), 0.0, 1.0)  # (H, W)
    return matplotlib.colormaps[cmap](scaled)[..., :3].astype(np.float32)


def overlay(
    image, cam_map, *, alpha: float = 0.5, cmap: str = "jet", vmin: float = 0.0, vmax: float = 1.0
) -> np.ndarray:
    """Blend ``image`` with the coloured map: (1 - alpha) * image + alpha * colours.

    ``image``: anything :func:`cam_helpers.images.to_display_array` accepts (PIL image, (3, H, W)
    tensor or (H, W, 3) array in [0, 1]); ``cam_map``: (H, W), the image's size, values in
    [vmin, vmax]. Returns an (H, W, 3) float array in [0, 1].
    """
    picture = to_display_array(image)  # (H, W, 3) float in [0, 1]
    colours = colorize(cam_map, cmap, vmin, vmax)
    if colours.shape[:2] != picture.shape[:2]:
        raise ValueError(
            f"the map is {colours.shape[:2]} but the image is {picture.shape[:2]}: upsample the "
            "map to the image size first (cam_helpers.cam.upsample_maps)"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha}")
    return (1.0 - alpha) * picture + alpha * colours


def draw_box(ax, box: Sequence[float], *, color: str = "white", label: str | None = None) -> None:
    """Draw an (x0, y0, x1, y1) box in pixel coordinates on a matplotlib axis."""
    x0, y0, x1, y1 = [float(v) for v in box]
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=2))
    if label:
        ax.text(x0 + 2, y0 + 2, label, color=color, fontsize=9, va="top")


def show_overlay(
    image, cam_map, *, ax=None, title: str | None = None,
    alpha: float = 0.5, cmap: str = "jet", vmin: float = 0.0, vmax: float = 1.0,
):
    """Draw the overlay on ``ax`` (a new figure when None) and return the axis.

    ``vmin``/``vmax`` set the colour scale: keep the defaults for normalised maps, or
    pass one shared range for raw maps of several classes to compare them honestly.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(overlay(image, cam_map, alpha=alpha, cmap=cmap, vmin=vmin, vmax=vmax))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def explanation_grid(result, images=None, *, image_index: int = 0, alpha: float = 0.5, cmap: str = "jet"):
    """A figure for one image: the image, then for each explained class the map and the overlay.

    ``result`` is an :class:`cam_helpers.explain.Explanation`; ``images`` (B, 3, H, W) in [0, 1]
    default to ``result.display_images`` (the model inputs with normalisation undone).
    Returns the matplotlib figure (rows: classes; columns: image, map, overlay).
    """
    import matplotlib.pyplot as plt

    picture = (result.display_images if images is None else images)[image_index]  # (3, H, W)
    n = result.maps.shape[1]
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for row in range(n):
        name = result.class_names[image_index][row]
        prob = float(result.class_probabilities[image_index, row])
        cam_map = result.maps[image_index, row]
        axes[row, 0].imshow(to_display_array(picture))
        axes[row, 0].set_title("image", fontsize=10)
        axes[row, 1].imshow(_to_hw(cam_map), cmap=cmap, vmin=0, vmax=1)
        axes[row, 1].set_title(f"CAM: {name}", fontsize=10)
        show_overlay(picture, cam_map, ax=axes[row, 2], title=f"{name} ({prob:.1%})", alpha=alpha, cmap=cmap)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig
