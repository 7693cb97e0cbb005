"""The live shape tables equal the post's tables (with the true flatten FC weight)."""

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
