"""Boxes from maps, and how well they match the true boxes.

Weakly supervised object localization (WSOL): a classifier trained only with
image labels is asked *where* the object is. CAM's recipe (Zhou et al., CVPR 2016):

    1. upsample the class map to the image size,
    2. keep the pixels above 20% of the map's maximum,
    3. draw a box around the largest connected region.

Choe et al. ("Evaluating Weakly Supervised Object Localization Methods Right",
CVPR 2020) showed that the threshold in step 2 decides much of the score, and
proposed scoring a method at its *best* threshold:

    MaxBoxAcc    = max over thresholds of  P(IoU(box, true box) >= 0.5)
    MaxBoxAccV2  = mean over delta in {0.3, 0.5, 0.7} of
                   max over thresholds of  P(IoU >= delta),
                   taking the best-matching box of *all* regions, not only the largest.

Box convention, used everywhere in this package: ``(x0, y0, x1, y1)`` in
pixels, end exclusive. The box covers ``x0 <= x < x1``, ``y0 <= y < y1``, i.e.
``mask[..., y0:y1, x0:x1]``, so its width is ``x1 - x0`` (no "+1"). A box with
no area, ``(0, 0, 0, 0)``, stands for "nothing found" and has IoU 0 with anything.

Maps are min-max normalised per map first (:func:`cam_helpers.cam.normalize_maps`),
so a threshold of 0.2 keeps the pixels with ``M >= min + 0.2 * (max - min)``;
for a ReLU'd CAM (min 0) this is exactly "20% of the max".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .cam import normalize_maps, upsample_maps

__all__ = [
    "boxes_from_masks",
    "connected_regions",
    "boxes_from_maps",
    "all_region_boxes",
    "box_iou",
    "box_accuracy",
    "ThresholdSweep",
    "threshold_sweep",
    "max_box_acc",
    "max_box_acc_v2",
    "center_box",
    "CenterBoxBaseline",
    "center_box_baseline",
    "mass_inside_boxes",
]

DEFAULT_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of boolean masks.

    Args:
        masks: (..., H, W) bool
    Returns:
        boxes: (..., 4) long ``x0, y0, x1, y1`` (end exclusive); ``0, 0, 0, 0`` for an empty mask.
    """
    rows = masks.any(dim=-1)  # (..., H) does row y hold a pixel?
    cols = masks.any(dim=-2)  # (..., W)
    y0, y1 = _first_and_end(rows)
    x0, x1 = _first_and_end(cols)
    boxes = torch.stack([x0, y0, x1, y1], dim=-1)  # (..., 4)
    empty = ~rows.any(dim=-1, keepdim=True)
    return boxes.masked_fill(empty, 0)


def connected_regions(masks: torch.Tensor) -> torch.Tensor:
    """Label the 8-connected regions of boolean masks, with pure torch ops.

    See :class:`_Regions` for how: runs of pixels along the four directions
    share their largest number until each region carries one number.

    Args:
        masks: (B, H, W) bool
    Returns:
        labels: (B, H, W) long; 0 for background, one positive number per
        region, different across the whole batch (numbers are not consecutive).
    """
    regions = _Regions.find(masks)
    labels = torch.zeros(masks.numel(), dtype=torch.long, device=masks.device)
    labels[regions.position] = regions.label + 1
    return labels.view(masks.shape)


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
        threshold: in [0, 1], relative to each map's range (0.2: the CAM paper).
        image_size: size of the images the maps belong to (int or (H, W));
            maps are upsampled (bilinear) to it first, so boxes are in image pixels.
        largest_region: box only the largest 8-connected region (CAM); if False,
            box all pixels above the threshold together.
    Returns:
        boxes: (B, 4) long ``x0, y0, x1, y1`` in image pixels (end exclusive);
        ``0, 0, 0, 0`` when no pixel passes (only possible for a constant map).
    """
    lead, prepared = _prepare_maps(maps, image_size)  # (B, H, W) in [0, 1]
    foreground = prepared >= threshold
    if not largest_region:
        return boxes_from_masks(foreground).view(*lead, 4)
    return _Regions.find(foreground).largest_boxes().view(*lead, 4)


def all_region_boxes(
    maps: torch.Tensor,
    threshold: float = 0.2,
    *,
    image_size: int | tuple[int, int] | None = None,
) -> list[torch.Tensor]:
    """One box per connected region above the threshold, for each map.

    Args:
        maps: (B, h, w)
        threshold, image_size: as in :func:`boxes_from_maps`.
    Returns:
        a list of B tensors (n_i, 4), regions sorted from largest to smallest.
    """
    _, prepared = _prepare_maps(maps, image_size)
    regions = _Regions.find(prepared >= threshold)
    boxes, sizes, owner = regions.region_boxes()  # (R, 4), (R,), (R,)
    # Sort by map, then by size (largest first); then split per map.
    order = torch.argsort(owner * (sizes.max() + 1 if len(sizes) else 1) - sizes, stable=True)
    counts = torch.bincount(owner, minlength=prepared.shape[0]).tolist()
    return list(boxes[order].split(counts))


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of matching boxes.

    Args:
        boxes_a: (N, 4) ``x0, y0, x1, y1``, end exclusive; any shapes that broadcast work.
        boxes_b: (N, 4)
    Returns:
        iou: (N,) float in [0, 1]; 0 when both boxes are empty.
    """
    a, b = boxes_a.float(), boxes_b.float()
    inter_w = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp_min(0)
    inter_h = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp_min(0)
    inter = inter_w * inter_h
    union = _area(a) + _area(b) - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(union))


