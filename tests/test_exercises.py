"""Self-checking exercises: the shared machinery, then each checker with a right and a wrong answer."""

from __future__ import annotations

import ast
import inspect
import math
import re

import pytest
import torch

from cam_helpers import exercises
from cam_helpers.exercises import Case, Text, compare_on_cases, compare_value, set_language


@pytest.fixture(autouse=True)
def english():
    """Each test starts in English and leaves English behind (the language is a module-wide setting)."""
    set_language("en")
    yield
    set_language("en")


def _double(x):
    return 2 * x


_CASES = [Case("a vector", (torch.arange(3.0),)), Case("a batch", (torch.ones(2, 4),))]
# A mistake: the wrong function, and its hint.
_FORGOT = (lambda x: x, Text("Hint: did you forget to double?", "힌트: 두 배로 만드는 것을 잊었습니까?"))


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


def test_an_answer_that_changes_its_input_in_place_is_rejected_and_the_cases_stay_as_they_were():
    before = [case.args[0].clone() for case in _CASES]

    def doubled_in_place(x):
        return x.mul_(2)  # the right numbers, but the caller's x is doubled too

    verdict = compare_on_cases(doubled_in_place, _double, _CASES)
    assert not verdict and verdict.message == (
        "On the case 'a vector' your answer changed its input `x` in place, with `*=` (`.mul_()`): the caller's "
        "tensor changes too, so the code after your function would see other numbers. "
        "Compute the result in a new tensor instead.")
    assert all(torch.equal(case.args[0], x) for case, x in zip(_CASES, before))  # the answer got copies
    # Without parameter names (a *args answer) the argument is counted instead.
    assert "changed its input number 1 in place" in compare_on_cases(lambda *xs: xs[0].mul_(2), _double, _CASES).message


def _zero_the_large_values(x):
    x[x > 0.5] = 0.0  # item assignment: Tensor.__setitem__
    return 2 * x


def _write_through_numpy(x):
    x.numpy()[...] *= 2  # torch does not see this write: the values tell
    return x.clone()


@pytest.mark.parametrize("answer, operation", [
    (lambda x: x.mul_(2), "`*=` (`.mul_()`)"),
    (lambda x: torch.mul(x, 2, out=x), "`mul(..., out=...)`"),
    (lambda x: x.view(-1).add_(x.view(-1)).view(x.shape), "`+=` (`.add_()`)"),  # a view shares x's memory
    (lambda x: x.data.mul_(2), "`*=` (`.mul_()`)"),
    (lambda x: torch.nn.functional.hardtanh(x, 0.0, 0.5, inplace=True), "`hardtanh(..., inplace=True)`"),
    (_zero_the_large_values, "`x[...] = ...`"),
    (_write_through_numpy, "an in-place operation, or a write through `.numpy()`"),
])
def test_every_way_of_writing_into_an_input_is_caught(answer, operation):
    verdict = compare_on_cases(answer, _double, _CASES)
    assert not verdict and operation in verdict.message and "'a vector'" in verdict.message, verdict.message


def test_writing_into_the_answers_own_tensors_is_fine():
    def doubled(x):
        y = x.clone()
        y.mul_(2)  # in place, on a copy
        y[...] += 0  # an item assignment, on the copy
        x.add_(0)  # in place on the input, but nothing changes
        return y

    assert compare_on_cases(doubled, _double, _CASES)
    # A case with NaN in it: NaN != NaN must not make an untouched input look changed.
    assert compare_on_cases(lambda x: x + x, _double, [Case("NaN", (torch.tensor([1.0, float("nan")]),))])


def test_a_tensor_of_several_numbers_where_one_number_is_expected_is_wrong_not_an_error():
    verdict = compare_on_cases(lambda n: torch.zeros(3), lambda n: n + 1, [Case("one", (1,))])
    assert not verdict and "returned tensor([0., 0., 0.])" in verdict.message
    assert not compare_value(torch.zeros(3), 32)


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
    assert compare_on_cases(lambda x: x.clone(), _double, _CASES, [_FORGOT]).message == "힌트: 두 배로 만드는 것을 잊었습니까?"
    with pytest.raises(ValueError, match="Unknown language 'fr'"):
        set_language("fr")
    assert exercises._language == "ko"


# --- Checkers for notebooks 00 (Start here), 01 (The traditional classifier), 02 (The GAP pipeline), 03 (CAM step by step) ---
from cam_helpers.exercises import (  # noqa: E402
    check_all_class_cams,
    check_cam_by_hand,
    check_flat_position,
    check_flatten_fc_weight_shape,
    check_grid_cell_pixels,
    check_logits_from_features,
    check_normalize_map,
)


def _rejected_with(verdict, words):
    assert not verdict, verdict
    assert words in verdict.message, verdict.message


def test_grid_cell_pixels_accepts_32_and_explains_the_slips():
    assert check_grid_cell_pixels(32) and check_grid_cell_pixels(224 / 7)
    _rejected_with(check_grid_cell_pixels(7), "number of cells in a row")
    _rejected_with(check_grid_cell_pixels(224 / 49), "ONE row")
    _rejected_with(check_grid_cell_pixels(1024), "area")
    assert "Not answered yet" in check_grid_cell_pixels(...).message


def test_flatten_fc_weight_shape_accepts_the_shape_and_names_the_post_slip():
    assert check_flatten_fc_weight_shape((1000, 62720))
    assert check_flatten_fc_weight_shape(torch.Size([1000, 1280 * 49]))
    _rejected_with(check_flatten_fc_weight_shape((1000, 1280)), "[N, 512] slip")
    _rejected_with(check_flatten_fc_weight_shape([62720, 1000]), "(out_features, in_features)")
    _rejected_with(check_flatten_fc_weight_shape((1000, 25088)), "1280 channels")
    assert "Not answered yet" in check_flatten_fc_weight_shape(...).message
    _rejected_with(check_flatten_fc_weight_shape((3, 4)), "not the right answer")


def test_flat_position_accepts_channel_first_and_rejects_typical_slips():
    assert check_flat_position(lambda c, r, col, shape: c * shape[1] * shape[2] + r * shape[2] + col)
    # The same through torch: the index of the element in a flattened arange.
    assert check_flat_position(lambda c, r, col, shape: int(torch.arange(shape[0] * shape[1] * shape[2]).view(*shape)[c, r, col]))
    _rejected_with(check_flat_position(lambda c, r, col, shape: c * 49 + r * 7 + col), "7x7 grid only")
    _rejected_with(check_flat_position(lambda c, r, col, shape: (r * shape[2] + col) * shape[0] + c), "channels-last")
    _rejected_with(check_flat_position(lambda c, r, col, shape: c * shape[1] * shape[2] + col * shape[1] + r), "swapped")
    assert "Not answered yet" in check_flat_position(None).message


def test_logits_from_features_accepts_gap_then_fc_and_names_the_slips():
    assert check_logits_from_features(lambda f, w, b: torch.nn.functional.linear(f.mean(dim=(2, 3)), w, b))
    _rejected_with(check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w.T), "bias")
    _rejected_with(check_logits_from_features(lambda f, w, b: f.sum(dim=(2, 3)) @ w.T + b), "*average*")
    _rejected_with(check_logits_from_features(lambda f, w, b: f.amax(dim=(2, 3)) @ w.T + b), "*max* pooling")
    # Only the first image: the batch case names the shape.
    _rejected_with(check_logits_from_features(lambda f, w, b: f[0].mean(dim=(1, 2)) @ w.T + b), "shape")
    # The weight read as (C, K): the case with K == C lets it run, and the hint says what happened.
    _rejected_with(check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w + b), "reads it as (C, K)")


def test_all_class_cams_accepts_einsum_and_loop_and_names_the_slips():
    assert check_all_class_cams(lambda f, w: torch.einsum("bchw,kc->bkhw", f, w))

    def by_loop(features, fc_weight):
        maps = torch.zeros(features.shape[0], fc_weight.shape[0], *features.shape[2:])
        for k in range(fc_weight.shape[0]):
            for c in range(features.shape[1]):
                maps[:, k] += fc_weight[k, c] * features[:, c]
        return maps

    assert check_all_class_cams(by_loop)
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,kc->bkhw", f, w) / f.shape[1]), "*sums*")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,ck->bkhw", f, w)), "'kc'")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,kc->bkwh", f, w)), "swapped")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,kc->bk", f, w)), "positions too")


