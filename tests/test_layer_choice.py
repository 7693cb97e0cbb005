"""The "which layer" table: each number checked against a value known by construction or computed
another way, the Korean heads, and the errors."""

from __future__ import annotations

import unicodedata

import pytest
import torch

from cam_helpers import exercises
from cam_helpers.gradcam import grad_cam
from cam_helpers.layer_choice import LayerRow, LayerTable, compare_layers
from cam_helpers.localization import tuned_box_hits
from cam_helpers.metrics import curve_area, deletion_curve, insertion_curve
from cam_helpers.synthetic import make_shapes
from cam_helpers.train import GAPNet
from cam_helpers.vit import SmallViT, attention_rollout

STEPS = 4  # short deletion and insertion curves: the same code as 08's 16 steps, faster
STAGES = [f"features.{i}" for i in range(4)]


@pytest.fixture(scope="module")
def splits():
    """12 validation and 16 test images with true boxes."""
    held_out = make_shapes(28, seed=7)
    return held_out.subset(slice(0, 12)), held_out.subset(slice(12, 28))


@pytest.fixture(scope="module")
def cnn():
    """An untrained GAPNet (the numbers below hold for any weights): 64x64 -> 32, 16, 8, 8."""
    return GAPNet(4, channels=(4, 8, 8, 16), seed=0).eval()


@pytest.fixture(scope="module")
def cnn_table(cnn, splits):
    validation, test = splits
    rollout_like = {"box of ones": _centre_square}
    return compare_layers(cnn, validation, test, STAGES, extra=rollout_like, steps=STEPS)


@pytest.fixture(autouse=True)
def english_after_each_test():
    yield
    exercises.set_language("en")


def _centre_square(images: torch.Tensor) -> torch.Tensor:
    """A map that is 1 on the centre 4x4 of an 8x8 grid, 0 elsewhere: (B, 3, H, W) -> (B, 1, 8, 8)."""
    maps = torch.zeros(len(images), 1, 8, 8)
    maps[:, :, 2:6, 2:6] = 1.0
    return maps


def test_one_row_per_layer_then_the_extra_rows_with_each_resolution(cnn_table):
    assert [row.layer for row in cnn_table] == [*STAGES, "box of ones"]
    assert [row.resolution for row in cnn_table] == [(32, 32), (16, 16), (8, 8), (8, 8), (8, 8)]
    assert (cnn_table.num_validation, cnn_table.num_test, cnn_table.method) == (12, 16, "Grad-CAM")
    assert cnn_table["box of ones"].gradient_norm is None  # no layer, no gradient


def test_the_last_layer_gradient_norm_is_the_class_weight_norm_over_root_hw(cnn, cnn_table, splits):
    """At the last layer of a GAP network, d y_c / d A_k(x, y) = w_k^c / (h w) at every position, so
    ||d y_c / d A|| = ||w_c|| sqrt(h w) / (h w) = ||w_c|| / sqrt(h w), here with h w = 64."""
    _, test = splits
    class_weight_norms = cnn.fc.weight.detach().norm(dim=1)  # (K,)
    expected = (class_weight_norms[test.labels] / 8).mean().item()
    assert cnn_table["features.3"].gradient_norm == pytest.approx(expected, rel=1e-5)
    assert all(row.gradient_norm > 0 for row in cnn_table.rows[:4])


def test_a_layer_row_scores_the_true_class_maps_of_its_layer(cnn, cnn_table, splits):
    validation, test = splits
    val_maps = grad_cam(cnn, validation.images, "features.1", validation.labels.view(-1, 1)).maps[:, 0]  # (12, 16, 16)
    test_maps = grad_cam(cnn, test.images, "features.1", test.labels.view(-1, 1)).maps[:, 0]  # (16, 16, 16)
    hits = tuned_box_hits(val_maps, validation.boxes, test_maps, test.boxes, torch.linspace(0, 1, 21), image_size=64)
    row = cnn_table["features.1"]
    assert torch.equal(row.box_hits, hits)
    assert row.max_box_acc_v2 == pytest.approx(hits.mean().item())
    deletion = curve_area(deletion_curve(cnn, test.images, test_maps, test.labels, steps=STEPS)).mean().item()
    assert row.deletion == pytest.approx(deletion, abs=1e-6)


