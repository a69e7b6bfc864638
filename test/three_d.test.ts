/**
 * The 3D chain end to end through the CLI with tiny stand-in models: hand keypoints -> SAM 2.1
 * masks -> MoGe-2 depth -> lift3d -> object_motion (+ FoundationPose object_pose for a label
 * with a mesh), all in one recipe, on real video frames.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTool } from '../src/ffmpeg.js';
import { cliRun, query, ROOT, SHARED, tmpDir, VIDEOS, writeRecipe } from './helpers/fixtures.js';

const TINY = path.join(ROOT, 'fixtures', 'generated', 'tiny-models');

describe.skipIf(!fs.existsSync(VIDEOS))('3D chain with tiny models', () => {
  it('writes depth, objects_3d, hands_3d, object_motion, clip_summary and object_poses that join up', async () => {
    const dir = tmpDir();
    const clip = path.join(dir, 'cups3s.mp4');
    expect(spawnSync(resolveTool('ffmpeg').path, ['-v', 'error', '-y', '-i', path.join(VIDEOS, '02_cups.mp4'), '-frames:v', '90', '-c', 'copy', clip]).status).toBe(0);
    // a 8 cm cube as the "cup" mesh
    const cube = path.join(dir, 'cube.obj');
    const h = 0.04;
    const v = [-h, h].flatMap((x) => [-h, h].flatMap((y) => [-h, h].map((z) => `v ${x} ${y} ${z}`)));
    const f = ['1 3 4 2', '5 6 8 7', '1 2 6 5', '3 7 8 4', '1 5 7 3', '2 4 8 6'].map((q) => `f ${q}`);
    fs.writeFileSync(cube, [...v, ...f].join('\n') + '\n');
    const recipe = writeRecipe(
      dir,
      `resources: {gpus: none, cpu_workers: 2}
models:
  sam2: {path: ${path.join(TINY, 'sam2')}}
  moge: {path: ${path.join(TINY, 'depth', 'moge2.tiny.onnx')}}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 1.5, overlap_seconds: 0.2}
  - op: hand_keypoints
    params: {sample_fps: 10}
  - op: object_masks
    params: {model_dir: "model:sam2", prompt_sources: [hand_keypoints, recipe], prompts: {objects: [{box: [480, 260, 800, 460], label: cup}]}, step: 3, threads: 1}
  - op: depth
    params: {model: "model:moge", sample_fps: 10}
  - op: lift3d
    params: {max_depth_gap_s: 0.2}
  - op: object_motion
  - op: object_pose
    params:
      meshes: {cup: ${cube}}
      refiner_model: ${path.join(TINY, 'foundationpose', 'foundationpose_refiner.tiny.onnx')}
      scorer_model: ${path.join(TINY, 'foundationpose', 'foundationpose_scorer.tiny.onnx')}
      refine_iterations: 1
      frame_step: 15
`,
    );
    const out = path.join(dir, 'out');
    const r = await cliRun(['run', recipe, '--input', clip, '--out', out, '--quiet'], { env: { EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(dir, 'cache') } });
    expect(r.code, r.stderr).toBe(0);
    const n = (t: string) => query<{ n: number }>(out, `SELECT count(*) AS n FROM ${t}`)[0].n;
    for (const t of ['depth', 'masks', 'objects_3d', 'hands_3d', 'clip_summary']) expect(n(t), t).toBeGreaterThan(0);
    const [clips] = query<{ n: number }>(out, 'SELECT count(*) AS n FROM clips');
    expect(n('clip_summary')).toBe(clips.n); // one summary per clip
    const d = query<{ fx: number; fy: number; width: number; valid_frac: number }>(out, 'SELECT fx, fy, width, valid_frac FROM depth LIMIT 1')[0];
    expect(d.fx).toBeGreaterThan(0);
    expect(d.valid_frac).toBeGreaterThan(0);
    // objects_3d rows belong to masks of the same clip, frame and object
    const [orphans] = query<{ n: number }>(
      out,
      'SELECT count(*) AS n FROM objects_3d o LEFT JOIN masks m ON m.clip_id = o.clip_id AND m.frame = o.frame AND m.object_id = o.object_id WHERE m.object_id IS NULL',
    );
    expect(orphans.n).toBe(0);
    const poses = query<{ label: string; R: number[]; t: number[] }>(out, 'SELECT label, R, t FROM object_poses');
    expect(poses.length).toBeGreaterThan(0);
    for (const p of poses) {
      expect(p.label).toBe('cup'); // no mesh for the hands: no poses for them
      expect(p.R).toHaveLength(9);
      expect(p.t[2]).toBeGreaterThan(0); // in front of the camera
    }
  }, 240_000);
});
