/**
 * Model-worker processes: crash, external kill -9, hang and poison clips; results exactly once;
 * frames decoded by the worker itself; duty-cycle accounting recorded in runs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliAsync, GEN, query, tmpDir, writeRecipe } from './helpers/fixtures.js';

const V = (n: number) => path.join(GEN, 'many', `v${String(n).padStart(2, '0')}.mp4`);

function recipe(dir: string, params: string, extra = ''): string {
  return writeRecipe(
    dir,
    `resources: {gpus: none, model_workers_cpu: 1, cpu_workers: 1}
defaults: {max_attempts: 3, retry_backoff_s: 0}
output: {flush_rows: 5, flush_seconds: 0}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 0.6, overlap_seconds: 0}
  - op: debug_model
${extra}    params: {${params}}
`,
  );
}

function rows(out: string) {
  return query<{ clip_id: string; frames: number; attempt: number; pid: number; mean_luma: number }>(out, 'SELECT * EXCLUDE (run_id) FROM debug_model ORDER BY clip_id');
}

describe('model workers', () => {
  it('decode their own frames; a crashing worker is restarted and its clip retried; poison clips are dead-lettered', () => {
    const dir = tmpDir();
    const ref = path.join(dir, 'ref');
    expect(cli(['run', recipe(dir, 'ms_per_frame: 1'), '--input', V(1), V(2), V(3), '--out', ref, '--quiet']).code).toBe(0);
    const expected = rows(ref);
    expect(expected.length).toBeGreaterThan(6);
    for (const r of expected) {
      expect(r.frames).toBeGreaterThan(0);
      expect(r.mean_luma).toBeGreaterThan(0); // real pixels were decoded
    }
    const clips = query<{ n: number; f: number }>(ref, 'SELECT count(*) AS n, sum(end_frame - start_frame) AS f FROM clips')[0];
    expect(expected.length).toBe(clips.n);
    expect(expected.reduce((a, r) => a + r.frames, 0)).toBe(clips.f);

    // v02's clips crash their worker on the first attempt; v03's always crash
    const out = path.join(dir, 'crashy');
    const r = cli(['run', recipe(dir, "ms_per_frame: 1, fault: crash, match: v02, fail_attempts: 1", ''), '--input', V(1), V(2), '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const got = rows(out);
    expect(got.map((x) => [x.clip_id, x.frames, x.mean_luma])).toEqual(expected.filter((x) => got.some((g) => g.clip_id === x.clip_id)).map((x) => [x.clip_id, x.frames, x.mean_luma]));
    expect(new Set(got.map((x) => x.clip_id)).size).toBe(got.length);
    expect(new Set(got.map((x) => x.pid)).size).toBeGreaterThan(1); // restarted processes
    const counts = JSON.parse(query<{ counts: string }>(out, 'SELECT counts FROM runs')[0].counts);
    expect(counts.model_workers[0].restarts).toBeGreaterThanOrEqual(1);

    const poison = path.join(dir, 'poison');
    const p = cli(['run', recipe(dir, 'ms_per_frame: 1, fault: crash, match: v03'), '--input', V(1), V(3), '--out', poison, '--quiet']);
    expect(p.code).toBe(3);
    const dlq = JSON.parse(cli(['dlq', '--out', poison, '--json']).stdout) as Array<{ op: string; attempts: number; last_error: string; video_path: string }>;
    expect(dlq.length).toBeGreaterThan(0);
    for (const d of dlq) {
      expect(d.video_path).toMatch(/v03\.mp4$/);
      expect(d.attempts).toBe(3);
      expect(d.last_error).toMatch(/model worker cpu exited with code 9/);
    }
    // every clip of v01 went through; every clip of v03 is dead
    const [c] = query<{ all: number; v03: number }>(poison, "SELECT count(*) AS all, sum(CASE WHEN v.path LIKE '%v03.mp4' THEN 1 ELSE 0 END) AS v03 FROM clips JOIN videos v USING (video_id)");
    expect(dlq.length).toBe(c.v03);
    expect(rows(poison).length).toBe(c.all - c.v03);
  }, 120_000);

  it('a hung clip times out, its worker is killed and restarted, the clip is retried', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const r = cli(['run', recipe(dir, 'ms_per_frame: 1, fault: hang, match: v04, fail_attempts: 1', '    timeout_s: 2\n'), '--input', V(4), '--out', out, '--log-format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(logs.some((l) => l.event === 'retry' && /timed out after 2s/.test(l.msg))).toBe(true);
    const got = rows(out);
    expect(got.every((x) => x.attempt >= 1)).toBe(true);
    expect(new Set(got.map((x) => x.clip_id)).size).toBe(got.length);
  }, 60_000);

  it('kill -9 of the worker process from outside: restarted, retried, every row exactly once', async () => {
    const dir = tmpDir();
    const ref = path.join(dir, 'ref');
    const rp = recipe(dir, 'ms_per_frame: 15');
    expect(cli(['run', rp, '--input', V(5), V(6), '--out', ref, '--quiet']).code).toBe(0);
    const out = path.join(dir, 'out');
    const child = cliAsync(['run', rp, '--input', V(5), V(6), '--out', out, '--quiet']);
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    let killed = 0;
    for (let i = 0; i < 100 && killed < 2; i++) {
      await new Promise((r) => setTimeout(r, 150));
      let kids: string[] = [];
      try {
        kids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
      } catch {
        continue;
      }
      for (const k of kids) {
        const cmd = fs.readFileSync(`/proc/${k}/cmdline`, 'utf8');
        if (cmd.includes('model-worker.js') && i > 3) {
          process.kill(Number(k), 'SIGKILL');
          killed++;
          await new Promise((r) => setTimeout(r, 600));
        }
      }
    }
    expect(await exited).toBe(0);
    expect(killed).toBeGreaterThanOrEqual(1);
    const strip = (xs: ReturnType<typeof rows>) => xs.map((x) => [x.clip_id, x.frames, x.mean_luma]);
    expect(strip(rows(out))).toEqual(strip(rows(ref)));
  }, 120_000);

  it('a worker that runs out of memory is restarted and the clip retried', () => {
    const dir = tmpDir();
    const r = writeRecipe(
      dir,
      `resources: {gpus: none, model_workers_cpu: 1, model_worker_memory_mb: 160}
defaults: {max_attempts: 3, retry_backoff_s: 0}
ops:
  - op: probe
  - op: clips
  - op: debug_model
    params: {ms_per_frame: 0, fault: oom, fail_attempts: 1}
`,
    );
    const out = path.join(dir, 'out');
    const res = cli(['run', r, '--input', V(7), '--out', out, '--log-format', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const logs = res.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(logs.some((l) => l.event === 'retry' && /model worker cpu (killed|exited)/.test(l.msg))).toBe(true);
    expect(rows(out).map((x) => x.attempt)).toEqual([2]);
  }, 60_000);
});
