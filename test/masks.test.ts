/**
 * Masks end to end through the CLI with the tiny SAM 2.1 / SAM 3 stand-ins (real loading, pre- and
 * post-processing, memory bank, model workers): recipes/masks-tiny.yaml on 02_cups.mp4, and
 * object ids carried across clip overlap by the scene-sequential object_masks tasks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeMask } from '../src/rle.js';
import { resolveTool } from '../src/ffmpeg.js';
import { Manifest } from '../src/manifest.js';
import Database from 'better-sqlite3';
import { cliRun, query, ROOT, SHARED, tmpDir, VIDEOS, writeRecipe } from './helpers/fixtures.js';

const env = () => ({ EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(tmpDir('egopipe-cache-'), 'c') });

describe.skipIf(!fs.existsSync(VIDEOS))('masks with tiny models', () => {
  it('recipes/masks-tiny.yaml runs on 02_cups.mp4 end to end: masks at original resolution, decodable RLE, objects', async () => {
    const out = path.join(tmpDir(), 'out');
    const r = await cliRun(['run', path.join(ROOT, 'recipes', 'masks-tiny.yaml'), '--input', path.join(VIDEOS, '02_cups.mp4'), '--out', out, '--quiet'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const masks = query<{ object_id: string; label: string; bbox: number[]; area: number; rle_counts: string; height: number; width: number; frame: number }>(
      out,
      'SELECT * FROM masks USING SAMPLE 40 ROWS',
    );
    expect(masks.length).toBeGreaterThan(0);
    for (const m of masks) {
      expect([m.height, m.width]).toEqual([720, 1280]);
      const px = decodeMask({ size: [m.height, m.width], counts: m.rle_counts });
      const area = px.reduce((a, b) => a + b, 0);
      expect(area).toBe(m.area);
      if (area) expect(m.bbox[2] * m.bbox[3]).toBeGreaterThanOrEqual(area);
    }
    const labels = query<{ label: string }>(out, 'SELECT DISTINCT label FROM objects ORDER BY 1').map((x) => x.label);
    expect(labels).toContain('workspace'); // the recipe box prompt
    expect(labels.some((l) => /hand/.test(l))).toBe(true); // hand boxes from hand_keypoints
  }, 300_000);

  it('object ids carry across clip overlap: scene-sequential tasks hand the previous clip masks over', async () => {
    const dir = tmpDir();
    const clip = path.join(dir, 'cups3s.mp4');
    const r0 = spawnSync(resolveTool('ffmpeg').path, ['-v', 'error', '-y', '-i', path.join(VIDEOS, '02_cups.mp4'), '-frames:v', '90', '-c', 'copy', clip]);
    expect(r0.status).toBe(0);
    const recipe = writeRecipe(
      dir,
      `resources: {gpus: none, cpu_workers: 2}
models:
  sam2: {path: ${path.join(ROOT, 'fixtures', 'generated', 'tiny-models', 'sam2')}}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 1, overlap_seconds: 0.3}
  - op: hand_keypoints
    params: {sample_fps: 10}
  - op: object_masks
    params: {model_dir: "model:sam2", prompt_sources: [hand_keypoints, previous_clip], step: 3, threads: 1}
`,
    );
    const out = path.join(dir, 'out');
    const r = await cliRun(['run', recipe, '--input', clip, '--out', out, '--quiet'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const carried = query<{ object_id: string; clips: number }>(
      out,
      `SELECT object_id, count(DISTINCT clip_id) AS clips FROM objects GROUP BY 1 HAVING count(DISTINCT clip_id) > 1`,
    );
    expect(carried.length).toBeGreaterThan(0);
    const warm = query<{ n: number }>(out, `SELECT count(*) AS n FROM objects WHERE source = 'previous_clip'`);
    expect(warm[0].n).toBeGreaterThan(0);
    // each clip's object_masks task started after the previous clip's of the same scene finished
    const ev = query<{ clip_id: string; start: number; t_end: number; start_frame: number }>(
      out,
      `SELECT e.item_id AS clip_id, epoch(e.ts) - e.duration_s AS start, epoch(e.ts) AS t_end, c.start_frame
       FROM events e JOIN clips c ON c.clip_id = e.item_id WHERE e.op = 'object_masks' AND e.event = 'finished' ORDER BY c.start_frame`,
    );
    for (let i = 1; i < ev.length; i++) expect(ev[i].start).toBeGreaterThanOrEqual(ev[i - 1].t_end - 0.05);

    // without previous_clip the clips of the scene are independent tasks (no ordering, no hand-over)
    const indep = writeRecipe(dir, fs.readFileSync(recipe, 'utf8').replace('[hand_keypoints, previous_clip]', '[hand_keypoints]'), 'indep.yaml');
    const out2 = path.join(dir, 'out2');
    const r2 = await cliRun(['run', indep, '--input', clip, '--out', out2, '--quiet'], { env: env() });
    expect(r2.code, r2.stderr).toBe(0);
    const orderedTasks = (o: string) => {
      const db = new Database(Manifest.pathIn(o), { readonly: true });
      try {
        return (db.prepare(`SELECT count(*) AS n FROM tasks WHERE op = 'object_masks' AND after_item IS NOT NULL`).get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    expect(orderedTasks(out)).toBe(ev.length - 1);
    expect(orderedTasks(out2)).toBe(0);
    expect(query<{ n: number }>(out2, `SELECT count(*) AS n FROM objects WHERE source = 'previous_clip'`)[0].n).toBe(0);
  }, 180_000);

  it('hand_mask method sam2 runs in the model workers: one mask per hand_keypoints row, method recorded', async () => {
    const dir = tmpDir();
    const clip = path.join(dir, 'cups2s.mp4');
    expect(spawnSync(resolveTool('ffmpeg').path, ['-v', 'error', '-y', '-i', path.join(VIDEOS, '02_cups.mp4'), '-frames:v', '60', '-c', 'copy', clip]).status).toBe(0);
    const recipe = writeRecipe(
      dir,
      `resources: {gpus: none}
models:
  sam2: {path: ${path.join(ROOT, 'fixtures', 'generated', 'tiny-models', 'sam2')}}
ops:
  - op: probe
  - op: clips
  - op: hand_keypoints
    params: {sample_fps: 10}
  - op: hand_mask
    params: {method: sam2, model_dir: "model:sam2", threads: 1}
`,
    );
    const out = path.join(dir, 'out');
    const r = await cliRun(['run', recipe, '--input', clip, '--out', out, '--quiet', '--log-format', 'json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const [kp] = query<{ n: number }>(out, 'SELECT count(*) AS n FROM hand_keypoints');
    const hm = query<{ method: string; n: number }>(out, 'SELECT method, count(*) AS n FROM hand_masks GROUP BY 1');
    expect(hm).toEqual([{ method: 'sam2', n: kp.n }]);
    const pools = query<{ pool: string }>(out, "SELECT DISTINCT pool FROM events WHERE op = 'hand_mask'");
    expect(pools).toEqual([{ pool: 'gpu' }]);
  }, 120_000);
});
