import { describe, expect, it } from 'vitest';
import { analyzeMotion, op } from '../../operators/object_motion/index.js';
import { flippedCell, kinematics, medianFilter3, pointBoxDistance, poseStep } from '../../operators/object_motion/motion.js';
import { lift3d } from '../../operators/lift3d/index.js';
import { mat3MulVec, rng, rotationFromVector, type Mat3, type Vec3 } from '../../src/geometry3d.js';
import type { Row } from '../../operators/types.js';
import { BASE_SCENE, depthRow, maskRow, type Box, type Scene } from '../lift3d/scene.js';

const CLIP = 'clip-m';
const FPS = 30;
const K = { fx: 400, fy: 400, cx: 159.5, cy: 119.5 };

function proj(p: ArrayLike<number>, o = 0): [number, number] {
  return [(K.fx * p[o]) / p[o + 2] + K.cx, (K.fy * p[o + 1]) / p[o + 2] + K.cy];
}

/** 2D box of a 3D box (corners projected). */
function bbox2d(c: Vec3, e: Vec3): number[] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const sx of [-1, 1]) for (const sy of [-1, 1]) for (const sz of [-1, 1]) {
    const [u, v] = proj([c[0] + (sx * e[0]) / 2, c[1] + (sy * e[1]) / 2, c[2] + (sz * e[2]) / 2]);
    x0 = Math.min(x0, u);
    y0 = Math.min(y0, v);
    x1 = Math.max(x1, u);
    y1 = Math.max(y1, v);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}

/** Body-fixed points of a 4 x 4 grid on a curved patch, centred at the origin. */
const BODY: number[] = (() => {
  const out: number[] = [];
  for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) out.push((i - 1.5) * 0.02, (j - 1.5) * 0.015, 0.01 * Math.cos(i) * Math.sin(j + 1));
  return out;
})();

function objRow(frame: number, id: number, label: string, c: Vec3, opts: { R?: Mat3; extent?: Vec3; noise?: () => number; cam?: (p: Vec3) => Vec3; outliers?: number; flip?: boolean } = {}): Row {
  const R = opts.R ?? rotationFromVector([0, 0, 0]);
  const e = opts.extent ?? [0.08, 0.06, 0.06];
  const cam = opts.cam ?? ((p: Vec3) => p);
  const idx: number[] = [];
  const pts: number[] = [];
  for (let k = 0; k < 16; k++) {
    const q = mat3MulVec(R, BODY, k * 3);
    let p = cam([q[0] + c[0], q[1] + c[1], q[2] + c[2]]);
    if (opts.noise) p = [p[0] + opts.noise(), p[1] + opts.noise(), p[2] + opts.noise()];
    if (opts.outliers && k % 10 < opts.outliers) p = [p[0] + 0.05, p[1] - 0.04, p[2] + 0.06];
    idx.push(opts.flip ? flippedCell(k, 4) : k);
    pts.push(...p);
  }
  const cc = cam(c);
  const noisy: Vec3 = opts.noise ? [cc[0] + opts.noise(), cc[1] + opts.noise(), cc[2] + opts.noise()] : cc;
  return {
    clip_id: CLIP,
    frame,
    t_s: frame / FPS,
    object_id: id,
    label,
    centroid: noisy,
    extent: e,
    confidence: 0.9,
    centroid_2d: proj(noisy),
    bbox: bbox2d(cc, e),
    grid_size: 4,
    grid_idx: idx,
    grid_points: pts,
  };
}

describe('trajectory helpers', () => {
  it('median filter removes a single spike; kinematics of a uniform motion', () => {
    const p: Vec3[] = [0, 1, 2, 3, 4].map((i) => [i * 0.1, 0, 1]);
    p[2] = [0.2, 0.5, 1];
    const f = medianFilter3(p, 3);
    expect(f[2]).toEqual([0.2, 0, 1]);
    const { speed, accel } = kinematics(medianFilter3([0, 1, 2, 3].map((i) => [i * 0.05, 0, 1] as Vec3), 1), [0, 0.5, 1, 1.5]);
    for (const s of speed) expect(s).toBeCloseTo(0.1, 12);
    for (const a of accel) expect(a).toBeCloseTo(0, 12);
    expect(pointBoxDistance([0.1, 0, 0], [0, 0, 0], [0.1, 0.1, 0.1])).toBeCloseTo(0.05, 12);
    expect(pointBoxDistance([0.01, 0, 0], [0, 0, 0], [0.1, 0.1, 0.1])).toBe(0);
    expect(flippedCell(0, 4)).toBe(15);
    expect(flippedCell(flippedCell(6, 4), 4)).toBe(6);
  });
});

