"""Capturing the activations of named layers, and leaving the model clean.

Use it as a ``with`` block::

    with capture(model, ["layer4"]) as captured:
        logits = model(images)                  # (B, K)
    features = captured["layer4"]               # (B, 512, 7, 7) for ResNet18

Every hook is removed on exit, also when the block raises, and every module's
train/eval flag is put back to what it was before the block (:func:`eval_mode`).

Gradients are *not* taken with backward hooks on modules: those break on
in-place ReLUs and leak easily. Instead, ask for ``start_graph=True`` and call
``torch.autograd.grad(score, captured[name])`` on the captured tensor
(see :mod:`cam_helpers.gradcam`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from .names import did_you_mean
from .tokens import TokenGrid

__all__ = ["capture", "Captured", "eval_mode", "resolve_layer", "count_hooks"]


@contextmanager
def eval_mode(model: nn.Module, train: bool = False) -> Iterator[nn.Module]:
    """Run a block with ``model.train(train)`` (eval mode by default), then restore every flag.

    Each module's own ``training`` flag is recorded and put back on exit, also
    after an exception, so a model in training with a frozen BatchNorm kept in
    eval mode comes back exactly as it was (``model.train(was_training)`` would
    switch that BatchNorm to training).
    """
    flags = [(module, module.training) for module in model.modules()]
    model.train(train)
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Turn a layer name (``"layer4"``) or module into ``(name, module)``.

    An unknown name raises a ``ValueError`` that suggests close names and lists
    the top-level children, so a learner sees what would work.
    """
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, layer
        raise ValueError(
            f"the module {type(layer).__name__} is not part of this model; "
            "pass a layer of the same model object, or its name as a string"
        )
    modules = dict(model.named_modules())
    if layer in modules:
        return layer, modules[layer]
    children = [name for name, _ in model.named_children()]
    raise ValueError(
        f"The model {type(model).__name__} has no layer named {layer!r}."
        f"{did_you_mean(layer, [name for name in modules if name])} "
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
    """The tensors captured in a :func:`capture` block: layer name -> its (last) output.

    Attributes:
        layers: the dotted names of the requested layers, in the order they were asked for.
        order: every (name, output) in the order the layers finished, a layer that runs twice twice.
        not_tensors: layer name -> the type of a non-tensor output (a tuple, a dict), not captured.
        token_grids: layer name -> the :class:`~cam_helpers.tokens.TokenGrid` (prefix and grid
            resolved) of a transformer layer whose tokens (B, N, D) were captured as maps (B, D, h, w).
    """

    def __init__(self, layers: list[str]) -> None:
        super().__init__()
        self.layers = layers
        self.order: list[tuple[str, torch.Tensor]] = []
        self.not_tensors: dict[str, str] = {}
        self.token_grids: dict[str, TokenGrid] = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return super().__getitem__(name)
        except KeyError:
            if name in self.not_tensors:
                raise KeyError(
                    f"layer {name!r} returns a {self.not_tensors[name]}, not a tensor; choose a layer "
                    "whose output is a feature map (B, C, h, w)"
                ) from None
            raise KeyError(
                f"nothing was captured for layer {name!r}: did the model run inside the "
                f"with block, and does its forward pass use that layer? Captured: {list(self)}"
            ) from None


@contextmanager
def capture(
    model: nn.Module,
    layers: str | nn.Module | Iterable[str | nn.Module],
    *,
    start_graph: bool = False,
    tokens: TokenGrid | None = None,
) -> Iterator[Captured]:
    """Record the output of each named layer during forward passes in the block.

    The model runs in eval mode inside the block, without recording a graph.

    Args:
        model: any ``nn.Module``.
        layers: a layer name, a module, or several of them.
        start_graph: make each captured output A the start of an autograd graph,
            so ``torch.autograd.grad(score, captured[name])`` works (Grad-CAM).
            The forward hook replaces A by ``A.detach().requires_grad_()`` and
            switches gradient recording on for the rest of the forward pass, so
            the backward pass stops at the layer: nothing below it (input,
            parameters) gets a gradient, and frozen parameters or the caller's
            ``torch.no_grad()`` / ``torch.inference_mode()`` do not matter.
            Otherwise the captured tensors are detached copies.
        tokens: read a layer whose output is tokens (B, N, D) (a transformer block) as a feature
            map (B, D, h, w) with this :class:`~cam_helpers.tokens.TokenGrid`; the extra tokens
            (a class token) are left out of the map. With ``start_graph`` the reshape happens
            inside the hook and the next layers see tokens rebuilt from the map, so a gradient
            with respect to the map is the gradient of the patch tokens. None: outputs as they are.

    Yields:
        a :class:`Captured` dict: layer name -> tensor, e.g. ``(B, C, h, w)``.
        When a layer runs several times, the last output is kept.
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    named = [resolve_layer(model, layer) for layer in layers]
    captured = Captured([name for name, _ in named])

    def make_hook(name: str):
        def hook(_module: nn.Module, _inputs, output):
            if not isinstance(output, torch.Tensor):  # a tuple or dict: named if someone asks for it
                captured.not_tensors[name] = type(output).__name__
                return None
            extra = None
            if tokens is not None and output.dim() == 3:  # tokens (B, N, D) of a transformer block
                prefix, h, w = tokens.layout(output.shape[1], f"layer {name!r}")  # or a clear error
                captured.token_grids[name] = TokenGrid(prefix=prefix, grid=(h, w))
                extra, output = captured.token_grids[name].split(output)  # (B, p, D), (B, D, h, w)
            if not start_graph:
                # A copy: an in-place op after this layer (ResNet's ReLU(inplace=True),
                # DenseNet's F.relu(..., inplace=True)) would otherwise change it.
                captured[name] = output.detach().clone()
                captured.order.append((name, captured[name]))
                return None
            if not output.requires_grad:
                # The graph starts here. (A later chosen layer usually already
                # requires grad, because it depends on an earlier one.)
                torch.set_grad_enabled(True)  # undone when the no_grad() block below ends
                output = output.detach().requires_grad_()  # (B, C, h, w)
            captured[name] = output
            captured.order.append((name, output))
            if extra is not None:  # the next layers see tokens made from the map: (B, N, D)
                return captured.token_grids[name].join(extra, output)
            return output.clone()  # what the next layers see (and may change in place)

        return hook

    handles = []
    try:
        for name, module in named:
            handles.append(module.register_forward_hook(make_hook(name)))
        # inference_mode(False): the graph can start even inside the caller's inference_mode().
        # no_grad(): nothing before the first chosen layer is recorded; on exit it restores
        # the caller's gradient mode, also after a hook switched it on.
        graph_mode = torch.inference_mode(False) if start_graph else nullcontext()
        with eval_mode(model), graph_mode, torch.no_grad():
            yield captured
    finally:
        # Why a finally block: a failing forward pass must not leave hooks behind,
        # or every later call would capture twice (a classic CAM-code bug).
        for handle in handles:
            handle.remove()
