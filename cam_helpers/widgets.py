"""The CAM explorer: choose an image, a class and a layer, and watch the map move.

    from cam_helpers import load_classifier
    from cam_helpers.widgets import CAMExplorer
    explorer = CAMExplorer(load_classifier("resnet18", fallback=True))
    explorer          # shows the widget in a notebook

Why it is fast: the model runs ONCE per image, keeping the features of every
stage (and their autograd graph). Switching the class reuses them: at the last
conv layer CAM is one weighted sum over the captured features, at earlier layers
Grad-CAM needs only a backward pass from the shown class's logit down to that
layer, done when a (layer, class) pair is first shown and then cached.
"""

from __future__ import annotations

import functools
import html
import io
import traceback
from contextlib import contextmanager
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image, ImageDraw

from .cam import class_activation_maps, normalize_maps, upsample_maps
from .gradcam import default_layer, forward_for_gradcam, grad_cam_from_features
from .images import DECODE_MIN_SIZE, SAMPLES, ImageLoadError, load_image, preprocess, sample_path
from .localization import boxes_from_maps
from .classifier import Classifier
from .viz import overlay

__all__ = ["CAMExplorer", "ExplorerState", "MAX_UPLOAD_BYTES"]

MAX_UPLOAD_BYTES = 20_000_000  # 20 MB (as the message prints it): phone photos fit, accidents do not
TOP_CLASSES = 10
DISPLAY_SIZE = 336  # pixels on screen (the model sees 224x224)
COLORMAPS = ["jet", "inferno", "viridis", "magma", "gray"]