def test_cam_by_hand_accepts_the_weighted_sum_and_names_the_slips():
    assert check_cam_by_hand(lambda f, w, c: torch.einsum("c,chw->hw", w[c], f))
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w.sum(0)[:, None, None] * f).sum(0)), "class's row")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[0][:, None, None] * f).sum(0)), "row 0")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[c][:, None, None] * f).sum(1)), "wrong axis")

    def normalised_first(f, w, c):
        low = f.amin(dim=(1, 2), keepdim=True)
        return (w[c][:, None, None] * (f - low) / (f.amax(dim=(1, 2), keepdim=True) - low)).sum(0)

    _rejected_with(check_cam_by_hand(normalised_first), "before weighing")
    _rejected_with(check_cam_by_hand(lambda f, w, c: torch.relu(torch.einsum("c,chw->hw", w[c], f))), "No ReLU")

    def raises(f, w, c):
        return w[c] @ f  # (C,) @ (C, h, w): a shape error

    _rejected_with(check_cam_by_hand(raises), "raised")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[c - 1][:, None, None] * f).sum(0)), "the row before")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[:, c][:, None, None] * f).sum(0)), "took a column")


def test_normalize_map_accepts_min_max_with_a_safe_constant_map():
    def normalize_map(cam):
        span = cam.max() - cam.min()
        return (cam - cam.min()) / span if span > 0 else torch.zeros_like(cam)

    assert check_normalize_map(normalize_map)

    def normalize_by_cells(cam):  # plain Python over the cells, no tensor arithmetic
        values = [v for row in cam.tolist() for v in row]
        low, high = min(values), max(values)
        return torch.tensor([[(v - low) / (high - low) if high > low else 0.0 for v in row] for row in cam.tolist()])

    assert check_normalize_map(normalize_by_cells)
    _rejected_with(check_normalize_map(lambda m: m / m.max()), "Dividing by the maximum")
    _rejected_with(check_normalize_map(lambda m: (m - m.min()) / m.max()), "divide by the range")
    _rejected_with(check_normalize_map(lambda m: (m - m.min()) / (m.max() - m.min())), "constant map gives 0 / 0")

    def ones_when_constant(cam):
        span = cam.max() - cam.min()
        return (cam - cam.min()) / span if span > 0 else torch.ones_like(cam)

    _rejected_with(check_normalize_map(ones_when_constant), "on 'a constant map' every cell has the same value")
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
    assert not wrong and "layer1's map, one stage too early" in wrong.message
    assert not check_layer2_side(30) and "Not quite" in check_layer2_side(30).message
    # The hints point at what to count, never at the answer.
    for wrong in (112, 56, 14, 7):
        assert "28" not in check_layer2_side(wrong).message


def test_check_resnet_stage_side():
    assert check_resnet_stage_side(lambda layer, side: side // {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}[layer])
    no_stem = check_resnet_stage_side(lambda layer, side: side // 2 ** int(layer[-1]))
    assert not no_stem and "stem" in no_stem.message and "divides by 4" in no_stem.message
    layer1_halves = check_resnet_stage_side(lambda layer, side: side // 2 ** (int(layer[-1]) + 2))
    assert not layer1_halves and "layer1 keeps the resolution" in layer1_halves.message
    # A wrong number no known mistake explains: the message says on which case, and what came back.
    always_seven = check_resnet_stage_side(lambda layer, side: 7)
    assert not always_seven and always_seven.message == (
        "On the case 'layer1 at 224x224' your answer returned 7, which is not the right value."
    )


def _iou_slip(clamp_width=True, clamp_height=True, union_counts_overlap_once=True, plus_one=False):
    """The exercise's answer, (boxes (N, 4), box (4,)) -> (N,), right with the defaults; each flag is one slip."""
    def iou(boxes, box):
        if plus_one:  # widths counted as for end-inclusive boxes: x1 - x0 + 1
            boxes, box = boxes + torch.tensor([0, 0, 1, 1]), box + torch.tensor([0, 0, 1, 1])
        width = torch.minimum(boxes[:, 2], box[2]) - torch.maximum(boxes[:, 0], box[0])      # (N,)
        height = torch.minimum(boxes[:, 3], box[3]) - torch.maximum(boxes[:, 1], box[1])     # (N,)
        width = width.clamp(min=0) if clamp_width else width
        height = height.clamp(min=0) if clamp_height else height
        intersection = width * height
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])         # (N,)
        box_area = (box[2] - box[0]) * (box[3] - box[1])
        union = areas + box_area - (intersection if union_counts_overlap_once else 0)
        return intersection / union
    return iou


_iou = _iou_slip()


def test_check_iou():
    assert check_iou(_iou)
    from cam_helpers.localization import box_iou
    assert check_iou(lambda boxes, box: box_iou(boxes, box.expand_as(boxes)))  # the helper agrees
    assert check_iou(lambda boxes, box: torch.tensor([exercises._iou(row, box.tolist()) for row in boxes.tolist()]))

    verdict = check_iou(_iou_slip(clamp_width=False, clamp_height=False))
    assert not verdict and "clamp the intersection" in verdict.message
    assert "'boxes far from (0, 0, 4, 4), diagonally'" in verdict.message

    verdict = check_iou(_iou_slip(union_counts_overlap_once=False))
    assert not verdict and "counts the overlap twice" in verdict.message

    verdict = check_iou(_iou_slip(clamp_height=False))
    assert not verdict and "'boxes below (0, 0, 10, 4), apart'" in verdict.message
    assert "overlap the box along one axis but not the other" in verdict.message
    verdict = check_iou(_iou_slip(clamp_width=False))
    assert not verdict and "'boxes beside (0, 0, 4, 10), apart'" in verdict.message


def test_check_iou_asks_for_more_than_the_lessons_two_box_cell():
    """06's iou_by_hand (two boxes, Python's max and min) does not answer the exercise: it takes a batch."""
    def iou_by_hand(a, b):  # the lesson's cell, as printed above the exercise
        width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        intersection = width * height
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
        return intersection / union

    verdict = check_iou(iou_by_hand)
    assert not verdict and "raised RuntimeError" in verdict.message, verdict.message  # max() of a tensor of 4
    first_box_only = check_iou(lambda boxes, box: _iou(boxes[:1], box)[0])
    assert not first_box_only and "the right answer has shape (4,)" in first_box_only.message, first_box_only.message
    assert exercises._iou((0, 0, 10, 4), (0, 6, 10, 10)) == 0


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
    # The hint says what the neighbourhoods are, and names no library call that would be the answer.
    assert "4 neighbours that share a side (up, down, left, right)" in verdict.message
    assert "4 diagonal neighbours" in verdict.message
    assert "scipy" not in verdict.message and "ndimage" not in verdict.message and "structure" not in verdict.message


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

    def counted_by(rounding):
        def deletion_step(image, saliency, fraction):
            removed = torch.zeros(saliency.numel(), dtype=torch.bool)
            removed[saliency.flatten().topk(rounding(fraction * saliency.numel())).indices] = True
            return image.masked_fill(removed.view(saliency.shape), 0.0)
        return deletion_step

    _rejected_with(check_deletion_step(counted_by(int)), "one pixel too few: int()")
    _rejected_with(check_deletion_step(counted_by(math.floor)), "one pixel too few: int() (like math.floor)")
    _rejected_with(check_deletion_step(counted_by(math.ceil)), "one pixel too many: math.ceil")


def test_checkers_name_the_in_place_operation_and_the_argument_in_english_and_korean():
    def relu_features(features, fc_weight, fc_bias):
        return features.relu_().mean(dim=(2, 3)) @ fc_weight.T + fc_bias  # wrong anyway: no ReLU in GAP -> FC

    def mean_in_place(gradients):
        gradients /= gradients.shape[2] * gradients.shape[3]
        return gradients.sum(dim=(2, 3))  # the right weights

    _rejected_with(check_logits_from_features(relu_features), "changed its input `features` in place, with `.relu_()`")
    _rejected_with(check_grad_cam_weights(mean_in_place),
                   "changed its input `gradients` in place, with `/=` (`.div_()`)")
    set_language("ko")
    relu = check_logits_from_features(relu_features)
    _rejected_with(relu, "입력 `features`의 값을 바꾸었습니다. 제자리 연산(in-place) `.relu_()` 때문입니다.")
    divided = check_grad_cam_weights(mean_in_place)
    _rejected_with(divided, "입력 `gradients`의 값을 바꾸었습니다. 제자리 연산(in-place) `/=` (`.div_()`) 때문입니다.")
    for message in (relu.message, divided.message):
        assert not _HAEYO.search(message) and "경우에 답" not in message, message


def test_a_case_label_can_be_korean_too():
    cases = [Case(Text("a batch", "배치"), (torch.ones(2, 4),))]
    assert "'a batch'" in compare_on_cases(lambda x: 3 * x, _double, cases).message
    set_language("ko")
    assert "테스트 '배치'에서 형태는 맞지만" in compare_on_cases(lambda x: 3 * x, _double, cases).message


# Every checker's hidden cases are named in Korean too: a Korean learner reads "테스트 '배치 크기 2, ...'에서 ...",
# not an English case name inside a Korean sentence.

_HANGUL = re.compile("[\uac00-\ud7a3]")
_HAEYO = re.compile(r"요(?=[.?!)\s:]|$)|세요")  # 해요체 endings ("혼동이에요.") and -세요 imperatives


def test_korean_texts_are_in_one_register():
    """Every Korean string in exercises.py (hints, case names, messages): 합니다체, no 해요체, no calques."""
    assert _HAEYO.search("흔한 혼동이에요.") and _HAEYO.search("나누세요") and not _HAEYO.search("중요한 픽셀입니다.")
    tree = ast.parse(inspect.getsource(exercises))
    korean = [node.value for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str) and _HANGUL.search(node.value)]
    assert len(korean) > 100  # the hints, the case names and the shared messages
    assert not [text for text in korean if _HAEYO.search(text)]
    assert not [text for text in korean if "경우에 답" in text or "경우 모두" in text]
