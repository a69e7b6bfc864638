/**
 * Thin adapter around the ffmpeg / ffprobe executables.
 *
 * Resolution order for each binary (first hit wins):
 *   1. explicit config (recipe `tools.ffmpeg` / `tools.ffprobe`, passed to setToolPaths)
 *   2. environment: EGOPIPE_FFMPEG / EGOPIPE_FFPROBE
 *   3. PATH
 *   4. the npm packages @ffmpeg-installer/ffmpeg / @ffprobe-installer/ffprobe (binaries shipped in the package)
 *
 * Never builds shell strings: every call is spawn(binary, argv[]).
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { countFrames } from './live.js';

const require = createRequire(import.meta.url);

export type Tool = 'ffmpeg' | 'ffprobe';

export interface ToolInfo {
  tool: Tool;
  path: string;
  source: 'config' | 'env' | 'PATH' | 'npm';
  version: string;
}

const configured: Partial<Record<Tool, string>> = {};
const cache = new Map<Tool, ToolInfo>();

export function setToolPaths(paths: Partial<Record<Tool, string | undefined>>): void {
  for (const t of ['ffmpeg', 'ffprobe'] as Tool[]) {
    const p = paths[t];
    if (p) {
      configured[t] = p;
      cache.delete(t);
    }
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (existsSync(p) && isExecutable(p)) return p;
  }
  return undefined;
}

function fromNpm(tool: Tool): string | undefined {
  try {
    const mod = require(tool === 'ffmpeg' ? '@ffmpeg-installer/ffmpeg' : '@ffprobe-installer/ffprobe') as {
      path: string;
    };
    return mod.path && existsSync(mod.path) ? mod.path : undefined;
  } catch {
    return undefined;
  }
}

function versionOf(p: string): string {
  const r = spawnSync(p, ['-version'], { encoding: 'utf8', timeout: 15000 });
  if (r.error || r.status !== 0) throw new Error(`cannot run ${p} -version: ${r.error?.message ?? r.stderr}`);
  const first = (r.stdout ?? '').split('\n')[0] ?? '';
  const m = /version\s+(\S+)/.exec(first);
  return m ? m[1] : first.trim();
}

/** Locate a tool; throws ToolNotFoundError with instructions when nothing is found. */
export function resolveTool(tool: Tool): ToolInfo {
  const hit = cache.get(tool);
  if (hit) return hit;
  const envVar = tool === 'ffmpeg' ? 'EGOPIPE_FFMPEG' : 'EGOPIPE_FFPROBE';
  const candidates: Array<[ToolInfo['source'], string | undefined]> = [
    ['config', configured[tool]],
    ['env', process.env[envVar]],
    ['PATH', findOnPath(tool)],
    ['npm', fromNpm(tool)],
  ];
  for (const [source, p] of candidates) {
    if (!p) continue;
    if (source === 'config' || source === 'env') {
      if (!existsSync(p) || !isExecutable(p)) {
        throw new ToolNotFoundError(
          `${tool} from ${source === 'env' ? envVar : 'recipe tools.' + tool} is not an executable file: ${p}`,
        );
      }
    }
    const info: ToolInfo = { tool, path: p, source, version: versionOf(p) };
    cache.set(tool, info);
    return info;
  }
  throw new ToolNotFoundError(
    `${tool} not found. Install it (Debian/Ubuntu: apt-get install ffmpeg), set ${envVar}=/path/to/${tool}, ` +
      `or reinstall dependencies with 'npm ci' (ships @ffmpeg-installer/@ffprobe-installer binaries).`,
  );
}

export class ToolNotFoundError extends Error {
  override name = 'ToolNotFoundError';
}

// ---------------------------------------------------------------------------------------------
// ffprobe

export interface ProbeResult {
  duration_s: number | null;
  fps: number | null;
  avg_fps: number | null;
  frame_count: number | null;
  frame_count_source: 'nb_frames' | 'counted' | 'estimated' | null;
  /** the container's nominal rate when it disagrees with the counted frames (VFR) */
  fps_declared?: number;
  width: number | null;
  height: number | null;
  codec: string | null;
  pix_fmt: string | null;
  rotation: number;
  vfr: boolean;
  bitrate: number | null;
  format: string | null;
  has_video: boolean;
  has_audio: boolean;
}

