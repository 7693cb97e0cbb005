"""The in-browser explorer (explorer.html, built by tools/build_explorer.py) in a real Chromium.

The site is served from 127.0.0.1 by a server this test starts; every request to anywhere else is
failed by a route handler, and each test asserts that none was attempted. The numbers are compared with
cam_helpers running the model the page runs (tools/build_explorer.shipped_classifier: the offline
EfficientNet-Lite0 with float16 weights): the input tensor bit for bit, the top-5 classes, the
normalised CAM within 1e-4 and Grad-CAM at two inner layers within 1e-3.
"""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from install_browser import find_chromium  # noqa: E402

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's 'chromium' package "
                       "(apt-get install chromium) or set CAM_CHROMIUM to a Chromium binary"),
]
pytest.importorskip("playwright", reason="playwright is in the test extra")
pytest.importorskip("onnxscript", reason="the ONNX export needs the test extra: pip install -e '.[test]'")

import build_explorer  # noqa: E402

from cam_helpers.cam import upsample_and_normalize, upsample_maps  # noqa: E402
from cam_helpers.explain import class_maps, explain  # noqa: E402
from cam_helpers.gradcam import grad_cam  # noqa: E402
from cam_helpers.images import SAMPLES, preprocess, sample_path  # noqa: E402
from cam_helpers.widgets import TEXT  # noqa: E402

GRADCAM_LAYERS = ("_blocks.7", "_blocks.14")  # stage 4 (14x14) and stage 6 (7x7)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def runtime_or_skip() -> None:
    if not all((build_explorer.ORT_DIST / name).exists() for name in build_explorer.ORT_FILES):
        reason = ("onnxruntime-web is not in node_modules: run `npm ci` (Node.js needed; "
                  "`python3 quickstart.py test` does it when npm is there)")
        pytest.skip(reason if shutil.which("npm") else "no Node.js/npm: " + reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The explorer's pages, models and runtime in a fresh folder (the exported graphs come from the
    build cache when the weights and the exporter are unchanged)."""
    runtime_or_skip()
    import render_series

    out = tmp_path_factory.mktemp("site")
    pages = render_series.series_pages(ROOT / "notebooks")
    build_explorer.build_site_explorer(out, pages, quiet=True)
    render_series.write_search_index(out, pages)  # the sidebar's search, so every request finds its file
    return out


@pytest.fixture(scope="module")
def server(site):
    """A plain static server on 127.0.0.1, without cross-origin-isolation headers, like GitHub Pages."""
    httpd, url = build_explorer.serve(site)
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page of the explorer with every request outside 127.0.0.1 failed and recorded."""

    def __init__(self, browser, url: str, **context_options):
        self.context = browser.new_context(**context_options)
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(url)
        self.wait_for_map(0)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "file://", "blob:", "data:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def wait_for_map(self, shown_before: int, timeout: float = 90_000) -> None:
        self.page.wait_for_function(
            "([n]) => window.camExplorer && (window.camExplorer.shown > n || window.camExplorer.error)",
            arg=[shown_before], timeout=timeout)
        assert self.js("camExplorer.error") == "", self.js("camExplorer.error")

    def js(self, expression: str):
        return self.page.evaluate(expression)

    def shown(self) -> int:
        return self.js("camExplorer.shown")

    def input_tensor(self) -> np.ndarray:
        encoded = self.js("""() => { const bytes = new Uint8Array(camExplorer.input.buffer); let s = "";
            for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
            return btoa(s); }""")
        return np.frombuffer(base64.b64decode(encoded), "<f4").reshape(3, 224, 224)

    def map_for(self, layer: str, class_index: int) -> dict:
        return self.page.evaluate("([l, c]) => camExplorer.mapFor(l, c)", [layer, class_index])

    def close(self) -> None:
        self.context.close()
        assert self.outside == [], f"the page tried to reach {self.outside}"
        assert self.errors == [], self.errors


@pytest.fixture()
def english(browser, server):
    page = Page(browser, f"{server}/explorer.html")
    yield page
    page.close()


@pytest.fixture(scope="module")
def shipped():
    return build_explorer.shipped_classifier()


