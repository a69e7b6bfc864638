/**
 * Sample frames for the report: decode one frame (RGB24) with ffmpeg, tint masks into it, then
 * composite an SVG overlay (hand skeletons, keypoints, 3D-pose projections, detection boxes) with
 * sharp and encode a PNG at the video's resolution.
 */
import sharp from 'sharp';
import { HAND_CONNECTIONS } from '../../operators/hand_mask/raster.js';
import { decodeFrames } from '../ffmpeg.js';
import { decodeMask } from '../rle.js';
import { esc } from './html.js';

export interface RawFrame {
  width: number;
  height: number;
  /** RGB24, row-major */
  data: Buffer;
}

/** Decode frame `frame` (0-based) of a video at width x height (the size the tables use). */
export async function decodeOneFrame(file: string, frame: number, width: number, height: number, fps: number | null): Promise<RawFrame> {
  for await (const f of decodeFrames({ path: file, width, height, startFrame: frame, endFrame: frame + 1, fps: fps ?? undefined, pixFmt: 'rgb24' })) {
    return { width: f.width, height: f.height, data: Buffer.from(f.data) };
  }
  throw new Error(`ffmpeg returned no frame ${frame} of ${file}`);
}

export interface HandOverlay {
  handIndex: number;
  handedness: string | null;
  score: number | null;
  /** 21 x (x, y) image pixels */
  kp2d: number[];
}

export interface MaskOverlay {
  label: string;
  /** [r, g, b] */
  color: [number, number, number];
  height: number;
  width: number;
  counts: string;
}

export interface BoxOverlay {
  label: string;
  score: number | null;
  /** x0, y0, x1, y1 image pixels */
  bbox: number[];
  color: string;
}

export interface PointsOverlay {
  label: string;
  /** n x (x, y) */
  pts: number[];
  color: string;
}

export interface Overlay {
  hands: HandOverlay[];
  masks: MaskOverlay[];
  boxes: BoxOverlay[];
  points: PointsOverlay[];
}

/** Colours: hands by side (mask tint + label), fingers by finger (bones). */
export const HAND_RGB: Record<string, [number, number, number]> = { right: [255, 140, 0], left: [0, 190, 255] };
export const HAND_OTHER_RGB: [number, number, number] = [255, 64, 160];
export const FINGER_COLORS = ['#ffffff', '#ff5252', '#ffd740', '#69f0ae', '#40c4ff', '#e040fb'];

export function rgbHex(c: [number, number, number]): string {
  return '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
}

export function handRgb(handedness: string | null): [number, number, number] {
  return (handedness && HAND_RGB[handedness]) || HAND_OTHER_RGB;
}

/** Finger of a HAND_CONNECTIONS bone: 0 palm, 1 thumb … 5 little. */
function fingerOf(a: number, b: number): number {
  const j = Math.max(a, b);
  if (a === 0 && (b === 5 || b === 17 || b === 1)) return b === 1 ? 1 : 0;
  if ((a === 5 && b === 9) || (a === 9 && b === 13) || (a === 13 && b === 17)) return 0;
  return Math.min(5, Math.floor((j - 1) / 4) + 1);
}

/**
 * Blend a mask into an RGB frame in place: the inside tinted (alpha 0.45), the border drawn opaque.
 * A mask whose size differs from the frame is skipped (returns false).
 */
export function tintMask(frame: RawFrame, mask: MaskOverlay): boolean {
  const { width: w, height: h, data } = frame;
  if (mask.width !== w || mask.height !== h) return false;
  const m = decodeMask({ size: [h, w], counts: mask.counts });
  const [r, g, b] = mask.color;
  const a = 0.45;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      if (!m[i]) continue;
      const edge = x === 0 || x === w - 1 || y === 0 || y === h - 1 || !m[i - 1] || !m[i + 1] || !m[i - w] || !m[i + w];
      const k = i * 3;
      if (edge) {
        data[k] = r;
        data[k + 1] = g;
        data[k + 2] = b;
      } else {
        data[k] = Math.round(data[k]! * (1 - a) + r * a);
        data[k + 1] = Math.round(data[k + 1]! * (1 - a) + g * a);
        data[k + 2] = Math.round(data[k + 2]! * (1 - a) + b * a);
      }
    }
  }
  return true;
}

