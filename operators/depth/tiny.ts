/**
 * Tiny stand-in depth models for tests: the input/output names, dtypes and ranks of the real
 * exports (MoGe-2 official ONNX; Depth Anything V2 metric as exported by HF/optimum), with graphs
 * that render a known plane, so tests can predict depth and intrinsics exactly. No learned
 * weights; nothing they output is a real depth estimate.
 *
 * MoGe-2 tiny (`moge2.tiny.onnx`): for an input of H x W, in MoGe's normalised view plane
 * (u, v in units of half the image diagonal, see moge.ts) the camera-space plane is
 *   1/Z = A + B u + C v,   X = Z u / F,   Y = Z v / F
 * (a plane seen by a camera of normalised focal F, principal point at the centre). The outputs are
 *   metric_scale = S0 + S1 * mean(image)                       [B]
 *   points       = (X / S0, Y / S0, Z / S0 - SHIFT)             [B,H,W,3]  (affine-invariant, as MoGe)
 *   mask         = 0.1 where u < U_MASK else 0.9               [B,H,W]    (left strip invalid)
 *   normal       = NORMAL                                       [B,H,W,3]
 * so MoGe post-processing must recover focal F and shift SHIFT, and depth = Z * metric_scale / S0
 * (metres) where valid: the image mean enters only through the metric scale, so feeding the image
 * in 0..255 instead of 0..1 shows up in the depth.
 *
 * Depth Anything V2 tiny (`depth_anything_v2.tiny.onnx`): input `pixel_values` [B,3,H,W], output
 * `predicted_depth` [B,H,W] with xn = (x + 0.5) / W - 0.5, yn = (y + 0.5) / H - 0.5:
 *   predicted_depth = 1 / (A + B xn + C yn) + K * mean(pixel_values)
 * (mean of the ImageNet-normalised input, which tests the normalisation).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OnnxGraph, f32, i64 } from '../../src/onnx/writer.js';

const META = { 'egopipe.tiny': 'true', 'egopipe.note': 'test stand-in without learned weights; outputs are meaningless' };

export const TINY_MOGE = {
  /** normalised focal (half-diagonal units) */
  F: 1.2,
  A: 1 / 1.5,
  B: 0.1,
  C: 0.15,
  S0: 2.0,
  S1: 0.5,
  SHIFT: 0.3,
  U_MASK: -0.5,
  NORMAL: [0, 0, -1] as const,
};

export const TINY_DEPTH_ANYTHING = {
  A: 1 / 2.0,
  B: 0.08,
  C: -0.05,
  K: 0.01,
};

/** Reference of the tiny MoGe depth (metres) at pixel (x, y) of a W x H input whose mean (0..1) is `mean`; NaN where masked. */
export function tinyMogeDepth(x: number, y: number, width: number, height: number, mean: number): number {
  const hd = Math.hypot(width, height) / 2;
  const u = (x + 0.5 - width / 2) / hd;
  const v = (y + 0.5 - height / 2) / hd;
  if (u < TINY_MOGE.U_MASK) return NaN;
  return ((1 / (TINY_MOGE.A + TINY_MOGE.B * u + TINY_MOGE.C * v)) * (TINY_MOGE.S0 + TINY_MOGE.S1 * mean)) / TINY_MOGE.S0;
}

/** Reference of the tiny Depth Anything depth at pixel (x, y) for an input whose mean is `mean`. */
export function tinyDepthAnythingDepth(x: number, y: number, width: number, height: number, mean: number): number {
  const xn = (x + 0.5) / width - 0.5;
  const yn = (y + 0.5) / height - 0.5;
  return 1 / (TINY_DEPTH_ANYTHING.A + TINY_DEPTH_ANYTHING.B * xn + TINY_DEPTH_ANYTHING.C * yn) + TINY_DEPTH_ANYTHING.K * mean;
}

/** Graph fragment: row/column coordinate vectors of the input image (float), [1,W] and [H,1]. */
function pixelGrid(g: OnnxGraph, input: string): { xr: string; yr: string; Hf: string; Wf: string } {
  g.initializer('i_two', i64([2]), [])
    .initializer('i_three', i64([3]), [])
    .initializer('f_zero', f32([0]), [])
    .initializer('f_one', f32([1]), [])
    .initializer('f_half', f32([0.5]), [])
    .node('Shape', [input], ['shp'])
    .node('Gather', ['shp', 'i_two'], ['H_i'], { axis: 0 })
    .node('Gather', ['shp', 'i_three'], ['W_i'], { axis: 0 })
    .node('Cast', ['H_i'], ['Hf'], { to: 1 })
    .node('Cast', ['W_i'], ['Wf'], { to: 1 })
    .node('Range', ['f_zero', 'Wf', 'f_one'], ['xr'])
    .node('Range', ['f_zero', 'Hf', 'f_one'], ['yr'])
    .node('Add', ['xr', 'f_half'], ['xc']) // pixel centres in edge coordinates
    .node('Add', ['yr', 'f_half'], ['yc']);
  return { xr: 'xc', yr: 'yc', Hf: 'Hf', Wf: 'Wf' };
}

