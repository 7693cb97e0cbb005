"""The CAM math (Zhou et al., CVPR 2016), batched, on whatever device the tensors live.

For a network whose head is  conv features -> global average pooling -> FC,
the class activation map of class c is the FC-weighted sum of the feature maps:

    M_c(x, y) = sum_k w_k^c f_k(x, y)

and, because averaging and weighing commute, the logit is its spatial mean:

    logit_c = mean_(x, y) M_c(x, y) + b_c

Shapes used throughout:
    features  (B, C, h, w)   output of the last conv stage, e.g. (B, 512, 7, 7)
    fc_weight (K, C)         weight of the final Linear layer, e.g. (1000, 512)
    maps      (B, n, h, w)   one map per image and chosen class
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .classifier import resolve_classes

__all__ = [
    "class_activation_maps",
    "all_class_maps",
    "normalize_maps",
    "upsample_maps",
    "upsample_and_normalize",
    "logits_from_maps",
]


def all_class_maps(
    features: torch.Tensor,
    fc_weight: torch.Tensor,
    fc_bias: torch.Tensor | None = None,
    *,
    relu: bool = False,
) -> torch.Tensor:
    """Maps for all K classes at once, with one einsum.

    Args:
        features: (B, C, h, w)
        fc_weight: (K, C)
        fc_bias: (K,) or None. When given, b_c is added at every position,
            so that the spatial mean of the map is exactly the logit.
        relu: clamp negative evidence to zero.

    Returns:
        maps: (B, K, h, w)
    """
    _check_features(features, fc_weight)
    maps = torch.einsum("bchw,kc->bkhw", features, fc_weight.to(features.dtype))  # (B, K, h, w)
    if fc_bias is not None:
        maps = maps + fc_bias.to(maps.dtype).view(1, -1, 1, 1)  # mean over (x, y) is now the logit
    return maps.clamp_min(0) if relu else maps


def class_activation_maps(
    features: torch.Tensor,
    fc_weight: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | Sequence[Sequence[int]] | int | None = None,
    fc_bias: torch.Tensor | None = None,
    *,
    relu: bool = False,
) -> torch.Tensor:
    """Maps for chosen classes, per image; all classes when ``classes`` is None.

    ``features`` (B, C, h, w), ``fc_weight`` (K, C), ``fc_bias`` and ``relu`` are those of
    :func:`all_class_maps`. ``classes``: None (all K classes), an int (the same class for every
    image), a list of n ints (the same n classes for every image), or a (B, n) tensor / nested
    list (each image its own n classes): the rules of :func:`cam_helpers.classifier.resolve_classes`
    (indices only: the FC weight knows no class names).

    Returns:
        maps: (B, n, h, w) in the order of ``classes`` ((B, K, h, w) for None).
    """
    if classes is None:
        return all_class_maps(features, fc_weight, fc_bias, relu=relu)
    _check_features(features, fc_weight)
    batch = features.shape[0]
    index = resolve_classes(classes, batch, fc_weight.shape[0]).to(features.device)  # (B, n)
    chosen_weight = fc_weight.to(features.dtype)[index]  # (B, n, C)
    maps = torch.einsum("bchw,bnc->bnhw", features, chosen_weight)  # (B, n, h, w)
    if fc_bias is not None:
        maps = maps + fc_bias.to(maps.dtype)[index][..., None, None]
    return maps.clamp_min(0) if relu else maps


def normalize_maps(maps: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Min-max normalise each map to [0, 1] on its own: (..., h, w) -> (..., h, w).

    A constant map (max - min <= eps) becomes all zeros instead of NaN:
    dividing by a zero range is the classic source of blank or NaN overlays.
    """
    flat = maps.flatten(-2)  # (..., h*w)
    low = flat.min(dim=-1, keepdim=True).values
    span = flat.max(dim=-1, keepdim=True).values - low
    safe_span = torch.where(span > eps, span, torch.ones_like(span))
    scaled = torch.where(span > eps, (flat - low) / safe_span, torch.zeros_like(flat))
    return scaled.view_as(maps)


def upsample_maps(
    maps: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear"
) -> torch.Tensor:
    """Resize maps (B, n, h, w) to (B, n, H, W), e.g. 7x7 -> 224x224.

    ``mode`` is "bilinear" (smooth, the usual choice) or "nearest" (shows the
    coarse grid that the map really has).
    """
    if isinstance(size, int):
        size = (size, size)
    if maps.dim() != 4:
        raise ValueError(f"maps must be (B, n, h, w); got shape {tuple(maps.shape)}")
    if mode == "nearest":
        return F.interpolate(maps, size=size, mode="nearest")
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(maps, size=size, mode=mode, align_corners=False)
    raise ValueError(f"mode must be 'bilinear', 'bicubic' or 'nearest'; got {mode!r}")


def upsample_and_normalize(
    maps: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear"
) -> torch.Tensor:
    """Maps ready to overlay: (B, n, h, w) -> (B, n, H, W), each min-max normalised to [0, 1]."""
    return normalize_maps(upsample_maps(maps, size, mode=mode))


def logits_from_maps(maps: torch.Tensor) -> torch.Tensor:
    """Spatial mean of maps made with the bias: (B, n, h, w) -> (B, n) logits."""
    return maps.mean(dim=(-2, -1))


def _check_features(features: torch.Tensor, fc_weight: torch.Tensor) -> None:
    if features.dim() != 4:
        raise ValueError(
            f"features must be a batch of feature maps (B, C, h, w); got shape "
            f"{tuple(features.shape)}. Add a batch dimension with .unsqueeze(0)."
        )
    if fc_weight.dim() != 2 or fc_weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"the FC weight {tuple(fc_weight.shape)} does not fit features with "
            f"{features.shape[1]} channels: CAM needs a weight (K, C) with C = "
            f"{features.shape[1]}. Is this the layer right before global average pooling?"
        )
