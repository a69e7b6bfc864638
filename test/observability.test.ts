/** Metrics endpoint during a run, data-quality probes, the events trace. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliAsync, GEN, query, SHARED, tmpDir, writeRecipe } from './helpers/fixtures.js';

describe('observability', () => {
  it('serves Prometheus metrics while a run is in progress (bound to 127.0.0.1)', async () => {
    const dir = tmpDir();
    const r = writeRecipe(
      dir,
      `resources: {cpu_workers: 2, gpus: none}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 0.4, overlap_seconds: 0}
  - op: debug_fault
    params: {sleep_ms: 60}
  - op: debug_model
    params: {ms_per_frame: 1}
`,
    );
    const child = cliAsync(['run', r, '--input', path.join(GEN, 'many'), '--out', path.join(dir, 'out'), '--log-format', 'json', '--metrics-port', '0']);
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /"event":"metrics".*?"port":(\d+)/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`run ended before serving metrics: ${stderr}`)));
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    await new Promise((r) => setTimeout(r, 1500));
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of [
      'egopipe_frames_total',
      'egopipe_tasks_total',
      'egopipe_queue_depth',
      'egopipe_inflight',
      'egopipe_model_worker_duty_cycle',
      'egopipe_model_worker_decode_wait_seconds',
      'egopipe_dead_letters_total',
      'egopipe_process_resident_memory_bytes',
    ]) {
      expect(body, name).toContain(name);
    }
    expect(body).toMatch(/egopipe_queue_depth\{op="debug_(fault|model)",state="(pending|running)"\} \d+/);
    expect(await exited).toBe(0);
    const ev = query<{ event: string; n: number }>(path.join(dir, 'out'), 'SELECT event, count(*) AS n FROM events GROUP BY 1');
    expect(ev.find((e) => e.event === 'finished')!.n).toBeGreaterThan(20);
    const gpu = query<{ worker: string }>(path.join(dir, 'out'), "SELECT DISTINCT worker FROM events WHERE pool = 'gpu'");
    expect(gpu[0].worker).toMatch(/^cpu\/pid:\d+$/);
  }, 90_000);

  it('a probe alerts (logged, counted, in the alerts table and summary) and can stop the run with exit 4', () => {
    const dir = tmpDir();
    const env = { EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(dir, 'cache') };
    const body = (action: string) => `resources: {cpu_workers: 2}
probes:
  - name: no_hands
    op: hand_keypoints
    stat: rows
    alert: {consecutive_zero: 3}
    action: ${action}
  - name: short_clips
    op: clips
    stat: "mean:end_frame"
    alert: {below: 1000000}
ops:
  - op: probe
  - op: clips
    params: {max_clip_seconds: 0.5, overlap_seconds: 0}
  - op: hand_keypoints
`;
    const inputs = ['--input', path.join(GEN, 'many', 'v01.mp4'), path.join(GEN, 'many', 'v02.mp4'), path.join(GEN, 'many', 'v03.mp4')];
    const log = cli(['run', writeRecipe(dir, body('log'), 'log.yaml'), ...inputs, '--out', path.join(dir, 'a')], { env });
    expect(log.code, log.stderr).toBe(0);
    expect(log.stderr).toMatch(/probe "no_hands": rows of hand_keypoints consecutive_zero=3/);
    expect(log.stdout).toMatch(/alerts\s+2 probe alert/);
    const alerts = query<{ probe: string; action: string }>(path.join(dir, 'a'), 'SELECT probe, action FROM alerts ORDER BY probe');
    expect(alerts).toEqual([
      { probe: 'no_hands', action: 'log' },
      { probe: 'short_clips', action: 'log' },
    ]);
    const stop = cli(['run', writeRecipe(dir, body('stop'), 'stop.yaml'), ...inputs, '--out', path.join(dir, 'b'), '--quiet'], { env });
    expect(stop.code).toBe(4);
    const st = JSON.parse(cli(['status', '--out', path.join(dir, 'b'), '--json']).stdout);
    expect(st.last_run.status).toBe('stopped_by_probe');
    const bad = cli(['validate', writeRecipe(dir, body('log').replace('stat: rows', 'stat: "median:x"'), 'bad.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/probes\[0\]: stat: "median:x"/);
  }, 90_000);
});
