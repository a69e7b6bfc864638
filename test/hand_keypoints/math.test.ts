import { describe, expect, it } from 'vitest';
import {
  applyAffine,
  cropToImageAffine,
  invertAffine,
  iou,
  landmarksToRoi,
  normalizeRadians,
  palmDetectionToRoi,
  rectBounds,
  rotationFromVector,
  transformRect,
  type RotatedRect,
} from '../../operators/hand_keypoints/geometry.js';
import { letterboxResizeArea, warpAffineBilinear } from '../../operators/hand_keypoints/image.js';
import {
  decodeDetections,
  detectionToImage,
  letterbox,
  ssdAnchors,
  weightedNms,
  type RawDetection,
} from '../../operators/hand_keypoints/palm.js';
import { handednessLabel, landmarksToImage } from '../../operators/hand_keypoints/tracker.js';
import { frameStep } from '../../operators/hand_keypoints/index.js';

describe('SSD anchors (palm detector, 128 input)', () => {
  const anchors = ssdAnchors();
  it('has 896 anchors: 16x16x2 at stride 8, then 8x8x6 at stride 16', () => {
    expect(anchors.length).toBe(896);
    expect(anchors.every((a) => a.w === 1 && a.h === 1)).toBe(true);
  });
  it('puts the centres at (x + 0.5) / grid, cell-major, anchors of a cell together', () => {
    expect(anchors[0]).toMatchObject({ x: 0.5 / 16, y: 0.5 / 16 });
    expect(anchors[1]).toMatchObject({ x: 0.5 / 16, y: 0.5 / 16 });
    expect(anchors[2]).toMatchObject({ x: 1.5 / 16, y: 0.5 / 16 });
    expect(anchors[511]).toMatchObject({ x: 15.5 / 16, y: 15.5 / 16 });
    for (let k = 512; k < 518; k++) expect(anchors[k]).toMatchObject({ x: 0.5 / 8, y: 0.5 / 8 });
    expect(anchors[518]).toMatchObject({ x: 1.5 / 8, y: 0.5 / 8 });
    expect(anchors[895]).toMatchObject({ x: 7.5 / 8, y: 7.5 / 8 });
  });
});

