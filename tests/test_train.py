"""The two small CNNs, the seeded training loop, its trained-weights cache, and what CAM finds in a
trained model (small versions of notebooks 06 and 07, which train and assert the full-size ones)."""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings

import pytest
import torch
from torch import nn

import cam_helpers.train as training
from cam_helpers.cam import class_activation_maps
from cam_helpers.exercises import set_language
from cam_helpers.hooks import capture, count_hooks
from cam_helpers.localization import center_box_baseline, mass_inside_boxes, threshold_sweep
from cam_helpers.synthetic import make_shapes, make_splits
from cam_helpers.train import (
    FlattenNet, GAPNet, accuracy, count_parameters, predict, seeded, train_model, trained_cache_dir,
)

SMALL = (8, 16, 32, 64)  # a narrow trunk keeps the training tests to seconds


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    # The test machine has 2 cores; more threads only fight each other.
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch):
    """Each test its own empty weights cache: nothing from ~/.cache or another test is loaded."""
    monkeypatch.setenv("CAM_HELPERS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "trained"


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
        history = train_model(model, data, epochs=2, batch_size=32, seed=11, progress=False, cache=False)
        weights.append(model.state_dict())
        assert len(history.loss) == 2 and len(history.accuracy) == 2
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    other = GAPNet(4, channels=SMALL, seed=5)
    train_model(other, data, epochs=1, batch_size=32, seed=12, progress=False, cache=False)
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


# ---------------------------------------------------------------- the same weights on any thread count


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for t in model.state_dict().values()]


def _all_equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _train_small(data, **options) -> tuple[GAPNet, training.TrainingHistory]:
    model = GAPNet(4, channels=SMALL, seed=5)
    settings = {"epochs": 2, "batch_size": 32, "seed": 11, "progress": False, **options}
    history = train_model(model, data, **settings)
    return model, history


def test_training_does_not_depend_on_the_thread_count(monkeypatch):
    data = make_shapes(128, seed=1)
    fixed = training.TRAINING_THREADS
    # Why the count is fixed: with 1 and 4 threads the conv weight gradients are summed in another
    # order, and the trained weights differ.
    by_count = {}
    for threads in sorted({1, 4, fixed}):
        monkeypatch.setattr(training, "TRAINING_THREADS", threads)
        by_count[threads] = _weights(_train_small(data, cache=False)[0])
    monkeypatch.setattr(training, "TRAINING_THREADS", fixed)
    assert not _all_equal(by_count[1], by_count[4])
    before = torch.get_num_threads()
    try:
        for threads in (1, 3):  # what a learner's torch.set_num_threads may have set
            torch.set_num_threads(threads)
            weights = _weights(_train_small(data, cache=False)[0])
            assert torch.get_num_threads() == threads  # the caller's setting is restored
            assert _all_equal(weights, by_count[fixed]), f"set_num_threads({threads}) changed the weights"
    finally:
        torch.set_num_threads(before)


def test_seeded_blocks_repeat_and_leave_the_callers_random_state_alone():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    with seeded(9):
        first = torch.rand(4)
    after = torch.rand(4)
    with seeded(9):
        second = torch.rand(4)
    with seeded(None):  # no seed: an ordinary block
        unseeded = torch.rand(4)
    assert torch.equal(first, second) and torch.equal(after, expected)
    assert not torch.equal(unseeded, torch.rand(4))


def test_training_leaves_the_callers_random_state_alone():
    data = make_shapes(64, seed=2)
    torch.manual_seed(4)
    expected = torch.rand(3)
    torch.manual_seed(4)
    _train_small(data, cache=False)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- the trained-weights cache


def test_second_identical_training_loads_the_same_weights_and_says_so(cache_folder, capsys):
    data = make_shapes(96, seed=1)
    trained, first = _train_small(data)
    assert first.cache_file is None and capsys.readouterr().out == ""  # it trained, quietly
    files = list(cache_folder.glob("GAPNet-*.pt"))
    assert len(files) == 1 and trained_cache_dir() == cache_folder

    model = GAPNet(4, channels=SMALL, seed=5).train()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    start = time.perf_counter()
    second = train_model(model, data, epochs=2, batch_size=32, seed=11, progress=True)
    load_seconds = time.perf_counter() - start
    printed = capsys.readouterr()
    assert second.cache_file == str(files[0])
    assert printed.out.count("\n") == 1  # one line
    assert "Loaded the weights this exact training produced before" in printed.out
    assert str(files[0]) in printed.out and "cache=False" in printed.out
    assert printed.err == ""  # no progress bar: nothing was trained
    assert _all_equal(_weights(model), _weights(trained))
    assert (second.loss, second.accuracy, second.seconds) == (first.loss, first.accuracy, first.seconds)
    assert not model.training and all(p.grad is None for p in model.parameters())  # as after training

    again, third = _train_small(data, cache=False)  # trained again: the same tensors
    assert third.cache_file is None and _all_equal(_weights(again), _weights(trained))
    print(f"\ntrained in {first.seconds:.2f} s, loaded from the cache in {load_seconds:.3f} s")


