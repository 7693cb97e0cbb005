"""A generated dataset of shapes on cluttered backgrounds, with known object boxes.

Our sample photos do not come with the answer to "where is the object?" (ImageNet val, CUB and
OpenImages do, but are far too big for a laptop lesson), so we draw our own: one large shape per
image on a textured background with a few small distractor blobs. Because we drew it, we know its
pixel mask and its tight box, and can score how well a Class Activation Map finds it. An optional
*spurious cue* (a white corner square on almost every image of one class) lets a model "cheat",
and CAM shows it doing so.

Boxes follow :mod:`cam_helpers.localization`: ``(x0, y0, x1, y1)`` covers ``mask[y0:y1, x0:x1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .localization import boxes_from_masks

__all__ = ["SHAPE_NAMES", "SyntheticShapes", "make_shapes", "make_splits"]

SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

# Half the shape's extent, as a fraction of the image side: 14 to 28 pixels in a 64x64 image.
_SIZE_RANGE = (0.11, 0.22)
# Each image gets between 2 and this many small distractor blobs.
_MAX_DISTRACTORS = 6
# Generating in chunks keeps memory flat: the distractor masks of 1000 images at
# once would be (1000, 6, 64, 64) floats, about 100 MB.
_CHUNK = 256


@dataclass
class SyntheticShapes(Dataset):
    """Images with one labelled shape each, and where that shape is.

    Attributes:
        images: (N, 3, H, W) float in [0, 1]
        labels: (N,) long, index into ``class_names``
        boxes: (N, 4) long, tight box ``x0, y0, x1, y1`` of the drawn shape (end exclusive)
        masks: (N, H, W) bool, the pixels of the drawn shape
        has_cue: (N,) bool, whether the spurious corner mark is on the image
        cue_box: (4,) long, where the mark goes when present (same box convention)
        class_names: e.g. ``("circle", "square", ...)``

    Indexing gives ``(image (3, H, W), label)`` pairs, as a ``DataLoader`` expects.
    """

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    masks: torch.Tensor
    has_cue: torch.Tensor
    cue_box: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def subset(self, index: torch.Tensor | slice | Sequence[int]) -> SyntheticShapes:
        """A smaller dataset: the images picked by ``index`` (a slice, list or bool/long tensor)."""
        if not isinstance(index, slice):
            index = torch.as_tensor(index, device=self.labels.device)  # e.g. a mask made on the GPU
        per_image = ("images", "labels", "boxes", "masks", "has_cue")  # not cue_box, class_names
        return replace(self, **{name: getattr(self, name)[index] for name in per_image})


def make_shapes(
    num_images: int,
    *,
    seed: int = 0,
    image_size: int = 64,
    class_names: Sequence[str] = SHAPE_NAMES,
    spurious_cue: bool = False,
    cue_class: int = 0,
    cue_probability: float = 0.95,
    other_cue_probability: float = 0.0,
) -> SyntheticShapes:
    """Draw N = ``num_images`` images (N, 3, S, S) in [0, 1], bit for bit the same for the same ``seed``.

    Args:
        image_size: S = H = W in pixels; shape and mark sizes scale with it.
        class_names: any of ``SHAPE_NAMES``; the classes are balanced (N // K images each,
            the remainder spread over the first ones).
        spurious_cue: plant the corner mark (a white square of about 5x5 pixels, see ``cue_box``).
        cue_probability: chance that an image of ``cue_class`` carries the mark
            (how strongly the mark predicts the class).
        other_cue_probability: the same for every other class (equal: the mark says nothing).
    """
    unknown = [name for name in class_names if name not in SHAPE_NAMES]
    if unknown:
        raise ValueError(f"unknown shape names {unknown}; choose from {SHAPE_NAMES}")
    if spurious_cue and not 0 <= cue_class < len(class_names):
        raise ValueError(f"cue_class must lie in 0..{len(class_names) - 1}; got {cue_class}")
    n, s, d = num_images, image_size, _MAX_DISTRACTORS
    g = torch.Generator().manual_seed(seed)

    # Every random number is drawn up front, in a fixed order, so that the data depends only on the
    # seed (not on the chunk size used for drawing). Values per image are (N, 1, 1) and per blob
    # (N, D, 1, 1), to broadcast over the pixels.
    labels = (torch.arange(n) % len(class_names))[torch.randperm(n, generator=g)]  # (N,)
    half_size = s * _uniform(g, (n, 1, 1), *_SIZE_RANGE)  # half extent in pixels
    margin = half_size + 1
    draws = dict(
        shape_id=torch.tensor([SHAPE_NAMES.index(name) for name in class_names])[labels],  # (N,)
        half_size=half_size,
        centre_x=margin + (s - 2 * margin) * torch.rand(n, 1, 1, generator=g),
        centre_y=margin + (s - 2 * margin) * torch.rand(n, 1, 1, generator=g),
        object_colour=_bright_colours(g, n).view(n, 3, 1, 1),
        background_colour=_uniform(g, (n, 3, 1, 1), 0.1, 0.5),
        blotches=0.12 * torch.randn(n, 3, 6, 6, generator=g),  # low-frequency colour noise
        stripe_angle=_uniform(g, (n, 1, 1), 0, torch.pi),
        stripe_period=s * _uniform(g, (n, 1, 1), 0.06, 0.2),
        stripe_phase=_uniform(g, (n, 1, 1), 0, 2 * torch.pi),
        stripe_amplitude=_uniform(g, (n, 1, 1), 0.0, 0.1),
        grain=0.03 * torch.randn(n, 1, s, s, generator=g),  # pixel noise
        blob_on=(torch.arange(d) < torch.randint(2, d + 1, (n, 1), generator=g)).view(n, d, 1, 1),
        blob_x=s * torch.rand(n, d, 1, 1, generator=g),
        blob_y=s * torch.rand(n, d, 1, 1, generator=g),
        blob_radius=(s / 64) * _uniform(g, (n, d, 1, 1), 1.2, 2.8),
        blob_colour=_bright_colours(g, n * d).view(n, d, 3, 1, 1),
    )
    cue_chance = torch.where(labels == cue_class, cue_probability, other_cue_probability)
    has_cue = (torch.rand(n, generator=g) < cue_chance) & spurious_cue  # (N,)
    draws["has_cue"] = has_cue.view(n, 1, 1)

    cue_start = max(1, round(s / 64))
    cue_end = cue_start + max(3, round(5 * s / 64))
    cue_box = torch.tensor([cue_start, cue_start, cue_end, cue_end])
    cue_region = torch.zeros(s, s, dtype=torch.bool)
    cue_region[cue_start:cue_end, cue_start:cue_end] = True

    images = torch.empty(n, 3, s, s)
    masks = torch.empty(n, s, s, dtype=torch.bool)
    for start in range(0, n, _CHUNK):
        part = slice(start, start + _CHUNK)
        chunk = SimpleNamespace(**{name: value[part] for name, value in draws.items()})
        images[part], masks[part] = _paint(chunk, cue_region)

    boxes = boxes_from_masks(masks)  # (N, 4)
    return SyntheticShapes(images, labels, boxes, masks, has_cue, cue_box, tuple(class_names))


def _paint(draws: SimpleNamespace, cue_region: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (m, 3, S, S) and object masks (m, S, S) from one chunk of ``make_shapes``' random draws.

    ``draws`` holds m images' values, shaped to broadcast over the pixels: (m, 1, 1) per image,
    (m, 3, 1, 1) per colour, (m, D, 1, 1) per blob and (m, D, 3, 1, 1) per blob colour.
    """
    s = cue_region.shape[0]
    centres = torch.arange(s, dtype=torch.float32) + 0.5  # pixel i spans [i, i + 1)
    y, x = centres.view(-1, 1), centres.view(1, -1)  # (S, 1), (1, S)

    # Background: base colour + blotches + stripes + grain, all (m, 3, S, S).
    blotches = F.interpolate(draws.blotches, size=(s, s), mode="bicubic", align_corners=False)
    image = draws.background_colour + blotches
    angle = draws.stripe_angle
    along = x * torch.cos(angle) + y * torch.sin(angle)  # (m, S, S) position across the stripes
    stripes = torch.sin(2 * torch.pi * along / draws.stripe_period + draws.stripe_phase)
    image += (draws.stripe_amplitude * stripes).unsqueeze(1)
    image += draws.grain

    # Distractors: small round blobs, painted one slot at a time for the whole chunk.
    for d in range(_MAX_DISTRACTORS):
        squared_distance = (x - draws.blob_x[:, d]) ** 2 + (y - draws.blob_y[:, d]) ** 2  # (m, S, S)
        blob = (squared_distance <= draws.blob_radius[:, d] ** 2) & draws.blob_on[:, d]
        image = torch.where(blob.unsqueeze(1), draws.blob_colour[:, d], image)

    # The object goes on top of the clutter, so its mask is exactly what we see.
    offset_x, offset_y = x - draws.centre_x, y - draws.centre_y  # (m, S, S) from the shape's centre
    shape_mask = _shape_masks(draws.shape_id, offset_x, offset_y, draws.half_size)  # (m, S, S)
    image = torch.where(shape_mask.unsqueeze(1), draws.object_colour, image)

    # The cue is a mark on top of everything; the few object pixels it hides
    # are no longer part of the visible object.
    cue_here = cue_region & draws.has_cue  # (m, S, S)
    image = torch.where(cue_here.unsqueeze(1), torch.ones(()), image)
    return image.clamp_(0, 1), shape_mask & ~cue_here


