"""Boxes from maps, IoU and MaxBoxAcc on hand-made maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from cam_helpers import localization
from cam_helpers.localization import (
    box_iou,
    boxes_from_maps,
    boxes_from_masks,
    center_box,
    center_box_baseline,
    mass_inside_boxes,
    threshold_sweep,
    tuned_box_hits,
)
from cam_helpers.localization import _prepare_maps, _Regions


def _regions(masks: torch.Tensor) -> list[tuple[int, int, tuple[int, ...]]]:
    """(map, size, box) of every region that the package's boxes are drawn from, sorted."""
    regions = _Regions.find(masks)
    return sorted(zip(regions.owner.tolist(), regions.sizes.tolist(), map(tuple, regions.boxes.tolist())))


def _reference_regions(mask: torch.Tensor) -> list[set[tuple[int, int]]]:
    """Plain flood fill with 8-connectivity, the slow obvious way."""
    h, w = mask.shape
    seen: set[tuple[int, int]] = set()
    regions = []
    for y in range(h):
        for x in range(w):
            if not mask[y, x] or (y, x) in seen:
                continue
            region, stack = set(), [(y, x)]
            seen.add((y, x))
            while stack:
                cy, cx = stack.pop()
                region.add((cy, cx))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and (ny, nx) not in seen:
                            seen.add((ny, nx))
                            stack.append((ny, nx))
            regions.append(region)
    return regions


# ---------------------------------------------------------------- masks and regions


def test_boxes_from_masks_is_the_tight_box_end_exclusive():
    masks = torch.zeros(2, 32, 32, dtype=torch.bool)
    masks[0, 5:15, 30:32] = True  # touches the right edge
    masks[0, 7, 3] = True
    boxes = boxes_from_masks(masks)
    assert boxes[0].tolist() == [3, 5, 32, 15]
    assert boxes[1].tolist() == [0, 0, 0, 0]  # empty mask: "nothing found"


@pytest.mark.parametrize("density", [0.3, 0.45, 0.6])
def test_regions_match_a_flood_fill(density):
    g = torch.Generator().manual_seed(int(density * 100))
    masks = torch.rand(6, 17, 23, generator=g) < density
    expected = []
    for i, mask in enumerate(masks):
        for region in _reference_regions(mask):
            ys, xs = zip(*region)
            expected.append((i, len(region), (min(xs), min(ys), max(xs) + 1, max(ys) + 1)))
    assert _regions(masks) == sorted(expected)


def test_regions_follow_a_long_snake():
    # A one-pixel-wide zigzag: the worst case for plain label spreading.
    mask = torch.zeros(1, 21, 21, dtype=torch.bool)
    mask[0, ::2, :] = True
    for row in range(1, 21, 2):
        mask[0, row, 20 if row % 4 == 1 else 0] = True
    assert [size for _, size, _ in _regions(mask)] == [int(mask.sum())]


def test_diagonal_neighbours_are_connected():
    mask = torch.zeros(1, 5, 5, dtype=torch.bool)
    mask[0, 1, 1] = mask[0, 2, 2] = True
    assert _regions(mask) == [(0, 2, (1, 1, 3, 3))]


# ---------------------------------------------------------------- boxes from maps


def test_rectangle_of_ones_gives_exactly_its_box():
    maps = torch.zeros(1, 64, 64)
    maps[0, 5:15, 30:50] = 1.0  # 10 rows, 20 columns
    assert boxes_from_maps(maps).tolist() == [[30, 5, 50, 15]]


def test_largest_region_is_chosen_and_all_regions_finds_both():
    maps = torch.zeros(2, 40, 40)
    maps[:, 2:6, 2:6] = 1.0  # small but hotter blob
    maps[:, 20:35, 10:30] = 0.6  # large, cooler blob
    boxes = boxes_from_maps(maps, threshold=0.2)
    assert boxes.tolist() == [[10, 20, 30, 35]] * 2
    # Threshold above the large blob's value: only the small one is left.
    assert boxes_from_maps(maps, threshold=0.8)[0].tolist() == [2, 2, 6, 6]
    # Without the largest-region rule, the box spans both blobs.
    assert boxes_from_maps(maps, largest_region=False)[0].tolist() == [2, 2, 30, 35]
    regions = _Regions.find(maps >= 0.2)
    assert regions.owner.tolist() == [0, 0, 1, 1]  # two regions in each map, none across maps
    assert sorted(regions.sizes.tolist()) == [16, 16, 300, 300]