export interface TinyOptions {
  /** fixed input [1,3,H,W] instead of dynamic (like a static export) */
  staticSize?: [number, number];
}

export function buildTinyMoge(opts: TinyOptions = {}): Uint8Array {
  const T = TINY_MOGE;
  const g = new OnnxGraph('tiny_moge2', 'egopipe tiny stand-in for a MoGe-2 ONNX export (renders a known plane)');
  const dims = opts.staticSize ? [1, 3, opts.staticSize[0], opts.staticSize[1]] : ['batch_size', 3, 'height', 'width'];
  g.input('image', 'float32', dims, 'RGB in 0..1, NCHW');
  g.input('num_tokens', 'int64', [], 'number of base ViT tokens');
  const { xr, yr, Hf, Wf } = pixelGrid(g, 'image');
  g.initializer('axes0', i64([0]), [1])
    .initializer('axes1', i64([1]), [1])
    .initializer('axes_last', i64([-1]), [1])
    .initializer('shape_b11', i64([-1, 1, 1]), [3])
    .initializer('cA', f32([T.A]), [])
    .initializer('cB', f32([T.B]), [])
    .initializer('cC', f32([T.C]), [])
    .initializer('cF', f32([T.F]), [])
    .initializer('cS0', f32([T.S0]), [])
    .initializer('cS1', f32([T.S1]), [])
    .initializer('cShift', f32([T.SHIFT]), [])
    .initializer('cUmask', f32([T.U_MASK]), [])
    .initializer('c_lo', f32([0.1]), [])
    .initializer('c_hi', f32([0.9]), [])
    .initializer('cNormal', f32([...T.NORMAL]), [3]);
  // half diagonal, u [W], v [H]
  g.node('Mul', [Hf, Hf], ['H2'])
    .node('Mul', [Wf, Wf], ['W2'])
    .node('Add', ['H2', 'W2'], ['D2'])
    .node('Sqrt', ['D2'], ['D'])
    .node('Mul', ['D', 'f_half'], ['hd'])
    .node('Mul', [Wf, 'f_half'], ['Wh'])
    .node('Mul', [Hf, 'f_half'], ['Hh'])
    .node('Sub', [xr, 'Wh'], ['xu'])
    .node('Sub', [yr, 'Hh'], ['yv'])
    .node('Div', ['xu', 'hd'], ['u'])
    .node('Div', ['yv', 'hd'], ['v'])
    .node('Unsqueeze', ['u', 'axes0'], ['u2']) // [1,W]
    .node('Unsqueeze', ['v', 'axes1'], ['v2']); // [H,1]
  // plane
  g.node('Mul', ['u2', 'cB'], ['Bu'])
    .node('Mul', ['v2', 'cC'], ['Cv'])
    .node('Add', ['Bu', 'Cv'], ['BuCv'])
    .node('Add', ['BuCv', 'cA'], ['invZ'])
    .node('Reciprocal', ['invZ'], ['Z']) // [H,W]
    .node('Mul', ['Z', 'u2'], ['Zu'])
    .node('Div', ['Zu', 'cF'], ['X'])
    .node('Mul', ['Z', 'v2'], ['Zv'])
    .node('Div', ['Zv', 'cF'], ['Y']);
  // metric scale [B] from the image mean (and num_tokens, so it is used)
  g.node('ReduceMean', ['image'], ['mean_b'], { axes: [1, 2, 3], keepdims: 0 })
    .node('Cast', ['num_tokens'], ['nt_f'], { to: 1 })
    .node('Mul', ['nt_f', 'f_zero'], ['nt0'])
    .node('Mul', ['mean_b', 'cS1'], ['s1m'])
    .node('Add', ['s1m', 'cS0'], ['s_nt'])
    .node('Add', ['s_nt', 'nt0'], ['metric_scale'])
    .node('Reshape', ['metric_scale', 'shape_b11'], ['s3']) // [B,1,1]
    .node('Mul', ['s3', 'f_zero'], ['zb']); // [B,1,1] zeros: broadcasts the map to the batch
  // the point map is Z / S0 (not / metric_scale): depth = (z + shift) * metric_scale then carries the
  // image mean, which tests that the image is fed in 0..1
  g.node('Div', ['X', 'cS0'], ['Xs0'])
    .node('Div', ['Y', 'cS0'], ['Ys0'])
    .node('Div', ['Z', 'cS0'], ['Zs0'])
    .node('Add', ['Xs0', 'zb'], ['Xs'])
    .node('Add', ['Ys0', 'zb'], ['Ys'])
    .node('Sub', ['Zs0', 'cShift'], ['Zs1'])
    .node('Add', ['Zs1', 'zb'], ['Zs'])
    .node('Unsqueeze', ['Xs', 'axes_last'], ['Xs4'])
    .node('Unsqueeze', ['Ys', 'axes_last'], ['Ys4'])
    .node('Unsqueeze', ['Zs', 'axes_last'], ['Zs4'])
    .node('Concat', ['Xs4', 'Ys4', 'Zs4'], ['points'], { axis: -1 });
  // mask and normal
  g.node('Less', ['u2', 'cUmask'], ['left'])
    .node('Where', ['left', 'c_lo', 'c_hi'], ['mask_w']) // [1,W]
    .node('Mul', ['Zs', 'f_zero'], ['zeros3']) // [B,H,W]
    .node('Add', ['mask_w', 'zeros3'], ['mask'])
    .node('Mul', ['Zs4', 'f_zero'], ['zeros4'])
    .node('Add', ['zeros4', 'cNormal'], ['normal']);
  const od = opts.staticSize ? [1, opts.staticSize[0], opts.staticSize[1]] : ['batch_size', 'height', 'width'];
  g.output('points', 'float32', [...od, 3])
    .output('normal', 'float32', [...od, 3])
    .output('mask', 'float32', od)
    .output('metric_scale', 'float32', [od[0]]);
  return g.toBytes({ metadata: { ...META, 'egopipe.contract': 'depth/moge2' } });
}

