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

Both come from :func:`threshold_sweep` (``multi_contour=True`` for MaxBoxAccV2). To compare methods
or layers fairly, Choe et al. choose each IoU level's threshold on a validation split and score the
test split with it: :func:`tuned_box_hits`.

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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torchvision.ops import box_iou as all_pairs_iou, masks_to_boxes

from .cam import normalize_maps, upsample_maps

__all__ = [
    "boxes_from_masks", "boxes_from_maps", "box_iou", "ThresholdSweep", "threshold_sweep", "tuned_box_hits",
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

    Cost: the regions of all thresholds come from one pass over the pixels, brightest first
    (:meth:`_Regions.sweep`), instead of one ``scipy.ndimage.label`` per threshold; the boxes and
    IoUs are exactly those of labelling each threshold's masks on their own. Maps on a GPU are
    copied to the CPU for it.
    """
    prepared = _prepare_maps(maps, image_size).cpu()  # (B, H, W); the regions are found on the CPU
    thresholds = torch.as_tensor(torch.linspace(0, 1, 101) if thresholds is None else thresholds).float()
    gt = gt_boxes.cpu().view(-1, 4)
    regions = _Regions.sweep(prepared, thresholds)  # one "map" per (threshold, map) pair: T * B of them
    gt_per_pair = gt.repeat(len(thresholds), 1)  # (T * B, 4): threshold-major, like the pairs
    if multi_contour:
        ious = regions.best_iou(gt_per_pair)  # (T * B,)
    else:
        ious = box_iou(regions.largest_boxes(), gt_per_pair)
    return ThresholdSweep(
        thresholds=thresholds,
        ious=ious.view(len(thresholds), len(gt)),  # (T, B)
        iou_thresholds=tuple(map(float, iou_thresholds)),
        multi_contour=multi_contour,
    )


def tuned_box_hits(
    val_maps: torch.Tensor,
    val_boxes: torch.Tensor,
    test_maps: torch.Tensor,
    test_boxes: torch.Tensor,
    thresholds: torch.Tensor | Sequence[float] | None = None,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    *,
    image_size: int | tuple[int, int] | None = None,
    multi_contour: bool = True,
) -> torch.Tensor:
    """Box hits of each test image, with each IoU level's threshold chosen on the validation split.

    Choe et al.'s protocol for comparing methods: a threshold chosen on the images that are
    scored would flatter every method, so for each IoU level (0.3, 0.5, 0.7) the threshold with the
    best box accuracy on the *validation* maps is kept (the first of equal ones: the lowest, for
    increasing thresholds), and the *test* maps are boxed with it. Image i then passes some of the
    levels: ``hits[i]`` is the share it passes, so ``hits.mean()`` is the test split's MaxBoxAccV2 (MaxBoxAcc with
    ``iou_thresholds=(0.5,), multi_contour=False``), and per-image hits allow a paired comparison
    of two methods on the same images.

    Args:
        val_maps: (V, h, w) maps of the validation images; val_boxes: (V, 4) their true boxes.
        test_maps: (N, h', w') maps of the test images; test_boxes: (N, 4) their true boxes.
        thresholds, iou_thresholds, image_size, multi_contour: as in :func:`threshold_sweep`
            (``multi_contour=True``, every region competing, is MaxBoxAccV2's rule).
    Returns:
        hits: (N,) in [0, 1], in steps of 1 / len(iou_thresholds).
    """
    _check_maps_and_boxes(val_maps, val_boxes, "validation")
    _check_maps_and_boxes(test_maps, test_boxes, "test")
    options = dict(image_size=image_size, multi_contour=multi_contour)
    tuned = threshold_sweep(val_maps, val_boxes, thresholds, iou_thresholds, **options)  # ious (T, V)
    scored = threshold_sweep(test_maps, test_boxes, tuned.thresholds, iou_thresholds, **options)  # ious (T, N)
    chosen = tuned.accuracy.argmax(dim=1)  # (I,) the best validation threshold per IoU level, the first of ties
    levels = torch.tensor(scored.iou_thresholds)[:, None]  # (I, 1), e.g. 0.3, 0.5, 0.7
    return (scored.ious[chosen] >= levels).float().mean(dim=0)  # (I, N) passed or not -> (N,)


def _check_maps_and_boxes(maps: torch.Tensor, boxes: torch.Tensor, split: str) -> None:
    """One map (B, h, w) per true box (B, 4), and at least one image: a clear error instead of a wrong score."""
    if maps.dim() < 2 or boxes.shape[-1:] != (4,):
        raise ValueError(
            f"the {split} maps must be (B, h, w) and boxes (B, 4); got {tuple(maps.shape)} and {tuple(boxes.shape)}"
        )
    num_maps, num_boxes = maps[..., 0, 0].numel(), boxes.numel() // 4
    if num_maps != num_boxes:
        raise ValueError(f"{num_maps} {split} maps but {num_boxes} {split} boxes: give one map per true box")
    if num_maps == 0:
        raise ValueError(f"the {split} split has no images: thresholds cannot be chosen or scored on nothing")


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
    flat = maps.detach().float().reshape(-1, *maps.shape[-2:])  # (B, h, w); a map with a graph is fine too
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
        boxes: (R, 4) int64 (from ``ndimage.find_objects``, or grown by :meth:`sweep`)
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

    @classmethod
    def sweep(cls, maps: torch.Tensor, thresholds: torch.Tensor) -> _Regions:
        """The regions of ``maps >= t`` for every threshold t, from one pass over each map's pixels.

        maps (B, H, W) float on the CPU, thresholds (T,) float -> regions of T * B "maps": the pair
        (threshold i, map b) is map ``i * B + b``, and its rows are those of ``find(maps >= thresholds[i])``
        for map b, in the same (label) order. Why one pass is enough: raising the threshold only
        removes pixels, so the regions at a threshold are unions of the regions at the next higher
        one plus the pixels that pass this threshold but not that one (see :class:`_MergingRegions`).
        """
        values = maps.float().numpy()  # (B, H, W)
        thresholds = thresholds.float().numpy()  # (T,) float32, as the maps: the same comparisons as maps >= t
        ascending = np.argsort(thresholds, kind="stable")  # (T,) NaN last: it passes nothing, as in maps >= NaN
        passes = np.searchsorted(thresholds[ascending], values, side="right")  # (B, H, W) how many it passes
        passes[np.isnan(values)] = 0  # NaN >= t is False for every t (searchsorted puts NaN above all)
        passes = passes.astype(np.min_scalar_type(len(thresholds)))  # uint8 for <= 255: a radix sort below
        batch, height, width = values.shape
        pixels = height * width
        chunk = max(1, _PIXELS_PER_PASS // max(pixels, 1))  # maps per pass: bounds the memory of the pairs
        parts = [(np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))]
        for start in range(0, batch, chunk):  # (the empty part above: a sweep that finds no region works too)
            for rank, roots, boxes, sizes in _MergingRegions(passes[start : start + chunk]).regions_per_threshold():
                pair = ascending[rank] * batch + start + roots // pixels  # (threshold, map) pair of each region
                parts.append((boxes, sizes, pair))
        boxes, sizes, owner = (np.concatenate(column) for column in zip(*parts))
        return cls(boxes, sizes, owner.astype(np.int64), len(thresholds) * batch)

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


# A sweep takes the maps in passes of about this many pixels (at least one map): a pass holds
# about 85 bytes per pixel at its peak (the neighbour pairs, the boxes), so about 90 MiB.
_PIXELS_PER_PASS = 2**20


class _MergingRegions:
    """The regions of a stack of masks that shrink as a threshold rises, grown from the top down.

    Start with no pixel; lower the threshold one step at a time. Each step adds the pixels that pass
    the new threshold, and joins regions along the neighbour pairs (:func:`_joining_pairs`) whose
    two pixels pass it now. So every pixel and every pair is handled once, at the step where it
    enters, not once per threshold.

    A region is named by its first pixel in reading order, its *root* (when regions join, the new
    one keeps the smallest root), so sorting roots gives ``scipy.ndimage.label``'s order; its box
    and size are kept at the root. Other pixels point towards their root through ``parent``.

    Args:
        passes: (B, H, W) unsigned ints: how many of the T ascending thresholds each pixel passes;
            the mask of the j-th lowest threshold is ``passes > j``.
    """

    def __init__(self, passes: np.ndarray):
        batch, height, width = passes.shape
        self.levels = int(passes.max(initial=0))  # masks above this threshold rank are empty
        self.passes = passes.ravel()  # (N,) N = B * H * W, pixel p = (b * H + y) * W + x
        pixels = np.arange(self.passes.size, dtype=np.int32)
        self.parent = pixels.copy()  # every pixel starts as its own region
        x, y = pixels % width, pixels // width % height
        self.box = [x, y, x + 1, y + 1]  # 4 x (N,) int32: x0, y0, x1, y1 of the region rooted at each pixel
        self.sizes = np.ones(self.passes.size, dtype=np.int64)  # (N,) its pixel count
        self.slot = np.empty(self.passes.size, dtype=np.int32)  # scratch: a compact index per root
        newer, older, joined_at = _joining_pairs(passes)  # (E,) each: the neighbour pairs that matter
        order, self.pair_starts = _group_by(joined_at, self.levels)
        self.pairs = np.stack([newer[order], older[order]])  # (2, E) by the step they join at
        order, self.pixel_starts = _group_by(self.passes, self.levels)
        self.pixels_by_step = order.astype(np.int32)  # (N,) by the step they enter at

    def regions_per_threshold(self):
        """Yields (rank, roots, boxes, sizes) for every threshold rank from the highest down:
        roots (R,) in label order, boxes (R, 4) int64, sizes (R,) of the regions of ``passes > rank``."""
        roots = np.zeros(0, dtype=np.int32)  # the regions of the current mask
        for rank in range(self.levels - 1, -1, -1):  # mask passes > rank: new pixels have passes == rank + 1
            entering = self.pixels_by_step[self.pixel_starts[rank + 1] : self.pixel_starts[rank + 2]]
            newer, older = self.pairs[:, self.pair_starts[rank + 1] : self.pair_starts[rank + 2]]
            roots = np.concatenate([roots, entering])
            self.join(newer, older)
            roots = np.sort(roots[self.parent[roots] == roots])  # drop the regions that joined another one
            boxes = np.stack([corner[roots] for corner in self.box], axis=1).astype(np.int64)  # (R, 4)
            yield rank, roots, boxes, self.sizes[roots]

    def find(self, pixels: np.ndarray) -> np.ndarray:
        """(n,) root of each pixel's region; shortens the pixels' paths to it for the next time."""
        roots = self.parent[pixels]
        while True:
            above = self.parent[roots]
            if np.array_equal(above, roots):
                break
            roots = above
        self.parent[pixels] = roots
        return roots

    def join(self, newer: np.ndarray, older: np.ndarray) -> None:
        """Join the regions at the two ends of each pair (E,) of pixels: scipy's connected components
        on a small graph, one node per region that a pair touches.

        ``newer`` pixels enter at this step, so each is still its own root; ``older`` ones need ``find``.
        """
        a, b = newer, self.find(older)
        apart = a != b
        ends = np.concatenate([a[apart], b[apart]])  # (2E',) region roots, the two ends of each pair
        if not len(ends):
            return
        positions = np.arange(len(ends), dtype=np.int32)
        self.slot[ends] = positions  # a root met several times keeps one of its positions
        kept = self.slot[ends] == positions  # (2E',) one position per distinct root
        roots = ends[kept]  # (U,) each root that a pair touches
        self.slot[roots] = np.arange(len(roots), dtype=np.int32)  # its node in the graph
        node = self.slot[ends]  # (2E',)
        edges = len(ends) // 2
        graph = coo_matrix((np.ones(edges, dtype=np.int8), (node[:edges], node[edges:])), shape=(len(roots),) * 2)
        _, group = connected_components(graph, directed=False)  # (U,) the region each root is part of now
        # The new region keeps the smallest root (its first pixel), the outer box and the summed size.
        new_root = self._reduce(np.minimum, group, roots)  # (G,)
        for corner, reduce in zip(self.box, (np.minimum, np.minimum, np.maximum, np.maximum)):
            corner[new_root] = self._reduce(reduce, group, corner[roots])
        self.sizes[new_root] = np.bincount(group, weights=self.sizes[roots])  # exact below 2**53 pixels
        self.parent[roots] = new_root[group]

    @staticmethod
    def _reduce(reduce: np.ufunc, group: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(G,) ``reduce`` (np.minimum or np.maximum) of the values (U,) of each group 0 ... G-1."""
        out = np.empty(int(group.max()) + 1, dtype=values.dtype)
        out[group] = values  # a start that is one of the group's own values
        reduce.at(out, group, values)  # fast when ``out`` and ``values`` share a dtype
        return out


def _joining_pairs(passes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-neighbour pairs of pixels that can join two regions, and when they join.

    passes (B, H, W) -> newer, older (E,) int32 pixel indices (of ``passes.ravel()``) and
    joined_at (E,): a pair is joined in the masks ``passes > j`` for j < joined_at (both pixels in),
    which is when its newer pixel (the one that passes fewer thresholds) enters.
    Right, down and the two downward diagonals cover each neighbour pair once. Many pairs only
    repeat a link that other pairs make at the same step or earlier, and are left out:

    * a right pair, when the right pair just below joins no later: its pixels are linked through
      the two down pairs and that pair (which, by the same rule, is linked from the rows below);
    * a diagonal, when either other pixel of its 2x2 block passes no later: the path through it.

    Down pairs are all kept; pairs whose pixels never both pass (joined_at 0) are left out.
    """
    index = np.arange(passes.size, dtype=np.int32).reshape(passes.shape)  # (B, H, W)
    top_left, top_right = passes[:, :-1, :-1], passes[:, :-1, 1:]  # (B, H-1, W-1) the 2x2 blocks
    bottom_left, bottom_right = passes[:, 1:, :-1], passes[:, 1:, 1:]
    right = np.minimum(passes[:, :, :-1], passes[:, :, 1:])  # (B, H, W-1)
    down = np.minimum(passes[:, :-1, :], passes[:, 1:, :])  # (B, H-1, W)
    down_right = np.minimum(top_left, bottom_right)  # (B, H-1, W-1)
    down_left = np.minimum(top_right, bottom_left)
    right_needed = right > 0
    right_needed[:, :-1] &= right[:, 1:] < right[:, :-1]  # the pair below joins later
    pairs = [
        (index[:, :, :-1], index[:, :, 1:], right, right_needed),
        (index[:, :-1, :], index[:, 1:, :], down, down > 0),
        (index[:, :-1, :-1], index[:, 1:, 1:], down_right, np.maximum(top_right, bottom_left) < down_right),  # > 0 too
        (index[:, :-1, 1:], index[:, 1:, :-1], down_left, np.maximum(top_left, bottom_right) < down_left),
    ]
    kept = [(first[needed], second[needed], level[needed]) for first, second, level, needed in pairs]
    first, second, joined_at = (np.concatenate(column) for column in zip(*kept))
    flat = passes.ravel()
    second_is_newer = flat[second] < flat[first]  # the newer pixel enters at the step the pair joins
    newer, older = np.where(second_is_newer, second, first), np.where(second_is_newer, first, second)
    return newer, older, joined_at


def _group_by(keys: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Items of each key value: ``order[starts[k]:starts[k + 1]]`` are the indices of the items with
    key k, in index order. keys (n,) ints in [0, levels]; a stable sort of small ints is a radix sort."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=levels + 1)[: levels + 1]
    return order, np.concatenate([[0], np.cumsum(counts)])


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2:] - boxes[..., :2]).clamp_min(0).prod(dim=-1)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