def test_equal_regions_tie_like_argmax_over_scipy_labels():
    # Notebook 06's hand-made box takes sizes.argmax(): the first region in reading order.
    maps = torch.zeros(2, 10, 10)
    maps[:, 6:8, 6:8] = 1.0
    maps[0, 0:2, 0:2] = 1.0  # before it in reading order
    maps[1, 6:8, 0:2] = 1.0  # starts on the same row, to its left
    assert boxes_from_maps(maps).tolist() == [[0, 0, 2, 2], [0, 6, 2, 8]]


def test_low_resolution_maps_are_upsampled_to_the_image():
    maps = torch.zeros(1, 8, 8)
    maps[0, 2:4, 2:6] = 1.0  # rows 2-3, columns 2-5 of the 8x8 grid
    # Bilinear upsampling x8 crosses 0.5 exactly at the cell borders.
    assert boxes_from_maps(maps, threshold=0.5, image_size=64).tolist() == [[16, 16, 48, 32]]
    assert boxes_from_maps(maps, threshold=0.5, image_size=(64, 128)).tolist() == [[32, 16, 96, 32]]


def test_constant_map_gives_no_nan_and_the_whole_image_at_zero_threshold():
    maps = torch.full((1, 16, 16), 3.0)
    assert boxes_from_maps(maps, threshold=0.0).tolist() == [[0, 0, 16, 16]]
    assert boxes_from_maps(maps, threshold=0.2).tolist() == [[0, 0, 0, 0]]


def test_leading_dimensions_are_kept():
    maps = torch.rand(2, 3, 8, 8)
    assert boxes_from_maps(maps, image_size=32).shape == (2, 3, 4)


# ---------------------------------------------------------------- IoU and accuracy


def test_box_iou_known_values():
    a = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]])
    b = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30], [10, 0, 20, 10], [5, 0, 15, 10], [0, 0, 5, 5], [0, 0, 0, 0]])
    iou = box_iou(a, b)
    assert iou.tolist() == pytest.approx([1.0, 0.0, 0.0, 1 / 3, 0.25, 0.0])
    assert box_iou(b, a).tolist() == pytest.approx(iou.tolist())  # symmetric


def test_box_accuracy_counts_maps_above_the_iou_level():
    maps = torch.zeros(4, 32, 32)
    gt = torch.tensor([[4, 4, 14, 14]]).repeat(4, 1)
    maps[0, 4:14, 4:14] = 1  # exact: IoU 1
    maps[1, 4:14, 9:19] = 1  # shifted by half: IoU 1/3
    maps[2, 4:14, 6:16] = 1  # shifted by 2: IoU 80/120 = 2/3
    maps[3, 20:30, 20:30] = 1  # elsewhere: IoU 0
    at_cams_threshold = threshold_sweep(maps, gt, thresholds=[0.2])
    assert at_cams_threshold.accuracy_at(0.5).tolist() == pytest.approx([0.5])
    assert at_cams_threshold.accuracy_at(0.3).tolist() == pytest.approx([0.75])


def _maps_with_known_max_box_acc() -> tuple[torch.Tensor, torch.Tensor]:
    """Three maps that are exact above a threshold of 0.25, one that is wrong everywhere.

    Good maps: 1 on the true 10x10 box, 0.25 on a 30x30 halo (IoU 1/9), 0 elsewhere.
    """
    maps = torch.zeros(4, 48, 48)
    gt = torch.tensor([[10, 10, 20, 20], [20, 15, 30, 25], [12, 30, 22, 40], [30, 30, 40, 40]])
    for i in range(3):
        x0, y0, x1, y1 = gt[i].tolist()
        maps[i, max(y0 - 10, 0) : y1 + 10, max(x0 - 10, 0) : x1 + 10] = 0.25
        maps[i, y0:y1, x0:x1] = 1.0
    maps[3, 0:10, 0:10] = 1.0  # far from its box
    return maps, gt


