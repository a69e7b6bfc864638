/**
 * End to end through the real CLI (bin/egopipe.js): known cuts, clips, the shared test video
 * goldens, bad inputs, hostile names, duplicates, exit codes, query formats.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, GEN, query, ROOT, tmpDir, truth, VIDEOS, writeRecipe } from './helpers/fixtures.js';

const SCENES = path.join(ROOT, 'recipes', 'scenes.yaml');

describe('egopipe run on generated videos with known cuts', () => {
  let out: string;
  let res: ReturnType<typeof cli>;
  beforeAll(() => {
    out = path.join(tmpDir(), 'out');
    res = cli(['run', SCENES, '--input', path.join(GEN, 'cuts'), '--out', out]);
  });

  it('exits 0 and prints a summary with the output path and a query line', () => {
    expect(res.stderr).not.toMatch(/ERROR|WARN/);
    expect(res.stdout).toMatch(/videos\s+3 seen, 3 new/);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(out);
    expect(res.stdout).toContain('egopipe query --out');
  });

  it('finds exactly the known cut frames', () => {
    for (const f of ['cuts_4scenes.mp4', 'cuts_3scenes.mkv', 'long_single_scene.mp4']) {
      const file = path.join(GEN, 'cuts', f);
      const t = truth(file);
      const rows = query<{ start_frame: number; end_frame: number }>(
        out,
        `SELECT s.start_frame, s.end_frame FROM scenes s JOIN videos v USING (video_id) WHERE v.path = '${file}' ORDER BY s.start_frame`,
      );
      expect(rows.map((r) => r.start_frame).slice(1)).toEqual(t.cuts);
      expect(rows[0].start_frame).toBe(0);
      expect(rows[rows.length - 1].end_frame).toBe(t.frames);
      for (let i = 1; i < rows.length; i++) expect(rows[i].start_frame).toBe(rows[i - 1].end_frame);
    }
  });

  it('records ffprobe metadata per video', () => {
    const v = query<Record<string, unknown>>(out, `SELECT * FROM videos ORDER BY path`);
    expect(v).toHaveLength(3);
    const mkv = v.find((r) => String(r.path).endsWith('cuts_3scenes.mkv'))!;
    expect(mkv).toMatchObject({ fps: 30, frame_count: 150, width: 320, height: 240, codec: expect.any(String), rotation: 0, status: 'ok', error: null });
    expect(String(mkv.video_id)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('splits scenes into clips of at most max_clip_seconds with the configured overlap', () => {
    const rows = query<{ start_frame: number; end_frame: number; overlap_prev_frames: number; scene_index: number; clip_id: string }>(
      out,
      `SELECT c.* FROM clips c JOIN videos v USING (video_id) WHERE v.path LIKE '%long_single_scene.mp4' ORDER BY start_frame`,
    );
    // 625 frames at 25 fps, max 10 s (250 frames), overlap 1 s (25 frames) -> 3 equal clips
    expect(rows.length).toBe(3);
    expect(rows[0].start_frame).toBe(0);
    expect(rows[rows.length - 1].end_frame).toBe(625);
    for (const r of rows) expect(r.end_frame - r.start_frame).toBeLessThanOrEqual(250);
    expect(rows[0].overlap_prev_frames).toBe(0);
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i - 1].end_frame - rows[i].start_frame).toBe(25);
      expect(rows[i].overlap_prev_frames).toBe(25);
    }
    expect(new Set(rows.map((r) => r.clip_id)).size).toBe(rows.length);
  });

  it('a second run with the same --out does nothing new and writes no duplicate rows', () => {
    const again = cli(['run', SCENES, '--input', path.join(GEN, 'cuts'), '--out', out, '--quiet', '--log-format', 'json']);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout.trim().split('\n').pop()!);
    expect(summary.rows).toEqual({});
    const [c] = query<{ n: number; d: number }>(out, `SELECT count(*) AS n, count(DISTINCT clip_id) AS d FROM clips`);
    expect(c.n).toBe(c.d);
    const [s] = query<{ n: number }>(out, `SELECT count(*) AS n FROM scenes`);
    expect(s.n).toBe(4 + 3 + 1);
  });

  it('query --format json returns lists and structs as JSON, csv and table work', () => {
    const j = query<{ l: number[]; s: { a: number } }>(out, `SELECT [1,2,3] AS l, {'a': 1} AS s`);
    expect(j).toEqual([{ l: [1, 2, 3], s: { a: 1 } }]);
    const csv = cli(['query', '--out', out, '--format', 'csv', 'SELECT count(*) AS n FROM videos']);
    expect(csv.stdout.trim()).toBe('n\n3');
    const tbl = cli(['query', '--out', out, 'SELECT count(*) AS n FROM runs']);
    expect(tbl.code).toBe(0);
    expect(tbl.stdout).toContain('│ n');
    const bad = cli(['query', '--out', out, 'SELECT * FROM no_such_table']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no_such_table/);
  });

  it('plain DuckDB read_parquet with hive partitioning sees every table', () => {
    for (const t of ['videos', 'scenes', 'clips', 'runs']) {
      const glob = path.join(out, t, '**', '*.parquet');
      const [r] = query<{ n: number; runs: number }>(out, `SELECT count(*) AS n, count(DISTINCT run_id) AS runs FROM read_parquet('${glob}', hive_partitioning=true)`);
      expect(r.n).toBeGreaterThan(0);
      expect(r.runs).toBeGreaterThanOrEqual(1);
    }
  });

  it('records provenance in runs', () => {
    const runs = query<Record<string, string>>(out, `SELECT * FROM runs ORDER BY started_at`);
    expect(runs.length).toBe(2);
    for (const r of runs) {
      expect(r.status).toBe('finished');
      expect(r.recipe_yaml).toContain('scene_detect');
      expect(JSON.parse(r.tools).ffmpeg.version).toBeTruthy();
      expect(r.code_version).toMatch(/^\d+\.\d+\.\d+/);
    }
  });
});

describe('shared videos', () => {
  it.skipIf(!fs.existsSync(VIDEOS))('testvideo.mp4: ContentDetector defaults cut at 30, 180, 394 (±1); AdaptiveDetector near them', () => {
    const dir = tmpDir();
    const file = path.join(VIDEOS, 'testvideo.mp4');
    const res = cli(['run', SCENES, '--input', file, '--out', path.join(dir, 'c'), '--quiet']);
    expect(res.code, res.stderr).toBe(0);
    const rows = query<{ start_frame: number; end_frame: number; start_s: number }>(path.join(dir, 'c'), 'SELECT * FROM scenes ORDER BY start_frame');
    const cuts = rows.map((r) => r.start_frame).slice(1);
    expect(cuts).toHaveLength(3);
    [30, 180, 394].forEach((c, i) => expect(Math.abs(cuts[i] - c)).toBeLessThanOrEqual(1));
    expect(rows[rows.length - 1].end_frame).toBe(720);
    expect(rows[1].start_s).toBeCloseTo(cuts[0] / (30000 / 1001), 6);

    const ad = writeRecipe(dir, 'ops:\n  - op: probe\n  - op: scene_detect\n    params: {detector: adaptive}\n  - op: clips\n');
    const r2 = cli(['run', ad, '--input', file, '--out', path.join(dir, 'a'), '--quiet']);
    expect(r2.code, r2.stderr).toBe(0);
    const a = query<{ start_frame: number; detector: string }>(path.join(dir, 'a'), 'SELECT * FROM scenes ORDER BY start_frame');
    expect(a[0].detector).toMatch(/^adaptive/);
    for (const c of [30, 180, 394]) expect(a.some((r) => Math.abs(r.start_frame - c) <= 1)).toBe(true);
  });
});

describe('bad input', () => {
  it('dead-letters every bad file with a reason, keeps going, exits 3', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const missingList = writeRecipe(dir, `${path.join(GEN, 'bad', 'does-not-exist.mp4')}\n`, 'list.txt');
    const res = cli(['run', SCENES, '--input', path.join(GEN, 'bad'), missingList, path.join(GEN, 'cuts', 'cuts_4scenes.mp4'), '--out', out, '--quiet']);
    expect(res.code).toBe(3);
    const dlq = JSON.parse(cli(['dlq', '--out', out, '--json']).stdout) as Array<{ video_path: string; op: string; attempts: number; last_error: string; permanent: boolean }>;
    const by = (name: string) => dlq.find((d) => d.video_path.endsWith(name));
    expect(by('empty.mp4')?.last_error).toMatch(/empty file/);
    expect(by('not_a_video.mp4')?.last_error).toMatch(/not a readable video|Invalid data/);
    expect(by('audio_only.mp4')?.last_error).toMatch(/audio-only/);
    expect(by('truncated.mp4')?.last_error).toMatch(/moov atom not found|not a readable video/);
    expect(by('does-not-exist.mp4')?.last_error).toMatch(/cannot access|ENOENT/);
    for (const d of dlq) {
      expect(d.op).toBe('probe');
      expect(d.permanent).toBe(true); // a retry cannot fix these: no retries spent
      expect(d.attempts).toBe(1);
    }
    expect(dlq).toHaveLength(5);
    // the good video went through
    const [n] = query<{ n: number }>(out, `SELECT count(*) AS n FROM scenes`);
    expect(n.n).toBe(4);
    const failed = query<{ path: string; status: string; error: string }>(out, `SELECT path, status, error FROM videos WHERE status = 'failed' ORDER BY path`);
    expect(failed).toHaveLength(5);
    for (const f of failed) expect(f.error).toMatch(/^probe: /);
    // the text table
    const txt = cli(['dlq', '--out', out]);
    expect(txt.stdout).toContain('audio-only');
  });

  it('hostile file names are processed (no shell anywhere)', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const res = cli(['run', SCENES, '--input', path.join(GEN, 'hostile'), '--out', out, '--quiet']);
    expect(res.code, res.stderr).toBe(0);
    const v = query<{ path: string; status: string }>(out, `SELECT path, status FROM videos ORDER BY path`);
    expect(v.map((r) => path.basename(r.path)).sort()).toEqual(fs.readdirSync(path.join(GEN, 'hostile')).filter((f) => !f.endsWith('.json')).sort());
    expect(v.every((r) => r.status === 'ok')).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'PWNED'))).toBe(false);
  });

  it('a renamed or re-listed file is not processed twice (content id)', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const src = path.join(GEN, 'many', 'v03.mp4');
    fs.copyFileSync(src, path.join(dir, 'renamed copy.mp4'));
    const res = cli(['run', SCENES, '--input', src, path.join(dir, 'renamed copy.mp4'), src, '--out', out, '--quiet']);
    expect(res.code).toBe(0);
    const [r] = query<{ n: number }>(out, 'SELECT count(*) AS n FROM videos');
    expect(r.n).toBe(1);
  });
});

describe('usage errors exit 2 and write nothing', () => {
  it('bad recipe, missing input, unknown option', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const bad = writeRecipe(dir, 'ops:\n  - op: probe\n  - op: scene_detectt\n');
    const r1 = cli(['run', bad, '--input', GEN, '--out', out]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/recipe\.yaml:3:\d+\s+ops\[1\]\.op: unknown op "scene_detectt"/);
    expect(fs.existsSync(out)).toBe(false);
    const r2 = cli(['run', SCENES, '--input', path.join(dir, 'nope'), '--out', out]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/input not found/);
    expect(fs.existsSync(out)).toBe(false);
    const r3 = cli(['run', SCENES, '--bogus']);
    expect(r3.code).toBe(2);
    const r4 = cli(['status', '--out', path.join(dir, 'nothing')]);
    expect(r4.code).toBe(2);
    expect(r4.stderr).toMatch(/no egopipe output/);
  });

  it('every command has --help', () => {
    for (const c of ['run', 'status', 'dlq', 'query', 'validate', 'doctor', 'ops', 'runs', 'demo']) {
      const r = cli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain('Usage: egopipe ' + c);
    }
  });

  it('doctor reports ffmpeg, ffprobe, onnxruntime providers and disk', () => {
    const r = cli(['doctor', '--json']);
    const d = JSON.parse(r.stdout);
    expect(d.ffmpeg.version).toBeTruthy();
    expect(d.ffprobe.version).toBeTruthy();
    expect(d.onnxruntime.providers.map((p: { name: string }) => p.name)).toContain('cpu');
    expect(d.disk.free_gb).toBeGreaterThan(0);
    expect(r.code).toBe(0);
  });
});
