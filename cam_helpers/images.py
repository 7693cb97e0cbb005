"""Loading any image a learner may bring (:func:`load_image`), model batches (:func:`preprocess`),
arrays for ``plt.imshow`` and map overlays (:func:`to_display_array`), and the sample photos.

Files follow Pillow's recipe: ``Image.open`` -> ``ImageOps.exif_transpose`` -> ``convert``. The
samples ship inside the package (``cam_helpers/samples/``, licences in its ``CREDITS.md``; ``images/``
links to them), so :func:`load_sample` works from a clone and from a pip-installed wheel alike.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.functional import resize

from .names import did_you_mean

__all__ = [
    "SAMPLES", "ImageLoadError", "ImageSource", "sample_path", "load_sample", "load_image",
    "preprocess", "denormalize", "to_display_array",
]

#: Short name -> file name in ``cam_helpers/samples/`` (licences: ``CREDITS.md`` there).
SAMPLES: dict[str, str] = {
    "cat": "cat.png",  # scikit-image "chelsea", 451x300
    "coffee": "coffee.jpg",  # scikit-image espresso cup, 600x400
    "astronaut": "astronaut.jpg",  # scikit-image, Eileen Collins, 512x512
    "rocket": "rocket.jpg",  # scikit-image, Falcon 9 launch, 640x427
    "grace_hopper": "grace_hopper.jpg",  # matplotlib sample data, 512x600
    "cat_and_coffee": "cat_and_coffee.jpg",  # derived: cat | coffee, 448x448
}

# Other names people reach for; they resolve to the SAMPLES key on the right.
_ALIASES: dict[str, str] = {
    "chelsea": "cat", "espresso": "coffee", "coffee_cup": "coffee", "hopper": "grace_hopper",
    "cat_coffee": "cat_and_coffee", "composite": "cat_and_coffee",
}

#: What :func:`load_image` accepts.
ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor, io.IOBase]

#: :func:`preprocess` decodes big photos no smaller than this on their short side: twice the
#: 256 pixels a model's transform resizes to, so the model sees the same detail.
DECODE_MIN_SIZE = 512

_WHAT_WORKS = (
    "load_image accepts a path to a JPEG/PNG/GIF/BMP/TIFF/WebP file, a PIL image, a NumPy "
    "array (H, W) or (H, W, C), or a torch tensor (C, H, W), (H, W, C) or (H, W), with 1, 3 or 4 "
    "channels C; uint8 0..255, uint16, bool, or float in [0, 1]"
)

# Array dtypes whose whole range is black..white; other integer types must hold 0..255.
_DTYPE_MAX = {np.bool_: 1.0, np.uint8: 255.0, np.uint16: 65535.0}


class ImageLoadError(ValueError):
    """An image could not be loaded: not an image, truncated, or too large. ``path``: the file or ``None``."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = path


