/** --limit: a dry run on the first n inputs, then the full run into the same --out adds the rest. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliRun, GEN, query, tmpDir, writeRecipe } from './helpers/fixtures.js';

describe('--limit', () => {
  it('takes the first n files in path order; the full run later adds only the others', async () => {
    const dir = tmpDir();
    const r = writeRecipe(dir, 'ops:\n  - op: probe\n  - op: scene_detect\n');
    const out = path.join(dir, 'out');
    const input = path.join(GEN, 'many');
    const bad = await cliRun(['run', r, '--input', input, '--out', out, '--limit', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--limit must be a positive integer/);

    const first = await cliRun(['run', r, '--input', input, '--out', out, '--limit', '3', '--quiet']);
    expect(first.code, first.stderr).toBe(0);
    const names = query<{ name: string }>(out, `SELECT regexp_extract(path, '[^/]+$') AS name FROM videos ORDER BY 1`).map((x) => x.name);
    expect(names).toEqual(['v00.mp4', 'v01.mp4', 'v02.mp4']);

    const full = await cliRun(['run', r, '--input', input, '--out', out, '--quiet']);
    expect(full.code, full.stderr).toBe(0);
    const [v] = query<{ n: number; d: number }>(out, 'SELECT count(*) AS n, count(DISTINCT video_id) AS d FROM videos');
    expect(v).toEqual({ n: 16, d: 16 });
    // scene rows of the first three videos were written once, by the first run
    const per = query<{ runs: number }>(out, 'SELECT count(DISTINCT run_id) AS runs FROM scenes GROUP BY video_id');
    expect(per.every((p) => p.runs === 1)).toBe(true);
    const [runs] = query<{ n: number }>(out, 'SELECT count(DISTINCT run_id) AS n FROM scenes');
    expect(runs.n).toBe(2);
  }, 120_000);
});
