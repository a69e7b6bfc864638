import { describe, expect, it } from 'vitest';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  axisAngleToRotmat,
  boxFromKeypoints,
  camCropToFull,
  cropSquare,
  cropToImage,
  cropTransform,
  fullImageFocal,
  imageToCrop,
  mirrorAxisAngles,
  mirrorImage,
  mirrorRotmat,
  postprocessHand,
  preprocessCrop,
  projectPoints,
  rotmatToAxisAngle,
  unflipOutput,
  type RgbImage,
} from '../../operators/hand_pose_3d/geometry.js';

function closeTo(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`index ${i}: ${a[i]} vs ${b[i]} (tol ${tol})`);
  }
}

/** Smooth but asymmetric synthetic RGB frame. */
function syntheticFrame(W: number, H: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      data[p] = (x * 255) / (W - 1);
      data[p + 1] = (y * 255) / (H - 1);
      data[p + 2] = 128 + 100 * Math.sin(x / 7 + y / 13);
    }
  }
  return { width: W, height: H, data };
}

describe('boxes and crop geometry', () => {
  it('builds the box from finite keypoints only, needs at least minValid of them', () => {
    const kp = [10, 20, 30, 5, NaN, NaN, 25, 40, 12, 22];
    expect(boxFromKeypoints(kp, 4)).toEqual({ x0: 10, y0: 5, x1: 30, y1: 40 });
    expect(boxFromKeypoints(kp, 5)).toBeNull();
    expect(boxFromKeypoints([1, 1, 1, 1, 1, 1, 1, 1], 2)).toBeNull(); // zero area
  });

  it('pads the box by the rescale factor and expands it to 192:256 (HaMeR) or squares it', () => {
    // wide box 40 x 20, factor 2 -> 80 x 40; h/w = 0.5 < 4/3 -> h = 80 * 4/3, size = 106.67
    const wide = { x0: 100, y0: 50, x1: 140, y1: 70 };
    const a = cropSquare(wide, 2, 'hamer');
    expect(a.cx).toBe(120);
    expect(a.cy).toBe(60);
    expect(a.size).toBeCloseTo((80 * 4) / 3, 10);
    expect(cropSquare(wide, 2, 'square').size).toBe(80);
    // tall box 20 x 40 -> 40 x 80; h/w = 2 >= 4/3 -> w = max(60, 40) = 60, size = 80
    const tall = { x0: 0, y0: 0, x1: 20, y1: 40 };
    expect(cropSquare(tall, 2, 'hamer').size).toBe(80);
    expect(cropSquare(tall, 2.5, 'square').size).toBe(100);
  });

  it('maps the box centre to the crop centre and inverts exactly, with and without flip', () => {
    for (const flip of [false, true]) {
      const t = cropTransform({ cx: 200.5, cy: 100.25, size: 128 }, flip);
      expect(imageToCrop(t, 200.5, 100.25)).toEqual([128, 128]);
      const [u, v] = imageToCrop(t, 210.5, 90.25); // +10 px right, -10 px up, scale 2
      expect(u).toBeCloseTo(flip ? 108 : 148, 10);
      expect(v).toBeCloseTo(108, 10);
      const [x, y] = cropToImage(t, u, v);
      expect(x).toBeCloseTo(210.5, 10);
      expect(y).toBeCloseTo(90.25, 10);
    }
  });
});

describe('preprocessCrop', () => {
  const W = 160;
  const H = 120;
  const img = syntheticFrame(W, H);
  const norm = (v: number, c: number) => (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];

  it('samples the frame at the affine positions and normalises per channel (NCHW, RGB)', () => {
    // size 128 -> 2 crop px per image px, so crop pixel (128 + 2i, 128 + 2j) hits image pixel (cx + i, cy + j) exactly
    const t = cropTransform({ cx: 80, cy: 60, size: 128 }, false);
    const out = preprocessCrop(img, t);
    expect(out.length).toBe(3 * 256 * 256);
    for (const [i, j] of [[0, 0], [5, -3], [-20, 17], [40, 30]]) {
      const p = ((60 + j) * W + (80 + i)) * 3;
      for (let c = 0; c < 3; c++) {
        expect(out[c * 65536 + (128 + 2 * j) * 256 + (128 + 2 * i)]).toBeCloseTo(norm(img.data[p + c], c), 5);
      }
    }
    // half-way between two pixels: average of the neighbours
    const p0 = (60 * W + 80) * 3;
    expect(out[128 * 256 + 129]).toBeCloseTo(norm((img.data[p0] + img.data[p0 + 3]) / 2, 0), 5);
    // outside the frame: black, i.e. -mean/std
    const far = cropTransform({ cx: -500, cy: -500, size: 100 }, false);
    const black = preprocessCrop(img, far);
    for (let c = 0; c < 3; c++) expect(black[c * 65536 + 1000]).toBeCloseTo(norm(0, c), 6);
  });

  it('a flipped crop of the mirrored frame equals the crop of the original frame', () => {
    const t = cropTransform({ cx: 70.3, cy: 50.7, size: 97.1 }, false);
    const mirrored = mirrorImage(img);
    const tm = cropTransform({ cx: W - 1 - 70.3, cy: 50.7, size: 97.1 }, true);
    closeTo(preprocessCrop(mirrored, tm), preprocessCrop(img, t), 1e-4);
    // and the flipped crop of the same frame is the horizontal mirror of the crop about u = 128
    const tf = cropTransform({ cx: 70, cy: 50, size: 128 }, true);
    const tn = cropTransform({ cx: 70, cy: 50, size: 128 }, false);
    const a = preprocessCrop(img, tf);
    const b = preprocessCrop(img, tn);
    for (const [u, v] of [[130, 40], [200, 100], [129, 255]]) {
      expect(a[v * 256 + u]).toBeCloseTo(b[v * 256 + (256 - u)], 5);
    }
  });

  it('writes at an offset inside a batch buffer', () => {
    const t = cropTransform({ cx: 80, cy: 60, size: 128 }, false);
    const batch = new Float32Array(2 * 3 * 65536).fill(7);
    preprocessCrop(img, t, batch, 3 * 65536);
    expect(batch[0]).toBe(7);
    closeTo(batch.subarray(3 * 65536), preprocessCrop(img, t), 0);
  });
});

