/* The CAM explorer in the browser: the notebook explorer (cam_helpers.widgets.CAMExplorer) without Python.
 *
 * The network runs ONCE per photo (cam.onnx: image -> the last conv layer's features (1280, 7, 7)). The
 * logits, the top-5 and every class's CAM are then sums over those features with the FC weights
 * (classifier.bin), so a click on another class runs no network at all. An inner layer needs Grad-CAM:
 * gradcam.onnx (loaded the first time) gives that layer's activations and the gradients of the class
 * score, once per (photo, class), for all seven inner layers at once.
 *
 * A classic script on purpose (no ES modules): the same file works from a web server and from file://
 * (the double-click folder of tools/build_explorer.py --usb), where browsers refuse module imports.
 * window.camExplorer is the page's state, read by tests/test_explorer_page.py and by curious readers.
 */
(function () {
  "use strict";

  const config = window.CAM_EXPLORER_CONFIG;
  const model = config.model;
  const text = config.text;
  const $ = (id) => document.getElementById(id);
  const C = model.channels; // 1280
  if (C % 4 !== 0) throw new Error(`the FC loop reads 4 channels at a time; ${C} channels`);
  const K = model.num_classes; // 1000
  const SIZE = model.input.crop; // 224
  const MAX_UPLOAD_BYTES = config.max_upload_bytes; // the notebook explorer's (widgets.MAX_UPLOAD_BYTES)

  /** The explorer's state; tests read it. */
  const explorer = {
    runs: { cam: 0, gradcam: 0 }, // how often each ONNX session ran
    input: null, // Float32Array (3 * 224 * 224): the tensor the network saw, CHW
    imageName: "",
    logits: null, // Float64Array (K)
    probabilities: null, // Float64Array (K)
    top: [], // [{index, probability}] x top_k
    classIndex: -1,
    layer: model.cam_layer.name,
    scale: "normalised",
    shown: 0, // how many pictures were drawn (tests wait on it)
    error: "",
    timings: {}, // ms of the last photo: decode, preprocess, run, total; and the first map after navigation
    bigJpeg: false,
  };
  window.camExplorer = explorer;

  // --- words: the notebook explorer's table (cam_helpers.widgets.TEXT), Python's format mini-language ---

  /** "{name} ({probability:.1%})" with {name: "tabby", probability: 0.5} -> "tabby (50.0%)". */
  function format(template, values) {
    return template.replace(/\{(\w+)(?::\.(\d+)([f%]))?\}/g, (whole, key, digits, kind) => {
      const value = values[key];
      if (kind === "%") return (value * 100).toFixed(Number(digits)) + "%";
      if (kind === "f") return Number(value).toFixed(Number(digits));
      return String(value);
    });
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function status(message) { $("cx-status").textContent = message; }

  /** A message in the error box: the explorer's own frame ("... still works") unless ``frame`` is given. */
  function showError(message, frame = text.error) {
    explorer.error = message;
    $("cx-error").innerHTML = message ? format(frame, { detail: escapeHtml(message) }) : "";
  }

  /** Let the browser paint (a status line) before a long computation on this one thread. */
  function paint() { return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))); }

  // --- files: fetched from the site, or carried as base64 by the double-click build ---

  function base64Bytes(payload) {
    const binary = atob(payload);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function addScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error("could not load " + src));
      document.head.appendChild(script);
    });
  }

  const embeddedScripts = window.CAM_EXPLORER_EMBEDDED || null; // path -> data script (file:// build)

  /** The bytes of an explorer file (path relative to the explorer folder). */
  async function fileBytes(path) {
    const carried = window.CAM_EXPLORER_FILES || {};
    if (embeddedScripts && !(path in carried) && path in embeddedScripts) {
      await addScript(config.root + embeddedScripts[path]); // a classic script works from file://
    }
    if (path in (window.CAM_EXPLORER_FILES || {})) {
      const bytes = base64Bytes(window.CAM_EXPLORER_FILES[path]);
      delete window.CAM_EXPLORER_FILES[path]; // keep one copy in memory
      return bytes;
    }
    const response = await fetch(config.root + path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  // --- the network ---

  let camSession = null;
  let gradcamSession = null; // loaded on first use
  let fcWeight = null; // Float32Array (K * C), row c = class c
  let fcBias = null; // Float32Array (K)

  /** Every float16 bit pattern as a float: widening the weight files is then one lookup a value. */
  const HALF_TO_FLOAT = (() => {
    const table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) {
      const sign = bits & 0x8000 ? -1 : 1;
      const exponent = (bits >> 10) & 0x1f;
      const fraction = bits & 0x3ff;
      table[bits] = exponent === 0 ? sign * fraction * 2 ** -24
        : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
    return table;
  })();

  /** float16 little-endian bytes -> Float32Array (the same values). */
  function widen(bytes, count = bytes.byteLength / 2) {
    const halves = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 2 * count));
    const floats = new Float32Array(count);
    for (let i = 0; i < count; i++) floats[i] = HALF_TO_FLOAT[halves[i]];
    return floats;
  }

  function readClassifier(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    fcWeight = widen(bytes, K * C); // (K * C), float16 in the file
    fcBias = new Float32Array(K);
    for (let i = 0; i < K; i++) fcBias[i] = view.getFloat32(2 * K * C + 4 * i, true);
  }

  async function configureRuntime() {
    if (typeof ort === "undefined") throw new Error(text.web_no_runtime);
    // GitHub Pages sends no cross-origin-isolation headers: one thread there (and from file://).
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    ort.env.wasm.proxy = false;
    if (embeddedScripts) {
      // file://: no module import of a file, so the runtime's module becomes a blob: URL, its WASM bytes.
      const glue = await fileBytes(config.ort.mjs);
      const url = URL.createObjectURL(new Blob([glue], { type: "text/javascript" }));
      ort.env.wasm.wasmPaths = { mjs: url };
      ort.env.wasm.wasmBinary = await fileBytes(config.ort.wasm);
    } else {
      const here = (path) => new URL(config.root + path, location.href).href;
      ort.env.wasm.wasmPaths = { mjs: here(config.ort.mjs), wasm: here(config.ort.wasm) };
    }
  }

  let weights = null; // Promise of the two graphs' weights as float32 bytes (weights.bin widened), shared

  /** A session of an exported graph; its weights are the external data "weights.bin" at float32 offsets. */
  async function createSession(path) {
    if (!weights) {
      weights = fileBytes(config.files.weights).then((half) => new Uint8Array(widen(half).buffer));
      weights.catch(() => { weights = null; }); // a failed download is tried again next time
    }
    const [graph, data] = await Promise.all([fileBytes(path), weights]);
    return ort.InferenceSession.create(graph, {
      executionProviders: ["wasm"], graphOptimizationLevel: "all",
      externalData: [{ path: config.files.weights.split("/").pop(), data }],
    });
  }

  /** One run of cam.onnx: features (C, 7, 7) as a Float32Array, then logits and probabilities. */
  async function runNetwork(tensor) {
    const start = performance.now();
    const output = await camSession.run({ image: new ort.Tensor("float32", tensor, [1, 3, SIZE, SIZE]) });
    explorer.runs.cam += 1;
    explorer.timings.session = performance.now() - start;
    const features = output.features.data; // (C * h * w)
    const [, h, w] = model.cam_layer.shape;
    const pooled = new Float64Array(C); // global average pooling: (C)
    for (let k = 0; k < C; k++) {
      let sum = 0;
      for (let p = 0; p < h * w; p++) sum += features[k * h * w + p];
      pooled[k] = sum / (h * w);
    }
    const logits = new Float64Array(K); // the FC layer: (K)
    for (let c = 0; c < K; c++) {
      const row = c * C;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0; // four sums: the loop runs about twice as fast (C = 1280 = 4 * 320)
      for (let k = 0; k < C; k += 4) {
        s0 += fcWeight[row + k] * pooled[k];
        s1 += fcWeight[row + k + 1] * pooled[k + 1];
        s2 += fcWeight[row + k + 2] * pooled[k + 2];
        s3 += fcWeight[row + k + 3] * pooled[k + 3];
      }
      logits[c] = fcBias[c] + (s0 + s1) + (s2 + s3);
    }
    explorer.timings.logits = performance.now() - start - explorer.timings.session;
    const top = logits.reduce((a, b) => Math.max(a, b), -Infinity);
    const exps = logits.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return { features, logits, probabilities: exps.map((v) => v / total) };
  }

  // --- maps ---

  let cache = null; // per photo: features, maps by "layer|class"

  /** Exact CAM of class c at the last conv layer: sum_k w_ck f_k, then ReLU (as the notebook explorer). */
  function camMap(photo, classIndex) {
    const [, h, w] = model.cam_layer.shape;
    const map = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) {
      let sum = 0;
      for (let k = 0; k < C; k++) sum += fcWeight[classIndex * C + k] * photo.features[k * h * w + p];
      map[p] = Math.max(0, sum);
    }
    return map;
  }

  let gradcamBytes = null; // Promise of gradcam.onnx, fetched in the background once the CAM view is up

  /** Fetch the Grad-CAM graph (20 kB gzip: its weights are the CAM graph's) while the network is there,
   *  so that picking an earlier layer later works offline too. */
  function prefetchGradcam() {
    if (!gradcamBytes) {
      gradcamBytes = fileBytes(config.files.gradcam);
      gradcamBytes.then(() => { explorer.gradcamFetched = true; }, () => { gradcamBytes = null; });
    }
    return gradcamBytes;
  }

  async function loadGradcam() {
    if (gradcamSession) return;
    status(text.web_loading_gradcam);
    await paint();
    const start = performance.now();
    const [graph, data] = await Promise.all([prefetchGradcam(), weights]);
    gradcamSession = await ort.InferenceSession.create(graph, {
      executionProviders: ["wasm"], graphOptimizationLevel: "all",
      externalData: [{ path: config.files.weights.split("/").pop(), data }],
    });
    explorer.timings.gradcamLoad = performance.now() - start;
  }

  /** Grad-CAM of class c at every inner layer from one run of gradcam.onnx: ReLU(sum_k mean(dS/dA_k) A_k). */
  async function gradcamMaps(photo, classIndex) {
    await loadGradcam();
    status(format(text.web_gradcam_running, { name: model.classes[classIndex] }));
    await paint();
    const start = performance.now();
    const classWeight = fcWeight.slice(classIndex * C, (classIndex + 1) * C); // (1, C): the class's FC row
    const output = await gradcamSession.run({
      image: new ort.Tensor("float32", photo.input, [1, 3, SIZE, SIZE]),
      class_weight: new ort.Tensor("float32", classWeight, [1, C]),
    });
    explorer.runs.gradcam += 1;
    model.inner_layers.forEach((layer, i) => {
      const [channels, h, w] = layer.shape;
      const activation = output[`activation_${i}`].data; // (channels * h * w)
      const gradient = output[`gradient_${i}`].data;
      const map = new Float32Array(h * w);
      for (let k = 0; k < channels; k++) {
        let alpha = 0; // the mean gradient of channel k: Grad-CAM's weight
        for (let p = 0; p < h * w; p++) alpha += gradient[k * h * w + p];
        alpha /= h * w;
        for (let p = 0; p < h * w; p++) map[p] += alpha * activation[k * h * w + p];
      }
      for (let p = 0; p < h * w; p++) map[p] = Math.max(0, map[p]);
      photo.maps.set(`${layer.name}|${classIndex}`, map); // this photo's, even if another one is shown now
    });
    explorer.timings.gradcam = performance.now() - start;
  }

  function layerInfo(name) {
    return name === model.cam_layer.name ? model.cam_layer : model.inner_layers.find((l) => l.name === name);
  }

  /** The raw map (h * w) of a class at a layer of one photo, computed once. */
  async function rawMap(photo, layer, classIndex) {
    const key = `${layer}|${classIndex}`;
    if (!photo.maps.has(key)) {
      if (layer === model.cam_layer.name) photo.maps.set(key, camMap(photo, classIndex));
      else await gradcamMaps(photo, classIndex);
    }
    return photo.maps.get(key);
  }

  /** (h, w) -> (224, 224) bilinear, align_corners=False: torch.nn.functional.interpolate's rule. */
  function upsample(map, h, w) {
    const out = new Float32Array(SIZE * SIZE);
    const source = (dst, inSize) => Math.max(0, (dst + 0.5) * (inSize / SIZE) - 0.5);
    for (let y = 0; y < SIZE; y++) {
      const sy = source(y, h);
      const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), ly = sy - y0;
      for (let x = 0; x < SIZE; x++) {
        const sx = source(x, w);
        const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), lx = sx - x0;
        const top = map[y0 * w + x0] * (1 - lx) + map[y0 * w + x1] * lx;
        const bottom = map[y1 * w + x0] * (1 - lx) + map[y1 * w + x1] * lx;
        out[y * SIZE + x] = top * (1 - ly) + bottom * ly;
      }
    }
    return out;
  }

  /** Min-max to [0, 1]; a flat map becomes zeros (cam.normalize_maps, eps 1e-8). */
  function normalise(values) {
    let low = Infinity, high = -Infinity;
    for (const v of values) { if (v < low) low = v; if (v > high) high = v; }
    const span = high - low;
    return values.map((v) => (span > 1e-8 ? (v - low) / span : 0));
  }

  /** The heat (224 * 224, in [0, 1]) of a class at a layer, on the chosen scale, and its raw map. */
  async function heat(photo, layer, classIndex, scale) {
    const [, h, w] = layerInfo(layer).shape;
    const raw = await rawMap(photo, layer, classIndex);
    const big = upsample(raw, h, w);
    if (scale === "normalised") return { raw, big, heat: normalise(big), h, w };
    // raw: one scale for every class at this layer, the top class's maximum, so a weak class looks weak
    const ceiling = upsample(await rawMap(photo, layer, photo.top[0].index), h, w).reduce((a, b) => Math.max(a, b), 0);
    return { raw, big, heat: big.map((v) => (ceiling > 0 ? Math.min(1, Math.max(0, v / ceiling)) : 0)), h, w };
  }

  // --- drawing ---

  function draw(photo, heatValues) {
    const canvas = $("cx-canvas");
    const context = canvas.getContext("2d");
    const picture = context.createImageData(SIZE, SIZE);
    const colours = config.colormaps[$("cx-colormap").value]; // 256 x [r, g, b] (matplotlib's table)
    const alpha = Number($("cx-opacity").value);
    for (let p = 0; p < SIZE * SIZE; p++) {
      const colour = colours[Math.min(255, Math.floor(heatValues[p] * 256))]; // matplotlib's lookup
      for (let channel = 0; channel < 3; channel++) {
        const under = photo.display[4 * p + channel];
        picture.data[4 * p + channel] = Math.round((1 - alpha) * under + alpha * colour[channel]);
      }
      picture.data[4 * p + 3] = 255;
    }
    context.putImageData(picture, 0, 0);
  }

  let rendering = Promise.resolve();

  /** Draw the current choice (queued, so fast clicks draw in order). */
  function render() {
    rendering = rendering.then(renderNow).catch((error) => showError(error.message || String(error)));
    return rendering;
  }

  async function renderNow() {
    const photo = cache; // the photo shown when this drawing was asked for
    if (!photo) return;
    const layer = $("cx-layer").value;
    const classIndex = explorer.classIndex;
    const scale = document.querySelector('input[name="cx-scale"]:checked').value;
    let result;
    try {
      result = await heat(photo, layer, classIndex, scale);
    } catch (error) {
      $("cx-layer").value = explorer.layer; // the picture still shows that layer
      throw error;
    }
    if (photo !== cache) return; // another photo arrived meanwhile: its own drawing follows
    draw(photo, result.heat);
    const isCam = layer === model.cam_layer.name;
    const name = model.classes[classIndex];
    const probability = explorer.probabilities[classIndex];
    $("cx-caption").innerHTML = format(text.caption, {
      // the picker's name of the layer beside the network's own, so the two can be matched
      name: escapeHtml(name), probability, layer: escapeHtml(`${stageName(layerInfo(layer).stage)} · ${layer}`),
      method: isCam ? text.cam : text.gradcam,
      h: result.h, w: result.w, scale: text[scale], box: "",
    });
    $("cx-canvas").setAttribute("aria-label", format(text.web_map_alt, { name }));
    Object.assign(explorer, { layer, scale, heatmap: result.heat, rawMap: result.raw });
    showError(""); // this drawing worked: an earlier message no longer holds
    status(format(text.web_ready, { ms: explorer.timings.total }));
    explorer.shown += 1;
    if (explorer.timings.firstMap === undefined) explorer.timings.firstMap = performance.now();
  }

  // --- controls ---

  /** "stage 4" / "head" in the page's language ("단계 4", "헤드"). */
  function stageName(stage) {
    return stage.replace(/^stage\b/, text.web_stage).replace(/^head$/, text.web_head);
  }

  function fillLayers() {
    const select = $("cx-layer");
    const layers = model.inner_layers.concat([model.cam_layer]); // earliest first, exact CAM last
    for (const layer of layers) {
      const option = document.createElement("option");
      option.value = layer.name;
      option.textContent = format(text.layer_option, {
        stage: stageName(layer.stage), method: layer.name === model.cam_layer.name ? text.cam_exact : text.gradcam,
        h: layer.shape[1], w: layer.shape[2],
      });
      select.appendChild(option);
    }
    select.value = model.cam_layer.name;
    for (const name of Object.keys(config.colormaps)) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      $("cx-colormap").appendChild(option);
    }
  }

  function fillClasses() {
    const box = $("cx-classes");
    box.textContent = "";
    $("cx-top-label").textContent = format(text.web_top, { k: config.top_k });
    for (const { index, probability } of explorer.top) {
      const label = document.createElement("label");
      label.className = "cx-class";
      const input = document.createElement("input");
      Object.assign(input, { type: "radio", name: "cx-class", value: String(index), checked: index === explorer.classIndex });
      input.addEventListener("change", () => { explorer.classIndex = index; render(); });
      const words = document.createElement("span");
      words.textContent = format(text.class_option, { name: model.classes[index], probability });
      const bar = document.createElement("span");
      bar.className = "cx-bar";
      bar.style.width = `${Math.max(2, Math.round(probability * 120))}px`;
      label.append(input, words, bar);
      box.appendChild(label);
    }
  }

  function fillSamples() {
    for (const sample of config.samples) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cx-sample";
      button.dataset.sample = sample.name;
      button.setAttribute("aria-pressed", "false");
      const image = document.createElement("img");
      Object.assign(image, { src: config.root + sample.file, alt: "", loading: "lazy" });
      const label = document.createElement("span");
      label.textContent = sample.name;
      button.append(image, label);
      button.addEventListener("click", () => loadSample(sample.name));
      $("cx-samples").appendChild(button);
    }
  }

  function markSample(name) {
    for (const button of document.querySelectorAll(".cx-sample")) {
      button.setAttribute("aria-pressed", String(button.dataset.sample === name));
    }
  }

  // --- photos ---

  function isJpeg(bytes) { return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff; }

  /** Decoded RGBA pixels, as Pillow decodes them: no colour-profile conversion, EXIF orientation applied. */
  async function decode(blob) {
    const bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: "none", premultiplyAlpha: "none", imageOrientation: "from-image",
    });
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data; // (H * W * 4) RGBA
    bitmap.close();
    return { pixels, width: canvas.width, height: canvas.height };
  }

  /** A photo (Blob) -> the network's input -> one run -> the top class's map. */
  async function loadPhoto(blob, name) {
    showError("");
    if (blob.size > MAX_UPLOAD_BYTES) {
      throw new Error(format(text.too_large, { name, mb: blob.size / 1e6, limit: MAX_UPLOAD_BYTES / 1e6 }));
    }
    const start = performance.now();
    status(text.web_running); // painted while the photo decodes (an await)
    const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
    let decoded;
    try {
      decoded = await decode(blob);
    } catch (error) {
      throw new Error(format(text.web_not_image, { name }));
    }
    const decodedAt = performance.now();
    const prepared = CamPreprocess.preprocess(decoded.pixels, decoded.width, decoded.height, {
      resize: model.input.resize, crop: SIZE, mean: model.input.mean, std: model.input.std,
      minSize: model.input.min_size, isJpeg: isJpeg(head),
    });
    // Pillow's draft mode would decode this JPEG small inside libjpeg: the one place the page cannot match.
    const bigJpeg = isJpeg(head) && CamPreprocess.jpegDraftScale(decoded.width, decoded.height, model.input.min_size) > 1;
    const preparedAt = performance.now();
    const result = await runNetwork(prepared.tensor);
    const ranAt = performance.now();
    const order = Array.from(result.probabilities.keys()).sort((a, b) => result.probabilities[b] - result.probabilities[a]);
    const top = order.slice(0, config.top_k).map((index) => ({ index, probability: result.probabilities[index] }));
    cache = { input: prepared.tensor, display: prepared.display, features: result.features, maps: new Map(), top };
    Object.assign(explorer, {
      input: prepared.tensor, imageName: name, logits: result.logits, probabilities: result.probabilities,
      top, classIndex: order[0], bigJpeg,
    });
    explorer.timings = Object.assign(explorer.timings, {
      decode: decodedAt - start, preprocess: preparedAt - decodedAt, run: ranAt - preparedAt, total: ranAt - start,
    });
    $("cx-note").textContent = bigJpeg ? text.web_big_jpeg : ""; // stays while this photo is shown
    fillClasses();
    await render();
  }

  async function loadSample(name) {
    const sample = config.samples.find((s) => s.name === name);
    showError(""); // at once: the last photo's message is not about this one
    await guarded(async () => {
      await loadPhoto(new Blob([await fileBytes(sample.file)]), sample.name);
      markSample(name);
    });
  }

  async function guarded(action) {
    try {
      await action();
    } catch (error) {
      showError(error.message || String(error));
      status("");
    }
  }

  function readFile(file) {
    if (!file) return;
    showError("");
    guarded(async () => {
      await loadPhoto(file, file.name);
      markSample(""); // a photo of the reader's own: no sample is shown now
    });
  }

  function wire() {
    for (const id of ["cx-file", "cx-camera"]) {
      $(id).addEventListener("change", (event) => {
        readFile(event.target.files[0]);
        event.target.value = ""; // choosing the same file again is a change too
      });
    }
    $("cx-layer").addEventListener("change", render);
    $("cx-opacity").addEventListener("input", render);
    $("cx-colormap").addEventListener("change", render);
    for (const input of document.querySelectorAll('input[name="cx-scale"]')) input.addEventListener("change", render);
    document.addEventListener("dragover", (event) => { event.preventDefault(); document.body.classList.add("cx-dragging"); });
    document.addEventListener("dragleave", (event) => {
      if (event.relatedTarget === null) document.body.classList.remove("cx-dragging"); // left the window
    });
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      document.body.classList.remove("cx-dragging");
      readFile(event.dataTransfer.files[0]);
    });
  }

  async function start() {
    fillSamples();
    fillLayers();
    wire();
    status(format(text.web_loading, { mb: config.download_bytes / 1e6 }));
    if (typeof ort === "undefined") {
      showError(text.web_no_runtime, "{detail}"); // not the "still works" frame: nothing works without it
      status("");
      throw new Error(text.web_no_runtime);
    }
    try {
      await configureRuntime();
      const [session, classifier] = await Promise.all([createSession(config.files.cam), fileBytes(config.files.classifier)]);
      camSession = session;
      readClassifier(classifier);
      explorer.timings.loaded = performance.now();
    } catch (error) {
      showError(error.message || String(error), text.web_load_failed);
      status("");
      throw error;
    }
    $("cx-inputs").disabled = false; // photos can be chosen now that the network is there
    await loadSample(config.samples[0].name);
    prefetchGradcam();
  }

  /** For tests and the benchmark: the map shown for (layer, class) on the current scale, as plain arrays. */
  explorer.mapFor = async (layer, classIndex, scale = "normalised") => {
    const result = await heat(cache, layer, classIndex, scale);
    return { raw: Array.from(result.raw), heat: Array.from(result.heat), h: result.h, w: result.w };
  };
  explorer.loadSample = loadSample;
  explorer.settled = () => rendering; // resolves when every queued drawing is done
  explorer.ready = start();
  explorer.ready.catch(() => {});
})();