def python_heat(maps: torch.Tensor) -> np.ndarray:
    """(1, 1, h, w) -> the page's normalised heat (224 * 224,)."""
    return upsample_and_normalize(maps, 224)[0, 0].flatten().numpy()


def test_every_sample_gives_pythons_numbers(english, shipped):
    """Input bit for bit, top-5 as explain, CAM within 1e-4, Grad-CAM at two inner layers within 1e-3,
    on one thread and without cross-origin isolation (GitHub Pages)."""
    assert english.js("self.crossOriginIsolated") is False
    assert english.js("ort.env.wasm.numThreads") == 1
    for name in SAMPLES:
        shown = english.shown()
        english.page.click(f'.cx-sample[data-sample="{name}"]')
        english.wait_for_map(shown)
        assert english.js("camExplorer.imageName") == name
        batch = preprocess(sample_path(name), shipped.transform)  # (1, 3, 224, 224)
        assert np.array_equal(english.input_tensor(), batch[0].numpy()), f"{name}: the input tensors differ"

        expected = explain(shipped, batch, top_k=5, relu=True)  # one forward: top-5 and their CAMs (ReLU'd, as drawn)
        top = [entry["index"] for entry in english.js("camExplorer.top")]
        assert top == expected.classes[0].tolist(), name
        probabilities = [entry["probability"] for entry in english.js("camExplorer.top")]
        np.testing.assert_allclose(probabilities, expected.class_probabilities[0].tolist(), atol=1e-5)

        for i, class_index in enumerate(top):
            page_map = english.map_for("_head_act", class_index)
            cam = expected.maps[:, i:i + 1]  # (1, 1, 7, 7)
            assert np.abs(np.array(page_map["heat"]) - python_heat(cam)).max() < 1e-4, (name, class_index)
            np.testing.assert_allclose(page_map["raw"], cam.flatten().numpy(), rtol=1e-4, atol=1e-4)
        # the raw scale: every class over the top class's maximum, so a weak class looks weak (as CAMExplorer)
        raw = english.page.evaluate("([c]) => camExplorer.mapFor('_head_act', c, 'raw')", [top[1]])
        ceiling = upsample_maps(expected.maps[:, :1], 224).max()
        expected_raw = (upsample_maps(expected.maps[:, 1:2], 224) / ceiling).clamp(0, 1)
        assert np.abs(np.array(raw["heat"]) - expected_raw.flatten().numpy()).max() < 1e-4, name
        for layer in GRADCAM_LAYERS:
            page_map = english.map_for(layer, top[0])
            maps = grad_cam(shipped, batch, layer, top[0]).maps  # (1, 1, h, w)
            assert (page_map["h"], page_map["w"]) == tuple(maps.shape[-2:])
            assert np.abs(np.array(page_map["heat"]) - python_heat(maps)).max() < 1e-3, (name, layer)


def test_a_class_change_runs_no_model_and_a_photo_runs_it_once(english, tmp_path, shipped):
    runs = english.js("camExplorer.runs")
    shown = english.shown()
    second = english.page.locator('input[name="cx-class"]').nth(1)
    second.check()
    english.wait_for_map(shown)
    assert english.js("camExplorer.classIndex") == int(second.get_attribute("value"))
    assert english.js("camExplorer.runs") == runs  # CAM of another class: sums over the kept features
    caption = english.page.inner_text("#cx-caption")
    assert shipped.class_names[int(second.get_attribute("value"))] in caption and "CAM" in caption

    from PIL import Image

    photo = tmp_path / "my photo.jpg"
    Image.open(sample_path("coffee")).rotate(90, expand=True).save(photo, quality=90)
    shown = english.shown()
    english.page.set_input_files("#cx-file", str(photo))
    english.wait_for_map(shown)
    assert english.js("camExplorer.runs") == {"cam": runs["cam"] + 1, "gradcam": runs["gradcam"]}
    assert english.js("camExplorer.imageName") == "my photo.jpg"
    assert np.array_equal(english.input_tensor(), preprocess(photo, shipped.transform)[0].numpy())


