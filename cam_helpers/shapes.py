"""The source post's two shape tables, made from live tensors and compared with the post's.

Shapes are per image (the batch dimension is dropped), as in the post.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .cam import class_activation_maps, upsample_maps
from .hooks import capture
from .classifier import Classifier

__all__ = [
    "ShapeRow", "ShapeTable", "flatten_pipeline_table", "gap_pipeline_table", "post_flatten_table",
    "post_gap_table", "POST_CLAIMED_FLATTEN_FC_WEIGHT",
]

# What the post writes for the flatten model's FC weight; the true one is [N, 25088].
POST_CLAIMED_FLATTEN_FC_WEIGHT = ("N_classes", 512)


@dataclass(frozen=True)
class ShapeRow:
    """One step of a pipeline: its name, the live shape, and what happens there."""

    step: str
    shape: tuple[int, ...] | None  # None: the step does not exist for this model
    what_happens: str
    weight_shape: tuple[int, ...] | None = None


@dataclass
class ShapeTable:
    """The rows of a pipeline, in order (``len``, ``for row in table``, ``table["flatten"]``):
    HTML in a notebook, Markdown when printed."""

    title: str
    rows: list[ShapeRow]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ShapeRow]:
        return iter(self.rows)

    def __getitem__(self, step: str) -> ShapeRow:
        for row in self.rows:
            if row.step == step:
                return row
        raise KeyError(f"no step {step!r}; steps: {[r.step for r in self.rows]}")

    def shapes(self) -> dict[str, tuple[int, ...] | None]:
        """step -> shape, e.g. {"input image": (3, 224, 224), ...}."""
        return {row.step: row.shape for row in self.rows}

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {row.step: row.weight_shape for row in self.rows if row.weight_shape is not None}

    def differences(self, expected: dict[str, tuple[int, ...] | None]) -> list[str]:
        """Readable differences against ``{step: shape}`` (empty list = equal)."""
        mine = self.shapes()
        problems = [f"missing step {s!r}" for s in expected if s not in mine]
        problems += [f"extra step {s!r}" for s in mine if s not in expected]
        problems += [
            f"{s}: live {_fmt(mine[s])} vs expected {_fmt(expected[s])}"
            for s in expected
            if s in mine and mine[s] != expected[s]
        ]
        return problems

    def to_markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| step | shape | what happens |", "|---|---|---|"]
        lines += [f"| {r.step} | {_fmt(r.shape)} | {r.what_happens} |" for r in self.rows]
        return "\n".join(lines)

    __repr__ = to_markdown  # print(table); @dataclass keeps a __repr__ defined here

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{html.escape(r.step)}</td><td><code>{html.escape(_fmt(r.shape))}</code></td>"
            f"<td style='text-align:left'>{html.escape(r.what_happens)}</td></tr>"
            for r in self.rows
        )
        return (
            f"<table><caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>"
            f"<thead><tr><th>step</th><th>shape</th><th style='text-align:left'>what happens</th>"
            f"</tr></thead><tbody>{body}</tbody></table>"
        )


def _row(step: str, tensor: torch.Tensor, what_happens: str, weight: torch.Tensor | None = None) -> ShapeRow:
    """The row of a live ``tensor`` (1, ...): its shape per image, without the batch dimension."""
    weight_shape = None if weight is None else tuple(weight.shape)
    return ShapeRow(step, tuple(tensor.shape[1:]), what_happens, weight_shape)


def _fmt(shape: tuple[int, ...] | None) -> str:
    return "not possible" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def post_flatten_table(num_classes: int = 1000) -> dict[str, tuple[int, ...] | None]:
    """The post's first table (ResNet18, 224x224), as {step: shape}."""
    return {
        "input image": (3, 224, 224),
        "last conv output": (512, 7, 7),
        "flatten": (25088,),
        "fully connected": (num_classes,),
        "softmax": (num_classes,),
        "CAM": None,
    }


def post_gap_table(num_classes: int = 1000) -> dict[str, tuple[int, ...] | None]:
    """The post's second table (ResNet18, 224x224), as {step: shape}."""
    return {
        "input image": (3, 224, 224),
        "last conv output": (512, 7, 7),
        "CAM (weighted sum)": (7, 7),
        "CAM upsampled": (224, 224),
        "GAP": (512,),
        "FC": (num_classes,),
        "softmax": (num_classes,),
    }


