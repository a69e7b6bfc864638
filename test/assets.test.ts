import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AssetError,
  AssetIntegrityError,
  defaultCacheDir,
  folderDigest,
  getAsset,
  listAssets,
  pullAsset,
  resolveAsset,
} from '../src/assets.js';
import { modelsListCommand, modelsPullCommand } from '../src/assets-cli.js';
import { modelFile } from '../src/models.js';

const MIRROR = fileURLToPath(new URL('../../shared/data', import.meta.url));
const tmpRoots: string[] = [];

function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `egopipe-assets-${tag}-`));
  tmpRoots.push(d);
  return d;
}

function sha(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** every file under dir, relative, '/'-separated */
function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) for (const s of walk(p)) out.push(`${e.name}/${s}`);
    else out.push(e.name);
  }
  return out.sort();
}

/** a fetch that serves the mirror's bytes for the registry's URLs (or given overrides) and records calls */
function fakeFetch(override?: (url: string) => Uint8Array | Response | undefined) {
  const byUrl = new Map<string, string>();
  for (const a of listAssets()) for (const f of a.files) byUrl.set(f.url, f.path);
  const calls: string[] = [];
  const impl = (async (input: string | URL | Request) => {
    const url = String(input);
    calls.push(url);
    const o = override?.(url);
    if (o instanceof Response) return o;
    if (o) return new Response(o as unknown as BodyInit);
    const rel = byUrl.get(url);
    if (!rel) return new Response('not found', { status: 404, statusText: 'Not Found' });
    return new Response(fs.readFileSync(path.join(MIRROR, rel)));
  }) as typeof fetch;
  return { impl, calls };
}

let savedEnv: NodeJS.ProcessEnv;
beforeEach(() => {
  savedEnv = { ...process.env };
  delete process.env.EGOPIPE_MIRROR;
  delete process.env.EGOPIPE_CACHE;
});
afterEach(() => {
  process.env = savedEnv;
  process.exitCode = undefined;
});
afterAll(() => {
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

describe('asset registry', () => {
  it('lists the pinned models, videos and robot folders', () => {
    const names = listAssets().map((a) => a.name);
    for (const n of [
      'palm_detection',
      'hand_landmark',
      'testvideo',
      'human_hand_video',
      '02_cups',
      'epic_kitchens_sample',
      'robot_hands',
      'retargeting_configs',
    ]) {
      expect(names).toContain(n);
    }
    expect(getAsset('palm_detection').files[0]).toMatchObject({
      path: 'models/palm_detection_128.onnx',
      sha256: '6fa415badf79694c96441b54c911ddb1b693204923a8dcd67af62e14f23730b4',
      sha256_source: 'published',
      url: 'https://raw.githubusercontent.com/keijiro/BlazePalmBarracuda/3499363a87deea6c468ae700f4fb72a2d427cdd6/Packages/jp.keijiro.mediapipe.blazepalm/ONNX/palm_detection_barracuda.onnx',
    });
    expect(getAsset('retargeting_configs').files.find((f) => f.path.endsWith('teleop/allegro_hand_right.yml'))!.url).toBe(
      'https://raw.githubusercontent.com/dexsuite/dex-retargeting/3f56141bc8bd2760d5e452e382937269554ebb21/src/dex_retargeting/configs/teleop/allegro_hand_right.yml',
    );
    expect(() => getAsset('nope')).toThrow(/unknown asset "nope".*palm_detection/);
  });

  it('matches the mirror: every listed file exists with its sha256 and size, and the robot folders list every file', () => {
    for (const a of listAssets()) {
      for (const f of a.files) {
        expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(f.url).toMatch(/^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[0-9a-f]{40}\//);
        const buf = fs.readFileSync(path.join(MIRROR, f.path));
        expect(buf.length, f.path).toBe(f.size);
        expect(sha(buf), f.path).toBe(f.sha256);
      }
      if (a.type === 'folder') {
        const onDisk = walk(path.join(MIRROR, a.path)).map((p) => `${a.path}/${p}`);
        expect(a.files.map((f) => f.path).sort()).toEqual(onDisk);
        expect(a.files.every((f) => f.sha256_source === 'computed from the mirror copy')).toBe(true);
      }
    }
  });

  it('default cache dir: EGOPIPE_CACHE, then XDG_CACHE_HOME/egopipe, then ~/.cache/egopipe', () => {
    expect(defaultCacheDir({ EGOPIPE_CACHE: '/a/b', XDG_CACHE_HOME: '/x' })).toBe('/a/b');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/egopipe');
    expect(defaultCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'egopipe'));
  });
});

describe('pullAsset from a mirror', () => {
  it('copies, verifies and caches; then serves from the cache', async () => {
    const cacheDir = tmpDir('cache');
    expect(await resolveAsset('palm_detection', { cacheDir })).toBeNull();
    const r = await pullAsset('palm_detection', { mirror: MIRROR, cacheDir });
    expect(r.source).toBe('mirror');
    expect(r.path).toBe(path.join(cacheDir, 'models', 'palm_detection_128.onnx'));
    expect(r.sha256).toBe(getAsset('palm_detection').files[0]!.sha256);
    expect(sha(fs.readFileSync(r.path))).toBe(r.sha256);
    expect(fs.existsSync(`${r.path}.sha256`)).toBe(true);
    expect(walk(cacheDir)).toEqual(['models/palm_detection_128.onnx', 'models/palm_detection_128.onnx.sha256']);

    const again = await pullAsset('palm_detection', { mirror: MIRROR, cacheDir });
    expect(again.source).toBe('cache');
    expect(await resolveAsset('palm_detection', { cacheDir })).toBe(r.path);
    expect((await pullAsset('palm_detection', { mirror: MIRROR, cacheDir, force: true })).source).toBe('mirror');
  });

  it('uses EGOPIPE_MIRROR and EGOPIPE_CACHE from the environment', async () => {
    const cacheDir = tmpDir('envcache');
    process.env.EGOPIPE_MIRROR = MIRROR;
    process.env.EGOPIPE_CACHE = cacheDir;
    const r = await pullAsset('epic_kitchens_sample');
    expect(r.source).toBe('mirror');
    expect(r.path).toBe(path.join(cacheDir, 'videos', 'epic_kitchens_sample.mp4'));
  });

  it("model paths take asset: references (hand_keypoints' palm_model / landmark_model)", async () => {
    const cacheDir = tmpDir('assetref');
    process.env.EGOPIPE_MIRROR = MIRROR;
    process.env.EGOPIPE_CACHE = cacheDir;
    const viaRef = await modelFile('asset:palm_detection', 'hand_landmark');
    expect(viaRef).toBe((await pullAsset('palm_detection')).path);
    await expect(modelFile('asset:palm_detection/nope.onnx', 'palm_detection')).rejects.toThrow(/nope\.onnx is not part of asset "palm_detection"/);
  });

  it('pulls a folder asset file by file', async () => {
    const cacheDir = tmpDir('folder');
    const seen: string[] = [];
    const r = await pullAsset('retargeting_configs', { mirror: MIRROR, cacheDir, onFile: (f) => seen.push(f.path) });
    const spec = getAsset('retargeting_configs');
    expect(r.source).toBe('mirror');
    expect(r.path).toBe(path.join(cacheDir, 'robots', 'retargeting'));
    expect(r.files).toBe(spec.files.length);
    expect(seen.length).toBe(spec.files.length);
    expect(r.sha256).toBe(folderDigest(spec.files));
    expect(walk(r.path).filter((p) => !p.endsWith('.sha256'))).toEqual(walk(path.join(MIRROR, 'robots', 'retargeting')));
    expect((await pullAsset('retargeting_configs', { mirror: MIRROR, cacheDir })).source).toBe('cache');
    expect(await resolveAsset('retargeting_configs', { cacheDir })).toBe(r.path);
  });

  it('rejects a corrupted mirror file with a clear message and leaves nothing in the cache', async () => {
    const badMirror = tmpDir('badmirror');
    const f = getAsset('hand_landmark').files[0]!;
    const copy = path.join(badMirror, f.path);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    const bytes = fs.readFileSync(path.join(MIRROR, f.path));
    bytes[1000] ^= 0xff;
    fs.writeFileSync(copy, bytes);
    const cacheDir = tmpDir('cache2');
    const err = await pullAsset('hand_landmark', { mirror: badMirror, cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetIntegrityError);
    const msg = (err as Error).message;
    expect(msg).toContain('asset "hand_landmark"');
    expect(msg).toContain(`expected sha256 ${f.sha256}`);
    expect(msg).toContain(`got      sha256 ${sha(bytes)}`);
    expect(msg).toContain(copy);
    expect(msg).toMatch(/nothing was written to the cache/);
    expect(msg).toMatch(/Fix: replace the mirror copy/);
    expect(walk(cacheDir).filter((p) => !fs.statSync(path.join(cacheDir, p)).isDirectory())).toEqual([]);
    expect(await resolveAsset('hand_landmark', { cacheDir })).toBeNull();
  });
});

describe('pullAsset by download (injected fetch, no network)', () => {
  it('downloads to a temp file, verifies, renames into the cache', async () => {
    const cacheDir = tmpDir('dl');
    const { impl, calls } = fakeFetch();
    const r = await pullAsset('human_hand_video', { mirror: null, cacheDir, fetchImpl: impl });
    expect(r.source).toBe('download');
    expect(calls).toEqual([getAsset('human_hand_video').files[0]!.url]);
    expect(sha(fs.readFileSync(r.path))).toBe(r.sha256);
    expect(walk(cacheDir)).toEqual(['videos/human_hand_video.mp4', 'videos/human_hand_video.mp4.sha256']);
    expect((await pullAsset('human_hand_video', { mirror: null, cacheDir, fetchImpl: impl })).source).toBe('cache');
    expect(calls.length).toBe(1);
  });

  it('falls back to a download when the mirror lacks the file', async () => {
    const cacheDir = tmpDir('dl2');
    const { impl } = fakeFetch();
    const r = await pullAsset('testvideo', { mirror: tmpDir('emptymirror'), cacheDir, fetchImpl: impl });
    expect(r.source).toBe('download');
  });

  it('rejects wrong bytes and leaves nothing in the cache', async () => {
    const cacheDir = tmpDir('dlbad');
    const f = getAsset('palm_detection').files[0]!;
    const wrong = new TextEncoder().encode('<html>rate limited</html>');
    const { impl } = fakeFetch(() => wrong);
    const err = await pullAsset('palm_detection', { mirror: null, cacheDir, fetchImpl: impl }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetIntegrityError);
    const msg = (err as Error).message;
    expect(msg).toContain('asset "palm_detection"');
    expect(msg).toContain(f.sha256);
    expect(msg).toContain(sha(wrong));
    expect(msg).toContain(`download of ${f.url}`);
    expect(msg).toMatch(/nothing was written to the cache/);
    expect(walk(cacheDir).filter((p) => !fs.statSync(path.join(cacheDir, p)).isDirectory())).toEqual([]);
  });

  it('says when the server sent a Git LFS pointer', async () => {
    const cacheDir = tmpDir('lfs');
    const pointer = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n');
    const { impl } = fakeFetch(() => pointer);
    await expect(pullAsset('hand_landmark', { mirror: null, cacheDir, fetchImpl: impl })).rejects.toThrow(/Git LFS pointer/);
  });

  it('reports HTTP errors and network failures with what to do', async () => {
    const cacheDir = tmpDir('dlerr');
    const { impl } = fakeFetch(() => new Response('nope', { status: 503, statusText: 'Service Unavailable' }));
    await expect(pullAsset('02_cups', { mirror: null, cacheDir, fetchImpl: impl })).rejects.toThrow(/HTTP 503[\s\S]*EGOPIPE_MIRROR/);
    const offline = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const err = await pullAsset('02_cups', { mirror: null, cacheDir, fetchImpl: offline }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetError);
    expect((err as Error).message).toMatch(/could not download .*fetch failed[\s\S]*EGOPIPE_MIRROR/);
    expect(walk(cacheDir).filter((p) => !fs.statSync(path.join(cacheDir, p)).isDirectory())).toEqual([]);
  });
});

describe('verified cache marker', () => {
  it('trusts the marker while size and mtime match, re-hashes (and evicts a bad file) when they change', async () => {
    const cacheDir = tmpDir('marker');
    const r = await pullAsset('epic_kitchens_sample', { mirror: MIRROR, cacheDir });
    // a whole-second mtime survives utimes exactly; the changed mtime makes resolve re-hash and re-mark
    const t = 1_700_000_000;
    fs.utimesSync(r.path, t, t);
    expect(await resolveAsset('epic_kitchens_sample', { cacheDir })).toBe(r.path);
    // tamper without changing size or mtime: the marker is trusted (no re-hash)
    const bytes = fs.readFileSync(r.path);
    bytes[10] ^= 0xff;
    fs.writeFileSync(r.path, bytes);
    fs.utimesSync(r.path, t, t);
    expect(await resolveAsset('epic_kitchens_sample', { cacheDir })).toBe(r.path);
    // touch it: now it is re-hashed, found wrong, and removed
    fs.utimesSync(r.path, t + 5, t + 5);
    expect(await resolveAsset('epic_kitchens_sample', { cacheDir })).toBeNull();
    expect(fs.existsSync(r.path)).toBe(false);
    expect(fs.existsSync(`${r.path}.sha256`)).toBe(false);
    // a pull repairs it
    expect((await pullAsset('epic_kitchens_sample', { mirror: MIRROR, cacheDir })).source).toBe('mirror');
  });

  it('re-hashes a good file whose marker is missing and writes the marker again', async () => {
    const cacheDir = tmpDir('marker2');
    const r = await pullAsset('epic_kitchens_sample', { mirror: MIRROR, cacheDir });
    fs.rmSync(`${r.path}.sha256`);
    expect(await resolveAsset('epic_kitchens_sample', { cacheDir })).toBe(r.path);
    expect(JSON.parse(fs.readFileSync(`${r.path}.sha256`, 'utf8')).sha256).toBe(r.sha256);
  });
});

describe('models CLI commands', () => {
  it('pull prints one line per asset and list shows the cache status', async () => {
    const cacheDir = tmpDir('cli');
    const lines: string[] = [];
    const log = (s: string) => lines.push(s);
    const summary = await modelsPullCommand(['palm_detection', 'robot_hands'], { mirror: MIRROR, cacheDir, log });
    expect(summary.ok).toBe(true);
    expect(lines.join('\n')).toMatch(/palm_detection .*copied from mirror/);
    expect(lines.join('\n')).toMatch(/robot_hands .*14 files/);
    lines.length = 0;
    const rows = await modelsListCommand({ cacheDir, log });
    expect(rows.find((r) => r.name === 'palm_detection')!.cached).toBe(true);
    expect(rows.find((r) => r.name === 'hand_landmark')!.cached).toBe(false);
    expect(lines.some((l) => /cached .*palm_detection/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/missing: egopipe models pull/);
    lines.length = 0;
    await modelsListCommand({ cacheDir, log, json: true });
    expect(JSON.parse(lines.join('\n')).assets.length).toBe(listAssets().length);
  });

  it('pull reports failures per asset and sets the exit code', async () => {
    const cacheDir = tmpDir('cli2');
    const lines: string[] = [];
    const summary = await modelsPullCommand(['bogus', 'testvideo'], { mirror: MIRROR, cacheDir, json: true, log: (s) => lines.push(s) });
    expect(summary.ok).toBe(false);
    expect(summary.errors[0]!.message).toMatch(/unknown asset "bogus"/);
    expect(summary.results.map((r) => r.name)).toEqual(['testvideo']);
    expect(JSON.parse(lines.join('\n')).errors).toHaveLength(1);
    expect(process.exitCode).toBe(1);
  });
});