_CHECKERS = sorted(
    name for name, value in vars(exercises).items()
    if name.startswith("check_") and inspect.isfunction(value) and value.__module__ == exercises.__name__
)
# These ask for a single value (a number or a shape) and go through compare_value: there is no hidden case to name.
_VALUE_CHECKERS = {"check_grid_cell_pixels", "check_flatten_fc_weight_shape", "check_layer2_side"}


def _boom(*args, **kwargs):
    raise RuntimeError("boom")


def _cases_handed_over(name: str, monkeypatch) -> tuple[list, object]:
    """Run checker ``name`` on an answer that raises; return the cases it gave compare_on_cases, and its verdict."""
    used = []
    real = exercises.compare_on_cases

    def spy(answer, reference, cases, *args, **kwargs):  # records the cases the checker hands over
        cases = list(cases)
        used.extend(cases)
        return real(answer, reference, cases, *args, **kwargs)

    monkeypatch.setattr(exercises, "compare_on_cases", spy)
    return used, getattr(exercises, name)(_boom)


def test_the_checkers_are_found_by_name_and_value_checkers_have_no_cases(monkeypatch):
    assert len(_CHECKERS) >= 15 and {"check_iou", "check_layer_cam"} <= set(_CHECKERS)
    assert _VALUE_CHECKERS <= set(_CHECKERS)
    for name in sorted(_VALUE_CHECKERS):
        used, _ = _cases_handed_over(name, monkeypatch)
        assert not used, f"{name} now has hidden cases: remove it from _VALUE_CHECKERS"


@pytest.mark.parametrize("name", [n for n in _CHECKERS if n not in _VALUE_CHECKERS])
def test_every_hidden_case_label_is_korean_under_set_language_ko(name, monkeypatch):
    set_language("ko")
    used, verdict = _cases_handed_over(name, monkeypatch)
    assert used, f"{name} uses no hidden cases; if it checks a single value, add it to _VALUE_CHECKERS"
    # The learner's view: an answer that raises is told which case, by its Korean name.
    named = re.fullmatch(r"테스트 '(.*)'에서 오류가 났습니다: RuntimeError: boom", verdict.message)
    assert named, verdict.message
    assert _HANGUL.search(named.group(1)), verdict.message
    # And every other case it could name.
    english = [exercises._label(case) for case in used if not _HANGUL.search(exercises._label(case))]
    assert not english, f"{name}: case labels without a Korean version: {english}"
    set_language("en")
    assert not _HANGUL.search(exercises._label(used[0]))  # English stays English




# --- Korean hints for notebook 00 ---


def test_grid_cell_pixels_hints_in_korean():
    set_language("ko")
    _rejected_with(check_grid_cell_pixels(7), "한 줄에 놓인 칸의 개수")
    _rejected_with(check_grid_cell_pixels(224 / 49), "한 줄의 칸 수(7)로 나누어야 합니다")
    _rejected_with(check_grid_cell_pixels(1024), "넓이")
    assert "격자 한 칸은 입력의 32x32 조각" in check_grid_cell_pixels(32).message


# --- Korean hints for notebook 01 ---


def test_flat_position_hints_in_korean():
    set_language("ko")
    _rejected_with(check_flat_position(lambda c, r, col, shape: c * 49 + r * 7 + col), "7x7 격자에서만 맞습니다")
    _rejected_with(check_flat_position(lambda c, r, col, shape: (r * shape[2] + col) * shape[0] + c), "channels-last")
    _rejected_with(check_flat_position(lambda c, r, col, shape: c * shape[1] * shape[2] + col * shape[1] + r), "행과 열이 바뀌었습니다")


def test_flatten_fc_weight_shape_hints_in_korean():
    set_language("ko")
    _rejected_with(check_flatten_fc_weight_shape((1000, 1280)), "원문 포스팅이 [N, 512]라고 적은 것")
    _rejected_with(check_flatten_fc_weight_shape((62720, 1000)), "순서가 반대입니다")
    _rejected_with(check_flatten_fc_weight_shape((1000, 25088)), "채널은 1280개")
    _rejected_with(check_flatten_fc_weight_shape((1000, 8960)), "49개입니다")
    assert "49배" in check_flatten_fc_weight_shape((1000, 62720)).message




# --- Korean hints for notebook 02 ---


def test_logits_from_features_hints_in_korean():
    set_language("ko")
    _rejected_with(check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w.T), "편향(bias)도 더합니다")
    _rejected_with(check_logits_from_features(lambda f, w, b: f.sum(dim=(2, 3)) @ w.T + b), "*평균*")
    verdict = check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w.T + b)
    assert verdict and "모델의 헤드와 똑같습니다" in verdict.message


def test_all_class_cams_hints_in_korean():
    set_language("ko")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,ck->bkhw", f, w)), "글자는 'kc'여야")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,kc->bk", f, w)), "위치까지 더해")


# --- Korean hints for notebook 03 ---


def test_cam_by_hand_hints_in_korean():
    set_language("ko")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[0][:, None, None] * f).sum(0)), "늘 0번 행을")
    _rejected_with(check_cam_by_hand(lambda f, w, c: torch.relu(torch.einsum("c,chw->hw", w[c], f))), "ReLU를 쓰지 않습니다")


def test_normalize_map_hints_in_korean():
    set_language("ko")
    _rejected_with(check_normalize_map(lambda m: (m - m.min()) / (m.max() - m.min())), "상수 맵에서는 0 / 0 = NaN")
    _rejected_with(check_normalize_map(lambda m: m / m.max()), "먼저 최솟값을 빼고")


# --- Korean hints for notebook 04 ---


def test_check_grad_cam_weights_in_korean():
    set_language("ko")
    summed = check_grad_cam_weights(lambda g: g.sum(dim=(2, 3)))
    assert not summed and "위치들을 더했습니다" in summed.message and "h * w로 나눕니다" in summed.message
    over_channels = check_grad_cam_weights(lambda g: g.mean(dim=1))
    assert not over_channels and "채널에 대해 평균을 냈습니다" in over_channels.message
    right = check_grad_cam_weights(lambda g: g.mean(dim=(2, 3)))
    assert right and "모두 통과했습니다" in right.message and "공간 평균" in right.message


def test_check_grad_cam_from_cam_in_korean():
    set_language("ko")
    no_relu = check_grad_cam_from_cam(lambda cam: cam / (cam.shape[-2] * cam.shape[-1]))
    assert not no_relu and "음수 값이 남아 있습니다" in no_relu.message and "ReLU" in no_relu.message
    no_factor = check_grad_cam_from_cam(torch.relu)
    assert not no_factor and "*평균*의 그래디언트" in no_factor.message
    one_side = check_grad_cam_from_cam(lambda cam: torch.relu(cam) / cam.shape[-1])
    assert not one_side and "위치의 개수 h * w로 나누어야 합니다" in one_side.message


# --- Korean hints for notebook 05 ---


