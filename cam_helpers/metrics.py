"""Is the map about the model? Is the model about the map? Two kinds of checks.

*Sanity check* (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): re-initialise
the model's layers one by one from the top (cascading randomisation). A map that explains the
model must change as the model is destroyed; a map that stays the same (high rank correlation
with the original) is showing the image, not the model.

*Faithfulness* (Petsiuk et al., "RISE", BMVC 2018): remove the pixels the map calls most important
first (deletion) and the class probability should fall fast; add them first to an uninformative
image (insertion) and it should rise fast. The area under each curve summarises it: low for
deletion, high for insertion is good.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from scipy.stats import rankdata
from torch import nn

from .cam import upsample_maps
from .hooks import eval_mode
from .train import seeded

__all__ = [
    "layers_top_down", "cascade_randomize", "rank_correlation",
    "deletion_curve", "insertion_curve", "curve_area",
]


def layers_top_down(model: nn.Module) -> list[str]:
    """Names of the model's conv and linear layers, from the output back to the input.

    For :class:`cam_helpers.train.GAPNet`: ``["fc", "features.3.0", "features.2.0", ...]``,
    the order in which :func:`cascade_randomize` destroys them.
    """
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))][::-1]


def cascade_randomize(
    model: nn.Module, layer_names_from_top: Sequence[str], seed: int = 0
) -> Iterator[tuple[str, nn.Module]]:
    """Copies of ``model`` with more and more layers re-initialised, from the top down.

    The k-th copy has the first k layers of ``layer_names_from_top`` reset to fresh random weights
    (their ``reset_parameters()``, the same init as a new model), the rest untouched. The original
    model is never changed.

    Args:
        layer_names_from_top: e.g. ``layers_top_down(model)`` or ``["fc", "features.3", ...]``;
            a name may be a block: every layer inside it is reset.
        seed: fixes the random weights (the global random state is not touched).
    Yields:
        (name of the layer just randomised, model copy in eval mode)
    """
    randomized = copy.deepcopy(model).eval()
    modules = dict(randomized.named_modules())
    missing = [name for name in layer_names_from_top if name not in modules]
    if missing:
        raise ValueError(f"the model has no layers named {missing}; see layers_top_down(model)")
    for step, name in enumerate(layer_names_from_top):
        with seeded(seed + step):
            resettable = [m for m in modules[name].modules() if hasattr(m, "reset_parameters")]
            if not resettable:
                raise ValueError(f"layer {name!r} has nothing to re-initialise (no reset_parameters)")
            for module in resettable:
                module.reset_parameters()
        # A fresh copy for the caller, so that keeping one does not see later steps.
        yield name, copy.deepcopy(randomized)


def rank_correlation(maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps; tied values get their average rank.

    Maps (B, h, w), or (B, ...) of any shape, one map per row, the same shape for both
    -> (B,) in [-1, 1]; 0 where a map is constant (no ranking to compare).
    """
    if maps_a.shape != maps_b.shape:
        raise ValueError(f"maps must have the same shape; got {tuple(maps_a.shape)}, {tuple(maps_b.shape)}")
    # Pearson's correlation of the ranks is the cosine of the centred ranks (0 for an all-zero row).
    return F.cosine_similarity(_centred_ranks(maps_a), _centred_ranks(maps_b), dim=1)  # (B,)


@torch.no_grad()
def deletion_curve(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    target_classes: torch.Tensor | Sequence[int] | int,
    steps: int = 20,
    baseline: str = "zero",
) -> torch.Tensor:
    """Probability of the target class as the most important pixels are removed.

    Step k of ``steps`` replaces the top ``k / steps`` of the pixels, ranked by
    the map (upsampled to the image), with the ``baseline``: ``"zero"`` (black, as
    in RISE's deletion metric) or ``"blur"`` (see :func:`_replacement_images`).

    Args:
        model: classifier (B, 3, H, W) -> logits (B, K); run in eval mode, without gradients.
        images: (B, 3, H, W) on the model's device
        maps: (B, h, w) importance of each position
        target_classes: (B,) or an int, the class whose probability is recorded
    Returns:
        (B, steps + 1) probabilities; column 0 is the intact image.
    """
    removed = _replacement_images(images, baseline)  # (B, 3, H, W)
    return _pixel_swap_curve(model, images, removed, maps, target_classes, steps)


