import { describe, expect, it } from 'vitest';
import { decodeDepthRow } from '../../operators/depth/map.js';
import { encodeDepth } from '../../operators/depth/map.js';
import { liftHandKeypoints, liftHandPose, liftMask, PALM_JOINTS } from '../../operators/lift3d/lift.js';
import { erode, sampleMask, countSet } from '../../operators/lift3d/mask.js';
import { lift3d, op } from '../../operators/lift3d/index.js';
import { encodeCounts, countsToString } from '../../src/rle.js';
import { rng, type Intrinsics } from '../../src/geometry3d.js';
import { BASE_SCENE, depthRow, maskRow, renderMask, visibleCentroid, type Scene } from './scene.js';

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ''): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`${what}[${i}]: ${a[i]} vs ${b[i]} (tol ${tol})`);
}

describe('masks on the depth grid', () => {
  it('sampleMask equals the full mask sampled at depth-pixel centres (down- and up-sampling)', () => {
    const r = rng(4);
    for (const [H, W, dh, dw] of [
      [48, 64, 24, 32],
      [50, 70, 37, 41],
      [20, 30, 40, 60],
    ]) {
      for (let t = 0; t < 10; t++) {
        const m = new Uint8Array(H * W);
        const cx = r() * W;
        const cy = r() * H;
        const rad = 3 + r() * 15;
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (Math.hypot(x - cx, (y - cy) * 1.5) < rad || (x + y) % 17 === 0) m[y * W + x] = 1;
        const win = sampleMask(encodeCounts(m, H, W), H, W, dw, dh)!;
        for (let y = 0; y < dh; y++) {
          for (let x = 0; x < dw; x++) {
            const src = m[Math.min(H - 1, Math.floor(((y + 0.5) * H) / dh)) * W + Math.min(W - 1, Math.floor(((x + 0.5) * W) / dw))];
            const inWin = x >= win.x0 && x < win.x0 + win.w && y >= win.y0 && y < win.y0 + win.h;
            const got = inWin ? win.data[(y - win.y0) * win.w + (x - win.x0)] : 0;
            if (got !== src) throw new Error(`${H}x${W}->${dh}x${dw} t${t} (${x},${y}): ${got} vs ${src}`);
          }
        }
      }
    }
  });

  it('empty mask -> null; erosion by r removes an r-pixel border', () => {
    expect(sampleMask(encodeCounts(new Uint8Array(100), 10, 10), 10, 10, 5, 5)).toBeNull();
    const m = new Uint8Array(20 * 20);
    for (let y = 5; y < 15; y++) for (let x = 4; x < 16; x++) m[y * 20 + x] = 1;
    const win = sampleMask(encodeCounts(m, 20, 20), 20, 20, 20, 20)!;
    expect(countSet(win)).toBe(120);
    expect(countSet(erode(win, 1))).toBe(8 * 10);
    expect(countSet(erode(win, 2))).toBe(6 * 8);
  });
});

const CLIP = 'clip-a';

