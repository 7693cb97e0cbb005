#!/usr/bin/env python3
"""How fast the in-browser explorer (explorer.html) is, next to Python on the same photos, in one run.

    .venv/bin/python benchmarks/browser_explorer.py [--repeats 5] [--out build/explorer-bench]

Builds the explorer (tools/build_explorer.py), serves it from 127.0.0.1, and drives headless Chromium
(Playwright) with the HTTP cache warm (one visit first, then the timed ones). Prints, as medians:
- the first map after navigation (performance.now() when the first picture is drawn);
- a class change (click -> picture drawn; no model run);
- a new photo (decode + preprocessing + one run of cam.onnx), next to Python onnxruntime on the same
  photo in the same run (Pillow preprocessing + the same cam.onnx), with its default threads and with
  one thread like the page, and a plain PyTorch forward pass of the notebook's model;
- the first inner-layer Grad-CAM (loading gradcam.onnx + one run) and a later one (another class);
- the download for the CAM view and for the Grad-CAM graph (gzip -6, what a server sends compressed).

Targets of issue 20 (this machine, localhost, files cached): first map <= 2 s, class change <= 30 ms,
new photo <= 5x Python onnxruntime, first inner-layer Grad-CAM <= 1 s, later ones <= 400 ms,
CAM view <= 15 MB gzip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

import build_explorer  # noqa: E402
from install_browser import find_chromium  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def python_timings(model_dir: Path, samples: list[str], repeats: int) -> dict[str, dict[str, float]]:
    """Per sample: Pillow preprocessing + cam.onnx in onnxruntime (default threads, one thread), and a
    plain PyTorch forward pass of the notebook model on the same tensor (ms, medians)."""
    import onnxruntime as ort
    import torch

    from cam_helpers import load_classifier
    from cam_helpers.images import preprocess, sample_path

    classifier = load_classifier("efficientnet_lite0")
    graph = build_explorer.graph_with_weights(model_dir / "cam.onnx").SerializeToString()  # the page's weights
    default = ort.InferenceSession(graph)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    single = ort.InferenceSession(graph, options)
    out = {}
    for name in samples:
        row = {}
        for label, session in (("ort", default), ("ort_1thread", single)):
            times = []
            for _ in range(repeats + 1):
                start = time.perf_counter()
                batch = preprocess(sample_path(name), classifier.transform)
                session.run(None, {"image": batch.numpy()})
                times.append((time.perf_counter() - start) * 1000)
            row[label] = statistics.median(times[1:])
        batch = preprocess(sample_path(name), classifier.transform)
        with torch.inference_mode():
            classifier.model(batch)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                classifier.model(batch)
                times.append((time.perf_counter() - start) * 1000)
        row["torch_forward"] = statistics.median(times)
        out[name] = row
    return out


def browser_timings(url: str, samples: list[str], repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    wait = "([n]) => window.camExplorer && (camExplorer.shown > n || camExplorer.error)"
    results = {"first_map": [], "class_change": [], "photo": {name: [] for name in samples},
               "gradcam_first": [], "gradcam_later": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)  # the visit that fills the cache
        page.wait_for_function(wait, arg=[0], timeout=120_000)
        results["threads"] = page.evaluate("ort.env.wasm.numThreads")
        for _ in range(repeats):
            page.goto(url)
            page.wait_for_function(wait, arg=[0], timeout=120_000)
            results["first_map"].append(page.evaluate("camExplorer.timings.firstMap"))
            for name in samples:  # a new photo: decode, preprocess, one network run
                shown = page.evaluate("camExplorer.shown")
                page.click(f'.cx-sample[data-sample="{name}"]')
                page.wait_for_function(wait, arg=[shown])
                results["photo"][name].append(page.evaluate("camExplorer.timings.total"))
                for part in ("decode", "preprocess", "run", "session", "logits"):
                    results.setdefault(part, []).append(page.evaluate(f"camExplorer.timings.{part}"))
            for index in (1, 2, 3, 0):
                results["class_change"].append(page.evaluate(
                    """async (i) => { const t = performance.now();
                       document.querySelectorAll('input[name="cx-class"]')[i].click();
                       await camExplorer.settled(); return performance.now() - t; }""", index))
            results["gradcam_first"].append(page.evaluate(
                """async () => { const t = performance.now(); const s = document.getElementById('cx-layer');
                   s.value = '_blocks.7'; s.dispatchEvent(new Event('change'));
                   await camExplorer.settled(); return performance.now() - t; }"""))
            for index in (1, 2):
                results["gradcam_later"].append(page.evaluate(
                    """async (i) => { const t = performance.now();
                       document.querySelectorAll('input[name="cx-class"]')[i].click();
                       await camExplorer.settled(); return performance.now() - t; }""", index))
            assert page.evaluate("camExplorer.error") == ""
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "build" / "explorer-bench"))
    parser.add_argument("--isolated", action="store_true",
                        help="serve with COOP/COEP headers: the page may then use several WASM threads")
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print("no Chromium: install Debian's chromium package")
        return 1
    problem = build_explorer.ensure_runtime()
    if problem:
        print(problem)
        return 1
    out = Path(args.out)
    build_explorer.build_site_explorer(out)
    import render_series

    render_series.write_search_index(out, render_series.series_pages(ROOT / "notebooks"))
    samples = build_explorer.sample_names()
    headers = {"Cache-Control": "max-age=3600"}  # what a static host sends: the second visit is cached
    if args.isolated:  # a host that sends cross-origin isolation (GitHub Pages does not)
        headers.update({"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"})
    httpd, base = build_explorer.serve(out, headers)
    try:
        browser = browser_timings(f"{base}/explorer.html", samples, args.repeats)
    finally:
        httpd.shutdown()
    python = python_timings(out / "explorer" / "model", samples, args.repeats)
    median = statistics.median
    sizes = build_explorer.download_sizes(out)
    threads = browser["threads"]
    print(f"in-browser explorer, Chromium (onnxruntime-web WASM, {threads} thread{'s' if threads > 1 else ''}), "
          f"{args.repeats} repeats, medians")
    print(f"first map after navigation  {median(browser['first_map']):8.0f} ms   (target <= 2000)")
    print(f"class change                {median(browser['class_change']):8.1f} ms   (target <= 30)")
    print(f"first inner-layer Grad-CAM  {median(browser['gradcam_first']):8.0f} ms   (target <= 1000)")
    print(f"later Grad-CAM (new class)  {median(browser['gradcam_later']):8.0f} ms   (target <= 400)")
    print(f"download, CAM view          {sizes['cam_view'] / 1e6:8.1f} MB gzip (target <= 15); "
          f"Grad-CAM graph {sizes['gradcam'] / 1e3:.0f} kB more")
    print()
    print("new photo (ms)      browser   Python ort   ratio   ort 1 thread   ratio   torch forward")
    ratios = []
    for name in samples:
        page_ms, row = median(browser["photo"][name]), python[name]
        ratios.append(page_ms / row["ort"])
        print(f"{name:18s} {page_ms:8.0f} {row['ort']:12.0f} {page_ms / row['ort']:7.2f}x "
              f"{row['ort_1thread']:12.0f} {page_ms / row['ort_1thread']:7.2f}x {row['torch_forward']:13.0f}")
    print(f"largest ratio to Python onnxruntime: {max(ratios):.2f}x (target <= 5x)")
    print(f"a new photo in the page, all samples: decode {median(browser['decode']):.0f} ms, preprocessing "
          f"{median(browser['preprocess']):.0f} ms, network + logits {median(browser['run']):.0f} ms "
          f"(onnxruntime-web {median(browser['session']):.0f} ms, pooling + FC in JavaScript "
          f"{median(browser['logits']):.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