def test_an_extra_row_is_scored_like_the_localization_and_metrics_functions(cnn, cnn_table, splits):
    validation, test = splits
    val_maps, test_maps = _centre_square(validation.images)[:, 0], _centre_square(test.images)[:, 0]  # (B, 8, 8)
    hits = tuned_box_hits(val_maps, validation.boxes, test_maps, test.boxes, torch.linspace(0, 1, 21), image_size=64)
    row = cnn_table["box of ones"]
    assert row.max_box_acc_v2 == pytest.approx(hits.mean().item())
    insertion = curve_area(insertion_curve(cnn, test.images, test_maps, test.labels, steps=STEPS)).mean().item()
    deletion = curve_area(deletion_curve(cnn, test.images, test_maps, test.labels, steps=STEPS)).mean().item()
    assert (row.insertion, row.deletion) == (pytest.approx(insertion, abs=1e-6), pytest.approx(deletion, abs=1e-6))


def test_the_model_is_measured_in_eval_mode_and_left_in_its_mode(cnn, cnn_table, splits):
    validation, test = splits
    cnn.train()
    try:
        again = compare_layers(cnn, validation, test, ["features.3"], steps=STEPS)
        assert cnn.training  # back in the mode it came in
    finally:
        cnn.eval()
    assert again["features.3"].gradient_norm == pytest.approx(cnn_table["features.3"].gradient_norm)
    assert again["features.3"].max_box_acc_v2 == cnn_table["features.3"].max_box_acc_v2


def test_a_class_token_vit_has_exactly_zero_gradient_at_its_last_block(splits):
    """Only the class token reaches the head, so the last block's patch tokens get no gradient at all;
    a mean-pooled head reads every patch token, so they do."""
    validation, test = splits
    norms = {}
    for head in ("class_token", "mean"):
        vit = SmallViT(4, head=head, seed=0).eval()
        blocks = [f"blocks.{i}" for i in range(len(vit.blocks))]
        rollout = {"attention rollout": lambda images, vit=vit: attention_rollout(vit, images)}
        if head == "class_token":  # the blank last block is said, not only measured
            with pytest.warns(UserWarning, match=f"every gradient at layer '{blocks[-1]}' is exactly 0"):
                table = compare_layers(vit, validation, test, blocks, extra=rollout, steps=2)
        else:
            table = compare_layers(vit, validation, test, blocks, extra=rollout, steps=2)
        # 64 patch tokens read as an 8 x 8 map, with or without a class token; rollout on the same grid
        assert [row.resolution for row in table] == [(8, 8)] * (len(blocks) + 1)
        norms[head] = table.values("gradient_norm")
    assert len(blocks) >= 2
    assert norms["class_token"][blocks[-1]] == 0.0
    assert all(norms["class_token"][name] > 0 for name in blocks[:-1])
    assert all(norms["mean"][name] > 0 for name in blocks)
    assert norms["mean"]["attention rollout"] is None


def _table(*rows: tuple) -> LayerTable:
    """A table made by hand: rows of (layer, resolution, gradient norm, MaxBoxAccV2, deletion, insertion)."""
    return LayerTable([LayerRow(*row, box_hits=torch.zeros(3)) for row in rows], "Grad-CAM", 10, 20)


