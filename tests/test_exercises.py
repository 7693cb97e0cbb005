"""Self-checking exercises: the shared machinery, then each checker with a right and a wrong answer."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

from cam_helpers import exercises
from cam_helpers.exercises import Case, Text, compare_on_cases, compare_value, set_language


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("en")


def _double(x):
    return 2 * x


_CASES = [Case("a vector", (torch.arange(3.0),)), Case("a batch", (torch.ones(2, 4),))]
# A mistake: the wrong function, and its hint.
_FORGOT = (lambda x: x, Text("Hint: did you forget to double?", "힌트: 두 배를 잊었나요?"))


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
    assert compare_on_cases(lambda x: x.clone(), _double, _CASES, [_FORGOT]).message == "힌트: 두 배를 잊었나요?"
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


def test_normalize_map_accepts_min_max_with_a_safe_constant_map():
    def normalize_map(cam):
        span = cam.max() - cam.min()
        return (cam - cam.min()) / span if span > 0 else torch.zeros_like(cam)

    assert check_normalize_map(normalize_map)
    from cam_helpers.cam import normalize_maps

    assert check_normalize_map(normalize_maps)  # the library's version agrees
    _rejected_with(check_normalize_map(lambda m: m / m.max()), "Dividing by the maximum")
    _rejected_with(check_normalize_map(lambda m: (m - m.min()) / m.max()), "divide by the range")
    _rejected_with(check_normalize_map(lambda m: (m - m.min()) / (m.max() - m.min())), "constant map")
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
    # A wrong number no known mistake explains: the message says on which case, and what came back.
    always_seven = check_resnet_stage_side(lambda layer, side: 7)
    assert not always_seven and always_seven.message == (
        "On the case 'layer1 at 224x224' your answer returned 7, which is not the right value."
    )


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


def test_a_case_label_can_be_korean_too():
    cases = [Case(Text("a batch", "배치"), (torch.ones(2, 4),))]
    assert "'a batch'" in compare_on_cases(lambda x: 3 * x, _double, cases).message
    set_language("ko")
    assert "'배치' 경우에 형태는 맞지만" in compare_on_cases(lambda x: 3 * x, _double, cases).message


# Every checker's hidden cases are named in Korean too: a Korean learner reads "'배치 크기 2, ...' 경우에 ...",
# not an English case name inside a Korean sentence.

_HANGUL = re.compile("[\uac00-\ud7a3]")
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
    try:
        used, verdict = _cases_handed_over(name, monkeypatch)
        assert used, f"{name} uses no hidden cases; if it checks a single value, add it to _VALUE_CHECKERS"
        # The learner's view: an answer that raises is told which case, by its Korean name.
        named = re.fullmatch(r"'(.*)' 경우에 답이 오류를 냈습니다: RuntimeError: boom", verdict.message)
        assert named, verdict.message
        assert _HANGUL.search(named.group(1)), verdict.message
        # And every other case it could name.
        english = [exercises._label(case) for case in used if not _HANGUL.search(exercises._label(case))]
        assert not english, f"{name}: case labels without a Korean version: {english}"
    finally:
        set_language("en")
    assert not _HANGUL.search(exercises._label(used[0]))  # English stays English




# --- Korean hints for notebook 00 ---


def test_grid_cell_pixels_hints_in_korean():
    set_language("ko")
    _rejected_with(check_grid_cell_pixels(7), "한 줄에 놓인 칸의 개수")
    _rejected_with(check_grid_cell_pixels(224 / 49), "한 줄의 칸 수(7)로 나누세요")
    _rejected_with(check_grid_cell_pixels(1024), "넓이")
    assert "격자 한 칸은 입력의 32x32 조각" in check_grid_cell_pixels(32).message
    set_language("en")


# --- Korean hints for notebook 01 ---


def test_flat_position_hints_in_korean():
    set_language("ko")
    _rejected_with(check_flat_position(lambda c, r, col, shape: c * 49 + r * 7 + col), "7x7 격자에서만 맞습니다")
    _rejected_with(check_flat_position(lambda c, r, col, shape: (r * shape[2] + col) * shape[0] + c), "channels-last")
    _rejected_with(check_flat_position(lambda c, r, col, shape: c * shape[1] * shape[2] + col * shape[1] + r), "행과 열이 바뀌었습니다")
    set_language("en")


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
    set_language("en")


def test_all_class_cams_hints_in_korean():
    set_language("ko")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,ck->bkhw", f, w)), "글자를 'kc'로")
    _rejected_with(check_all_class_cams(lambda f, w: torch.einsum("bchw,kc->bk", f, w)), "위치까지 더해")
    set_language("en")


# --- Korean hints for notebook 03 ---


def test_cam_by_hand_hints_in_korean():
    set_language("ko")
    _rejected_with(check_cam_by_hand(lambda f, w, c: (w[0][:, None, None] * f).sum(0)), "늘 0번 행을")
    _rejected_with(check_cam_by_hand(lambda f, w, c: torch.relu(torch.einsum("c,chw->hw", w[c], f))), "ReLU를 쓰지 않습니다")
    set_language("en")


def test_normalize_map_hints_in_korean():
    set_language("ko")
    _rejected_with(check_normalize_map(lambda m: (m - m.min()) / (m.max() - m.min())), "상수 맵에서는 0 / 0 = NaN")
    _rejected_with(check_normalize_map(lambda m: m / m.max()), "먼저 최솟값을 빼고")


# --- Korean hints for notebook 04 ---


def test_check_grad_cam_weights_in_korean():
    set_language("ko")
    summed = check_grad_cam_weights(lambda g: g.sum(dim=(2, 3)))
    assert not summed and "위치들을 더했습니다" in summed.message and "h * w로 나누세요" in summed.message
    over_channels = check_grad_cam_weights(lambda g: g.mean(dim=1))
    assert not over_channels and "채널에 대해 평균을 냈습니다" in over_channels.message
    right = check_grad_cam_weights(lambda g: g.mean(dim=(2, 3)))
    assert right and "모두 맞았습니다" in right.message and "공간 평균" in right.message
    set_language("en")


def test_check_grad_cam_from_cam_in_korean():
    set_language("ko")
    no_relu = check_grad_cam_from_cam(lambda cam: cam / (cam.shape[-2] * cam.shape[-1]))
    assert not no_relu and "음수 값이 남아 있습니다" in no_relu.message and "ReLU" in no_relu.message
    no_factor = check_grad_cam_from_cam(torch.relu)
    assert not no_factor and "*평균*의 그래디언트" in no_factor.message
    one_side = check_grad_cam_from_cam(lambda cam: torch.relu(cam) / cam.shape[-1])
    assert not one_side and "위치의 개수 h * w로 나누세요" in one_side.message


# --- Korean hints for notebook 05 ---


def test_check_layer2_side_in_korean():
    set_language("ko")
    wrong = check_layer2_side(56)
    assert not wrong and "56은 layer1의 한 변입니다" in wrong.message
    right = check_layer2_side(28)
    assert right and "맞았습니다" in right.message and "layer1에서 56" in right.message
    set_language("en")


def test_check_resnet_stage_side_in_korean():
    set_language("ko")
    no_stem = check_resnet_stage_side(lambda layer, side: side // 2 ** int(layer[-1]))
    assert not no_stem and "스템(stride 2 합성곱과 stride 2 최대 풀링)" in no_stem.message
    layer1_halves = check_resnet_stage_side(lambda layer, side: side // 2 ** (int(layer[-1]) + 2))
    assert not layer1_halves and "layer1은 받은 해상도를 그대로 유지합니다" in layer1_halves.message


# --- Korean hints for notebook 06 ---


def test_check_iou_korean_hint():
    set_language("ko")

    def inclusive(a, b):  # a typical slip: widths counted with + 1, as for end-inclusive boxes
        return _iou((a[0], a[1], a[2] + 1, a[3] + 1), (b[0], b[1], b[2] + 1, b[3] + 1))

    verdict = check_iou(inclusive)
    assert not verdict and verdict.message == "여기서 상자는 끝 좌표를 포함하지 않습니다: 너비는 + 1 없이 x1 - x0입니다."
    assert "숨겨진 6개 경우 모두 맞았습니다" in check_iou(_iou).message and "0에서 자른 교집합" in check_iou(_iou).message
    set_language("en")


def test_check_largest_region_box_korean_hint():
    set_language("ko")

    def every_pixel(mask):
        rows, cols = mask.nonzero(as_tuple=True)
        return cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1

    verdict = check_largest_region_box(every_pixel)
    assert not verdict and verdict.message.startswith("'큰 영역 하나와 작은 영역 하나' 경우에 상자가 전경 픽셀을 모두 감쌌습니다")
    assert "가장 큰 연결 영역 하나만 남기세요" in verdict.message


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
    set_language("en")


def test_check_deletion_step_korean_hint():
    def least_first(image, saliency, fraction):
        count = round(fraction * saliency.numel())
        removed = torch.zeros(saliency.numel(), dtype=torch.bool)
        removed[(-saliency).flatten().topk(count).indices] = True
        return image.masked_fill(removed.view(saliency.shape), 0.0)

    set_language("ko")
    verdict = check_deletion_step(least_first)
    assert not verdict and "*가장 덜* 중요한 픽셀" in verdict.message
    set_language("en")


# --- Checkers for notebook 08 (Which CAM should I use?) ---


def _family_example():
    activations = torch.rand(2, 4, 3, 3)
    activations[:, 2] = 0  # a silent channel
    return activations, torch.randn(2, 3, 4, 3, 3)


def test_check_xgrad_cam_weights_accepts_the_reference_and_names_typical_mistakes():
    from cam_helpers.exercises import check_xgrad_cam_weights
    from cam_helpers.family import xgrad_cam_weights

    assert check_xgrad_cam_weights(xgrad_cam_weights)
    assert "Not answered yet" in check_xgrad_cam_weights(lambda A, g: ...).message
    verdict = check_xgrad_cam_weights(lambda A, g: g.mean(dim=(-2, -1)))
    assert not verdict and "that is Grad-CAM's weight" in verdict.message
    verdict = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)) / A[:, None].sum(dim=(-2, -1)))
    assert not verdict and "0 / 0 = NaN" in verdict.message
    activations, gradients = _family_example()
    assert torch.equal(xgrad_cam_weights(activations, gradients)[:, :, 2], torch.zeros(2, 3))


def test_check_layer_cam_accepts_the_reference_and_names_typical_mistakes():
    from cam_helpers.exercises import check_layer_cam
    from cam_helpers.family import layer_cam_maps

    assert check_layer_cam(layer_cam_maps)
    assert check_layer_cam(lambda A, g: torch.einsum("bnchw,bchw->bnhw", g.clamp_min(0), A).clamp_min(0))
    verdict = check_layer_cam(lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0))
    assert not verdict and "that is HiResCAM" in verdict.message
    verdict = check_layer_cam(lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=1).clamp_min(0))
    assert not verdict and "sum over the channels k" in verdict.message
    verdict = check_layer_cam(lambda A, g: 1 / 0)
    assert not verdict and "ZeroDivisionError" in verdict.message


# --- Korean hints for notebook 08 ---


def test_check_xgrad_cam_weights_korean_hints():
    from cam_helpers.exercises import check_xgrad_cam_weights
    from cam_helpers.family import xgrad_cam_weights

    set_language("ko")
    right = check_xgrad_cam_weights(xgrad_cam_weights)
    assert right and "숨겨진 4개 경우 모두 맞았습니다" in right.message and "XGrad-CAM의 가중치와 같습니다" in right.message
    plain_mean = check_xgrad_cam_weights(lambda A, g: g.mean(dim=(-2, -1)))
    assert not plain_mean and "Grad-CAM의 가중치(g의 단순 평균)" in plain_mean.message
    not_divided = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)))
    assert not not_divided and "활성값 총합 sum_xy A_k로 나누세요" in not_divided.message
    nan = check_xgrad_cam_weights(lambda A, g: (g * A[:, None]).sum(dim=(-2, -1)) / A[:, None].sum(dim=(-2, -1)))
    assert not nan and "0 / 0 = NaN" in nan.message and "가중치 0을 주세요" in nan.message
    assert "아직 답이 없습니다" in check_xgrad_cam_weights(lambda A, g: ...).message
    set_language("en")
    assert "that is Grad-CAM's weight" in check_xgrad_cam_weights(lambda A, g: g.mean(dim=(-2, -1))).message


def test_check_layer_cam_korean_hints():
    from cam_helpers.exercises import check_layer_cam
    from cam_helpers.family import layer_cam_maps

    set_language("ko")
    right = check_layer_cam(layer_cam_maps)
    assert right and "숨겨진 4개 경우 모두 맞았습니다" in right.message and "LayerCAM의 맵과 같습니다" in right.message
    hires = check_layer_cam(lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0))
    assert not hires and "그것은 HiResCAM" in hires.message and "양의 그래디언트만 남깁니다" in hires.message
    over_classes = check_layer_cam(lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=1).clamp_min(0))
    assert not over_classes and "클래스가 아니라 채널 k에 대해 더하세요" in over_classes.message
    averaged = check_layer_cam(
        lambda A, g: torch.einsum("bnc,bchw->bnhw", g.clamp_min(0).mean(dim=(-2, -1)), A).clamp_min(0))
    assert not averaged and "위치에 대해 평균 내지 않습니다" in averaged.message
    set_language("en")
    assert "that is HiResCAM" in check_layer_cam(lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0)).message
