"""Tests for cam_helpers.images: every awkward image a learner may bring."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cam_helpers.images import (
    SAMPLES,
    ImageLoadError,
    load_image,
    load_sample,
    preprocess,
    sample_path,
    to_display_array,
)

WHITE = (255, 255, 255)


def rgb(img: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 array of an RGB image, asserting the mode on the way."""
    assert img.mode == "RGB"
    return np.asarray(img)


# --------------------------------------------------------------------------- modes


def test_grayscale_png_becomes_gray_rgb(tmp_path: Path) -> None:
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = rgb(load_image(tmp_path / "gray.png"))
    assert out.shape == (2, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_one_bit_image(tmp_path: Path) -> None:
    img = Image.new("1", (3, 2), 0)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "bw.png")
    out = rgb(load_image(str(tmp_path / "bw.png")))
    assert tuple(out[0, 1]) == WHITE and tuple(out[0, 0]) == (0, 0, 0)


def test_la_is_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (0, 255))  # opaque black
    img.putpixel((1, 0), (0, 0))  # fully transparent black
    img.save(tmp_path / "la.png")
    out = rgb(load_image(tmp_path / "la.png"))
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert tuple(out[0, 1]) == WHITE


def test_rgba_transparency_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (255, 0, 0, 255))  # opaque red
    img.putpixel((1, 0), (255, 0, 0, 0))  # invisible red -> white
    img.putpixel((2, 0), (0, 0, 255, 128))  # half blue -> light blue
    img.save(tmp_path / "rgba.png")
    out = rgb(load_image(tmp_path / "rgba.png"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == WHITE
    r, g, b = (int(v) for v in out[0, 2])
    assert b == 255 and abs(r - 127) <= 1 and abs(g - 127) <= 1


def test_palette_without_and_with_transparency(tmp_path: Path) -> None:
    palette = [255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6)
    img = Image.new("P", (2, 1), 0)
    img.putpalette(palette)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "p.png")
    img.save(tmp_path / "p_transparent.png", transparency=1)
    with Image.open(tmp_path / "p_transparent.png") as check:
        assert check.mode == "P" and "transparency" in check.info

    plain = rgb(load_image(tmp_path / "p.png"))
    assert tuple(plain[0, 0]) == (255, 0, 0) and tuple(plain[0, 1]) == (0, 0, 255)
    transparent = rgb(load_image(tmp_path / "p_transparent.png"))
    assert tuple(transparent[0, 0]) == (255, 0, 0)
    assert tuple(transparent[0, 1]) == WHITE  # palette index 1 is transparent


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "depth16.png")
    with Image.open(tmp_path / "depth16.png") as check:
        assert check.mode.startswith("I")
    out = rgb(load_image(tmp_path / "depth16.png"))
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (out[..., 0] == out[..., 2]).all()


def test_mode_i_image_in_16_bit_range() -> None:
    img = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32))
    assert img.mode == "I"
    assert rgb(load_image(img))[0, :, 0].tolist() == [0, 128, 255]


def test_mode_i_image_in_8_bit_range_is_kept() -> None:
    img = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))
    assert rgb(load_image(img))[0, :, 0].tolist() == [0, 100, 255]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    with Image.open(tmp_path / "cmyk.jpg") as check:
        assert check.mode == "CMYK"
    out = rgb(load_image(tmp_path / "cmyk.jpg"))
    assert out.shape == (6, 8, 3)
    r, g, b = (int(v) for v in out[3, 4])
    assert r > 240 and g < 15 and b < 15  # no cyan, full magenta + yellow = red


def test_exif_rotated_photo_is_upright(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 8, 8))  # red block in the stored top-left corner
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "phone.jpg") as check:
        assert check.size == (40, 20)

    out = load_image(tmp_path / "phone.jpg")
    assert out.size == (20, 40)
    arr = rgb(out)
    top_right, top_left = arr[2, -3], arr[2, 2]
    assert top_right[0] > 200 and top_right[2] < 60  # the block is now top right
    assert top_left[2] > 200 and top_left[0] < 60


