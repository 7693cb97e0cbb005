"""Self-checking exercises: one checker per coding exercise of the notebooks.

A learner studying alone needs to know whether an answer is right without
reading the solution. So an exercise cell asks for a function or a value, and a
checker tests it on hidden cases (random shapes, batches, edge cases) against a
reference it keeps to itself:

    def cam_by_hand(features, weights):
        ...                                   # your code here
    check_cam_by_hand(cam_by_hand)            # ✓ or a hint; never the solution

A checker never raises: "Run All" must not stop at an unanswered exercise. It
returns a :class:`Verdict` that prints as one line and is truthy when the answer
passed, so a solution cell can ``assert check_...(solution)``.

How a checker is built (for whoever adds one):

* :func:`compare_on_cases` runs the answer and the reference on every case and
  compares the outputs (shape first, then values). When they differ, it tries
  each known *mistake* (a function that reproduces a typical wrong answer, for
  example "forgot the ReLU"); if the answer matches one, the learner gets that
  mistake's hint.
* :func:`compare_value` does the same for a single value (a shape, a number).
* Messages are :class:`Text` in English and Korean; :func:`set_language` picks
  one for every checker (the Korean notebooks call ``set_language("ko")``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "Text",
    "Verdict",
    "Case",
    "Mistake",
    "set_language",
    "compare_on_cases",
    "compare_value",
]

_LANGUAGES = ("en", "ko")
_language = "en"


@dataclass(frozen=True)
class Text:
    """A message in English, optionally Korean; shown in the language set by :func:`set_language`.

    Placeholders like ``{case}`` are filled by :meth:`format`.
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

    ``label`` says what is special about the case ("batch of 3", "one channel"),
    so a failing case can be named without showing the expected output.
    """

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Mistake:
    """A typical wrong answer, reproduced by ``wrong(*args)``, and the hint it earns."""

    wrong: Callable[..., Any]
    hint: Text


_MESSAGES = {
    "not_yet": Text(
        "Not answered yet: replace the `...` with your code, then run this cell again.",
        "아직 답이 없습니다: `...` 자리에 코드를 쓰고 이 셀을 다시 실행하세요.",
    ),
    "raised": Text(
        "Your answer raised {error} on the case '{case}'.",
        "'{case}' 경우에 답이 오류를 냈습니다: {error}",
    ),
    "not_tensor": Text(
        "On the case '{case}' your answer returned {got}; a tensor was expected.",
        "'{case}' 경우에 답이 {got}을(를) 돌려주었습니다. 텐서(tensor)가 나와야 합니다.",
    ),
    "shape": Text(
        "On the case '{case}' your answer has shape {got}, but the right answer has shape {expected}.",
        "'{case}' 경우에 답의 모양(shape)은 {got}인데, 맞는 답의 모양은 {expected}입니다.",
    ),
    "values": Text(
        "On the case '{case}' the shape is right but the values differ (largest difference {diff:.3g}).",
        "'{case}' 경우에 모양은 맞지만 값이 다릅니다 (가장 큰 차이 {diff:.3g}).",
    ),
    "value": Text(
        "Not quite: {got!r} is not the right answer.",
        "아직 아닙니다: {got!r}은(는) 맞는 답이 아닙니다.",
    ),
    "passed_cases": Text(
        "Right on all {n} hidden cases{extra}.",
        "숨겨진 {n}개 경우 모두 맞았습니다{extra}.",
    ),
    "passed_value": Text("Right: {got!r}.", "맞았습니다: {got!r}."),
}


def message(key: str, **values: Any) -> str:
    """One of the shared messages above, in the current language."""
    return _MESSAGES[key].format(**values)


def _is_placeholder(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _clone(value: Any) -> Any:
    """Copy tensors so an answer that works in place cannot change the reference's input."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_clone(v) for v in value)
    return value


