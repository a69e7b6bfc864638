/**
 * Tiny stand-in ONNX models for tests: the same input/output names, dtypes and ranks as the real
 * exports, with small, predictable graphs (no learned weights; nothing they output means anything).
 *
 *   node dist/scripts/tiny-models.js --out <dir> [--only hand_pose_3d,...]
 *
 * Each model has a `build*` function (bytes), a `write*` function (file in a directory), and,
 * where a test needs to predict outputs, a reference implementation in TypeScript. Register new
 * models (SAM 2.1, SAM 3, depth, FoundationPose, ...) in TINY_MODELS.
 */
import { writeTinyMoge, writeTinyDepthAnything } from '../operators/depth/tiny.js';
import { writeTinyFoundationPose } from '../operators/object_pose/tiny.js';
import { writeTinySam2 } from '../operators/object_masks/tiny.js';
import { writeTinySam3 } from '../operators/object_detect/tiny.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OnnxGraph, f32, i64 } from '../src/onnx/writer.js';
import { CROP_SIZE, NUM_JOINTS, NUM_MANO_VERTICES, axisAngleToRotmat } from '../operators/hand_pose_3d/geometry.js';

const TINY_METADATA = { 'egopipe.tiny': 'true', 'egopipe.note': 'test stand-in without learned weights; outputs are meaningless' };

// ---------------------------------------------------------------------------------------------
// hand_pose_3d (HaMeR / WiLoR contract, operators/hand_pose_3d/README.md)