describe('moving / static classification on generated trajectories', () => {
  const r = rng(9);
  const noise = () => (r() - 0.5) * 0.008; // +-4 mm
  const rows: Row[] = [];
  for (let k = 0; k < 10; k++) {
    const f = k * 6; // 5 Hz
    rows.push(objRow(f, 1, 'mug', [0.1, 0.05, 0.8], { noise }));
    rows.push(objRow(f, 2, 'box', [-0.1 + (0.3 * k) / 9, 0, 0.8]));
    rows.push(objRow(f, 3, 'lid', [0, 0.1 - 0.15 * Math.sin((Math.PI * k) / 9), 0.7]));
    if (k < 2) rows.push(objRow(f, 4, 'spoon', [0, 0, 0.5]));
  }
  const out = analyzeMotion({ clipId: CLIP, fps: FPS, objects: rows, hands: [] }, { ego_motion: 'none' });
  const by = new Map(out.objectMotion.map((o) => [o.object_id, o]));

  it('a jittering static object is static; a steady slide is moving at the right speed; pick-and-place-back is moving', () => {
    expect(by.get('1')).toMatchObject({ motion_class: 'static', moving: false, n_obs: 10 });
    expect(by.get('1')!.displacement_m as number).toBeLessThan(0.01);
    const box = by.get('2')!;
    expect(box).toMatchObject({ motion_class: 'moving', moving: true, moving_frames: 10 });
    expect(box.displacement_m as number).toBeCloseTo(0.3, 6);
    expect(box.path_length_m as number).toBeCloseTo(0.3, 6);
    expect(box.mean_speed_mps as number).toBeCloseTo(0.3 / 1.8, 4);
    expect(box.max_accel_mps2 as number).toBeLessThan(1e-3);
    const lid = by.get('3')!;
    expect(lid.motion_class).toBe('moving');
    expect(lid.displacement_m as number).toBeLessThan(0.01);
    expect(lid.max_excursion_m as number).toBeGreaterThan(0.14);
    expect(by.get('4')!.motion_class).toBe('insufficient');
  });

  it('clip summary counts them; rows match the declared schemas', () => {
    expect(out.summary).toMatchObject({ clip_id: CLIP, objects: 4, moving_objects: 2, static_objects: 1, moving_labels: ['box', 'lid'], hand_moves_object: false, hands_present: 0 });
    expect(Object.keys(out.summary).sort()).toEqual(Object.keys(op.outputs[2].columns).sort());
    for (const o of out.objectMotion) expect(Object.keys(o).sort()).toEqual(Object.keys(op.outputs[0].columns).sort());
    expect((by.get('2')!.traj_3d as number[]).length).toBe(30);
    expect((by.get('2')!.traj_2d as number[]).length).toBe(20);
    expect((by.get('2')!.pose_rel as number[]).length).toBe(60);
  });
});

describe('relative 6D motion from the correspondence grid', () => {
  it('recovers the accumulated rotation and translation despite 20% outlier cells and an axis flip', () => {
    const rows: Row[] = [];
    for (let k = 0; k < 7; k++) {
      const R = rotationFromVector([0.05, 0.1, (10 * k * Math.PI) / 180]);
      rows.push(objRow(k * 3, 5, 'bottle', [0.02 * k, 0, 0.6], { R, outliers: k % 2 ? 2 : 0, flip: k >= 4 }));
    }
    const { objectMotion } = analyzeMotion({ clipId: CLIP, fps: FPS, objects: rows, hands: [] }, { ego_motion: 'none', ransac_threshold_m: 0.005 });
    const o = objectMotion[0];
    expect(o.pose_steps).toBe(6);
    // R_6 R_0^T: 60 degrees about z (plus the small constant tilt, which cancels)
    expect(o.rotation_deg as number).toBeGreaterThan(58.5);
    expect(o.rotation_deg as number).toBeLessThan(61.5);
    const pose = o.pose_rel as number[];
    const w = pose.slice(36, 39);
    expect(Math.hypot(...w)).toBeCloseTo((60 * Math.PI) / 180, 1);
    expect(o.pose_inlier_ratio as number).toBeGreaterThan(0.7);
  });

  it('poseStep falls back to the centroid translation without enough matching cells', () => {
    const s = poseStep({ idx: [0, 1], pts: [0, 0, 1, 1, 0, 1], n: 4, centroid: [0, 0, 1] }, { idx: [0, 1], pts: [0, 0, 1, 1, 0, 1], n: 4, centroid: [0.1, 0, 1] }, { ransac_threshold_m: 0.01, min_pose_points: 6 });
    expect(s.estimated).toBe(false);
    expect(s.T.t).toEqual([0.1, 0, 0]);
  });
});

