"""Capturing the activations of named layers, and leaving the model clean.

Use it as a ``with`` block::

    with capture(model, ["layer4"]) as captured:
        logits = model(images)                  # (B, K)
    features = captured["layer4"]               # (B, 512, 7, 7) for ResNet18

Every hook is removed on exit, also when the block raises, and the model's
train/eval mode is put back to what it was before the block.

Gradients are *not* taken with backward hooks on modules: those break on
in-place ReLUs and leak easily. Instead, ask for ``keep_graph=True`` and call
``torch.autograd.grad(score, captured[name])`` on the captured tensor
(see :mod:`cam_helpers.gradcam`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["capture", "Captured", "resolve_layer", "layer_name", "count_hooks"]


def layer_name(model: nn.Module, layer: nn.Module) -> str:
    """The dotted name of ``layer`` inside ``model`` (``""`` for the model itself)."""
    for name, module in model.named_modules():
        if module is layer:
            return name
    raise ValueError(
        f"the module {type(layer).__name__} is not part of this model; "
        "pass a layer of the same model object, or its name as a string"
    )


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Turn a layer name (``"layer4"``) or module into ``(name, module)``.

    An unknown name raises a ``ValueError`` that lists the close matches and
    the top-level children, so a learner sees what would work.
    """
    if isinstance(layer, nn.Module):
        return layer_name(model, layer), layer
    modules = dict(model.named_modules())
    if layer in modules:
        return layer, modules[layer]
    import difflib

    close = difflib.get_close_matches(layer, list(modules), n=5, cutoff=0.5)
    children = [name for name, _ in model.named_children()]
    hint = f" Close names: {', '.join(close)}." if close else ""
    raise ValueError(
        f"The model {type(model).__name__} has no layer named {layer!r}.{hint} "
        f"Its top-level layers are: {', '.join(children)}. "
        "Nested layers are written with dots, for example 'layer4.1.conv2'."
    )


def count_hooks(model: nn.Module) -> int:
    """How many forward/backward hooks are registered on ``model`` and its layers."""
    total = 0
    for module in model.modules():
        total += len(module._forward_hooks) + len(module._forward_pre_hooks)
        total += len(module._backward_hooks) + len(getattr(module, "_backward_pre_hooks", {}))
    return total


class Captured(dict):
    """The tensors captured in a :func:`capture` block, by layer name."""

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return super().__getitem__(name)
        except KeyError:
            raise KeyError(
                f"nothing was captured for layer {name!r}: did the model run inside the "
                f"with block, and does its forward pass use that layer? Captured: {list(self)}"
            ) from None


@contextmanager
def capture(
    model: nn.Module,
    layers: str | nn.Module | Iterable[str | nn.Module],
    *,
    keep_graph: bool = False,
    eval_mode: bool = True,
) -> Iterator[Captured]:
    """Record the output of each named layer during forward passes in the block.

    Args:
        model: any ``nn.Module``.
        layers: a layer name, a module, or several of them.
        keep_graph: keep the captured tensors attached to the autograd graph,
            so gradients can be taken with respect to them. Gradient recording
            is switched on for the block even if the caller is inside
            ``torch.no_grad()``. Otherwise the tensors are detached.
        eval_mode: put the model in eval mode for the block (the mode it had
            before is restored on exit).

    Yields:
        a :class:`Captured` dict: layer name -> tensor, e.g. ``(B, C, h, w)``.
        When a layer runs several times, the last output is kept.
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    named = [resolve_layer(model, layer) for layer in layers]

    captured = Captured()
    handles = []
    was_training = model.training

    def make_hook(name: str):
        def hook(_module: nn.Module, _inputs, output) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                    "choose a layer whose output is a feature map (B, C, h, w)"
                )
            if keep_graph:
                captured[name] = output
                # The next layers get a copy: an in-place op after this layer (ResNet's
                # ReLU(inplace=True), DenseNet's F.relu(..., inplace=True)) then changes
                # the copy, never the captured tensor or its autograd history.
                return output.clone()
            captured[name] = output.detach().clone()  # a copy, for the same reason
            return None

        return hook

    grad_context = torch.enable_grad() if keep_graph else torch.no_grad()
    try:
        for name, module in named:
            handles.append(module.register_forward_hook(make_hook(name)))
        if eval_mode:
            model.eval()
        with grad_context:
            yield captured
    finally:
        # Why a finally block: a failing forward pass must not leave hooks behind,
        # or every later call would capture twice (a classic CAM-code bug).
        for handle in handles:
            handle.remove()
        model.train(was_training)
