"""Boxes from maps, and how well they match the true boxes.

Weakly supervised object localization (WSOL): a classifier trained only with
image labels is asked *where* the object is. CAM (Zhou et al., CVPR 2016) boxes the
largest connected region above 20% of the normalised map's range (:func:`boxes_from_maps`).
Choe et al. ("Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020)
showed that this threshold decides much of the score, and proposed scoring at the *best* one:

    MaxBoxAcc    = max over thresholds of  P(IoU(box, true box) >= 0.5)
    MaxBoxAccV2  = mean over delta in {0.3, 0.5, 0.7} of
                   max over thresholds of  P(IoU >= delta),
                   taking the best-matching box of *all* regions, not only the largest.

Both come from :func:`threshold_sweep` (``multi_contour=True`` for MaxBoxAccV2).

Box convention, used everywhere in this package: ``(x0, y0, x1, y1)`` in pixels, end exclusive.
The box covers ``x0 <= x < x1``, ``y0 <= y < y1``, i.e. ``mask[..., y0:y1, x0:x1]``, so its
width is ``x1 - x0`` (no "+1"). A box with no area, ``(0, 0, 0, 0)``, stands for "nothing found"
and has IoU 0 with anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torchvision.ops import box_iou as all_pairs_iou, masks_to_boxes

from .cam import normalize_maps, upsample_maps

__all__ = [
    "boxes_from_masks", "boxes_from_maps", "box_iou", "ThresholdSweep", "threshold_sweep",
    "center_box", "CenterBoxBaseline", "center_box_baseline", "mass_inside_boxes",
]

DEFAULT_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of boolean masks (torchvision's ``masks_to_boxes``, made end exclusive).

    masks (..., H, W) bool -> boxes (..., 4) long; ``0, 0, 0, 0`` for an empty mask.
    """
    flat = masks.reshape(-1, *masks.shape[-2:]).bool()  # (N, H, W)
    present = flat.flatten(1).any(dim=1)  # (N,) empty masks get the "nothing found" box
    boxes = torch.zeros(len(flat), 4, dtype=torch.long, device=masks.device)
    inclusive = masks_to_boxes(flat[present]).long()  # (n, 4): torchvision's x1, y1 are the last pixels
    boxes[present] = inclusive + torch.tensor([0, 0, 1, 1], device=masks.device)  # one past them
    return boxes.view(*masks.shape[:-2], 4)