def box_accuracy(
    maps: torch.Tensor,
    gt_boxes: torch.Tensor,
    threshold: float = 0.2,
    iou_threshold: float = 0.5,
    *,
    image_size: int | tuple[int, int] | None = None,
) -> float:
    """Fraction of maps whose CAM box has IoU >= ``iou_threshold`` with the true box.

    Args:
        maps: (B, h, w)
        gt_boxes: (B, 4) true boxes in image pixels
    """
    boxes = boxes_from_maps(maps, threshold, image_size=image_size)
    return (box_iou(boxes, gt_boxes.to(boxes.device)) >= iou_threshold).float().mean().item()


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
        """Best box accuracy over the settings at IoU >= 0.5 (Choe et al.'s MaxBoxAcc)."""
        return self.accuracy_at(0.5).max().item()

    @property
    def max_box_acc_v2(self) -> float:
        """Mean over the IoU levels of the best setting's accuracy (MaxBoxAccV2)."""
        return self.accuracy.max(dim=1).values.mean().item()


@dataclass
class ThresholdSweep(_IoUSweepScores):
    """Box IoUs of every map at every threshold, and the accuracies they give.

    Attributes:
        thresholds: (T,) map thresholds tried
        ious: (T, B) IoU of each map's box with its true box, per threshold
        iou_thresholds: the IoU levels reported (Choe et al.: 0.3, 0.5, 0.7)
    """

    thresholds: torch.Tensor
    ious: torch.Tensor
    iou_thresholds: tuple[float, ...] = DEFAULT_IOU_THRESHOLDS

    @property
    def best_threshold(self) -> float:
        """The threshold that gives :attr:`max_box_acc`; ties go to the higher mean IoU, then the lower threshold."""
        return self.thresholds[_best_index(self.accuracy_at(0.5), self.ious)].item()


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
        maps: (B, h, w)
        gt_boxes: (B, 4) true boxes in image pixels
        thresholds: (T,), default ``torch.linspace(0, 1, 101)``
        iou_thresholds: IoU levels the accuracies are reported at
        image_size: maps are upsampled to it before boxes are drawn
        multi_contour: score the best-matching box among all regions
            (MaxBoxAccV2) instead of only the largest region (CAM, MaxBoxAcc).
    Returns:
        a :class:`ThresholdSweep`; read ``.max_box_acc``, ``.max_box_acc_v2``, ``.accuracy``.

    Cost: one connected-region search per threshold, batched over the maps;
    on a 2-core CPU about 0.1-0.3 s per threshold for 500 maps of 64x64, so
    ~15-20 s for the full 101 thresholds. Fewer thresholds
    (``torch.linspace(0, 1, 21)``) or a GPU make it quick.
    """
    _, prepared = _prepare_maps(maps, image_size)  # (B, H, W)
    if thresholds is None:
        thresholds = torch.linspace(0, 1, 101)
    thresholds = torch.as_tensor(thresholds, dtype=torch.float32)
    gt = gt_boxes.to(prepared.device).view(-1, 4)
    ious = []
    for threshold in thresholds.tolist():  # a loop over thresholds, batched over maps
        regions = _Regions.find(prepared >= threshold)
        if multi_contour:
            ious.append(regions.best_iou(gt))
        else:
            ious.append(box_iou(regions.largest_boxes(), gt))
    return ThresholdSweep(
        thresholds=thresholds,
        ious=torch.stack(ious).cpu(),  # (T, B)
        iou_thresholds=tuple(float(t) for t in iou_thresholds),
    )


def max_box_acc(
    maps: torch.Tensor,
    gt_boxes: torch.Tensor,
    *,
    thresholds: torch.Tensor | Sequence[float] | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> float:
    """MaxBoxAcc (Choe et al. 2020): box accuracy at IoU >= 0.5, at the best threshold,
    with CAM's largest-region box. A fraction in [0, 1] (papers print it x100)."""
    return threshold_sweep(maps, gt_boxes, thresholds, (0.5,), image_size=image_size).max_box_acc