def test_check_layer2_side_in_korean():
    set_language("ko")
    wrong = check_layer2_side(56)
    assert not wrong and "56은 layer1 맵의 한 변" in wrong.message
    right = check_layer2_side(28)
    assert right and right.message.startswith("정답입니다: 28.") and "layer1에서 56" in right.message


def test_check_resnet_stage_side_in_korean():
    set_language("ko")
    no_stem = check_resnet_stage_side(lambda layer, side: side // 2 ** int(layer[-1]))
    assert not no_stem and "스템(stride 2 합성곱과 stride 2 최대 풀링)" in no_stem.message
    layer1_halves = check_resnet_stage_side(lambda layer, side: side // 2 ** (int(layer[-1]) + 2))
    assert not layer1_halves and "layer1은 받은 해상도를 그대로 유지합니다" in layer1_halves.message


# --- Korean hints for notebook 06 ---


def test_check_iou_korean_hint():
    set_language("ko")

    verdict = check_iou(_iou_slip(plus_one=True))  # a typical slip: widths counted as for end-inclusive boxes
    assert not verdict and verdict.message == "여기서 상자는 끝 좌표를 포함하지 않습니다. 너비는 + 1 없이 x1 - x0입니다."
    assert "숨겨진 테스트 6개를 모두 통과했습니다." in check_iou(_iou).message and "0에서 자른 교집합" in check_iou(_iou).message


def test_check_largest_region_box_korean_hint():
    set_language("ko")

    def every_pixel(mask):
        rows, cols = mask.nonzero(as_tuple=True)
        return cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1

    verdict = check_largest_region_box(every_pixel)
    assert not verdict and verdict.message.startswith("테스트 '큰 영역 하나와 작은 영역 하나'에서 상자가 전경 픽셀을 모두 감쌌습니다")
    assert "가장 큰 연결 영역 하나만 남겨야 합니다" in verdict.message

    def four_connected(mask):  # a flood fill through the 4 neighbours that share a side
        from scipy import ndimage
        labels, _ = ndimage.label(mask.numpy())
        largest = 1 + torch.bincount(torch.from_numpy(labels).ravel())[1:].argmax().item()
        rows, cols = (torch.from_numpy(labels) == largest).nonzero(as_tuple=True)
        return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1

    verdict = check_largest_region_box(four_connected)
    assert not verdict and "변을 맞댄 이웃 4개(위, 아래, 왼쪽, 오른쪽)" in verdict.message
    assert "대각선 이웃 4개" in verdict.message and "scipy" not in verdict.message


# --- Korean hints for notebook 07 ---


def test_check_spearman_korean_hint():
    set_language("ko")
    pearson = check_spearman(lambda a, b: torch.corrcoef(torch.stack([a, b]))[0, 1])
    assert not pearson and "값 자체의 피어슨 상관" in pearson.message and "*순위*" in pearson.message
    once = check_spearman(lambda a, b: torch.corrcoef(torch.stack([a.argsort().float(), b.argsort().float()]))[0, 1])
    assert not once and "argsort를 두 번" in once.message
    ordinal = check_spearman(lambda a, b: torch.corrcoef(torch.stack([a.argsort().argsort().float(),
                                                                      b.argsort().argsort().float()]))[0, 1])
    assert not ordinal and "순위의 평균을 나눠 가져야" in ordinal.message
    passed = check_spearman(_spearman)
    assert passed and "순위의 피어슨 상관" in passed.message


def test_check_deletion_step_korean_hint():
    def least_first(image, saliency, fraction):
        count = round(fraction * saliency.numel())
        removed = torch.zeros(saliency.numel(), dtype=torch.bool)
        removed[(-saliency).flatten().topk(count).indices] = True
        return image.masked_fill(removed.view(saliency.shape), 0.0)

    set_language("ko")
    verdict = check_deletion_step(least_first)
    assert not verdict and "*가장 덜* 중요한 픽셀" in verdict.message


# --- Checkers for notebook 08 (Which CAM should I use?) ---
# The right answers are written here, not taken from cam_helpers.gradcam (the checkers' reference):
# a loop over images, classes and channels that follows the formula, and the peers' formulas.


def _family_example():
    activations = torch.rand(2, 4, 3, 3)
    activations[:, 2] = 0  # a silent channel
    return activations, torch.randn(2, 3, 4, 3, 3)


def _xgrad_by_loop(A, g):
    """w[b, k, c] = sum_xy g A / sum_xy A, 0 for a channel that sums to 0: A (B, C, h, w), g (B, n, C, h, w)."""
    B, n, C = g.shape[:3]
    weights = torch.zeros(B, n, C)
    for b in range(B):
        for k in range(n):
            for c in range(C):
                total = A[b, c].sum().item()
                weights[b, k, c] = (g[b, k, c] * A[b, c]).sum().item() / total if total != 0 else 0.0
    return weights


def _xgrad_as_pytorch_grad_cam(A, g):
    """pytorch-grad-cam's XGradCAM.get_cam_weights, in NumPy: eps in the denominator instead of a 0 rule."""
    activations, grads = A[:, None].numpy(), g.numpy()
    sum_activations = activations.sum(axis=(-2, -1))
    return torch.from_numpy((grads * activations / (sum_activations[..., None, None] + 1e-7)).sum(axis=(-2, -1)))


def _layer_cam_by_loop(A, g):
    """M[b, k] = ReLU(sum_c ReLU(g[b, k, c]) * A[b, c]), one image, class and channel at a time."""
    B, n, C, h, w = g.shape
    maps = torch.zeros(B, n, h, w)
    for b in range(B):
        for k in range(n):
            for c in range(C):
                maps[b, k] += g[b, k, c].clamp_min(0) * A[b, c]  # writes into the answer's own tensor: allowed
    return maps.clamp_min(0)


def test_check_xgrad_cam_weights_accepts_independent_answers_and_names_typical_mistakes():
    from cam_helpers.exercises import check_xgrad_cam_weights
    from cam_helpers.gradcam import xgrad_cam_weights

    assert check_xgrad_cam_weights(_xgrad_by_loop)
    assert check_xgrad_cam_weights(_xgrad_as_pytorch_grad_cam)
    assert "Not answered yet" in check_xgrad_cam_weights(lambda A, g: ...).message
    verdict = check_xgrad_cam_weights(lambda A, g: g.mean(dim=(-2, -1)))
    assert not verdict and "that is Grad-CAM's weight" in verdict.message
    verdict = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)))
    assert not verdict and "divide sum_xy g A by sum_xy A_k" in verdict.message
    verdict = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)) / A[:, None].sum(dim=(-2, -1)))
    assert not verdict and "0 / 0 = NaN" in verdict.message
    # Activations of both signs (a layer before its ReLU): a sum must keep its sign.
    sums = lambda A: A[:, None].sum(dim=(-2, -1))  # noqa: E731
    weighted = lambda A, g: (g * A[:, None]).sum(dim=(-2, -1))  # noqa: E731
    verdict = check_xgrad_cam_weights(lambda A, g: weighted(A, g) / sums(A).clamp_min(1e-8))
    assert not verdict and "clamp_min turned that sum" in verdict.message
    assert "'activations of both signs" in verdict.message
    verdict = check_xgrad_cam_weights(lambda A, g: torch.where(sums(A) != 0, weighted(A, g) / sums(A).abs(), 0.0))
    assert not verdict and "abs() flips" in verdict.message
    # The reference, for the record: a silent channel gets weight 0 (the checker's 0 / 0 case).
    activations, gradients = _family_example()
    assert torch.equal(xgrad_cam_weights(activations, gradients)[:, :, 2], torch.zeros(2, 3))


def test_check_layer_cam_accepts_independent_answers_and_names_typical_mistakes():
    from cam_helpers.exercises import check_layer_cam

    assert check_layer_cam(_layer_cam_by_loop)
    # Jiang et al. (2021), eq. 5-6: M = ReLU(sum_k ReLU(g_k) * A_k), with einsum.
    assert check_layer_cam(lambda A, g: torch.einsum("bnchw,bchw->bnhw", g.clamp_min(0), A).clamp_min(0))
    verdict = check_layer_cam(lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0))
    assert not verdict and "that is HiResCAM" in verdict.message
    verdict = check_layer_cam(lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=1).clamp_min(0))
    assert not verdict and "sum over the channels k" in verdict.message
    verdict = check_layer_cam(lambda A, g: 1 / 0)
    assert not verdict and "ZeroDivisionError" in verdict.message
    # Activations of both signs: the final ReLU, and the ReLU on g alone.
    verdict = check_layer_cam(lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=2))
    assert not verdict and "LayerCAM ends with a ReLU" in verdict.message
    verdict = check_layer_cam(lambda A, g: (g * A[:, None]).clamp_min(0).sum(dim=2))
    assert not verdict and "not on the product g * A" in verdict.message
    verdict = check_layer_cam(lambda A, g: (g.clamp_min(0) * A.clamp_min(0)[:, None]).sum(dim=2))
    assert not verdict and "weighs A as it is" in verdict.message