def _one_image(image: torch.Tensor | None, classifier: Classifier) -> torch.Tensor:
    if image is None:
        # Shapes need no real photo: a random input has the same shapes.
        size = classifier.input_size
        image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    if image.dim() == 3:
        image = image.unsqueeze(0)  # (1, 3, H, W)
    return image.to(classifier.device)


@torch.no_grad()
def flatten_pipeline_table(classifier: Classifier, image: torch.Tensor | None = None) -> ShapeTable:
    """conv -> flatten -> FC -> softmax, from live tensors.

    Args:
        classifier: a flatten-head model (``load_classifier("resnet18_flatten")``).
        image: (3, H, W) or (1, 3, H, W) preprocessed; None uses a random input.
    """
    x = _one_image(image, classifier)  # (1, 3, H, W)
    with capture(classifier.model, "layer4") as captured:
        logits = classifier.model(x)  # (1, N)
    features = captured["layer4"]  # (1, 512, 7, 7): the last conv stage
    flat = features.flatten(1)  # (1, 25088)
    fc = classifier.fc
    assert torch.allclose(fc(flat), logits, atol=1e-4), "the FC layer does not read the flattened trunk"
    channels, h, w = features.shape[1:]
    one_vector = "every value of every map in one long vector: positions are baked into the order"
    fc_text = f"one score per class; weight {_fmt(fc.weight.shape)}, one weight per channel *and position*"
    rows = [
        _row("input image", x, "an RGB image, normalised"),
        _row("last conv output", features, f"{channels} feature maps of {h}x{w}"),
        _row("flatten", flat, one_vector),
        _row("fully connected", logits, fc_text, fc.weight),
        _row("softmax", logits.softmax(-1), "scores -> probabilities that sum to 1"),
        ShapeRow("CAM", None, "no per-channel class weight exists, so no class map"),
    ]
    return ShapeTable("Traditional classifier: conv -> flatten -> FC -> softmax", rows)


@torch.no_grad()
def gap_pipeline_table(
    classifier: Classifier, image: torch.Tensor | None = None, class_index: int | None = None
) -> ShapeTable:
    """conv -> GAP -> FC -> softmax, with the CAM branch, from live tensors.

    Args:
        classifier: a GAP -> FC model (``load_classifier("resnet18")``).
        image: as in :func:`flatten_pipeline_table`.
        class_index: the class whose CAM is shown; default the top prediction.
    """
    from .explain import forward_with_features

    x = _one_image(image, classifier)  # (1, 3, H, W)
    logits, features = forward_with_features(classifier, x)  # (1, N), (1, C, h, w)
    fc = classifier.fc
    pooled = features.mean(dim=(2, 3))  # (1, C): global average pooling
    c = int(logits.argmax()) if class_index is None else class_index
    cam = class_activation_maps(features, fc.weight.detach(), [c])[:, 0]  # (1, h, w)
    cam_big = upsample_maps(cam.unsqueeze(1), tuple(x.shape[-2:]))[:, 0]  # (1, H, W)
    channels, h, w = features.shape[1:]
    class_weight = f"class_weight {_fmt(fc.weight.shape[1:])} of class '{classifier.class_names[c]}'"
    rows = [
        _row("input image", x, "an RGB image, normalised"),
        _row("last conv output", features, f"{channels} feature maps of {h}x{w}, f_k(x, y)"),
        _row("CAM (weighted sum)", cam, f"M_c(x, y) = sum_k w_k^c f_k(x, y) with {class_weight}"),
        _row("CAM upsampled", cam_big, "bilinear upsampling, to overlay on the image"),
        _row("GAP", pooled, "global average pooling: the mean of each feature map"),
        _row("FC", logits, f"one score per class; weight {_fmt(fc.weight.shape)}", fc.weight),
        _row("softmax", logits.softmax(-1), "scores -> probabilities that sum to 1"),
    ]
    return ShapeTable("CAM-ready classifier: conv -> GAP -> FC -> softmax", rows)