export class ProbeError extends Error {
  override name = 'ProbeError';
  constructor(
    message: string,
    /** true when retrying cannot help (the file itself is bad). */
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

function parseRate(s: unknown): number | null {
  if (typeof s !== 'string') return null;
  const [a, b] = s.split('/').map(Number);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0 || a === 0) return null;
  return a / b;
}

function runCapture(
  bin: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let errLen = 0;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      if (errLen < 64 * 1024) {
        err.push(d);
        errLen += d.length;
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Messages from ffprobe/ffmpeg that mean the file itself is unusable (a retry cannot help). */
const PERMANENT_PATTERNS = [
  /Invalid data found when processing input/i,
  /moov atom not found/i,
  /No such file or directory/i,
  /Permission denied/i,
  /could not find codec parameters/i,
  /End of file/i,
  /Is a directory/i,
];

export function isPermanentMediaError(stderr: string): boolean {
  return PERMANENT_PATTERNS.some((re) => re.test(stderr));
}

function lastLines(s: string, n = 3): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}

/** ffprobe a file. Throws ProbeError (permanent or not) with a readable reason. */
export async function probe(file: string, opts: { timeoutMs?: number; countFrames?: boolean } = {}): Promise<ProbeResult> {
  const ffprobe = resolveTool('ffprobe').path;
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '--', file];
  // `--` is not understood by ffprobe as end-of-options in old versions; guard leading dashes instead.
  args.splice(args.indexOf('--'), 1);
  args[args.length - 1] = safeInputArg(file);
  const r = await runCapture(ffprobe, args, opts.timeoutMs ?? 60_000);
  if (r.signal) throw new ProbeError(`ffprobe was killed (${r.signal}); timeout ${opts.timeoutMs ?? 60_000} ms`, false);
  if (r.code !== 0) {
    const msg = lastLines(r.stderr) || `ffprobe exited with code ${r.code}`;
    throw new ProbeError(`ffprobe failed: ${msg}`, isPermanentMediaError(r.stderr));
  }
  let j: { streams?: Array<Record<string, unknown>>; format?: Record<string, unknown> };
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new ProbeError('ffprobe printed unparseable JSON', false);
  }
  const streams = j.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video' && !(s.disposition as Record<string, number> | undefined)?.attached_pic);
  const hasAudio = streams.some((s) => s.codec_type === 'audio');
  const fmt = j.format ?? {};
  const duration = Number(v?.duration ?? fmt.duration);
  const res: ProbeResult = {
    duration_s: Number.isFinite(duration) ? duration : null,
    fps: null,
    avg_fps: null,
    frame_count: null,
    frame_count_source: null,
    width: null,
    height: null,
    codec: null,
    pix_fmt: null,
    rotation: 0,
    vfr: false,
    bitrate: Number.isFinite(Number(fmt.bit_rate)) ? Number(fmt.bit_rate) : null,
    format: typeof fmt.format_name === 'string' ? fmt.format_name : null,
    has_video: !!v,
    has_audio: hasAudio,
  };
  if (!v) return res;
  const rFps = parseRate(v.r_frame_rate);
  const aFps = parseRate(v.avg_frame_rate);
  res.avg_fps = aFps;
  res.fps = aFps ?? rFps;
  res.vfr = rFps !== null && aFps !== null && Math.abs(rFps - aFps) / rFps > 0.01;
  res.width = typeof v.width === 'number' ? v.width : null;
  res.height = typeof v.height === 'number' ? v.height : null;
  res.codec = typeof v.codec_name === 'string' ? v.codec_name : null;
  res.pix_fmt = typeof v.pix_fmt === 'string' ? v.pix_fmt : null;
  res.rotation = rotationOf(v);
  const nb = Number(v.nb_frames);
  if (Number.isFinite(nb) && nb > 0) {
    res.frame_count = nb;
    res.frame_count_source = 'nb_frames';
  } else if (opts.countFrames !== false) {
    const counted = await countPackets(file, opts.timeoutMs ?? 300_000);
    if (counted !== null) {
      res.frame_count = counted;
      res.frame_count_source = 'counted';
    }
  }
  if (res.frame_count === null && res.duration_s !== null && res.fps !== null) {
    res.frame_count = Math.round(res.duration_s * res.fps);
    res.frame_count_source = 'estimated';
  }
  if (res.duration_s === null && res.frame_count !== null && res.fps) res.duration_s = res.frame_count / res.fps;
  // Containers such as mkv report a nominal rate even for variable-frame-rate streams: when the
  // counted frames disagree with duration x rate by more than 5%, the stream is VFR and its
  // average rate is frames / duration.
  if (res.fps && res.frame_count && res.duration_s && res.frame_count_source !== 'estimated' && res.duration_s > 0) {
    const effective = res.frame_count / res.duration_s;
    if (Math.abs(effective - res.fps) / res.fps > 0.05) {
      res.vfr = true;
      res.fps_declared = res.fps;
      res.fps = effective;
    }
  }
  return res;
}