# --- Korean hints for notebook 08 ---


def test_check_xgrad_cam_weights_korean_hints():
    from cam_helpers.exercises import check_xgrad_cam_weights

    set_language("ko")
    right = check_xgrad_cam_weights(_xgrad_by_loop)
    assert right and "숨겨진 테스트 5개를 모두 통과했습니다." in right.message
    assert "XGrad-CAM의 가중치와 같습니다" in right.message
    plain_mean = check_xgrad_cam_weights(lambda A, g: g.mean(dim=(-2, -1)))
    assert not plain_mean and "Grad-CAM의 가중치(g의 단순 평균)" in plain_mean.message
    not_divided = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)))
    assert not not_divided and "활성값 총합 sum_xy A_k로 나누어야 합니다" in not_divided.message
    nan = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)) / A[:, None].sum(dim=(-2, -1)))
    assert not nan and "0 / 0 = NaN" in nan.message and "가중치는 0이어야 합니다" in nan.message
    assert "아직 답이 없습니다" in check_xgrad_cam_weights(lambda A, g: ...).message
    set_language("en")
    assert "that is Grad-CAM's weight" in check_xgrad_cam_weights(lambda A, g: g.mean(dim=(-2, -1))).message


def test_check_layer_cam_korean_hints():
    from cam_helpers.exercises import check_layer_cam

    set_language("ko")
    right = check_layer_cam(_layer_cam_by_loop)
    assert right and "숨겨진 테스트 5개를 모두 통과했습니다." in right.message and "LayerCAM의 맵과 같습니다" in right.message
    hires = check_layer_cam(lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0))
    assert not hires and "그것은 HiResCAM" in hires.message and "양의 그래디언트만 남깁니다" in hires.message
    over_classes = check_layer_cam(lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=1).clamp_min(0))
    assert not over_classes and "클래스가 아니라 채널 k에 대해 더해야 합니다" in over_classes.message
    averaged = check_layer_cam(
        lambda A, g: torch.einsum("bnc,bchw->bnhw", g.clamp_min(0).mean(dim=(-2, -1)), A).clamp_min(0))
    assert not averaged and "위치에 대해 평균 내지 않습니다" in averaged.message
    set_language("en")
    assert "that is HiResCAM" in check_layer_cam(lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0)).message


# --- Issue 22 §3: twelve wrong answers, written from the prompts alone, that the checkers once accepted ---
# Each is written as a learner would write it; each must be rejected, with the hint that fits it, in both
# languages. The right answers written other ways (loops, NumPy, float64) follow, and must still pass.


def _deletion_counted_with_int(image, saliency, fraction):
    count = int(fraction * saliency.numel())  # 0.29 * 100 = 28.999...: int() gives 28, round() 29
    removed = torch.zeros(saliency.numel(), dtype=torch.bool)
    removed[saliency.flatten().argsort(descending=True)[:count]] = True
    return image * ~removed.view(1, *saliency.shape)


def _deletion_counted_with_ceil(image, saliency, fraction):
    count = math.ceil(fraction * saliency.numel())  # 0.25 * 25 = 6.25: ceil gives 7, round() 6
    removed = torch.zeros(saliency.numel(), dtype=torch.bool)
    removed[saliency.flatten().argsort(descending=True)[:count]] = True
    return image * ~removed.view(1, *saliency.shape)


def _deletion_in_place(image, saliency, fraction):
    top = saliency.flatten().argsort(descending=True)[:round(fraction * saliency.numel())]
    image.flatten(1)[:, top] = 0.0  # flatten(1) is a view: the caller's image goes black too
    return image


def _logits_dividing_features_in_place(features, fc_weight, fc_bias):
    h, w = features.shape[2:]
    features /= h * w  # the caller's features shrink h * w times
    return features.sum(dim=(2, 3)) @ fc_weight.T + fc_bias


def _cam_multiplying_features_in_place(features, fc_weight, class_index):
    return features.mul_(fc_weight[class_index][:, None, None]).sum(dim=0)


def _normalize_subtracting_in_place(cam):
    cam -= cam.min()
    high = cam.max()
    return cam / high if high > 0 else torch.zeros_like(cam)


def _grad_cam_relu_in_place(cam):
    return cam.relu_() / (cam.shape[-2] * cam.shape[-1])


_iou_clamping_only_the_width = _iou_slip(clamp_height=False)


def _layer_cam_without_final_relu(A, g):
    return (g.clamp_min(0) * A[:, None]).sum(dim=2)


def _layer_cam_relu_on_the_product(A, g):
    return torch.relu(g * A[:, None]).sum(dim=2)


def _xgrad_clamped_denominator(A, g):
    A = A[:, None]
    return (g * A).sum(dim=(-2, -1)) / A.sum(dim=(-2, -1)).clamp_min(1e-8)


def _xgrad_absolute_denominator(A, g):
    A = A[:, None]
    return (g * A).sum(dim=(-2, -1)) / A.sum(dim=(-2, -1)).abs().clamp_min(1e-8)


_TWELVE_WRONG_ANSWERS = [
    pytest.param("check_deletion_step", _deletion_counted_with_int,
                 "On '10x10 image, fraction 0.29' you removed one pixel too few: int()",
                 "테스트 '10x10 이미지, 비율 0.29'에서 픽셀을 하나 덜 지웠습니다.", id="deletion int()"),
    pytest.param("check_deletion_step", _deletion_counted_with_ceil,
                 "On '5x5 image, fraction 0.25' you removed one pixel too many: math.ceil",
                 "테스트 '5x5 이미지, 비율 0.25'에서 픽셀을 하나 더 지웠습니다.", id="deletion math.ceil"),
    pytest.param("check_deletion_step", _deletion_in_place,
                 "changed its input `image` in place, with `x[...] = ...`",
                 "입력 `image`의 값을 바꾸었습니다. 제자리 연산(in-place) `x[...] = ...` 때문입니다.",
                 id="deletion edits the image"),
    pytest.param("check_logits_from_features", _logits_dividing_features_in_place,
                 "changed its input `features` in place, with `/=` (`.div_()`)",
                 "입력 `features`의 값을 바꾸었습니다. 제자리 연산(in-place) `/=` (`.div_()`) 때문입니다.",
                 id="features /= h * w"),
    pytest.param("check_cam_by_hand", _cam_multiplying_features_in_place,
                 "changed its input `features` in place, with `*=` (`.mul_()`)",
                 "입력 `features`의 값을 바꾸었습니다. 제자리 연산(in-place) `*=` (`.mul_()`) 때문입니다.",
                 id="features.mul_"),
    pytest.param("check_normalize_map", _normalize_subtracting_in_place,
                 "changed its input `cam` in place, with `-=` (`.sub_()`)",
                 "입력 `cam`의 값을 바꾸었습니다. 제자리 연산(in-place) `-=` (`.sub_()`) 때문입니다.",
                 id="cam -= cam.min()"),
    pytest.param("check_grad_cam_from_cam", _grad_cam_relu_in_place,
                 "changed its input `cam` in place, with `.relu_()`",
                 "입력 `cam`의 값을 바꾸었습니다. 제자리 연산(in-place) `.relu_()` 때문입니다.", id="cam.relu_()"),
    pytest.param("check_iou", _iou_clamping_only_the_width,
                 "On 'boxes below (0, 0, 10, 4), apart' some boxes overlap the box along one axis but not the other",
                 "테스트 '(0, 0, 10, 4) 아래에 떨어져 있는 상자들'에는 그 상자와 한 축으로만 겹치고", id="iou clamps the width only"),
    pytest.param("check_layer_cam", _layer_cam_without_final_relu,
                 "on 'activations of both signs (a layer before its ReLU)' your map has negative values",
                 "LayerCAM은 마지막에 ReLU를 적용합니다", id="layer_cam without the final ReLU"),
    pytest.param("check_layer_cam", _layer_cam_relu_on_the_product,
                 "the ReLU goes on the gradient alone, ReLU(g) * A, not on the product g * A",
                 "ReLU는 곱 g * A가 아니라 그래디언트에만 적용합니다", id="layer_cam ReLU on the product"),
    pytest.param("check_xgrad_cam_weights", _xgrad_clamped_denominator,
                 "clamp_min turned that sum into a tiny positive one",
                 "clamp_min이 그 합을 아주 작은 양수로 바꾸어 버렸습니다", id="xgrad clamp_min(1e-8)"),
    pytest.param("check_xgrad_cam_weights", _xgrad_absolute_denominator,
                 "divide by the sum with its sign; abs() flips those channels' weights",
                 "abs()를 쓰면 그 채널들의 가중치 부호가 뒤집힙니다", id="xgrad abs()"),
]