def boxes_from_maps(
    maps: torch.Tensor,
    threshold: float = 0.2,
    *,
    image_size: int | tuple[int, int] | None = None,
    largest_region: bool = True,
) -> torch.Tensor:
    """CAM's boxes: threshold each normalised map, box its largest connected region.

    Args:
        maps: (B, h, w), e.g. (B, 8, 8) CAMs; any leading dims work.
        threshold: in [0, 1]. Each map is min-max normalised (:func:`cam_helpers.cam.normalize_maps`),
            so this keeps M >= min + threshold (max - min); 0.2 is the CAM paper's 20%.
        image_size: int or (H, W); maps are upsampled (bilinear) to it first, so boxes are in image pixels.
        largest_region: box only the largest 8-connected region (CAM; ties go to the first in
            reading order, like ``sizes.argmax()`` over ``scipy.ndimage.label``'s regions);
            if False, box all pixels above the threshold together.
    Returns:
        boxes: (B, 4) long in image pixels; ``0, 0, 0, 0`` when no pixel passes (a constant map).
    """
    foreground = _prepare_maps(maps, image_size) >= threshold  # (B, H, W)
    if largest_region:
        boxes = _Regions.find(foreground).largest_boxes().to(maps.device)
    else:
        boxes = boxes_from_masks(foreground)
    return boxes.view(*maps.shape[:-2], 4)


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of matching boxes (pairs, not all-against-all).

    boxes_a, boxes_b (N, 4), or any shapes that broadcast -> iou (N,) in [0, 1]; 0 when both are empty.
    For all pairs use ``torchvision.ops.box_iou`` (its area ``(x2 - x1) * (y2 - y1)`` fits our boxes).
    """
    a, b = boxes_a.float(), boxes_b.float()
    top_left = torch.maximum(a[..., :2], b[..., :2])  # (N, 2)
    bottom_right = torch.minimum(a[..., 2:], b[..., 2:])  # (N, 2)
    inter = (bottom_right - top_left).clamp_min(0).prod(dim=-1)  # (N,)
    union = _area(a) + _area(b) - inter
    return inter / union.clamp_min(1e-12)  # inter <= union, so two empty boxes give 0


class _IoUSweepScores:
    """Scores shared by a sweep of settings (thresholds or box sizes): needs ``ious (S, B)``
    and ``iou_thresholds``; S settings tried, B images."""

    ious: torch.Tensor
    iou_thresholds: tuple[float, ...]

    def accuracy_at(self, iou_threshold: float = 0.5) -> torch.Tensor:
        """(S,) box accuracy per setting: fraction of images with IoU >= ``iou_threshold``."""
        return (self.ious >= iou_threshold).float().mean(dim=1)

    @property
    def accuracy(self) -> torch.Tensor:
        """(I, S) box accuracy per IoU level and setting."""
        return torch.stack([self.accuracy_at(delta) for delta in self.iou_thresholds])

    @property
    def max_box_acc(self) -> float:
        """MaxBoxAcc: the best setting's accuracy at IoU >= 0.5 (a sweep boxes the largest region)."""
        self._check_rule(False, "MaxBoxAcc")
        return self.accuracy_at(0.5).max().item()

    @property
    def max_box_acc_v2(self) -> float:
        """MaxBoxAccV2: mean over the IoU levels of the best setting's accuracy (a sweep scores
        each map's best-matching region)."""
        self._check_rule(True, "MaxBoxAccV2")
        return self.accuracy.max(dim=1).values.mean().item()

    def _check_rule(self, multi_contour: bool, metric: str) -> None:
        """One centred box per image suits both metrics; a :class:`ThresholdSweep` checks its box rule."""

    def _best(self, settings: torch.Tensor) -> float:
        """The setting (S,) that gives :attr:`max_box_acc`; ties go to the higher mean IoU, then the first."""
        accuracy = self.accuracy_at(0.5)
        mean_iou = torch.where(accuracy == accuracy.max(), self.ious.mean(dim=1), -1.0)  # (S,)
        return settings[int(mean_iou.argmax())].item()


@dataclass
class ThresholdSweep(_IoUSweepScores):
    """Box IoUs of every map at every threshold, and the accuracies they give.

    Attributes:
        thresholds: (T,) map thresholds tried
        ious: (T, B) IoU of each map's box with its true box, per threshold
        iou_thresholds: the IoU levels reported (Choe et al.: 0.3, 0.5, 0.7)
        multi_contour: whether each map was scored by its best-matching region
            (MaxBoxAccV2's rule) rather than its largest one (CAM's, MaxBoxAcc's)
    """

    thresholds: torch.Tensor
    ious: torch.Tensor
    iou_thresholds: tuple[float, ...] = DEFAULT_IOU_THRESHOLDS
    multi_contour: bool = False

    def _check_rule(self, multi_contour: bool, metric: str) -> None:
        # The two metrics box a map differently; the other rule's number would look right and be wrong.
        if self.multi_contour != multi_contour:
            rule = "every region, the best-matching one" if multi_contour else "the largest region only"
            raise ValueError(
                f"{metric} boxes {rule}: sweep with threshold_sweep(..., multi_contour={multi_contour}). "
                "The accuracies of this sweep are in .accuracy and .accuracy_at(iou)."
            )

    @property
    def best_threshold(self) -> float:
        """The threshold that gives :attr:`max_box_acc`; ties: the higher mean IoU, then the lower one."""
        return self._best(self.thresholds)