def test_one_by_one_image(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "dot.png")
    out = load_image(tmp_path / "dot.png")
    assert out.size == (1, 1)
    assert tuple(rgb(out)[0, 0]) == (10, 20, 30)


def test_large_image_loads(tmp_path: Path) -> None:
    Image.new("RGB", (5000, 4000), (1, 2, 3)).save(tmp_path / "big.png", compress_level=1)  # quick to write and read
    out = load_image(tmp_path / "big.png")
    assert out.size == (5000, 4000)
    assert out.getpixel((4999, 3999)) == (1, 2, 3)


def test_pil_input_is_not_modified() -> None:
    src = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    out = load_image(src)
    assert src.mode == "RGBA" and out is not src
    assert tuple(rgb(out)[0, 0]) == WHITE
    rgb_src = Image.new("RGB", (2, 2), (5, 6, 7))
    same = load_image(rgb_src)
    assert same is not rgb_src and same.getpixel((1, 1)) == (5, 6, 7)


def test_file_object(tmp_path: Path) -> None:
    Image.new("RGB", (3, 2), (9, 8, 7)).save(tmp_path / "f.png")
    with open(tmp_path / "f.png", "rb") as fh:
        out = load_image(fh)
    assert out.size == (3, 2) and out.getpixel((0, 0)) == (9, 8, 7)
    with pytest.raises(ImageLoadError, match="file object is not an image.*text file"):
        load_image(io.BytesIO(b"eggs, milk, bread"))


# --------------------------------------------------------------------------- errors


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_photo.jpg"
    with pytest.raises(FileNotFoundError, match="no_such_photo.jpg") as info:
        load_image(missing)
    assert "load_sample" in str(info.value)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is not a picture\n")
    with pytest.raises(ImageLoadError, match="holiday.jpg") as info:
        load_image(fake)
    assert isinstance(info.value, ValueError)
    assert "text file" in str(info.value) and "PNG" in str(info.value)
    assert info.value.path == fake


def test_html_saved_as_jpg_is_explained(tmp_path: Path) -> None:
    fake = tmp_path / "dog.jpg"
    fake.write_text("<!DOCTYPE html><html><body>image page</body></html>")
    with pytest.raises(ImageLoadError, match="web page"):
        load_image(fake)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty.png.*empty file"):
        load_image(tmp_path / "empty.png")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    full = tmp_path / "full.jpg"
    Image.fromarray(noise).save(full, quality=90)
    data = full.read_bytes()
    half = tmp_path / "half.jpg"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="half.jpg.*truncated"):
        load_image(half)
    assert load_image(full).size == (300, 200)  # the complete file is fine


def test_decompression_bomb_guard(tmp_path: Path) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "bomb.png")
    with pytest.raises(ImageLoadError, match=r"bomb.png.*20x20 = 400 pixels.*max_pixels=100"):
        load_image(tmp_path / "bomb.png", max_pixels=100)
    assert load_image(tmp_path / "bomb.png", max_pixels=400).size == (20, 20)
    assert load_image(tmp_path / "bomb.png", max_pixels=None).size == (20, 20)
    with pytest.raises(ImageLoadError, match="max_pixels"):
        load_image(np.zeros((20, 20), dtype=np.uint8), max_pixels=100)


def test_pil_decompression_bomb_error_becomes_image_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "bomb2.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # PIL raises above 2 x 50
    with pytest.raises(ImageLoadError, match="bomb2.png"):
        load_image(tmp_path / "bomb2.png", max_pixels=None)


def test_unsupported_type() -> None:
    with pytest.raises(TypeError, match="NumPy array"):
        load_image(12345)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- arrays


def test_numpy_uint8_values_preserved() -> None:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    np.testing.assert_array_equal(rgb(load_image(arr)), arr)


