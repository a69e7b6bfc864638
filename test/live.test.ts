/** Live progress: decoded frames are counted while tasks run, in threads and in model workers. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpRates, RateWindow } from '../src/live.js';
import { lockPath } from '../src/lock.js';
import { Manifest } from '../src/manifest.js';
import { cliRun, GEN, tmpDir, writeRecipe } from './helpers/fixtures.js';

interface LogLine {
  event: string;
  msg?: string;
  frames?: number;
  frames_decoded?: number;
  ts?: string;
}

const parse = (s: string): LogLine[] =>
  s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

describe('RateWindow', () => {
  it('gives the rate over the last window of samples', () => {
    const r = new RateWindow(10_000);
    expect(r.add(0, 0)).toBe(0);
    expect(r.add(100, 1_000)).toBeCloseTo(100);
    expect(r.add(300, 2_000)).toBeCloseTo(150);
    // 10 s later: the old samples leave the window and the rate follows the recent pace
    for (let t = 3_000; t <= 20_000; t += 1_000) r.add(300 + ((t - 2_000) / 1_000) * 10, t);
    expect(r.add(300 + 190, 21_000)).toBeCloseTo(10, 0);
  });
});

describe('OpRates', () => {
  it('gives each op its recent completion rate and an ETA set by the slowest op', () => {
    const r = new OpRates(60);
    const t0 = 1_000_000;
    for (let i = 0; i < 20; i++) r.done('hand_keypoints', t0 + i * 500); // 2 per second
    for (let i = 0; i < 5; i++) r.done('retarget', t0 + i * 2_000); // 0.5 per second
    const now = t0 + 10_000;
    expect(r.rate('hand_keypoints', now)).toBeCloseTo(2, 1);
    expect(r.rate('retarget', now)).toBeCloseTo(0.5, 1);
    expect(r.eta(new Map([['hand_keypoints', 10], ['retarget', 10]]), now)).toBeCloseTo(20, 0);
    expect(r.eta(new Map([['hand_keypoints', 0], ['retarget', 0]]), now)).toBe(0);
    // an op with work left and no completion yet: unknown
    expect(r.eta(new Map([['object_masks', 3]]), now)).toBeNull();
    // completions older than the window no longer count
    expect(r.rate('retarget', t0 + 200_000)).toBe(0);
  });
});

describe('live frame counts', () => {
  it('worker threads count into the main process: frames_decoded equals the frames scene detection read', async () => {
    const dir = tmpDir();
    const r = writeRecipe(dir, 'ops:\n  - op: probe\n  - op: scene_detect\n');
    const res = await cliRun(['run', r, '--input', path.join(GEN, 'cuts', 'cuts_4scenes.mp4'), '--out', path.join(dir, 'out'), '--log-format', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const summary = parse(res.stdout).find((l) => l.event === 'summary')!;
    expect(summary.frames_decoded).toBe(180);
  }, 60_000);

  it('a model worker reports frames while its long clip runs: progress moves before the clip finishes', async () => {
    const dir = tmpDir();
    const r = writeRecipe(
      dir,
      `resources: {gpus: none, model_workers_cpu: 1}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 600}
  - op: debug_model
    params: {ms_per_frame: 12}
`,
    );
    // 625 frames x 12 ms: one clip task of about 7.5 s; a progress line every second
    const res = await cliRun(['run', r, '--input', path.join(GEN, 'cuts', 'long_single_scene.mp4'), '--out', path.join(dir, 'out'), '--log-format', 'json', '--progress-interval', '1']);
    expect(res.code, res.stderr).toBe(0);
    const lines = [...parse(res.stdout), ...parse(res.stderr)];
    const progress = lines.filter((l) => l.event === 'progress');
    const during = progress.filter((l) => /clips 0\/1/.test(l.msg ?? '') && (l.frames_decoded ?? 0) > 0);
    expect(during.length, JSON.stringify(progress)).toBeGreaterThan(0);
    // frames/s in the line is live too (not 0 while the clip runs)
    expect(during.some((l) => /\| [1-9]\d* frames\/s/.test(l.msg ?? ''))).toBe(true);
    const summary = lines.find((l) => l.event === 'summary')!;
    expect(summary.frames_decoded).toBe(625);
  }, 90_000);

  it('status --watch prints while the run is live, then once more after it ends', async () => {
    const dir = tmpDir();
    const r = writeRecipe(dir, `resources: {gpus: none}\nops:\n  - op: probe\n  - op: clips\n    params: {max_clip_seconds: 600}\n  - op: debug_model\n    params: {ms_per_frame: 8}\n`);
    const out = path.join(dir, 'out');
    const run = cliRun(['run', r, '--input', path.join(GEN, 'cuts', 'long_single_scene.mp4'), '--out', out, '--quiet']);
    for (let i = 0; i < 200 && !(fs.existsSync(lockPath(out)) && fs.existsSync(Manifest.pathIn(out))); i++) await new Promise((res) => setTimeout(res, 50));
    const watch = await cliRun(['status', '--out', out, '--watch', '0.5', '--json']);
    expect((await run).code).toBe(0);
    expect(watch.code, watch.stderr).toBe(0);
    const snaps = watch.stdout.trim().split('\n').map((l) => JSON.parse(l) as { live: unknown; ops: Array<{ op: string; states: Record<string, number> }> });
    expect(snaps.length).toBeGreaterThanOrEqual(2);
    expect(snaps[0].live).not.toBeNull();
    expect(snaps[snaps.length - 1].live).toBeNull();
    expect(snaps[snaps.length - 1].ops.find((o) => o.op === 'debug_model')?.states.done).toBe(1);
  }, 90_000);
});