def test_max_box_acc_on_a_constructed_case():
    maps, gt = _maps_with_known_max_box_acc()
    sweep = threshold_sweep(maps, gt, thresholds=torch.linspace(0, 1, 11))
    assert sweep.accuracy.shape == (3, 11)
    assert sweep.max_box_acc == pytest.approx(0.75)
    assert sweep.best_threshold == pytest.approx(0.3)  # the first threshold above the halo
    assert sweep.accuracy_at(0.5)[:3].tolist() == [0.0, 0.0, 0.0]  # whole image, then halo
    assert threshold_sweep(maps, gt, multi_contour=True).max_box_acc_v2 == pytest.approx(0.75)


def test_max_box_acc_v2_scores_the_best_matching_region():
    maps = torch.zeros(1, 48, 48)
    maps[0, 0:20, 0:20] = 1.0  # a large wrong region
    maps[0, 30:38, 30:38] = 1.0  # the object, smaller
    gt = torch.tensor([[30, 30, 38, 38]])
    largest, every_region = threshold_sweep(maps, gt), threshold_sweep(maps, gt, multi_contour=True)
    assert largest.max_box_acc == 0.0  # CAM's largest region misses
    assert largest.accuracy.max().item() == 0.0
    assert every_region.max_box_acc_v2 == pytest.approx(1.0)
    # Each metric refuses the other's sweep instead of giving a number that looks right.
    with pytest.raises(ValueError, match=r"MaxBoxAccV2 boxes every region.*multi_contour=True"):
        largest.max_box_acc_v2
    with pytest.raises(ValueError, match=r"MaxBoxAcc boxes the largest region only.*multi_contour=False"):
        every_region.max_box_acc


# ---------------------------------------------------------------- one pass against one labelling per threshold


def _per_threshold_ious(maps, gt, thresholds, multi_contour):
    """(T, B) IoUs the straightforward way: label the masks of each threshold on their own."""
    prepared = _prepare_maps(maps, None)
    ious = []
    for threshold in thresholds.tolist():
        regions = _Regions.find(prepared >= threshold)
        ious.append(regions.best_iou(gt) if multi_contour else box_iou(regions.largest_boxes(), gt))
    return torch.stack(ious)


def _awkward_maps() -> torch.Tensor:
    """(7, 13, 17) maps with many ties: a few levels of noise, a smoothed version (CAM-like blobs),
    a constant map, one hot pixel, a map with two equal blobs, and a snake whose pixels all tie."""
    g = torch.Generator().manual_seed(23)
    noise = (torch.rand(2, 13, 17, generator=g) * 5).floor() / 4  # values 0, 0.25, ..., 1: ties everywhere
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 13, 17, generator=g), 3, 1, 1)[0]
    constant = torch.full((1, 13, 17), 0.7)
    hot_pixel = torch.zeros(1, 13, 17)
    hot_pixel[0, 6, 8] = 1.0
    twins = torch.zeros(1, 13, 17)
    twins[0, 2:5, 2:5] = twins[0, 8:11, 11:14] = 1.0  # equal sizes: the first in reading order wins
    snake = torch.zeros(1, 13, 17)
    snake[0, ::2, :] = 0.5
    snake[0, 1::4, -1] = snake[0, 3::4, 0] = 0.5
    return torch.cat([noise, smooth, constant, hot_pixel, twins, snake])


# Unsorted, with a repeat, the map levels themselves (ties with pixels), and thresholds above every pixel.
_AWKWARD_THRESHOLDS = torch.tensor([0.5, 0.0, 0.25, 0.3, 0.25, 1.0, 0.75, 1.5, 0.1, 0.6, 2.0])


@pytest.mark.parametrize("multi_contour", [False, True])
def test_sweep_gives_the_ious_of_one_labelling_per_threshold(multi_contour, monkeypatch):
    maps = _awkward_maps()
    g = torch.Generator().manual_seed(5)
    corner = torch.randint(0, 8, (len(maps), 2), generator=g)
    gt = torch.cat([corner, corner + torch.randint(1, 9, (len(maps), 2), generator=g)], dim=1)  # (B, 4)
    expected = _per_threshold_ious(maps, gt, _AWKWARD_THRESHOLDS, multi_contour)
    assert expected.shape == (11, 7)
    assert expected.sum() > 0 and (expected[-1] == 0).all()  # some matches; none above every pixel
    sweep = threshold_sweep(maps, gt, _AWKWARD_THRESHOLDS, multi_contour=multi_contour)
    assert torch.equal(sweep.ious, expected)  # exactly, not approximately
    monkeypatch.setattr(localization, "_PIXELS_PER_PASS", 13 * 17 * 2)  # two maps per pass, four passes
    assert torch.equal(threshold_sweep(maps, gt, _AWKWARD_THRESHOLDS, multi_contour=multi_contour).ious, expected)