def test_inner_layers_load_gradcam_once_and_switching_layers_runs_nothing(english):
    shown = english.shown()
    english.page.select_option("#cx-layer", "_blocks.4")
    english.wait_for_map(shown)
    assert english.js("camExplorer.runs.gradcam") == 1
    assert "Grad-CAM" in english.page.inner_text("#cx-caption") and "28x28" in english.page.inner_text("#cx-caption")
    for layer in ("_blocks.0", "_blocks.10", "_head_act"):  # one Grad-CAM run gave every inner layer
        shown = english.shown()
        english.page.select_option("#cx-layer", layer)
        english.wait_for_map(shown)
    assert english.js("camExplorer.runs") == {"cam": 1, "gradcam": 1}


def test_controls_change_the_picture_and_the_keyboard_reaches_them(english):
    def pixels():
        return english.page.evaluate("Array.from(document.getElementById('cx-canvas').getContext('2d')"
                                     ".getImageData(100, 100, 8, 8).data)")

    before = pixels()
    for action in (lambda: english.page.fill("#cx-opacity", "0.9"),
                   lambda: english.page.select_option("#cx-colormap", "gray"),
                   lambda: english.page.check('input[name="cx-scale"][value="raw"]')):
        shown = english.shown()
        action()
        english.wait_for_map(shown)
        after = pixels()
        assert after != before
        before = after
    assert english.js("camExplorer.scale") == "raw"
    # The keyboard alone: focus the chosen class and press the down arrow -> the next class, no model run.
    runs = english.js("camExplorer.runs")
    english.page.focus('input[name="cx-class"]:checked')
    shown, first = english.shown(), english.js("camExplorer.classIndex")
    english.page.keyboard.press("ArrowDown")
    english.wait_for_map(shown)
    assert english.js("camExplorer.classIndex") == english.js("camExplorer.top[1].index") != first
    assert english.js("camExplorer.runs") == runs


