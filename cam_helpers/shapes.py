"""The source post's two shape tables, made from live tensors and compared with the post's.

Shapes are per image (the batch dimension is dropped), as in the post. The tables speak the
exercises' language: after ``exercises.set_language("ko")`` (the Korean notebooks' first cell) the
column heads, the title and the "what happens" texts are Korean; the steps keep their English names,
since code looks rows up by them (``table["flatten"]``), and the shapes are the same in both languages.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .cam import class_activation_maps, upsample_maps
from .classifier import Classifier
from .exercises import Text  # a message in English and Korean, shown in the language set_language chose
from .hooks import capture

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


# The column heads and the word for a step that cannot exist, in both languages.
_COLUMNS = (Text("step", "단계"), Text("shape", "데이터 형태"), Text("what happens", "하는 일"))
_NOT_POSSIBLE = Text("not possible", "불가능")


@dataclass
class ShapeTable:
    """The rows of a pipeline, in order (``len``, ``for row in table``, ``table["flatten"]``):
    HTML in a notebook, Markdown when printed.

    ``columns`` and ``not_possible`` are the words shown for the heads and for a missing shape; the
    pipeline functions fill them in the exercises' language.
    """

    title: str
    rows: list[ShapeRow]
    columns: tuple[str, str, str] = ("step", "shape", "what happens")
    not_possible: str = "not possible"

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

    def shown_shape(self, row: ShapeRow) -> str:
        """The shape as the table shows it: ``[512, 7, 7]``, or the word for "not possible"."""
        return self.not_possible if row.shape is None else _fmt(row.shape)

    def to_markdown(self) -> str:
        step, shape, what = self.columns
        lines = [f"**{self.title}**", "", f"| {step} | {shape} | {what} |", "|---|---|---|"]
        lines += [f"| {r.step} | {self.shown_shape(r)} | {r.what_happens} |" for r in self.rows]
        return "\n".join(lines)

    __repr__ = to_markdown  # print(table); @dataclass keeps a __repr__ defined here

    def _repr_html_(self) -> str:
        step, shape, what = (html.escape(head) for head in self.columns)
        body = "".join(
            f"<tr><td>{html.escape(r.step)}</td><td><code>{html.escape(self.shown_shape(r))}</code></td>"
            f"<td style='text-align:left'>{html.escape(r.what_happens)}</td></tr>"
            for r in self.rows
        )
        return (
            f"<table><caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>"
            f"<thead><tr><th>{step}</th><th>{shape}</th><th style='text-align:left'>{what}</th>"
            f"</tr></thead><tbody>{body}</tbody></table>"
        )


def _row(step: str, tensor: torch.Tensor, what_happens: Text, weight: torch.Tensor | None = None,
         **values: object) -> ShapeRow:
    """The row of a live ``tensor`` (1, ...): its shape per image, without the batch dimension, and
    ``what_happens`` in the exercises' language, filled with ``values``."""
    weight_shape = None if weight is None else tuple(weight.shape)
    return ShapeRow(step, tuple(tensor.shape[1:]), what_happens.format(**values), weight_shape)


def _table(title: Text, rows: list[ShapeRow]) -> ShapeTable:
    """A table whose title, column heads and "not possible" are in the exercises' language."""
    columns = tuple(head.format() for head in _COLUMNS)
    return ShapeTable(title.format(), rows, columns, _NOT_POSSIBLE.format())


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


# What happens at each step, in English and Korean; {placeholders} are filled from the live tensors.
_INPUT = Text("an RGB image, normalised", "정규화한 RGB 이미지")
_FEATURE_MAPS = Text("{channels} feature maps of {h}x{w}", "{h}×{w} 특징 맵 {channels}장")
_SOFTMAX = Text("scores -> probabilities that sum to 1", "점수 → 합이 1인 확률")
_FLATTEN = Text(
    "every value of every map in one long vector: positions are baked into the order",
    "모든 맵의 모든 값을 긴 벡터 하나에 늘어놓음: 위치는 벡터 속 순서로만 남음",
)
_FLATTEN_FC = Text(
    "one score per class; weight {fc_shape}, one weight per channel and per position",
    "클래스마다 점수 하나. 가중치 {fc_shape}: 채널과 위치마다 가중치가 하나씩",
)
_NO_CAM = Text(
    "no per-channel class weight exists, so no class map",
    "채널마다 하나인 클래스 가중치가 없으므로 클래스 맵도 만들 수 없음",
)
_GAP_FEATURE_MAPS = Text(
    "{channels} feature maps of {h}x{w}, f_k(x, y)", "{h}×{w} 특징 맵 {channels}장, f_k(x, y)"
)
_WEIGHTED_SUM = Text(
    "M_c(x, y) = sum_k w_k^c f_k(x, y) with class_weight {shape} of class '{name}'",
    "M_c(x, y) = sum_k w_k^c f_k(x, y). 클래스 '{name}'의 class_weight {shape}로 가중합",
)
_UPSAMPLED = Text("bilinear upsampling, to overlay on the image", "쌍선형 보간으로 업샘플링해 이미지 위에 겹침")
_GAP = Text("global average pooling: the mean of each feature map", "전역 평균 풀링: 특징 맵마다 평균 하나")
_GAP_FC = Text("one score per class; weight {fc_shape}", "클래스마다 점수 하나. 가중치 {fc_shape}")
_FLATTEN_TITLE = Text(
    "Traditional classifier: conv -> flatten -> FC -> softmax", "기존 분류기: conv → flatten → FC → softmax"
)
_GAP_TITLE = Text(
    "CAM-ready classifier: conv -> GAP -> FC -> softmax", "CAM을 쓸 수 있는 분류기: conv → GAP → FC → softmax"
)


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
    rows = [
        _row("input image", x, _INPUT),
        _row("last conv output", features, _FEATURE_MAPS, channels=channels, h=h, w=w),
        _row("flatten", flat, _FLATTEN),
        _row("fully connected", logits, _FLATTEN_FC, fc.weight, fc_shape=_fmt(fc.weight.shape)),
        _row("softmax", logits.softmax(-1), _SOFTMAX),
        ShapeRow("CAM", None, _NO_CAM.format()),
    ]
    return _table(_FLATTEN_TITLE, rows)


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
    class_weight = {"shape": _fmt(fc.weight.shape[1:]), "name": classifier.class_names[c]}
    rows = [
        _row("input image", x, _INPUT),
        _row("last conv output", features, _GAP_FEATURE_MAPS, channels=channels, h=h, w=w),
        _row("CAM (weighted sum)", cam, _WEIGHTED_SUM, **class_weight),
        _row("CAM upsampled", cam_big, _UPSAMPLED),
        _row("GAP", pooled, _GAP),
        _row("FC", logits, _GAP_FC, fc.weight, fc_shape=_fmt(fc.weight.shape)),
        _row("softmax", logits.softmax(-1), _SOFTMAX),
    ]
    return _table(_GAP_TITLE, rows)
