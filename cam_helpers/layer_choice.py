"""Which layer should I explain? One table that measures it, instead of a rule of thumb.

For a trained model and images with true boxes (the synthetic shapes), :func:`compare_layers`
computes a CAM method's map of the true class at every layer asked for, and one row per layer:

- **resolution**: (h, w) of the map; a deeper layer gives a coarser map;
- **gradient norm**: the mean over the test images of ||d y_c / d A||, the size of the gradient of
  the true class's logit with respect to the layer's output A. 0 means the class score does not
  depend on this layer's output at all (a class-token ViT's last block: its patch tokens never
  reach the head), so every gradient method draws nothing there;
- **MaxBoxAccV2**: how well the map boxes the object, each IoU level's threshold chosen on the
  validation split and used on the test split (:func:`cam_helpers.localization.tuned_box_hits`);
- **deletion** (lower is better) and **insertion** (higher is better) areas: how fast the class
  probability falls when the pixels the map ranks first are removed, or rises when they are put
  back (:func:`cam_helpers.metrics.deletion_curve`, :func:`~cam_helpers.metrics.insertion_curve`).

Maps that come from no layer (attention rollout) join the same table through ``extra``. The table
prints as aligned text with column heads in the exercises' language (``exercises.set_language``),
and ``table.best("max_box_acc_v2")`` gives the row a sentence can be bound to.

    table = compare_layers(model, validation, test, ["features.1", "features.2", "features.3"])
    print(table)
    table.best("max_box_acc_v2").layer       # e.g. "features.2"
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .classifier import Classifier
from .exercises import Text  # a message in English and Korean, shown in the language set_language chose
from .gradcam import METHODS, cam_family, forward_for_gradcam, method_key, score_gradients
from .hooks import eval_mode, resolve_layer
from .localization import tuned_box_hits
from .metrics import curve_area, deletion_curve, insertion_curve
from .names import did_you_mean
from .synthetic import SyntheticShapes
from .tokens import TokenGrid

__all__ = ["LayerRow", "LayerTable", "compare_layers", "gradient_norms", "COLUMNS"]

MapFunction = Callable[[torch.Tensor], torch.Tensor]  # images (B, 3, H, W) -> maps (B, h, w) or (B, 1, h, w)

# The measured columns, and which way is better for each (the deletion area: lower).
_HIGHER_IS_BETTER = {
    "resolution": True, "gradient_norm": True, "max_box_acc_v2": True, "deletion": False, "insertion": True,
}
#: The columns :meth:`LayerTable.best` and :meth:`LayerTable.values` accept.
COLUMNS = tuple(_HIGHER_IS_BETTER)

# Column heads, in English and Korean (docs/glossary.md's terms), and the rest of the printed words.
_HEADS = {
    "layer": Text("layer", "층"),
    "resolution": Text("resolution", "해상도"),
    "gradient_norm": Text("gradient norm", "그래디언트 노름"),
    "max_box_acc_v2": Text("MaxBoxAccV2", "MaxBoxAccV2"),
    "deletion": Text("deletion ↓", "삭제 ↓"),
    "insertion": Text("insertion ↑", "삽입 ↑"),
}
_RESOLUTION = Text("{h}x{w}", "{h}×{w}")
_TITLE = Text(
    "{method} of the true class at each layer: {test} test images, "
    "thresholds tuned on {validation} validation images",
    "층마다 정답 클래스의 {method}: 테스트 이미지 {test}장, 임계값은 검증 이미지 {validation}장에서 고름",
)
_NO_GRADIENT = "-"  # an extra row's map comes from no layer: no gradient to measure


@dataclass(frozen=True)
class LayerRow:
    """One row of the table: a layer (or an extra map function) and what its maps measured.

    Attributes:
        layer: the layer's dotted name ("features.2", "blocks.3") or the extra row's name.
        resolution: (h, w) of its maps.
        gradient_norm: mean over the test images of ||d y_c / d A|| for the true class c; None for
            an extra row (no layer, no gradient).
        max_box_acc_v2: the mean of ``box_hits``: MaxBoxAccV2 with thresholds tuned on validation.
        deletion, insertion: mean areas under the deletion and insertion curves (``steps`` steps).
        box_hits: (N,) per test image, the share of the IoU levels its box passes (for paired comparisons).
    """

    layer: str
    resolution: tuple[int, int]
    gradient_norm: float | None
    max_box_acc_v2: float
    deletion: float
    insertion: float
    box_hits: torch.Tensor = field(repr=False, compare=False)


@dataclass
class LayerTable:
    """The rows of :func:`compare_layers`, in order: ``len``, ``for row in table``, ``table["features.2"]``.

    Printed (or shown in a notebook) as an aligned text table whose heads follow
    ``exercises.set_language``; ``method`` is the CAM method's label, ``num_validation`` and
    ``num_test`` the images behind the numbers, ``seconds`` the time :func:`compare_layers` took.
    """

    rows: list[LayerRow]
    method: str = "Grad-CAM"
    num_validation: int = 0
    num_test: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __getitem__(self, layer: str) -> LayerRow:
        for row in self.rows:
            if row.layer == layer:
                return row
        names = [row.layer for row in self.rows]
        raise KeyError(f"no row {layer!r}.{did_you_mean(layer, names)} Rows: {', '.join(names)}")

    def values(self, column: str) -> dict[str, float | tuple[int, int] | None]:
        """layer -> its value in ``column`` (one of :data:`COLUMNS`), e.g. ``table.values("deletion")``."""
        _check_column(column)
        return {row.layer: getattr(row, column) for row in self.rows}

    def best(self, column: str, among: Sequence[str] | None = None) -> LayerRow:
        """The row with the best value in ``column``: the highest, but the lowest for "deletion"
        (resolution: the most positions, h * w). Rows without a value (an extra row's gradient norm)
        are skipped; ``among`` limits the choice to these rows; ties go to the first row."""
        _check_column(column)
        rows = self.rows if among is None else [self[name] for name in among]
        scored = [(row, _sort_value(row, column)) for row in rows if getattr(row, column) is not None]
        if not scored:
            raise ValueError(f"no row has a value in {column!r}")
        sign = 1 if _HIGHER_IS_BETTER[column] else -1
        return max(scored, key=lambda pair: sign * pair[1])[0]  # max keeps the first of equal values

    def to_text(self) -> str:
        """The table as aligned text: a title line, the heads, one line a row."""
        heads = [head.format() for head in _HEADS.values()]
        lines = [heads] + [_cells(row) for row in self.rows]
        widths = [max(_display_width(line[i]) for line in lines) for i in range(len(heads))]
        title = _TITLE.format(method=self.method, test=self.num_test, validation=self.num_validation)
        text = [title]
        for number, line in enumerate(lines):
            # The layer name on the left, the numbers on the right, as a reader compares them.
            cells = [_pad(line[0], widths[0], left=True)] + [_pad(c, w) for c, w in zip(line[1:], widths[1:])]
            text.append("  ".join(cells).rstrip())
            if number == 0:
                text.append("  ".join("-" * width for width in widths))
        return "\n".join(text)

    __repr__ = to_text  # print(table) and a notebook's output; @dataclass keeps a __repr__ defined here


def compare_layers(
    model: nn.Module | Classifier,
    validation: SyntheticShapes,
    test: SyntheticShapes,
    layers: Sequence[str],
    *,
    method: str = "gradcam",
    tokens: TokenGrid | tuple[int, int] | None = None,
    extra: Mapping[str, MapFunction] | None = None,
    thresholds: torch.Tensor | Sequence[float] | None = None,
    steps: int = 16,
) -> LayerTable:
    """The "which layer" table of a trained model on images with true boxes: one row per layer,
    then one per ``extra`` map function.

    Args:
        model: a classifier (B, 3, H, W) -> logits (B, K), e.g. a trained GAPNet or SmallViT; run in
            eval mode (its mode is restored afterwards).
        validation: images, labels and true boxes for choosing the box thresholds (e.g. 100 images).
        test: the images the numbers are measured on (e.g. 150).
        layers: dotted layer names, e.g. ``["features.0", ..., "features.3"]`` or ``["blocks.0", ...]``.
        method: a key of :data:`cam_helpers.gradcam.METHODS` ("gradcam", "layercam", ...).
        tokens: how a transformer block's tokens (B, N, D) are read as a map (B, D, h, w); None infers
            the patch grid and a class token (see :class:`cam_helpers.tokens.TokenGrid`).
        extra: {row name: function(images (B, 3, H, W)) -> maps (B, h, w) or (B, 1, h, w)}, e.g.
            ``{"attention rollout": lambda x: attention_rollout(vit, x)}``; the maps of any method
            that is not a layer's CAM. Their gradient norm is shown as "-".
        thresholds: the map thresholds tried on the validation split; default ``linspace(0, 1, 21)``,
            notebook 08's.
        steps: of the deletion and insertion curves (08 uses 16).

    Returns:
        a :class:`LayerTable`.

    Cost per layer: two forward and backward passes of the validation and test images (the maps), plus
    2 * (steps + 1) forward passes of the test images (the curves); one more forward pass in all for
    the gradient norms.
    """
    start = time.perf_counter()
    extra = dict(extra or {})
    _check_request(model, validation, test, layers, method, extra)
    network = model.model if isinstance(model, Classifier) else model
    device = next(network.parameters()).device
    val_images, test_images = validation.images.to(device), test.images.to(device)  # (V, 3, H, W), (N, 3, H, W)
    val_labels, test_labels = validation.labels.to(device), test.labels.to(device)  # (V,), (N,)
    thresholds = torch.linspace(0, 1, 21) if thresholds is None else thresholds
    image_size = tuple(test_images.shape[-2:])  # (H, W): the boxes are in image pixels

    def row(name: str, val_maps: torch.Tensor, test_maps: torch.Tensor, gradient_norm: float | None) -> LayerRow:
        """The measured row of one set of maps (V, h, w) and (N, h, w)."""
        hits = tuned_box_hits(val_maps, validation.boxes, test_maps, test.boxes, thresholds, image_size=image_size)
        deletion = deletion_curve(network, test_images, test_maps, test_labels, steps=steps)  # (N, steps + 1)
        insertion = insertion_curve(network, test_images, test_maps, test_labels, steps=steps)
        return LayerRow(
            layer=name,
            resolution=(int(test_maps.shape[-2]), int(test_maps.shape[-1])),
            gradient_norm=gradient_norm,
            max_box_acc_v2=hits.mean().item(),
            deletion=curve_area(deletion).mean().item(),
            insertion=curve_area(insertion).mean().item(),
            box_hits=hits,
        )

    rows = []
    with eval_mode(network):  # batch norm and dropout as at test time, whatever mode the model was in
        norms = gradient_norms(model, test_images, test_labels, layers, tokens=tokens) if layers else {}  # {layer: norm}
        for layer in layers:
            val_maps = _true_class_maps(model, val_images, val_labels, layer, method, tokens)  # (V, h, w)
            test_maps = _true_class_maps(model, test_images, test_labels, layer, method, tokens)  # (N, h, w)
            rows.append(row(layer, val_maps, test_maps, norms[layer]))
        for name, make_maps in extra.items():
            val_maps = _extra_maps(name, make_maps, val_images)  # (V, h, w)
            test_maps = _extra_maps(name, make_maps, test_images)  # (N, h, w)
            rows.append(row(name, val_maps, test_maps, None))
    return LayerTable(rows, METHODS[method_key(method)].label, len(validation), len(test), time.perf_counter() - start)


# --- the measurements ---


def _true_class_maps(
    model: nn.Module | Classifier, images: torch.Tensor, labels: torch.Tensor, layer: str, method: str,
    tokens: TokenGrid | tuple[int, int] | None,
) -> torch.Tensor:
    """The method's maps of each image's true class at ``layer``: (B, 3, H, W) -> (B, h, w)."""
    result = cam_family(model, images, layer, labels.view(-1, 1), methods=[method], tokens=tokens, progress=False)
    return result[method_key(method)].maps[:, 0]  # (B, 1, h, w) -> (B, h, w)


def gradient_norms(
    model: nn.Module | Classifier, images: torch.Tensor, labels: torch.Tensor, layers: Sequence[str],
    *, tokens: TokenGrid | tuple[int, int] | None = None,
) -> dict[str, float]:
    """{layer: mean over the images of ||d y_c / d A||}, y_c the logit of each image's class ``labels`` (B,),
    A (B, C, h, w) the layer's output: ONE forward pass (:func:`cam_helpers.gradcam.forward_for_gradcam`),
    then one backward pass per layer (:func:`cam_helpers.gradcam.score_gradients`).

    For a transformer block, A is its patch tokens read as a map (B, D, h, w): the class token is not part
    of it, so a block whose patch tokens never reach the head gets exactly 0.
    """
    with torch.enable_grad():
        logits, features = forward_for_gradcam(model, images, list(layers), tokens=tokens)  # (B, K), {layer: A}
        true_logit = logits.gather(1, labels.view(-1, 1))  # (B, 1)
        norms = {}
        for layer in layers:
            gradients = score_gradients(features[layer], true_logit)  # (B, 1, C, h, w)
            norms[layer] = gradients.flatten(1).norm(dim=1).mean().item()  # per image, then the mean
    return norms


def _extra_maps(name: str, make_maps: MapFunction, images: torch.Tensor) -> torch.Tensor:
    """An extra row's maps (B, h, w), or a clear error when its function gives another shape."""
    maps = make_maps(images)
    batch = images.shape[0]
    if isinstance(maps, torch.Tensor) and maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]  # (B, 1, h, w) -> (B, h, w)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or maps.shape[0] != batch:
        got = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(
            f"extra row {name!r}: its function must return maps (B, h, w) or (B, 1, h, w) with B = {batch} "
            f"for {batch} images; got {got}"
        )
    return maps.detach().float()