def test_the_cache_announcement_follows_the_exercises_language(capsys):
    data = make_shapes(64, seed=1)
    _train_small(data, epochs=1)
    set_language("ko")
    try:
        _train_small(data, epochs=1)
    finally:
        set_language("en")
    printed = capsys.readouterr().out
    assert "가중치를 불러왔습니다" in printed and "cache=False" in printed
    assert "Loaded" not in printed


def test_anything_that_changes_the_result_changes_the_key(cache_folder):
    data = make_shapes(64, seed=1)
    _train_small(data, epochs=1)
    changes = [
        dict(seed=12),  # batch order
        dict(lr=2e-3),
        dict(batch_size=16),
        dict(epochs=2),
        dict(data=make_shapes(64, seed=2)),
    ]
    for change in changes:
        history = _train_small(change.pop("data", data), **{"epochs": 1, **change})[1]
        assert history.cache_file is None, change
    other_init = GAPNet(4, channels=SMALL, seed=6)
    assert train_model(other_init, data, epochs=1, batch_size=32, seed=11, progress=False).cache_file is None
    frozen = GAPNet(4, channels=SMALL, seed=5)
    frozen.fc.bias.requires_grad_(False)
    assert train_model(frozen, data, epochs=1, batch_size=32, seed=11, progress=False).cache_file is None
    assert len(list(cache_folder.glob("*.pt"))) == 1 + len(changes) + 2
    assert _train_small(data, epochs=1)[1].cache_file is not None  # the first one is still found


def test_a_change_in_the_models_code_is_a_new_training(tmp_path, monkeypatch, cache_folder):
    source = tmp_path / "learner_net.py"  # a learner's own model, in a file of its own
    source.write_text("from cam_helpers.train import GAPNet\n\nclass LearnerNet(GAPNet):\n    pass\n")
    spec = importlib.util.spec_from_file_location("learner_net", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "learner_net", module)
    spec.loader.exec_module(module)
    data = make_shapes(64, seed=1)

    def run():
        model = module.LearnerNet(4, channels=SMALL, seed=5)
        return train_model(model, data, epochs=1, batch_size=32, seed=11, progress=False)

    assert run().cache_file is None and run().cache_file is not None
    source.write_text(source.read_text() + "# edited: forward may have changed\n")
    assert run().cache_file is None  # the file that defines the class is part of the key


def test_a_model_whose_code_cannot_be_read_is_always_trained(cache_folder):
    # A class defined in a notebook cell: inspect cannot find its source, so the key would miss it.
    notebook_class = type("NotebookNet", (GAPNet,), {"__module__": "__not_a_module__"})
    data = make_shapes(64, seed=1)
    for _ in range(2):
        model = notebook_class(4, channels=SMALL, seed=5)
        assert train_model(model, data, epochs=1, batch_size=32, progress=False).cache_file is None
    assert not cache_folder.exists() or not list(cache_folder.iterdir())