function rotationOf(v: Record<string, unknown>): number {
  const tags = v.tags as Record<string, string> | undefined;
  if (tags?.rotate !== undefined && Number.isFinite(Number(tags.rotate))) return normRot(Number(tags.rotate));
  const sd = v.side_data_list as Array<Record<string, unknown>> | undefined;
  for (const d of sd ?? []) {
    if (typeof d.rotation === 'number') return normRot(-d.rotation); // displaymatrix rotation is counter-clockwise
  }
  return 0;
}

function normRot(r: number): number {
  return (((Math.round(r) % 360) + 360) % 360) as number;
}

async function countPackets(file: string, timeoutMs: number): Promise<number | null> {
  const ffprobe = resolveTool('ffprobe').path;
  const r = await runCapture(
    ffprobe,
    ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', safeInputArg(file)],
    timeoutMs,
  );
  const n = Number(r.stdout.trim().split(/[\s,]/)[0]);
  return r.code === 0 && Number.isFinite(n) && n > 0 ? n : null;
}

/** Make a path safe to pass as an ffmpeg input argument (a leading '-' would read as an option). */
export function safeInputArg(file: string): string {
  if (file.startsWith('-')) return path.resolve(file);
  // "file:" protocol stops ffmpeg from interpreting "foo:bar.mp4" as a protocol.
  return file.includes(':') && !path.isAbsolute(file) ? 'file:' + file : file;
}

// ---------------------------------------------------------------------------------------------
// Frame decoding

export interface DecodeOptions {
  /** Video file path. */
  path: string;
  /** Output size in pixels. If only `longSide` is given the aspect ratio is kept (even dims). */
  width?: number;
  height?: number;
  /** Alternative to width/height: scale so the longer side is this many pixels (never upscales). */
  longSide?: number;
  /** Source size (after rotation), needed with longSide. */
  srcWidth?: number;
  srcHeight?: number;
  /** 0-based first frame (inclusive) and end frame (exclusive), in source frame numbers. */
  startFrame?: number;
  endFrame?: number;
  /**
   * Constant frame rate of the source. When given (and startFrame > 0) ffmpeg seeks with -ss to
   * half a frame before startFrame instead of decoding from frame 0; exact for constant-frame-rate
   * video. Leave it out for variable-frame-rate video: frames are then selected by decode index.
   */
  fps?: number;
  /** Keep every `step`-th frame of the range (1 = every frame). */
  step?: number;
  pixFmt?: 'rgb24' | 'gray' | 'bgr24';
  /** ffmpeg decoder threads (0 = auto). */
  threads?: number;
  /** Scaling algorithm, default bilinear (like OpenCV INTER_LINEAR). */
  scaleFlags?: string;
  /** Extra input options, e.g. ['-hwaccel', 'cuda']. */
  hwaccel?: string;
  /**
   * Reuse two frame buffers instead of allocating one per frame: a yielded frame's data is valid
   * until the consumer asks for the next frame. Use it when frames are not kept (detectors that
   * copy what they need); it keeps memory flat however many frames a worker decodes.
   */
  reuseBuffers?: boolean;
  signal?: AbortSignal;
}

export interface DecodedFrame {
  /** 0-based source frame number. */
  index: number;
  width: number;
  height: number;
  channels: number;
  data: Buffer;
}

export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export function outputSize(o: DecodeOptions): { width: number; height: number } {
  if (o.width && o.height) return { width: o.width, height: o.height };
  if (o.longSide && o.srcWidth && o.srcHeight) {
    const long = Math.max(o.srcWidth, o.srcHeight);
    const s = Math.min(1, o.longSide / long);
    const even = (x: number) => Math.max(2, Math.round((x * s) / 2) * 2);
    return { width: even(o.srcWidth), height: even(o.srcHeight) };
  }
  throw new Error('decodeFrames needs width+height, or longSide+srcWidth+srcHeight');
}

