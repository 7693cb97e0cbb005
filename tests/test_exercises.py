"""Self-checking exercises: the shared machinery, then each checker with a right and a wrong answer."""

from __future__ import annotations

import pytest
import torch

from cam_helpers import exercises
from cam_helpers.exercises import Case, Mistake, Text, compare_on_cases, compare_value, set_language


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("en")


def _double(x):
    return 2 * x


_CASES = [Case("a vector", (torch.arange(3.0),)), Case("a batch", (torch.ones(2, 4),))]
_FORGOT = Mistake(lambda x: x, Text("Hint: did you forget to double?", "힌트: 두 배를 잊었나요?"))


def test_a_right_answer_passes_and_says_how_many_cases():
    verdict = compare_on_cases(lambda x: x + x, _double, _CASES, [_FORGOT])
    assert verdict and verdict.passed
    assert "2 hidden cases" in verdict.message and repr(verdict).startswith("✓")


def test_a_known_mistake_gets_its_hint_not_the_solution():
    verdict = compare_on_cases(lambda x: x.clone(), _double, _CASES, [_FORGOT])
    assert not verdict
    assert verdict.message == "Hint: did you forget to double?"


def test_an_unknown_wrong_answer_names_the_case_and_the_problem():
    wrong_shape = compare_on_cases(lambda x: x.sum(), _double, _CASES)
    assert not wrong_shape and "'a vector'" in wrong_shape.message and "shape ()" in wrong_shape.message
    wrong_values = compare_on_cases(lambda x: 3 * x, _double, _CASES)
    assert not wrong_values and "values differ" in wrong_values.message


def test_placeholders_and_errors_never_raise():
    assert "Not answered yet" in compare_on_cases(None, _double, _CASES).message
    assert "Not answered yet" in compare_on_cases(lambda x: ..., _double, _CASES).message

    def broken(x):
        raise IndexError("dimension out of range")

    verdict = compare_on_cases(broken, _double, _CASES)
    assert not verdict and "IndexError: dimension out of range" in verdict.message


def test_an_answer_that_works_in_place_cannot_change_the_reference():
    def in_place(x):
        return x.mul_(2)

    assert compare_on_cases(in_place, _double, _CASES)


def test_compare_value_accepts_tuples_and_sizes_and_gives_hints():
    assert compare_value((512, 7, 7), torch.Size([512, 7, 7]))
    hint = Text("Flatten keeps every number: 512 * 7 * 7.")
    verdict = compare_value(512, 25088, [(512, hint)])
    assert not verdict and verdict.message == hint.en
    assert not compare_value(3, 25088) and "3" in compare_value(3, 25088).message
    assert compare_value(0.5, 0.5 + 1e-9)


def test_korean_messages():
    set_language("ko")
    assert "아직 답이 없습니다" in compare_on_cases(None, _double, _CASES).message
    assert compare_on_cases(lambda x: x.clone(), _double, _CASES, [_FORGOT]).message == "힌트: 두 배를 잊었나요?"
    with pytest.raises(ValueError, match="Unknown language 'fr'"):
        set_language("fr")
    assert exercises._language == "ko"


# --- Checkers for notebooks 04-07 (Grad-CAM, explorer, localization, trust) ---

from cam_helpers.exercises import (  # noqa: E402
    check_deletion_step,
    check_grad_cam_from_cam,
    check_grad_cam_weights,
    check_iou,
    check_largest_region_box,
    check_layer2_side,
    check_resnet_stage_side,
    check_spearman,
)


def test_check_grad_cam_weights():
    assert check_grad_cam_weights(lambda g: g.mean(dim=(2, 3)))
    assert check_grad_cam_weights(lambda g: g.sum(dim=(2, 3)) / (g.shape[2] * g.shape[3]))
    summed = check_grad_cam_weights(lambda g: g.sum(dim=(2, 3)))
    assert not summed and "you summed over the positions" in summed.message
    over_channels = check_grad_cam_weights(lambda g: g.mean(dim=1))
    assert not over_channels and "averaged over the channels" in over_channels.message
    assert "Not answered yet" in check_grad_cam_weights(None).message