def test_sweep_finds_the_regions_and_boxes_of_each_threshold():
    maps = _prepare_maps(_awkward_maps(), None)
    maps[0, 3, 4] = float("nan")  # NaN passes no threshold, as NaN >= t is False
    for thresholds in (_AWKWARD_THRESHOLDS, torch.linspace(0, 1, 300)):  # 300: more levels than uint8 holds
        sweep = _Regions.sweep(maps, thresholds)
        assert sweep.batch == len(thresholds) * len(maps)  # one "map" per (threshold, map) pair
        largest = sweep.largest_boxes().view(len(thresholds), len(maps), 4)
        for i, threshold in enumerate(thresholds.tolist()):
            regions = _Regions.find(maps >= threshold)
            mine = (sweep.owner >= i * len(maps)) & (sweep.owner < (i + 1) * len(maps))
            assert sweep.boxes[mine].tolist() == regions.boxes.tolist()  # same regions, same (label) order
            assert sweep.sizes[mine].tolist() == regions.sizes.tolist()
            assert (sweep.owner[mine] - i * len(maps)).tolist() == regions.owner.tolist()
            assert torch.equal(largest[i], regions.largest_boxes())
    constant, hot_pixel, twins = 3, 4, 5  # the last thresholds: 0, 1/299, ..., 1
    assert largest[0, constant].tolist() == [0, 0, 17, 13]  # threshold 0: the whole constant map
    assert largest[1, constant].tolist() == [0, 0, 0, 0]  # above 0 nothing (it normalises to zeros)
    assert largest[-1, hot_pixel].tolist() == [8, 6, 9, 7]
    assert largest[-1, twins].tolist() == [2, 2, 5, 5]  # two equal blobs: the first in reading order


def test_sweep_of_larger_random_maps_matches_the_labelling_of_each_threshold():
    # Smoothed noise at 64x64: long, branching regions that join at many different thresholds.
    g = torch.Generator().manual_seed(7)
    maps = torch.nn.functional.avg_pool2d(torch.rand(6, 1, 64, 64, generator=g), 5, 1, 2)[:, 0]
    gt = torch.tensor([[10, 10, 40, 40]]).repeat(6, 1)
    thresholds = torch.linspace(0, 1, 101)
    for multi_contour in (False, True):
        expected = _per_threshold_ious(maps, gt, thresholds, multi_contour)
        assert torch.equal(threshold_sweep(maps, gt, thresholds, multi_contour=multi_contour).ious, expected)


def test_center_box_and_its_baseline():
    assert center_box(64, 0.5).tolist() == [16, 16, 48, 48]
    assert center_box((40, 80), 1.0).tolist() == [0, 0, 80, 40]
    centred = torch.tensor([[16, 16, 48, 48]]).repeat(5, 1)
    baseline = center_box_baseline(centred, 64)
    assert baseline.max_box_acc == pytest.approx(1.0)
    assert baseline.best_fraction == pytest.approx(0.5, abs=0.05)
    corners = torch.tensor([[0, 0, 8, 8], [56, 56, 64, 64]])
    assert center_box_baseline(corners, 64).max_box_acc == 0.0