/** 21 joints of a hand whose fingertips point in -x from `palm` (fingertips at palm - 0.06 x). */
function hand(palm: Vec3): number[] {
  const j: number[] = [palm[0] + 0.04, palm[1] + 0.02, palm[2]];
  for (let f = 0; f < 5; f++) for (let s = 1; s <= 4; s++) j.push(palm[0] + 0.02 - 0.02 * s, palm[1] - 0.03 + 0.015 * f, palm[2] + 0.005 * s);
  return j;
}

function handRow(frame: number, idx: number, joints: number[]): Row {
  const kp: number[] = [];
  for (let i = 0; i < 21; i++) kp.push(...proj(joints, i * 3));
  return { clip_id: CLIP, frame, t_s: frame / FPS, hand_index: idx, handedness: 'right', joints, kp2d: kp, source: 'keypoints_depth' };
}

describe('hand-object contact intervals on a generated hand path', () => {
  // 3 s at 10 Hz; the hand reaches the cup at 1.0 s, carries it 0.2 m to +x until 2.0 s, then leaves
  const objects: Row[] = [];
  const hands: Row[] = [];
  const cupAt = (t: number): Vec3 => [t < 1 ? 0 : t < 2 ? 0.2 * (t - 1) : 0.2, 0.1, 0.6];
  for (let k = 0; k <= 30; k++) {
    const t = k / 10;
    const f = k * 3;
    const cup = cupAt(t);
    objects.push(objRow(f, 1, 'cup', cup, { extent: [0.08, 0.1, 0.08] }));
    objects.push(objRow(f, 2, 'plate', [-0.2, 0.15, 0.7], { extent: [0.2, 0.02, 0.2] }));
    // palm 10 cm right of the cup (fingertips 4 cm from its face) -> 3 cm (fingertips inside)
    const approach = t < 1 ? 0.3 - 0.27 * t : t < 2 ? 0.03 : 0.03 + 0.3 * (t - 2);
    hands.push(handRow(f + 1, 0, hand([cup[0] + approach + 0.04, cup[1], cup[2]])));
  }
  const out = analyzeMotion({ clipId: CLIP, fps: FPS, objects, hands }, {});

  it('one interval for the cup, with the object moved; none for the plate', () => {
    expect(out.contacts).toHaveLength(1);
    const c = out.contacts[0];
    expect(c).toMatchObject({ object_id: '1', label: 'cup', hand_index: 0, handedness: 'right', object_moved: true });
    // contact when the fingertips are within 3 cm of the cup box: from about t = 0.85 s to 2.1 s
    expect(c.start_s as number).toBeGreaterThanOrEqual(0.8);
    expect(c.start_s as number).toBeLessThanOrEqual(1.0);
    expect(c.end_s as number).toBeGreaterThanOrEqual(2.0);
    expect(c.end_s as number).toBeLessThanOrEqual(2.2);
    expect(c.object_displacement_m as number).toBeCloseTo(0.2, 2);
    expect(c.min_dist_m).toBe(0);
    expect(Object.keys(c).sort()).toEqual(Object.keys(op.outputs[1].columns).sort());
  });

  it('object rows and the clip summary: "a hand moves an object"', () => {
    const cup = out.objectMotion.find((o) => o.object_id === '1')!;
    const plate = out.objectMotion.find((o) => o.object_id === '2')!;
    expect(cup).toMatchObject({ motion_class: 'moving', moved_by_hand: true, contact_segments: 1 });
    expect(plate).toMatchObject({ motion_class: 'static', moved_by_hand: false, contact_segments: 0 });
    expect(out.summary).toMatchObject({ hand_moves_object: true, moved_by_hand_labels: ['cup'], hands_present: 1, hand_frames: 31, contact_segments: 1, moving_objects: 1 });
  });

  it('the 2D gate: a hand in front of the object in 3D reach but outside its image box is no contact', () => {
    const far = analyzeMotion({ clipId: CLIP, fps: FPS, objects, hands: hands.map((h) => ({ ...h, kp2d: (h.kp2d as number[]).map((v) => v + 500) })) }, {});
    expect(far.contacts).toHaveLength(0);
    const no2d = analyzeMotion({ clipId: CLIP, fps: FPS, objects, hands: hands.map((h) => ({ ...h, kp2d: (h.kp2d as number[]).map((v) => v + 500) })) }, { contact_require_2d: false });
    expect(no2d.contacts).toHaveLength(1);
  });
});