describe('lift3d recovers known 3D geometry', () => {
  it('a fronto-parallel plate: centroid = its centre, extent = its size (5..95%)', () => {
    const plate = { id: 1, label: 'plate', center: [0.05, -0.02, 0.8] as [number, number, number], size: [0.12, 0.08, 0.002] as [number, number, number] };
    const s: Scene = { ...BASE_SCENE, boxes: [plate] };
    const map = decodeDepthRow(depthRow(s, CLIP, 0));
    const mr = maskRow(s, CLIP, 0, plate);
    const r = liftMask(encodeCounts(renderMask(s, 1), s.H, s.W), s.H, s.W, map)!;
    close(r.centroid, [0.05, -0.02, 0.799], 0.003, 'centroid');
    // 20 eroded depth pixels 5.33 mm apart span 0.1013 m; its 5..95% range is 0.9 x that
    expect(r.extent[0]).toBeCloseTo(0.9 * 19 * (2 * 0.799) / 300, 3);
    expect(r.extent[1]).toBeGreaterThan(0.08 * 0.75);
    expect(r.extent[1]).toBeLessThan(0.08);
    expect(r.extent[2]).toBeLessThan(0.002);
    expect(r.confidence).toBeGreaterThan(0.9);
    expect(r.validPx).toBe(r.maskPx);
    // 2D: the mean mask pixel is the projection of the plate centre
    close(r.centroid2d, [159.5 + (300 * 0.05) / 0.799, 119.5 + (300 * -0.02) / 0.799], 1.5, 'centroid_2d');
    // principal axis: the plate is wider than tall
    expect(Math.min(r.axisAngleDeg, 360 - r.axisAngleDeg, Math.abs(180 - r.axisAngleDeg))).toBeLessThan(1);
    expect(r.gridIdx.length).toBeGreaterThan(20);
    expect(r.gridPoints.length).toBe(3 * r.gridIdx.length);
    expect(mr.rle_counts).toBeTypeOf('string');
  });

  it('a box on a tilted table: the visible-surface centroid, with table pixels at the mask edge rejected', () => {
    const box = { id: 7, label: 'box', center: [-0.04, 0.12, 0.9] as [number, number, number], size: [0.1, 0.06, 0.08] as [number, number, number] };
    const s: Scene = { ...BASE_SCENE, boxes: [box] };
    const truth = visibleCentroid(s, 7);
    const map = decodeDepthRow(depthRow(s, CLIP, 0));
    // no erosion: edge pixels may see the table, the outlier rejection must handle them
    const r = liftMask(encodeCounts(renderMask(s, 7), s.H, s.W), s.H, s.W, map, {
      erodePx: 0,
      maxPoints: 4096,
      outlierK: 3,
      minToleranceM: 0.01,
      extentQuantile: 0.05,
      gridSize: 6,
      minCellPx: 2,
      minValidPx: 5,
    })!;
    close(r.centroid, truth, 0.006, 'centroid');
    // the box's near face is 4 cm in front of its centre: the surface centroid is in front of it
    expect(r.centroid[2]).toBeLessThan(0.9);
    expect(r.extent[0]).toBeGreaterThan(0.08);
    expect(r.extent[0]).toBeLessThan(0.105);
  });

  it('lift3d(): rows in, objects_3d and hands_3d out, nearest depth frame within the gap', () => {
    const plate = { id: 3, label: 'cup', center: [0, 0, 0.7] as [number, number, number], size: [0.08, 0.08, 0.01] as [number, number, number] };
    const s: Scene = { ...BASE_SCENE, boxes: [plate] };
    const depth = [depthRow(s, CLIP, 0), depthRow(s, CLIP, 10)];
    const masks = [
      maskRow(s, CLIP, 2, plate),
      maskRow(s, CLIP, 6, plate),
      maskRow(s, CLIP, 30, plate),
      { ...maskRow(s, CLIP, 0, plate), clip_id: 'other-clip' },
      { ...maskRow(s, CLIP, 0, plate), object_id: 'h1', label: 'left_hand' }, // object_masks' hand tracks are not objects
    ];
    // default: only masks on a depth frame
    const exact = lift3d({ clipId: CLIP, fps: 20, depth, masks, hands: [], handPoses: [] }, {});
    expect(exact.objects).toHaveLength(0);
    expect(exact.stats).toMatchObject({ masks_no_depth_frame: 3, masks_skipped_label: 1 });
    const { objects, stats } = lift3d({ clipId: CLIP, fps: 20, depth, masks, hands: [], handPoses: [] }, { max_depth_gap_s: 0.25 });
    expect(objects.map((o) => [o.frame, o.depth_frame])).toEqual([
      [2, 0],
      [6, 10],
    ]);
    expect(stats.masks_no_depth_frame).toBe(1);
    const o = objects[0];
    expect(o).toMatchObject({ clip_id: CLIP, object_id: '3', label: 'cup', grid_size: 6 });
    close(o.centroid as number[], [0, 0, 0.695], 0.003);
    expect(o.t_s).toBeCloseTo(0.1, 9);
    expect(Object.keys(o).sort()).toEqual(Object.keys(op.outputs[0].columns).sort());
  });
});

/** A right hand, wrist at `wrist`, fingers up and slightly away from the camera. */
function handJoints(wrist: [number, number, number]): number[] {
  const j: number[] = [...wrist];
  for (let f = 0; f < 5; f++) {
    for (let s = 1; s <= 4; s++) {
      const x = wrist[0] + (f - 2) * 0.02 + (f === 0 ? 0.02 * s : 0);
      const y = wrist[1] - 0.03 - 0.02 * s * (f === 0 ? 0.5 : 1);
      const z = wrist[2] + 0.01 * s + 0.004 * f;
      j.push(x, y, z);
    }
  }
  return j;
}

function project(j: number[], K: Intrinsics): number[] {
  const out: number[] = [];
  for (let i = 0; i < 21; i++) out.push((K.fx * j[i * 3]) / j[i * 3 + 2] + K.cx, (K.fy * j[i * 3 + 1]) / j[i * 3 + 2] + K.cy);
  return out;
}

