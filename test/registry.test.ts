/** The recipe's model registry: model:<name> references, sha256 checks, provenance in runs. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeTinyHandPose3d } from '../scripts/tiny-models.js';
import { sha256File } from '../src/assets.js';
import { cli, query, SHARED, tmpDir, VIDEOS, writeRecipe } from './helpers/fixtures.js';

describe('model registry', () => {
  it('resolves model:<name>, refuses a sha256 mismatch before any work, records the model in runs', async () => {
    const dir = tmpDir();
    const model = writeTinyHandPose3d(path.join(dir, 'models'));
    const sha = await sha256File(model);
    const body = (s: string) => `resources: {gpus: none}
models:
  hand3d: {path: ${path.relative(dir, model)}, sha256: "${s}", provider: cpu, precision: fp32, input_size: [256, 256]}
ops:
  - op: probe
  - op: clips
  - op: hand_keypoints
  - op: hand_pose_3d
    params: {model: "model:hand3d"}
`;
    const env = { EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(dir, 'cache') };
    const bad = writeRecipe(dir, body('0'.repeat(64)), 'bad.yaml');
    const out1 = path.join(dir, 'o1');
    const r1 = cli(['run', bad, '--input', path.join(VIDEOS, 'epic_kitchens_sample.mp4'), '--out', out1], { env });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/model "hand3d" at .* has sha256 [0-9a-f]{64}, the recipe expects 0{64}/);
    expect(fs.existsSync(out1)).toBe(false);

    const undeclared = writeRecipe(dir, body(sha).replace('model:hand3d', 'model:nope'), 'undeclared.yaml');
    const v = cli(['validate', undeclared]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/ops\[3\]\.params\.model: "model:nope" names no model/);

    const good = writeRecipe(dir, body(sha), 'good.yaml');
    const out = path.join(dir, 'o2');
    const r = cli(['run', good, '--input', path.join(VIDEOS, 'epic_kitchens_sample.mp4'), '--out', out, '--quiet'], { env });
    expect(r.code, r.stderr).toBe(0);
    const models = JSON.parse(query<{ models: string }>(out, 'SELECT models FROM runs')[0].models) as Array<Record<string, unknown>>;
    expect(models.find((m) => m.name === 'hand3d')).toMatchObject({ op: 'hand_pose_3d', sha256: sha, provider: 'cpu', precision: 'fp32', input_size: [256, 256] });
    // the tiny model ran in a model-worker process on the hands hand_keypoints found
    const [hk] = query<{ n: number }>(out, 'SELECT count(*) AS n FROM hand_keypoints');
    const [hp] = query<{ n: number }>(out, 'SELECT count(*) AS n FROM hand_pose_3d');
    expect(hp.n).toBe(hk.n);
  }, 120_000);
});