def max_box_acc_v2(
    maps: torch.Tensor,
    gt_boxes: torch.Tensor,
    *,
    thresholds: torch.Tensor | Sequence[float] | None = None,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    image_size: int | tuple[int, int] | None = None,
    multi_contour: bool = True,
) -> float:
    """MaxBoxAccV2 (Choe et al. 2020): mean over IoU 0.3/0.5/0.7 of the best-threshold
    box accuracy, each map scored by its best-matching region box (``multi_contour``)."""
    sweep = threshold_sweep(
        maps, gt_boxes, thresholds, iou_thresholds, image_size=image_size, multi_contour=multi_contour
    )
    return sweep.max_box_acc_v2


def center_box(image_size: int | tuple[int, int], fraction: float) -> torch.Tensor:
    """The box centred in the image whose sides are ``fraction`` of the image's sides.

    Returns:
        (4,) long ``x0, y0, x1, y1``; ``fraction=0.5`` covers the central quarter of the area.
    """
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
        iou_thresholds: IoU levels reported
        image_size: (H, W)
    """

    fractions: torch.Tensor
    ious: torch.Tensor
    iou_thresholds: tuple[float, ...]
    image_size: tuple[int, int]

    @property
    def best_fraction(self) -> float:
        """The box side (fraction of the image side) that gives :attr:`max_box_acc`;
        ties go to the higher mean IoU."""
        return self.fractions[_best_index(self.accuracy_at(0.5), self.ious)].item()

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

    Choe et al. (2020) report a *centre-Gaussian* baseline: a Gaussian bump in
    the middle of the image used as if it were a CAM, scored with the same
    threshold sweep. Thresholding a centred bump at different heights gives
    centred boxes of different sizes, so its MaxBoxAcc is the accuracy of the
    best-sized centred box. We compute that directly: boxes with the image's
    aspect ratio and sides ``fraction * image side``, for 100 fractions from 0.01
    to 1, and report the best. The size is chosen looking at the test boxes, so
    the baseline is optimistic: a method should beat it clearly.

    Args:
        gt_boxes: (B, 4) true boxes
        image_size: int or (H, W)
        fractions: (F,) sides to try, default ``torch.linspace(0.01, 1, 100)``
    """
    if fractions is None:
        fractions = torch.linspace(0.01, 1, 100)
    fractions = torch.as_tensor(fractions, dtype=torch.float32)
    size = _pair(image_size)
    candidates = torch.stack([center_box(size, f) for f in fractions.tolist()])  # (F, 4)
    gt = gt_boxes.view(-1, 4).cpu()
    ious = box_iou(candidates.unsqueeze(1), gt.unsqueeze(0))  # (F, B)
    return CenterBoxBaseline(fractions, ious, tuple(float(t) for t in iou_thresholds), size)


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
    if image_size is not None and tuple(maps.shape[-2:]) != _pair(image_size):
        maps = upsample_maps(maps.unsqueeze(1), _pair(image_size), mode=mode).squeeze(1)
    positive = maps.clamp_min(0)  # (B, H, W)
    h, w = positive.shape[-2:]
    boxes = boxes.to(positive.device).expand(positive.shape[0], 4)
    y = torch.arange(h, device=positive.device).view(1, h, 1)
    x = torch.arange(w, device=positive.device).view(1, 1, w)
    inside = (
        (x >= boxes[:, 0, None, None])
        & (x < boxes[:, 2, None, None])
        & (y >= boxes[:, 1, None, None])
        & (y < boxes[:, 3, None, None])
    )  # (B, H, W)
    total = positive.sum(dim=(-2, -1))
    within = (positive * inside).sum(dim=(-2, -1))
    return torch.where(total > 0, within / total.clamp_min(1e-12), torch.zeros_like(total))