def sample_path(name: str) -> Path:
    """Return the path of a bundled sample photo (inside the installed package).

    ``name`` is a key of :data:`SAMPLES` such as ``"cat"`` (case-insensitive; a few aliases such
    as ``"chelsea"`` and the file name also work); otherwise a ``ValueError`` lists close matches.
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, Path(key).stem)  # "chelsea" -> "cat"; the file name "cat.png" -> "cat"
    if key not in SAMPLES:
        raise ValueError(
            f"Unknown sample image {name!r}.{did_you_mean(key, SAMPLES, n=3)} Valid names: "
            f"{', '.join(SAMPLES)}. For your own photo use load_image('path/to/photo.jpg')."
        )
    return Path(str(resources.files("cam_helpers") / "samples" / SAMPLES[key]))


def load_sample(name: str) -> Image.Image:
    """Load a bundled sample photo as an RGB PIL image (size: see :data:`SAMPLES`)."""
    return load_image(sample_path(name))


def _describe(arr: Any) -> str:
    kind = "tensor" if isinstance(arr, torch.Tensor) else "array"
    return f"{kind} of shape {tuple(arr.shape)} and dtype {arr.dtype}"


def _to_hwc(arr: np.ndarray, original: Any) -> np.ndarray:
    """Bring an array or tensor to shape (H, W, C) with C in {1, 3, 4}."""
    if arr.ndim == 4 and arr.shape[0] != 1:
        raise ValueError(
            f"Got a batch of {arr.shape[0]} images ({_describe(original)}); pass one image "
            "at a time, e.g. images[0]."
        )
    arr = arr[0] if arr.ndim == 4 else arr  # a batch of one: (1, C, H, W) or (1, H, W, C)
    # Tensors are torch's (C, H, W) whenever the first dim can be a channel count, else (H, W, C).
    channels_first = arr.ndim == 3 and arr.shape[0] in (1, 3, 4)
    if channels_first and isinstance(original, torch.Tensor):
        arr = np.moveaxis(arr, 0, -1)  # (C, H, W) -> (H, W, C)
    elif channels_first and arr.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"The {_describe(original)} looks channels-first (C, H, W). NumPy images "
            "are (H, W, C): use arr.transpose(1, 2, 0)."
        )
    arr = arr[:, :, None] if arr.ndim == 2 else arr  # (H, W) -> (H, W, 1)
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Cannot use this {_describe(original)} as an image. {_WHAT_WORKS}.")
    if 0 in arr.shape[:2]:
        raise ValueError(f"The {_describe(original)} is empty (height or width 0).")
    return arr


def _to_unit_float(arr: np.ndarray, original: Any) -> np.ndarray:
    """Scale pixel values to float64 in [0, 1] according to the dtype."""
    if arr.dtype.type in _DTYPE_MAX:
        return arr / _DTYPE_MAX[arr.dtype.type]
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"The {_describe(original)} has integer values from {lo} to {hi}; integer "
                "images must be in 0..255 (or use dtype uint16 for 16-bit images)."
            )
        return arr / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"Cannot use this {_describe(original)} as an image. {_WHAT_WORKS}.")
    data = arr.astype(np.float64)
    lo, hi = float(data.min()), float(data.max())  # NaN if any value is NaN
    if not np.isfinite([lo, hi]).all():
        raise ValueError(
            f"The {_describe(original)} contains NaN or infinite values; an image needs values in [0, 1]."
        )
    if lo < -1e-6 or hi > 1 + 1e-6:  # a rounding error's worth of slack, clipped below
        hint = "For values in 0..255, divide by 255 or convert to uint8."
        if lo < 0:
            hint = "Negative values usually mean a normalised model input: undo it (x * std + mean) first."
        raise ValueError(
            f"The float {_describe(original)} has values from {lo:.4g} to {hi:.4g}; "
            f"float images must be in [0, 1]. {hint}"
        )
    return np.clip(data, 0.0, 1.0)


def _unit_rgb(data: np.ndarray | torch.Tensor, max_pixels: int | None) -> np.ndarray:
    """NumPy array or tensor -> (H, W, 3) float64 in [0, 1], with every check; alpha over white."""
    if isinstance(data, torch.Tensor):  # NumPy has no bfloat16
        arr = (data.float() if data.dtype == torch.bfloat16 else data).numpy(force=True)
    else:
        arr = np.asarray(data)
    hwc = _to_hwc(arr, data)  # (H, W, C), C in {1, 3, 4}
    _check_pixels(hwc.shape[1], hwc.shape[0], max_pixels, f"the {_describe(data)}", None)
    unit = _to_unit_float(hwc, data)
    if unit.shape[-1] == 4:
        rgb, alpha = unit[..., :3], unit[..., 3:]
        unit = rgb * alpha + (1.0 - alpha)  # (H, W, 3)
    return np.broadcast_to(unit, (*unit.shape[:2], 3))  # gray (H, W, 1) -> (H, W, 3)


def _check_pixels(width: int, height: int, max_pixels: int | None, what: str, path: Any) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            f"{what} is {width}x{height} = {width * height:,} pixels, more than max_pixels={max_pixels:,} "
            "(a guard against decompression bombs). If you trust it, pass a larger max_pixels "
            "(or max_pixels=None), or shrink it first.", path
        )


def _high_depth_to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit or float grayscale -> an ``"L"`` image, scaled where ``convert`` would clip.

    White is 65535 for ``I;16*``; 255, or else 65535, for ``I`` (some Pillows open 16-bit PNGs so);
    1.0 for ``F``. Values outside that range are stretched from their min to their max.
    """
    data = np.asarray(img.convert("I") if img.mode.startswith("I;16") else img, dtype=np.float64)  # (H, W)
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    whites = {"I": (255.0, 65535.0), "F": (1.0,)}.get(img.mode, (65535.0,))
    white = next((w for w in whites if lo >= 0 and hi <= w), None)  # the first range the values fit
    unit = data / white if white else (data - lo) / (hi - lo or 1.0)  # a flat image comes out black
    return Image.fromarray(np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8))