export function buildTinyDepthAnything(opts: TinyOptions = {}): Uint8Array {
  const T = TINY_DEPTH_ANYTHING;
  const g = new OnnxGraph('tiny_depth_anything_v2', 'egopipe tiny stand-in for a Depth Anything V2 metric ONNX export (renders a known plane)');
  const dims = opts.staticSize ? [1, 3, opts.staticSize[0], opts.staticSize[1]] : ['batch_size', 3, 'height', 'width'];
  g.input('pixel_values', 'float32', dims, 'RGB, ImageNet-normalised, NCHW');
  const { xr, yr, Hf, Wf } = pixelGrid(g, 'pixel_values');
  g.initializer('axes0', i64([0]), [1])
    .initializer('axes1', i64([1]), [1])
    .initializer('shape_b11', i64([-1, 1, 1]), [3])
    .initializer('cA', f32([T.A]), [])
    .initializer('cB', f32([T.B]), [])
    .initializer('cC', f32([T.C]), [])
    .initializer('cK', f32([T.K]), []);
  g.node('Div', [xr, Wf], ['xn0'])
    .node('Div', [yr, Hf], ['yn0'])
    .node('Sub', ['xn0', 'f_half'], ['xn'])
    .node('Sub', ['yn0', 'f_half'], ['yn'])
    .node('Unsqueeze', ['xn', 'axes0'], ['x2'])
    .node('Unsqueeze', ['yn', 'axes1'], ['y2'])
    .node('Mul', ['x2', 'cB'], ['Bx'])
    .node('Mul', ['y2', 'cC'], ['Cy'])
    .node('Add', ['Bx', 'Cy'], ['BxCy'])
    .node('Add', ['BxCy', 'cA'], ['invZ'])
    .node('Reciprocal', ['invZ'], ['Z'])
    .node('ReduceMean', ['pixel_values'], ['mean_b'], { axes: [1, 2, 3], keepdims: 0 })
    .node('Mul', ['mean_b', 'cK'], ['km'])
    .node('Reshape', ['km', 'shape_b11'], ['km3'])
    .node('Add', ['Z', 'km3'], ['predicted_depth']);
  g.output('predicted_depth', 'float32', opts.staticSize ? [1, opts.staticSize[0], opts.staticSize[1]] : ['batch_size', 'height', 'width']);
  return g.toBytes({ metadata: { ...META, 'egopipe.contract': 'depth/depth_anything_v2' } });
}

export function writeTinyMoge(dir: string, opts: TinyOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, opts.staticSize ? `moge2.static${opts.staticSize.join('x')}.tiny.onnx` : 'moge2.tiny.onnx');
  writeFileSync(file, buildTinyMoge(opts));
  return file;
}

export function writeTinyDepthAnything(dir: string, opts: TinyOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, opts.staticSize ? `depth_anything_v2.static${opts.staticSize.join('x')}.tiny.onnx` : 'depth_anything_v2.tiny.onnx');
  writeFileSync(file, buildTinyDepthAnything(opts));
  return file;
}