# --- the checks: clear errors before anything is computed ---


def _check_request(
    model: nn.Module | Classifier, validation: SyntheticShapes, test: SyntheticShapes, layers: Sequence[str],
    method: str, extra: dict[str, MapFunction],
) -> None:
    if isinstance(layers, str):
        raise ValueError(f"layers must be a list of layer names, e.g. [{layers!r}]; got the string {layers!r}")
    if not layers and not extra:
        raise ValueError("nothing to compare: give layer names, e.g. ['features.2', 'features.3'], or extra maps")
    for split, data in (("validation", validation), ("test", test)):
        if not all(hasattr(data, name) for name in ("images", "labels", "boxes")):
            raise ValueError(f"the {split} split needs images, labels and true boxes (a SyntheticShapes)")
        if len(data.images) == 0:
            raise ValueError(f"the {split} split has no images: nothing to measure the layers on")
    network = model.model if isinstance(model, Classifier) else model
    for layer in layers:
        resolve_layer(network, layer)  # an unknown name: a ValueError that suggests close names
    repeated = [name for name in extra if name in layers] + [name for i, name in enumerate(layers) if name in layers[:i]]
    if repeated:
        raise ValueError(f"each row needs its own name; repeated: {', '.join(map(repr, repeated))}")
    method_key(method)


def _check_column(column: str) -> None:
    if column not in _HIGHER_IS_BETTER:
        raise ValueError(f"unknown column {column!r}.{did_you_mean(column, COLUMNS)} Columns: {', '.join(COLUMNS)}")


# --- printing ---


def _sort_value(row: LayerRow, column: str) -> float:
    value = getattr(row, column)
    return value[0] * value[1] if column == "resolution" else value


def _cells(row: LayerRow) -> list[str]:
    h, w = row.resolution
    norm = _NO_GRADIENT if row.gradient_norm is None else f"{row.gradient_norm:.3g}"
    return [row.layer, _RESOLUTION.format(h=h, w=w), norm, f"{row.max_box_acc_v2:.3f}",
            f"{row.deletion:.3f}", f"{row.insertion:.3f}"]


def _display_width(text: str) -> int:
    """Columns the text takes in a monospaced font: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, left: bool = False) -> str:
    space = " " * (width - _display_width(text))
    return text + space if left else space + text
