/**
 * Chaos: disk full during a run (small tmpfs), odd videos (rotated, variable frame rate, odd
 * dimensions, 4K). Kill -9 of the main process, worker threads and model workers are in
 * resume.test.ts and model_worker.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTool } from '../src/ffmpeg.js';
import { makeCutVideo } from '../src/fixtures.js';
import { cli, GEN, query, tmpDir, writeRecipe } from './helpers/fixtures.js';

const RECIPE = `resources: {cpu_workers: 2}
output: {flush_rows: 50, flush_seconds: 0}
ops:
  - op: probe
  - op: scene_detect
  - op: clips
    params: {max_clip_seconds: 0.2, overlap_seconds: 0}
  - op: debug_fault
`;

function canMount(dir: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]).status === 0;
}

describe('disk full', () => {
  const mnt = path.join(tmpDir(), 'tmpfs');
  const mounted = canMount(mnt);
  afterAll(() => {
    if (mounted) spawnSync('umount', [mnt]);
  });

  it.skipIf(!mounted)('stops cleanly with a clear message, never exposes a partial Parquet file, and resumes after space is freed', () => {
    const dir = tmpDir();
    const recipe = writeRecipe(dir, RECIPE);
    const input = path.join(GEN, 'many');
    const ref = path.join(dir, 'ref');
    expect(cli(['run', recipe, '--input', input, '--out', ref, '--quiet']).code).toBe(0);

    const filler = path.join(mnt, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(2700 * 1024));
    const out = path.join(mnt, 'out');
    const full = cli(['run', recipe, '--input', input, '--out', out, '--quiet']);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/no space left on the device.*Free some space and run the same command again/s);
    expect(full.stderr).not.toMatch(/internal error/);
    // whatever Parquet is visible is complete and readable
    const visible = (d: string): string[] =>
      fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() && e.name !== '_staging' ? visible(path.join(d, e.name)) : e.name.endsWith('.parquet') ? [path.join(d, e.name)] : [])) : [];
    for (const f of visible(out)) {
      expect(() => query(ref, `SELECT count(*) FROM read_parquet('${f}')`), f).not.toThrow();
    }
    fs.rmSync(filler);
    const resumed = cli(['run', recipe, '--input', input, '--out', out, '--quiet']);
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const [t, key] of Object.entries({ videos: 'video_id', scenes: 'video_id, scene_index', clips: 'clip_id', debug_fault: 'clip_id' })) {
      expect(query(out, `SELECT * EXCLUDE (run_id) FROM ${t} ORDER BY ${key}`), t).toEqual(query(ref, `SELECT * EXCLUDE (run_id) FROM ${t} ORDER BY ${key}`));
    }
  }, 120_000);
});

describe('odd videos', () => {
  it('rotated, variable frame rate, odd dimensions and 4K are processed with correct metadata', () => {
    const dir = path.join(GEN, 'odd');
    fs.mkdirSync(dir, { recursive: true });
    const ff = resolveTool('ffmpeg').path;
    const run = (args: string[]) => {
      const r = spawnSync(ff, ['-nostdin', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
    };
    const rotated = path.join(dir, 'rotated90.mp4');
    const vfr = path.join(dir, 'vfr.mkv');
    const odd = path.join(dir, 'odd_161x121.mkv');
    const uhd = path.join(dir, 'uhd_3840x2160.mp4');
    if (!fs.existsSync(rotated)) {
      const base = path.join(dir, '.base.mp4');
      makeCutVideo(base, [{ src: 'testsrc2', frames: 40 }, { src: 'smptehdbars', frames: 30 }], { size: '320x240' });
      run(['-i', base, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
      // 20 frames at 25 fps then 20 frames at 10 fps
      run(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-frames:v', '40', '-vf', "setpts='if(lt(N,20),N/25,0.8+(N-20)/10)/TB'", '-vsync', 'vfr', '-c:v', 'ffv1', vfr]);
      run(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-frames:v', '30', '-vf', 'scale=161:121', '-pix_fmt', 'rgb24', '-c:v', 'ffv1', odd]);
      run(['-f', 'lavfi', '-i', 'testsrc2=size=3840x2160:rate=25', '-frames:v', '12', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', uhd]);
    }
    const out = path.join(tmpDir(), 'out');
    const recipe = writeRecipe(path.dirname(out), 'ops:\n  - op: probe\n  - op: scene_detect\n  - op: clips\n');
    const r = cli(['run', recipe, '--input', rotated, vfr, odd, uhd, '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const v = query<{ path: string; width: number; height: number; rotation: number; vfr: boolean; frame_count: number; status: string }>(out, 'SELECT * FROM videos ORDER BY path');
    const by = (n: string) => v.find((x) => x.path.endsWith(n))!;
    // quarter turn: decoded upright, so width and height swap (90 vs 270 depends on the display-matrix sign convention of the writer)
    expect(by('rotated90.mp4')).toMatchObject({ width: 240, height: 320, frame_count: 70, status: 'ok' });
    expect([90, 270]).toContain(by('rotated90.mp4').rotation);
    expect(by('vfr.mkv')).toMatchObject({ vfr: true, frame_count: 40, status: 'ok' });
    expect(by('odd_161x121.mkv')).toMatchObject({ width: 161, height: 121, frame_count: 30, status: 'ok' });
    expect(by('uhd_3840x2160.mp4')).toMatchObject({ width: 3840, height: 2160, frame_count: 12, status: 'ok' });
    // the rotated video still cuts where the content changes
    const s = query<{ start_frame: number }>(out, `SELECT s.start_frame FROM scenes s JOIN videos v USING (video_id) WHERE v.path LIKE '%rotated90.mp4' ORDER BY 1`);
    expect(s.map((x) => x.start_frame)).toEqual([0, 40]);
  }, 120_000);
});
