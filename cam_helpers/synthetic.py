"""A generated dataset of shapes on cluttered backgrounds, with known object boxes.

Our sample photos do not come with the answer to "where is the object?" (ImageNet
val, CUB and OpenImages do, but they are far too big for a laptop lesson), so we draw
our own: one large shape per image (circle, square, triangle or cross), at a
random position, size and colour, on a textured background with a few small
distractor blobs. Because we drew it, we know its pixel mask and its tight box,
and can score how well a Class Activation Map finds it.

Optionally a *spurious cue* is planted: a small white square in the top-left
corner that appears on (almost) every image of one class in training. A model
can then "cheat" by looking at the corner, and CAM shows it doing so.

Everything is generated from a seed with a ``torch.Generator``: the same seed
gives the same images, bit for bit.

Box convention (shared with :mod:`cam_helpers.localization`): a box
``(x0, y0, x1, y1)`` covers the pixels ``x0 <= x < x1`` and ``y0 <= y < y1``,
i.e. ``mask[y0:y1, x0:x1]``; its width is ``x1 - x0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .localization import boxes_from_masks

__all__ = ["SHAPE_NAMES", "SyntheticShapes", "make_shapes", "make_splits"]

SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

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
        class_names: names of the classes, e.g. ``("circle", "square", ...)``

    Indexing gives ``(image (3, H, W), label)`` pairs, so it also works with a
    ``torch.utils.data.DataLoader``.
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

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images."""
        return (self.images.shape[-2], self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: torch.Tensor | slice | Sequence[int]) -> SyntheticShapes:
        """A smaller dataset: the images picked by ``index`` (a slice, list or bool/long tensor)."""
        if not isinstance(index, slice):
            index = torch.as_tensor(index, device=self.labels.device)
        return replace(
            self,
            images=self.images[index],
            labels=self.labels[index],
            boxes=self.boxes[index],
            masks=self.masks[index],
            has_cue=self.has_cue[index],
        )

    def to(self, device: torch.device | str) -> SyntheticShapes:
        """The same dataset with every tensor on ``device``."""
        return replace(
            self,
            images=self.images.to(device),
            labels=self.labels.to(device),
            boxes=self.boxes.to(device),
            masks=self.masks.to(device),
            has_cue=self.has_cue.to(device),
            cue_box=self.cue_box.to(device),
        )