/** A plausible right hand at rest, OpenPose order, metres, wrist at the origin, fingers along -y. */
function restHand(): Float32Array {
  const j = new Float32Array(NUM_JOINTS * 3);
  // finger roots (x, y, z) and per-segment directions; thumb points out to +x
  const fingers: Array<{ root: [number, number, number]; dir: [number, number, number]; seg: [number, number, number, number] }> = [
    { root: [0.02, -0.01, -0.01], dir: [0.7, -0.7, -0.1], seg: [0.0, 0.035, 0.03, 0.025] },
    { root: [0.025, -0.085, 0.0], dir: [0.05, -1, 0.02], seg: [0.0, 0.04, 0.025, 0.02] },
    { root: [0.0, -0.09, 0.0], dir: [0, -1, 0.03], seg: [0.0, 0.045, 0.028, 0.022] },
    { root: [-0.02, -0.085, 0.002], dir: [-0.05, -1, 0.04], seg: [0.0, 0.042, 0.026, 0.02] },
    { root: [-0.038, -0.075, 0.004], dir: [-0.12, -1, 0.05], seg: [0.0, 0.032, 0.02, 0.018] },
  ];
  fingers.forEach((fg, fi) => {
    const n = Math.hypot(...fg.dir);
    let p = [...fg.root];
    for (let s = 0; s < 4; s++) {
      p = p.map((v, a) => v + (fg.seg[s] * fg.dir[a]) / n);
      j.set(p, (1 + fi * 4 + s) * 3);
    }
  });
  return j;
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function prand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Constants of the tiny hand_pose_3d model. With, per batch item,
 *   m = mean(img)                                    (all channels and pixels)
 *   d = mean(img[..., :128]) - mean(img[..., 128:])  (left half minus right half: changes sign when the crop is mirrored)
 * the outputs are
 *   pred_keypoints_3d = JOINTS + d * JOINTS_D + m * JOINTS_M          [B,21,3]
 *   pred_cam          = CAM + d * CAM_D + m * CAM_M                    [B,3]   (s, tx, ty)
 *   pred_vertices     = VERTS + d * VERTS_D                            [B,778,3]
 *   global_orient     = GLOBAL_ORIENT (rotation matrices)              [B,1,3,3]
 *   hand_pose         = HAND_POSE (rotation matrices)                  [B,15,3,3]
 *   betas             = BETAS                                          [B,10]
 */
export const TINY_HAND_POSE_3D = (() => {
  const joints = restHand();
  const jointsD = prand(NUM_JOINTS * 3, 7).map((v) => 0.01 * v);
  const jointsM = new Float32Array(NUM_JOINTS * 3);
  for (let i = 0; i < NUM_JOINTS; i++) jointsM[i * 3 + 1] = 0.004 * (i + 1); // y only
  const verts = new Float32Array(NUM_MANO_VERTICES * 3);
  const noise = prand(NUM_MANO_VERTICES * 3, 11);
  for (let v = 0; v < NUM_MANO_VERTICES; v++) {
    const jt = v % NUM_JOINTS;
    for (let a = 0; a < 3; a++) verts[v * 3 + a] = joints[jt * 3 + a] + 0.008 * noise[v * 3 + a];
  }
  const vertsD = prand(NUM_MANO_VERTICES * 3, 13).map((v) => 0.005 * v);
  const globalOrientAA = f32([0.4, -0.7, 0.25]);
  const handPoseAA = new Float32Array(45);
  for (let k = 0; k < 15; k++) handPoseAA.set([0.05 * (k + 1), -0.02 * k, 0.1 - 0.01 * k], k * 3);
  const globalOrient = Float32Array.from(axisAngleToRotmat(globalOrientAA));
  const handPose = new Float32Array(15 * 9);
  for (let k = 0; k < 15; k++) handPose.set(axisAngleToRotmat(handPoseAA, k * 3), k * 9);
  return {
    joints,
    jointsD,
    jointsM,
    cam: f32([5.0, 0.02, -0.03]),
    camD: f32([0, 0.05, 0]),
    camM: f32([0.1, 0, 0.01]),
    verts,
    vertsD,
    globalOrientAA,
    handPoseAA,
    globalOrient,
    handPose,
    betas: f32([0.5, -0.3, 0.2, 0.1, 0, -0.1, 0.05, 0, 0.02, -0.02]),
  };
})();

export function buildTinyHandPose3d(): Uint8Array {
  const C = TINY_HAND_POSE_3D;
  const S = CROP_SIZE;
  const half = S / 2;
  const g = new OnnxGraph('tiny_hand_pose_3d', 'egopipe tiny stand-in for a HaMeR/WiLoR hand_pose_3d export');
  g.input('img', 'float32', ['batch', 3, S, S], 'RGB crop, ImageNet-normalised, NCHW; left hands mirrored');
  g.initializer('half_lo_s', i64([0]), [1])
    .initializer('half_lo_e', i64([half]), [1])
    .initializer('half_hi_s', i64([half]), [1])
    .initializer('half_hi_e', i64([S]), [1])
    .initializer('w_axis', i64([3]), [1])
    .initializer('shape_b11', i64([-1, 1, 1]), [3])
    .initializer('shape_b1', i64([-1, 1]), [2])
    .initializer('zero', f32([0]), [1]);
  g.node('Slice', ['img', 'half_lo_s', 'half_lo_e', 'w_axis'], ['img_l'])
    .node('Slice', ['img', 'half_hi_s', 'half_hi_e', 'w_axis'], ['img_r'])
    .node('ReduceMean', ['img_l'], ['mean_l'], { axes: [1, 2, 3], keepdims: 1 })
    .node('ReduceMean', ['img_r'], ['mean_r'], { axes: [1, 2, 3], keepdims: 1 })
    .node('ReduceMean', ['img'], ['mean_all'], { axes: [1, 2, 3], keepdims: 1 })
    .node('Sub', ['mean_l', 'mean_r'], ['d4']) // [B,1,1,1]
    .node('Reshape', ['d4', 'shape_b11'], ['d3'])
    .node('Reshape', ['mean_all', 'shape_b11'], ['m3'])
    .node('Reshape', ['d4', 'shape_b1'], ['d2'])
    .node('Reshape', ['mean_all', 'shape_b1'], ['m2'])
    .node('Mul', ['d4', 'zero'], ['zero4']); // [B,1,1,1] zeros: broadcasts constants to the batch

  // joints
  g.initializer('J', C.joints, [1, NUM_JOINTS, 3])
    .initializer('J_d', C.jointsD, [1, NUM_JOINTS, 3])
    .initializer('J_m', C.jointsM, [1, NUM_JOINTS, 3])
    .node('Mul', ['d3', 'J_d'], ['j_dterm'])
    .node('Mul', ['m3', 'J_m'], ['j_mterm'])
    .node('Add', ['J', 'j_dterm'], ['j_sum'])
    .node('Add', ['j_sum', 'j_mterm'], ['pred_keypoints_3d']);
  // camera (s, tx, ty)
  g.initializer('CAM', C.cam, [1, 3])
    .initializer('CAM_d', C.camD, [1, 3])
    .initializer('CAM_m', C.camM, [1, 3])
    .node('Mul', ['d2', 'CAM_d'], ['c_dterm'])
    .node('Mul', ['m2', 'CAM_m'], ['c_mterm'])
    .node('Add', ['CAM', 'c_dterm'], ['c_sum'])
    .node('Add', ['c_sum', 'c_mterm'], ['pred_cam']);
  // MANO outputs
  g.initializer('GO', C.globalOrient, [1, 1, 3, 3])
    .initializer('HP', C.handPose, [1, 15, 3, 3])
    .initializer('BETAS', C.betas, [1, 10])
    .initializer('V', C.verts, [1, NUM_MANO_VERTICES, 3])
    .initializer('V_d', C.vertsD, [1, NUM_MANO_VERTICES, 3])
    .node('Add', ['GO', 'zero4'], ['global_orient'])
    .node('Add', ['HP', 'zero4'], ['hand_pose'])
    .node('Mul', ['d2', 'zero'], ['zero2'])
    .node('Add', ['BETAS', 'zero2'], ['betas'])
    .node('Mul', ['d3', 'V_d'], ['v_dterm'])
    .node('Add', ['V', 'v_dterm'], ['pred_vertices']);

  g.output('pred_keypoints_3d', 'float32', ['batch', NUM_JOINTS, 3])
    .output('pred_cam', 'float32', ['batch', 3])
    .output('global_orient', 'float32', ['batch', 1, 3, 3])
    .output('hand_pose', 'float32', ['batch', 15, 3, 3])
    .output('betas', 'float32', ['batch', 10])
    .output('pred_vertices', 'float32', ['batch', NUM_MANO_VERTICES, 3]);
  return g.toBytes({ metadata: { ...TINY_METADATA, 'egopipe.contract': 'hand_pose_3d' } });
}

/** TypeScript reference of the tiny hand_pose_3d graph for one NCHW crop (3 x 256 x 256 floats at `offset`). */
export function tinyHandPose3dReference(img: Float32Array, offset = 0): { keypoints3d: Float32Array; cam: [number, number, number]; vertices: Float32Array; m: number; d: number } {
  const C = TINY_HAND_POSE_3D;
  const S = CROP_SIZE;
  let sumL = 0;
  let sumR = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < S; y++) {
      const row = offset + (c * S + y) * S;
      for (let x = 0; x < S; x++) {
        if (x < S / 2) sumL += img[row + x];
        else sumR += img[row + x];
      }
    }
  }
  const n = 3 * S * S;
  const m = (sumL + sumR) / n;
  const d = sumL / (n / 2) - sumR / (n / 2);
  const keypoints3d = C.joints.map((v, i) => v + d * C.jointsD[i] + m * C.jointsM[i]);
  const cam = [0, 1, 2].map((i) => C.cam[i] + d * C.camD[i] + m * C.camM[i]) as [number, number, number];
  const vertices = C.verts.map((v, i) => v + d * C.vertsD[i]);
  return { keypoints3d, cam, vertices, m, d };
}

