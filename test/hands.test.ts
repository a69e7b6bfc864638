/** The hands chain end to end through the CLI on the real hand video (recipes/hands.yaml). */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, query, ROOT, SHARED, tmpDir, VIDEOS, writeRecipe } from './helpers/fixtures.js';

const env = { EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(tmpDir('egopipe-cache-'), 'c') };

describe.skipIf(!fs.existsSync(VIDEOS))('recipes/hands.yaml on human_hand_video.mp4', () => {
  it('yields keypoints, masks and Allegro-right joint trajectories for the right hand', () => {
    const out = path.join(tmpDir(), 'out');
    const r = cli(['run', path.join(ROOT, 'recipes', 'hands.yaml'), '--input', path.join(VIDEOS, 'human_hand_video.mp4'), '--out', out, '--quiet'], { env });
    expect(r.code, r.stderr).toBe(0);
    // every frame of the video is covered by keypoints (overlap frames appear in two clips)
    const [kp] = query<{ frames: number; right: number; n: number }>(out, `SELECT count(DISTINCT frame) AS frames, avg(CASE WHEN handedness = 'right' THEN 1 ELSE 0 END) AS right, count(*) AS n FROM hand_keypoints`);
    expect(kp.frames).toBeGreaterThanOrEqual(0.9 * 621);
    expect(kp.right).toBeGreaterThanOrEqual(0.9);
    const [m] = query<{ n: number; bad: number }>(out, `SELECT count(*) AS n, sum(CASE WHEN area <= 0 OR rle_counts IS NULL THEN 1 ELSE 0 END) AS bad FROM hand_masks`);
    expect(m.n).toBe(kp.n);
    expect(m.bad).toBe(0);
    const robots = query<{ robot: string; n: number; joints: number; r: number; maxjump: number }>(
      out,
      `SELECT robot, count(*) AS n, max(len(q)) AS joints, avg(residual) AS r FROM robot_joints GROUP BY robot`,
    );
    // the video shows a right hand: only the right robot gets it
    expect(robots.map((x) => x.robot)).toEqual(['allegro_hand_right']);
    expect(robots[0].joints).toBe(16);
    expect(robots[0].n).toBeGreaterThanOrEqual(0.9 * kp.n * 0.9);
    expect(robots[0].r).toBeGreaterThan(0);
    expect(robots[0].r).toBeLessThan(0.1);
    // provenance: the model files and robot configs with their sha256
    const [run] = query<{ models: string }>(out, `SELECT models FROM runs`);
    const models = JSON.parse(run.models) as Array<{ name: string; sha256: string }>;
    expect(models.find((x) => x.name === 'palm_detection')?.sha256).toBe('6fa415badf79694c96441b54c911ddb1b693204923a8dcd67af62e14f23730b4');
    expect(models.find((x) => x.name === 'hand_landmark')?.sha256).toBe('caeea4465a5b7bf68081d9ba6ce195dcb6dcbaadbe83c339a4f2860e9db7eec2');
    expect(models.some((x) => x.name === 'allegro_hand_right')).toBe(true);
  }, 180_000);

  it('a model op without its weights refuses before doing anything (exit 2, nothing written)', () => {
    const dir = tmpDir();
    const recipe = writeRecipe(
      dir,
      'ops:\n  - op: probe\n  - op: clips\n  - op: hand_keypoints\n  - op: hand_pose_3d\n',
    );
    const v = cli(['validate', recipe]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/hand_pose_3d.*(no model configured|weights)/s);
    // hand_keypoints with no mirror, no cache and no network: stops with the pull instruction
    const r2 = writeRecipe(dir, 'ops:\n  - op: probe\n  - op: clips\n  - op: hand_keypoints\n', 'r2.yaml');
    const out = path.join(dir, 'out');
    const res = cli(['run', r2, '--input', path.join(VIDEOS, 'epic_kitchens_sample.mp4'), '--out', out], {
      env: { EGOPIPE_MIRROR: path.join(dir, 'empty-mirror'), EGOPIPE_CACHE: path.join(dir, 'empty-cache'), EGOPIPE_OFFLINE: '1' },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/palm_detection.*not available[\s\S]*egopipe models pull palm_detection/);
    expect(fs.existsSync(out)).toBe(false);
  }, 60_000);
});