def threshold_sweep(
    maps: torch.Tensor,
    gt_boxes: torch.Tensor,
    thresholds: torch.Tensor | Sequence[float] | None = None,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    *,
    image_size: int | tuple[int, int] | None = None,
    multi_contour: bool = False,
) -> ThresholdSweep:
    """Box IoUs at many thresholds, the raw material of MaxBoxAcc.

    Args:
        maps: (B, h, w); ``image_size`` as in :func:`boxes_from_maps`
        gt_boxes: (B, 4) true boxes in image pixels
        thresholds: (T,), default ``torch.linspace(0, 1, 101)``
        iou_thresholds: IoU levels the accuracies are reported at
        multi_contour: score the best-matching box among all regions
            (MaxBoxAccV2) instead of only the largest region (CAM, MaxBoxAcc).

    Cost: one ``scipy.ndimage.label`` per threshold, over all maps at once
    (maps on a GPU are copied to the CPU for it).
    """
    prepared = _prepare_maps(maps, image_size).cpu()  # (B, H, W); scipy labels the regions on the CPU
    thresholds = torch.as_tensor(torch.linspace(0, 1, 101) if thresholds is None else thresholds).float()
    gt = gt_boxes.cpu().view(-1, 4)
    ious = []
    for threshold in thresholds.tolist():  # a loop over thresholds, batched over maps
        regions = _Regions.find(prepared >= threshold)
        ious.append(regions.best_iou(gt) if multi_contour else box_iou(regions.largest_boxes(), gt))
    return ThresholdSweep(
        thresholds=thresholds,
        ious=torch.stack(ious),  # (T, B)
        iou_thresholds=tuple(map(float, iou_thresholds)),
        multi_contour=multi_contour,
    )


def center_box(image_size: int | tuple[int, int], fraction: float) -> torch.Tensor:
    """The (4,) long box centred in the image whose sides are ``fraction`` of the image's sides;
    ``fraction=0.5`` covers the central quarter of the area."""
    h, w = _pair(image_size)
    x0 = round(w * (1 - fraction) / 2)
    y0 = round(h * (1 - fraction) / 2)
    return torch.tensor([x0, y0, w - x0, h - y0])


@dataclass
class CenterBoxBaseline(_IoUSweepScores):
    """Scores of centred boxes of many sizes, the same box for every image.

    Attributes:
        fractions: (F,) side of the box as a fraction of the image side
        ious: (F, B) IoU with each true box
    """

    fractions: torch.Tensor
    ious: torch.Tensor
    iou_thresholds: tuple[float, ...]
    image_size: tuple[int, int]

    @property
    def best_fraction(self) -> float:
        """The box side (a fraction of the image side) giving :attr:`max_box_acc`; ties as for thresholds."""
        return self._best(self.fractions)

    @property
    def best_box(self) -> torch.Tensor:
        """(4,) the best centred box at IoU >= 0.5."""
        return center_box(self.image_size, self.best_fraction)


def center_box_baseline(
    gt_boxes: torch.Tensor,
    image_size: int | tuple[int, int],
    *,
    fractions: torch.Tensor | Sequence[float] | None = None,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
) -> CenterBoxBaseline:
    """The "no model" baseline: one centred box for every image, at its best size.

    Choe et al. (2020) report a *centre-Gaussian* baseline: a Gaussian bump in the middle of the
    image used as if it were a CAM, scored with the same threshold sweep. Its thresholds give
    centred boxes of different sizes, so its MaxBoxAcc is that of the best-sized centred box; we
    score those boxes (the image's aspect ratio, sides ``fraction * image side``) directly. The size
    is chosen looking at the test boxes, so the baseline is optimistic: a method should beat it clearly.

    Args:
        gt_boxes: (B, 4) true boxes
        fractions: (F,) sides to try, default ``torch.linspace(0.01, 1, 100)``
    """
    fractions = torch.as_tensor(torch.linspace(0.01, 1, 100) if fractions is None else fractions).float()
    size = _pair(image_size)
    candidates = torch.stack([center_box(size, f) for f in fractions.tolist()])  # (F, 4)
    gt = gt_boxes.view(-1, 4).cpu()
    ious = all_pairs_iou(candidates, gt).nan_to_num(0.0)  # (F, B) all pairs; 0/0 (two empty boxes) -> 0
    return CenterBoxBaseline(fractions, ious, tuple(map(float, iou_thresholds)), size)


