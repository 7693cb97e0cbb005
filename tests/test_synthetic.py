"""The generated shapes dataset: right boxes, deterministic, fast, and the spurious cue."""

from __future__ import annotations

import time

import pytest
import torch
from torch.utils.data import DataLoader

from cam_helpers.synthetic import SHAPE_NAMES, SyntheticShapes, make_shapes, make_splits


@pytest.fixture(scope="module")
def generated() -> tuple[SyntheticShapes, float]:
    """300 shapes of seed 0, and the seconds it took to draw them (test_generation_is_fast reads those)."""
    start = time.perf_counter()
    data = make_shapes(300, seed=0)
    return data, time.perf_counter() - start


@pytest.fixture(scope="module")
def shapes(generated) -> SyntheticShapes:
    return generated[0]


def test_shapes_types_and_ranges(shapes):
    assert shapes.images.shape == (300, 3, 64, 64)
    assert shapes.images.dtype == torch.float32
    assert 0 <= shapes.images.min() and shapes.images.max() <= 1
    assert shapes.labels.shape == (300,) and shapes.labels.dtype == torch.long
    assert shapes.boxes.shape == (300, 4)
    assert shapes.masks.shape == (300, 64, 64) and shapes.masks.dtype == torch.bool
    assert shapes.class_names == SHAPE_NAMES
    assert shapes.labels.bincount().tolist() == [75, 75, 75, 75]  # balanced
    assert not shapes.has_cue.any()
    assert len(shapes) == 300


def test_boxes_are_the_tight_boxes_of_the_drawn_shapes(shapes):
    for mask, box in zip(shapes.masks, shapes.boxes):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    sides = shapes.boxes[:, 2:] - shapes.boxes[:, :2]
    assert sides.min() >= 10 and sides.max() <= 30  # 14-28 pixels, triangles a little less


def test_mask_is_exactly_the_flat_coloured_object(shapes):
    # The object is painted last in one flat colour: every mask pixel has it,
    # and the ring just outside the box is background or clutter, not the object.
    for image, mask in zip(shapes.images[:50], shapes.masks[:50]):
        inside = image[:, mask]  # (3, n)
        assert torch.equal(inside, inside[:, :1].expand_as(inside))
    differs = []
    for image, mask, box in zip(shapes.images, shapes.masks, shapes.boxes):
        colour = image[:, mask][:, 0]
        x0, y0, x1, y1 = box.tolist()
        outside_pixels = ~mask.clone()
        outside_pixels[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = False
        match = (image == colour.view(3, 1, 1)).all(dim=0) & outside_pixels
        differs.append(not match.any())
    assert sum(differs) / len(differs) > 0.97  # a distractor may rarely share the colour


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_shapes(40, seed=5), make_shapes(40, seed=5), make_shapes(40, seed=6)
    for name in ("images", "labels", "boxes", "masks"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.images, c.images)


def test_drawing_in_chunks_does_not_change_the_images(monkeypatch):
    import cam_helpers.synthetic as synthetic

    whole = make_shapes(30, seed=2, spurious_cue=True)
    monkeypatch.setattr(synthetic, "_CHUNK", 7)
    chunked = make_shapes(30, seed=2, spurious_cue=True)
    assert torch.equal(whole.images, chunked.images) and torch.equal(whole.boxes, chunked.boxes)


def test_generation_is_fast(generated):
    _, seconds = generated  # the 300 images every test here shares, timed once
    print(f"\n300 images of 64x64 in {seconds:.2f}s")
    assert seconds < 3  # the old bound of 1000 in 10 s; about 1 s on a busy 2-core CPU


def test_other_sizes_and_classes():
    data = make_shapes(12, seed=0, image_size=96, class_names=("circle", "cross"))
    assert data.images.shape == (12, 3, 96, 96)
    assert data.class_names == ("circle", "cross") and set(data.labels.tolist()) == {0, 1}
    assert (data.boxes[:, 2:] <= 96).all() and (data.boxes[:, :2] >= 0).all()
    with pytest.raises(ValueError, match="unknown shape"):
        make_shapes(4, class_names=("hexagon",))


def test_spurious_cue_follows_its_class():
    data = make_shapes(800, seed=3, spurious_cue=True, cue_class=2, cue_probability=0.95)
    on_cue_class = data.has_cue[data.labels == 2].float().mean().item()
    assert 0.9 < on_cue_class <= 1.0
    assert not data.has_cue[data.labels != 2].any()
    x0, y0, x1, y1 = data.cue_box.tolist()
    assert (x1 - x0, y1 - y0) == (5, 5)
    corner = data.images[:, :, y0:y1, x0:x1]
    assert (corner[data.has_cue] == 1).all()  # a white square
    assert not (corner[~data.has_cue] == 1).all(dim=(1, 2, 3)).any()
    assert not data.masks[data.has_cue][:, y0:y1, x0:x1].any()  # the mark hides the object


def test_splits_and_their_cue_rules():
    train, test = make_splits(0, num_train=200, num_test=400, spurious_cue=True, cue_class=1)
    assert len(train) == 200 and len(test) == 400
    assert train.has_cue.any() and not test.has_cue.any()  # default test: cue absent
    assert not torch.equal(train.images[:10], test.images[:10])
    _, same = make_splits(0, num_train=10, num_test=400, spurious_cue=True, cue_class=1, test_cue="same")
    assert not same.has_cue[same.labels != 1].any() and same.has_cue[same.labels == 1].any()
    _, random = make_splits(0, num_train=10, num_test=400, spurious_cue=True, cue_class=1, test_cue="random")
    for label in range(4):
        share = random.has_cue[random.labels == label].float().mean().item()
        assert 0.3 < share < 0.7  # the cue no longer tells the class
    clean_train, _ = make_splits(0, num_train=50, num_test=10)
    assert not clean_train.has_cue.any()
    with pytest.raises(ValueError, match="test_cue"):
        make_splits(0, test_cue="sometimes")


def test_works_as_a_torch_dataset(shapes):
    small = shapes.subset(slice(0, 10))
    assert len(small) == 10 and torch.equal(small.boxes, shapes.boxes[:10])
    picked = shapes.subset(shapes.labels == 0)
    assert (picked.labels == 0).all() and len(picked) == 75
    image, label = shapes[3]
    assert image.shape == (3, 64, 64) and label == shapes.labels[3]
    images, labels = next(iter(DataLoader(shapes, batch_size=8)))
    assert images.shape == (8, 3, 64, 64) and torch.equal(labels, shapes.labels[:8])