def make_splits(
    seed: int = 0,
    *,
    num_train: int = 2000,
    num_test: int = 500,
    spurious_cue: bool = False,
    cue_class: int = 0,
    cue_probability: float = 0.95,
    test_cue: str = "absent",
    **options,
) -> tuple[SyntheticShapes, SyntheticShapes]:
    """(train, test), drawn from two seeds derived from ``seed`` (the splits never share images).

    ``spurious_cue``, ``cue_class``, ``cue_probability`` set the corner mark in training, and
    ``**options`` go to :func:`make_shapes` for both splits. ``test_cue`` is where the mark goes in
    the test split, when ``spurious_cue``: ``"absent"`` (no mark anywhere), ``"same"`` (the
    training rule), or ``"random"`` (on half of the images, whatever their class).
    """
    cue = dict(spurious_cue=spurious_cue, cue_class=cue_class, cue_probability=cue_probability)
    test_rules = {
        "absent": dict(spurious_cue=False),
        "same": cue,
        "random": dict(cue, cue_probability=0.5, other_cue_probability=0.5),
    }
    if test_cue not in test_rules:
        raise ValueError(f"test_cue must be 'absent', 'same' or 'random'; got {test_cue!r}")
    g = torch.Generator().manual_seed(seed)
    train_seed, test_seed = torch.randint(2**62, (2,), generator=g).tolist()
    train = make_shapes(num_train, seed=train_seed, **cue, **options)
    test = make_shapes(num_test, seed=test_seed, **test_rules[test_cue], **options)
    return train, test