def make_shapes(
    num_images: int,
    *,
    seed: int = 0,
    image_size: int = 64,
    class_names: Sequence[str] = SHAPE_NAMES,
    size_range: tuple[float, float] = (0.11, 0.22),
    max_distractors: int = 6,
    spurious_cue: bool = False,
    cue_class: int = 0,
    cue_probability: float = 0.95,
    other_cue_probability: float = 0.0,
) -> SyntheticShapes:
    """Draw ``num_images`` images of shapes, deterministically from ``seed``.

    Args:
        num_images: N.
        seed: the same seed gives identical data.
        image_size: H = W in pixels (64 by default; sizes scale with it).
        class_names: which shapes to draw, any of ``SHAPE_NAMES``; the classes
            are balanced (N // K images each, the remainder spread over the first ones).
        size_range: half the shape's extent, as a fraction of ``image_size``
            (0.11-0.22 gives shapes of 14 to 28 pixels in a 64x64 image).
        max_distractors: each image gets between 2 and this many small blobs.
        spurious_cue: plant the corner mark (a white square of about 5x5 pixels
            at the top-left, see ``cue_box``).
        cue_class: the class the mark goes with.
        cue_probability: chance that an image of ``cue_class`` carries the mark
            (how strongly the mark predicts the class).
        other_cue_probability: chance that an image of any other class carries it.
            For a test split where the mark says nothing about the class, set
            both probabilities to the same value (e.g. 0.5); for a split without
            it, leave ``spurious_cue=False``.

    Returns:
        a :class:`SyntheticShapes` with images (N, 3, S, S) in [0, 1].
    """
    unknown = [name for name in class_names if name not in SHAPE_NAMES]
    if unknown:
        raise ValueError(f"unknown shape names {unknown}; choose from {SHAPE_NAMES}")
    if spurious_cue and not 0 <= cue_class < len(class_names):
        raise ValueError(f"cue_class must lie in 0..{len(class_names) - 1}; got {cue_class}")
    shape_ids = torch.tensor([SHAPE_NAMES.index(name) for name in class_names])
    n, s = num_images, image_size
    g = torch.Generator().manual_seed(seed)

    # Every random number is drawn up front, in a fixed order, so that the data
    # depends only on the seed (not on the chunk size used for drawing).
    labels = (torch.arange(n) % len(class_names))[torch.randperm(n, generator=g)]  # (N,)
    half_size = s * _uniform(g, (n,), *size_range)  # (N,) half extent in pixels
    margin = half_size + 1
    centre_x = margin + (s - 2 * margin) * torch.rand(n, generator=g)  # (N,)
    centre_y = margin + (s - 2 * margin) * torch.rand(n, generator=g)
    object_colour = _bright_colours(g, n)  # (N, 3)

    background_colour = _uniform(g, (n, 3), 0.1, 0.5)  # (N, 3)
    blotches = 0.12 * torch.randn(n, 3, 6, 6, generator=g)  # low-frequency colour noise
    stripe_angle = _uniform(g, (n,), 0, torch.pi)
    stripe_period = s * _uniform(g, (n,), 0.06, 0.2)
    stripe_phase = _uniform(g, (n,), 0, 2 * torch.pi)
    stripe_amplitude = _uniform(g, (n,), 0.0, 0.1)
    grain = 0.03 * torch.randn(n, 1, s, s, generator=g)  # pixel noise

    distractor_on = torch.arange(max_distractors) < torch.randint(
        2, max_distractors + 1, (n, 1), generator=g
    )  # (N, D)
    distractor_x = s * torch.rand(n, max_distractors, generator=g)
    distractor_y = s * torch.rand(n, max_distractors, generator=g)
    distractor_radius = (s / 64) * _uniform(g, (n, max_distractors), 1.2, 2.8)
    distractor_colour = _bright_colours(g, n * max_distractors).view(n, max_distractors, 3)

    cue_chance = torch.where(labels == cue_class, cue_probability, other_cue_probability)
    has_cue = (torch.rand(n, generator=g) < cue_chance) & spurious_cue  # (N,)

    cue_side = max(3, round(5 * s / 64))
    cue_start = max(1, round(s / 64))
    cue_box = torch.tensor([cue_start, cue_start, cue_start + cue_side, cue_start + cue_side])

    images = torch.empty(n, 3, s, s)
    masks = torch.empty(n, s, s, dtype=torch.bool)
    y, x = _pixel_centres(s)  # (S, 1), (1, S)
    cue_region = torch.zeros(s, s, dtype=torch.bool)
    cue_region[cue_box[1] : cue_box[3], cue_box[0] : cue_box[2]] = True
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        m = part.stop - part.start

        # Background: base colour + blotches + stripes + grain, all (m, 3, S, S).
        image = background_colour[part, :, None, None].expand(m, 3, s, s).clone()
        image += F.interpolate(blotches[part], size=(s, s), mode="bicubic", align_corners=False)
        along = x * torch.cos(stripe_angle[part]).view(m, 1, 1) + y * torch.sin(
            stripe_angle[part]
        ).view(m, 1, 1)  # (m, S, S) position across the stripes
        stripes = torch.sin(2 * torch.pi * along / stripe_period[part].view(m, 1, 1) + stripe_phase[part].view(m, 1, 1))
        image += (stripe_amplitude[part].view(m, 1, 1) * stripes).unsqueeze(1)
        image += grain[part]

        # Distractors: small round blobs, painted one slot at a time for the whole chunk.
        for d in range(max_distractors):
            blob = (x - distractor_x[part, d].view(m, 1, 1)) ** 2 + (
                y - distractor_y[part, d].view(m, 1, 1)
            ) ** 2 <= distractor_radius[part, d].view(m, 1, 1) ** 2  # (m, S, S)
            blob &= distractor_on[part, d].view(m, 1, 1)
            image = torch.where(blob.unsqueeze(1), distractor_colour[part, d, :, None, None], image)

        # The object goes on top of the clutter, so its mask is exactly what we see.
        shape_mask = _shape_masks(
            shape_ids[labels[part]],
            centre_x[part].view(m, 1, 1),
            centre_y[part].view(m, 1, 1),
            half_size[part].view(m, 1, 1),
            x,
            y,
        )  # (m, S, S)
        image = torch.where(shape_mask.unsqueeze(1), object_colour[part, :, None, None], image)

        # The cue is a mark on top of everything; the few object pixels it hides
        # are no longer part of the visible object.
        cue_here = cue_region & has_cue[part].view(m, 1, 1)  # (m, S, S)
        image = torch.where(cue_here.unsqueeze(1), torch.ones(()), image)
        shape_mask &= ~cue_here

        images[part] = image.clamp_(0, 1)
        masks[part] = shape_mask

    return SyntheticShapes(
        images=images,
        labels=labels,
        boxes=boxes_from_masks(masks),
        masks=masks,
        has_cue=has_cue,
        cue_box=cue_box,
        class_names=tuple(class_names),
    )


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
    """A training and a test set, drawn from two seeds derived from ``seed``.

    Args:
        seed: one number for both splits (they never share images).
        num_train, num_test: sizes of the splits.
        spurious_cue, cue_class, cue_probability: the corner mark in training,
            see :func:`make_shapes`.
        test_cue: where the mark goes in the test split, when ``spurious_cue``:
            ``"absent"`` (no mark anywhere), ``"same"`` (the training rule), or
            ``"random"`` (on half of the images, whatever their class).
        **options: passed to :func:`make_shapes` for both splits
            (``image_size``, ``class_names``, ...).

    Returns:
        (train, test)
    """
    if test_cue not in ("absent", "same", "random"):
        raise ValueError(f"test_cue must be 'absent', 'same' or 'random'; got {test_cue!r}")
    g = torch.Generator().manual_seed(seed)
    train_seed, test_seed = torch.randint(2**62, (2,), generator=g).tolist()
    train = make_shapes(
        num_train,
        seed=train_seed,
        spurious_cue=spurious_cue,
        cue_class=cue_class,
        cue_probability=cue_probability,
        **options,
    )
    if not spurious_cue or test_cue == "absent":
        test_rule = dict(spurious_cue=False)
    elif test_cue == "same":
        test_rule = dict(spurious_cue=True, cue_class=cue_class, cue_probability=cue_probability)
    else:
        test_rule = dict(
            spurious_cue=True, cue_class=cue_class, cue_probability=0.5, other_cue_probability=0.5
        )
    test = make_shapes(num_test, seed=test_seed, **test_rule, **options)
    return train, test