@pytest.mark.parametrize("checker, answer, hint_en, hint_ko", _TWELVE_WRONG_ANSWERS)
def test_the_twelve_wrong_answers_of_issue_22_are_rejected_with_their_hint(checker, answer, hint_en, hint_ko):
    _rejected_with(getattr(exercises, checker)(answer), hint_en)
    set_language("ko")
    verdict = getattr(exercises, checker)(answer)
    _rejected_with(verdict, hint_ko)
    assert not _HAEYO.search(verdict.message), verdict.message


def test_the_twelve_are_twelve_different_answers():
    assert len(_TWELVE_WRONG_ANSWERS) == 12
    assert len({param.values[1] for param in _TWELVE_WRONG_ANSWERS}) == 12


def test_the_cases_that_tell_the_twelve_apart():
    # Boxes one above the other that overlap in x: IoU 0, and -0.2 when only the width is clamped.
    assert exercises._iou((0, 0, 10, 4), (0, 6, 10, 10)) == 0
    below = _iou_clamping_only_the_width(torch.tensor([(0, 6, 10, 10)]), torch.tensor((0, 0, 10, 4)))
    assert below.tolist() == pytest.approx([-0.2])
    # Pixel counts that are not whole: int() and math.ceil part from round() there.
    assert (int(0.29 * 100), round(0.29 * 100)) == (28, 29)
    assert (math.ceil(0.25 * 25), round(0.25 * 25)) == (7, 6)
    # The 08 case at a layer before its ReLU: activations of both signs, and channel sums of both signs.
    signed = [case for case in exercises._family_cases() if "both signs" in exercises._label(case)]
    activations = signed[0].args[0]
    sums = activations.sum(dim=(-2, -1))
    assert activations.min() < 0 < activations.max() and sums.min() < 0 < sums.max()
    assert sums.abs().min() > 0.5  # far from 0: the weights are stable there


def test_an_answer_that_writes_into_its_own_copy_is_not_in_place():
    """The in-place check looks at the learner's inputs only: editing a copy, or rebinding a name, is right."""
    def deletion_on_a_copy(image, saliency, fraction):
        out = image.clone()
        out.flatten(1)[:, saliency.flatten().argsort(descending=True)[:round(fraction * saliency.numel())]] = 0.0
        return out

    def logits_rebinding(features, fc_weight, fc_bias):
        h, w = features.shape[2:]
        features = features / (h * w)  # a new tensor under the old name
        return features.sum(dim=(2, 3)) @ fc_weight.T + fc_bias

    def normalize_rebinding(cam):
        cam = cam - cam.min()
        return cam / cam.max() if cam.max() > 0 else cam

    def grad_cam_relu_on_a_copy(cam):
        return cam.clone().relu_() / (cam.shape[-2] * cam.shape[-1])

    assert exercises.check_deletion_step(deletion_on_a_copy)
    assert exercises.check_logits_from_features(logits_rebinding)
    assert exercises.check_normalize_map(normalize_rebinding)
    assert exercises.check_grad_cam_from_cam(grad_cam_relu_on_a_copy)


# Right answers written other ways: plain loops, NumPy, float64. None of them may be taken for a mistake.

def _deletion_in_numpy(image, saliency, fraction):
    import numpy as np

    order = np.argsort(-saliency.numpy(), axis=None)[:round(fraction * saliency.numel())]
    out = image.numpy().copy()
    rows, cols = np.unravel_index(order, saliency.shape)
    out[:, rows, cols] = 0.0
    return torch.from_numpy(out)


def _iou_in_float64(boxes, box):
    boxes, box = boxes.double(), box.double()
    sides = (torch.minimum(boxes[:, 2:], box[2:]) - torch.maximum(boxes[:, :2], box[:2])).clamp_min(0)   # (N, 2)
    intersection = sides.prod(dim=1)                                                                     # (N,)
    return intersection / ((boxes[:, 2:] - boxes[:, :2]).prod(dim=1) + (box[2:] - box[:2]).prod() - intersection)


def _logits_in_float64(features, fc_weight, fc_bias):
    return features.double().mean(dim=(2, 3)) @ fc_weight.double().T + fc_bias.double()


def _cam_by_loop(features, fc_weight, class_index):
    cam = torch.zeros(features.shape[1:])
    for k in range(features.shape[0]):
        cam += fc_weight[class_index, k] * features[k]
    return cam


def _normalize_in_numpy(cam):
    import numpy as np

    values = cam.numpy().astype(np.float64)
    span = np.ptp(values)
    return torch.from_numpy((values - values.min()) / span if span > 0 else np.zeros_like(values))


def _grad_cam_from_cam_in_numpy(cam):
    import numpy as np

    return torch.from_numpy(np.maximum(cam.numpy(), 0) / np.prod(cam.shape[-2:]))


def _spearman_with_scipy_ranks(a, b):
    import numpy as np
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(a.numpy()), rankdata(b.numpy()))[0, 1])  # average ranks for ties, float64


@pytest.mark.parametrize("checker, answer", [
    pytest.param("check_deletion_step", _deletion_in_numpy, id="deletion_step in NumPy"),
    pytest.param("check_iou", _iou_in_float64, id="iou in float64 tensors"),
    pytest.param("check_logits_from_features", _logits_in_float64, id="logits_from_features in float64"),
    pytest.param("check_cam_by_hand", _cam_by_loop, id="cam_by_hand as a loop"),
    pytest.param("check_normalize_map", _normalize_in_numpy, id="normalize_map in NumPy float64"),
    pytest.param("check_grad_cam_from_cam", _grad_cam_from_cam_in_numpy, id="grad_cam_from_cam in NumPy"),
    pytest.param("check_layer_cam", lambda A, g: _layer_cam_by_loop(A.double(), g.double()),
                 id="layer_cam as a float64 loop"),
    pytest.param("check_xgrad_cam_weights", lambda A, g: _xgrad_by_loop(A.double(), g.double()),
                 id="xgrad_cam_weights as a float64 loop"),
    pytest.param("check_spearman", _spearman_with_scipy_ranks, id="spearman with scipy's ranks"),
    pytest.param("check_grad_cam_weights", lambda gradients: torch.from_numpy(gradients.numpy().mean(axis=(2, 3))),
                 id="grad_cam_weights in NumPy"),
])
def test_right_answers_written_other_ways_pass(checker, answer):
    verdict = getattr(exercises, checker)(answer)
    assert verdict, verdict


# The hints of §3's last bullet.

def test_a_transposed_weight_gets_a_hint_not_a_shape_error():
    """The K == C case comes first, so an answer that reads fc_weight as (C, K) runs there and is told why."""
    for answer in (lambda f, w, b: f.mean(dim=(2, 3)) @ w + b,
                   lambda f, w, b: torch.nn.functional.linear(f.mean(dim=(2, 3)), w.T, b),
                   lambda f, w, b: torch.einsum("bc,ck->bk", f.mean(dim=(2, 3)), w) + b):
        _rejected_with(check_logits_from_features(answer), "your answer reads it as (C, K)")
    for answer in (lambda f, w, c: (w[:, c][:, None, None] * f).sum(dim=0),
                   lambda f, w, c: torch.einsum("c,chw->hw", w.T[c], f),
                   lambda f, w, c: torch.einsum("chw,ck->khw", f, w)[c]):
        verdict = check_cam_by_hand(answer)
        _rejected_with(verdict, "You took a column of the weight")
        assert "as many classes as channels" in verdict.message
    set_language("ko")
    _rejected_with(check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w + b),
                   "답은 가중치를 (C, K)로 읽었습니다")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[:, c][:, None, None] * f).sum(dim=0)),
                   "가중치의 열을 꺼냈습니다")