def test_bad_files_get_a_clear_message_and_the_explorer_keeps_working(english, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a photo")
    english.page.set_input_files("#cx-file", str(fake))
    english.page.wait_for_function("camExplorer.error !== ''")
    message = english.page.inner_text("#cx-error")
    assert "notes.jpg" in message and "JPEG, PNG" in message
    shown = english.shown()
    english.page.click('.cx-sample[data-sample="rocket"]')
    english.wait_for_map(shown)
    assert english.page.inner_text("#cx-error") == ""


def test_korean_page_speaks_korean(browser, server):
    korean = Page(browser, f"{server}/ko/explorer.html")
    try:
        assert korean.js("document.documentElement.lang") == "ko"
        assert korean.page.inner_text("h1") == TEXT["web_title"][1]
        body = korean.page.inner_text("main")
        for key in ("opacity", "colormap", "web_samples", "normalised"):
            assert TEXT[key][1] in body, key
        assert "층" in korean.page.inner_text("#cx-caption")  # the caption's Korean template
        assert "상위 5개" in korean.page.inner_text("#cx-top-label")
        assert korean.page.get_attribute(".lang-switch", "href").endswith("explorer.html")
    finally:
        korean.close()


def test_phone_sized_screen_needs_no_sideways_scrolling(browser, server):
    phone = Page(browser, f"{server}/explorer.html", viewport={"width": 360, "height": 740}, is_mobile=True,
                 has_touch=True, device_scale_factor=2)
    try:
        assert phone.js("document.documentElement.scrollWidth <= window.innerWidth + 1")
        box = phone.page.locator("#cx-canvas").bounding_box()
        assert box["width"] <= 360 and box["width"] >= 250
        assert phone.page.get_attribute("#cx-camera", "capture") == "environment"
    finally:
        phone.close()


def test_navigation_links_to_the_explorer(site):
    import render_series

    pages = render_series.series_pages(ROOT / "notebooks")
    sidebar = render_series.sidebar_html(pages["en"][0], pages["en"], [], "en")
    assert 'href="explorer.html"' in sidebar and "Open the explorer in your browser" in sidebar
    korean = render_series.sidebar_html(pages["ko"][0], pages["ko"], [], "ko")
    assert 'href="../ko/explorer.html"' in korean and "브라우저에서 탐색기 열기" in korean
    assert (site / "explorer.html").exists() and (site / "ko" / "explorer.html").exists()


def test_double_click_folder_opens_from_file_url(browser, tmp_path_factory, shipped):
    runtime_or_skip()
    folder = tmp_path_factory.mktemp("usb")
    build_explorer.build_usb(folder, quiet=True)
    page = Page(browser, (folder / "explorer.html").as_uri())
    try:
        assert page.js("location.protocol") == "file:"
        assert page.js("camExplorer.runs.cam") == 1
        name = page.js("camExplorer.imageName")
        batch = preprocess(sample_path(name), shipped.transform)
        assert np.array_equal(page.input_tensor(), batch[0].numpy())
        assert page.js("camExplorer.top[0].index") == int(explain(shipped, batch, top_k=1).classes[0, 0])
        shown = page.shown()  # the lazy Grad-CAM graph arrives as a script too
        page.page.select_option("#cx-layer", "_blocks.14")
        page.wait_for_map(shown)
        assert page.js("camExplorer.runs.gradcam") == 1
    finally:
        page.close()


def test_transparency_is_exact_and_a_big_jpeg_is_close(english, tmp_path, shipped):
    """A transparent PNG goes over white exactly as Python's. A JPEG whose short side is >= 1024 px is
    decoded small by Pillow's draft mode (inside libjpeg), which the browser cannot do: the page reduces
    the full decode instead and says so. Measured on four photos upscaled to 3-11 megapixels (quality 90):
    input values within 0.016 (2 steps of 1/128), 12-19 % of them differ; top-5 the same; probabilities
    within 0.013; normalised CAM of the top class within 0.018. The bounds below leave room above that."""
    from PIL import Image

    pixels = np.array(Image.open(sample_path("coffee")).convert("RGBA"))  # (H, W, 4)
    pixels[..., 3] = np.linspace(0, 255, pixels.shape[1]).astype(np.uint8)[None, :]  # transparent -> opaque
    transparent = tmp_path / "fading coffee.png"
    Image.fromarray(pixels).save(transparent)
    shown = english.shown()
    english.page.set_input_files("#cx-file", str(transparent))
    english.wait_for_map(shown)
    assert np.array_equal(english.input_tensor(), preprocess(transparent, shipped.transform)[0].numpy())

    big = tmp_path / "big rocket.jpg"
    Image.open(sample_path("rocket")).convert("RGB").resize((4032, 2690), Image.Resampling.BICUBIC).save(big, quality=90)
    shown = english.shown()
    english.page.set_input_files("#cx-file", str(big))
    english.wait_for_map(shown)
    assert english.js("camExplorer.bigJpeg") is True
    assert english.page.inner_text("#cx-note") == TEXT["web_big_jpeg"][0]  # stays while this photo is shown
    batch = preprocess(big, shipped.transform)
    difference = np.abs(english.input_tensor() - batch[0].numpy())
    assert difference.max() <= 0.05 and (difference > 0).mean() < 0.4
    top = [entry["index"] for entry in english.js("camExplorer.top")]
    assert top[0] == int(explain(shipped, batch, top_k=1).classes[0, 0])
    page_map = np.array(english.map_for("_head_act", top[0])["heat"])
    assert np.abs(page_map - python_heat(class_maps(shipped, batch, top[0], relu=True))).max() < 0.05
    shown = english.shown()
    english.page.click('.cx-sample[data-sample="coffee"]')
    english.wait_for_map(shown)
    assert english.page.inner_text("#cx-note") == ""


def test_photos_wait_for_the_network_and_earlier_layers_work_offline_once_loaded(browser, server, site):
    """The photo inputs are disabled until the network is ready (a click during loading would find no
    model); the Grad-CAM graph is fetched in the background, so going offline then still gives Grad-CAM."""
    assert '<fieldset class="cx-inputs" id="cx-inputs" disabled>' in (site / "explorer.html").read_text()
    page = Page(browser, f"{server}/explorer.html")
    try:
        assert page.js("document.getElementById('cx-inputs').disabled") is False
        page.page.wait_for_function("camExplorer.gradcamFetched === true")
        page.context.set_offline(True)
        shown = page.shown()
        page.page.select_option("#cx-layer", "_blocks.10")
        page.wait_for_map(shown)
        assert page.js("camExplorer.runs.gradcam") == 1 and page.js("camExplorer.layer") == "_blocks.10"
        assert page.page.inner_text("#cx-error") == ""
    finally:
        page.context.set_offline(False)
        page.close()