describe('camera', () => {
  it('uses HaMeR focal 5000/256 * max(W, H)', () => {
    expect(fullImageFocal(1280, 720)).toBe(25000);
    expect(fullImageFocal(480, 640)).toBe(12500);
  });

  it('cam_crop_to_full matches a hand-computed value', () => {
    // s=5, tx=0.02, ty=-0.03; box centre (700, 300), size 200; image 1280x720; f = 25000
    // bs = 1000; tz = 2*25000/1000 = 50; tx = 2*(700-640)/1000 + 0.02 = 0.14; ty = 2*(300-360)/1000 - 0.03 = -0.15
    const t = camCropToFull([5, 0.02, -0.03], 700, 300, 200, 1280, 720, 25000);
    closeTo(t, [0.14, -0.15, 50], 1e-9);
    // the root projects 10 px right of the box centre: the crop-level tx of 0.02 is 0.02*5*256/2 = 12.8 crop px = 10 image px
    const uv = projectPoints(t, 25000, 640, 360);
    closeTo(uv, [710, 300 - 0.03 * 5 * 100], 1e-6);
  });

  it('projects camera-frame points with the principal point at the image centre', () => {
    closeTo(projectPoints([0.1, -0.2, 2, 0, 0, 1], 1000, 320, 240), [370, 140, 320, 240], 1e-9);
  });
});

describe('rotations and un-flip', () => {
  it('axis-angle <-> rotation matrix round trip, including near 0 and near pi', () => {
    for (const aa of [[0.3, -0.2, 0.9], [1e-9, 0, 0], [0, 0, 0], [Math.PI - 1e-4, 0, 0], [0, 2.5, -1.2], [-1.1, 0.4, 0.2]]) {
      const R = axisAngleToRotmat(aa);
      const back = rotmatToAxisAngle(R);
      closeTo(axisAngleToRotmat(back), R, 1e-9);
      if (Math.hypot(...aa) < Math.PI - 1e-3) closeTo(back, aa, 1e-9);
    }
  });

  it('mirroring axis-angle (x,-y,-z) equals M R M with M = diag(-1,1,1)', () => {
    const aa = [0.4, -0.7, 0.25, 0.1, 0.2, -0.3];
    const mirrored = mirrorAxisAngles(aa);
    for (let k = 0; k < 2; k++) {
      closeTo(axisAngleToRotmat(mirrored, k * 3), mirrorRotmat(axisAngleToRotmat(aa, k * 3)), 1e-6);
    }
  });

  it('un-flips left hands only: x -> -x, tx -> -tx, rotations mirrored, betas kept', () => {
    const o = {
      keypoints3d: Float32Array.from([0.1, 0.2, 0.3, -0.4, 0.5, 0.6]),
      cam: [5, 0.1, -0.2] as [number, number, number],
      globalOrient: Float32Array.from([0.1, 0.2, 0.3]),
      betas: Float32Array.from([1, 2]),
    };
    expect(unflipOutput(o, true)).toBe(o);
    const l = unflipOutput(o, false);
    closeTo(l.keypoints3d, [-0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 1e-7);
    expect(l.cam).toEqual([5, -0.1, -0.2]);
    closeTo(l.globalOrient!, [0.1, -0.2, -0.3], 1e-7);
    expect(l.betas).toBe(o.betas);
  });

  it('postprocessHand: joints_cam = joints + cam_t, joints_2d their projection', () => {
    const t = cropTransform({ cx: 700, cy: 300, size: 200 }, false);
    const r = postprocessHand({ keypoints3d: Float32Array.from([0, 0, 0, 0.01, 0.02, 0.5]), cam: [5, 0.02, -0.03] }, t, true, 1280, 720, 25000);
    closeTo(r.camT, [0.14, -0.15, 50], 1e-9);
    closeTo(r.jointsCam, [0.14, -0.15, 50, 0.15, -0.13, 50.5], 1e-5);
    closeTo(r.joints2d, [710, 285, 640 + (25000 * 0.15) / 50.5, 360 - (25000 * 0.13) / 50.5], 1e-3);
  });
});
