"""The explorer's state follows its widgets; the model runs once per image.

Every test gets its own explorer (function scope): no test sees another's clicks.
"""

import datetime
import io
import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from cam_helpers.explain import explain
from cam_helpers.hooks import count_hooks
from cam_helpers.images import sample_path
from cam_helpers.widgets import LANGUAGES, CAMExplorer


@pytest.fixture
def explorer(lite0):
    return CAMExplorer(lite0, images={"coffee": "coffee", "cat_and_coffee": "cat_and_coffee", "cat": "cat"})


def test_opens_on_the_top_class_at_the_cam_layer(explorer, lite0):
    assert explorer.forward_passes == 1 and explorer.backward_passes == 0
    assert explorer.layers[-1] == lite0.feature_layer and lite0.feature_layer not in explorer.layers[:-1]
    state = explorer.state
    assert state.class_name == "espresso" and state.probability > 0.8
    assert state.layer == lite0.feature_layer and state.method == "CAM" and state.map_size == (7, 7)
    assert "espresso" in explorer.caption.value and "7x7" in explorer.caption.value
    assert explorer.picture.value[:4] == b"\x89PNG"
    # The drawn heat map is exactly explain()'s normalised CAM.
    expected = explain(lite0, sample_path("coffee"), classes="espresso", relu=True).upsampled()[0, 0]
    torch.testing.assert_close(state.heatmap, expected, atol=1e-5, rtol=1e-5)


def test_class_change_reuses_the_activations(explorer, lite0):
    explorer.image_picker.value = "cat_and_coffee"
    runs = explorer.forward_passes
    counted = []
    handle = lite0.model.register_forward_hook(lambda *a: counted.append(1))
    try:
        options = [v for _, v in explorer.class_picker.options]
        cat_class = next(v for v in options if 281 <= v <= 285)
        for target in (cat_class, 967):  # a cat class, then espresso: different pictures
            other = next(v for v in options if v != target)
            explorer.class_picker.value = other
            before = bytes(explorer.picture.value)
            explorer.class_picker.value = target
            assert explorer.state.class_index == target
            assert bytes(explorer.picture.value) != before
        explorer.class_search.value = "tabby"
        assert explorer.state.class_name == "tabby"
    finally:
        handle.remove()
    assert counted == [] and explorer.forward_passes == runs


def test_searching_a_class_outside_the_top_ten(explorer):
    explorer.class_search.value = "golden retriever"
    assert explorer.state.class_index == 207
    assert any(v == 207 for _, v in explorer.class_picker.options)
    assert "golden retriever" in explorer.caption.value


def test_layer_change_uses_gradcam_with_its_resolution(explorer, lite0):
    early = next(l for l in explorer.layers if l != lite0.feature_layer and l.endswith(".4"))
    explorer.layer_picker.value = early
    assert explorer.state.method == "Grad-CAM" and explorer.state.map_size == (28, 28)
    assert "Grad-CAM" in explorer.caption.value and "28x28" in explorer.caption.value


def test_first_layer_visit_computes_only_the_shown_class(explorer, lite0):
    """One backward for the shown class; another class costs one more, none a model run."""
    from cam_helpers.gradcam import grad_cam

    early = next(l for l in explorer.layers if l != lite0.feature_layer and l.endswith(".4"))
    explorer.layer_picker.value = early
    assert explorer.backward_passes == 1 and explorer.forward_passes == 1
    shown = explorer.state.class_index
    other = next(v for _, v in explorer.class_picker.options if v != shown)
    explorer.class_picker.value = other
    assert explorer.backward_passes == 2 and explorer.forward_passes == 1
    explorer.class_picker.value = shown  # cached: no work at all
    assert explorer.backward_passes == 2
    # The lazily computed map is the one grad_cam computes in a fresh run.
    batch = explorer._cache["batch"]
    expected = grad_cam(lite0, batch, early, other).maps[0, 0]
    torch.testing.assert_close(explorer._cache["maps"][(early, other)], expected, atol=1e-5, rtol=1e-4)


