/** Frame -> network input tensors, and the input sizes each depth model family expects. */
import { outputSize } from '../../src/ffmpeg.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * RGB24 (row-major, interleaved) -> NCHW float32 1 x 3 x outH x outW, bilinear resampling with
 * half-pixel centres when the size differs (align_corners=False), then x / 255 and, with
 * `normalise`, (x - mean) / std per channel.
 */
export function rgbToNchw(rgb: Uint8Array, width: number, height: number, outW = width, outH = height, normalise?: { mean: readonly number[]; std: readonly number[] }): Float32Array {
  const out = new Float32Array(3 * outW * outH);
  const plane = outW * outH;
  const mean = normalise?.mean ?? [0, 0, 0];
  const inv = normalise ? normalise.std.map((s) => 1 / (255 * s)) : [1 / 255, 1 / 255, 1 / 255];
  const off = mean.map((m, c) => (normalise ? m / normalise.std[c] : 0));
  if (outW === width && outH === height) {
    for (let p = 0; p < plane; p++) {
      out[p] = rgb[p * 3] * inv[0] - off[0];
      out[plane + p] = rgb[p * 3 + 1] * inv[1] - off[1];
      out[2 * plane + p] = rgb[p * 3 + 2] * inv[2] - off[2];
    }
    return out;
  }
  const sx = width / outW;
  const sy = height / outH;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(width - 1, x0 + 1);
      const wx = fx - x0;
      const p = y * outW + x;
      for (let c = 0; c < 3; c++) {
        const a = rgb[(y0 * width + x0) * 3 + c];
        const b = rgb[(y0 * width + x1) * 3 + c];
        const d = rgb[(y1 * width + x0) * 3 + c];
        const e = rgb[(y1 * width + x1) * 3 + c];
        const v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
        out[c * plane + p] = v * inv[c] - off[c];
      }
    }
  }
  return out;
}

/**
 * Depth Anything V2's input size (its `Resize(keep_aspect_ratio=True, ensure_multiple_of=14,
 * resize_method='lower_bound')`): scale so both sides are at least `inputSize`, each side rounded
 * to a multiple of 14 (rounded up when rounding would go below `inputSize`).
 */
export function depthAnythingSize(width: number, height: number, inputSize = 518, multiple = 14): { width: number; height: number } {
  const scale = Math.max(inputSize / width, inputSize / height);
  const constrain = (x: number) => {
    let y = Math.round(x / multiple) * multiple;
    if (y < inputSize) y = Math.ceil(x / multiple) * multiple;
    return y;
  };
  return { width: constrain(width * scale), height: constrain(height * scale) };
}

/** MoGe processing size: the frame scaled so its long side is at most `maxSide` (even sides, never upscaled). */
export function mogeSize(width: number, height: number, maxSide: number): { width: number; height: number } {
  if (Math.max(width, height) <= maxSide) return { width, height };
  return outputSize({ path: '', longSide: maxSide, srcWidth: width, srcHeight: height });
}