def test_numpy_gray_and_single_channel() -> None:
    gray = np.array([[0, 128], [64, 255]], dtype=np.uint8)
    for arr in (gray, gray[..., None]):
        out = rgb(load_image(arr))
        assert out.shape == (2, 2, 3)
        np.testing.assert_array_equal(out[..., 1], gray)


def test_numpy_rgba_composited_on_white() -> None:
    arr = np.zeros((1, 2, 4), dtype=np.uint8)
    arr[0, 0] = (0, 255, 0, 255)
    arr[0, 1] = (0, 255, 0, 0)
    out = rgb(load_image(arr))
    assert tuple(out[0, 0]) == (0, 255, 0) and tuple(out[0, 1]) == WHITE


def test_numpy_float_uint16_bool_int() -> None:
    floats = np.array([[0.0, 0.5, 1.0]])
    assert rgb(load_image(floats))[0, :, 0].tolist() == [0, 128, 255]
    sixteen = np.array([[0, 32768, 65535]], dtype=np.uint16)
    assert rgb(load_image(sixteen))[0, :, 0].tolist() == [0, 128, 255]
    mask = np.array([[True, False]])
    assert rgb(load_image(mask))[0, :, 0].tolist() == [255, 0]
    ints = np.array([[0, 7, 255]])  # int64, as np.array of Python ints gives
    assert rgb(load_image(ints))[0, :, 0].tolist() == [0, 7, 255]