@torch.no_grad()
def insertion_curve(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    target_classes: torch.Tensor | Sequence[int] | int,
    steps: int = 20,
    baseline: str = "blur",
) -> torch.Tensor:
    """Probability of the target class as the most important pixels are put back, the
    reverse of :func:`deletion_curve` (same arguments): it starts from the ``baseline``, by
    default a blurred copy as in RISE's insertion metric, with the colours but no shapes.

    Returns:
        (B, steps + 1) probabilities; column 0 is the baseline, the last the intact image.
    """
    start = _replacement_images(images, baseline)  # (B, 3, H, W)
    return _pixel_swap_curve(model, start, images, maps, target_classes, steps)


def curve_area(curve: torch.Tensor) -> torch.Tensor:
    """Area (B,) under each curve (B, S + 1), by the trapezoid rule with x spread evenly
    over [0, 1]; between 0 and 1 for probability curves."""
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[-1] - 1), dim=-1)


def _replacement_images(images: torch.Tensor, baseline: str, sigma: float | None = None) -> torch.Tensor:
    """What removed pixels (B, 3, H, W) are replaced by: ``"zero"``, black, or ``"blur"``, a
    Gaussian blur with ``sigma`` (default: side / 16, e.g. 4 pixels at 64x64, 14 at 224x224),
    which wipes out shapes but keeps colours."""
    if baseline == "zero":
        return torch.zeros_like(images)
    if baseline == "blur":
        sigma = sigma or max(images.shape[-2:]) / 16
        # A kernel of +-3 sigma, but narrower than the image: reflected borders need radius < side.
        radius = max(1, min(math.ceil(3 * sigma), min(images.shape[-2:]) - 1))
        return TF.gaussian_blur(images, kernel_size=[2 * radius + 1] * 2, sigma=[sigma, sigma])
    raise ValueError(f"baseline must be 'zero' or 'blur'; got {baseline!r}")


def _pixel_swap_curve(
    model: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    maps: torch.Tensor,
    target_classes: torch.Tensor | Sequence[int] | int,
    steps: int,
) -> torch.Tensor:
    """Target-class probabilities (B, steps + 1) while the pixels of ``start`` (B, 3, H, W)
    turn into those of ``end``, the most important (by ``maps``) first."""
    b, _, h, w = start.shape
    n = h * w
    if maps.dim() != 3 or maps.shape[0] != b:
        raise ValueError(
            f"maps must be (B, h, w) with B = {b}; got shape {tuple(maps.shape)}. "
            "For one class per image from (B, 1, h, w) maps, pass maps[:, 0]."
        )
    maps = upsample_maps(maps.to(start.device).float().unsqueeze(1), (h, w)).squeeze(1)  # (B, H, W)
    target = torch.as_tensor(target_classes, device=start.device).long().expand(b)  # (B,)

    # rank[p] = 0 for the most important pixel, n - 1 for the least; a stable
    # sort breaks ties by position, so the result is deterministic.
    order = maps.reshape(b, n).sort(dim=1, descending=True, stable=True).indices  # (B, n) pixel indices
    rank = order.argsort(dim=1).view(b, 1, h, w)  # the inverse permutation: each pixel's place in the order
    counts = torch.linspace(0, n, steps + 1).round().long().tolist()

    probabilities = []
    with eval_mode(model):
        for count in counts:  # one forward pass per step, batched over images
            x = torch.where(rank < count, end, start)  # the top `count` pixels swapped
            p = model(x).softmax(dim=1)  # (B, K)
            probabilities.append(p.gather(1, target.view(-1, 1)).squeeze(1))
    return torch.stack(probabilities, dim=1)  # (B, steps + 1)


def _centred_ranks(maps: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B, n) ranks within each map, ties sharing their average rank, minus their mean."""
    ranks = rankdata(maps.detach().reshape(len(maps), -1).float().cpu().numpy(), axis=1)  # (B, n) float64
    return torch.from_numpy(ranks - ranks.mean(axis=1, keepdims=True)).to(maps.device, torch.float32)