#: Each text the explorer shows, per LANGUAGES entry (Korean: the glossary's terms; class names stay English).
#: Notebook 05 quotes the control labels in bold; tests/test_widgets.py checks each quote against this table.
LANGUAGES = ("en", "ko")
TEXT = {
    "image": ("Image", "이미지"),
    "upload": ("Your image", "내 이미지"),
    "class": ("Class", "클래스"),
    "search": ("Search", "검색"),
    "search_hint": ("search all classes, e.g. golden", "모든 클래스에서 찾기 (예: golden)"),
    "layer": ("Layer", "층"),
    "opacity": ("Opacity", "불투명도"),
    "colormap": ("Colormap", "컬러맵"),
    "scale": ("Scale", "척도"),
    "normalised": ("normalised", "정규화"),
    "raw": ("raw", "원래 값"),
    "box": ("Box from map", "맵에서 상자 만들기"),
    "threshold": ("Threshold", "임계값"),
    "cam": ("CAM", "CAM"),
    "cam_exact": ("CAM (exact)", "정확한 CAM"),  # the map IS CAM here (not Grad-CAM standing in for it)
    "gradcam": ("Grad-CAM", "Grad-CAM"),
    "class_option": ("{name} ({probability:.1%})", "{name} ({probability:.1%})"),
    "layer_option": ("{stage} · {method} · {h}x{w}", "{stage} · {method} · {h}x{w}"),
    "caption": (
        "<b>{name}</b> {probability:.1%} · layer <code>{layer}</code> · {method} · map {h}x{w} "
        "· {scale} scale{box}",
        "<b>{name}</b> {probability:.1%} · 층 <code>{layer}</code> · {method} · 맵 {h}x{w} "
        "· 척도: {scale}{box}",
    ),
    "caption_box": (" · box {box}", " · 상자 {box}"),
    "too_large": (
        "{name} is {mb:.1f} MB; the explorer takes images up to {limit:.0f} MB. "
        "Resize it or pick a smaller photo.",
        "{name}의 크기는 {mb:.1f} MB입니다. 탐색기는 {limit:.0f} MB까지의 이미지만 받습니다. "
        "이미지를 줄이거나 더 작은 사진을 고르세요.",
    ),
    # The in-browser explorer (tools/site/explorer, built by tools/build_explorer.py) reads this table too.
    "web_title": ("CAM explorer in your browser", "브라우저에서 돌아가는 CAM 탐색기"),
    "web_skip": ("Skip to the explorer", "탐색기로 건너뛰기"),
    "web_intro": (
        "The network runs in this page: your photo is not uploaded anywhere, and once the page has loaded "
        "it keeps working offline. The model is the notebooks' offline EfficientNet-Lite0, its weights stored "
        "as float16 to halve the download: on every sample photo its top class is the one notebook 05 shows "
        "when it runs offline, the probabilities within half a percentage point. (On Colab the notebook uses "
        "ResNet18, whose classes and maps differ.)",
        "신경망이 이 페이지 안에서 실행됩니다. 사진은 어디에도 올라가지 않고, 페이지가 한 번 열린 뒤에는 "
        "인터넷 없이도 동작합니다. 모델은 노트북이 오프라인에서 쓰는 EfficientNet-Lite0이고, 내려받을 크기를 "
        "반으로 줄이려고 가중치를 float16(반정밀도)으로 저장했습니다. 예제 사진마다 1위 클래스는 노트북 05를 "
        "오프라인으로 실행했을 때와 같고, 확률 차이는 0.5%p 이내입니다. (Colab에서는 노트북이 ResNet18을 "
        "쓰므로 클래스와 맵이 다릅니다.)",
    ),
    "web_samples": ("Sample photos", "예제 사진"),
    "web_pick": ("Choose a photo", "사진 고르기"),
    "web_camera": ("Take a photo", "사진 찍기"),
    "web_drop": ("or drop a photo anywhere on this page", "또는 이 페이지에 사진을 끌어다 놓으세요"),
    "web_top": ("Top {k} classes: pick one to see its map", "상위 {k}개 클래스: 하나를 고르면 그 맵이 보입니다"),
    "web_stage": ("stage", "단계"),  # the layer picker's "stage 4" (cam_helpers.efficientnet_lite.LITE0_STAGES)
    "web_head": ("head", "헤드"),
    "web_layer_hint": (
        "CAM: the FC weights times the last layer's features, exact. Grad-CAM: the class score's mean "
        "gradients as the weights, at any layer. A map has its layer's cells (7×7 to 112×112), stretched to "
        "the photo's 224×224.",
        "CAM: FC 가중치와 마지막 층 특징 맵의 가중합으로, 정확한 값입니다. Grad-CAM: 클래스 점수의 평균 "
        "기울기(gradient)를 가중치로 쓰며, 어느 층에서나 됩니다. 맵의 칸 수는 층마다 다르고(7×7부터 112×112까지), "
        "사진 크기 224×224로 늘려 그립니다.",
    ),
    "web_scale_hint": (
        "normalised: each map stretched to [0, 1] on its own. raw: one scale for all classes at this layer, "
        "the top class's maximum, so a weak class looks weak.",
        "정규화: 맵마다 따로 [0, 1]로 늘립니다. 원래 값: 이 층의 모든 클래스에 같은 척도(1위 클래스의 최댓값)를 "
        "써서, 약한 클래스는 약하게 보입니다.",
    ),
    "web_loading": ("Loading the network ({mb:.0f} MB, once: later visits use the browser's cache) ...",
                    "신경망을 불러오는 중 ({mb:.0f} MB, 한 번만: 다음부터는 브라우저 캐시를 씁니다) ..."),
    "web_loading_gradcam": ("Loading the Grad-CAM part of the network (once) ...",
                            "신경망의 Grad-CAM 계산 부분을 불러오는 중 (한 번만) ..."),
    "web_running": ("Running the network ...", "신경망을 실행하는 중 ..."),
    "web_gradcam_running": ("Computing Grad-CAM for {name}: every earlier layer at once ...",
                            "{name}의 Grad-CAM을 계산하는 중: 앞쪽 층을 한꺼번에 ..."),
    "web_ready": ("Ready: {ms:.0f} ms for this photo.", "준비되었습니다. 이 사진은 {ms:.0f} ms 걸렸습니다."),
    "web_no_runtime": (
        "The explorer's runtime (onnxruntime-web) did not load: this copy of the site was built without "
        "Node.js/npm, or the file did not arrive. Reload the page, or open notebook 05 in Jupyter instead.",
        "탐색기 런타임(onnxruntime-web)을 불러오지 못했습니다. 이 사이트가 Node.js/npm 없이 빌드되었거나 "
        "파일이 도착하지 않았습니다. 페이지를 새로 고치거나, 대신 Jupyter에서 노트북 05를 여세요.",
    ),
    "web_load_failed": (
        "<b>Could not load the network:</b> {detail}<br>Check the connection and reload the page.",
        "<b>신경망을 불러오지 못했습니다:</b> {detail}<br>인터넷 연결을 확인하고 페이지를 새로 고치세요.",
    ),
    "web_not_image": (
        "{name} is not an image this browser can read (JPEG, PNG, WebP and GIF work).",
        "{name}은(는) 이 브라우저가 읽을 수 있는 이미지가 아닙니다(JPEG, PNG, WebP, GIF는 됩니다).",
    ),
    "web_big_jpeg": (
        "This photo is big: Python decodes it at a reduced size inside the JPEG decoder, which a browser "
        "cannot do, so the numbers here may differ slightly from the notebook's for this photo.",
        "큰 사진입니다: Python은 JPEG 디코더 안에서 줄여서 읽지만 브라우저는 그렇게 할 수 없어서, "
        "이 사진의 숫자는 노트북과 조금 다를 수 있습니다.",
    ),
    "web_map_alt": ("The map of {name} over the photo", "사진 위에 겹친 {name}의 맵"),
    "error": (
        "<b>Something went wrong:</b> {detail}<br>The explorer still works: pick another image or class.",
        "<b>문제가 생겼습니다:</b> {detail}<br>탐색기는 계속 쓸 수 있습니다: "
        "다른 이미지나 클래스를 고르세요.",
    ),
}


