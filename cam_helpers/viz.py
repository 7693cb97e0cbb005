"""Drawing maps on images with matplotlib. RGB throughout, values in [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .cam import upsample_maps
from .images import to_display_array

__all__ = ["overlay", "colorize", "show_overlay", "overlay_grid", "explanation_grid", "draw_box"]


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


def overlay_grid(
    images, maps, *, titles=None, row_labels=None, title: str | None = None, image_per: str = "column",
    alpha: float = 0.5, cmap: str = "jet", vmin: float = 0.0, vmax: float = 1.0,
    upsample: str = "bilinear", empty_text: str = "no map", cell_size: float = 2.0, fontsize: int = 9,
):
    """A grid of overlays, rows x cols, each cell drawn as :func:`overlay` draws it; returns the figure.

    Args:
        images: the pictures under the maps, values in [0, 1]. One image, a (3, H, W) tensor or
            anything :func:`overlay` accepts, goes under every cell; a stack (cols, 3, H, W) puts
            image j under column j (or a stack (rows, 3, H, W) with ``image_per="row"``: image i
            under row i); a stack (rows, cols, 3, H, W) gives every cell its own image.
        maps: rows x cols maps: a tensor (rows, cols, h, w), or (cols, h, w) for one row, or a
            list of rows, each a list of (h, w) maps (a flat list of maps is one row). ``None``
            leaves a cell empty, with ``empty_text`` written in it. A map smaller than its image
            (e.g. 7x7 under 224x224) is upsampled to the image's size first
            (:func:`cam_helpers.cam.upsample_maps`, ``mode=upsample``).
        titles: a title per cell (a list of rows like ``maps``; ``None`` or "" for none), or a
            flat list with one title per column, written over the top row.
        row_labels: one label per row, written left of the row.
        title: the figure's title.
        image_per: "column" or "row": how a stack of N images is laid out (see ``images``).
        alpha, cmap, vmin, vmax: as in :func:`overlay`; one colour scale for every cell.
        cell_size, fontsize: inches per cell (the figure grows with the rows, columns and the lines
            of the titles) and the titles' font size.

    Returns:
        The matplotlib figure, laid out by matplotlib's constrained layout (no ``tight_layout``
        needed), cells without ticks or frame. Its ``axes`` are the cells, row by row, so more can
        be drawn afterwards: ``for ax, box in zip(figure.axes, boxes): draw_box(ax, box)``.
    """
    import matplotlib.pyplot as plt

    grid = _map_rows(maps)  # rows x cols, each an (h, w) map or None
    rows, cols = len(grid), len(grid[0])
    pictures = _image_grid(images, rows, cols, image_per)  # rows x cols of (H, W, 3) arrays
    cell_titles = _title_grid(titles, rows, cols)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows of maps")

    # Each cell is cell_size inches square, plus room for its title lines and the row labels.
    line = fontsize * 1.4 / 72  # inches per line of text
    title_lines = [max((str(t).count("\n") + 1 if t else 0) for t in row) for row in cell_titles]
    label_lines = max((str(label).count("\n") + 1 for label in row_labels), default=0) if row_labels else 0
    width = cell_size * cols + label_lines * line
    height = sum(cell_size + lines * line for lines in title_lines) + (2 * line if title else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, layout="constrained")
    for row in range(rows):
        for col in range(cols):
            ax, cam_map, picture = axes[row, col], grid[row][col], pictures[row][col]
            if cam_map is None:  # an empty frame of the image's shape, so that the grid stays even
                ax.set(xlim=(0, picture.shape[1]), ylim=(picture.shape[0], 0), aspect="equal")
                ax.text(0.5, 0.5, empty_text, ha="center", va="center", fontsize=fontsize - 1, transform=ax.transAxes)
            else:
                cam_map = _fit_to_image(cam_map, picture.shape[:2], upsample)  # (H, W)
                ax.imshow(overlay(picture, cam_map, alpha=alpha, cmap=cmap, vmin=vmin, vmax=vmax))
            # Ticks and frame off, but not ax.set_axis_off(): that would hide the row label too.
            ax.set_xticks([]), ax.set_yticks([])
            ax.spines[:].set_visible(False)
            if cell_titles[row][col]:
                ax.set_title(cell_titles[row][col], fontsize=fontsize)
        if row_labels is not None:
            axes[row, 0].set_ylabel(row_labels[row], fontsize=fontsize - 1)
    if title:
        fig.suptitle(title, fontsize=max(fontsize + 1, 10))
    return fig


def _is_one_map(item) -> bool:
    """An empty cell (None) or one (h, w) map, a tensor or array; a list is a row."""
    return item is None or getattr(item, "ndim", None) == 2


def _map_rows(maps) -> list[list]:
    """``maps`` as overlay_grid takes them -> a list of rows, every row the same length."""
    if isinstance(maps, (torch.Tensor, np.ndarray)):
        if maps.ndim not in (2, 3, 4):
            raise ValueError(f"maps must be (rows, cols, h, w), (cols, h, w) or (h, w); got shape {tuple(maps.shape)}")
        maps = maps.reshape(-1, *maps.shape[-3:]) if maps.ndim == 4 else maps.reshape(1, -1, *maps.shape[-2:])
        return [list(row) for row in maps]
    maps = list(maps)
    grid = [maps] if all(_is_one_map(item) for item in maps) else [list(row) for row in maps]
    if not grid or not grid[0]:
        raise ValueError("overlay_grid needs at least one map (or None) to draw")
    for number, row in enumerate(grid):
        if len(row) != len(grid[0]):
            raise ValueError(
                f"row {number} has {len(row)} maps but row 0 has {len(grid[0])}: every row needs the "
                "same number of columns (None for an empty cell)"
            )
        odd = [item for item in row if not _is_one_map(item)]
        if odd:
            raise ValueError(f"row {number}: every cell must be an (h, w) tensor or array, or None; got {odd[0]!r:.60}")
    return grid


def _image_grid(images, rows: int, cols: int, image_per: str) -> list[list[np.ndarray]]:
    """One image, one per column (or row) or one per cell -> rows x cols of (H, W, 3) arrays."""
    if image_per not in ("column", "row"):
        raise ValueError(f"image_per must be 'column' or 'row'; got {image_per!r}")
    depth = images.ndim if isinstance(images, (torch.Tensor, np.ndarray)) else 3  # a PIL image or a path: one
    if depth == 3:
        picture = to_display_array(images)  # (H, W, 3)
        return [[picture] * cols for _ in range(rows)]
    if depth == 4 and len(images) == (cols if image_per == "column" else rows):
        pictures = [to_display_array(image) for image in images]  # N x (H, W, 3)
        return [pictures for _ in range(rows)] if image_per == "column" else [[p] * cols for p in pictures]
    if depth == 5 and tuple(images.shape[:2]) == (rows, cols):
        return [[to_display_array(image) for image in row] for row in images]
    raise ValueError(
        f"images of shape {tuple(images.shape)} do not fit {rows} x {cols} maps: give one image (3, H, W), "
        f"one per {image_per} ({cols if image_per == 'column' else rows}, 3, H, W) or one per cell "
        f"({rows}, {cols}, 3, H, W)"
    )


def _title_grid(titles, rows: int, cols: int) -> list[list]:
    """Titles per cell, or one per column for the top row -> rows x cols (None where there is none)."""
    if titles is None:
        return [[None] * cols for _ in range(rows)]
    titles = list(titles)
    if all(title is None or isinstance(title, str) for title in titles):  # one per column
        if len(titles) != cols:
            raise ValueError(f"{len(titles)} column titles for {cols} columns")
        return [titles] + [[None] * cols for _ in range(rows - 1)]
    if len(titles) != rows or any(len(row) != cols for row in titles):
        raise ValueError(f"titles must be {rows} rows of {cols}, like the maps")
    return [list(row) for row in titles]


def _fit_to_image(cam_map, size: tuple[int, int], mode: str) -> np.ndarray:
    """An (h, w) map -> (H, W) at the image's size, upsampled when it is smaller."""
    values = _to_hw(cam_map)  # (h, w)
    if values.shape == tuple(size):
        return values
    if values.shape[0] > size[0] or values.shape[1] > size[1]:
        raise ValueError(f"a {values.shape} map is larger than its {tuple(size)} image: pair each map with its own image")
    big = upsample_maps(torch.from_numpy(values)[None, None], size, mode=mode)  # (1, 1, H, W)
    return big[0, 0].numpy()