describe('camera motion from untouched objects', () => {
  it('static objects stay static under a moving camera; the one the hand carries moves', () => {
    const objects: Row[] = [];
    const hands: Row[] = [];
    for (let k = 0; k < 12; k++) {
      const f = k * 6;
      const R = rotationFromVector([0, (1.5 * k * Math.PI) / 180, 0]);
      const cam = (p: Vec3): Vec3 => {
        const q = mat3MulVec(R, p);
        return [q[0] + 0.01 * k, q[1], q[2] - 0.005 * k];
      };
      objects.push(objRow(f, 1, 'jar', [0.15, 0.05, 0.8], { cam }));
      objects.push(objRow(f, 2, 'bowl', [-0.15, 0.1, 0.9], { cam }));
      objects.push(objRow(f, 3, 'pan', [0, 0.15, 1.0], { cam }));
      const carried: Vec3 = [-0.05 + 0.02 * k, 0, 0.7];
      objects.push(objRow(f, 4, 'cup', carried, { cam }));
      hands.push(handRow(f, 0, hand(cam([carried[0] + 0.07, carried[1], carried[2]]))));
    }
    const comp = analyzeMotion({ clipId: CLIP, fps: FPS, objects, hands }, {});
    const by = new Map(comp.objectMotion.map((o) => [o.label, o]));
    for (const l of ['jar', 'bowl', 'pan']) {
      expect(by.get(l)!.motion_class, l).toBe('static');
      expect(by.get(l)!.max_excursion_m as number).toBeLessThan(0.005);
    }
    expect(by.get('cup')!.motion_class).toBe('moving');
    expect(by.get('cup')!.displacement_m as number).toBeCloseTo(0.22, 2);
    expect(comp.summary).toMatchObject({ ego_steps: 11, ego_compensated_steps: 11, hand_moves_object: true, moved_by_hand_labels: ['cup'] });
    // without compensation the static objects appear to move
    const raw = analyzeMotion({ clipId: CLIP, fps: FPS, objects, hands }, { ego_motion: 'none' });
    expect(raw.objectMotion.filter((o) => o.motion_class === 'moving').length).toBeGreaterThanOrEqual(3);
  });
});

describe('lift3d -> object_motion on rendered scenes of known geometry', () => {
  it('a box slid across a table is moving by its true displacement; the box beside it is static', () => {
    const depth: Row[] = [];
    const masks: Row[] = [];
    for (let k = 0; k < 6; k++) {
      const slid: Box = { id: 1, label: 'slid', center: [-0.08 + 0.03 * k, 0.1, 0.85], size: [0.06, 0.05, 0.06] };
      const still: Box = { id: 2, label: 'still', center: [0.15, 0.1, 0.95], size: [0.05, 0.05, 0.05] };
      const s: Scene = { ...BASE_SCENE, boxes: [slid, still] };
      depth.push(depthRow(s, CLIP, k * 10));
      masks.push(maskRow(s, CLIP, k * 10, slid), maskRow(s, CLIP, k * 10, still));
    }
    const lifted = lift3d({ clipId: CLIP, fps: FPS, depth, masks, hands: [], handPoses: [] }, {});
    expect(lifted.objects).toHaveLength(12);
    const out = analyzeMotion({ clipId: CLIP, fps: FPS, objects: lifted.objects, hands: lifted.hands }, { ego_motion: 'none' });
    const by = new Map(out.objectMotion.map((o) => [o.label, o]));
    expect(by.get('slid')!.motion_class).toBe('moving');
    expect(by.get('slid')!.displacement_m as number).toBeCloseTo(0.15, 2);
    expect(by.get('still')!.motion_class).toBe('static');
    expect(by.get('still')!.max_excursion_m as number).toBeLessThan(0.005);
    // the same with camera-motion estimation: the still box is the reference, nothing changes
    const ego = analyzeMotion({ clipId: CLIP, fps: FPS, objects: lifted.objects, hands: lifted.hands }, {});
    expect(new Map(ego.objectMotion.map((o) => [o.label, o])).get('slid')!.displacement_m as number).toBeCloseTo(0.15, 2);
  });
});