def test_normalize_map_constant_map_hints_fit_an_answer_that_subtracts_the_minimum():
    def nan_when_constant(cam):
        return (cam - cam.min()) / (cam.max() - cam.min())

    def ones_when_constant(cam):  # nan_to_num picks 1 where 0 was meant
        return torch.nan_to_num((cam - cam.min()) / (cam.max() - cam.min()), nan=1.0)

    def itself_when_constant(cam):
        span = cam.max() - cam.min()
        return (cam - cam.min()) / span if span > 0 else cam

    nan = check_normalize_map(nan_when_constant)
    _rejected_with(nan, "a constant map gives 0 / 0 = NaN")
    for answer in (ones_when_constant, itself_when_constant):
        verdict = check_normalize_map(answer)
        _rejected_with(verdict, "on 'a constant map' every cell has the same value")
        # The answer does subtract the minimum: a hint that says "subtract the minimum first" misleads.
        assert "subtract the minimum" not in verdict.message and "Dividing by the maximum" not in verdict.message
    set_language("ko")
    _rejected_with(check_normalize_map(nan_when_constant), "상수 맵에서는 0 / 0 = NaN이 됩니다")
    verdict = check_normalize_map(ones_when_constant)
    _rejected_with(verdict, "테스트 '상수 맵'에서는 모든 칸의 값이 같습니다")
    assert "먼저 최솟값을 빼고" not in verdict.message


def test_cam_by_hand_names_class_index_minus_one_not_row_0():
    for answer in (lambda f, w, c: (w[c - 1][:, None, None] * f).sum(dim=0),
                   lambda f, w, c: torch.einsum("c,chw->hw", w[c - 1], f)):
        verdict = check_cam_by_hand(answer)
        _rejected_with(verdict, "You used the row before the class's")
        assert "row 0" not in verdict.message
    set_language("ko")
    verdict = check_cam_by_hand(lambda f, w, c: (w[c - 1][:, None, None] * f).sum(dim=0))
    _rejected_with(verdict, "그 클래스 바로 앞 행을 썼습니다")
    assert "0번 행" not in verdict.message


@pytest.mark.parametrize("language", ["en", "ko"])
def test_layer2_side_hints_do_not_spell_out_the_answer(language):
    """A wrong number gets which map it belongs to and what to count; how layer2 changes the side is the answer."""
    set_language(language)
    giveaways = re.compile(r"28|halv|/ ?2\b|2로 나|반으로|절반|by 2|by two")
    for wrong in (112, 56, 14, 7, 30):
        verdict = check_layer2_side(wrong)
        assert not verdict and not giveaways.search(verdict.message), verdict.message


def _success_texts(monkeypatch) -> dict:
    """Each checker's own success sentence, as handed to compare_on_cases or compare_value."""
    found = {}
    for helper in ("compare_on_cases", "compare_value"):
        real = getattr(exercises, helper)

        def spy(*args, _real=real, **kwargs):
            found[current] = kwargs.get("success")  # `current`: the checker the loop below is calling
            return _real(*args, **kwargs)

        monkeypatch.setattr(exercises, helper, spy)
    for current in _CHECKERS:
        getattr(exercises, current)(None)
    return found


def test_the_success_message_keeps_its_sentences_apart(monkeypatch):
    right = check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w.T + b)
    assert right.message == "Right on all 5 hidden cases. This is exactly the model's head: GAP, then FC."
    assert check_layer2_side(28).message == (
        "Right: 28. The stem divides 224 by 4, so layer1's map is 56 wide, and layer2 halves that.")
    set_language("ko")
    right = check_logits_from_features(lambda f, w, b: f.mean(dim=(2, 3)) @ w.T + b)
    assert right.message == "숨겨진 테스트 5개를 모두 통과했습니다. 모델의 헤드와 똑같습니다. GAP, 그다음 FC입니다."
    set_language("en")
    texts = _success_texts(monkeypatch)
    assert set(texts) == set(_CHECKERS)
    for name, text in texts.items():
        if text is None:
            continue
        # Each is a sentence of its own with its period, so "... cases." + " " + it reads as two sentences.
        assert text.en.endswith(".") and not text.en.endswith(".."), (name, text.en)
        assert text.ko and text.ko.endswith("."), (name, text.ko)
        assert not text.en.startswith("(") and not text.ko.startswith("("), name


# --- The notebooks' own solutions pass their checkers (both editions) ---
# Each exercise has a collapsed solution cell that defines `*_solution` and asserts its checker. Run Alls
# (tests/test_run_all.py) execute them with a model; here they run alone, in seconds, against the checkers:
# a checker made stricter must not reject the solution the notebook shows.

import json  # noqa: E402
from pathlib import Path  # noqa: E402

_NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
_EDITIONS = {"en": _NOTEBOOK_DIR, "ko": _NOTEBOOK_DIR / "ko"}


def _code_cells(path: Path) -> list:
    """The notebook's code cells as parsed Python (IPython's % and ! lines left out)."""
    cells = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            cells.append(ast.parse("\n".join(lines)))
        except SyntaxError:
            continue
    return cells


def _checker_calls(node: ast.AST) -> list:
    """The `check_*(..._solution)` calls inside an assert (`assert check_a(x) and check_b(y)` has two)."""
    return [call for call in ast.walk(node) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id.startswith("check_")
            and any(isinstance(arg, ast.Name) and arg.id.endswith("_solution") for arg in call.args)]