def _prepare_maps(
    maps: torch.Tensor, image_size: int | tuple[int, int] | None
) -> tuple[tuple[int, ...], torch.Tensor]:
    """Flatten leading dims, upsample to the image size, min-max normalise: -> (B, H, W)."""
    if maps.dim() < 2:
        raise ValueError(f"maps must be (B, h, w); got shape {tuple(maps.shape)}")
    lead = tuple(maps.shape[:-2])
    flat = maps.float().reshape(-1, *maps.shape[-2:])  # (B, h, w)
    if image_size is not None and tuple(flat.shape[-2:]) != _pair(image_size):
        flat = upsample_maps(flat.unsqueeze(1), _pair(image_size)).squeeze(1)  # (B, H, W)
    return lead, normalize_maps(flat)


def _best_index(accuracy: torch.Tensor, ious: torch.Tensor) -> int:
    """Index of the best accuracy (T,); among equals, the best mean IoU over ious (T, B)."""
    best = accuracy == accuracy.max()
    mean_iou = torch.where(best, ious.mean(dim=1), torch.full_like(accuracy, -1.0))
    return int(mean_iou.argmax())


@dataclass
class _Regions:
    """The 8-connected regions of a batch of masks, kept as a list of foreground pixels.

    Finding them, with tensor ops only: every foreground pixel starts with its
    own number (its place in the list). Each round,

        1. each run of consecutive foreground pixels along a row takes the
           largest number in it; then along each column, each diagonal and each
           anti-diagonal (the four directions of 8-connectivity);
        2. each pixel "jumps" to the number now held by the pixel its number
           came from, which passes numbers along winding regions quickly.

    Numbers only grow, and stop growing when each region carries one number,
    the largest in it. Blob-like regions need 2-4 rounds. Working on the list of
    foreground pixels (not the whole image) keeps the rounds cheap.

    Attributes:
        position: (P,) flat index of each foreground pixel in (B, H, W)
        label: (P,) region number = list index of one pixel of the region
        batch, height, width: B, H, W
    """

    position: torch.Tensor
    label: torch.Tensor
    batch: int
    height: int
    width: int

    @classmethod
    def find(cls, masks: torch.Tensor, max_rounds: int | None = None) -> _Regions:
        if masks.dim() != 3:
            raise ValueError(f"masks must be (B, H, W); got shape {tuple(masks.shape)}")
        masks = masks.bool()
        b, h, w = masks.shape
        position = masks.reshape(-1).nonzero().squeeze(1)  # (P,)
        runs = [_run_ids(masks, direction)[position] for direction in ("row", "column", "diagonal", "anti")]
        label = torch.arange(len(position), device=masks.device)  # (P,)
        for _ in range(max_rounds if max_rounds is not None else max(h, w) * 2):
            before = label
            for run in runs:
                best = torch.full((int(run.max()) + 1 if len(run) else 1,), -1, dtype=torch.long, device=masks.device)
                best = best.scatter_reduce(0, run, label, reduce="amax")  # largest number per run
                label = best.index_select(0, run)
            label = label.index_select(0, label)  # jump
            if torch.equal(label, before):
                break
        return cls(position, label, b, h, w)

    @property
    def image_index(self) -> torch.Tensor:
        """(P,) which map each pixel belongs to."""
        return self.position // (self.height * self.width)

    def sizes(self) -> torch.Tensor:
        """(P,) pixel count of each pixel's region."""
        return torch.bincount(self.label, minlength=len(self.label)).index_select(0, self.label)

    def largest_boxes(self) -> torch.Tensor:
        """(B, 4) box of each map's largest region (ties: the region with the larger number)."""
        owner = self.image_index
        # One number that orders regions by size, then by label: unique per region.
        key = self.sizes() * (len(self.label) + 1) + self.label
        best = torch.full((self.batch,), -1, dtype=torch.long, device=key.device)
        best = best.scatter_reduce(0, owner, key, reduce="amax")
        keep = key == best.index_select(0, owner)
        boxes, present = self._boxes_by(owner[keep], self.position[keep], self.batch)
        return boxes.masked_fill(~present.unsqueeze(1), 0)

    def region_boxes(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every region's box (R, 4), size (R,) and map index (R,)."""
        boxes, present = self._boxes_by(self.label, self.position, len(self.label))
        regions = present.nonzero().squeeze(1)  # region numbers in use
        sizes = torch.bincount(self.label, minlength=len(self.label)).index_select(0, regions)
        owner = self.position.index_select(0, regions) // (self.height * self.width)
        return boxes.index_select(0, regions), sizes, owner

    def best_iou(self, gt_boxes: torch.Tensor) -> torch.Tensor:
        """(B,) IoU of the region box that best matches each map's true box (0 if no region)."""
        boxes, _, owner = self.region_boxes()
        iou = box_iou(boxes, gt_boxes.index_select(0, owner))
        best = torch.zeros(self.batch, device=iou.device)
        return best.scatter_reduce(0, owner, iou, reduce="amax")

    def _boxes_by(self, group: torch.Tensor, position: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tight box (groups, 4) of the pixels in each group, and whether the group has any."""
        n = self.height * self.width
        y = (position % n) // self.width
        x = position % self.width
        big, device = max(self.height, self.width) + 1, position.device

        def reduce(values: torch.Tensor, how: str, start: int) -> torch.Tensor:
            out = torch.full((groups,), start, dtype=torch.long, device=device)
            return out.scatter_reduce(0, group, values, reduce=how)

        boxes = torch.stack(
            [reduce(x, "amin", big), reduce(y, "amin", big), reduce(x, "amax", -1) + 1, reduce(y, "amax", -1) + 1],
            dim=1,
        )
        present = torch.bincount(group, minlength=groups) > 0
        return boxes, present


def _run_ids(masks: torch.Tensor, direction: str) -> torch.Tensor:
    """(B*H*W,) number of the run of foreground pixels each pixel belongs to, along
    rows, columns, diagonals (down-right) or anti-diagonals (down-left).

    Each line of pixels in that direction is laid out as one row of a helper
    tensor (B, lines, length); a run starts where a foreground pixel follows a
    background one, and a cumulative sum over the starts numbers the runs.
    Background pixels get a number too; it is never used.
    """
    b, h, w = masks.shape
    device = masks.device
    if direction == "row":  # rows are already laid out one after the other
        return (masks & ~F.pad(masks[..., :-1], (1, 0))).view(-1).cumsum(0)
    if direction == "column":
        by_column = masks.transpose(1, 2)
        starts = by_column & ~F.pad(by_column[..., :-1], (1, 0))
        return starts.reshape(-1).cumsum(0).view(b, w, h).transpose(1, 2).reshape(-1)
    y = torch.arange(h, device=device).view(h, 1).expand(h, w)
    x = torch.arange(w, device=device).view(1, w).expand(h, w)
    if direction == "diagonal":
        line, step, lines, length = x - y + h - 1, y, h + w - 1, h
    else:
        line, step, lines, length = x + y, y, h + w - 1, h
    laid_out = torch.zeros(b, lines, length, dtype=torch.bool, device=device)
    laid_out[:, line, step] = masks
    starts = laid_out & ~F.pad(laid_out[..., :-1], (1, 0))
    run = starts.view(-1).cumsum(0).view(b, lines, length)
    return run[:, line, step].reshape(-1)


def _first_and_end(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first True and one past the last True along the last dim."""
    as_int = present.to(torch.uint8)
    length = present.shape[-1]
    first = as_int.argmax(dim=-1)  # argmax returns the first maximal index
    end = length - as_int.flip(-1).argmax(dim=-1)
    return first, end


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp_min(0) * (boxes[..., 3] - boxes[..., 1]).clamp_min(0)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