def mass_inside_boxes(
    maps: torch.Tensor,
    boxes: torch.Tensor,
    *,
    image_size: int | tuple[int, int] | None = None,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Share of each map's positive mass that lies inside a box.

    This is the "energy-based pointing game" of Score-CAM (Wang et al., 2020):
    sum of ReLU(M) inside the box / sum of ReLU(M) everywhere. Use it to ask
    "how much of the evidence sits on the object?" (or on a spurious mark).

    Args:
        maps: (B, h, w), raw or normalised (only positive values count)
        boxes: (B, 4) or (4,) boxes in image pixels
        image_size: maps are upsampled to it first (``mode`` "bilinear" or "nearest")
    Returns:
        (B,) in [0, 1]; 0 for a map with no positive value.
    """
    maps = maps.float()
    if image_size is not None:
        maps = upsample_maps(maps.unsqueeze(1), image_size, mode=mode).squeeze(1)
    positive = maps.clamp_min(0)  # (B, H, W)
    h, w = positive.shape[-2:]
    boxes = boxes.to(positive.device).expand(len(positive), 4)  # (B, 4)
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))  # each (B, 1, 1)
    y = torch.arange(h, device=positive.device).view(h, 1)
    x = torch.arange(w, device=positive.device)
    inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)  # (B, H, W)
    within = (positive * inside).sum(dim=(-2, -1))
    return within / positive.sum(dim=(-2, -1)).clamp_min(1e-12)  # within <= total: 0 when there is no mass


def _prepare_maps(maps: torch.Tensor, image_size: int | tuple[int, int] | None) -> torch.Tensor:
    """(..., h, w) -> (B, H, W): leading dims flattened, upsampled to the image size, min-max normalised."""
    if maps.dim() < 2:
        raise ValueError(f"maps must be (B, h, w); got shape {tuple(maps.shape)}")
    flat = maps.float().reshape(-1, *maps.shape[-2:])  # (B, h, w)
    if image_size is not None:
        flat = upsample_maps(flat.unsqueeze(1), image_size).squeeze(1)  # (B, H, W)
    return normalize_maps(flat)


# 8-connectivity inside each map, never across maps of the batch: a (3, 3, 3)
# structure whose only non-zero plane is the middle one.
_EIGHT_NEIGHBOURS = np.zeros((3, 3, 3), dtype=bool)
_EIGHT_NEIGHBOURS[1] = True


@dataclass
class _Regions:
    """The 8-connected regions of a batch of masks, in ``scipy.ndimage.label``'s order
    (the reading order of their first pixels): one box, size and map per region.

    Attributes:
        boxes: (R, 4) int64 (from ``ndimage.find_objects``)
        sizes: (R,) pixel count of each region
        owner: (R,) which map each region belongs to
        batch: B, the number of maps
    """

    boxes: np.ndarray
    sizes: np.ndarray
    owner: np.ndarray
    batch: int

    @classmethod
    def find(cls, masks: torch.Tensor) -> _Regions:
        """masks (B, H, W) bool, on any device."""
        labels, count = ndimage.label(masks.cpu().numpy(), structure=_EIGHT_NEIGHBOURS)  # (B, H, W)
        slices = ndimage.find_objects(labels)  # R tuples of (map, rows, columns) slices
        boxes = [(x.start, y.start, x.stop, y.stop) for _, y, x in slices]
        boxes = np.array(boxes, dtype=np.int64).reshape(-1, 4)  # (R, 4)
        owner = np.array([b.start for b, _, _ in slices], dtype=np.int64)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]  # drop the background count
        return cls(boxes, sizes, owner, masks.shape[0])

    def largest_boxes(self) -> torch.Tensor:
        """(B, 4) box of each map's largest region (ties: the first); ``0, 0, 0, 0`` for a map without one."""
        order = np.lexsort((-self.sizes, self.owner))  # by map, then largest first; ties keep label order
        first = order[np.unique(self.owner[order], return_index=True)[1]]  # the head of each map's run
        boxes = np.zeros((self.batch, 4), dtype=np.int64)
        boxes[self.owner[first]] = self.boxes[first]
        return torch.from_numpy(boxes)

    def best_iou(self, gt_boxes: torch.Tensor) -> torch.Tensor:
        """(B,) IoU of the region box that best matches each map's true box (0 if no region)."""
        owner = torch.from_numpy(self.owner)
        iou = box_iou(torch.from_numpy(self.boxes), gt_boxes.index_select(0, owner))  # (R,)
        return torch.zeros(self.batch).scatter_reduce(0, owner, iou, reduce="amax")


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2:] - boxes[..., :2]).clamp_min(0).prod(dim=-1)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
