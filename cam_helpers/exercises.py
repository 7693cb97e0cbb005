"""Self-checking exercises: one checker per coding exercise of the notebooks.

A learner studying alone needs to know whether an answer is right without reading the solution,
so a checker tests the answer on hidden cases against a reference it keeps to itself:

    def cam_by_hand(features, weights):
        ...                                   # your code here
    check_cam_by_hand(cam_by_hand)            # ✓ or a hint; never the solution

A checker never raises: "Run All" must not stop at an unanswered exercise. Its :class:`Verdict`
prints as one line and is truthy when the answer passed, so a solution cell can ``assert`` it.
Checkers are built on :func:`compare_on_cases` (a function, on hidden cases) or
:func:`compare_value` (a single value), given typical wrong answers ("forgot the ReLU") and their
hints in English and Korean (:func:`set_language`; the Korean notebooks call ``set_language("ko")``).
An answer that changes its inputs in place (``cam.relu_()``, ``features /= h * w``) is wrong even
when its output is right, since the caller's tensors change too: the hint names the operation.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .cam import all_class_maps, class_activation_maps, logits_from_maps, normalize_maps
from .gradcam import layer_cam_maps, xgrad_cam_weights  # the references of the 08 checkers

__all__ = [
    "Text", "Verdict", "Case", "set_language", "compare_on_cases", "compare_value",
    "check_grid_cell_pixels", "check_flatten_fc_weight_shape", "check_flat_position",
    "check_logits_from_features", "check_all_class_cams", "check_cam_by_hand", "check_normalize_map",
    "check_grad_cam_weights", "check_grad_cam_from_cam", "check_layer2_side", "check_resnet_stage_side",
    "check_iou", "check_largest_region_box", "check_spearman", "check_deletion_step",
    "check_xgrad_cam_weights", "check_layer_cam", "check_tokens_to_map", "check_attention_rollout",
]

_LANGUAGES = ("en", "ko")
_language = "en"


@dataclass(frozen=True)
class Text:
    """A message in English, optionally Korean; placeholders like ``{case}`` are filled by :meth:`format`.

    Korean messages are written in one register, 합니다체 (``...입니다``, ``...해야 합니다``).
    """

    en: str
    ko: str | None = None

    def format(self, **values: Any) -> str:
        template = self.ko if (_language == "ko" and self.ko) else self.en
        return template.format(**values)


def set_language(language: str) -> None:
    """Show checker messages in ``"en"`` (English) or ``"ko"`` (Korean)."""
    global _language
    if language not in _LANGUAGES:
        raise ValueError(f"Unknown language {language!r}; use one of {', '.join(_LANGUAGES)}.")
    _language = language


@dataclass
class Verdict:
    """The result of a checker: ``passed`` and a one-line ``message``. Truthy when passed."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.message

    def _repr_markdown_(self) -> str:  # Jupyter shows the message, not the dataclass
        return repr(self)


@dataclass
class Case:
    """One hidden test case: the arguments given to the answer and to the reference.

    ``label`` says what is special about the case ("batch of 3", "one channel"), so a failing case
    can be named without showing the expected output.
    """

    label: str | Text
    args: tuple


def _case(en: str, ko: str, *args: Any) -> Case:
    """A case named in both languages: ``_case("one channel", "채널 하나", features)``."""
    return Case(Text(en, ko), args)


_MESSAGES = {
    "not_yet": Text(
        "Not answered yet: replace the `...` with your code, then run this cell again.",
        "아직 답이 없습니다. `...` 자리에 코드를 쓴 다음 이 셀을 다시 실행하십시오."),
    "raised": Text("Your answer raised {error} on the case '{case}'.",
                   "테스트 '{case}'에서 오류가 났습니다: {error}"),
    "not_tensor": Text(
        "On the case '{case}' your answer returned {got}; a tensor was expected.",
        "테스트 '{case}'에서 답이 돌려준 값의 자료형은 {got}입니다. 텐서(tensor)를 돌려주어야 합니다."),
    "shape": Text(
        "On the case '{case}' your answer has shape {got}, but the right answer has shape {expected}.",
        "테스트 '{case}'에서 답의 형태(shape)는 {got}인데, 맞는 답의 형태는 {expected}입니다."),
    "values": Text(
        "On the case '{case}' the shape is right but the values differ (largest difference {diff:.3g}).",
        "테스트 '{case}'에서 형태는 맞지만 값이 다릅니다(가장 큰 차이 {diff:.3g})."),
    "value": Text("Not quite: {got!r} is not the right answer.",
                  "아직 아닙니다. 지금 답({got!r})은 맞는 답이 아닙니다."),
    "case_value": Text(
        "On the case '{case}' your answer returned {got!r}, which is not the right value.",
        "테스트 '{case}'에서 답이 돌려준 값은 {got!r}인데, 맞는 값이 아닙니다."),
    "in_place": Text(
        "On the case '{case}' your answer changed its input {argument} in place, with {operation}: "
        "the caller's tensor changes too, so the code after your function would see other numbers. "
        "Compute the result in a new tensor instead.",
        "테스트 '{case}'에서 답이 입력 {argument}의 값을 바꾸었습니다. 제자리 연산(in-place) {operation} "
        "때문입니다. 그러면 함수를 부른 쪽의 텐서도 함께 바뀌어, 함수 뒤의 코드가 다른 숫자를 보게 됩니다. "
        "입력은 그대로 두고, 결과는 새 텐서에 담아야 합니다."),
    "in_place_unnamed": Text(
        "On the case '{case}' your answer changed its input {argument} in place (an in-place operation, "
        "or a write through `.numpy()`): the caller's tensor changes too, so the code after your function "
        "would see other numbers. Compute the result in a new tensor instead.",
        "테스트 '{case}'에서 답이 입력 {argument}의 값을 바꾸었습니다. 제자리 연산(in-place)을 썼거나 "
        "`.numpy()`로 얻은 배열에 값을 쓴 것으로 보입니다. 그러면 함수를 부른 쪽의 텐서도 함께 바뀌어, 함수 뒤의 "
        "코드가 다른 숫자를 보게 됩니다. 입력은 그대로 두고, 결과는 새 텐서에 담아야 합니다."),
    "argument": Text("number {n}", "{n}번째 인자"),
    "passed_cases": Text("Right on all {n} hidden cases.{extra}", "숨겨진 테스트 {n}개를 모두 통과했습니다.{extra}"),
    "passed_value": Text("Right: {got!r}.{extra}", "정답입니다: {got!r}.{extra}"),
}

# A computed output may differ from the reference by float rounding; a typed value (a count, a shape) less so.
_CASE_TOLERANCE = 1e-4
_VALUE_TOLERANCE = 1e-6