def _shape_masks(ids: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Pixel masks (m, S, S) of each image's shape: ``ids`` (m,) index ``SHAPE_NAMES``; ``dx``, ``dy``
    (m, S, S) are each pixel's offsets from the shape's centre, ``r`` (m, 1, 1) its half extent."""
    circle = dx**2 + dy**2 <= r**2
    square = torch.maximum(dx.abs(), dy.abs()) <= 0.8 * r
    # Apex at the top, base at the bottom: half-width grows from 0 to r.
    triangle = (dy >= -r) & (dy <= r) & (dx.abs() <= (dy + r) / 2)
    arm = r / 3
    cross = ((dx.abs() <= r) & (dy.abs() <= arm)) | ((dy.abs() <= r) & (dx.abs() <= arm))
    all_shapes = torch.stack([circle, square, triangle, cross], dim=1)  # (m, 4, S, S)
    return all_shapes[torch.arange(len(ids)), ids]  # (m, S, S)


def _uniform(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _bright_colours(g: torch.Generator, n: int) -> torch.Tensor:
    """(n, 3) saturated colours whose brightest channel is 1, so they stand out
    from the darker background whatever their hue (colour alone never tells the class)."""
    colour = torch.rand(n, 3, generator=g)
    return colour / colour.max(dim=1, keepdim=True).values