def _shape_masks(
    shape_ids: torch.Tensor,
    centre_x: torch.Tensor,
    centre_y: torch.Tensor,
    half_size: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """Pixel masks (m, S, S) of each image's shape; ids index ``SHAPE_NAMES``."""
    dx, dy = x - centre_x, y - centre_y  # (m, S, S)
    r = half_size
    circle = dx**2 + dy**2 <= r**2
    square = torch.maximum(dx.abs(), dy.abs()) <= 0.8 * r
    # Apex at the top, base at the bottom: half-width grows from 0 to r.
    triangle = (dy >= -r) & (dy <= r) & (dx.abs() <= (dy + r) / 2)
    arm = r / 3
    cross = ((dx.abs() <= r) & (dy.abs() <= arm)) | ((dy.abs() <= r) & (dx.abs() <= arm))
    all_shapes = torch.stack([circle, square, triangle, cross], dim=1)  # (m, 4, S, S)
    return all_shapes[torch.arange(len(shape_ids)), shape_ids]  # (m, S, S)


def _pixel_centres(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates of pixel centres: y (S, 1) and x (1, S); pixel i spans [i, i+1)."""
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    return centres.view(-1, 1), centres.view(1, -1)


def _uniform(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _bright_colours(g: torch.Generator, n: int) -> torch.Tensor:
    """(n, 3) saturated colours whose brightest channel is 1, so they stand out
    from the darker background whatever their hue (colour alone never tells the class)."""
    colour = torch.rand(n, 3, generator=g)
    return colour / colour.max(dim=1, keepdim=True).values