def _is_placeholder(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _clone(value: Any) -> Any:
    """Copy tensors so an answer that works in place cannot change the reference's input."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_clone(v) for v in value)
    return value


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in a case's arguments (nested in tuples and lists too)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _unchanged(before: Any, after: Any) -> bool:
    """True when ``after`` holds the same values as ``before`` (NaN counts as equal to NaN)."""
    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor) or before.shape != after.shape or before.dtype != after.dtype:
            return False
        if torch.equal(before, after):
            return True
        # torch.equal says NaN != NaN: a case with NaN in it would flag every answer without this.
        return before.is_floating_point() and torch.equal(before.isnan(), after.isnan()) and torch.equal(
            before.nan_to_num(0.0), after.nan_to_num(0.0))
    if isinstance(before, (tuple, list)):
        return len(before) == len(after) and all(_unchanged(b, a) for b, a in zip(before, after))
    return before == after


# In-place operators as the learner wrote them: `x /= n` reaches torch as Tensor.div_, `mask &= m` as
# Tensor.__iand__ (torch has no method name for the bitwise ones).
_OPERATORS = {
    "add_": "+=", "sub_": "-=", "mul_": "*=", "div_": "/=", "pow_": "**=", "floor_divide_": "//=",
    "remainder_": "%=", "__iand__": "&=", "__ior__": "|=", "__ixor__": "^=", "__ilshift__": "<<=",
    "__irshift__": ">>=",
}


def _writes(name: str, kwargs: dict) -> bool:
    """Whether the torch call ``name`` writes into its first argument (or into ``out=``)."""
    return ("out" in kwargs or kwargs.get("inplace") is True or name == "__setitem__" or name in _OPERATORS
            or (name.endswith("_") and not name.startswith("__")))  # relu_, clamp_, ...


def _operation_text(name: str, kwargs: dict) -> str:
    """``"div_"`` -> ``"`/=` (`.div_()`)"``: the in-place operation, as code (the same in every language)."""
    if name == "__setitem__":
        return "`x[...] = ...`"
    if "out" in kwargs:
        return f"`{name}(..., out=...)`"
    if kwargs.get("inplace") is True:  # F.relu(x, inplace=True), nn.ReLU(inplace=True)
        return f"`{name}(..., inplace=True)`"
    if name in _OPERATORS:
        return f"`{_OPERATORS[name]}`" if name.startswith("__") else f"`{_OPERATORS[name]}` (`.{name}()`)"
    return f"`.{name}()`"


class _InPlaceWatch(TorchFunctionMode):
    """Names the first torch operation that changes the values of the watched tensors (or of views of them).

    Torch runs every tensor method and function through this mode while it is active; a call that
    writes (:func:`_writes`: an in-place method, an operator like ``/=``, an item assignment, ``out=``,
    ``inplace=True``) into a tensor that shares memory with a watched one is compared before and after.
    Only those calls pay for a copy; the others cost one Python call each.
    """

    def __init__(self, watched: Iterable[torch.Tensor]) -> None:
        super().__init__()
        self._memory = {t.untyped_storage().data_ptr() for t in watched if t.numel()}  # a view shares its base's
        self.operation: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (torch's protocol)
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = kwargs.get("out", args[0] if args else None)
        watched = (self.operation is None and isinstance(target, torch.Tensor) and _writes(name, kwargs)
                   and target.untyped_storage().data_ptr() in self._memory)
        before = target.clone() if watched else None  # the mode is off inside its own handler
        result = func(*args, **kwargs)
        if watched and not _unchanged(before, target):
            self.operation = _operation_text(name, kwargs)
        return result


def _argument_names(answer: Callable[..., Any]) -> list[str]:
    """The answer's parameter names (``features``), to name an argument it changed; [] if unknown."""
    try:
        return [p.name for p in inspect.signature(answer).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # a builtin without a signature
        return []


def _in_place_message(case: Case, answer: Callable[..., Any], given: tuple, watch: _InPlaceWatch) -> str | None:
    """None when the answer left its (cloned) arguments ``given`` as the case has them, else the hint."""
    changed = next((i for i, (b, a) in enumerate(zip(case.args, given)) if not _unchanged(b, a)), None)
    if changed is None:
        return None
    names = _argument_names(answer)
    argument = f"`{names[changed]}`" if changed < len(names) else _MESSAGES["argument"].format(n=changed + 1)
    if watch.operation is None:
        return _MESSAGES["in_place_unnamed"].format(case=_label(case), argument=argument)
    return _MESSAGES["in_place"].format(case=_label(case), argument=argument, operation=watch.operation)


def _difference(got: Any, expected: Any, tolerance: float) -> tuple[str, dict] | None:
    """None when got == expected (within ``tolerance``), else (key of :data:`_MESSAGES`, its values)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return "not_tensor", {"got": type(got).__name__}
        if tuple(got.shape) != tuple(expected.shape):
            return "shape", {"got": tuple(got.shape), "expected": tuple(expected.shape)}
        got = got.detach().to(expected.device, torch.float64)
        expected = expected.detach().to(torch.float64)
        if not torch.allclose(got, expected, atol=tolerance, rtol=tolerance, equal_nan=True):
            return "values", {"diff": (got - expected).abs().nan_to_num(math.inf).max().item()}
        return None
    if isinstance(expected, float) or isinstance(got, float):
        try:
            same = math.isclose(float(got), float(expected), rel_tol=tolerance, abs_tol=tolerance)
        except (TypeError, ValueError):
            same = False
    elif isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)):  # torch.Size is a tuple
        differences = [_difference(g, e, tolerance) for g, e in zip(got, expected)]
        same = len(got) == len(expected) and not any(differences)
    else:
        try:
            same = bool(got == expected)
        except (RuntimeError, ValueError):  # a tensor or array of several numbers where one was expected
            same = False
    return None if same else ("value", {"got": got})


def _label(case: Case) -> str:
    return case.label.format() if isinstance(case.label, Text) else case.label


def _matches(got: Any, wrong: Callable[..., Any], case: Case) -> bool:
    try:
        wrong_output = wrong(*_clone(case.args))
    except Exception:  # a mistake that does not apply to this case
        return False
    return _difference(got, wrong_output, _CASE_TOLERANCE) is None


def _with_success(key: str, success: Text | None, **values: Any) -> str:
    """The pass message, then the checker's own sentence (what a right answer proves), if it has one."""
    return _MESSAGES[key].format(extra=" " + success.format() if success else "", **values)


def compare_on_cases(
    answer: Callable[..., Any] | None,
    reference: Callable[..., Any],
    cases: Iterable[Case],
    mistakes: Sequence[tuple[Callable[..., Any], Text]] = (),
    *,
    success: Text | None = None,
) -> Verdict:
    """Run ``answer`` and ``reference`` on every case; the first difference decides the verdict.

    The answer gets copies of the case's tensors; if it changes them (in place), that is the verdict,
    even when its output is right.

    Args:
        answer: the learner's function (None or ``...`` means "not answered yet").
        reference: the right function; never shown.
        mistakes: (wrong function, hint) pairs, typical wrong answers; the first one the answer
            matches gives its hint (``{case}`` in it names the case). A wrong function that raises
            on a case does not apply to it.
        success: a sentence for a right answer (what it proves), after "Right on all n hidden cases."
    """
    if _is_placeholder(answer):
        return Verdict(False, _MESSAGES["not_yet"].format())
    cases = list(cases)
    for case in cases:
        expected = reference(*_clone(case.args))
        given = _clone(case.args)
        watch = _InPlaceWatch(_tensors(given))
        try:
            with watch:
                got = answer(*given)
        except Exception as error:  # the learner's bug: say where, do not stop Run All
            error_text = f"{type(error).__name__}: {error}"
            return Verdict(False, _MESSAGES["raised"].format(case=_label(case), error=error_text))
        if _is_placeholder(got):
            return Verdict(False, _MESSAGES["not_yet"].format())
        in_place = _in_place_message(case, answer, given, watch)
        if in_place:
            return Verdict(False, in_place)
        problem = _difference(got, expected, _CASE_TOLERANCE)
        if problem is None:
            continue
        for wrong, hint in mistakes:
            if _matches(got, wrong, case):
                return Verdict(False, hint.format(case=_label(case)))
        key, values = problem
        key = "case_value" if key == "value" else key  # a wrong number: say on which case
        return Verdict(False, _MESSAGES[key].format(case=_label(case), **values))
    return Verdict(True, _with_success("passed_cases", success, n=len(cases)))


def compare_value(
    answer: Any,
    expected: Any,
    mistakes: Sequence[tuple[Any, Text]] = (),
    *,
    success: Text | None = None,
) -> Verdict:
    """Check a single value (a shape, a count); ``mistakes`` pairs a wrong value with its hint."""
    if _is_placeholder(answer):
        return Verdict(False, _MESSAGES["not_yet"].format())
    if _difference(answer, expected, _VALUE_TOLERANCE) is None:
        return Verdict(True, _with_success("passed_value", success, got=answer))
    for wrong, hint in mistakes:
        if _difference(answer, wrong, _VALUE_TOLERANCE) is None:
            return Verdict(False, hint.format(got=answer))
    return Verdict(False, _MESSAGES["value"].format(got=answer))


def _randn(*shape: int, seed: int) -> torch.Tensor:
    """A reproducible random tensor for hidden cases (the same cases on every run)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- Notebooks 00 (Start here), 01 (The traditional classifier), 02 (The GAP pipeline), 03 (CAM step by step)
def check_grid_cell_pixels(answer: Any) -> Verdict:
    """Notebook 00: how many input pixels wide is one cell of the 7x7 map on a 224x224 input? (32)"""
    return compare_value(answer, 224 // 7, mistakes=[
        (7, Text(
            "7 is the number of cells in a row; how many pixels of the 224 does each cell stand for?",
            "7은 한 줄에 놓인 칸의 개수입니다. 224픽셀 가운데 한 칸은 몇 픽셀을 맡습니까?")),
        (49, Text(
            "49 is the number of cells in the whole grid; the question is the width of one cell, in pixels.",
            "49는 격자 전체의 칸 수입니다. 묻는 것은 한 칸의 너비, 즉 픽셀 몇 개인지입니다.")),
        (224 / 49, Text(
            "Divide the width (224 pixels) by the cells in ONE row (7), not by all 49 cells.",
            "너비(224픽셀)는 49칸 전체가 아니라 한 줄의 칸 수(7)로 나누어야 합니다.")),
        (32 * 32, Text(
            "1024 is the cell's area in pixels; the question asks for its width.",
            "1024는 한 칸의 넓이(픽셀 수)입니다. 묻는 것은 너비입니다.")),
    ], success=Text("Each cell stands for a 32x32 patch of the input.", "격자 한 칸은 입력의 32x32 조각에 해당합니다."))


def check_flatten_fc_weight_shape(answer: Any) -> Verdict:
    """Notebook 01: the ``(out_features, in_features)`` of a flatten head's ``nn.Linear`` on the
    offline model, whose last conv layer is [1280, 7, 7], with 1000 classes: (1000, 62720)."""
    return compare_value(answer, (1000, 1280 * 7 * 7), mistakes=[
        ((1000, 1280), Text(
            "That is the GAP head's weight, one column per channel (the post's [N, 512] slip). Flatten "
            "keeps every number of [1280, 7, 7], so each class needs one weight per channel AND position.",
            "그것은 채널마다 열이 하나인 GAP 헤드의 가중치입니다(원문 포스팅이 [N, 512]라고 적은 것과 같은, "
            "흔한 혼동입니다). 펼치기(flatten)는 [1280, 7, 7]의 숫자를 하나도 버리지 않으므로, "
            "클래스마다 채널과 위치의 짝 하나하나에 가중치가 필요합니다.")),
        ((1280 * 7 * 7, 1000), Text(
            "Right numbers, wrong order: nn.Linear stores its weight as (out_features, in_features), "
            "one row per class.",
            "숫자는 맞지만 순서가 반대입니다. nn.Linear는 가중치를 (out_features, in_features)로, "
            "즉 클래스마다 행 하나로 저장합니다.")),
        ((1000, 512 * 7 * 7), Text(
            "25088 = 512 x 7 x 7 is ResNet18's flatten length; this model has 1280 channels.",
            "25088 = 512 x 7 x 7은 ResNet18을 펼친 길이입니다. 이 모델의 채널은 1280개입니다.")),
        ((1000, 1280 * 7), Text(
            "A 7x7 map has 49 positions, not 7: count rows times columns.",
            "7x7 맵의 위치는 7개가 아니라 49개입니다. 행 수와 열 수를 곱해야 합니다.")),
    ], success=Text(
        "A flatten head has h x w = 49 times the weights of a GAP head, whatever the channel count.",
        "채널이 몇 개든, 펼치기 헤드의 가중치는 GAP 헤드의 h x w = 49배입니다."))


def _flat_position(channel: int, row: int, column: int, shape: tuple[int, int, int]) -> int:
    return int(np.ravel_multi_index((channel, row, column), shape))  # numpy's row-major (C order) index


def check_flat_position(answer: Callable[..., Any] | None) -> Verdict:
    """Notebook 01: ``flat_position(channel, row, column, shape)`` -> index in the flattened vector.

    ``shape`` is (C, h, w) of one image's features; ``features.flatten()`` goes channel by channel,
    then row by row.
    """
    return compare_on_cases(answer, _flat_position, cases=[
        _case("ResNet18's [512, 7, 7], channel 3, row 2, column 5", "ResNet18의 [512, 7, 7], 채널 3, 행 2, 열 5",
              3, 2, 5, (512, 7, 7)),
        _case("the very first number", "맨 첫 번째 숫자", 0, 0, 0, (512, 7, 7)),
        _case("the very last number of [1280, 7, 7]", "[1280, 7, 7]의 맨 마지막 숫자", 1279, 6, 6, (1280, 7, 7)),
        _case("a non-square [8, 5, 6] map", "정사각형이 아닌 [8, 5, 6] 맵", 2, 4, 1, (8, 5, 6)),
        _case("a tall [3, 10, 2] map", "세로로 긴 [3, 10, 2] 맵", 1, 7, 1, (3, 10, 2)),
    ], mistakes=[
        (lambda ch, r, col, shape: ch * 49 + r * 7 + col, Text(
            "Right on a 7x7 grid only: use the height and width from `shape` instead of 49 and 7.",
            "7x7 격자에서만 맞습니다. 49와 7 대신 `shape`에서 꺼낸 높이와 너비를 써야 합니다.")),
        (lambda ch, r, col, shape: (r * shape[2] + col) * shape[0] + ch, Text(
            "That is channels-last order. PyTorch stores (C, h, w): "
            "all of channel 0 first, then channel 1, ...",
            "채널이 맨 뒤에 오는(channels-last) 순서입니다. PyTorch는 (C, h, w)로 저장합니다. "
            "채널 0 전체가 먼저, 그다음 채널 1, ... 순서입니다.")),
        (lambda ch, r, col, shape: ch * shape[1] * shape[2] + col * shape[1] + r, Text(
            "Rows and columns are swapped: within a channel, flatten goes row by row, "
            "so a row is `width` numbers long.",
            "행과 열이 바뀌었습니다. 한 채널 안에서 펼치기는 행 단위로 나아가므로, 한 행의 길이는 `width`개입니다.")),
    ])


def check_logits_from_features(answer: Callable[..., Any] | None) -> Verdict:
    """Notebook 02: the model's head by hand, GAP then FC:
    ``logits_from_features(features (B, C, h, w), fc_weight (K, C), fc_bias (K,))`` -> (B, K)."""
    # The reference: the mean of a CAM made with the bias is the logit.
    return compare_on_cases(answer, lambda f, w, b: logits_from_maps(all_class_maps(f, w, b)), cases=[
        # First, so that reading the weight as (C, K) runs and earns its hint instead of a shape error.
        _case("as many classes as channels", "클래스 수와 채널 수가 같음",
              _randn(2, 4, 3, 3, seed=13), _randn(4, 4, seed=14), _randn(4, seed=15)),
        _case("batch 1, 4 channels, 3x3, 5 classes", "배치 크기 1, 채널 4개, 3x3, 클래스 5개",
              _randn(1, 4, 3, 3, seed=1), _randn(5, 4, seed=2), _randn(5, seed=3)),
        _case("batch 3, 6 channels, 7x7, 2 classes", "배치 크기 3, 채널 6개, 7x7, 클래스 2개",
              _randn(3, 6, 7, 7, seed=4), _randn(2, 6, seed=5), _randn(2, seed=6)),
        _case("a non-square 2x5 map", "정사각형이 아닌 2x5 맵",
              _randn(2, 3, 2, 5, seed=7), _randn(4, 3, seed=8), _randn(4, seed=9)),
        _case("one channel, one class", "채널 하나, 클래스 하나",
              _randn(2, 1, 4, 4, seed=10), _randn(1, 1, seed=11), _randn(1, seed=12)),
    ], mistakes=[
        (lambda f, w, b: f.mean(dim=(2, 3)) @ w + b, Text(
            "The weight is (K, C), one row per class, but your answer reads it as (C, K). "
            "On '{case}' K == C, so it ran, yet it mixed up classes and channels.",
            "가중치의 형태는 클래스마다 행이 하나인 (K, C)인데, 답은 가중치를 (C, K)로 읽었습니다. "
            "테스트 '{case}'에서는 K와 C가 같아서 오류 없이 실행되었지만, 클래스와 채널이 뒤섞였습니다.")),
        (lambda f, w, b: f.mean(dim=(2, 3)) @ w.T, Text(
            "Almost: the FC layer also adds its bias, one number per class.",
            "거의 다 왔습니다. 완전 연결층(FC)은 편향(bias)도 더합니다. 클래스마다 숫자 하나씩입니다.")),
        (lambda f, w, b: f.sum(dim=(2, 3)) @ w.T + b, Text(
            "GAP takes the *average* of each map, not the sum: your values are h x w times too large.",
            "GAP는 맵마다 합이 아니라 *평균*을 냅니다. 지금 값은 h x w배만큼 큽니다.")),
        (lambda f, w, b: f.amax(dim=(2, 3)) @ w.T + b, Text(
            "That is global *max* pooling; this head averages.",
            "그것은 전역 *최대* 풀링입니다. 이 헤드는 평균을 냅니다.")),
        (lambda f, w, b: f.mean(dim=(1, 2, 3))[:, None] * w.sum(dim=1) + b, Text(
            "You averaged over the channels too: GAP averages over positions (h, w) only "
            "and keeps one number per channel.",
            "채널까지 평균을 냈습니다. GAP는 위치 (h, w)에 대해서만 평균을 내고, 채널마다 숫자 하나를 남깁니다.")),
    ], success=Text("This is exactly the model's head: GAP, then FC.", "모델의 헤드와 똑같습니다. GAP, 그다음 FC입니다."))


def check_all_class_cams(answer: Callable[..., Any] | None) -> Verdict:
    """Notebook 02: ``all_class_cams(features (B, C, h, w), fc_weight (K, C))`` -> (B, K, h, w), no bias:
    M[b, k] = sum_c fc_weight[k, c] * features[b, c], for every image and class at once."""
    return compare_on_cases(answer, all_class_maps, cases=[
        # First, so that reading the weight as (C, K) runs and earns its hint instead of a shape error.
        _case("as many classes as channels", "클래스 수와 채널 수가 같음",
              _randn(2, 5, 4, 4, seed=27), _randn(5, 5, seed=28)),
        _case("batch 1, 4 channels, 3x3, 5 classes", "배치 크기 1, 채널 4개, 3x3, 클래스 5개",
              _randn(1, 4, 3, 3, seed=21), _randn(5, 4, seed=22)),
        _case("batch 2, 6 channels, 7x7, 3 classes", "배치 크기 2, 채널 6개, 7x7, 클래스 3개",
              _randn(2, 6, 7, 7, seed=23), _randn(3, 6, seed=24)),
        _case("a non-square 2x5 map", "정사각형이 아닌 2x5 맵", _randn(3, 3, 2, 5, seed=25), _randn(4, 3, seed=26)),
    ], mistakes=[
        (lambda f, w: torch.einsum("bchw,kc->bkhw", f, w) / f.shape[1], Text(
            "Your maps are C times too small: CAM *sums* the weighted maps over the channels, "
            "it does not average them.",
            "맵이 C배만큼 작습니다. CAM은 가중치를 곱한 맵을 채널을 따라 *더합니다*. 평균을 내지 않습니다.")),
        (lambda f, w: torch.einsum("bchw,ck->bkhw", f, w), Text(
            "The weight is (K, C): one row per class. "
            "Your einsum reads it as (C, K); write its letters as 'kc'.",
            "가중치의 형태는 (K, C)입니다. 클래스마다 행이 하나입니다. 지금 einsum은 가중치를 (C, K)로 읽습니다. "
            "가중치 쪽 글자는 'kc'여야 합니다.")),
        (lambda f, w: torch.einsum("bchw,kc->bkwh", f, w), Text(
            "Height and width came out swapped: keep 'hw' in the same order on both sides of '->'.",
            "높이와 너비가 뒤바뀌었습니다. '->' 양쪽에서 'hw'의 순서가 같아야 합니다.")),
        (lambda f, w: torch.einsum("bchw,kc->bk", f, w), Text(
            "You summed over the positions too: a map keeps h and w in its output ('->bkhw').",
            "위치까지 더해 버렸습니다. 맵은 출력에 h와 w를 남깁니다('->bkhw').")),
    ], success=Text("Every class's map for every image in one line.", "모든 이미지의 모든 클래스 맵을 한 줄로 만들었습니다."))


def check_cam_by_hand(answer: Callable[..., Any] | None) -> Verdict:
    """Notebook 03: ``cam_by_hand(features (C, h, w), fc_weight (K, C), class_index)`` -> (h, w):
    M_c(x, y) = sum_k w_k^c f_k(x, y), the raw map (no bias, no ReLU, no normalisation)."""
    # The reference: one image (1, C, h, w), one class -> (1, 1, h, w) -> (h, w).
    # No case asks for class 1: row class_index - 1 would then be row 0, and get row 0's hint.
    return compare_on_cases(answer, lambda f, w, c: class_activation_maps(f[None], w, c)[0, 0], cases=[
        # First, so that reading the weight as (C, K) runs and earns its hint instead of a shape error.
        _case("as many classes as channels, class 2 of 5", "클래스 수와 채널 수가 같음, 클래스 5개 중 2번",
              _randn(5, 3, 3, seed=39), _randn(5, 5, seed=30), 2),
        _case("4 channels, 3x3, class 2 of 3", "채널 4개, 3x3, 클래스 3개 중 2번",
              _randn(4, 3, 3, seed=31), _randn(3, 4, seed=32), 2),
        _case("8 channels, 7x7, class 0 of 5", "채널 8개, 7x7, 클래스 5개 중 0번",
              _randn(8, 7, 7, seed=33), _randn(5, 8, seed=34), 0),
        _case("the last class, a non-square 2x5 map", "마지막 클래스, 정사각형이 아닌 2x5 맵",
              _randn(6, 2, 5, seed=35), _randn(4, 6, seed=36), 3),
        _case("one channel", "채널 하나", _randn(1, 4, 4, seed=37), _randn(3, 1, seed=38), 2),
    ], mistakes=[
        (lambda f, w, c: (w.sum(dim=0)[:, None, None] * f).sum(dim=0), Text(
            "You mixed the weights of all classes: use only the class's row, fc_weight[class_index].",
            "모든 클래스의 가중치를 섞었습니다. 그 클래스의 행 fc_weight[class_index]만 써야 합니다.")),
        (lambda f, w, c: (w[0][:, None, None] * f).sum(dim=0), Text(
            "You always used row 0: the class's weights are the row fc_weight[class_index].",
            "늘 0번 행을 썼습니다. 그 클래스의 가중치는 fc_weight[class_index] 행입니다.")),
        (lambda f, w, c: (w[c - 1][:, None, None] * f).sum(dim=0), Text(
            "You used the row before the class's: indices count from 0, "
            "so the class's weights are row class_index itself.",
            "그 클래스 바로 앞 행을 썼습니다. 번호는 0부터 세므로, 그 클래스의 가중치는 class_index번 행 그대로입니다.")),
        (lambda f, w, c: (w[:, c][:, None, None] * f).sum(dim=0), Text(
            "You took a column of the weight; it is (K, C), so the class's weights are its row. "
            "On '{case}' K == C, so the column had the right length.",
            "가중치의 열을 꺼냈습니다. 가중치의 형태는 (K, C)이므로 그 클래스의 가중치는 행입니다. "
            "테스트 '{case}'에서는 K와 C가 같아서 열의 길이도 맞았습니다.")),
        (lambda f, w, c: (w[c][:, None, None] * f).sum(dim=1), Text(
            "Summed over the wrong axis: the map keeps (h, w) and adds up the channels, "
            "dimension 0 of (C, h, w).",
            "엉뚱한 축을 따라 더했습니다. 맵은 (h, w)를 남기고 채널, 즉 (C, h, w)의 0번 차원을 따라 더합니다.")),
        (lambda f, w, c: (w[c][:, None, None] * f).mean(dim=0), Text(
            "CAM sums the weighted channels; you averaged them (C times too small).",
            "CAM은 가중치를 곱한 채널들을 더합니다. 지금은 평균을 냈습니다(C배만큼 작습니다).")),
        (lambda f, w, c: (w[c][:, None, None] * normalize_maps(f)).sum(dim=0), Text(
            "You normalised the feature maps before weighing them. "
            "Weigh the raw maps first; normalise only the finished map, for display.",
            "가중치를 곱하기 전에 특징 맵을 정규화했습니다. 가중치는 원래 특징 맵에 곱해야 합니다. "
            "정규화는 다 만든 맵을 보여 줄 때만 합니다.")),
        (lambda f, w, c: (w[c][:, None, None] * f).sum(dim=0).clamp_min(0), Text(
            "No ReLU here: the raw map keeps its negative cells (evidence against the class).",
            "여기서는 ReLU를 쓰지 않습니다. 원래 맵은 음수 칸(그 클래스에 반하는 근거)을 그대로 둡니다.")),
    ], success=Text("Its mean plus the class bias is the class's logit.",
                    "이 맵의 평균에 클래스의 편향을 더하면 그 클래스의 로짓이 됩니다."))


def _on_constant_map(wrong: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A slip that only shows on a constant map: on any other map this mistake does not apply."""
    def only_constant(cam: torch.Tensor) -> torch.Tensor:
        if cam.max() > cam.min():
            raise ValueError("not a constant map")
        return wrong(cam)
    return only_constant


_CONSTANT_MAP_HINT = Text(
    "Right for ordinary maps, but on '{case}' every cell has the same value: min-max sends the lowest "
    "cell to 0, and here every cell is the lowest.",
    "보통 맵에서는 맞지만, 테스트 '{case}'에서는 모든 칸의 값이 같습니다. 최소-최대 정규화는 가장 낮은 칸을 "
    "0으로 보내는데, 여기서는 모든 칸이 가장 낮은 칸입니다.")


def check_normalize_map(answer: Callable[..., Any] | None) -> Verdict:
    """Notebook 03: ``normalize_map(cam (h, w))`` -> min-max normalised to [0, 1]: the lowest cell becomes 0,
    the highest 1; a constant map becomes all zeros (not NaN)."""
    return compare_on_cases(answer, normalize_maps, cases=[
        _case("a random 7x7 map", "무작위 7x7 맵", _randn(7, 7, seed=41) * 5),
        _case("a map with only negative values", "음수 값만 있는 맵", -_randn(5, 5, seed=42).abs() - 1),
        _case("a non-square 3x6 map", "정사각형이 아닌 3x6 맵", _randn(3, 6, seed=43) + 10),
        _case("a constant map", "상수 맵", torch.full((4, 4), 3.0)),
        _case("a 1x1 map", "1x1 맵", torch.tensor([[2.5]])),
    ], mistakes=[
        # An answer that only fails on a constant map got the other maps right: hint at the constant map
        # first (a constant map divided by its maximum is all ones, like the first general slip below).
        (_on_constant_map(lambda m: (m - m.min()) / (m.max() - m.min())), Text(
            "Right for ordinary maps, but a constant map gives 0 / 0 = NaN: return zeros when max == min.",
            "보통 맵에서는 맞지만, 상수 맵에서는 0 / 0 = NaN이 됩니다. max == min이면 0으로 채운 맵을 "
            "돌려주어야 합니다.")),
        (_on_constant_map(torch.ones_like), _CONSTANT_MAP_HINT),
        (_on_constant_map(lambda m: m), _CONSTANT_MAP_HINT),
        (lambda m: m / m.max(), Text(
            "Dividing by the maximum is not enough: subtract the minimum first, then divide by (max - min).",
            "최댓값으로 나누기만 해서는 안 됩니다. 먼저 최솟값을 빼고, 그다음 (max - min)으로 나누어야 합니다.")),
        (lambda m: (m - m.min()) / m.max(), Text(
            "After subtracting the minimum, divide by the range (max - min), not by the maximum.",
            "최솟값을 뺀 다음에는 최댓값이 아니라 범위 (max - min)로 나누어야 합니다.")),
        (lambda m: m.clamp_min(0) / m.clamp_min(0).max(), Text(
            "That is ReLU, then divide by the maximum: min-max normalisation maps the minimum to 0 instead.",
            "그것은 ReLU를 적용한 다음 최댓값으로 나눈 것입니다. 최소-최대 정규화는 그 대신 최솟값을 0으로 보냅니다.")),
    ])


# --- Notebook 04 (Grad-CAM for any layer)
def check_grad_cam_weights(answer: Callable[[torch.Tensor], torch.Tensor] | None) -> Verdict:
    """Exercise: Grad-CAM's channel weights alpha_k^c, the mean over the positions (x, y) of the gradients:
    ``gradients (B, C, h, w)`` (d y^c / d A_k(x, y)) -> ``alpha (B, C)``."""
    return compare_on_cases(answer, lambda gradients: gradients.mean(dim=(2, 3)), cases=[
        _case("one image, 3 channels, 4x5 grid", "이미지 한 장, 채널 3개, 4x5 격자", _randn(1, 3, 4, 5, seed=44)),
        _case("batch of 2, 8 channels, 7x7 grid", "배치 크기 2, 채널 8개, 7x7 격자", _randn(2, 8, 7, 7, seed=45)),
        _case("a 1x1 grid", "1x1 격자", _randn(3, 6, 1, 1, seed=46)),
    ], mistakes=[
        (lambda gradients: gradients.sum(dim=(2, 3)), Text(
            "Close: you summed over the positions. Grad-CAM *averages* them (divide by h * w).",
            "거의 다 왔습니다. 위치들을 더했습니다. Grad-CAM은 위치에 대해 *평균*을 냅니다(h * w로 나눕니다).")),
        (lambda gradients: gradients.mean(dim=1), Text(
            "You averaged over the channels; alpha keeps one weight per channel (B, C), "
            "so average over the positions x, y instead.",
            "채널에 대해 평균을 냈습니다. alpha는 채널마다 가중치를 하나씩 남겨야 하므로(B, C), "
            "채널이 아니라 위치 x, y에 대해 평균을 내야 합니다.")),
        (lambda gradients: gradients.mean(dim=(1, 2, 3)), Text(
            "You averaged over everything; alpha keeps one weight per image and channel (B, C).",
            "모든 축에 대해 평균을 냈습니다. alpha는 이미지와 채널마다 가중치를 하나씩 남깁니다(B, C).")),
    ], success=Text("alpha_k^c is the spatial mean of the gradient: one number per channel.",
                    "alpha_k^c는 그래디언트의 공간 평균입니다. 채널마다 숫자 하나입니다."))


def check_grad_cam_from_cam(answer: Callable[[torch.Tensor], torch.Tensor] | None) -> Verdict:
    """Exercise: Grad-CAM at the last layer of a GAP -> FC model, computed from its CAM:
    ``cam (B, K, h, w)`` -> ``ReLU(cam) / (h * w)`` of the same shape."""
    return compare_on_cases(answer, lambda cam: torch.relu(cam) / (cam.shape[-2] * cam.shape[-1]), cases=[
        _case("one image, one class, 7x7", "이미지 한 장, 클래스 하나, 7x7", _randn(1, 1, 7, 7, seed=47)),
        _case("batch of 2, 5 classes, 7x7", "배치 크기 2, 클래스 5개, 7x7", _randn(2, 5, 7, 7, seed=48)),
        _case("a 3x4 grid", "3x4 격자", _randn(1, 2, 3, 4, seed=49)),
    ], mistakes=[
        (lambda cam: cam / (cam.shape[-2] * cam.shape[-1]), Text(
            "The scale is right, but negative values remain: Grad-CAM ends with a ReLU.",
            "크기는 맞지만 음수 값이 남아 있습니다. Grad-CAM은 마지막에 ReLU를 적용합니다.")),
        (torch.relu, Text(
            "The ReLU is right; now the factor: the gradient of a *mean* over h * w positions.",
            "ReLU는 맞았습니다. 남은 것은 곱해지는 인수입니다. h * w개 위치에 대한 *평균*의 그래디언트를 "
            "생각해 보십시오.")),
        (lambda cam: torch.relu(cam) / cam.shape[-1], Text(
            "Divide by the number of positions, h * w, not by one side.",
            "한 변의 길이가 아니라 위치의 개수 h * w로 나누어야 합니다.")),
    ], success=Text("At the last layer, Grad-CAM = ReLU(CAM) / (h * w).",
                    "마지막 층에서는 Grad-CAM = ReLU(CAM) / (h * w)입니다."))


# --- Notebook 05 (The CAM explorer)
def check_layer2_side(answer: int | None) -> Verdict:
    """Exercise: the side of ResNet18's ``layer2`` map for a 224x224 input (an int).

    The hints say which map a wrong number belongs to and what to count, never how layer2 changes
    the side: that would be the answer.
    """
    return compare_value(answer, 28, mistakes=[
        (56, Text("56 is the side of layer1's map, one stage too early. Does layer2 keep the resolution "
                  "it is given? The stride of its first block tells.",
                  "56은 layer1 맵의 한 변이고, layer2는 그다음 단계입니다. layer2는 받은 해상도를 그대로 "
                  "둡니까? layer2 첫 블록의 stride를 보면 알 수 있습니다.")),
        (112, Text("112 is the side after the stem's first conv only. Count every stride-2 step between "
                   "the input and layer2's output.",
                   "112는 스템(stem)의 첫 합성곱만 지난 크기입니다. 입력에서 layer2의 출력까지 stride가 2인 "
                   "단계를 모두 세어 보십시오.")),
        (14, Text("14 is the side of layer3's map, not layer2's. Count the stride-2 steps between the "
                  "input and layer2's output again.",
                  "14는 layer2가 아니라 layer3 맵의 한 변입니다. 입력에서 layer2의 출력까지 stride가 2인 "
                  "단계를 다시 세어 보십시오.")),
        (7, Text("7 is the side of the last stage's map (layer4), the one CAM uses; layer2 comes earlier.",
                 "7은 CAM이 쓰는 마지막 단계(layer4) 맵의 한 변입니다. layer2는 그보다 앞에 있습니다.")),
    ], success=Text("The stem divides 224 by 4, so layer1's map is 56 wide, and layer2 halves that.",
                    "스템이 224를 4로 나누어 layer1에서 56이 되고, layer2가 이를 다시 2로 나눕니다."))


def _stage(layer: str) -> int:
    return int(layer.removeprefix("layer"))  # "layer3" -> 3


def check_resnet_stage_side(answer: Callable[[str, int], int] | None) -> Verdict:
    """Exercise: a function ``(layer name, input side) -> side of that stage's map`` for ResNet18.

    Layers ``"layer1"`` .. ``"layer4"``; input sides are multiples of 32.
    """
    # The reference: the stem divides by 4; layer1 keeps that; each later stage halves.
    return compare_on_cases(answer, lambda layer, side: side // (4 * 2 ** (_stage(layer) - 1)), cases=[
        _case(f"{layer} at {side}x{side}", f"{side}x{side} 입력의 {layer}", layer, side)
        for side in (224, 320, 64) for layer in ("layer1", "layer2", "layer3", "layer4")
    ], mistakes=[
        (lambda layer, side: side // 2 ** _stage(layer), Text(
            "The stem (a stride-2 conv and a stride-2 max-pool) divides by 4 before layer1 even starts.",
            "스템(stride 2 합성곱과 stride 2 최대 풀링)이 layer1이 시작되기도 전에 한 변을 4로 나눕니다.")),
        (lambda layer, side: side // 2 ** (_stage(layer) + 2), Text(
            "layer1 keeps the resolution it is given (its blocks have stride 1); "
            "only layer2, layer3 and layer4 halve it.",
            "layer1은 받은 해상도를 그대로 유지합니다(블록의 stride가 1). "
            "반으로 줄이는 것은 layer2, layer3, layer4뿐입니다.")),
    ], success=Text("The stem divides by 4, then layer2, layer3 and layer4 each halve: / 4, / 8, / 16, / 32.",
                    "스템이 4로 나누고, 그다음 layer2, layer3, layer4가 차례로 반씩 줄입니다: / 4, / 8, / 16, / 32."))