@dataclass
class ExplorerState:
    """What the explorer shows now; tests read it."""

    image_name: str = ""
    class_index: int = -1
    class_name: str = ""
    probability: float = float("nan")
    layer: str = ""
    method: str = ""
    map_size: tuple[int, int] = (0, 0)
    heatmap: torch.Tensor | None = None  # (H, W) values in [0, 1] as drawn
    box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in input pixels
    error: str = ""


def _report_errors(method):
    """Show a callback's exception in the explorer (JupyterLab hides it: the explorer would look frozen)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the point is to show every error
            self._show_error(error)

    return wrapper


class CAMExplorer:
    """An ipywidgets explorer over images, classes, layers and overlay settings.

    Args:
        classifier: from :func:`cam_helpers.load_classifier`: a GAP -> FC model (exact CAM at its last
            layer, Grad-CAM at the others), or a Vision Transformer (Grad-CAM at its blocks).
        images: {name: path / PIL image / array}; default: the bundled samples.
        max_upload_bytes: larger uploads are refused with a message.
        lang: one of :data:`LANGUAGES`: the language of the labels, captions and messages.
    """

    def __init__(self, classifier: Classifier, images: dict | None = None, *,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, lang: str = "en"):
        if lang not in LANGUAGES:
            raise ValueError(f"CAMExplorer has no labels in {lang!r}; use one of: {', '.join(LANGUAGES)}.")
        self.text = text = {key: texts[LANGUAGES.index(lang)] for key, texts in TEXT.items()}
        self.classifier = classifier
        self.max_upload_bytes = max_upload_bytes
        self.images = dict(images) if images is not None else {name: name for name in SAMPLES}
        self.state = ExplorerState()
        self.forward_passes = 0  # how often the model ran: once per image
        self.backward_passes = 0  # Grad-CAM backward passes: once per (image, layer, class) shown
        cam_layer = classifier.feature_layer  # None for a ViT: Grad-CAM at every block
        #: The layers offered, earliest first; the CAM layer last (its map is exact CAM).
        self.layers = tuple(name for name in classifier.stages.values() if name != cam_layer) + (
            (cam_layer,) if cam_layer else ()
        )
        if not self.layers:
            raise ValueError(
                f"{classifier.name} has neither a CAM layer nor stages to offer: "
                "give the Classifier stages={'label': 'layer name', ...}"
            )
        #: The layer shown first: exact CAM where it applies, else the layer Grad-CAM uses by default.
        self.first_layer = cam_layer or default_layer(classifier)
        self._busy = False

        self.image_picker = widgets.Dropdown(options=list(self.images), description=text["image"])
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description=text["upload"])
        self.class_picker = widgets.Dropdown(options=[], description=text["class"])
        self.class_search = widgets.Combobox(options=list(classifier.class_names), ensure_option=True,
                                             placeholder=text["search_hint"], description=text["search"])
        self.layer_picker = widgets.Dropdown(options=[], description=text["layer"])
        self.opacity = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                           description=text["opacity"])
        self.colormap = widgets.Dropdown(options=COLORMAPS, value="jet", description=text["colormap"])
        self.scale = widgets.ToggleButtons(options=[(text["normalised"], "normalised"), (text["raw"], "raw")],
                                           value="normalised", description=text["scale"])
        self.show_box = widgets.Checkbox(value=False, description=text["box"])
        self.threshold = widgets.FloatSlider(value=0.2, min=0.05, max=0.95, step=0.05,
                                             description=text["threshold"])
        self.picture = widgets.Image(format="png", width=DISPLAY_SIZE, height=DISPLAY_SIZE)
        self.caption = widgets.HTML()
        self.error_box = widgets.HTML()
        self.widget = widgets.VBox([
            widgets.HBox([self.image_picker, self.upload]),
            widgets.HBox([self.class_picker, self.class_search]),
            self.layer_picker,
            widgets.HBox([self.opacity, self.colormap]),
            widgets.HBox([self.scale, self.show_box, self.threshold]),
            self.picture, self.caption, self.error_box,
        ])
        # CSS classes give tests (and curious learners) stable handles.
        self.widget.add_class("cam-explorer")
        self.caption.add_class("cam-caption")
        self.error_box.add_class("cam-error")
        self._load_image(self.image_picker.value)
        self.image_picker.observe(self._on_image, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.class_search.observe(self._on_search, names="value")
        for control in (self.class_picker, self.layer_picker, self.opacity, self.colormap, self.scale,
                        self.show_box, self.threshold):
            control.observe(self._on_choice, names="value")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _layer_label(self, layer: str, size: tuple[int, int]) -> str:
        stage = next((label for label, name in self.classifier.stages.items() if name == layer), layer)
        method = self.text["cam_exact"] if layer == self.classifier.feature_layer else self.text["gradcam"]
        h, w = size
        return self.text["layer_option"].format(stage=stage.split(" (")[0], method=method, h=h, w=w)

    def _load_image(self, source, name: str | None = None) -> None:
        """Run the model once for this image, keeping every stage's features."""
        path = sample_path(source) if isinstance(source, str) and source in SAMPLES else source
        # (1, 3, H, W); a 48 MP photo is decoded small (preprocess's min_size), as in explain()
        batch = preprocess(path, self.classifier.transform, self.classifier.device)
        logits, stage_features = forward_for_gradcam(self.classifier, batch, self.layers)
        self.forward_passes += 1
        features = None  # the CAM layer's features, for exact CAM (a ViT has none)
        if self.classifier.feature_layer is not None:
            features = stage_features[self.classifier.feature_layer].detach()
            if self.classifier.feature_activation is not None:
                features = self.classifier.feature_activation(features)
        probabilities = logits.detach().softmax(-1)[0]  # (K,)
        top = probabilities.topk(TOP_CLASSES)
        self._cache = {
            "batch": batch,
            "display": self.classifier.to_display(batch)[0],  # (3, H, W) in [0, 1]
            "logits": logits,
            "stage_features": stage_features,
            "features": features,  # (1, C, h, w) or None
            "probabilities": probabilities,
            "maps": {},  # (layer, class) -> raw map (h, w), ReLU'd
        }
        self.state.image_name = name or str(source)
        with self._quietly():  # set the pickers without a redraw per change
            self.class_picker.options = [
                (self.text["class_option"].format(name=self.classifier.class_names[i], probability=p), int(i))
                for p, i in zip(top.values.tolist(), top.indices.tolist())
            ]
            self.class_picker.value = int(top.indices[0])
            sizes = {layer: tuple(act.shape[-2:]) for layer, act in stage_features.items()}
            shown_layer = self.layer_picker.value or self.first_layer  # kept across images
            self.layer_picker.options = [(self._layer_label(name, sizes[name]), name) for name in self.layers]
            self.layer_picker.value = shown_layer
        self.render()

    def _raw_map(self, layer: str, class_index: int) -> torch.Tensor:
        """The map (h, w) of one class at one layer, computed once and cached."""
        key = (layer, class_index)
        maps = self._cache["maps"]
        if key not in maps:
            if layer == self.classifier.feature_layer:
                weight = self.classifier.fc.weight.detach()  # (K, C)
                cam = class_activation_maps(self._cache["features"], weight, [class_index], relu=True)
                maps[key] = cam[0, 0]  # (h, w): one weighted sum, no model run
            else:  # one backward pass, this class only (see the module docstring)
                with torch.enable_grad():  # the score must join the kept graph
                    score = self._cache["logits"][:, [class_index]]  # (1, 1)
                    layer_features = self._cache["stage_features"][layer]  # (1, C, h, w)
                    grad_map = grad_cam_from_features(layer_features, score)  # (1, 1, h, w)
                self.backward_passes += 1
                maps[key] = grad_map[0, 0]
        return maps[key]

    def render(self) -> None:
        """Draw the current choice into the picture and the caption."""
        layer, class_index = self.layer_picker.value, self.class_picker.value
        raw = self._raw_map(layer, class_index)  # (h, w)
        size = tuple(self._cache["batch"].shape[-2:])
        big = upsample_maps(raw[None, None], size)[0, 0]  # (H, W)
        if self.scale.value == "normalised":
            heat = normalize_maps(big)
        else:
            # One scale for all classes at this layer: the top class's maximum,
            # so a weak class honestly looks weak.
            top_class = int(self._cache["probabilities"].argmax())
            ceiling = float(upsample_maps(self._raw_map(layer, top_class)[None, None], size).max())
            heat = (big / ceiling).clamp(0, 1) if ceiling > 0 else torch.zeros_like(big)
        blended = overlay(self._cache["display"], heat, alpha=self.opacity.value, cmap=self.colormap.value)
        image = Image.fromarray((blended * 255).round().astype(np.uint8))  # (H, W, 3)
        box = None
        if self.show_box.value:
            box = tuple(boxes_from_maps(big[None], threshold=self.threshold.value)[0].tolist())  # normalises
            ImageDraw.Draw(image).rectangle(box, outline=(255, 255, 255), width=2)
        image = image.resize((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)  # fast: this runs on every change
        self.picture.value = buffer.getvalue()
        method = self.text["cam"] if layer == self.classifier.feature_layer else self.text["gradcam"]
        probability = float(self._cache["probabilities"][class_index])
        name = self.classifier.class_names[class_index]
        self.state.class_index, self.state.class_name, self.state.probability = class_index, name, probability
        self.state.layer, self.state.method, self.state.map_size = layer, method, tuple(raw.shape)
        self.state.heatmap, self.state.box, self.state.error = heat, box, ""
        self.caption.value = self.text["caption"].format(
            name=html.escape(name), probability=probability, layer=html.escape(layer), method=method,
            h=raw.shape[0], w=raw.shape[1], scale=self.text[self.scale.value],
            box=self.text["caption_box"].format(box=box) if box else "",
        )
        self.error_box.value = ""

    def _show_error(self, error: Exception) -> None:
        self.state.error = f"{type(error).__name__}: {error}"
        detail = html.escape("".join(traceback.format_exception_only(type(error), error)).strip())
        style = "color:#b00020;border:1px solid #b00020;padding:6px;border-radius:4px"
        self.error_box.value = f"<div style='{style}'>" + self.text["error"].format(detail=detail) + "</div>"

    @contextmanager
    def _quietly(self):
        """Change controls without their callbacks redrawing (or reloading) once per change."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    @_report_errors
    def _on_image(self, change) -> None:
        if not self._busy:  # an upload sets the picker itself, then loads the image once
            self._load_image(self.images[change["new"]], name=change["new"])

    @_report_errors
    def _on_upload(self, change) -> None:
        if not change["new"]:
            return
        name, content = change["new"][0]["name"], bytes(change["new"][0]["content"])  # ipywidgets 8: a tuple
        if len(content) > self.max_upload_bytes:
            mb, limit = len(content) / 1e6, self.max_upload_bytes / 1e6
            raise ImageLoadError(self.text["too_large"].format(name=name, mb=mb, limit=limit))
        try:
            picture = load_image(io.BytesIO(content), min_size=DECODE_MIN_SIZE)
        except ImageLoadError as error:
            raise ImageLoadError(f"{name}: {error}") from None
        self.images[name] = picture
        with self._quietly():  # the picker shows the upload; the image is loaded once, below
            self.image_picker.options = list(self.images)
            self.image_picker.value = name
        self._load_image(picture, name=name)

    @_report_errors
    def _on_choice(self, change) -> None:
        """A class, layer or overlay setting changed: redraw (no forward pass; at most one backward)."""
        if not self._busy and change["new"] is not None:
            self.render()

    @_report_errors
    def _on_search(self, change) -> None:
        """A class typed in the search box: add it to the class picker if it is not there, and show it."""
        if not change["new"]:
            return
        index = self.classifier.class_index(change["new"])
        if index not in [value for _, value in self.class_picker.options]:
            name, probability = self.classifier.class_names[index], float(self._cache["probabilities"][index])
            label = self.text["class_option"].format(name=name, probability=probability)
            with self._quietly():
                self.class_picker.options = [*self.class_picker.options, (label, index)]
        self.class_picker.value = index  # triggers render() unless it is shown already