def test_mass_inside_boxes():
    maps = torch.zeros(3, 16, 16)
    maps[0, 2:6, 2:6] = 1.0  # all inside
    maps[1, 2:6, 2:10] = 1.0  # half inside
    maps[2] = -1.0  # no positive mass at all
    box = torch.tensor([2, 2, 6, 6])
    assert mass_inside_boxes(maps, box).tolist() == pytest.approx([1.0, 0.5, 0.0])
    low_res = torch.zeros(1, 4, 4)
    low_res[0, 0, 0] = 1.0
    share = mass_inside_boxes(low_res, torch.tensor([0, 0, 4, 4]), image_size=16, mode="nearest")
    assert share.item() == pytest.approx(1.0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_same_boxes():
    maps, gt = _maps_with_known_max_box_acc()
    on_gpu = boxes_from_maps(maps.cuda(), threshold=0.3)
    assert on_gpu.device.type == "cuda"
    assert on_gpu.cpu().tolist() == boxes_from_maps(maps, threshold=0.3).tolist()
    assert threshold_sweep(maps.cuda(), gt.cuda()).max_box_acc == pytest.approx(0.75)


def test_maps_that_carry_a_graph_are_swept_like_detached_ones():
    """06 passes Grad-CAM maps straight from a model: the sweep must not need a .detach() first."""
    maps = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(0)).requires_grad_()
    boxes = torch.tensor([[0, 0, 32, 32], [16, 16, 64, 64], [0, 32, 32, 64], [8, 8, 40, 40]])
    with_graph = threshold_sweep(maps * 1.0, boxes, torch.linspace(0, 1, 11), image_size=64)
    detached = threshold_sweep(maps.detach(), boxes, torch.linspace(0, 1, 11), image_size=64)
    assert with_graph.max_box_acc == detached.max_box_acc
    assert with_graph.best_threshold == detached.best_threshold


# ---------------------------------------------------------------- thresholds tuned on a validation split


def _reference_ious(maps: torch.Tensor, boxes: torch.Tensor, thresholds: list[float]) -> np.ndarray:
    """(T, B) IoU of each map's best-matching region with its box, the slow obvious way: min-max
    normalise, threshold, label the 8-connected regions, box each, keep the best IoU."""
    ious = np.zeros((len(thresholds), len(maps)))
    for b, (raw, box) in enumerate(zip(maps.double().numpy(), boxes.tolist())):
        normalised = (raw - raw.min()) / (raw.max() - raw.min())
        gx0, gy0, gx1, gy1 = box
        for t, threshold in enumerate(thresholds):
            labels, count = ndimage.label(normalised >= threshold, structure=np.ones((3, 3)))
            for region in range(1, count + 1):
                ys, xs = np.nonzero(labels == region)
                x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                inter = max(0, min(x1, gx1) - max(x0, gx0)) * max(0, min(y1, gy1) - max(y0, gy0))
                union = (x1 - x0) * (y1 - y0) + (gx1 - gx0) * (gy1 - gy0) - inter
                ious[t, b] = max(ious[t, b], inter / union)
    return ious


def _reference_tuned_hits(val_maps, val_boxes, test_maps, test_boxes, thresholds, levels=(0.3, 0.5, 0.7)):
    """Per test image, the share of IoU levels passed with each level's best validation threshold
    (the first of ties); also returns the chosen threshold indices."""
    val_ious = _reference_ious(val_maps, val_boxes, thresholds)
    test_ious = _reference_ious(test_maps, test_boxes, thresholds)
    chosen = [int(np.argmax([(row >= level).mean() for row in val_ious])) for level in levels]
    passed = [test_ious[t] >= level for t, level in zip(chosen, levels)]  # I x (N,)
    return np.mean(passed, axis=0), chosen


def _blocky_maps(count: int, seed: int) -> torch.Tensor:
    """(count, 12, 12) maps of 3x3 blocks with values k/9 (never on a tenth, so float rounding cannot
    move a pixel across a threshold of linspace(0, 1, 11)), min 0 and max 1 in every map."""
    g = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 10, (count, 4, 4), generator=g).float()
    levels[:, 0, 0], levels[:, 3, 3] = 0, 9
    return levels.repeat_interleave(3, dim=1).repeat_interleave(3, dim=2) / 9