describe('detection decoding', () => {
  it('decodes offsets in input pixels around the anchor centre and thresholds the sigmoid score', () => {
    const anchors = ssdAnchors();
    const reg = new Float32Array(896 * 18);
    const logits = new Float32Array(896).fill(-10);
    const i = 600; // stride-16 anchor
    logits[i] = 2; // sigmoid 0.88
    reg.set([6.4, -12.8, 32, 16], i * 18);
    for (let k = 0; k < 7; k++) reg.set([k, -k], i * 18 + 4 + 2 * k);
    const dets = decodeDetections(reg, logits, anchors);
    expect(dets.length).toBe(1);
    const a = anchors[i];
    const d = dets[0];
    expect(d.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    const cx = a.x + 6.4 / 128;
    const cy = a.y - 12.8 / 128;
    expect((d.box[0] + d.box[2]) / 2).toBeCloseTo(cx, 6);
    expect((d.box[1] + d.box[3]) / 2).toBeCloseTo(cy, 6);
    expect(d.box[2] - d.box[0]).toBeCloseTo(0.25, 6);
    expect(d.box[3] - d.box[1]).toBeCloseTo(0.125, 6);
    expect(d.keypoints[6]).toBeCloseTo(a.x + 3 / 128, 6);
    expect(d.keypoints[7]).toBeCloseTo(a.y - 3 / 128, 6);
    // exactly at the threshold (logit 0 = 0.5) is kept; below is not
    logits[i] = 0;
    expect(decodeDetections(reg, logits, anchors).length).toBe(1);
    logits[i] = -0.01;
    expect(decodeDetections(reg, logits, anchors).length).toBe(0);
  });

  it('maps letterboxed detections back to image pixels', () => {
    const lb = letterbox(1280, 720, 128);
    expect(lb.scale).toBeCloseTo(0.1);
    expect(lb.offX).toBeCloseTo(0);
    expect(lb.offY).toBeCloseTo(28);
    // a box centred on the image centre, 12.8 input px wide = 128 image px
    const d = detectionToImage({ score: 0.9, box: [0.45, 0.45, 0.55, 0.55], keypoints: [0.5, 28 / 128] }, lb);
    expect(d.cx).toBeCloseTo(640);
    expect(d.cy).toBeCloseTo(360);
    expect(d.w).toBeCloseTo(128);
    expect(d.h).toBeCloseTo(128);
    expect(d.keypoints[0]).toBeCloseTo(640);
    expect(d.keypoints[1]).toBeCloseTo(0); // the top of the letterboxed image content
  });
});

describe('weighted NMS', () => {
  const det = (score: number, box: [number, number, number, number], kp = 0): RawDetection => ({ score, box, keypoints: [kp, kp] });
  it('blends overlapping boxes by score, keeps the best score, leaves separate boxes alone', () => {
    const out = weightedNms([
      det(0.6, [0.1, 0.1, 0.3, 0.3], 1),
      det(0.9, [0.12, 0.1, 0.32, 0.3], 2), // IoU with the first ~0.82
      det(0.8, [0.6, 0.6, 0.8, 0.8], 5), // separate
      det(0.55, [0.2, 0.2, 0.4, 0.4], 9), // IoU with the top ~0.17 < 0.3: its own detection
    ]);
    expect(out.map((d) => d.score)).toEqual([0.9, 0.8, 0.55]);
    const w = 0.9 + 0.6;
    expect(out[0].box[0]).toBeCloseTo((0.12 * 0.9 + 0.1 * 0.6) / w, 6);
    expect(out[0].box[2]).toBeCloseTo((0.32 * 0.9 + 0.3 * 0.6) / w, 6);
    expect(out[0].keypoints[0]).toBeCloseTo((2 * 0.9 + 1 * 0.6) / w, 6);
    expect(out[1].box).toEqual([0.6, 0.6, 0.8, 0.8]);
    expect(out[2].keypoints[0]).toBe(9);
  });
  it('respects the threshold and the maximum count', () => {
    const a = det(0.9, [0, 0, 1, 1]);
    const b = det(0.8, [0.5, 0, 1.5, 1]); // IoU 1/3
    expect(weightedNms([a, b], 0.3).length).toBe(1);
    expect(weightedNms([a, b], 0.4).length).toBe(2);
    expect(weightedNms([a, b], 0.4, 1).length).toBe(1);
    expect(weightedNms([], 0.3)).toEqual([]);
  });
  it('computes IoU', () => {
    expect(iou([0, 0, 2, 2], [1, 1, 3, 3])).toBeCloseTo(1 / 7);
    expect(iou([0, 0, 1, 1], [2, 2, 3, 3])).toBe(0);
  });
});

describe('ROI geometry', () => {
  it('rotation: wrist below the middle MCP = 0, fingers pointing right = +90 deg (clockwise)', () => {
    expect(rotationFromVector(100, 200, 100, 100)).toBeCloseTo(0);
    expect(rotationFromVector(100, 100, 200, 100)).toBeCloseTo(Math.PI / 2);
    expect(rotationFromVector(100, 100, 0, 100)).toBeCloseTo(-Math.PI / 2);
    expect(Math.abs(rotationFromVector(100, 100, 100, 200))).toBeCloseTo(Math.PI);
    expect(normalizeRadians(3 * Math.PI)).toBeCloseTo(-Math.PI);
  });

  it('palm ROI: scale 2.6, shifted half a box towards the fingers, square', () => {
    const palm = { score: 1, cx: 500, cy: 400, w: 100, h: 80, keypoints: [500, 440, 0, 0, 500, 360, 0, 0, 0, 0, 0, 0, 0, 0] };
    const up = palmDetectionToRoi(palm);
    expect(up.rotation).toBeCloseTo(0);
    expect(up.cx).toBeCloseTo(500);
    expect(up.cy).toBeCloseTo(400 - 0.5 * 80);
    expect(up.width).toBeCloseTo(260);
    expect(up.height).toBeCloseTo(260);
    // fingers pointing right: the shift goes right
    const right = palmDetectionToRoi({ ...palm, keypoints: [460, 400, 0, 0, 540, 400, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(right.rotation).toBeCloseTo(Math.PI / 2);
    expect(right.cx).toBeCloseTo(540);
    expect(right.cy).toBeCloseTo(400);
  });

  it('landmarks ROI: box of the hand in its own rotated frame, scale 2, shift -0.1', () => {
    // An upright synthetic hand: wrist at (0, 100), MCPs on y = 0, fingers above.
    const kp = new Array<number>(42).fill(0);
    const set = (i: number, x: number, y: number) => {
      kp[2 * i] = x;
      kp[2 * i + 1] = y;
    };
    set(0, 0, 100);
    set(1, 30, 80);
    set(2, 45, 60);
    set(3, 55, 40);
    set(5, 30, 0);
    set(6, 32, -30);
    set(9, 0, 0);
    set(10, 0, -35);
    set(13, -30, 0);
    set(14, -31, -30);
    set(17, -50, 10);
    set(18, -55, -15);
    const r = landmarksToRoi(kp);
    expect(r.rotation).toBeCloseTo(0);
    // box x [-55, 55], y [-35, 100] -> 110 x 135, centre (0, 32.5); shift -0.1 * 135; square 135 * 2
    expect(r.cx).toBeCloseTo(0);
    expect(r.cy).toBeCloseTo(32.5 - 13.5);
    expect(r.width).toBeCloseTo(270);
    // rotating the hand rotates the ROI with it
    const th = 0.7;
    const rot = kp.map((_, i) => (i % 2 === 0 ? kp[i] * Math.cos(th) - kp[i + 1] * Math.sin(th) : kp[i - 1] * Math.sin(th) + kp[i] * Math.cos(th)));
    const r2 = landmarksToRoi(rot);
    expect(r2.rotation).toBeCloseTo(th);
    expect(r2.width).toBeCloseTo(270);
    expect(r2.cx).toBeCloseTo(-(32.5 - 13.5) * Math.sin(th));
    expect(r2.cy).toBeCloseTo((32.5 - 13.5) * Math.cos(th));
  });

  it('transformRect shifts along the rotated axes', () => {
    const r = transformRect({ cx: 0, cy: 0, width: 10, height: 20, rotation: Math.PI / 2 }, { scaleX: 1, scaleY: 1, shiftX: 0, shiftY: -0.5, squareLong: false });
    expect(r.cx).toBeCloseTo(10); // "up" in the rect is +x in the image
    expect(r.cy).toBeCloseTo(0);
    expect(rectBounds({ cx: 0, cy: 0, width: 10, height: 10, rotation: Math.PI / 4 })[2]).toBeCloseTo(5 * Math.SQRT2);
  });
});

describe('affine crop', () => {
  const roi: RotatedRect = { cx: 640.3, cy: 300.7, width: 333, height: 333, rotation: 0.6 };
  const m = cropToImageAffine(roi, 224, 224);
  it('maps the crop centre to the ROI centre and its corners onto the rotated square', () => {
    const [x, y] = applyAffine(m, 112, 112);
    expect(x).toBeCloseTo(roi.cx);
    expect(y).toBeCloseTo(roi.cy);
    const [tx, ty] = applyAffine(m, 224, 112); // right edge centre
    expect(tx - roi.cx).toBeCloseTo((333 / 2) * Math.cos(0.6));
    expect(ty - roi.cy).toBeCloseTo((333 / 2) * Math.sin(0.6));
  });
  it('round-trips a point image -> crop -> image', () => {
    const inv = invertAffine(m);
    for (const [px, py] of [
      [700, 250],
      [512.25, 410.5],
      [0, 0],
    ]) {
      const [u, v] = applyAffine(inv, px, py);
      const [bx, by] = applyAffine(m, u, v);
      expect(bx).toBeCloseTo(px, 9);
      expect(by).toBeCloseTo(py, 9);
    }
  });
  it('samples the right pixels and maps landmarks back (z scaled like x)', () => {
    // Image: a single bright 3x3 block at (101..103, 51..53) on black.
    const W = 200;
    const H = 120;
    const data = new Uint8Array(W * H * 3);
    for (let y = 51; y <= 53; y++) for (let x = 101; x <= 103; x++) data.set([255, 128, 0], (y * W + x) * 3);
    const r: RotatedRect = { cx: 102.5, cy: 52.5, width: 56, height: 56, rotation: Math.PI / 2 };
    const mm = cropToImageAffine(r, 28, 28); // 2 image px per crop px
    const out = new Float32Array(3 * 28 * 28);
    warpAffineBilinear({ data, width: W, height: H }, mm, 28, 28, out, 1 / 255, 0);
    // the block's centre (102.5, 52.5) is the crop centre: crop pixels 13/14 around (14, 14)
    expect(out[14 * 28 + 14]).toBeGreaterThan(0.5);
    expect(out[28 * 28 + 14 * 28 + 14]).toBeCloseTo(out[14 * 28 + 14] * (128 / 255), 2);
    expect(out[2 * 28 * 28 + 14 * 28 + 14]).toBe(0);
    expect(out[0]).toBe(0);
    // a landmark at crop (14, 4) is 10 crop px "up" in the crop = 20 image px to the +x side (rotation 90 deg)
    const lm = new Float32Array(63);
    lm.set([14, 4, -5]);
    const { kp2d, kp3d } = landmarksToImage(lm, mm);
    expect(kp2d[0]).toBeCloseTo(122.5);
    expect(kp2d[1]).toBeCloseTo(52.5);
    expect(kp3d[2]).toBeCloseTo(-10);
  });
  it('letterbox box filter keeps flat colours and pads', () => {
    const W = 320;
    const H = 180;
    const data = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) data.set([200, 100, 50], i * 3);
    const lb = letterbox(W, H, 128);
    const out = new Float32Array(3 * 128 * 128);
    letterboxResizeArea({ data, width: W, height: H }, lb, out, 1, 0, 0);
    expect(out[64 * 128 + 64]).toBeCloseTo(200);
    expect(out[128 * 128 + 64 * 128 + 64]).toBeCloseTo(100);
    expect(out[2 * 128 * 128 + 64 * 128 + 0]).toBeCloseTo(50);
    expect(out[0]).toBe(0); // padding row
    expect(out[127 * 128 + 5]).toBe(0);
  });
});

describe('conventions', () => {
  it('handedness: raw output = P(right hand as seen); mirrored input swaps', () => {
    expect(handednessLabel(0.97, false)).toEqual({ label: 'right', score: 0.97 });
    expect(handednessLabel(0.1, false).label).toBe('left');
    expect(handednessLabel(0.1, false).score).toBeCloseTo(0.9);
    expect(handednessLabel(0.97, true).label).toBe('left');
  });
  it('frame step from sample_fps', () => {
    expect(frameStep(30, undefined)).toBe(1);
    expect(frameStep(30, 10)).toBe(3);
    expect(frameStep(29.97, 5)).toBe(6);
    expect(frameStep(30, 60)).toBe(1);
  });
});