def test_tensor_inputs_values_preserved() -> None:
    chw = torch.tensor(
        [[[0.0, 1.0], [0.2, 0.2]], [[0.5, 0.25], [0.2, 0.2]], [[1.0, 0.0], [0.2, 0.2]]]
    )  # (3, 2, 2)
    out = rgb(load_image(chw))
    assert out.shape == (2, 2, 3)
    assert tuple(out[0, 0]) == (0, 128, 255) and tuple(out[0, 1]) == (255, 64, 0)
    assert tuple(out[1, 1]) == (51, 51, 51)
    np.testing.assert_array_equal(rgb(load_image(chw.permute(1, 2, 0))), out)  # HxWx3
    np.testing.assert_array_equal(rgb(load_image(chw.unsqueeze(0))), out)  # batch of one
    gray = torch.tensor([[[0, 200], [50, 60]]], dtype=torch.uint8)  # (1, 2, 2)
    assert rgb(load_image(gray))[:, :, 2].tolist() == [[0, 200], [50, 60]]
    grad = torch.rand(3, 4, 5, requires_grad=True)
    assert load_image(grad).size == (5, 4)
    assert load_image(torch.zeros(3, 5)).size == (5, 3)  # (H, W) even when H could be a channel count
    assert load_image(torch.rand(2, 2, dtype=torch.bfloat16)).size == (2, 2)


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (np.zeros((5,)), r"\(5,\)"),
        (np.zeros((5, 5, 2)), r"\(5, 5, 2\).*1, 3 or 4 channels"),
        (np.zeros((3, 8, 9)), r"\(3, 8, 9\).*channels-first.*transpose"),
        (np.zeros((2, 4, 4, 3)), r"batch of 2"),
        (np.zeros((0, 4, 3)), r"\(0, 4, 3\).*empty"),
        (np.zeros((2, 2, 3, 3, 3)), r"\(2, 2, 3, 3, 3\)"),
        (torch.zeros(5, 4, 2), r"\(5, 4, 2\)"),
    ],
)
def test_bad_shapes_name_the_shape(bad: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        load_image(bad)  # type: ignore[arg-type]


def test_nan_and_out_of_range_values() -> None:
    arr = np.zeros((2, 2, 3))
    arr[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\(2, 2, 3\).*NaN"):
        load_image(arr)
    with pytest.raises(ValueError, match=r"normalis"):
        load_image(torch.full((3, 2, 2), -1.5))
    with pytest.raises(ValueError, match=r"divide by 255"):
        load_image(np.full((2, 2, 3), 200.0))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        load_image(np.array([[0, 300]]))


# --------------------------------------------------------------------------- samples


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_loads_as_rgb(name: str) -> None:
    img = load_sample(name)
    assert img.mode == "RGB"
    assert min(img.size) >= 224  # big enough for a 224x224 model input
    assert sample_path(name).name == SAMPLES[name]


def test_sample_sizes_and_composite() -> None:
    assert load_sample("cat").size == (451, 300)
    composite = load_sample("cat_and_coffee")
    width, height = composite.size
    assert width == height == 448  # square: a centre crop keeps both objects
    band = np.asarray(composite)[112:336]  # the middle band holds the two photos
    left, right = band[:, :224].mean(), band[:, 224:].mean()
    cat = np.asarray(load_sample("cat")).mean()
    cup = np.asarray(load_sample("coffee")).mean()
    assert abs(left - cat) < abs(left - cup)  # the left half really is the cat
    assert abs(right - cup) < abs(right - cat)


def test_sample_names_are_forgiving() -> None:
    assert sample_path("Chelsea") == sample_path("cat")
    assert sample_path("cat.png") == sample_path("cat")
    assert sample_path("Grace-Hopper") == sample_path("grace_hopper")


def test_unknown_sample_suggests_close_names() -> None:
    with pytest.raises(ValueError, match=r"'kat'.*Did you mean 'cat'") as info:
        sample_path("kat")
    for name in SAMPLES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="astronaut"):
        load_sample("astronot")


def test_samples_ship_inside_the_package_and_images_links_to_them() -> None:
    import cam_helpers

    package = Path(cam_helpers.__file__).resolve().parent
    for filename in [*SAMPLES.values(), "CREDITS.md"]:
        shipped = package / "samples" / filename
        assert shipped.is_file() and not shipped.is_symlink()  # the one copy in git
        assert sample_path(Path(filename).stem if filename != "CREDITS.md" else "cat").parent == shipped.parent
        in_repo = package.parent / "images" / filename
        if in_repo.parent.is_dir():  # a clone: learners find the photos in images/
            assert in_repo.resolve() == shipped.resolve()


def test_pyproject_packages_every_sample() -> None:
    import fnmatch

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["cam_helpers"]
    for filename in [*SAMPLES.values(), "CREDITS.md"]:
        assert any(fnmatch.fnmatch(f"samples/{filename}", p) for p in patterns), filename


def test_credits_cover_every_sample() -> None:
    credits = (sample_path("cat").parent / "CREDITS.md").read_text()
    for filename in SAMPLES.values():
        assert f"`{filename}`" in credits


def test_sample_files_are_small() -> None:
    for name in SAMPLES:
        assert sample_path(name).stat().st_size < 400_000


# --------------------------------------------------------------------------- big photos


def test_big_jpeg_is_decoded_small_in_draft_mode(tmp_path: Path) -> None:
    big = load_sample("coffee").resize((4000, 3000))
    big.save(tmp_path / "big.jpg", quality=90)
    small = load_image(tmp_path / "big.jpg", min_size=512)
    assert small.size == (1000, 750)  # decoded at 1/4: the largest scale with a short side >= 512
    assert load_image(tmp_path / "big.jpg").size == (4000, 3000)  # default: full size
    reference = np.asarray(big.resize((1000, 750), Image.Resampling.BOX), dtype=np.float64)
    assert np.abs(np.asarray(small, dtype=np.float64) - reference).mean() < 3  # same picture
    with pytest.raises(ImageLoadError, match="max_pixels"):  # the guard sees the full size
        load_image(tmp_path / "big.jpg", min_size=512, max_pixels=1_000_000)


def test_min_size_shrinks_other_formats_and_keeps_small_images() -> None:
    wide = np.zeros((1200, 2000, 3), dtype=np.uint8)
    assert load_image(wide, min_size=512).size == (1000, 600)  # reduced by 2
    assert load_image(np.zeros((600, 800, 3), dtype=np.uint8), min_size=512).size == (800, 600)
    rgba = Image.new("RGBA", (1100, 1100), (0, 0, 0, 0))
    assert load_image(rgba, min_size=512).size == (550, 550) and rgba.size == (1100, 1100)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_predict_the_same_with_and_without_early_shrinking(lite0, name: str) -> None:
    with torch.no_grad():
        shrunk = lite0.model(preprocess(sample_path(name), lite0.transform))  # min_size=512
        full = lite0.model(preprocess(sample_path(name), lite0.transform, min_size=None))
    assert int(shrunk.argmax()) == int(full.argmax())
    torch.testing.assert_close(shrunk, full)


# --------------------------------------------------------------------------- batches


def _to_tensor_224(img: Image.Image) -> torch.Tensor:
    img = img.resize((224, 224))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255.0


def one_of(name: str) -> torch.Tensor:
    """The reference batch entry for one sample, shape (3, 224, 224)."""
    return _to_tensor_224(load_sample(name))


def test_preprocess_single_and_list(tmp_path: Path) -> None:
    one = preprocess(load_sample("cat"), _to_tensor_224)
    assert one.shape == (1, 3, 224, 224) and one.dtype == torch.float32
    Image.new("L", (50, 30), 255).save(tmp_path / "white.png")
    mixed = [
        sample_path("coffee"),
        str(tmp_path / "white.png"),
        np.zeros((10, 10, 3), dtype=np.uint8),
        torch.ones(3, 5, 5),
    ]
    batch = preprocess(mixed, _to_tensor_224, device="cpu")
    assert batch.shape == (4, 3, 224, 224) and batch.device.type == "cpu"
    assert torch.all(batch[1] == 1.0) and torch.all(batch[2] == 0.0) and torch.all(batch[3] == 1.0)
    torch.testing.assert_close(batch[0], one_of("coffee"))


def test_preprocess_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        preprocess([], _to_tensor_224)
    with pytest.raises(ValueError, match="different shapes"):
        preprocess(
            [np.zeros((4, 4), np.uint8), np.zeros((6, 6), np.uint8)],
            lambda im: torch.zeros(3, im.height, im.width),
        )
    with pytest.raises(TypeError, match="ToTensor"):
        preprocess(np.zeros((4, 4), np.uint8), lambda im: im)  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\)"):
        preprocess(np.zeros((4, 4), np.uint8), lambda im: torch.zeros(1, 3, 4, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
def test_preprocess_to_cuda_and_display_from_cuda() -> None:
    batch = preprocess(load_sample("cat"), _to_tensor_224, device="cuda")
    assert batch.device.type == "cuda" and batch.shape == (1, 3, 224, 224)
    shown = to_display_array(batch[0])
    assert shown.shape == (224, 224, 3)


# --------------------------------------------------------------------------- display


def test_to_display_array_from_pil_and_tensor() -> None:
    cat = load_sample("cat")
    arr = to_display_array(cat)
    assert arr.shape == (300, 451, 3) and arr.dtype == np.float32
    assert 0.0 <= arr.min() and arr.max() <= 1.0
    np.testing.assert_allclose(arr, np.asarray(cat) / 255.0, atol=1e-6)

    t = torch.rand(3, 7, 5, generator=torch.Generator().manual_seed(0))
    shown = to_display_array(t)
    assert shown.shape == (7, 5, 3)
    np.testing.assert_allclose(shown, t.permute(1, 2, 0).numpy(), atol=1e-6)  # full precision


def test_to_display_array_resizes_to_square_or_pair() -> None:
    cat = load_sample("cat")
    square = to_display_array(cat, size=224)
    assert square.shape == (224, 224, 3)
    assert 0.0 <= square.min() and square.max() <= 1.0
    assert abs(square.mean() - np.asarray(cat).mean() / 255.0) < 0.02
    assert to_display_array(torch.rand(3, 50, 40), size=(30, 20)).shape == (30, 20, 3)
    flat = to_display_array(torch.full((3, 9, 9), 0.25), size=224)
    np.testing.assert_allclose(flat, 0.25, atol=1e-5)
    with pytest.raises(ValueError, match="size"):
        to_display_array(cat, size=0)
