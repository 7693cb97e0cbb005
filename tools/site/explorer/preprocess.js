/*
 * The explorer's image preprocessing, bit for bit the float32 tensor that Python's
 *   cam_helpers.images.preprocess(path, classifier.transform)
 * gives for the offline EfficientNet-Lite0, whose transform is
 *   Resize(256, BICUBIC) -> CenterCrop(224) -> ToTensor() -> Normalize(127/255, 128/255).
 *
 * Why not the canvas? A browser's drawImage() resize uses its own filter, and that changed the
 * model's top-5 classes on 2 of the 6 samples. So every step is ported here from the code
 * Python runs (Pillow 13.0.0 and torchvision 0.29 in the project's environment):
 *   overWhite      <- Pillow src/libImaging/AlphaComposite.c   (Image.alpha_composite on white)
 *   reduce         <- Pillow src/libImaging/Reduce.c           (Image.reduce, box filter)
 *   resizeBicubic  <- Pillow src/libImaging/Resample.c         (Image.resize(size, BICUBIC))
 *   resizedSize    <- torchvision transforms/functional.py     (_compute_resized_output_size)
 *   centerCrop     <- torchvision transforms/functional.py     (center_crop)
 *   toTensor       <- torchvision to_tensor + _functional_tensor.normalize (float32 arithmetic)
 *
 * The one step that is NOT exact: JPEG files with a short side >= 1024. Python decodes them
 * with libjpeg's DCT-domain downscaling (Pillow's draft mode), which a browser cannot do; we
 * box-average the full decode instead (see loadedPixels). tests/test_preprocess_js.py measures
 * the difference.
 *
 * Layouts used below:
 *   RGBA bytes: Uint8Array or Uint8ClampedArray, length w*h*4, row-major, NOT premultiplied.
 *   RGB bytes:  Uint8Array, length w*h*3, row-major (pixel (x, y) starts at (y*w + x)*3).
 *   tensor:     Float32Array, length 3*size*size, CHW (channel c, row y, column x at
 *               c*size*size + y*size + x), like torch's (3, H, W).
 *
 * A classic script (no modules, no imports) so that a plain <script src> works from file://;
 * it sets globalThis.CamPreprocess, and module.exports under Node (for the tests).
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ transparency

  /**
   * Composite RGBA on white and drop alpha, as
   * Image.alpha_composite(Image.new("RGBA", size, "white"), rgba).convert("RGB").
   * Port of ImagingAlphaComposite (AlphaComposite.c) with the destination white (255, 255, 255, 255).
   * @param {Uint8Array|Uint8ClampedArray} rgba  w*h*4 bytes, not premultiplied
   * @param {number} w
   * @param {number} h
   * @returns {Uint8Array} RGB, w*h*3 bytes; opaque pixels are copied unchanged
   */
  function overWhite(rgba, w, h) {
    const PRECISION_BITS = 7; // AlphaComposite.c: "7 bits for precision" (more would pass 32 bits)
    const dstR = 255, dstG = 255, dstB = 255, dstA = 255; // white
    // SHIFTFORDIV255 (ImagingUtils.h): ((a >> 8) + a) >> 8 is a / 255 for the values that occur here.
    const shiftForDiv255 = (a) => (((a >>> 8) + a) >>> 8);
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0, o = 0; i < w * h * 4; i += 4, o += 3) {
      const srcA = rgba[i + 3];
      if (srcA === 255) { // opaque: the formula below gives the source colour back; skip it
        rgb[o] = rgba[i]; rgb[o + 1] = rgba[i + 1]; rgb[o + 2] = rgba[i + 2];
        continue;
      }
      if (srcA === 0) { // fully transparent: Pillow copies the destination pixel
        rgb[o] = dstR; rgb[o + 1] = dstG; rgb[o + 2] = dstB;
        continue;
      }
      // All UINT32 arithmetic in C; every value here stays below 2^32 and is exact in a double.
      const blend = dstA * (255 - srcA);
      const outA255 = srcA * 255 + blend;
      const coef1 = Math.floor((srcA * 255 * 255 * (1 << PRECISION_BITS)) / outA255); // C integer division
      const coef2 = 255 * (1 << PRECISION_BITS) - coef1;
      const half = 0x80 << PRECISION_BITS; // rounds the division by 255
      rgb[o] = shiftForDiv255(rgba[i] * coef1 + dstR * coef2 + half) >>> PRECISION_BITS;
      rgb[o + 1] = shiftForDiv255(rgba[i + 1] * coef1 + dstG * coef2 + half) >>> PRECISION_BITS;
      rgb[o + 2] = shiftForDiv255(rgba[i + 2] * coef1 + dstB * coef2 + half) >>> PRECISION_BITS;
    }
    return rgb;
  }

  // ------------------------------------------------------------------ Image.reduce (box filter)

  /**
   * Reduce.c's division_UINT32(divider, 8): 2^32 / (256 * divider) in C float, truncated.
   * Multiplying by it and shifting right by 24 divides by `divider` without a division.
   */
  function reduceMultiplier(divider) {
    return Math.trunc(Math.fround(4294967296 / Math.fround(256 * divider)));
  }

  /**
   * Image.reduce(factor): each output pixel is the mean of a factor x factor block, and of the
   * smaller block that is left over at the right and bottom edges (ImagingReduceCorners).
   * Every specialised C path (2x2, 3x3, 4x4, 5x5, NxN, corners) computes
   *   ((sum + count / 2) * division_UINT32(count, 8)) >> 24
   * for a block of `count` pixels (for 2x2 and 4x4 the multiplier is an exact power of two, so
   * their shifts `(sum + 2) >> 2`, `(sum + 8) >> 4` are the same numbers); we use that formula.
   * @param {Uint8Array} rgb  w*h*3 bytes
   * @param {number} w
   * @param {number} h
   * @param {number} factor  integer >= 1
   * @returns {{rgb: Uint8Array, width: number, height: number}}  size ceil(w / factor) x ceil(h / factor)
   */
  function reduce(rgb, w, h, factor) {
    if (!Number.isInteger(factor) || factor < 1) {
      throw new RangeError(`reduce: factor must be an integer >= 1, got ${factor}`);
    }
    if (factor === 1) {
      return { rgb: rgb.slice(), width: w, height: h };
    }
    // ImagingReduce: "Round the size up" -> (w - 1) / factor + 1 in C integer division.
    const outW = Math.floor((w - 1) / factor) + 1;
    const outH = Math.floor((h - 1) / factor) + 1;
    const out = new Uint8Array(outW * outH * 3);
    const multipliers = new Map(); // block pixel count -> multiplier (only a few distinct counts)
    for (let oy = 0; oy < outH; oy++) {
      const y0 = oy * factor, y1 = Math.min(y0 + factor, h);
      for (let ox = 0; ox < outW; ox++) {
        const x0 = ox * factor, x1 = Math.min(x0 + factor, w);
        const count = (x1 - x0) * (y1 - y0); // smaller for the last partial column/row
        if (!multipliers.has(count)) multipliers.set(count, reduceMultiplier(count));
        const multiplier = multipliers.get(count);
        const amend = Math.floor(count / 2); // rounds the mean to nearest
        let s0 = amend, s1 = amend, s2 = amend;
        for (let y = y0; y < y1; y++) {
          for (let i = (y * w + x0) * 3, end = (y * w + x1) * 3; i < end; i += 3) {
            s0 += rgb[i]; s1 += rgb[i + 1]; s2 += rgb[i + 2];
          }
        }
        // (ss * multiplier) >> 24 in UINT32: the product stays below 2^32, exact in a double.
        const o = (oy * outW + ox) * 3;
        out[o] = Math.floor((s0 * multiplier) / 16777216);
        out[o + 1] = Math.floor((s1 * multiplier) / 16777216);
        out[o + 2] = Math.floor((s2 * multiplier) / 16777216);
      }
    }
    return { rgb: out, width: outW, height: outH };
  }

  // ------------------------------------------------------------------ Image.resize(BICUBIC)

  const PRECISION_BITS = 32 - 8 - 2; // Resample.c: 22 bits of fraction, 8 for the value, 2 spare

  /** Resample.c bicubic_filter with a = -0.5 (Keys' cubic), support 2; same operation order as C. */
  function bicubicFilter(x) {
    const a = -0.5;
    if (x < 0.0) {
      x = -x;
    }
    if (x < 1.0) {
      return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    }
    if (x < 2.0) {
      return (((x - 5) * x + 8) * x - 4) * a;
    }
    return 0.0;
  }

  /**
   * Resample.c precompute_coeffs + normalize_coeffs_8bpc for the whole line (box in0 = 0,
   * in1 = inSize): for each output pixel the first input pixel it reads and the fixed-point
   * weights of the pixels it reads.
   * @returns {{ksize: number, bounds: Int32Array, kk: Int32Array}}
   *   bounds[2*i] = first input index, bounds[2*i + 1] = how many; kk[i*ksize + j] = weight * 2^22
   */
  function precomputeCoeffs(inSize, outSize) {
    const support0 = 2.0; // BICUBIC's support
    const scale = inSize / outSize; // (double)(in1 - in0) / outSize
    const filterscale = Math.max(scale, 1.0); // upscaling keeps the filter's own width
    const support = support0 * filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const bounds = new Int32Array(outSize * 2);
    const kk = new Int32Array(outSize * ksize);
    const weights = new Float64Array(ksize);
    const invFilterscale = 1.0 / filterscale; // C multiplies by the inverse (not divides)
    for (let xx = 0; xx < outSize; xx++) {
      const center = 0 + (xx + 0.5) * scale;
      // "(int)(... + 0.5)": C truncates toward zero, so a negative start becomes 0 or -0 -> 0.
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      let ww = 0.0;
      for (let x = 0; x < xmax; x++) {
        const w = bicubicFilter((x + xmin - center + 0.5) * invFilterscale);
        weights[x] = w;
        ww += w;
      }
      for (let x = 0; x < xmax; x++) {
        const k = ww !== 0.0 ? weights[x] / ww : weights[x]; // weights sum to 1
        // normalize_coeffs_8bpc: round half away from zero by hand, then C's (int) truncation.
        kk[xx * ksize + x] = k < 0
          ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS))
          : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
      }
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    return { ksize, bounds, kk };
  }

  /**
   * Resample.c clip8: drop the 22 fraction bits (arithmetic shift = floor) and clamp to 0..255.
   * The sum started at 2^21 (half of 2^22), so the floor rounds to nearest.
   */
  function clip8(sum) {
    const value = sum >> PRECISION_BITS; // |sum| < 2^31: fits int32 like the C int
    return value < 0 ? 0 : value > 255 ? 255 : value;
  }

  /**
   * _ImagingResampleHorizontal_8bpc on rows [rowFirst, rowFirst + rows) of the input.
   * @returns {Uint8Array} RGB, outW * rows * 3 bytes (the 8-bit intermediate image)
   */
  function resampleHorizontal(rgb, w, rowFirst, rows, outW, coeffs) {
    const { ksize, bounds, kk } = coeffs;
    const out = new Uint8Array(outW * rows * 3);
    for (let yy = 0; yy < rows; yy++) {
      const line = (yy + rowFirst) * w * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
        let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (let x = 0; x < xmax; x++) {
          const k = kk[xx * ksize + x];
          const i = line + (x + xmin) * 3;
          s0 += rgb[i] * k; s1 += rgb[i + 1] * k; s2 += rgb[i + 2] * k;
        }
        const o = (yy * outW + xx) * 3;
        out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
      }
    }
    return out;
  }

  /**
   * _ImagingResampleVertical_8bpc: bounds index rows of `rgb` (already shifted by the caller).
   * @returns {Uint8Array} RGB, w * outH * 3 bytes
   */
  function resampleVertical(rgb, w, outH, coeffs) {
    const { ksize, bounds, kk } = coeffs;
    const out = new Uint8Array(w * outH * 3);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
      for (let xx = 0; xx < w; xx++) {
        let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (let y = 0; y < ymax; y++) {
          const k = kk[yy * ksize + y];
          const i = ((y + ymin) * w + xx) * 3;
          s0 += rgb[i] * k; s1 += rgb[i + 1] * k; s2 += rgb[i + 2] * k;
        }
        const o = (yy * w + xx) * 3;
        out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
      }
    }
    return out;
  }

  /**
   * Image.resize((outW, outH), Image.BICUBIC) for an 8-bit RGB image (Resample.c
   * ImagingResampleInner): two separable passes with an 8-bit image between them, each pass
   * only when its size changes. Pillow 13 runs the vertical pass first when the height shrinks
   * by more than twice as many pixels as the width does; otherwise horizontal first, on just
   * the rows the vertical pass will read. The order matters because of the 8-bit rounding.
   * @param {Uint8Array} rgb  w*h*3 bytes
   * @returns {Uint8Array} RGB, outW*outH*3 bytes
   */
  function resizeBicubic(rgb, w, h, outW, outH) {
    const needHorizontal = outW !== w;
    const needVertical = outH !== h;
    if (!needHorizontal && !needVertical) {
      return rgb.slice(); // Image.resize returns a copy for the same size
    }
    const horizontalFirst = !(h - outH > 0 && h - outH > (w - outW) * 2);
    const horizontal = needHorizontal ? precomputeCoeffs(w, outW) : null;
    const vertical = needVertical ? precomputeCoeffs(h, outH) : null;
    if (!horizontalFirst) { // here both passes are needed: the height shrinks, so does the width
      const tall = resampleVertical(rgb, w, outH, vertical); // (w x outH)
      return needHorizontal ? resampleHorizontal(tall, w, 0, outH, outW, horizontal) : tall;
    }
    if (!needHorizontal) {
      return resampleVertical(rgb, w, outH, vertical);
    }
    // Horizontal pass over the rows the vertical pass reads: [first, last).
    let first = 0, last = h;
    if (needVertical) {
      first = vertical.bounds[0];
      last = vertical.bounds[outH * 2 - 2] + vertical.bounds[outH * 2 - 1];
      for (let i = 0; i < outH; i++) {
        vertical.bounds[i * 2] -= first; // the vertical pass reads the shorter intermediate image
      }
    }
    const wide = resampleHorizontal(rgb, w, first, last - first, outW, horizontal); // (outW x rows)
    return needVertical ? resampleVertical(wide, outW, outH, vertical) : wide;
  }

  // ------------------------------------------------------------------ torchvision

  /**
   * torchvision's Resize(int) size rule (_compute_resized_output_size, no max_size): the short
   * side becomes `size`, the long side int(size * long / short) (Python's int() truncates; the
   * double arithmetic is the same in JavaScript).
   * @returns {[number, number]} [newW, newH]
   */
  function resizedSize(w, h, size) {
    const short = Math.min(w, h), long = Math.max(w, h);
    const newShort = size, newLong = Math.trunc((size * long) / short);
    return w <= h ? [newShort, newLong] : [newLong, newShort];
  }

  /** Python's round() for x.0 and x.5: halves go to the even neighbour (round(0.5) == 0). */
  function roundHalfEven(x) {
    const floor = Math.floor(x);
    const diff = x - floor;
    if (diff < 0.5) return floor;
    if (diff > 0.5) return floor + 1;
    return floor % 2 === 0 ? floor : floor + 1;
  }

  /**
   * torchvision center_crop: top = int(round((h - cropH) / 2.0)), left likewise, with Python's
   * round-half-to-even (a 1-pixel difference from Math.round on odd margins).
   * An image smaller than the crop is padded with black first, as torchvision does (pad left/top
   * (crop - size) // 2, right/bottom the rest); after Resize(256) that cannot happen for crop 224.
   * @param {Uint8Array} rgb  w*h*3 bytes
   * @returns {Uint8Array} RGB, cropW*cropH*3 bytes
   */
  function centerCrop(rgb, w, h, cropW, cropH) {
    if (cropW > w || cropH > h) {
      const padLeft = cropW > w ? Math.floor((cropW - w) / 2) : 0;
      const padTop = cropH > h ? Math.floor((cropH - h) / 2) : 0;
      const paddedW = Math.max(w, cropW), paddedH = Math.max(h, cropH);
      const padded = new Uint8Array(paddedW * paddedH * 3); // zeros: torchvision's fill=0
      for (let y = 0; y < h; y++) {
        padded.set(rgb.subarray(y * w * 3, (y + 1) * w * 3), ((y + padTop) * paddedW + padLeft) * 3);
      }
      return centerCrop(padded, paddedW, paddedH, cropW, cropH);
    }
    const top = roundHalfEven((h - cropH) / 2.0);
    const left = roundHalfEven((w - cropW) / 2.0);
    const out = new Uint8Array(cropW * cropH * 3);
    for (let y = 0; y < cropH; y++) {
      const from = ((top + y) * w + left) * 3;
      out.set(rgb.subarray(from, from + cropW * 3), y * cropW * 3);
    }
    return out;
  }

  /** The coefficients of output pixels [start, start + count) only (bounds still index the input). */
  function sliceCoeffs(coeffs, start, count) {
    const { ksize, bounds, kk } = coeffs;
    return { ksize, bounds: bounds.slice(2 * start, 2 * (start + count)), kk: kk.subarray(start * ksize, (start + count) * ksize) };
  }

  /**
   * resizeBicubic then centerCrop, computing only the pixels the crop keeps: the same bytes (each
   * output pixel of a pass depends on its own coefficients and the input only, and the 8-bit image
   * between the passes holds the same values wherever it is computed), about half the work for a 3:2
   * photo. Falls back to the two steps when the crop needs padding.
   * @returns {Uint8Array} RGB, cropW*cropH*3 bytes
   */
  function resizeAndCrop(rgb, w, h, outW, outH, cropW, cropH) {
    if (cropW > outW || cropH > outH) {
      return centerCrop(resizeBicubic(rgb, w, h, outW, outH), outW, outH, cropW, cropH);
    }
    const top = roundHalfEven((outH - cropH) / 2.0);
    const left = roundHalfEven((outW - cropW) / 2.0);
    const needHorizontal = outW !== w;
    const needVertical = outH !== h;
    if (!needHorizontal && !needVertical) {
      return centerCrop(rgb, w, h, cropW, cropH);
    }
    const horizontal = needHorizontal ? sliceCoeffs(precomputeCoeffs(w, outW), left, cropW) : null;
    const vertical = needVertical ? sliceCoeffs(precomputeCoeffs(h, outH), top, cropH) : null;
    if (!needHorizontal) { // rows only: every column, then the crop's columns
      return centerCrop(resampleVertical(rgb, w, cropH, vertical), w, cropH, cropW, cropH);
    }
    if (!needVertical) { // columns only, on the crop's rows
      return resampleHorizontal(rgb, w, top, cropH, cropW, horizontal);
    }
    if (h - outH > 0 && h - outH > (w - outW) * 2) { // Pillow 13's vertical-first order (see resizeBicubic)
      const tall = resampleVertical(rgb, w, cropH, vertical); // (w x cropH)
      return resampleHorizontal(tall, w, 0, cropH, cropW, horizontal);
    }
    const first = vertical.bounds[0];
    const last = vertical.bounds[2 * cropH - 2] + vertical.bounds[2 * cropH - 1];
    for (let i = 0; i < cropH; i++) vertical.bounds[2 * i] -= first; // rows of the shorter intermediate
    const wide = resampleHorizontal(rgb, w, first, last - first, cropW, horizontal); // (cropW x rows)
    return resampleVertical(wide, cropW, cropH, vertical);
  }

  /**
   * ToTensor then Normalize, in float32 like torch: x = float32(u) / 255 (u8 tensor .to(float32)
   * .div(255)), then tensor.sub_(mean).div_(std) with float32 mean and std. Math.fround after
   * each operation gives float32's correctly rounded result (a double holds the exact
   * sum/quotient of two float32 closely enough that rounding twice is safe).
   * @param {Uint8Array} rgb  size*size*3 bytes (HWC)
   * @param {number} size
   * @param {number[]} mean  3 values
   * @param {number[]} std   3 values
   * @returns {Float32Array} 3*size*size, CHW
   */
  function toTensor(rgb, size, mean, std) {
    const plane = size * size;
    const tensor = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) {
      const m = Math.fround(mean[c]), s = Math.fround(std[c]);
      for (let p = 0; p < plane; p++) {
        const unit = Math.fround(rgb[p * 3 + c] / 255);
        tensor[c * plane + p] = Math.fround(Math.fround(unit - m) / s);
      }
    }
    return tensor;
  }

  // ------------------------------------------------------------------ the whole pipeline

  const DEFAULTS = Object.freeze({
    resize: 256, // Resize(256): round(224 / 0.875), classifier.imagenet_transform
    crop: 224,
    mean: [127 / 255, 127 / 255, 127 / 255], // LITE0_MEAN (cam_helpers/efficientnet_lite.py)
    std: [128 / 255, 128 / 255, 128 / 255], // LITE0_STD
    minSize: 512, // images.DECODE_MIN_SIZE; null or 0 keeps the full size
    isJpeg: false, // JPEG files: emulate Pillow's draft mode (approximate, see below)
  });

  /**
   * Pillow's JPEG draft scale for img.draft("RGB", (minSize, minSize)) (JpegImagePlugin.draft):
   * the largest of 8, 4, 2, 1 not above min(w // minSize, h // minSize).
   */
  function jpegDraftScale(w, h, minSize) {
    const scale = Math.min(Math.floor(w / minSize), Math.floor(h / minSize));
    for (const s of [8, 4, 2]) {
      if (scale >= s) return s;
    }
    return 1;
  }

  /**
   * What images.load_image(path, min_size=minSize) gives: transparency over white, then for big
   * images a smaller copy whose short side is still >= minSize.
   *   - other formats: Image.reduce(min(w, h) // minSize) when that factor is >= 2 (exact).
   *   - JPEG (isJpeg): Python first decodes at 1/2, 1/4 or 1/8 scale in libjpeg's DCT domain,
   *     which a browser cannot; we box-average the full decode by that scale instead (same size,
   *     not the same pixels), then apply the same remaining reduce.
   * @returns {{rgb: Uint8Array, width: number, height: number}}
   */
  function loadedPixels(rgba, w, h, options) {
    const opts = Object.assign({}, DEFAULTS, options);
    let image = { rgb: overWhite(rgba, w, h), width: w, height: h };
    if (!opts.minSize) {
      return image;
    }
    if (opts.isJpeg) {
      image = reduce(image.rgb, w, h, jpegDraftScale(w, h, opts.minSize));
    }
    const factor = Math.floor(Math.min(image.width, image.height) / opts.minSize);
    return factor >= 2 ? reduce(image.rgb, image.width, image.height, factor) : image;
  }

  /**
   * The whole pipeline: decoded RGBA pixels -> the model's input tensor.
   * @param {Uint8Array|Uint8ClampedArray} rgba  w*h*4 bytes, not premultiplied (getImageData of
   *   an ImageBitmap made with {colorSpaceConversion: "none", premultiplyAlpha: "none"})
   * @param {number} w
   * @param {number} h
   * @param {object} [options]  resize, crop, mean, std, minSize, isJpeg (defaults: DEFAULTS)
   * @returns {{tensor: Float32Array, display: Uint8ClampedArray, size: number}}
   *   tensor: 3*crop*crop CHW float32 (the batch's one image, shape (1, 3, crop, crop) in ONNX);
   *   display: crop*crop*4 RGBA bytes (alpha 255) of the cropped image the model sees, for
   *   drawing under the map (ImageData takes it as is)
   */
  function preprocess(rgba, w, h, options) {
    const opts = Object.assign({}, DEFAULTS, options);
    if (!(w > 0 && h > 0) || rgba.length !== w * h * 4) {
      throw new RangeError(`preprocess: expected ${w}*${h}*4 RGBA bytes, got ${rgba.length}`);
    }
    const loaded = loadedPixels(rgba, w, h, opts);
    const [newW, newH] = resizedSize(loaded.width, loaded.height, opts.resize);
    // Pillow's resize to (newW, newH), then torchvision's centre crop: only the kept pixels are computed
    const cropped = resizeAndCrop(loaded.rgb, loaded.width, loaded.height, newW, newH, opts.crop, opts.crop); // (crop, crop, 3)
    const display = new Uint8ClampedArray(opts.crop * opts.crop * 4);
    for (let p = 0; p < opts.crop * opts.crop; p++) {
      display[p * 4] = cropped[p * 3];
      display[p * 4 + 1] = cropped[p * 3 + 1];
      display[p * 4 + 2] = cropped[p * 3 + 2];
      display[p * 4 + 3] = 255;
    }
    return { tensor: toTensor(cropped, opts.crop, opts.mean, opts.std), display, size: opts.crop };
  }

  const CamPreprocess = {
    DEFAULTS, overWhite, reduce, resizeBicubic, resizedSize, centerCrop, resizeAndCrop, toTensor,
    jpegDraftScale, loadedPixels, preprocess,
  };
  globalThis.CamPreprocess = CamPreprocess;
  if (typeof module !== "undefined" && module.exports) {
    module.exports = CamPreprocess;
  }
})();