def test_best_knows_which_way_is_better_for_each_column():
    table = _table(
        ("features.1", (16, 16), 0.2, 0.50, 0.30, 0.70),
        ("features.2", (8, 8), 0.0, 0.60, 0.20, 0.80),
        ("features.3", (8, 8), 0.9, 0.60, 0.25, 0.75),
        ("rollout", (8, 8), None, 0.40, 0.10, 0.60),
    )
    assert table.best("max_box_acc_v2").layer == "features.2"  # a tie goes to the first row
    assert table.best("deletion").layer == "rollout"  # lower is better
    assert table.best("insertion").layer == "features.2"
    assert table.best("gradient_norm").layer == "features.3"  # the rollout row has none
    assert table.best("resolution").layer == "features.1"
    assert table.best("deletion", among=["features.1", "features.2", "features.3"]).layer == "features.2"
    assert table.values("max_box_acc_v2") == {"features.1": 0.5, "features.2": 0.6, "features.3": 0.6, "rollout": 0.4}
    with pytest.raises(ValueError, match="unknown column 'max_box_acc'.*Did you mean 'max_box_acc_v2'"):
        table.best("max_box_acc")
    with pytest.raises(KeyError, match="no row 'features.4'"):
        table["features.4"]


def _display_width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def test_the_printed_table_is_aligned_in_english_and_in_korean():
    table = _table(("features.1", (16, 16), 0.25, 0.5, 0.3, 0.7), ("rollout", (8, 8), None, 0.4, 0.1, 0.6))
    english = repr(table).splitlines()
    assert english[1].split() == ["layer", "resolution", "gradient", "norm", "MaxBoxAccV2", "deletion", "↓",
                                  "insertion", "↑"]
    assert english[3].split() == ["features.1", "16x16", "0.25", "0.500", "0.300", "0.700"]
    assert english[4].split() == ["rollout", "8x8", "-", "0.400", "0.100", "0.600"]
    exercises.set_language("ko")
    korean = repr(table).splitlines()
    assert korean[0] == "층마다 정답 클래스의 Grad-CAM: 테스트 이미지 20장, 임계값은 검증 이미지 10장에서 고름"
    assert korean[1].split() == ["층", "해상도", "그래디언트", "노름", "MaxBoxAccV2", "삭제", "↓", "삽입", "↑"]
    assert korean[3].split() == ["features.1", "16×16", "0.25", "0.500", "0.300", "0.700"]
    for lines in (english, korean):  # the numbers are right-aligned: every line ends in the same column
        assert len({_display_width(line) for line in lines[1:]}) == 1


def test_errors_say_what_is_wrong(cnn, splits):
    validation, test = splits
    with pytest.raises(ValueError, match="no layer named 'features.9'.*Did you mean"):
        compare_layers(cnn, validation, test, ["features.3", "features.9"])
    with pytest.raises(ValueError, match="the validation split has no images"):
        compare_layers(cnn, validation.subset(slice(0, 0)), test, ["features.3"])
    with pytest.raises(ValueError, match="the test split has no images"):
        compare_layers(cnn, validation, test.subset(slice(0, 0)), ["features.3"])
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_layers(cnn, validation, test, [])
    with pytest.raises(ValueError, match=r"a list of layer names, e.g. \['features.3'\]"):
        compare_layers(cnn, validation, test, "features.3")
    with pytest.raises(ValueError, match="unknown CAM method 'gradcamm'"):
        compare_layers(cnn, validation, test, ["features.3"], method="gradcamm")
    with pytest.raises(ValueError, match="repeated: 'features.3'"):
        compare_layers(cnn, validation, test, ["features.3"], extra={"features.3": _centre_square})
    two_maps_each = {"bad": lambda images: torch.zeros(len(images), 2, 8, 8)}
    with pytest.raises(ValueError, match=r"extra row 'bad'.*\(B, h, w\) or \(B, 1, h, w\) with B = 12.*\(12, 2, 8, 8\)"):
        compare_layers(cnn, validation, test, [], extra=two_maps_each)
    one_map = {"bad": lambda images: torch.zeros(8, 8)}
    with pytest.raises(ValueError, match=r"extra row 'bad'.*got \(8, 8\)"):
        compare_layers(cnn, validation, test, [], extra=one_map)