def test_the_cache_can_be_switched_off(monkeypatch, tmp_path, cache_folder):
    data = make_shapes(64, seed=1)
    for _ in range(2):
        assert _train_small(data, epochs=1, cache=False)[1].cache_file is None
    assert not cache_folder.exists()
    monkeypatch.setenv("CAM_HELPERS_CACHE", "off")
    assert trained_cache_dir() is None
    for _ in range(2):
        assert _train_small(data, epochs=1)[1].cache_file is None
    monkeypatch.delenv("CAM_HELPERS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert trained_cache_dir() == tmp_path / "xdg" / "cam_helpers" / "trained"  # the default place


def test_a_corrupt_cache_file_is_reported_and_trained_again(cache_folder):
    data = make_shapes(64, seed=1)
    trained = _weights(_train_small(data, epochs=1)[0])
    (cached,) = cache_folder.glob("*.pt")
    for garbage in (b"not a torch file", cached.read_bytes()[:100]):  # a foreign file, a cut-off write
        cached.write_bytes(garbage)
        with pytest.warns(UserWarning, match="could not use the cached weights .*training again"):
            model, history = _train_small(data, epochs=1)
        assert history.cache_file is None and _all_equal(_weights(model), trained)
    # The file was replaced by a good one.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _train_small(data, epochs=1)[1].cache_file == str(cached)


def test_weights_of_another_model_in_the_file_are_refused(cache_folder):
    data = make_shapes(64, seed=1)
    _train_small(data, epochs=1)
    (cached,) = cache_folder.glob("*.pt")
    saved = torch.load(cached, weights_only=True)
    saved["state_dict"]["fc.weight"] = torch.zeros(3, 64)  # a wrong shape: never half-loaded
    torch.save(saved, cached)
    model = GAPNet(4, channels=SMALL, seed=5)
    with pytest.warns(UserWarning, match="does not hold this model's weights"):
        history = train_model(model, data, epochs=1, batch_size=32, seed=11, progress=False)
    assert history.cache_file is None and model.fc.weight.shape == (4, 64)


def test_an_unwritable_cache_folder_costs_a_warning_not_the_training(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CAM_HELPERS_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="could not save the trained weights"):
        model, history = _train_small(make_shapes(64, seed=1), epochs=1)
    assert history.cache_file is None and len(history.loss) == 1 and not model.training


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_repeats_and_has_its_own_cache_entry(cache_folder):
    data = make_shapes(96, seed=1)
    runs = []
    for _ in range(2):
        model = GAPNet(4, channels=SMALL, seed=5).cuda()
        train_model(model, data, epochs=2, batch_size=32, seed=11, progress=False, cache=False)
        runs.append(_weights(model))
    assert _all_equal(runs[0], runs[1])
    _train_small(data)  # CPU
    model = GAPNet(4, channels=SMALL, seed=5).cuda()
    assert train_model(model, data, epochs=2, batch_size=32, seed=11, progress=False).cache_file is None
    assert len(list(cache_folder.glob("*.pt"))) == 2  # the device is part of the key


# ---------------------------------------------------------------- trained models and their CAMs
# Notebooks 06 and 07 train the full-size versions (1500 images, 5 epochs) and assert the same
# behaviour; these are the same experiments at 600 images, batches of 32, a fraction of the time.


def _train_for_cams(split_seed: int, **cue) -> tuple[GAPNet, object, float]:
    train, test = make_splits(split_seed, num_train=600, num_test=200, **cue)
    model = GAPNet(4, channels=SMALL, seed=0)
    start = time.perf_counter()
    train_model(model, train, epochs=5, batch_size=32, lr=3e-3, seed=0, progress=False, cache=False)
    return model, test, time.perf_counter() - start


def test_gap_model_learns_and_its_cam_beats_the_centre_box():
    model, test, seconds = _train_for_cams(0)
    test_accuracy = accuracy(model, test)
    maps = _cams(model, test.images, test.labels)  # (200, 8, 8)
    sweep = threshold_sweep(maps, test.boxes, thresholds=torch.linspace(0, 1, 21), image_size=64)
    sweep_v2 = threshold_sweep(maps, test.boxes, torch.linspace(0, 1, 21), image_size=64, multi_contour=True)
    centre = center_box_baseline(test.boxes, 64)
    print(
        f"\nGAPNet{SMALL}: trained in {seconds:.1f}s, test accuracy {test_accuracy:.3f}; "
        f"CAM MaxBoxAcc {sweep.max_box_acc:.3f} (threshold {sweep.best_threshold:.2f}), "
        f"V2 {sweep_v2.max_box_acc_v2:.3f}; centre box MaxBoxAcc {centre.max_box_acc:.3f}, "
        f"V2 {centre.max_box_acc_v2:.3f}"
    )
    assert test_accuracy >= 0.85
    assert sweep.max_box_acc >= centre.max_box_acc + 0.4
    assert sweep_v2.max_box_acc_v2 >= centre.max_box_acc_v2 + 0.3


def test_spurious_cue_draws_the_cam_to_the_corner():
    cue_class = 0
    model, test_same, _ = _train_for_cams(1, spurious_cue=True, cue_class=cue_class, test_cue="same")
    _, test_absent = make_splits(
        1, num_train=0, num_test=200, spurious_cue=True, cue_class=cue_class, test_cue="absent"
    )

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
