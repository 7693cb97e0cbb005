"""Finding the CAM layers of any model, or saying plainly why CAM does not apply.

CAM needs conv features (B, C, h, w) -> global average pooling -> ONE Linear
layer whose weight (K, C) gives one class weight per channel. :func:`find_cam_layers`
runs the model once on a random input, records every module's output, and
checks the CAM identity numerically: ``fc(mean_(x, y) features) == logits``.
A model that passes is one for which CAM is exact.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .hooks import capture

__all__ = ["CAMNotApplicableError", "find_cam_layers"]

_USE_GRAD_CAM = "Use Grad-CAM (cam_helpers.gradcam), which works on any conv layer."
FLATTEN_REASON = (
    "CAM does not apply to this model: its head flattens the feature maps into "
    "{features} numbers before the Linear layer, so each FC weight belongs to one "
    "channel at one position and there is no per-channel class weight to sum the maps "
    f"with. {_USE_GRAD_CAM}"
)
# Modules that may sit between the feature maps and the FC layer without changing the identity.
_POOL_TYPES = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)


class CAMNotApplicableError(ValueError):
    """CAM needs conv features -> global average pooling -> one Linear layer."""


# (name, module, a copy of its output) for every module, in the order the modules finished.
_Record = tuple[str, nn.Module, torch.Tensor]


def find_cam_layers(model: nn.Module, *, input_size: int = 224, model_name: str | None = None) -> dict:
    """Find the layer feeding global average pooling and the final Linear layer.

    Returns dict(feature_layer=..., fc_layer=..., feature_activation=None | torch.relu), the
    :class:`~cam_helpers.classifier.Classifier` fields of those names; raises
    :class:`CAMNotApplicableError` saying why, pointing to Grad-CAM. The model's train/eval
    flags, hooks and the global random state are left as they were.
    """
    return cam_layers_and_shape(model, input_size=input_size, model_name=model_name)[0]


def cam_layers_and_shape(
    model: nn.Module, *, input_size: int = 224, model_name: str | None = None
) -> tuple[dict, tuple[int, int, int]]:
    """:func:`find_cam_layers` and the shape (C, h, w) of the feature maps it found."""
    label = model_name or type(model).__name__
    records, logits = _record_every_output(model, input_size)
    fc_index = _final_linear(records, logits, label)
    _refuse_hidden_linears(records, fc_index, label)
    feature_index = _feature_maps(records, fc_index, label)
    _check_head_is_gap_linear(records, feature_index, fc_index, label)
    activation = _identity_activation(records, feature_index, fc_index, logits, label)
    feature_name, _, features = records[feature_index]
    layers = dict(feature_layer=feature_name, fc_layer=records[fc_index][0], feature_activation=activation)
    return layers, tuple(features.shape[1:])


def _record_every_output(model: nn.Module, input_size: int) -> tuple[list[_Record], torch.Tensor]:
    """One forward pass on a random (2, 3, S, S) batch, recording every module's output.

    :func:`cam_helpers.hooks.capture` on every named module does it: copies (a later in-place op,
    DenseNet's F.relu(..., inplace=True), would change the output), in the order the modules
    finished, eval mode and no gradient during the pass, every hook removed after it.
    """
    modules = {name: module for name, module in model.named_modules() if name}
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(0)  # private: the global RNG is not touched
    x = torch.randn(2, 3, input_size, input_size, device=device, generator=generator)
    with capture(model, list(modules)) as captured:
        logits = model(x)  # (2, K)
    return [(name, modules[name], output) for name, output in captured.order], logits


def _final_linear(records: list[_Record], logits: torch.Tensor, label: str) -> int:
    """Index of the last Linear layer, which must produce the logits themselves."""
    fc_index = max((i for i, (_, m, _) in enumerate(records) if isinstance(m, nn.Linear)), default=None)
    if fc_index is None:
        raise CAMNotApplicableError(
            f"{label} has no nn.Linear layer, so there are no class weights for CAM. {_USE_GRAD_CAM}"
        )
    fc_name, _, fc_out = records[fc_index]
    if fc_out.shape != logits.shape or not torch.allclose(fc_out, logits):
        raise CAMNotApplicableError(
            f"In {label} the last Linear layer ({fc_name}) is not the final output; "
            "something transforms its result, so its weights are not the class weights "
            f"CAM needs. {_USE_GRAD_CAM}"
        )
    return fc_index


def _refuse_hidden_linears(records: list[_Record], fc_index: int, label: str) -> None:
    """Hidden FC layers: another Linear after the last feature maps (VGG, AlexNet, MobileNetV3)."""
    last_4d = max((i for i, (_, _, o) in enumerate(records[:fc_index]) if o.dim() == 4), default=0)
    hidden = [n for n, m, _ in records[last_4d:fc_index] if isinstance(m, nn.Linear)]
    if hidden:
        raise CAMNotApplicableError(
            f"CAM does not apply exactly to {label}: after pooling, the features pass through "
            f"hidden fully connected layers ({', '.join(hidden)}) with non-linearities before "
            f"the final one ({records[fc_index][0]}), so no single class weight per channel exists. "
            + _USE_GRAD_CAM
        )


def _feature_maps(records: list[_Record], fc_index: int, label: str) -> int:
    """Index of the last module giving a 4D output with h * w > 1 before the FC layer."""
    before_fc = list(enumerate(records[:fc_index]))
    spatial = [i for i, (_, _, o) in before_fc if o.dim() == 4 and o.shape[-1] * o.shape[-2] > 1]
    if not spatial:
        raise CAMNotApplicableError(
            f"{label} has no spatial feature maps before its final layer {records[fc_index][0]}; "
            f"CAM needs conv features (B, C, h, w). {_USE_GRAD_CAM}"
        )
    # Modules that return the same tensor (layer4.1.relu, layer4.1, layer4) finish innermost first,
    # so the last record is the outermost of them: the name a learner knows ("layer4").
    return spatial[-1]


def _check_head_is_gap_linear(records: list[_Record], feature_index: int, fc_index: int, label: str) -> None:
    """The FC layer must take C inputs (one per channel), not C * h * w (a flatten head)."""
    feature_name, _, features = records[feature_index]
    fc_name, fc = records[fc_index][:2]
    _, c, h, w = features.shape
    if fc.in_features == c * h * w and h * w > 1:
        raise CAMNotApplicableError(FLATTEN_REASON.format(features=fc.in_features))
    if fc.in_features != c:
        raise CAMNotApplicableError(
            f"In {label} the final layer {fc_name} expects {fc.in_features} inputs but the "
            f"last feature maps ({feature_name}) have {c} channels, so the head is not "
            f"global average pooling -> Linear. {_USE_GRAD_CAM}"
        )


def _identity_activation(
    records: list[_Record], feature_index: int, fc_index: int, logits: torch.Tensor, label: str
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Check logits == fc(mean_(x, y) f(features)) for f = identity, then f = ReLU; return f."""
    feature_name, _, features = records[feature_index]
    fc = records[fc_index][1]
    for activation in (None, torch.relu):
        feats = features if activation is None else activation(features)  # (B, C, h, w)
        predicted = nn.functional.linear(feats.mean(dim=(2, 3)), fc.weight, fc.bias)  # (B, K)
        # Relative to the logits' scale: random-weight models have tiny logits.
        if (predicted - logits).abs().max() <= 1e-4 * logits.abs().max() + 1e-7:
            return activation
    head = records[feature_index + 1 : fc_index]
    between = [type(m).__name__ for _, m, _ in head if not isinstance(m, _POOL_TYPES)]
    detail = f" ({', '.join(dict.fromkeys(between))} between pooling and the FC layer)" if between else ""
    raise CAMNotApplicableError(
        f"CAM does not apply exactly to {label}: the logits are not the FC layer applied to "
        f"the spatial mean of {feature_name}{detail}, so the class map would not add up to "
        "the logit. " + _USE_GRAD_CAM
    )
