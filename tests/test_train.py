"""The two small CNNs, the seeded training loop, and what CAM finds in a trained model."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from cam_helpers.cam import class_activation_maps
from cam_helpers.hooks import capture, count_hooks
from cam_helpers.localization import center_box_baseline, mass_inside_boxes, threshold_sweep
from cam_helpers.synthetic import make_shapes, make_splits
from cam_helpers.train import FlattenNet, GAPNet, accuracy, count_parameters, predict, train_model

SMALL = (8, 16, 32, 64)  # a narrow trunk keeps the training tests to seconds


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    # The test machine has 2 cores; more threads only fight each other.
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _cams(model: nn.Module, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """(B, 8, 8) CAM of each image for its given class."""
    with capture(model, "features") as captured:
        model(images)
    return class_activation_maps(captured["features"], model.fc.weight, classes.view(-1, 1)).squeeze(1)


# ---------------------------------------------------------------- architecture


def test_same_trunk_different_heads():
    gap, flat = GAPNet(4, seed=0), FlattenNet(4, seed=0)
    # Same seed, same trunk weights: the heads are the only difference.
    for a, b in zip(gap.features.state_dict().values(), flat.features.state_dict().values()):
        assert torch.equal(a, b)
    images = torch.rand(2, 3, 64, 64)
    assert gap.features(images).shape == (2, 128, 8, 8)
    assert gap(images).shape == flat(images).shape == (2, 4)
    assert gap.fc.weight.shape == (4, 128)  # (K, C): one weight per feature map
    assert flat.fc.weight.shape == (4, 128 * 8 * 8)  # (K, C*h*w): a weight per position
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in gap.modules())


def test_count_parameters():
    model = GAPNet(3, channels=SMALL)
    by_hand = sum(p.numel() for p in model.parameters())
    assert count_parameters(model) == by_hand
    assert count_parameters(model.fc) == 3 * 64 + 3
    model.fc.weight.requires_grad_(False)
    assert count_parameters(model) == by_hand - 3 * 64


def test_seeded_init_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = GAPNet(4, seed=7)
    after = torch.rand(3)
    b = GAPNet(4, seed=7)
    assert torch.equal(after, expected)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


# ---------------------------------------------------------------- training loop


def test_training_is_reproducible_with_a_seed():
    data = make_shapes(96, seed=1)
    weights = []
    for _ in range(2):
        model = GAPNet(4, channels=SMALL, seed=5)
        history = train_model(model, data, epochs=2, batch_size=32, seed=11, progress=False)
        weights.append(model.state_dict())
        assert len(history.loss) == 2 and len(history.accuracy) == 2
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    other = GAPNet(4, channels=SMALL, seed=5)
    train_model(other, data, epochs=1, batch_size=32, seed=12, progress=False)
    assert not torch.equal(other.fc.weight, weights[0]["fc.weight"])  # another seed, other batches


def test_training_leaves_the_model_clean(capsys):
    data = make_shapes(64, seed=2)
    model = FlattenNet(4, channels=SMALL, seed=0)
    history = train_model(model, data, epochs=1, batch_size=32, progress=True)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert count_hooks(model) == 0
    assert len(history.loss) == 1 and history.seconds > 0
    printed = capsys.readouterr()
    assert "training" in printed.err and "2/2" in printed.err  # tqdm's bar: 2 batches of 32
    assert "epoch=1" in printed.err and "loss=" in printed.err
    train_model(model, data, epochs=1, batch_size=32, progress=False)
    assert capsys.readouterr().err == ""  # no bar


def test_predict_and_accuracy():
    data = make_shapes(40, seed=3)
    model = GAPNet(4, channels=SMALL, seed=0).train()
    logits = predict(model, data.images, batch_size=16)
    assert logits.shape == (40, 4)
    assert model.training  # mode restored
    assert accuracy(model, data) == pytest.approx((logits.argmax(1) == data.labels).float().mean().item())
    with pytest.raises(TypeError, match="images"):
        accuracy(model, [1, 2, 3])
    with pytest.raises(ValueError, match="no images to train on"):
        train_model(model, make_shapes(0, seed=3), epochs=1, progress=False)


# ---------------------------------------------------------------- trained models and their CAMs


@pytest.fixture(scope="module")
def trained_gap():
    train, test = make_splits(0, num_train=1500, num_test=300)
    model = GAPNet(4, channels=SMALL, seed=0)
    start = time.perf_counter()
    train_model(model, train, epochs=5, batch_size=64, lr=3e-3, seed=0, progress=False)
    return model, test, time.perf_counter() - start


@pytest.mark.slow
def test_gap_model_learns_and_its_cam_beats_the_centre_box(trained_gap):
    model, test, seconds = trained_gap
    test_accuracy = accuracy(model, test)
    held_out = test.subset(slice(0, 200))
    maps = _cams(model, held_out.images, held_out.labels)  # (200, 8, 8)
    sweep = threshold_sweep(maps, held_out.boxes, thresholds=torch.linspace(0, 1, 21), image_size=64)
    sweep_v2 = threshold_sweep(maps, held_out.boxes, torch.linspace(0, 1, 21), image_size=64, multi_contour=True)
    centre = center_box_baseline(held_out.boxes, 64)
    print(
        f"\nGAPNet{SMALL}: trained in {seconds:.1f}s, test accuracy {test_accuracy:.3f}; "
        f"CAM MaxBoxAcc {sweep.max_box_acc:.3f} (threshold {sweep.best_threshold:.2f}), "
        f"V2 {sweep_v2.max_box_acc_v2:.3f}; centre box MaxBoxAcc {centre.max_box_acc:.3f}, "
        f"V2 {centre.max_box_acc_v2:.3f}"
    )
    assert test_accuracy >= 0.85
    assert sweep.max_box_acc >= centre.max_box_acc + 0.4
    assert sweep_v2.max_box_acc_v2 >= centre.max_box_acc_v2 + 0.3


@pytest.mark.slow
def test_spurious_cue_draws_the_cam_to_the_corner():
    cue_class = 0
    train, test_same = make_splits(1, num_train=1500, num_test=300, spurious_cue=True, cue_class=cue_class, test_cue="same")
    _, test_absent = make_splits(1, num_train=0, num_test=300, spurious_cue=True, cue_class=cue_class, test_cue="absent")
    model = GAPNet(4, channels=SMALL, seed=0)
    train_model(model, train, epochs=5, batch_size=64, lr=3e-3, seed=0, progress=False)

    with_cue = test_same.subset(test_same.has_cue & (test_same.labels == cue_class))
    maps = _cams(model, with_cue.images, with_cue.labels)  # (n, 8, 8)
    # The 5x5 cue (pixels 1-5) sits in the top-left cell of the 8x8 feature grid,
    # but the last convolutions spread its evidence to the neighbouring cells:
    # count the top-left 3x3 cells (24x24 pixels, 14% of the image), measured at
    # the map's own resolution ("nearest": no upsampling blur).
    cue_neighbourhood = torch.tensor([0, 0, 24, 24])
    on_cue = mass_inside_boxes(maps, cue_neighbourhood, image_size=64, mode="nearest")
    on_object = mass_inside_boxes(maps, with_cue.boxes, image_size=64, mode="nearest")
    peak = maps.flatten(1).argmax(dim=1)
    peak_at_cue = ((peak // 8 < 2) & (peak % 8 < 2)).float().mean()  # top-left 2x2 cells

    def class_accuracy(data):
        return accuracy(model, data.subset(data.labels == cue_class))

    print(
        f"\ncue class ({len(with_cue)} images with the cue): positive CAM mass in the cue's 24x24 "
        f"corner {on_cue.mean():.3f}, in the object box {on_object.mean():.3f}; CAM peak in the "
        f"top-left 2x2 cells {peak_at_cue:.3f}; cue-class accuracy with the cue "
        f"{class_accuracy(test_same):.3f}, without {class_accuracy(test_absent):.3f}"
    )
    assert on_cue.mean() > 0.5
    assert on_cue.mean() > 2 * on_object.mean()
    assert peak_at_cue > 0.7
    assert class_accuracy(test_absent) < class_accuracy(test_same) - 0.3  # the model leans on the cue