def _random_boxes(count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    corner = torch.randint(0, 7, (count, 2), generator=g)
    size = torch.randint(3, 7, (count, 2), generator=g)
    return torch.cat([corner, (corner + size).clamp_max(12)], dim=1)  # (count, 4) x0, y0, x1, y1


def test_tuned_box_hits_equals_a_computation_by_hand():
    val_maps, val_boxes = _blocky_maps(40, seed=0), _random_boxes(40, seed=1)
    test_maps, test_boxes = _blocky_maps(30, seed=2), _random_boxes(30, seed=3)
    thresholds = torch.linspace(0, 1, 11)
    expected, chosen = _reference_tuned_hits(val_maps, val_boxes, test_maps, test_boxes, thresholds.tolist())
    assert len(set(chosen)) > 1, "the data must make the IoU levels choose different thresholds"
    hits = tuned_box_hits(val_maps, val_boxes, test_maps, test_boxes, thresholds)
    assert hits.shape == (30,)
    assert hits.tolist() == pytest.approx(expected.tolist())
    assert 0 < hits.mean() < 1


def _plateau_maps(count: int) -> torch.Tensor:
    """(count, 16, 16): 1 on the core box (6, 6, 10, 10), 0.4 on the halo box (4, 4, 12, 12), 0 elsewhere.
    A threshold in (0, 0.4] boxes the halo, one in (0.4, 1] the core, 0 the whole image."""
    maps = torch.zeros(count, 16, 16)
    maps[:, 4:12, 4:12] = 0.4
    maps[:, 6:10, 6:10] = 1.0
    return maps


def test_tuned_box_hits_uses_the_validation_threshold_on_the_test_split():
    halo, core, between = [4, 4, 12, 12], [6, 6, 10, 10], [5, 5, 11, 11]
    val_boxes = torch.tensor([halo, halo])  # validation: the halo threshold is the best at every level
    test_boxes = torch.tensor([core, halo, between])  # IoU with the halo's box: 16/64, 1, 36/64
    hits = tuned_box_hits(_plateau_maps(2), val_boxes, _plateau_maps(3), test_boxes, [0.0, 0.25, 0.5, 0.75, 1.0])
    # The core image would pass every level at 0.5, but the test split never chooses its threshold.
    assert hits.tolist() == pytest.approx([0.0, 1.0, 2 / 3])  # 36/64 = 0.56 passes 0.3 and 0.5, not 0.7
    # Tuned on the core instead, the same test maps are boxed by their core: IoU 1, 16/64, 16/36.
    core_hits = tuned_box_hits(_plateau_maps(1), torch.tensor([core]), _plateau_maps(3), test_boxes, [0.0, 0.25, 0.5])
    assert core_hits.tolist() == pytest.approx([1.0, 0.0, 1 / 3])


def test_tuned_box_hits_mean_is_max_box_acc_v2_when_both_splits_are_the_same():
    maps, boxes = _blocky_maps(25, seed=4), _random_boxes(25, seed=5)
    hits = tuned_box_hits(maps, boxes, maps, boxes, torch.linspace(0, 1, 11))
    sweep = threshold_sweep(maps, boxes, torch.linspace(0, 1, 11), multi_contour=True)
    assert hits.mean().item() == pytest.approx(sweep.max_box_acc_v2)


def test_tuned_box_hits_upsamples_like_threshold_sweep():
    """image_size: 8x8 maps scored against boxes in 64x64 image pixels, as notebook 08 does."""
    small = torch.zeros(2, 8, 8)
    small[:, 2:6, 2:6] = 1.0
    boxes = torch.tensor([[16, 16, 48, 48], [0, 0, 16, 16]])
    hits = tuned_box_hits(small[:1], boxes[:1], small, boxes, torch.linspace(0, 1, 21), image_size=64)
    assert hits.tolist() == pytest.approx([1.0, 0.0])


def test_tuned_box_hits_says_what_is_wrong():
    maps, boxes = _plateau_maps(2), torch.tensor([[4, 4, 12, 12]] * 2)
    with pytest.raises(ValueError, match="2 validation maps but 1 validation boxes"):
        tuned_box_hits(maps, boxes[:1], maps, boxes)
    with pytest.raises(ValueError, match="3 test maps but 2 test boxes"):
        tuned_box_hits(maps, boxes, _plateau_maps(3), boxes)
    with pytest.raises(ValueError, match="the test split has no images"):
        tuned_box_hits(maps, boxes, maps[:0], boxes[:0])
    with pytest.raises(ValueError, match=r"validation maps must be \(B, h, w\) and boxes \(B, 4\)"):
        tuned_box_hits(maps, boxes[:, :2], maps, boxes)