def _difference(got: Any, expected: Any, atol: float, rtol: float) -> tuple[str, dict] | None:
    """None when got == expected (within tolerance), else (message key, its values)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return "not_tensor", {"got": type(got).__name__}
        if tuple(got.shape) != tuple(expected.shape):
            return "shape", {"got": tuple(got.shape), "expected": tuple(expected.shape)}
        got = got.detach().to(expected.device, torch.float64)
        expected = expected.detach().to(torch.float64)
        if not torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
            return "values", {"diff": (got - expected).abs().nan_to_num(math.inf).max().item()}
        return None
    if isinstance(expected, float) or isinstance(got, float):
        try:
            close = math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol)
        except (TypeError, ValueError):
            close = False
        return None if close else ("value", {"got": got})
    if isinstance(expected, (tuple, list, torch.Size)) and isinstance(got, (tuple, list, torch.Size)):
        if len(got) == len(expected) and all(_difference(g, e, atol, rtol) is None for g, e in zip(got, expected)):
            return None
        return "value", {"got": got}
    return None if got == expected else ("value", {"got": got})


def _matches(got: Any, mistake: Mistake, case: Case, atol: float, rtol: float) -> bool:
    try:
        wrong = mistake.wrong(*_clone(case.args), **case.kwargs)
    except Exception:  # a mistake that does not apply to this case
        return False
    return _difference(got, wrong, atol, rtol) is None


def compare_on_cases(
    answer: Callable[..., Any] | None,
    reference: Callable[..., Any],
    cases: Iterable[Case],
    mistakes: Sequence[Mistake] = (),
    *,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    success: Text | None = None,
) -> Verdict:
    """Run ``answer`` and ``reference`` on every case; the first difference decides the verdict.

    Args:
        answer: the learner's function (None or ``...`` means "not answered yet").
        reference: the right function; never shown.
        cases: hidden cases, each with a label that names what it tests.
        mistakes: typical wrong answers; the first one the answer matches gives its hint.
        atol, rtol: tolerance for tensor and float outputs.
        success: an extra sentence for a right answer (what it proves), in both languages.
    """
    if _is_placeholder(answer):
        return Verdict(False, message("not_yet"))
    cases = list(cases)
    for case in cases:
        expected = reference(*_clone(case.args), **case.kwargs)
        try:
            got = answer(*_clone(case.args), **case.kwargs)
        except Exception as error:  # the learner's bug: say where, do not stop Run All
            return Verdict(False, message("raised", case=case.label, error=f"{type(error).__name__}: {error}"))
        if _is_placeholder(got):
            return Verdict(False, message("not_yet"))
        problem = _difference(got, expected, atol, rtol)
        if problem is None:
            continue
        for mistake in mistakes:
            if _matches(got, mistake, case, atol, rtol):
                return Verdict(False, mistake.hint.format(case=case.label))
        key, values = problem
        return Verdict(False, message(key, case=case.label, **values))
    extra = " " + success.format() if success else ""
    return Verdict(True, message("passed_cases", n=len(cases), extra=extra))


def compare_value(
    answer: Any,
    expected: Any,
    mistakes: Sequence[tuple[Any, Text]] = (),
    *,
    atol: float = 1e-6,
    rtol: float = 1e-6,
    success: Text | None = None,
) -> Verdict:
    """Check a single value (a shape, a count, a class name) against the expected one.

    ``mistakes`` pairs a typical wrong value with its hint.
    """
    if _is_placeholder(answer):
        return Verdict(False, message("not_yet"))
    if _difference(answer, expected, atol, rtol) is None:
        extra = (" " + success.format()) if success else ""
        return Verdict(True, message("passed_value", got=answer) + extra)
    for wrong, hint in mistakes:
        if _difference(answer, wrong, atol, rtol) is None:
            return Verdict(False, hint.format(got=answer))
    return Verdict(False, message("value", got=answer))


# --- Checkers for notebook 08 (Which CAM should I use?) ---


def _family_cases() -> list[Case]:
    """Activations A (B, C, h, w) and gradients g (B, n, C, h, w): batches, several classes, zeros, negatives."""
    g = torch.Generator().manual_seed(8)
    cases = []
    for label, (b, n, c, h, w) in [
        ("one image, one class", (1, 1, 4, 3, 3)),
        ("a batch of 3, two classes each", (3, 2, 5, 4, 4)),
        ("a wide map (h != w)", (2, 1, 3, 2, 5)),
    ]:
        activations = torch.rand(b, c, h, w, generator=g) * (torch.rand(b, c, h, w, generator=g) > 0.3)  # ReLU-like
        gradients = torch.randn(b, n, c, h, w, generator=g)
        cases.append(Case(label, (activations, gradients)))
    silent = torch.rand(1, 3, 2, 2, generator=g)
    silent[:, 1] = 0  # a channel that never fires: its weight must be 0, not NaN
    cases.append(Case("a channel that is zero everywhere", (silent, torch.randn(1, 1, 3, 2, 2, generator=g))))
    return cases


def _xgrad_cam_weights_reference(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    from .family import xgrad_cam_weights

    return xgrad_cam_weights(activations, gradients)


def check_xgrad_cam_weights(answer) -> Verdict:
    """XGrad-CAM weights: (A (B, C, h, w), g (B, n, C, h, w)) -> (B, n, C) = sum_xy g A / sum_xy A (0 if sum A = 0)."""
    a = lambda activations: activations[:, None]  # noqa: E731  (B, 1, C, h, w): one A for all n classes
    return compare_on_cases(
        answer,
        _xgrad_cam_weights_reference,
        _family_cases(),
        [
            Mistake(
                lambda A, g: g.mean(dim=(-2, -1)),
                Text("Hint: that is Grad-CAM's weight (the plain mean of g). XGrad-CAM weighs each position by A_k(x, y) / sum_xy A_k."),
            ),
            Mistake(
                lambda A, g: (g * a(A)).sum(dim=(-2, -1)),
                Text("Hint: almost: divide sum_xy g A by sum_xy A_k, the channel's total activation."),
            ),
            Mistake(
                lambda A, g: (g * a(A)).sum(dim=(-2, -1)) / a(A).sum(dim=(-2, -1)),
                Text("Hint: a channel whose activations are all zero gives 0 / 0 = NaN. Give it weight 0 (torch.where)."),
            ),
        ],
        success=Text("Your weights are XGrad-CAM's."),
    )


def _layer_cam_reference(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    from .family import layer_cam_maps

    return layer_cam_maps(activations, gradients)


def check_layer_cam(answer) -> Verdict:
    """LayerCAM maps: (A (B, C, h, w), g (B, n, C, h, w)) -> (B, n, h, w) = ReLU(sum_k ReLU(g_k) A_k)."""
    return compare_on_cases(
        answer,
        _layer_cam_reference,
        _family_cases(),
        [
            Mistake(
                lambda A, g: (g * A[:, None]).sum(dim=2).clamp_min(0),
                Text("Hint: that is HiResCAM (g times A). LayerCAM keeps only the positive gradients: ReLU(g) * A."),
            ),
            Mistake(
                lambda A, g: (g.clamp_min(0) * A[:, None]).sum(dim=1).clamp_min(0),
                Text("Hint: sum over the channels k (dim=2 of g * A, shape (B, n, C, h, w)), not over the classes."),
            ),
            Mistake(
                lambda A, g: torch.einsum("bnc,bchw->bnhw", g.clamp_min(0).mean(dim=(-2, -1)), A).clamp_min(0),
                Text("Hint: LayerCAM does not average the gradient over positions: each position keeps its own weight ReLU(g_k(x, y))."),
            ),
        ],
        success=Text("Your maps are LayerCAM's."),
    )