# --- Notebook 06 (Boxes without box labels: weakly supervised localization)
# Boxes are (x0, y0, x1, y1), end exclusive: a box covers x0 <= x < x1 and y0 <= y < y1.
def _area(box: Sequence[float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _intersection(box_a: Sequence[float], box_b: Sequence[float], clamp: str = "both") -> float:
    """The overlap's area. ``clamp`` names the sides clamped at 0: "both" is right; the slips clamp
    "none" (boxes apart get width x height of two negatives), or only "width" or "height"."""
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    if clamp in ("both", "width"):
        width = max(0, width)
    if clamp in ("both", "height"):
        height = max(0, height)
    return width * height


def _iou(box_a: Sequence[float], box_b: Sequence[float], clamp: str = "both") -> float:
    intersection = _intersection(box_a, box_b, clamp)
    return float(intersection / (_area(box_a) + _area(box_b) - intersection))


_ONE_SIDE_CLAMPED = Text(
    "On '{case}' some boxes overlap the box along one axis but not the other, so their IoU is 0; a negative side "
    "times a positive side gave a negative area. Clamp both the width and the height at 0.",
    "테스트 '{case}'에는 그 상자와 한 축으로만 겹치고 다른 축으로는 떨어진 상자가 있고, 그 IoU는 0입니다. 음수인 "
    "변과 양수인 변을 곱해 넓이가 음수가 되었습니다. 너비와 높이 둘 다 0 아래로 내려가지 않게 잘라야 합니다.")


def _ious_against(box_iou_of_two: Callable[..., float]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A many-boxes version of a two-box IoU: ``(boxes (N, 4), box (4,)) -> (N,)`` float tensor."""
    def ious(boxes: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        return torch.tensor([box_iou_of_two(row, box.tolist()) for row in boxes.tolist()])  # (N,)
    return ious


def _boxes(*boxes: tuple[int, int, int, int]) -> torch.Tensor:
    """(N, 4) integer boxes, as ``boxes_from_maps`` returns them."""
    return torch.tensor(boxes, dtype=torch.long)


def check_iou(answer: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None) -> Verdict:
    """Exercise: the IoU of each of N boxes with one box, for the whole batch at once.

    ``boxes``: (N, 4) integer boxes ``(x0, y0, x1, y1)``, end exclusive; ``box``: (4,). Returns (N,) floats.
    Every hidden batch mixes boxes that overlap the one box with boxes that do not (on one axis, on two).
    """
    truth = _boxes((0, 0, 10, 10))[0]
    return compare_on_cases(answer, _ious_against(_iou), cases=[
        _case("boxes overlapping (0, 0, 10, 10)", "(0, 0, 10, 10)과 겹치는 상자들",
              _boxes((5, 5, 15, 15), (2, 2, 8, 8), (0, 0, 10, 10), (0, 5, 10, 20)), truth),
        _case("a single box inside (0, 0, 20, 20)", "(0, 0, 20, 20) 안에 든 상자 하나",
              _boxes((5, 5, 10, 10)), _boxes((0, 0, 20, 20))[0]),
        _case("boxes that only touch (10, 10, 20, 20) at an edge or a corner",
              "(10, 10, 20, 20)과 변이나 꼭짓점에서만 맞닿은 상자들",
              _boxes((0, 10, 10, 20), (20, 10, 30, 20), (10, 0, 20, 10), (0, 0, 10, 10)), _boxes((10, 10, 20, 20))[0]),
        _case("boxes far from (0, 0, 4, 4), diagonally", "(0, 0, 4, 4)에서 대각선으로 멀리 떨어진 상자들",
              _boxes((10, 10, 14, 14), (6, 8, 9, 12), (1, 1, 3, 3)), _boxes((0, 0, 4, 4))[0]),
        _case("boxes beside (0, 0, 4, 10), apart", "(0, 0, 4, 10) 옆에 떨어져 있는 상자들",
              _boxes((6, 0, 10, 10), (5, 2, 9, 8), (0, 0, 4, 10)), _boxes((0, 0, 4, 10))[0]),
        _case("boxes below (0, 0, 10, 4), apart", "(0, 0, 10, 4) 아래에 떨어져 있는 상자들",
              _boxes((0, 6, 10, 10), (2, 5, 8, 9), (0, 0, 10, 4)), _boxes((0, 0, 10, 4))[0]),
    ], mistakes=[
        (_ious_against(lambda a, b: _iou(a, b, clamp="width")), _ONE_SIDE_CLAMPED),
        (_ious_against(lambda a, b: _iou(a, b, clamp="height")), _ONE_SIDE_CLAMPED),
        (_ious_against(lambda a, b: _iou(a, b, clamp="none")), Text(
            "On '{case}' some boxes do not overlap the box, so their IoU is 0: clamp the "
            "intersection's width and height at 0 (two negatives multiply to a positive).",
            "테스트 '{case}'에는 그 상자와 겹치지 않는 상자가 있고, 그 IoU는 0입니다. 교집합의 너비와 높이를 "
            "0 아래로 내려가지 않게 잘라야 합니다(음수 두 개를 곱하면 양수가 됩니다).")),
        (_ious_against(lambda a, b: float(_intersection(a, b) / (_area(a) + _area(b)))), Text(
            "The union counts the overlap twice: area A + area B - intersection.",
            "합집합이 겹친 부분을 두 번 셉니다. 합집합은 A의 넓이 + B의 넓이 - 교집합입니다.")),
        (_ious_against(lambda *boxes: _iou(*[(*box[:2], box[2] + 1, box[3] + 1) for box in boxes])), Text(
            "Boxes here are end exclusive: the width is x1 - x0, with no + 1.",
            "여기서 상자는 끝 좌표를 포함하지 않습니다. 너비는 + 1 없이 x1 - x0입니다.")),
    ], success=Text("IoU = intersection (clamped at 0) / (area A + area B - intersection), for a whole batch at once.",
                    "IoU는 0에서 자른 교집합을 (A의 넓이 + B의 넓이 - 교집합)으로 나눈 값이고, 이제 한 번에 여러 상자를 계산합니다."))


def _box(mask: torch.Tensor | np.ndarray) -> tuple[int, ...]:
    """The end-exclusive box of all the pixels of an (H, W) mask."""
    from .localization import boxes_from_masks

    return tuple(boxes_from_masks(torch.as_tensor(mask)).tolist())


def _largest_region_box(mask: torch.Tensor, corners_connect: bool = True) -> tuple[int, ...]:
    """The box of the largest 8-connected region; ``corners_connect=False`` is the slip (4-connected)."""
    from scipy import ndimage

    structure = np.ones((3, 3)) if corners_connect else None  # None: scipy's default, 4-connectivity
    labels, _ = ndimage.label(mask.numpy(), structure=structure)  # (H, W): 0 is background, 1, 2, ... regions
    largest = 1 + np.bincount(labels.ravel())[1:].argmax()  # pixels per region, background left out
    return _box(labels == largest)


def _as_box(function: Callable[[torch.Tensor], Any]) -> Callable[[torch.Tensor], Any]:
    """Let a box answer be a tuple, list or tensor of four numbers: compare it as a tuple of ints."""
    @functools.wraps(function)  # keeps the answer's parameter names for the in-place hint
    def boxed(mask: torch.Tensor) -> Any:
        box = function(mask)
        return box if _is_placeholder(box) else tuple(int(v) for v in box)  # a tensor iterates too
    return boxed


def check_largest_region_box(answer: Callable[[torch.Tensor], Any] | None) -> Verdict:
    """Exercise: the box ``(x0, y0, x1, y1)`` (end exclusive) of the largest 8-connected region of a mask.

    ``mask``: (H, W) bool. Pixels that touch at a corner belong to the same region.
    """
    def _mask(*rows: str) -> torch.Tensor:  # "#" is foreground
        return torch.tensor([[c == "#" for c in row] for row in rows])

    answer = None if _is_placeholder(answer) else _as_box(answer)
    return compare_on_cases(answer, _largest_region_box, cases=[
        _case("one blob", "덩어리 하나", _mask("......", ".###..", ".###..", "......")),
        _case("a big and a small region", "큰 영역 하나와 작은 영역 하나",
              _mask("##......", "##......", "....####", "....####", "....####")),
        _case("a region joined only at corners", "모서리로만 이어진 영역",
              _mask("#.....##", ".#....##", "..#.....", "...#....", "....#...")),
    ], mistakes=[
        (_box, Text(
            "On '{case}' your box holds every foreground pixel; keep only the largest connected region.",
            "테스트 '{case}'에서 상자가 전경 픽셀을 모두 감쌌습니다. 가장 큰 연결 영역 하나만 남겨야 합니다.")),
        (lambda mask: _largest_region_box(mask, corners_connect=False), Text(
            "On '{case}' pixels that touch only at a corner were split apart: you grew regions through the "
            "4 neighbours that share a side (up, down, left, right). Use 8-connectivity: the 4 diagonal "
            "neighbours, which share only a corner, belong to the region too.",
            "테스트 '{case}'에서 모서리로만 닿은 픽셀들이 서로 다른 영역으로 나뉘었습니다. 변을 맞댄 이웃 4개"
            "(위, 아래, 왼쪽, 오른쪽)로만 영역을 키웠기 때문입니다. 8-연결을 써야 합니다. 꼭짓점만 맞닿은 대각선 "
            "이웃 4개도 같은 영역에 속합니다.")),
        (lambda mask: tuple(v - end for v, end in zip(_largest_region_box(mask), (0, 0, 1, 1))), Text(
            "Almost: the box is end exclusive, so x1 and y1 are one past the last pixel.",
            "거의 맞았습니다. 상자는 끝 좌표를 포함하지 않으므로, x1과 y1은 마지막 픽셀보다 하나 큽니다.")),
    ], success=Text("Label the regions, keep the largest, box its pixels: that is the paper's box.",
                    "영역마다 번호를 붙이고, 가장 큰 영역만 남겨 그 픽셀들을 상자로 감싸는 것이 논문의 상자입니다."))


# --- Notebook 07 (Can we trust the map?)
def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a, b]).double())[0, 1])


def check_spearman(answer: Callable[[torch.Tensor, torch.Tensor], float] | None) -> Verdict:
    """Exercise: Spearman rank correlation of two 1-D tensors (ties get their average rank); a float."""
    from scipy import stats

    generator = torch.Generator().manual_seed(7)
    a = torch.randn(20, generator=generator)
    return compare_on_cases(answer, lambda x, y: float(stats.spearmanr(x, y)[0]), cases=[
        _case("a map and a monotone transform of it", "맵과 그 맵의 단조 변환", a, a.exp()),
        _case("a map and an unrelated one", "맵과 무관한 다른 맵", a, torch.randn(20, generator=generator)),
        _case("a map and its reverse order", "맵과 그 순서를 뒤집은 맵", a, -a ** 3),
        _case("a map and a noisy copy", "맵과 잡음을 더한 사본", a, a + 0.5 * torch.randn(20, generator=generator)),
        _case("maps with tied values", "같은 값(동점)이 있는 맵",
              torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, 0.0, 3.0, 2.0, 2.0])),
    ], mistakes=[
        (_pearson, Text(
            "That is the Pearson correlation of the values; Spearman correlates their *ranks*.",
            "값 자체의 피어슨 상관을 구했습니다. 스피어만 상관은 값의 *순위*끼리의 상관입니다.")),
        (lambda x, y: _pearson(x.argsort().argsort(), y.argsort().argsort()), Text(
            "Right without ties; on '{case}' tied values must share the average of their ranks.",
            "동점이 없으면 맞습니다. 하지만 테스트 '{case}'처럼 같은 값이 있으면, "
            "그 값들은 자기들 순위의 평균을 나눠 가져야 합니다.")),
        (lambda x, y: _pearson(x.argsort(), y.argsort()), Text(
            "argsort gives the positions in sorted order, not each value's rank: apply argsort twice.",
            "argsort는 정렬된 순서대로의 위치를 줄 뿐, 각 값의 순위를 주지는 않습니다. argsort를 두 번 적용해야 합니다.")),
    ], success=Text("Spearman's correlation is the Pearson correlation of the ranks.",
                    "스피어만 상관은 순위의 피어슨 상관입니다."))


def _deletion(image: torch.Tensor, saliency: torch.Tensor, fraction: float,
              rounding: Callable[[float], int] = round) -> torch.Tensor:
    """The reference; ``rounding=int`` or ``math.ceil`` is the slip of counting the pixels another way."""
    count = rounding(fraction * saliency.numel())
    top = saliency.flatten().argsort(descending=True)[:count]  # most important first
    keep = torch.ones(saliency.numel(), dtype=torch.bool)
    keep[top] = False
    return image * keep.view(1, *saliency.shape)  # (3, H, W): removed pixels black in every channel


def check_deletion_step(
        answer: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] | None) -> Verdict:
    """Exercise: one step of a deletion curve: ``image`` (3, H, W), ``saliency`` (H, W) at the image's
    size, ``fraction`` in [0, 1] -> a copy of the image with its ``round(fraction * H * W)`` most salient
    pixels set to 0 (black) in all three channels."""
    g = torch.Generator().manual_seed(70)
    return compare_on_cases(answer, _deletion, cases=[
        _case(f"{side}x{side} image, fraction {fraction}", f"{side}x{side} 이미지, 비율 {fraction}",
              torch.rand(3, side, side, generator=g) + 0.1, torch.rand(side, side, generator=g), fraction)
        # 0.29 * 100 is 28.999... in floating point and 0.25 * 25 is 6.25: int() and math.ceil miss round().
        for side, fraction in ((4, 0.25), (8, 0.5), (6, 0.0), (5, 1.0), (10, 0.29), (5, 0.25))
    ], mistakes=[
        (lambda image, saliency, fraction: _deletion(image, -saliency, fraction), Text(
            "You removed the *least* important pixels; deletion removes the most important first.",
            "*가장 덜* 중요한 픽셀을 지웠습니다. 삭제 곡선은 가장 중요한 픽셀부터 지웁니다.")),
        (lambda image, *rest: torch.cat([_deletion(image, *rest)[:1], image[1:]]), Text(
            "Only one channel went black; set the pixel to 0 in all three channels.",
            "한 채널만 검게 되었습니다. 픽셀은 세 채널 모두에서 0이 되어야 합니다.")),
        (lambda *args: _deletion(*args, rounding=int), Text(
            "On '{case}' you removed one pixel too few: int() (like math.floor) drops the fractional part, "
            "and in floating point fraction * H * W can fall just short of a whole number; the exercise "
            "asks for round(fraction * H * W).",
            "테스트 '{case}'에서 픽셀을 하나 덜 지웠습니다. int()는 math.floor처럼 소수 부분을 버리는데, "
            "부동소수점에서는 fraction * H * W가 정수보다 아주 조금 작게 나오기도 합니다. 문제는 "
            "round(fraction * H * W)개를 지우라고 합니다.")),
        (lambda *args: _deletion(*args, rounding=math.ceil), Text(
            "On '{case}' you removed one pixel too many: math.ceil rounds every fraction up; "
            "the exercise asks for round(fraction * H * W).",
            "테스트 '{case}'에서 픽셀을 하나 더 지웠습니다. math.ceil은 소수 부분이 있으면 늘 올림합니다. "
            "문제는 round(fraction * H * W)개를 지우라고 합니다.")),
    ], success=Text("Deletion removes the most salient pixels first.", "삭제 곡선은 가장 중요한 픽셀부터 지웁니다."))


# --- Notebook 08 (Which CAM should I use?)
# Both take activations A (B, C, h, w) and gradients g (B, n, C, h, w), one g per image and class;
# A[:, None] (B, 1, C, h, w) lines A up with every class. The references are cam_helpers.gradcam's own.
def _family_cases() -> list[Case]:
    """Batches, several classes, a wide map, ReLU-like activations, a channel that never fires, and
    activations of both signs: 08 also uses these methods at a layer before its ReLU."""
    g = torch.Generator().manual_seed(8)
    cases = []
    for en, ko, (b, n, c, h, w) in [
        ("one image, one class", "이미지 한 장, 클래스 하나", (1, 1, 4, 3, 3)),
        ("a batch of 3, two classes each", "배치 크기 3, 이미지마다 클래스 2개", (3, 2, 5, 4, 4)),
        ("a wide map (h != w)", "가로로 긴 맵 (h != w)", (2, 1, 3, 2, 5)),
    ]:
        activations = torch.rand(b, c, h, w, generator=g) * (torch.rand(b, c, h, w, generator=g) > 0.3)
        cases.append(_case(en, ko, activations, torch.randn(b, n, c, h, w, generator=g)))
    silent = torch.rand(1, 3, 2, 2, generator=g)
    silent[:, 1] = 0  # a channel that never fires: its weight must be 0, not NaN
    # Channel sums of these activations: from -4.0 to 3.9, none nearer 0 than 0.67 (stable weights).
    signed = _randn(2, 4, 3, 3, seed=80)
    return cases + [
        _case("a channel that is zero everywhere", "모든 위치에서 0인 채널",
              silent, torch.randn(1, 1, 3, 2, 2, generator=g)),
        _case("activations of both signs (a layer before its ReLU)", "음수와 양수가 섞인 활성값(ReLU 앞의 층)",
              signed, _randn(2, 2, 4, 3, 3, seed=81)),
    ]


def check_xgrad_cam_weights(answer: Callable[..., Any] | None) -> Verdict:
    """XGrad-CAM weights: (A, g) -> (B, n, C) = sum_xy g A / sum_xy A (0 if sum A = 0)."""
    def weighted(A: torch.Tensor, g: torch.Tensor) -> torch.Tensor:  # sum_xy g A: (B, n, C)
        return (g * A[:, None]).sum(dim=(-2, -1))

    def sums(A: torch.Tensor) -> torch.Tensor:  # sum_xy A: (B, 1, C)
        return A[:, None].sum(dim=(-2, -1))

    return compare_on_cases(answer, xgrad_cam_weights, _family_cases(), mistakes=[
        (lambda A, g: g.mean(dim=(-2, -1)), Text(
            "Hint: that is Grad-CAM's weight (the plain mean of g). "
            "XGrad-CAM weighs each position by A_k(x, y) / sum_xy A_k.",
            "힌트: 그것은 Grad-CAM의 가중치(g의 단순 평균)입니다. XGrad-CAM은 각 위치의 g에 "
            "A_k(x, y) / sum_xy A_k를 곱해 더합니다(A로 가중한 평균).")),
        (weighted, Text(
            "Hint: almost: divide sum_xy g A by sum_xy A_k, the channel's total activation.",
            "힌트: 거의 다 왔습니다. sum_xy g A를 그 채널의 활성값 총합 sum_xy A_k로 나누어야 합니다.")),
        (lambda A, g: weighted(A, g) / sums(A), Text(
            "Hint: a channel whose activations are all zero gives 0 / 0 = NaN. "
            "Give it weight 0 (torch.where).",
            "힌트: 활성값이 모두 0인 채널에서는 0 / 0 = NaN이 됩니다. 그런 채널의 가중치는 0이어야 합니다"
            "(torch.where).")),
        (lambda A, g: weighted(A, g) / sums(A).clamp_min(1e-8), Text(
            "Hint: on '{case}' some channels' activations sum to a negative number (as at a layer before "
            "its ReLU), and clamp_min turned that sum into a tiny positive one. Only a sum of exactly 0 "
            "needs the special weight 0.",
            "힌트: 테스트 '{case}'에는 활성값의 합이 음수인 채널이 있습니다(ReLU 앞의 층처럼). clamp_min이 "
            "그 합을 아주 작은 양수로 바꾸어 버렸습니다. 가중치를 따로 0으로 정해야 하는 것은 합이 정확히 0인 "
            "채널뿐입니다.")),
        (lambda A, g: torch.where(sums(A) != 0, weighted(A, g) / sums(A).abs(), 0.0), Text(
            "Hint: on '{case}' some channels' activations sum to a negative number (as at a layer before "
            "its ReLU): divide by the sum with its sign; abs() flips those channels' weights.",
            "힌트: 테스트 '{case}'에는 활성값의 합이 음수인 채널이 있습니다(ReLU 앞의 층처럼). 합은 부호 그대로 "
            "나누어야 합니다. abs()를 쓰면 그 채널들의 가중치 부호가 뒤집힙니다.")),
    ], success=Text("Your weights are XGrad-CAM's.", "XGrad-CAM의 가중치와 같습니다."))


def check_layer_cam(answer: Callable[..., Any] | None) -> Verdict:
    """LayerCAM maps: (A, g) -> (B, n, h, w) = ReLU(sum_k ReLU(g_k) A_k)."""
    return compare_on_cases(answer, layer_cam_maps, _family_cases(), mistakes=[
        (lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0), Text(
            "Hint: that is HiResCAM (g times A). LayerCAM keeps only the positive gradients: ReLU(g) * A.",
            "힌트: 그것은 HiResCAM(g 곱하기 A)입니다. LayerCAM은 양의 그래디언트만 남깁니다: ReLU(g) * A.")),
        (lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=1).clamp_min(0), Text(
            "Hint: sum over the channels k (dim=2 of g * A, shape (B, n, C, h, w)), not over the classes.",
            "힌트: 클래스가 아니라 채널 k에 대해 더해야 합니다(형태 (B, n, C, h, w)인 g * A의 dim=2).")),
        (lambda A, g: torch.einsum("bnc,bchw->bnhw", g.clamp_min(0).mean(dim=(-2, -1)), A).clamp_min(0), Text(
            "Hint: LayerCAM does not average the gradient over positions: "
            "each position keeps its own weight ReLU(g_k(x, y)).",
            "힌트: LayerCAM은 그래디언트를 위치에 대해 평균 내지 않습니다. 위치마다 자기 가중치 ReLU(g_k(x, y))를 "
            "그대로 씁니다.")),
        (lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=2), Text(
            "Hint: on '{case}' your map has negative values: activations can be negative (as at a layer "
            "before its ReLU), and LayerCAM ends with a ReLU.",
            "힌트: 테스트 '{case}'에서 맵에 음수 값이 있습니다. 활성값은 음수일 수 있고(ReLU 앞의 층처럼), "
            "LayerCAM은 마지막에 ReLU를 적용합니다.")),
        (lambda A, g: (g * A[:, None]).clamp_min(0).sum(dim=2), Text(
            "Hint: on '{case}' some activations are negative: the ReLU goes on the gradient alone, "
            "ReLU(g) * A, not on the product g * A.",
            "힌트: 테스트 '{case}'에는 음수인 활성값이 있습니다. ReLU는 곱 g * A가 아니라 그래디언트에만 "
            "적용합니다: ReLU(g) * A.")),
        (lambda A, g: (g.clamp_min(0) * A.clamp_min(0)[:, None]).sum(dim=2), Text(
            "Hint: on '{case}' some activations are negative: LayerCAM weighs A as it is; "
            "only the gradient goes through a ReLU.",
            "힌트: 테스트 '{case}'에는 음수인 활성값이 있습니다. LayerCAM은 A를 그대로 쓰고, ReLU는 "
            "그래디언트에만 적용합니다.")),
    ], success=Text("Your maps are LayerCAM's.", "LayerCAM의 맵과 같습니다."))


# --- Notebook 09 (CAM beyond CNNs)
# Exercise 1: a transformer layer's tokens (B, N, D) read as a feature map (B, D, h, w); the reference is
# cam_helpers.tokens.TokenGrid, the reshape that Grad-CAM's forward hook does.


@dataclass(frozen=True)
class _TokensKept:
    """What an answer's reshape was handed when it raised: ``count`` tokens for a grid of fewer patches.

    A reshape of all N tokens (class token kept) into (B, D, h, w) fails with "shape ... is invalid for
    input of size B*N*D"; :func:`check_tokens_to_map` turns that error into this value, so that the
    mistake can get its hint like any other wrong output.
    """

    count: int


def _tokens_to_map(tokens: torch.Tensor, prefix: int, h: int, w: int) -> torch.Tensor:
    """The reference: (B, N, D) with N = prefix + h*w -> (B, D, h, w)."""
    from .tokens import TokenGrid

    return TokenGrid(prefix=prefix, grid=(h, w)).split(tokens)[1]


def _tokens_cases() -> list[Case]:
    """Grids with and without extra tokens, a non-square grid, and D unlike N, h*w, h and w (so that a
    reshape that skips the transpose keeps the right shape and only its numbers are wrong)."""
    return [
        _case("no class token, a 2x2 grid", "클래스 토큰 없음, 2×2 격자", _randn(1, 4, 3, seed=90), 0, 2, 2),
        _case("a class token, a 3x3 grid, a batch of 2", "클래스 토큰 하나, 3×3 격자, 배치 크기 2",
              _randn(2, 10, 5, seed=91), 1, 3, 3),
        _case("a class token, a 2x3 grid (h != w)", "클래스 토큰 하나, 2×3 격자 (h != w)",
              _randn(2, 7, 4, seed=92), 1, 2, 3),
        _case("a class token and a register token (prefix = 2), a 3x2 grid",
              "클래스 토큰과 레지스터 토큰 (prefix = 2), 3×2 격자", _randn(1, 8, 5, seed=93), 2, 3, 2),
    ]


def _kept_tokens(answer: Callable[..., Any]) -> Callable[..., Any]:
    """``answer``, except that a reshape that raised because it was handed N or N - 1 tokens for a grid
    of h * w patches returns :class:`_TokensKept` (how many it got) instead of raising."""
    import re

    @functools.wraps(answer)  # the learner's parameter names stay visible (the in-place hint names them)
    def run(tokens: torch.Tensor, prefix: int, h: int, w: int) -> Any:
        try:
            return answer(tokens, prefix, h, w)
        except RuntimeError as error:
            batch, num_tokens, dim = tokens.shape
            size = re.search(r"invalid for input of size (\d+)", str(error))
            if size and int(size.group(1)) in {count * batch * dim for count in (num_tokens, num_tokens - 1)}:
                count = int(size.group(1)) // (batch * dim)
                if count != h * w:
                    return _TokensKept(count)
            raise

    return run


def check_tokens_to_map(answer: Callable[..., Any] | None) -> Verdict:
    """tokens (B, N, D), prefix, h, w -> maps (B, D, h, w): drop the first ``prefix`` tokens, then the
    patch tokens (B, h*w, D), row by row, become D maps of h x w."""
    def no_transpose(tokens, prefix, h, w):  # the numbers of one token spread over several positions
        return tokens[:, prefix:].reshape(tokens.shape[0], tokens.shape[2], h, w)

    def first_patches(tokens, prefix, h, w):  # the class token kept, the last patches dropped
        return _tokens_to_map(tokens[:, :h * w], 0, h, w)

    def swapped(tokens, prefix, h, w):  # a w x h grid: (B, D, w, h)
        return _tokens_to_map(tokens, prefix, w, h)

    def column_by_column(tokens, prefix, h, w):  # the right shape, patches read column by column
        return _tokens_to_map(tokens, prefix, w, h).transpose(2, 3)

    def all_tokens(tokens, prefix, h, w):  # the reshape was handed every token, the extra ones too
        return _TokensKept(tokens.shape[1]) if prefix else 1 / 0  # (1 / 0: does not apply without extras)

    def one_token_dropped(tokens, prefix, h, w):  # always tokens[:, 1:], whatever prefix says
        return _TokensKept(tokens.shape[1] - 1) if prefix != 1 else 1 / 0

    if _is_placeholder(answer):
        return compare_on_cases(answer, _tokens_to_map, [])
    return compare_on_cases(_kept_tokens(answer), _tokens_to_map, _tokens_cases(), mistakes=[
        (all_tokens, Text(
            "Hint: on '{case}' your reshape got all N tokens, but only h * w of them are patches: the first "
            "`prefix` tokens (the class token) are not part of the grid. Leave them out first.",
            "힌트: 테스트 '{case}'에서 reshape가 토큰 N개를 모두 받았습니다. 그런데 패치는 h * w개뿐입니다. 앞의 "
            "`prefix`개 토큰(클래스 토큰)은 격자에 속하지 않으니 먼저 빼야 합니다.")),
        (one_token_dropped, Text(
            "Hint: on '{case}' you dropped one token, but this case has `prefix` extra tokens before the "
            "patches (its name says how many): drop as many as `prefix` says, not always 1.",
            "힌트: 테스트 '{case}'에서 토큰을 하나 뺐습니다. 그런데 이 테스트에는 패치 앞에 추가 토큰이 `prefix`개 "
            "있습니다(몇 개인지는 테스트 이름에 있습니다). 늘 1개가 아니라 `prefix`가 말하는 만큼 빼야 합니다.")),
        (no_transpose, Text(
            "Hint: on '{case}' the shape is right but the numbers are scrambled: the patch tokens are "
            "(B, h*w, D), one row per position, and reshape reads them in memory order. The D axis must "
            "come before the positions before you reshape.",
            "힌트: 테스트 '{case}'에서 형태는 맞지만 숫자가 뒤섞였습니다. 패치 토큰은 (B, h*w, D), 곧 위치마다 한 "
            "행이고, reshape는 메모리에 놓인 순서대로 읽습니다. reshape 전에 D 축이 위치 축보다 앞에 와야 합니다.")),
        (first_patches, Text(
            "Hint: on '{case}' you kept the first h * w tokens: that keeps the class token and drops the last "
            "patch. The extra tokens come first; the patches are the last h * w tokens.",
            "힌트: 테스트 '{case}'에서 앞의 h * w개 토큰을 남겼습니다. 그러면 클래스 토큰이 남고 마지막 패치가 "
            "빠집니다. 추가 토큰이 맨 앞에 있고, 패치는 마지막 h * w개 토큰입니다.")),
        (swapped, Text(
            "Hint: on '{case}' h and w are swapped: the map must be (B, D, h, w), h rows of w patches.",
            "힌트: 테스트 '{case}'에서 h와 w가 바뀌었습니다. 맵은 (B, D, h, w), 곧 패치 w개짜리 행이 h개여야 "
            "합니다.")),
        (column_by_column, Text(
            "Hint: on '{case}' the patches land column by column. They come in reading order, row by row: "
            "reshape to (h, w) directly, not to (w, h) and then transpose.",
            "힌트: 테스트 '{case}'에서 패치가 열 방향으로 놓였습니다. 패치는 글 읽는 순서, 곧 행 단위로 "
            "옵니다. (w, h)로 reshape한 뒤 전치하지 말고 바로 (h, w)로 reshape해야 합니다.")),
    ], success=Text("This is the reshape that Grad-CAM's hook does for a transformer layer.",
                    "Grad-CAM의 훅이 트랜스포머 층에서 하는 reshape와 같습니다."))


# Exercise 2: attention rollout (Abnar & Zuidema 2020) of (N, N) attention matrices, first block first;
# the reference is cam_helpers.vit.rollout_from_attentions (batched: (B, N, N)).


def _rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """The reference: [(N, N)] * L, first block first -> (N, N) = Â_L ... Â_1, Â = (A + I) / row sums."""
    from .vit import rollout_from_attentions

    return rollout_from_attentions([attention[None] for attention in attentions])[0]


def _attention(n: int, seed: int) -> torch.Tensor:
    """(N, N) attention probabilities: a softmax over each row, so every row sums to 1."""
    return (2 * _randn(n, n, seed=seed)).softmax(dim=-1)


def _rollout_cases() -> list[Case]:
    return [
        _case("one block, 3 tokens", "블록 하나, 토큰 3개", [_attention(3, seed=95)]),
        _case("two blocks, 4 tokens", "블록 두 개, 토큰 4개", [_attention(4, seed=96), _attention(4, seed=97)]),
        _case("three blocks, 5 tokens", "블록 세 개, 토큰 5개",
              [_attention(5, seed=98), _attention(5, seed=99), _attention(5, seed=100)]),
    ]


def _product(matrices: list[torch.Tensor], later_on_the_left: bool = True) -> torch.Tensor:
    """Â_L ... Â_1 (later block on the left), or Â_1 ... Â_L."""
    result = matrices[0]
    for matrix in matrices[1:]:
        result = matrix @ result if later_on_the_left else result @ matrix
    return result


def _with_identity(attention: torch.Tensor) -> torch.Tensor:
    return attention + torch.eye(attention.shape[-1], dtype=attention.dtype)


def check_attention_rollout(answer: Callable[..., Any] | None) -> Verdict:
    """[(N, N)] * L attention matrices, first block first -> (N, N) rollout Â_L ... Â_1, Â = (A + I) / row sums."""
    def rows(matrix: torch.Tensor) -> torch.Tensor:
        return matrix / matrix.sum(dim=-1, keepdim=True)

    def element_by_element(attentions: list[torch.Tensor], start: torch.Tensor | None) -> torch.Tensor:
        """`*` for `@`, from the first block's Â or from I (which keeps only the diagonal)."""
        matrices = [rows(_with_identity(a)) for a in attentions]
        return functools.reduce(torch.mul, matrices) if start is None else functools.reduce(torch.mul, matrices, start)

    element_wise = Text(
        "Hint: on '{case}' you multiplied element by element (*); the blocks compose as matrices (@).",
        "힌트: 테스트 '{case}'에서 원소끼리 곱했습니다(*). 블록들은 행렬 곱(@)으로 이어집니다.")

    return compare_on_cases(answer, _rollout, _rollout_cases(), mistakes=[
        (lambda attentions: _product([rows(a) for a in attentions]), Text(
            "Hint: on '{case}' the identity is missing. Each block adds its input back (the residual "
            "connection), so every token also keeps itself: add I to each attention matrix first.",
            "힌트: 테스트 '{case}'에서 단위 행렬이 빠졌습니다. 블록은 입력을 다시 더하므로(잔차 연결) 토큰마다 "
            "자기 자신도 이어받습니다. 먼저 어텐션 행렬마다 I를 더해야 합니다.")),
        (lambda attentions: _product([_with_identity(a) for a in attentions]), Text(
            "Hint: on '{case}' the rows of A + I sum to 2, not 1, so your numbers grow with every block: "
            "divide each row by its sum before multiplying.",
            "힌트: 테스트 '{case}'에서 A + I의 각 행은 합이 1이 아니라 2여서, 블록을 지날 때마다 값이 커집니다. "
            "곱하기 전에 각 행을 그 행의 합으로 나누어야 합니다.")),
        (lambda attentions: _product([_with_identity(a) / _with_identity(a).sum(dim=0) for a in attentions]), Text(
            "Hint: on '{case}' you divided the columns by their sums; row i says how much token i reads from "
            "each token, so each ROW of A + I must sum to 1.",
            "힌트: 테스트 '{case}'에서 열을 열의 합으로 나누었습니다. 행 i가 토큰 i가 각 토큰에서 얼마나 읽는지를 "
            "말하므로, A + I의 각 행의 합이 1이 되어야 합니다.")),
        (lambda attentions: _product([rows(_with_identity(a)) for a in attentions], later_on_the_left=False), Text(
            "Hint: on '{case}' the order is reversed. The first block acts first, so it stands on the right: "
            "Â_2 Â_1 for two blocks (a later block reads what the earlier ones made).",
            "힌트: 테스트 '{case}'에서 곱하는 순서가 거꾸로입니다. 첫 블록이 먼저 작용하므로 오른쪽에 놓입니다. "
            "블록이 두 개면 Â_2 Â_1입니다(뒤 블록이 앞 블록의 결과를 읽습니다).")),
        (lambda attentions: element_by_element(attentions, start=None), element_wise),
        (lambda attentions: element_by_element(attentions, start=torch.eye(attentions[0].shape[0])), element_wise),
    ], success=Text("This is attention rollout, as cam_helpers.vit computes it.",
                    "cam_helpers.vit가 계산하는 어텐션 롤아웃과 같습니다."))
