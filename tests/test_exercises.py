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