export function writeTinyHandPose3d(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'hand_pose_3d.tiny.onnx');
  writeFileSync(file, buildTinyHandPose3d());
  return file;
}

// ---------------------------------------------------------------------------------------------
// Registry and CLI

/** name -> writer (returns the written file(s)); each model family in its own subfolder. */
export const TINY_MODELS: Record<string, (dir: string) => string | string[]> = {
  hand_pose_3d: writeTinyHandPose3d,
  sam3: (dir) => writeTinySam3(path.join(dir, 'sam3')),
  sam2: (dir) => writeTinySam2(path.join(dir, 'sam2')),
  moge: (dir) => writeTinyMoge(path.join(dir, 'depth')),
  depth_anything: (dir) => writeTinyDepthAnything(path.join(dir, 'depth')),
  foundationpose: (dir) => writeTinyFoundationPose(path.join(dir, 'foundationpose')),
};

export function writeTinyModels(dir: string, only?: readonly string[]): string[] {
  const names = only?.length ? only : Object.keys(TINY_MODELS);
  const unknown = names.filter((n) => !TINY_MODELS[n]);
  if (unknown.length) throw new Error(`unknown tiny model(s): ${unknown.join(', ')} (known: ${Object.keys(TINY_MODELS).join(', ')})`);
  return names.flatMap((n) => TINY_MODELS[n](dir));
}

function main(argv: string[]): void {
  let out: string | undefined;
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = argv[++i];
    else if (a.startsWith('--out=')) out = a.slice(6);
    else if (a === '--only') only = argv[++i]?.split(',').filter(Boolean);
    else if (a.startsWith('--only=')) only = a.slice(7).split(',').filter(Boolean);
    else if (a === '-h' || a === '--help') {
      console.log(`usage: node dist/scripts/tiny-models.js --out <dir> [--only ${Object.keys(TINY_MODELS).join(',')}]`);
      return;
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!out) throw new Error('missing --out <dir>');
  for (const file of writeTinyModels(out, only)) console.log(file);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`tiny-models: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