/** Depth map: a wall at 2 m with disks of each palm joint's depth around its projection. */
function handDepthRow(joints: number[], K: Intrinsics, W: number, H: number, frame = 0) {
  const depth = new Float32Array(W * H).fill(2);
  const kp = project(joints, K);
  for (const i of PALM_JOINTS) {
    for (let y = -3; y <= 3; y++) for (let x = -3; x <= 3; x++) depth[(Math.round(kp[i * 2 + 1]) + y) * W + Math.round(kp[i * 2]) + x] = joints[i * 3 + 2];
  }
  const enc = encodeDepth(depth, W, H);
  return { clip_id: CLIP, frame, width: W, height: H, image_width: W, image_height: H, fx: K.fx, fy: K.fy, cx: K.cx, cy: K.cy, depth_unit_m: 0.001, depth_png: enc.png.toString('base64') };
}

describe('hands to metres', () => {
  const K = { fx: 400, fy: 400, cx: 159.5, cy: 119.5 };
  const truth = handJoints([0.02, 0.05, 0.55]);
  const kp2d = project(truth, K);
  const zw = truth[2];
  // landmark-model relative z: wrist-relative, in the pixel scale of x at the wrist
  const kp3dRel: number[] = [];
  for (let i = 0; i < 21; i++) kp3dRel.push(kp2d[i * 2], kp2d[i * 2 + 1], ((truth[i * 3 + 2] - zw) * K.fx) / zw);
  const row = handDepthRow(truth, K, 320, 240);

  it('keypoints + palm depth + relative z give the joints in metres', () => {
    const r = liftHandKeypoints(kp2d, kp3dRel, decodeDepthRow(row))!;
    expect(r.confidence).toBe(1);
    expect(r.wristDepth).toBeCloseTo(zw, 3);
    close(r.joints, truth, 0.0015, 'joints');
  });

  it('hand_pose_3d joints with a wrong cam_t are re-anchored on the wrist ray at the depth', () => {
    const jointsCam = truth.map((v, i) => v + [0.03, -0.02, 0.4][i % 3]); // right shape, wrong translation
    const r = liftHandPose(jointsCam, kp2d, decodeDepthRow(row))!;
    close(r.joints, truth, 0.0015, 'joints');
  });

  it('lift3d(): hand_pose_3d preferred in auto mode, keypoints otherwise; both sources labelled', () => {
    const hk = [
      { clip_id: CLIP, frame: 0, hand_index: 0, handedness: 'right', kp2d, kp3d_rel: kp3dRel },
      { clip_id: CLIP, frame: 1, hand_index: 1, handedness: 'left', kp2d, kp3d_rel: kp3dRel },
    ];
    const hp = [{ clip_id: CLIP, frame: 0, hand_index: 0, handedness: 'right', joints_cam: truth.map((v, i) => v + (i % 3 === 2 ? 0.3 : 0)), joints_2d: kp2d }];
    const { hands } = lift3d({ clipId: CLIP, fps: 30, depth: [row], masks: [], hands: hk, handPoses: hp }, { max_depth_gap_s: 0.05 });
    expect(hands.map((h) => [h.frame, h.hand_index, h.source])).toEqual([
      [0, 0, 'hand_pose_3d_depth'],
      [1, 1, 'keypoints_depth'],
    ]);
    for (const h of hands) close(h.joints as number[], truth, 0.002);
    expect(Object.keys(hands[0]).sort()).toEqual(Object.keys(op.outputs[1].columns).sort());
    const asGiven = lift3d({ clipId: CLIP, fps: 30, depth: [row], masks: [], hands: hk, handPoses: hp }, { hand_anchor: 'cam_t', hand_source: 'hand_pose_3d' });
    expect(asGiven.hands).toHaveLength(1);
    expect(asGiven.hands[0].source).toBe('hand_pose_3d');
    expect((asGiven.hands[0].joints as number[])[2]).toBeCloseTo(zw + 0.3, 5);
  });
});

describe('lift3d op contract', () => {
  it('needs depth, reads masks and hands; CPU pool', () => {
    expect(op.needs).toEqual(['depth']);
    expect(op.reads).toEqual(['object_masks', 'hand_keypoints', 'hand_pose_3d']);
    expect(op.resources.pool).toBe('cpu');
    expect(op.outputs.map((t) => t.name)).toEqual(['objects_3d', 'hands_3d']);
    expect(countsToString([1, 2])).toBeTypeOf('string');
  });
});