def test_check_grad_cam_from_cam():
    assert check_grad_cam_from_cam(lambda cam: torch.relu(cam) / (cam.shape[-2] * cam.shape[-1]))
    assert check_grad_cam_from_cam(lambda cam: (cam / cam[0, 0].numel()).clamp_min(0))
    no_relu = check_grad_cam_from_cam(lambda cam: cam / (cam.shape[-2] * cam.shape[-1]))
    assert not no_relu and "ends with a ReLU" in no_relu.message
    no_factor = check_grad_cam_from_cam(torch.relu)
    assert not no_factor and "mean* over h * w" in no_factor.message


def test_check_layer2_side():
    assert check_layer2_side(28)
    wrong = check_layer2_side(56)
    assert not wrong and "layer1 keeps the 56x56" in wrong.message
    assert not check_layer2_side(30) and "Not quite" in check_layer2_side(30).message


def test_check_resnet_stage_side():
    assert check_resnet_stage_side(lambda layer, side: side // {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}[layer])
    no_stem = check_resnet_stage_side(lambda layer, side: side // 2 ** int(layer[-1]))
    assert not no_stem and "stem" in no_stem.message and "divides by 4" in no_stem.message
    layer1_halves = check_resnet_stage_side(lambda layer, side: side // 2 ** (int(layer[-1]) + 2))
    assert not layer1_halves and "layer1 keeps the resolution" in layer1_halves.message


def _iou(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def test_check_iou():
    assert check_iou(_iou)
    from cam_helpers.localization import box_iou
    assert check_iou(lambda a, b: box_iou(torch.tensor(a), torch.tensor(b)))  # the helper agrees, as a 0-dim tensor

    def no_clamp(a, b):
        inter = (min(a[2], b[2]) - max(a[0], b[0])) * (min(a[3], b[3]) - max(a[1], b[1]))
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    verdict = check_iou(no_clamp)
    assert not verdict and "clamp the intersection" in verdict.message and "boxes far apart" in verdict.message

    def union_too_big(a, b):
        w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]))

    verdict = check_iou(union_too_big)
    assert not verdict and "counts the overlap twice" in verdict.message


def test_check_largest_region_box():
    from scipy import ndimage

    def largest(mask):
        labels, count = ndimage.label(mask.numpy(), structure=[[1] * 3] * 3)
        sizes = [(labels == i).sum() for i in range(1, count + 1)]
        rows, cols = (labels == 1 + max(range(count), key=sizes.__getitem__)).nonzero()
        return torch.tensor([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])   # a tensor is fine too

    assert check_largest_region_box(largest)

    def every_pixel(mask):
        rows, cols = mask.nonzero(as_tuple=True)
        return cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1

    verdict = check_largest_region_box(every_pixel)
    assert not verdict and "keep only the largest connected region" in verdict.message

    def four_connected(mask):
        labels, count = ndimage.label(mask.numpy())
        sizes = [(labels == i).sum() for i in range(1, count + 1)]
        rows, cols = (labels == 1 + max(range(count), key=sizes.__getitem__)).nonzero()
        return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1

    verdict = check_largest_region_box(four_connected)
    assert not verdict and "8-connectivity" in verdict.message and "joined only at corners" in verdict.message


def _spearman(a, b):
    from cam_helpers.metrics import rank_correlation
    return rank_correlation(a[None], b[None])[0]


def test_check_spearman():
    assert check_spearman(_spearman)
    pearson = check_spearman(lambda a, b: torch.corrcoef(torch.stack([a, b]))[0, 1])
    assert not pearson and "Pearson correlation of the values" in pearson.message

    def ordinal(a, b):
        ra, rb = a.argsort().argsort().float(), b.argsort().argsort().float()
        return torch.corrcoef(torch.stack([ra, rb]))[0, 1]

    verdict = check_spearman(ordinal)
    assert not verdict and "average of their ranks" in verdict.message
    once = check_spearman(lambda a, b: torch.corrcoef(torch.stack([a.argsort().float(), b.argsort().float()]))[0, 1])
    assert not once and "apply argsort twice" in once.message


def test_check_deletion_step():
    def deletion(image, saliency, fraction):
        count = round(fraction * saliency.numel())
        removed = torch.zeros(saliency.numel(), dtype=torch.bool)
        removed[saliency.flatten().topk(count).indices] = True
        return image.masked_fill(removed.view(saliency.shape), 0.0)

    assert check_deletion_step(deletion)
    least = check_deletion_step(lambda image, saliency, fraction: deletion(image, -saliency, fraction))
    assert not least and "*least* important" in least.message
