"""The live shape tables equal the post's tables (with the true flatten FC weight), in English and Korean."""

import re

import pytest

from cam_helpers.exercises import set_language
from cam_helpers.models import load_classifier
from cam_helpers.shapes import (
    flatten_pipeline_table,
    gap_pipeline_table,
    post_flatten_table,
    post_gap_table,
)


def test_flatten_table_equals_the_post():
    flat = load_classifier("resnet18_flatten", pretrained=False)
    table = flatten_pipeline_table(flat)
    assert table.differences(post_flatten_table(1000)) == []
    # The post says the FC weight is [N, 512]; the live tensor says [N, 25088].
    assert table["fully connected"].weight_shape == (1000, 25088)
    assert "not possible" in table.to_markdown()
    steps = list(table.shapes())
    assert len(table) == len(steps) and [row.step for row in table] == steps  # rows in order


def test_gap_table_equals_the_post(resnet18_random):
    table = gap_pipeline_table(resnet18_random)
    assert table.differences(post_gap_table(1000)) == []
    assert table["FC"].weight_shape == (1000, 512)
    html = table._repr_html_()
    assert "<table>" in html and "[512, 7, 7]" in html


def test_differences_are_readable(lite0):
    table = gap_pipeline_table(lite0)
    problems = table.differences(post_gap_table(1000))
    assert "last conv output: live [1280, 7, 7] vs expected [512, 7, 7]" in problems
    assert "GAP: live [1280] vs expected [512]" in problems


HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _in_korean(make_table):
    """``make_table()`` built while the exercises speak Korean (as after the Korean notebooks' first cell)."""
    set_language("ko")
    try:
        return make_table()
    finally:
        set_language("en")


@pytest.mark.parametrize(
    "model, make", [("resnet18_flatten", flatten_pipeline_table), ("resnet18", gap_pipeline_table)]
)
def test_korean_table_has_the_same_shapes_and_korean_text(model, make):
    classifier = load_classifier(model, pretrained=False)
    english, korean = make(classifier), _in_korean(lambda: make(classifier))

    # The same steps, shapes and weights, row by row: only the words change.
    def numbers(table):
        return [(r.step, r.shape, r.weight_shape, table.shown_shape(r) if r.shape else None) for r in table]

    assert numbers(korean) == numbers(english)
    # Every text is Korean, and none is the English one left over.
    for ko_row, en_row in zip(korean, english):
        assert HANGUL.search(ko_row.what_happens) and not HANGUL.search(en_row.what_happens), ko_row.step
        assert ko_row.what_happens != en_row.what_happens
    assert english.columns == ("step", "shape", "what happens")
    assert all(HANGUL.search(head) for head in korean.columns + (korean.title,))
    # ... and both renderings show them.
    for shown in (korean.to_markdown(), korean._repr_html_()):
        assert all(head in shown for head in korean.columns) and "what happens" not in shown
        assert "[512, 7, 7]" in shown
    assert english.to_markdown().count("|") == korean.to_markdown().count("|")  # the same cells
    assert HANGUL.search(english.to_markdown() + english._repr_html_()) is None  # English stays English


def test_korean_flatten_table_says_not_possible_in_korean():
    flat = load_classifier("resnet18_flatten", pretrained=False)
    korean = _in_korean(lambda: flatten_pipeline_table(flat))
    assert korean.shown_shape(korean["CAM"]) == "불가능" and "not possible" not in korean.to_markdown()
    assert korean.differences(post_flatten_table(1000)) == []  # the shapes are the post's, in either language