def _pil_to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> a new ``"RGB"`` image; transparency is composited on white."""
    if img.mode.startswith("I") or img.mode == "F":
        img = _high_depth_to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return img.convert("RGB")  # a copy even for RGB; 1, L, P, CMYK, YCbCr, ... converted


def _finish_pil(
    img: Image.Image, max_pixels: int | None, name: str, path: Any, draft_size: int | None = None
) -> Image.Image:
    """Size check, decode (JPEG draft mode: see ``min_size`` in :func:`load_image`), EXIF rotation, RGB."""
    _check_pixels(img.width, img.height, max_pixels, name, path)
    try:
        if draft_size is not None and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        # Decode now, so truncated files fail here (unless PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set).
        img.load()
        return _pil_to_rgb(ImageOps.exif_transpose(img))  # exif_transpose returns a copy
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        detail = str(err) or type(err).__name__
        problem = f"could not be decoded ({detail}). Re-save it as a standard JPEG or PNG and try again."
        if "truncated" in detail.lower() or isinstance(err, EOFError):
            problem = (
                f"is truncated or corrupt ({detail}). The file probably did not download or copy "
                "completely: fetch it again, or open it in an image viewer and save it as a new JPEG or PNG."
            )
        raise ImageLoadError(f"{name} {problem}", path) from err


def _sniff(head: bytes) -> str:
    text = head.lstrip().lower()
    if text.startswith((b"<?xml", b"<svg")) and b"<svg" in text:
        return " It looks like an SVG drawing; export it as PNG first."
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return (
            " It looks like a web page (HTML), not a picture: the link probably pointed to "
            "the page around the image; download the image itself."
        )
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:256]):
        return " It looks like a text file."
    return ""


def _load_file(source: Path | Any, max_pixels: int | None, draft_size: int | None) -> Image.Image:
    """Open a path or a binary file object with Pillow; each failure becomes a clear ``ImageLoadError``."""
    if isinstance(source, Path) and not source.exists():
        where = "" if source.is_absolute() else f" (relative to the current folder {Path.cwd()})"
        raise FileNotFoundError(
            f"Image file not found: '{source}'{where}. Check the name and folder, or use "
            f"load_sample(name) for a bundled photo ({', '.join(SAMPLES)})."
        )
    if isinstance(source, Path) and source.is_dir():
        raise ImageLoadError(
            f"'{source}' is a folder, not an image file. Pass the path of one JPEG or PNG file in it.", source
        )
    path = source if isinstance(source, Path) else getattr(source, "name", None)
    shown = f"Image file '{path}'" if isinstance(path, (str, Path)) else "The image file object"
    try:
        with Image.open(source) as opened:
            return _finish_pil(opened, max_pixels, shown, path, draft_size)
    except Image.DecompressionBombError as err:
        raise ImageLoadError(
            f"{shown} is too large for PIL ({err}). If you trust it, raise PIL.Image.MAX_IMAGE_PIXELS "
            "as well as max_pixels, or shrink the image first.", path
        ) from err
    except UnidentifiedImageError as err:
        try:  # the first bytes tell a web page or a text file apart
            if not isinstance(source, Path):
                source.seek(0)
            head = source.read_bytes()[:512] if isinstance(source, Path) else source.read(512)
        except (OSError, ValueError):
            head = b"?"
        kind = "an empty file" if not head else "not an image PIL can read"
        raise ImageLoadError(
            f"{shown} is {kind}.{_sniff(head)} Use a JPEG, PNG, GIF, BMP, TIFF or WebP file "
            "(a renamed file does not change its format).", path
        ) from err


def load_image(
    source: ImageSource, *, max_pixels: int | None = Image.MAX_IMAGE_PIXELS, min_size: int | None = None
) -> Image.Image:
    """Load anything image-like as a new RGB PIL image, upright if the file has an EXIF orientation.

    Args:
        source: a path or an open binary file; a ``PIL.Image.Image`` in any mode (not modified);
            a NumPy array ``(H, W)`` or ``(H, W, C)``; a torch tensor ``(C, H, W)``, ``(H, W, C)``,
            ``(H, W)`` or a batch of one, on any device. ``C`` is 1, 3 or 4; values are ``uint8``,
            ``uint16``, ``bool``, other integers in 0..255 or float in ``[0, 1]``. Grayscale and
            1-bit become gray; transparency (``LA``, ``RGBA``, transparent palettes, 4 channels) is
            composited on white; 16-bit is scaled to 8 bit (65535 -> 255); CMYK is converted.
        max_pixels: refuse images with more than ``width * height`` pixels (default: PIL's
            ``Image.MAX_IMAGE_PIXELS``, 89,478,485); ``None`` switches the check off.
        min_size: ``None`` (default) keeps the full size. An int lets a big image come back
            smaller, its short side still >= ``min_size``: JPEG files are decoded at 1/2, 1/4 or
            1/8 scale (Pillow's draft mode: fast, little memory), others reduced by an integer factor.

    Raises:
        FileNotFoundError: the path does not exist.
        ImageLoadError: (a ``ValueError``) not an image, truncated or corrupt, or over ``max_pixels``.
        ValueError: an array or tensor of the wrong shape, or with NaN or out-of-range values.
        TypeError: anything else.
    """
    if isinstance(source, (str, os.PathLike)):
        source = Path(source).expanduser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels is checked instead
        if isinstance(source, Image.Image):  # no draft mode here: it would change the caller's image
            name = getattr(source, "filename", None) or None
            img = _finish_pil(source, max_pixels, f"Image '{name}'" if name else "The PIL image", name)
        elif isinstance(source, (np.ndarray, torch.Tensor)):
            unit = _unit_rgb(source, max_pixels)  # (H, W, 3) float in [0, 1]
            img = Image.fromarray(np.round(unit * 255.0).astype(np.uint8))
        elif isinstance(source, Path) or hasattr(source, "read"):
            img = _load_file(source, max_pixels, draft_size=min_size)
        else:
            raise TypeError(f"Cannot load an image from a {type(source).__name__}. {_WHAT_WORKS}.")
    factor = min(img.size) // min_size if min_size else 1  # the largest keeping the short side >= min_size
    return img.reduce(factor) if factor >= 2 else img  # box filter


def preprocess(
    images: ImageSource | Sequence[ImageSource],
    transform: Callable[[Image.Image], torch.Tensor],
    device: torch.device | str | None = None,
    *,
    min_size: int | None = DECODE_MIN_SIZE,
) -> torch.Tensor:
    """Turn one image or a list of images, each anything :func:`load_image` accepts, into a batch.

    Args:
        transform: RGB PIL image -> float tensor ``(3, H, W)`` of one fixed size, e.g. the
            preprocessing returned with a model (resize, crop, ``ToTensor``, normalise).
        device: where to put the batch; ``None`` leaves it where ``transform`` put it.
        min_size: big photos are loaded small, short side still >= this (see :func:`load_image`).

    Returns:
        A tensor of shape ``(B, 3, H, W)``; ``B = 1`` for a single image.
    """
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise ValueError("preprocess got an empty list of images; pass at least one image.")
    tensors = []
    for index, item in enumerate(items):
        out = transform(load_image(item, min_size=min_size))
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"transform returned a {type(out).__name__} for image {index}; it must return "
                "a torch tensor of shape (3, H, W) (end it with transforms.ToTensor())."
            )
        if out.ndim != 3 or out.shape[0] != 3:
            raise ValueError(
                f"transform returned a tensor of shape {tuple(out.shape)} for image {index}; "
                "expected (3, H, W)."
            )
        tensors.append(out)
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(
            f"transform gave images of different shapes {sorted(shapes)}; it must produce one "
            "fixed size (e.g. Resize(256) followed by CenterCrop(224))."
        )
    return torch.stack(tensors).to(device)  # device=None: where transform put it


def denormalize(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo a model's input normalisation (x - mean) / std: (B, 3, H, W) -> the same, clamped to [0, 1].

    The result is what :func:`to_display_array` (and so every plot of :mod:`cam_helpers.viz`) takes.
    """
    mean_ = torch.as_tensor(mean, dtype=batch.dtype, device=batch.device).view(-1, 1, 1)  # (3, 1, 1)
    std_ = torch.as_tensor(std, dtype=batch.dtype, device=batch.device).view(-1, 1, 1)
    return (batch * std_ + mean_).clamp(0, 1)


def to_display_array(image_or_tensor: ImageSource, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Make an image ready for ``plt.imshow`` or for overlaying a map.

    Args:
        image_or_tensor: anything :func:`load_image` accepts, e.g. a ``(3, H, W)`` tensor in
            ``[0, 1]`` (``ToTensor()``'s output, before normalisation). Tensors and arrays keep
            their full precision (no rounding to 8 bit).
        size: ``None`` keeps the size; an int ``s`` resizes to ``s x s`` (no cropping, so it lines
            up with a ``(s, s)`` CAM upsampled to the model input); a pair means ``(height, width)``.
            Resampling is bilinear.

    Returns:
        A ``float32`` NumPy array of shape ``(H, W, 3)`` with values in ``[0, 1]``.
    """
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    if size is not None and not (isinstance(pair, Sequence) and len(pair) == 2 and min(pair) > 0):
        raise ValueError(f"size must be a positive int or a (height, width) pair, got {size!r}")
    if isinstance(image_or_tensor, (np.ndarray, torch.Tensor)):
        rgb = _unit_rgb(image_or_tensor, max_pixels=None)  # (H, W, 3)
    else:
        rgb = np.asarray(load_image(image_or_tensor, max_pixels=None)) / 255.0  # (H, W, 3)
    target = rgb.shape[:2] if size is None else (int(pair[0]), int(pair[1]))
    if target != rgb.shape[:2]:
        chw = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)  # (3, H, W)
        rgb = resize(chw, list(target), antialias=True).permute(1, 2, 0).numpy()  # (h, w, 3)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)