def explanation_grid(result, images=None, *, image_index: int = 0, alpha: float = 0.5, cmap: str = "jet"):
    """A figure for one image: the image, then for each explained class the map and the overlay.

    ``result`` is an :class:`cam_helpers.explain.Explanation`; ``images`` (B, 3, H, W) in [0, 1]
    default to ``result.display_images`` (the model inputs with normalisation undone).
    Returns the matplotlib figure (rows: classes; columns: image, map, overlay).
    """
    import matplotlib.pyplot as plt

    picture = (result.display_images if images is None else images)[image_index]  # (3, H, W)
    maps = result.upsampled(tuple(picture.shape[-2:]))[image_index]  # (n, H, W) in [0, 1]
    n = maps.shape[0]
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for row in range(n):
        name = result.class_names[image_index][row]
        prob = float(result.class_probabilities[image_index, row])
        cam_map = maps[row]  # (H, W)
        axes[row, 0].imshow(to_display_array(picture))
        axes[row, 0].set_title("image", fontsize=10)
        axes[row, 1].imshow(_to_hw(cam_map), cmap=cmap, vmin=0, vmax=1)
        axes[row, 1].set_title(f"CAM: {name}", fontsize=10)
        show_overlay(picture, cam_map, ax=axes[row, 2], title=f"{name} ({prob:.1%})", alpha=alpha, cmap=cmap)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig
