/** `egopipe report`: HTML + PNG report of a real hands output and of a scenes-only output. */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFrames } from '../src/ffmpeg.js';
import { runQuery } from '../src/query.js';
import { decodeMask } from '../src/rle.js';
import { errorReason, pickClips, reportCommand, ReportError, writeReport } from '../src/report.js';
import { cli, GEN, SHARED, tmpDir, VIDEOS } from './helpers/fixtures.js';

const HAND_VIDEO = path.join(VIDEOS, 'human_hand_video.mp4');

function imgSrcs(html: string): string[] {
  return [...html.matchAll(/<img [^>]*src="([^"]+)"/g)].map((m) => m[1]!);
}

async function rawFrame(file: string, frame: number, width: number, height: number): Promise<Buffer> {
  for await (const f of decodeFrames({ path: file, width, height, startFrame: frame, endFrame: frame + 1 })) return Buffer.from(f.data);
  throw new Error('no frame');
}

async function pngRgb(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

const diff = (a: Buffer, b: Buffer, i: number) => Math.abs(a[3 * i]! - b[3 * i]!) + Math.abs(a[3 * i + 1]! - b[3 * i + 1]!) + Math.abs(a[3 * i + 2]! - b[3 * i + 2]!);

describe('pickClips', () => {
  it('spreads the picks over videos, evenly within each', () => {
    const clips = [
      ...Array.from({ length: 10 }, (_, i) => ({ video_id: 'a', i })),
      ...Array.from({ length: 2 }, (_, i) => ({ video_id: 'b', i })),
      { video_id: 'c', i: 0 },
    ];
    const p = pickClips(clips, 6);
    expect(p).toHaveLength(6);
    expect(p.filter((c) => c.video_id === 'c')).toHaveLength(1);
    expect(p.filter((c) => c.video_id === 'b')).toHaveLength(2);
    expect(p.filter((c) => c.video_id === 'a').map((c) => c.i)).toEqual([1, 5, 8]);
    expect(pickClips(clips, 2).map((c) => c.video_id)).toEqual(['a', 'c']);
    expect(pickClips(clips, 0)).toEqual([]);
    expect(pickClips([], 6)).toEqual([]);
  });
});

describe('errorReason', () => {
  it('groups dead letters of the same cause: the file name, addresses and ids are blanked out', () => {
    const a = errorReason('not a readable video: [mov @ 0x3d102200] moov atom not found | /v/a.mp4: Invalid data\nmore', '/v/a.mp4');
    const b = errorReason('not a readable video: [mov @ 0x44b81200] moov atom not found | /v/b.mp4: Invalid data', '/v/b.mp4');
    expect(a).toBe(b);
    expect(a).toBe('not a readable video: [mov @ 0x…] moov atom not found | <video>: Invalid data');
    expect(errorReason(null, null)).toBe('(no error recorded)');
  });
});

describe.skipIf(!fs.existsSync(HAND_VIDEO))('report of a hands output', () => {
  const dir = tmpDir('egopipe-report-');
  const out = path.join(dir, 'out');
  let runId = '';
  let video = { width: 0, height: 0 };

  beforeAll(async () => {
    const r = cli(['run', 'recipes/hands.yaml', '--input', HAND_VIDEO, '--out', out, '--quiet'], {
      env: { EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(dir, 'cache') },
    });
    expect(r.code, r.stderr).toBe(0);
    runId = String((await runQuery(out, 'SELECT run_id FROM runs')).rows[0]!.run_id);
    const v = (await runQuery(out, 'SELECT width, height FROM videos')).rows[0]!;
    video = { width: Number(v.width), height: Number(v.height) };
  }, 120_000);

  it('writes index.html with the run, the op timings, SVG charts and overlaid frames at video size', async () => {
    const r = await writeReport(out, { maxClips: 2 });
    expect(r.html).toBe(path.join(out, 'report', 'index.html'));
    const html = fs.readFileSync(r.html, 'utf8');
    expect(html).toContain(runId);
    expect(html).toMatch(/<svg[^>]*class="chart"/);
    expect(html).toMatch(/<svg[^>]*class="bars"/); // joint values next to the frame
    for (const op of ['hand_keypoints', 'retarget', 'hand_mask', 'scene_detect']) {
      expect(html).toMatch(new RegExp(`<tr><td><code>${op}</code></td><td>cpu</td>`));
    }
    expect(html).toContain('palm_detection');
    expect(html).toMatch(/[0-9a-f]{64}/); // model sha256
    expect(html).toContain('no dead-lettered items');
    expect(html).not.toContain('could not');
    expect(html).not.toMatch(/<script/i);

    const srcs = imgSrcs(html);
    expect(srcs).toHaveLength(2);
    expect(r.pngs.map((p) => path.basename(p)).sort()).toEqual([...srcs].sort());
    for (const src of srcs) {
      expect(src).toMatch(/^frame-[0-9a-f]{16}-\d+\.png$/);
      const file = path.join(out, 'report', src);
      expect(fs.existsSync(file)).toBe(true);
      const meta = await sharp(file).metadata();
      expect([meta.width, meta.height]).toEqual([video.width, video.height]);
    }

    // overlay pixels: keypoints drawn, mask tinted, elsewhere the decoded frame unchanged
    const [, clipId, frameStr] = /^frame-([0-9a-f]{16})-(\d+)\.png$/.exec(srcs[0]!)!;
    const frame = Number(frameStr);
    const kp = (await runQuery(out, `SELECT kp2d FROM hand_keypoints WHERE clip_id = '${clipId}' AND frame = ${frame} ORDER BY hand_index`)).rows;
    expect(kp.length).toBeGreaterThan(0);
    const png = await pngRgb(path.join(out, 'report', srcs[0]!));
    const raw = await rawFrame(HAND_VIDEO, frame, video.width, video.height);
    const W = video.width;
    const kp2d = kp[0]!.kp2d as number[];
    for (const j of [0, 4, 8, 12]) {
      const i = Math.round(kp2d[2 * j + 1]!) * W + Math.round(kp2d[2 * j]!);
      expect(diff(png.data, raw, i), `keypoint ${j}`).toBeGreaterThan(40);
    }
    const m = (await runQuery(out, `SELECT rle_counts, height, width FROM hand_masks WHERE clip_id = '${clipId}' AND frame = ${frame} LIMIT 1`)).rows[0]!;
    const mask = decodeMask({ size: [Number(m.height), Number(m.width)], counts: String(m.rle_counts) });
    let inside = 0;
    let changed = 0;
    let outside = 0;
    let same = 0;
    for (let i = 0; i < mask.length; i += 7) {
      if (mask[i]) {
        inside++;
        if (diff(png.data, raw, i) > 20) changed++;
      } else {
        outside++;
        if (diff(png.data, raw, i) <= 6) same++;
      }
    }
    expect(inside).toBeGreaterThan(100);
    expect(changed / inside).toBeGreaterThan(0.9);
    expect(same / outside).toBeGreaterThan(0.95);
  }, 60_000);

  it('--inline embeds the frames; rewriting replaces an earlier report; a foreign --dest is refused', async () => {
    const dest = path.join(dir, 'inline-report');
    const lines: string[] = [];
    const r = await reportCommand({ out, dest, inline: true, maxClips: 1, log: (l) => lines.push(l) });
    expect(lines).toEqual([path.join(dest, 'index.html')]);
    expect(r.pngs).toEqual([]);
    expect(fs.readdirSync(dest)).toEqual(['index.html']);
    const srcs = imgSrcs(fs.readFileSync(r.html, 'utf8'));
    expect(srcs).toHaveLength(1);
    expect(srcs[0]).toMatch(/^data:image\/png;base64,/);
    const meta = await sharp(Buffer.from(srcs[0]!.split(',')[1]!, 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([video.width, video.height]);

    // again into the same folder, now with files: replaced as a whole, no temp folders left behind
    const again = await writeReport(out, { dest, maxClips: 1 });
    expect(fs.readdirSync(dest).sort()).toEqual(['index.html', path.basename(again.pngs[0]!)].sort());
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);

    const foreign = path.join(dir, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'keep.txt'), 'mine');
    await expect(writeReport(out, { dest: foreign })).rejects.toBeInstanceOf(ReportError);
    expect(fs.readFileSync(path.join(foreign, 'keep.txt'), 'utf8')).toBe('mine');
    await expect(writeReport(out, { dest: dir })).rejects.toBeInstanceOf(ReportError);
  }, 60_000);
});

describe('report of a scenes-only output', () => {
  it('has no hand sections, shows dead letters and probe alerts, and frames without overlays', async () => {
    const dir = tmpDir('egopipe-report-scenes-');
    const out = path.join(dir, 'out');
    const recipe = path.join(dir, 'scenes-probe.yaml');
    fs.writeFileSync(
      recipe,
      fs.readFileSync('recipes/scenes.yaml', 'utf8') + `\nprobes:\n  - name: few_clips\n    op: clips\n    stat: rows\n    alert: {below: 100}\n`,
    );
    const video = path.join(GEN, 'cuts', 'cuts_4scenes.mp4');
    const r = cli(['run', recipe, '--input', video, path.join(GEN, 'bad', 'not_a_video.mp4'), '--out', out, '--quiet'], {
      env: { EGOPIPE_MIRROR: SHARED, EGOPIPE_CACHE: path.join(dir, 'cache') },
    });
    expect(r.code, r.stderr).toBe(3); // the bad file is dead-lettered
    const rep = await writeReport(out, {});
    const html = fs.readFileSync(rep.html, 'utf8');
    expect(html).not.toContain('could not');
    expect(html).toContain('no hand keypoints in this output');
    expect(html).toContain('no robot joints in this output');
    expect(html).not.toMatch(/class="bars"/);
    expect(html).toMatch(/<tr><td><code>scene_detect<\/code><\/td>/);
    // dead letter grouped by op with its reason, and the probe alert
    expect(html).toMatch(/<tr><td><code>probe<\/code><\/td><td class="n">1<\/td>/);
    expect(html).toContain('not_a_video.mp4');
    expect(html).toContain('few_clips');
    const srcs = imgSrcs(html);
    expect(srcs.length).toBeGreaterThanOrEqual(4); // one per scene clip (4 scenes, 1 video)
    for (const src of srcs) {
      const meta = await sharp(path.join(out, 'report', src)).metadata();
      expect(meta.width).toBeGreaterThan(0);
    }
  }, 60_000);

  it('refuses a folder that is not an egopipe output', async () => {
    await expect(writeReport(path.join(tmpDir(), 'nope'), {})).rejects.toThrow(/no such output folder/);
    await expect(writeReport(tmpDir(), {})).rejects.toThrow(/no egopipe output/);
  });
});
