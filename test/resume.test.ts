/**
 * Crash safety and run control: kill -9 at several moments then resume == an uninterrupted run;
 * retries and dead letters for crashing / hanging clips; status from another process during a
 * run; one live run per --out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliAsync, cliRun, GEN, query, tmpDir, writeRecipe } from './helpers/fixtures.js';

const TABLES: Record<string, string> = {
  videos: 'video_id',
  scenes: 'video_id, scene_index',
  clips: 'clip_id',
  debug_fault: 'clip_id',
};

function snapshot(out: string): Record<string, unknown[]> {
  const snap: Record<string, unknown[]> = {};
  for (const [t, key] of Object.entries(TABLES)) {
    snap[t] = query(out, `SELECT * EXCLUDE (run_id) FROM ${t} ORDER BY ${key}`);
  }
  return snap;
}

function recipe(dir: string, extra = ''): string {
  return writeRecipe(
    dir,
    `name: crash
resources: {cpu_workers: 2}
output: {flush_rows: 3, flush_seconds: 0}
defaults: {max_attempts: 2, retry_backoff_s: 0}
ops:
  - op: probe
  - op: scene_detect
  - op: clips
    params: {max_clip_seconds: 0.6, overlap_seconds: 0.2, min_clip_seconds: 0}
  - op: debug_fault
    params: {sleep_ms: 30${extra}}
`,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 and resume', () => {
  it('after kill -9 at 11 moments, resuming yields exactly the rows of an uninterrupted run', async () => {
    const dir = tmpDir();
    const r = recipe(dir);
    const input = path.join(GEN, 'many');
    const ref = path.join(dir, 'ref');
    const refRun = await cliRun(['run', r, '--input', input, '--out', ref, '--quiet']);
    expect(refRun.code, refRun.stderr).toBe(0);
    const expected = snapshot(ref);
    expect(expected.debug_fault.length).toBeGreaterThan(40);

    const out = path.join(dir, 'crashy');
    // deterministic "random" kill moments spread over the run (ms after start)
    const delays = [250, 900, 1400, 600, 2100, 1100, 1700, 450, 1250, 750, 1900];
    let killedMidway = 0;
    for (const d of delays) {
      const child = cliAsync(['run', r, '--input', input, '--out', out, '--quiet']);
      const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
      const code = await Promise.race([exited, sleep(d).then(() => 'timer' as const)]);
      if (code === 'timer') {
        child.kill('SIGKILL');
        await exited;
        killedMidway++;
      }
    }
    expect(killedMidway).toBeGreaterThanOrEqual(4);
    const final = await cliRun(['run', r, '--input', input, '--out', out, '--quiet']);
    expect(final.code, final.stderr).toBe(0);
    const got = snapshot(out);
    for (const t of Object.keys(TABLES)) {
      expect(got[t], t).toEqual(expected[t]);
    }
    // no leftovers visible to readers
    expect(fs.readdirSync(path.join(out, '_staging')).filter((f) => !f.startsWith('.'))).toEqual([]);
    const status = JSON.parse(cli(['status', '--out', out, '--json']).stdout);
    for (const o of status.ops) expect(Object.keys(o.states)).toEqual(['done']);
  }, 240_000);
});

describe('failures are data', () => {
  it('a clip that crashes its worker thread is retried; one that always crashes is dead-lettered; the run completes', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    // v01: crash on the first attempt only -> recovered; v02: always crash -> dead
    const r1 = writeRecipe(
      dir,
      `resources: {cpu_workers: 2}
defaults: {max_attempts: 3, retry_backoff_s: 0}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 100}
  - op: debug_fault
    params: {fault: exit, match: v02.mp4}
`,
    );
    const res = cli(['run', r1, '--input', path.join(GEN, 'many', 'v01.mp4'), path.join(GEN, 'many', 'v02.mp4'), path.join(GEN, 'many', 'v03.mp4'), '--out', out, '--quiet']);
    expect(res.code).toBe(3);
    const dlq = JSON.parse(cli(['dlq', '--out', out, '--json']).stdout);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]).toMatchObject({ kind: 'clip', op: 'debug_fault', attempts: 3, permanent: false });
    expect(dlq[0].video_path).toMatch(/v02\.mp4$/);
    expect(dlq[0].last_error).toMatch(/worker crashed.*code: 7/);
    const rows = query<{ n: number }>(out, 'SELECT count(*) AS n FROM debug_fault');
    expect(rows[0].n).toBe(2);
    // --retry-dead gives it another chance (still failing -> still dead, attempts reset)
    const again = cli(['run', r1, '--input', path.join(GEN, 'many', 'v02.mp4'), '--out', out, '--quiet', '--retry-dead']);
    expect(again.code).toBe(3);
  });

  it('a transient failure is retried and succeeds; a hang times out and is retried', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const r = writeRecipe(
      dir,
      `resources: {cpu_workers: 2}
defaults: {max_attempts: 3, retry_backoff_s: 0}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 100}
  - op: debug_fault
    timeout_s: 1
    params: {fault: hang, match: v04.mp4, fail_attempts: 1}
`,
    );
    const res = cli(['run', r, '--input', path.join(GEN, 'many', 'v04.mp4'), path.join(GEN, 'many', 'v05.mp4'), '--out', out, '--log-format', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const rows = query<{ attempt: number; video_id: string }>(out, 'SELECT attempt FROM debug_fault ORDER BY attempt');
    expect(rows.map((x) => x.attempt)).toEqual([1, 2]);
    const logs = res.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(logs.some((l) => l.event === 'retry' && /timed out after 1s/.test(l.msg))).toBe(true);
  });
});

describe('run control', () => {
  it('status works from another process during a run; a second run on the same --out is refused', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const r = recipe(dir, ', fault: none').replace('sleep_ms: 30', 'sleep_ms: 30');
    const slow = writeRecipe(dir, fs.readFileSync(r, 'utf8').replace('sleep_ms: 30', 'sleep_ms: 150'), 'slow.yaml');
    const child = cliAsync(['run', slow, '--input', path.join(GEN, 'many'), '--out', out, '--quiet']);
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // wait for the manifest and the lock
    for (let i = 0; i < 100 && !fs.existsSync(path.join(out, '.egopipe.lock')); i++) await sleep(50);
    await sleep(800);
    const st = cli(['status', '--out', out, '--json']);
    expect(st.code, st.stderr).toBe(0);
    const s = JSON.parse(st.stdout);
    expect(s.live?.pid).toBe(child.pid);
    expect(s.ops.map((o: { op: string }) => o.op)).toEqual(['probe', 'scene_detect', 'clips', 'debug_fault']);
    const text = cli(['status', '--out', out]);
    expect(text.stdout).toMatch(/live run/);

    const second = cli(['run', slow, '--input', path.join(GEN, 'many'), '--out', out, '--quiet']);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/in use by a live run \(pid \d+/);

    child.kill('SIGKILL');
    await exited;
    // the lock of the killed run is stale: the next run takes over and finishes
    const third = cli(['run', r, '--input', path.join(GEN, 'many'), '--out', out]);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/stale lock/);
    expect(fs.existsSync(path.join(out, '.egopipe.lock'))).toBe(false);
  }, 120_000);
});