/** ffmpeg argv for decoding a frame range to raw frames on stdout. Exposed for the decode-floor bench. */
export function decodeArgs(o: DecodeOptions, output: 'pipe' | 'null' = 'pipe'): string[] {
  const { width, height } = outputSize(o);
  const pix = o.pixFmt ?? 'rgb24';
  const start = o.startFrame ?? 0;
  const step = Math.max(1, o.step ?? 1);
  const filters: string[] = [];
  const seek = start > 0 && !!o.fps && o.fps > 0;
  // Frame-accurate range selection by decoded frame number (n). After an -ss seek, n counts from
  // the first frame at or after the seek point, which is frame `start`.
  const base = seek ? 0 : start;
  const sel: string[] = [];
  if (base > 0) sel.push(`gte(n\\,${base})`);
  if (o.endFrame !== undefined) sel.push(`lt(n\\,${o.endFrame - start + base})`);
  if (step > 1) sel.push(`not(mod(n-${base}\\,${step}))`);
  if (sel.length) filters.push(`select=${sel.join('*')}`);
  filters.push(`scale=${width}:${height}:flags=${o.scaleFlags ?? 'bilinear'}`);
  const args = ['-nostdin', '-hide_banner', '-v', 'error'];
  if (o.hwaccel) args.push('-hwaccel', o.hwaccel);
  if (seek) args.push('-ss', ((start - 0.5) / o.fps!).toFixed(6));
  args.push('-threads', String(o.threads ?? 0), '-i', safeInputArg(o.path), '-an', '-sn', '-dn', '-vf', filters.join(','));
  args.push('-vsync', 'passthrough', '-pix_fmt', pix);
  if (o.endFrame !== undefined) args.push('-frames:v', String(Math.ceil((o.endFrame - start) / step)));
  // 'null': the same decode + scale + pixel conversion with the frames thrown away (the decode floor)
  args.push(...(output === 'pipe' ? ['-f', 'rawvideo', 'pipe:1'] : ['-f', 'null', '-']));
  return args;
}

/**
 * Decode frames of [startFrame, endFrame) as raw pixels, streamed. Backpressure: ffmpeg blocks on
 * the pipe while the consumer is busy, so decoding never runs ahead of the consumer by more than the
 * OS pipe buffer plus one frame.
 */
export async function* decodeFrames(o: DecodeOptions): AsyncGenerator<DecodedFrame> {
  const ffmpeg = resolveTool('ffmpeg').path;
  const { width, height } = outputSize(o);
  const channels = o.pixFmt === 'gray' ? 1 : 3;
  const frameBytes = width * height * channels;
  const start = o.startFrame ?? 0;
  const step = Math.max(1, o.step ?? 1);
  const child = spawn(ffmpeg, decodeArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 32 * 1024) stderr += d.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const onAbort = () => child.kill('SIGKILL');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const spare = o.reuseBuffers ? [Buffer.allocUnsafe(frameBytes), Buffer.allocUnsafe(frameBytes)] : null;
  let cur = spare ? spare[0] : Buffer.allocUnsafe(frameBytes);
  let filled = 0;
  let n = 0;
  let finished = false;
  try {
    // one copy per byte: pipe chunks are copied straight into the frame buffer handed out
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - off);
        chunk.copy(cur, filled, off, off + take);
        filled += take;
        off += take;
        if (filled === frameBytes) {
          const frame = cur;
          cur = spare ? spare[(n + 1) % 2] : Buffer.allocUnsafe(frameBytes);
          filled = 0;
          countFrames();
          yield { index: start + n * step, width, height, channels, data: frame };
          n++;
        }
      }
    }
    const { code, signal } = await exited;
    finished = true;
    if (o.signal?.aborted) throw new DecodeError('decoding aborted', false);
    if (code !== 0) {
      const msg = lastLines(stderr) || `ffmpeg exited with code ${code}${signal ? ' (' + signal + ')' : ''}`;
      throw new DecodeError(`ffmpeg decode failed at frame ${start + n * step}: ${msg}`, isPermanentMediaError(stderr));
    }
    if (n === 0) throw new DecodeError(`ffmpeg decoded no frames${stderr ? ': ' + lastLines(stderr) : ''}`, true);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  }
}

/** Lists ffmpeg's hardware acceleration methods (`ffmpeg -hwaccels`). */
export function hwaccels(): string[] {
  const r = spawnSync(resolveTool('ffmpeg').path, ['-hide_banner', '-hwaccels'], { encoding: 'utf8', timeout: 15000 });
  return (r.stdout ?? '')
    .split('\n')
    .slice(1)
    .map((s) => s.trim())
    .filter(Boolean);
}