def _solutions_checked(edition: str) -> tuple[dict, list]:
    """Run every notebook's solutions against the checkers: ({checker: verdict}, [solutions needing the notebook])."""
    verdicts, needs_notebook = {}, []
    for path in sorted(_EDITIONS[edition].glob("[0-9][0-9]_*.ipynb")):
        cells = _code_cells(path)
        namespace = {"__name__": f"solutions_of_{path.stem}"}
        imports = [node for tree in cells for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        exec(compile(ast.Module(body=imports, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
        for tree in cells:
            if "_solution" not in ast.unparse(tree):
                continue
            for node in tree.body:  # the solution functions, their helpers, and `x_solution = ...` values
                if isinstance(node, ast.FunctionDef) or (isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id.endswith("_solution") for t in node.targets)):
                    try:
                        exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
                    except NameError:  # a value computed from the notebook's model (00's pixels per cell)
                        needs_notebook.append(f"{path.stem}: {ast.unparse(node).splitlines()[0]}")
            for node in tree.body:
                for call in (_checker_calls(node) if isinstance(node, ast.Assert) else []):
                    if all(arg.id in namespace for arg in call.args if isinstance(arg, ast.Name)):
                        checker = getattr(exercises, call.func.id)  # the checker itself, not the notebook's import
                        args = [eval(compile(ast.Expression(arg), str(path), "eval"), namespace) for arg in call.args]  # noqa: S307
                        verdicts[f"{path.stem}: {ast.unparse(call)}"] = checker(*args)
    return verdicts, needs_notebook


@pytest.mark.parametrize("edition", sorted(_EDITIONS))
def test_every_notebook_solution_passes_its_checker(edition):
    set_language(edition)
    verdicts, needs_notebook = _solutions_checked(edition)
    rejected = {call: verdict.message for call, verdict in verdicts.items() if not verdict}
    assert not rejected, rejected
    # Every checker but 00's (whose solution reads the notebook's model) has its solution run here.
    checked = {call.split(": ", 1)[1].split("(")[0] for call in verdicts}
    assert checked == set(_CHECKERS) - {"check_grid_cell_pixels"}, set(_CHECKERS) - checked
    assert [entry.split(":")[0] for entry in needs_notebook] == ["00_start_here"], needs_notebook


# --- Checkers for notebook 09 (CAM beyond CNNs) ---
# The right answers are written here, not taken from cam_helpers (the checkers' references are TokenGrid and
# rollout_from_attentions): a loop over positions, the libraries' reshape_transform, a loop over blocks.


def _tokens_to_map_by_loop(tokens, prefix, h, w):
    """maps[b, :, row, col] = the token of patch (row, col), which comes at prefix + row * w + col."""
    batch, _, dim = tokens.shape
    maps = torch.zeros(batch, dim, h, w)
    for row in range(h):
        for col in range(w):
            maps[:, :, row, col] = tokens[:, prefix + row * w + col]
    return maps


def _tokens_to_map_as_pytorch_grad_cam(tokens, prefix, h, w):
    """pytorch-grad-cam's reshape_transform for ViTs (its tutorial), with the grid and prefix as arguments."""
    result = tokens[:, prefix:, :].reshape(tokens.size(0), h, w, tokens.size(2))
    return result.transpose(2, 3).transpose(1, 2)  # (B, h, w, D) -> (B, D, h, w)


def _rollout_by_loop(attentions):
    """R = Â_L ... Â_1 with Â = 0.5 A + 0.5 I (A's rows sum to 1), entry by entry, first block first."""
    n = attentions[0].shape[0]
    rollout = [[float(i == j) for j in range(n)] for i in range(n)]
    for attention in attentions:
        mixed = [[0.5 * attention[i, j].item() + 0.5 * (i == j) for j in range(n)] for i in range(n)]
        rollout = [[sum(mixed[i][k] * rollout[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    return torch.tensor(rollout)


def _rollout_as_vit_explain(attentions):
    """jacobgil/vit-explain's rollout (discard_ratio 0, one image): I + A, divided by the row sums, R = Â @ R."""
    result = torch.eye(attentions[0].size(-1))
    for attention in attentions:
        a = (attention + torch.eye(attention.size(-1))) / 2
        a = a / a.sum(dim=-1, keepdim=True)
        result = torch.matmul(a, result)
    return result


def test_check_tokens_to_map_accepts_independent_answers_and_names_typical_mistakes():
    from cam_helpers.exercises import check_tokens_to_map

    assert check_tokens_to_map(_tokens_to_map_by_loop)
    assert check_tokens_to_map(_tokens_to_map_as_pytorch_grad_cam)
    assert check_tokens_to_map(lambda t, p, h, w: t[:, p:].transpose(1, 2).unflatten(2, (h, w)))
    assert check_tokens_to_map(lambda t, p, h, w: t[:, p:].transpose(1, 2).view(t.shape[0], t.shape[2], h, w))
    assert "Not answered yet" in check_tokens_to_map(None).message
    assert "Not answered yet" in check_tokens_to_map(lambda t, p, h, w: ...).message
    B, D = 0, 2  # the axes of tokens (B, N, D) that the answers below read
    # The class token kept: the reshape raises, and the checker says why instead of showing the error.
    _rejected_with(check_tokens_to_map(lambda t, p, h, w: t.transpose(1, 2).reshape(t.shape[B], t.shape[D], h, w)),
                   "on 'a class token, a 3x3 grid, a batch of 2' your reshape got all N tokens")
    # Always one token dropped: wrong for no class token and for two extra tokens.
    _rejected_with(check_tokens_to_map(lambda t, p, h, w: t[:, 1:].transpose(1, 2).reshape(t.shape[B], t.shape[D], h, w)),
                   "on 'no class token, a 2x2 grid' you dropped one token")
    only_one = lambda t, p, h, w: t[:, min(p, 1):].transpose(1, 2).reshape(t.shape[B], t.shape[D], h, w)  # noqa: E731
    _rejected_with(check_tokens_to_map(only_one), "on 'a class token and a register token (prefix = 2), a 3x2 grid'"
                                                  " you dropped one token")
    _rejected_with(check_tokens_to_map(lambda t, p, h, w: t[:, p:].reshape(t.shape[B], t.shape[D], h, w)),
                   "the shape is right but the numbers are scrambled")
    _rejected_with(check_tokens_to_map(lambda t, p, h, w: t[:, :h * w].transpose(1, 2).reshape(t.shape[B], t.shape[D], h, w)),
                   "keeps the class token and drops the last patch")
    _rejected_with(check_tokens_to_map(lambda t, p, h, w: t[:, p:].transpose(1, 2).reshape(t.shape[B], t.shape[D], w, h)),
                   "on 'a class token, a 2x3 grid (h != w)' h and w are swapped")
    _rejected_with(check_tokens_to_map(
        lambda t, p, h, w: t[:, p:].transpose(1, 2).reshape(t.shape[B], t.shape[D], w, h).transpose(2, 3)),
        "the patches land column by column")
    # An error that is not about the token count is shown as it is.
    _rejected_with(check_tokens_to_map(lambda t, p, h, w: t[:, p:].reshape(-1, 7)), "raised RuntimeError")


def test_check_tokens_to_map_korean_hints_and_the_in_place_rule():
    from cam_helpers.exercises import check_tokens_to_map

    def drop_in_place(tokens, prefix, h, w):
        tokens[:, :prefix] = 0  # "clear the class token": writes into the caller's tensor
        return tokens[:, prefix:].transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)

    _rejected_with(check_tokens_to_map(drop_in_place), "changed its input `tokens` in place, with `x[...] = ...`")
    set_language("ko")
    right = check_tokens_to_map(_tokens_to_map_by_loop)
    assert right and right.message == ("숨겨진 테스트 4개를 모두 통과했습니다. "
                                       "Grad-CAM의 훅이 트랜스포머 층에서 하는 reshape와 같습니다.")
    kept = check_tokens_to_map(lambda t, p, h, w: t.transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w))
    _rejected_with(kept, "테스트 '클래스 토큰 하나, 3×3 격자, 배치 크기 2'에서 reshape가 토큰 N개를 모두 받았습니다")
    swapped = check_tokens_to_map(lambda t, p, h, w: t[:, p:].transpose(1, 2).reshape(t.shape[0], t.shape[2], w, h))
    _rejected_with(swapped, "h와 w가 바뀌었습니다")
    scrambled = check_tokens_to_map(lambda t, p, h, w: t[:, p:].reshape(t.shape[0], t.shape[2], h, w))
    _rejected_with(scrambled, "reshape 전에 D 축이 위치 축보다 앞에 와야 합니다")


def test_check_attention_rollout_accepts_independent_answers_and_names_typical_mistakes():
    from cam_helpers.exercises import check_attention_rollout

    assert check_attention_rollout(_rollout_by_loop)
    assert check_attention_rollout(_rollout_as_vit_explain)
    assert "Not answered yet" in check_attention_rollout(lambda attentions: ...).message

    def rollout(attentions, *, identity=True, rows=True, later_on_the_left=True, product=torch.matmul):
        result = torch.eye(attentions[0].shape[0])
        for attention in attentions:
            a = attention + torch.eye(attention.shape[0]) if identity else attention
            a = a / a.sum(dim=-1 if rows else 0, keepdim=True)
            result = product(a, result) if later_on_the_left else product(result, a)
        return result

    assert check_attention_rollout(rollout)
    _rejected_with(check_attention_rollout(lambda a: rollout(a, identity=False)),
                   "on 'one block, 3 tokens' the identity is missing")
    _rejected_with(check_attention_rollout(lambda a: rollout(a, rows=False)), "you divided the columns by their sums")
    _rejected_with(check_attention_rollout(lambda a: rollout(a, later_on_the_left=False)),
                   "on 'two blocks, 4 tokens' the order is reversed")
    _rejected_with(check_attention_rollout(lambda a: rollout(a, product=torch.mul)),
                   "you multiplied element by element")

    def not_renormalised(attentions):
        result = torch.eye(attentions[0].shape[0])
        for attention in attentions:
            result = (attention + torch.eye(attention.shape[0])) @ result
        return result

    _rejected_with(check_attention_rollout(not_renormalised), "the rows of A + I sum to 2, not 1")
    # The reference, for the record: with one block the rollout is (A + I) / 2 (A's rows sum to 1).
    from cam_helpers.vit import rollout_from_attentions
    attention = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    assert torch.allclose(rollout_from_attentions([attention[None]])[0], torch.tensor([[0.875, 0.125], [0.25, 0.75]]))


def test_check_attention_rollout_korean_hints():
    from cam_helpers.exercises import check_attention_rollout

    set_language("ko")
    right = check_attention_rollout(_rollout_by_loop)
    assert right and right.message == ("숨겨진 테스트 3개를 모두 통과했습니다. "
                                       "cam_helpers.vit가 계산하는 어텐션 롤아웃과 같습니다.")

    def reversed_order(attentions):
        result = torch.eye(attentions[0].shape[0])
        for attention in attentions:
            result = result @ ((attention + torch.eye(attention.shape[0])) / 2)
        return result

    _rejected_with(check_attention_rollout(reversed_order), "테스트 '블록 두 개, 토큰 4개'에서 곱하는 순서가 거꾸로입니다")
    no_identity = check_attention_rollout(lambda attentions: attentions[-1] @ attentions[0] if len(attentions) > 1
                                          else attentions[0])
    _rejected_with(no_identity, "단위 행렬이 빠졌습니다")