def test_raw_scale_compares_classes_honestly(explorer, lite0):
    explorer.scale.value = "raw"
    explorer.class_picker.value = 967  # the top class reaches the top of the scale
    assert float(explorer.state.heatmap.max()) == pytest.approx(1.0)
    weak = explorer.class_picker.options[-1][1]
    explorer.class_picker.value = weak
    assert float(explorer.state.heatmap.max()) < 0.9


def test_box_from_the_map(explorer):
    explorer.class_picker.value = 967
    explorer.show_box.value = True
    x0, y0, x1, y1 = explorer.state.box
    assert 0 <= x0 < x1 <= 224 and 0 <= y0 < y1 <= 224
    area_at_20 = (x1 - x0) * (y1 - y0)
    explorer.threshold.value = 0.8
    x0, y0, x1, y1 = explorer.state.box
    assert (x1 - x0) * (y1 - y0) < area_at_20  # a higher threshold keeps a smaller region


def upload(explorer, name, content):
    explorer.upload.value = ({"name": name, "type": "image/jpeg", "size": len(content), "content": memoryview(content), "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)


def test_bad_upload_shows_a_message_and_keeps_working(explorer):
    upload(explorer, "shopping_list.jpg", b"eggs, milk, bread")
    assert "shopping_list.jpg" in explorer.state.error
    assert "shopping_list.jpg" in explorer.error_box.value
    explorer.class_picker.value = explorer.class_picker.options[1][1]  # still responsive
    assert explorer.state.error == "" and explorer.error_box.value == ""


def test_upload_too_large_and_a_good_upload(lite0):
    small = CAMExplorer(lite0, images={"cat": "cat"}, max_upload_bytes=1000)
    buffer = io.BytesIO()
    Image.open(sample_path("coffee")).save(buffer, format="JPEG")
    upload(small, "coffee.jpg", buffer.getvalue())
    assert "MB" in small.state.error and "coffee.jpg" in small.state.error
    roomy = CAMExplorer(lite0, images={"cat": "cat"})
    assert roomy.forward_passes == 1
    upload(roomy, "my_coffee.jpg", buffer.getvalue())
    assert roomy.state.error == "" and roomy.state.class_name == "espresso"
    assert roomy.image_picker.value == "my_coffee.jpg"
    assert roomy.forward_passes == 2  # exactly one model run for the upload
    roomy.image_picker.value = "cat"  # picking an image runs the model once too
    assert roomy.forward_passes == 3 and roomy.state.image_name == "cat"


def test_an_upload_counts_one_forward_pass_with_a_hook(lite0):
    """Count real model runs, not only the explorer's own counter."""
    explorer = CAMExplorer(lite0, images={"cat": "cat", "coffee": "coffee"})
    buffer = io.BytesIO()
    Image.open(sample_path("coffee")).save(buffer, format="PNG")
    counted = []
    handle = lite0.model.register_forward_hook(lambda *a: counted.append(1))
    try:
        upload(explorer, "cup.png", buffer.getvalue())
    finally:
        handle.remove()
    assert counted == [1] and explorer.forward_passes == 2
    assert explorer.state.image_name == "cup.png" and explorer.state.class_name == "espresso"


def test_no_hooks_left_after_20_changes(explorer, lite0):
    # 20 class changes over 4 layers (backward passes at the Grad-CAM layers), checked after each one:
    # a change that leaked a hook fails here, by its number.
    options = [v for _, v in explorer.class_picker.options]
    layers = explorer.layers
    backward_before = explorer.backward_passes
    for step in range(20):
        if step % 5 == 0:
            explorer.layer_picker.value = layers[(step // 5) % len(layers)]
        explorer.class_picker.value = options[step % len(options)]
        assert count_hooks(lite0.model) == 0, f"change {step} left a hook on the model"
        assert explorer.state.error == "", f"change {step}: {explorer.state.error}"
    assert explorer.backward_passes > backward_before  # the changes did run the gradient path
    assert all(p.grad is None for p in lite0.model.parameters())


def test_korean_labels_captions_and_errors(lite0):
    from cam_helpers.widgets import TEXT

    assert all(len(texts) == len(LANGUAGES) for texts in TEXT.values())  # every label has its Korean twin
    korean = CAMExplorer(lite0, images={"coffee": "coffee"}, lang="ko")
    assert korean.class_picker.description == "클래스" and korean.layer_picker.description == "층"
    assert korean.state.class_name == "espresso"  # ImageNet class names stay English
    assert "층 <code>" in korean.caption.value and "척도: 정규화" in korean.caption.value
    assert any("정확한 CAM" in label for label, _ in korean.layer_picker.options)  # the map IS CAM
    korean._show_error(ValueError("a test error"))
    assert "문제가 생겼습니다" in korean.error_box.value and "a test error" in korean.error_box.value
    with pytest.raises(ValueError, match="no labels in 'fr'; use one of: en, ko"):
        CAMExplorer(lite0, lang="fr")


def test_a_vision_transformer_offers_its_blocks_with_grad_cam():
    from torch import nn

    from cam_helpers.gradcam import grad_cam
    from cam_helpers.models import load_classifier

    vit = load_classifier("vit_b_16", pretrained=False)
    nn.init.normal_(vit.model.heads.head.weight)  # torchvision starts the head at zero
    explorer = CAMExplorer(vit, images={"cat": "cat"})
    assert explorer.layers == tuple(f"encoder.layers.encoder_layer_{i}" for i in range(12))
    labels = [label for label, _ in explorer.layer_picker.options]
    assert labels[0].startswith("block 1") and all("Grad-CAM" in label and "14x14" in label for label in labels)
    state = explorer.state  # opens at the block before the last: the last one's gradient is zero
    assert state.layer == "encoder.layers.encoder_layer_10" and state.method == "Grad-CAM"
    assert state.map_size == (14, 14) and state.heatmap.amax() == 1.0
    expected = grad_cam(vit, explorer._cache["batch"], state.layer, classes=[state.class_index]).upsampled()[0, 0]
    torch.testing.assert_close(state.heatmap, expected, atol=1e-5, rtol=1e-5)
    explorer.class_picker.value = explorer.class_picker.options[1][1]  # a class change: no forward pass
    assert explorer.forward_passes == 1 and count_hooks(vit.model) == 0


# --- Notebook 05 quotes the explorer's labels: every quote must be a label the explorer really shows ---

EXPLORER_NOTEBOOKS = {
    "en": Path(__file__).resolve().parent.parent / "notebooks" / "05_cam_explorer.ipynb",
    "ko": Path(__file__).resolve().parent.parent / "notebooks" / "ko" / "05_cam_explorer.ipynb",
}


def shown_labels(explorer) -> set[str]:
    """Every label the explorer shows: control names, the search hint, the scale buttons, the methods it names."""
    controls = (explorer.image_picker, explorer.upload, explorer.class_picker, explorer.class_search,
                explorer.layer_picker, explorer.opacity, explorer.colormap, explorer.scale, explorer.show_box,
                explorer.threshold)
    labels = {control.description for control in controls} | {explorer.class_search.placeholder}
    labels |= {label for label, _ in explorer.scale.options}
    labels |= {label.split(" · ")[1] for label, _ in explorer.layer_picker.options}  # "stage · method · hxw"
    return labels | {explorer.state.method}  # the caption's method at the CAM layer


def emphasised_spans(markdown: str):
    """(kind, text, opens_paragraph) for each bold ('strong') and italic ('em') span, as CommonMark renders them.

    opens_paragraph: the span starts a paragraph outside any list (as "**Predict, then run:**" does).
    Also yields ("literal", text, False) for '**' left in the rendered text: a bold that did not render.
    """
    from markdown_it import MarkdownIt

    list_depth = 0
    for block in MarkdownIt("commonmark").parse(markdown):
        list_depth += {"list_item_open": 1, "list_item_close": -1}.get(block.type, 0)
        if block.type != "inline":
            continue
        children = block.children
        for i, token in enumerate(children):
            if token.type == "text" and "**" in token.content:
                yield "literal", token.content, False
            if token.type not in ("strong_open", "em_open"):
                continue
            close = token.type.replace("_open", "_close")
            end = next(j for j in range(i + 1, len(children)) if children[j].type == close)
            text = "".join(child.content for child in children[i + 1:end])
            nothing_before = all(child.type == "html_inline" or (child.type == "text" and not child.content)
                                 for child in children[:i])
            yield token.type[:-5], text, nothing_before and list_depth == 0


def is_lesson_marker(text: str, the_whole_line: bool) -> bool:
    """Bold that structures the lesson, not a label: "**Time:**", "**Task 1, two objects.**", a title line."""
    return text.endswith((":", ".")) or the_whole_line


def label_quotes(notebook: Path):
    """(kind, text) of every emphasised span in the notebook's markdown that is not a lesson marker."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        markdown = "".join(cell["source"])
        lines = {line.strip() for line in markdown.splitlines()}
        for kind, text, opens_paragraph in emphasised_spans(markdown):
            if kind == "strong" and opens_paragraph and is_lesson_marker(text, f"**{text}**" in lines):
                continue
            yield kind, text


@pytest.fixture(scope="module")
def labels_by_language(lite0):
    return {lang: shown_labels(CAMExplorer(lite0, images={"coffee": "coffee"}, lang=lang)) for lang in LANGUAGES}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_notebook_05_quotes_only_labels_the_explorer_shows(lang, labels_by_language):
    """The rule: controls are quoted in bold, exactly as the explorer in the notebook's language writes them.

    So in notebook 05: a bold span (other than a lesson marker such as "**Predict, then run:**") is a label
    of that language; an italic span is never a label (of either language: labels are bold); and any
    emphasised method name (a span that mentions CAM) is a label too, as the layer menu writes it.
    """
    own = labels_by_language[lang]
    every_label = set().union(*labels_by_language.values())
    wrong = []
    for kind, text in label_quotes(EXPLORER_NOTEBOOKS[lang]):
        if kind == "literal":
            wrong.append(f"'**' left in the rendered text (a bold that CommonMark does not close): {text!r}")
        elif kind == "strong" and text not in own:
            wrong.append(f"**{text}** is not a label of the {lang} explorer")
        elif kind == "em" and text in own:
            wrong.append(f"*{text}* is a label: quote it in bold, as the {lang} explorer writes it")
        elif kind == "em" and text in every_label:
            wrong.append(f"*{text}* is a label of the explorer in another language, not of the {lang} one")
        elif "CAM" in text and text not in own:
            wrong.append(f"*{text}* names a method the {lang} explorer does not show")
    assert not wrong, f"{EXPLORER_NOTEBOOKS[lang].name} ({lang}), labels to fix (the explorer shows: " \
                      f"{sorted(own)}):\n" + "\n".join(wrong)
    quoted = {text for kind, text in label_quotes(EXPLORER_NOTEBOOKS[lang]) if kind == "strong"}
    assert len(quoted) >= 10, f"the tour quotes only {sorted(quoted)}: the rule above would pass on no quotes"


@pytest.mark.parametrize("markdown, problem", [
    ("**척도** 버튼을 *raw*로", "*raw* is a label of the explorer in another language"),  # English in Korean
    ("**척도** 버튼을 *원래 값*으로", "*원래 값* is a label: quote it in bold"),  # a label in italics
    ("- **척도(Scale)** 버튼", "**척도(Scale)** is not a label"),                  # the English name inside the bold
    ("마지막 층은 *진짜 CAM*입니다", "names a method"),                               # a method the menu does not show
    ("- **색상 맵**", "is not a label"),                                          # the label before it was renamed
    ('**"정확한 CAM"**는', "'**' left in the rendered text"),                      # CommonMark leaves this bold open
])
def test_label_check_catches_each_slip(markdown, problem, labels_by_language, tmp_path, monkeypatch):
    notebook = tmp_path / "05_cam_explorer.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": [markdown]}]}), encoding="utf-8")
    monkeypatch.setitem(EXPLORER_NOTEBOOKS, "ko", notebook)
    with pytest.raises(AssertionError, match=re.escape(problem)):
        test_notebook_05_quotes_only_labels_the_explorer_shows("ko", labels_by_language)
