// Node driver for tests/test_preprocess_js.py: runs the explorer's preprocessing on many images.
//
//   node tests/preprocess_check.js manifest.json
//
// manifest.json: {"cases": [{"rgba": "a.rgba", "width": W, "height": H, "options": {...},
//                             "tensor": "a.f32", "display": "a.rgba" and "loaded": "a.rgb" (optional)}, ...]}
//   rgba:   raw RGBA bytes, W*H*4, row-major (what getImageData gives the page)
//   tensor: written: CamPreprocess.preprocess(...).tensor as float32 little-endian, CHW
//   display: written (optional): preprocess(...).display, crop*crop*4 RGBA bytes
//   loaded: written: CamPreprocess.loadedPixels(...) as raw RGB bytes (the image that Python's
//           load_image(path, min_size=512) returns, before the resize)
// Prints one JSON line: {"loaded": [[w, h], ...]}, the loaded sizes in case order (null where not asked).
"use strict";

const fs = require("fs");
const path = require("path");
const CamPreprocess = require(path.join(__dirname, "..", "tools", "site", "explorer", "preprocess.js"));

const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const loadedSizes = [];
for (const item of manifest.cases) {
  const rgba = new Uint8Array(fs.readFileSync(item.rgba));
  const options = item.options || {};
  const { tensor, display } = CamPreprocess.preprocess(rgba, item.width, item.height, options);
  if (item.display) {
    fs.writeFileSync(item.display, display);
  }
  // Float32Array bytes are the platform's order; write little-endian explicitly.
  const bytes = Buffer.alloc(tensor.length * 4);
  tensor.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  fs.writeFileSync(item.tensor, bytes);
  if (item.loaded) {
    const loaded = CamPreprocess.loadedPixels(rgba, item.width, item.height, options);
    fs.writeFileSync(item.loaded, loaded.rgb);
    loadedSizes.push([loaded.width, loaded.height]);
  } else {
    loadedSizes.push(null);
  }
}
process.stdout.write(JSON.stringify({ loaded: loadedSizes }) + "\n");