/** The SVG drawn over the frame (same size as the frame). */
export function overlaySvg(width: number, height: number, ov: Overlay): string {
  const s = Math.max(1, Math.max(width, height) / 640);
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`];
  const label = (x: number, y: number, text: string, color: string) => {
    const fs = 13 * s;
    const tw = text.length * fs * 0.6 + 8 * s;
    const bx = Math.max(0, Math.min(width - tw, x));
    const by = Math.max(0, Math.min(height - fs * 1.4, y - fs * 1.4));
    parts.push(`<rect x="${f(bx)}" y="${f(by)}" width="${f(tw)}" height="${f(fs * 1.4)}" rx="${f(3 * s)}" fill="#000" fill-opacity="0.6"/>`);
    parts.push(`<text x="${f(bx + 4 * s)}" y="${f(by + fs * 1.05)}" font-family="DejaVu Sans, sans-serif" font-size="${f(fs)}" fill="${color}">${esc(text)}</text>`);
  };
  for (const b of ov.boxes) {
    const [x0, y0, x1, y1] = b.bbox as [number, number, number, number];
    if (![x0, y0, x1, y1].every(Number.isFinite)) continue;
    parts.push(`<rect x="${f(x0)}" y="${f(y0)}" width="${f(Math.max(0, x1 - x0))}" height="${f(Math.max(0, y1 - y0))}" fill="none" stroke="${b.color}" stroke-width="${f(2.5 * s)}"/>`);
    label(x0, y0, `${b.label}${b.score !== null ? ' ' + b.score.toFixed(2) : ''}`, b.color);
  }
  for (const p of ov.points) {
    for (let i = 0; i + 1 < p.pts.length; i += 2) {
      const x = p.pts[i]!;
      const y = p.pts[i + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      parts.push(`<circle cx="${f(x)}" cy="${f(y)}" r="${f(4 * s)}" fill="none" stroke="${p.color}" stroke-width="${f(1.5 * s)}"/>`);
    }
  }
  for (const h of ov.hands) {
    const kp = h.kp2d;
    if (kp.length < 42) continue;
    const col = rgbHex(handRgb(h.handedness));
    for (const [a, b] of HAND_CONNECTIONS) {
      const ax = kp[2 * a]!, ay = kp[2 * a + 1]!, bx = kp[2 * b]!, by = kp[2 * b + 1]!;
      if (![ax, ay, bx, by].every(Number.isFinite)) continue;
      parts.push(`<line x1="${f(ax)}" y1="${f(ay)}" x2="${f(bx)}" y2="${f(by)}" stroke="#000" stroke-opacity="0.55" stroke-width="${f(4.5 * s)}" stroke-linecap="round"/>`);
      parts.push(`<line x1="${f(ax)}" y1="${f(ay)}" x2="${f(bx)}" y2="${f(by)}" stroke="${FINGER_COLORS[fingerOf(a, b)]}" stroke-width="${f(2.5 * s)}" stroke-linecap="round"/>`);
    }
    for (let j = 0; j < 21; j++) {
      const x = kp[2 * j]!, y = kp[2 * j + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      parts.push(`<circle cx="${f(x)}" cy="${f(y)}" r="${f((j === 0 ? 5 : 3.5) * s)}" fill="${j === 0 ? col : '#ffffff'}" stroke="${col}" stroke-width="${f(1.8 * s)}"/>`);
    }
    const xs = Array.from({ length: 21 }, (_, j) => kp[2 * j]!).filter(Number.isFinite);
    const ys = Array.from({ length: 21 }, (_, j) => kp[2 * j + 1]!).filter(Number.isFinite);
    if (xs.length && ys.length) {
      label(Math.min(...xs), Math.min(...ys) - 4 * s, `#${h.handIndex} ${h.handedness ?? '?'}${h.score !== null ? ' ' + h.score.toFixed(2) : ''}`, col);
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Tint masks, composite the SVG overlay, encode PNG. The input frame is not modified. */
export async function renderFrame(frame: RawFrame, ov: Overlay): Promise<{ png: Buffer; skippedMasks: number }> {
  const work: RawFrame = { ...frame, data: Buffer.from(frame.data) };
  let skipped = 0;
  for (const m of ov.masks) if (!tintMask(work, m)) skipped++;
  const svg = overlaySvg(work.width, work.height, ov);
  const png = await sharp(work.data, { raw: { width: work.width, height: work.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png({ compressionLevel: 6 })
    .toBuffer();
  return { png, skippedMasks: skipped };
}
