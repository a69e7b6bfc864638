/** Synthetic RGB-D scenes for object_pose tests: a coloured box rendered at a known pose over a textured wall. */
import { axisAngleToMatrix, mul3, type Intrinsics, type Mat3, type Pose } from '../../operators/object_pose/math.js';
import { makeBox, type Mesh } from '../../operators/object_pose/mesh.js';
import { CropRenderer, IDENTITY_AFFINE, allocRenderBuffers } from '../../operators/object_pose/render.js';
import { rotationGrid } from '../../operators/object_pose/hypotheses.js';

export const W = 320;
export const H = 240;
export const K: Intrinsics = { fx: 320, fy: 320, cx: 159.5, cy: 119.5 };
/** the mesh file is not centred: its bounding-box centre is here */
export const OFFSET: [number, number, number] = [0.03, -0.01, 0.02];
export const SIZE: [number, number, number] = [0.12, 0.08, 0.05];
/** grid rotation the true pose is near */
export const GRID_INDEX = 37;

/** Box with a colour ramp along each axis (no symmetry survives the colours). */
export function sceneMesh(): Mesh {
  const b = makeBox(SIZE[0], SIZE[1], SIZE[2], (x, y, z) => [0.15 + 0.7 * (x / SIZE[0] + 0.5), 0.15 + 0.7 * (y / SIZE[1] + 0.5), 0.15 + 0.7 * (z / SIZE[2] + 0.5)]);
  const p = b.positions;
  for (let i = 0; i < p.length; i += 3) {
    p[i] += OFFSET[0];
    p[i + 1] += OFFSET[1];
    p[i + 2] += OFFSET[2];
  }
  return b;
}

/** OBJ text of a mesh (v x y z r g b, vn, f v//vn). */
export function toObj(m: Mesh): string {
  const lines: string[] = ['# egopipe test mesh'];
  const n = m.positions.length / 3;
  for (let i = 0; i < n; i++) {
    const p = Array.from(m.positions.slice(i * 3, i * 3 + 3));
    const c = m.colors ? Array.from(m.colors.slice(i * 3, i * 3 + 3)) : [];
    lines.push(`v ${[...p, ...c].join(' ')}`);
  }
  for (let i = 0; i < n; i++) lines.push(`vn ${Array.from(m.normals.slice(i * 3, i * 3 + 3)).join(' ')}`);
  for (let i = 0; i < m.indices.length; i += 3) {
    const f = [m.indices[i] + 1, m.indices[i + 1] + 1, m.indices[i + 2] + 1];
    lines.push(`f ${f.map((k) => `${k}//${k}`).join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

export function truePose(): Pose {
  const grid = rotationGrid();
  const R: Mat3 = mul3(axisAngleToMatrix([0.05, -0.04, 0.03]), grid[GRID_INDEX]); // ~4 deg off a grid rotation
  return { R, t: [0.02, -0.015, 0.55] };
}

export interface Scene {
  rgb: Uint8Array;
  depth: Float32Array;
  mask: Uint8Array;
  pose: Pose;
}

/** Render the box at `pose` over a wall 1.4 m away. */
export function renderScene(mesh: Mesh, pose: Pose): Scene {
  const r = new CropRenderer(mesh, { width: W, height: H });
  const buf = allocRenderBuffers(W, H, 1);
  r.render(pose, K, IDENTITY_AFFINE, buf, 0);
  const rgb = new Uint8Array(W * H * 3);
  const depth = new Float32Array(W * H);
  const mask = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (buf.depth[i] > 0) {
        mask[i] = 1;
        depth[i] = buf.depth[i];
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(Math.min(1, buf.rgb[i * 3 + c]) * 255);
      } else {
        depth[i] = 1.4;
        rgb[i * 3] = 40 + ((x * 3) % 60);
        rgb[i * 3 + 1] = 60 + ((y * 5) % 50);
        rgb[i * 3 + 2] = 90;
      }
    }
  }
  return { rgb, depth, mask, pose };
}
