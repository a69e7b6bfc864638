/**
 * The orchestrator: recipe + inputs -> manifest tasks -> pools -> Parquet.
 *
 * Pull-based: each pool (main = inline async, cpu = Piscina threads) has an in-flight limit and
 * pulls runnable tasks from the manifest (deepest op first so items drain through the chain, then
 * largest first to shorten the tail). Nothing is queued in memory beyond the in-flight tasks;
 * discovery streams into SQLite while work runs. Finished results are buffered and committed to
 * Parquet together with their "done" state (see parquet.ts), so a crash at any moment followed by
 * the same command yields every row exactly once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import pLimit from 'p-limit';
import { getOp } from '../operators/registry.js';
import type { ClipInfo, OperatorSpec, Row, TableSpec, TaskInput, VideoInfo } from '../operators/types.js';
import { resolveTool, setToolPaths, type ToolInfo } from './ffmpeg.js';
import { contentId, discover, pathId } from './ingest.js';
import { acquireLock } from './lock.js';
import { bar, fmtDuration, Logger } from './log.js';
import { Manifest, type TaskRow } from './manifest.js';
import { DiskFullError, OutputStore } from './parquet.js';
import { CpuPool } from './pool.js';
import { ModelPool, resolveDevices } from './model-pool.js';
import type { Recipe, RecipeOp } from './recipe.js';
import { eventsTable, runsTable, videosTable } from './tables.js';
import { alertsTable, Probe, type Alert } from './probes.js';
import { Metrics } from './metrics.js';
import { ROOT } from './paths.js';
import { sha256File } from './assets.js';
import { runOp, type WorkerResult } from './worker.js';
import { CUDA_INSTALL_HINT, cudaProviderInstalled } from './onnx/providers.js';
import { framesDecoded, OpRates, RateWindow } from './live.js';

const require = createRequire(import.meta.url);

export interface RunOptions {
  recipe: Recipe;
  inputs: string[];
  outDir: string;
  argv: string[];
  logger: Logger;
  /** seconds between one-line status prints on a non-TTY */
  progressInterval?: number;
  retryDead?: boolean;
  forceLock?: boolean;
  /** discover only the first n input files (in path order) */
  limit?: number;
  /** overrides resources.gpus: none | auto | 0,1,2,3 */
  gpus?: string;
  /** serve Prometheus metrics on this port (0 = any free port) */
  metricsPort?: number;
  metricsHost?: string;
  /** called with the bound metrics port once it listens */
  onMetricsPort?: (port: number) => void;
}

export interface RunSummary {
  run_id: string;
  out: string;
  seconds: number;
  videos: { seen: number; new: number; duplicates: number; ok: number; failed: number };
  tasks: Record<string, Record<string, number>>;
  rows: Record<string, number>;
  frames: number;
  /** frames decoded by ffmpeg for ops in this run (threads, model workers, inline), counted live */
  frames_decoded: number;
  dead: number;
  interrupted: boolean;
  alerts: Alert[];
  stopped_by_probe: string | null;
  exitCode: number;
}

export class ModelUnavailableError extends Error {
  override name = 'ModelUnavailableError';
}

export const EXIT = { OK: 0, INTERNAL: 1, USAGE: 2, DEAD_LETTERS: 3, PROBE_STOP: 4, INTERRUPTED: 130 } as const;

export function codeVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  let git = '';
  try {
    if (!fs.existsSync(path.join(ROOT, '.git'))) throw new Error('no git');
    git = execFileSync('git', ['-C', ROOT, 'describe', '--always', '--dirty', '--abbrev=12'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    /* not a git checkout */
  }
  return git ? `${pkg.version}+${git}` : pkg.version;
}

function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${Math.random().toString(16).slice(2, 8)}`;
}

function toolVersions(ff: ToolInfo, fp: ToolInfo): Record<string, unknown> {
  const v: Record<string, unknown> = {
    ffmpeg: { path: ff.path, source: ff.source, version: ff.version },
    ffprobe: { path: fp.path, source: fp.source, version: fp.version },
    node: process.version,
  };
  for (const [name, mod] of [
    ['duckdb', '@duckdb/node-api/package.json'],
    ['onnxruntime', 'onnxruntime-node/package.json'],
    ['piscina', 'piscina/package.json'],
    ['better_sqlite3', 'better-sqlite3/package.json'],
  ]) {
    try {
      v[name] = (require(mod) as { version: string }).version;
    } catch {
      v[name] = null;
    }
  }
  return v;
}

interface InFlight {
  task: TaskRow;
  pool: string;
  started: number;
}

export async function runPipeline(o: RunOptions): Promise<RunSummary> {
  const { recipe, logger } = o;
  const t0 = Date.now();
  const outDir = path.resolve(o.outDir);
  setToolPaths(recipe.tools);
  const ffmpeg = resolveTool('ffmpeg');
  const ffprobe = resolveTool('ffprobe');
  // Model files: located (and pulled from the mirror/cache) before anything is written, so a
  // missing model stops the run at once with a clear message; their sha256 go into `runs`.
  const modelFiles: Array<{ op: string; name: string; path: string; sha256: string; bytes: number } & Record<string, unknown>> = [];
  for (const ro of recipe.ops) {
    // registry models (recipe models: section) referenced by this op: sha256 checked, recorded
    for (const name of ro.models) {
      const m = recipe.models[name];
      if (!fs.existsSync(m.path)) throw new ModelUnavailableError(`op "${ro.op}": model "${name}" not found at ${m.path} (recipe models.${name}.path)`);
      const st = fs.statSync(m.path);
      const sha = st.isFile() ? await sha256File(m.path) : '';
      if (m.sha256 && st.isFile() && sha.toLowerCase() !== m.sha256.toLowerCase()) {
        throw new ModelUnavailableError(`op "${ro.op}": model "${name}" at ${m.path} has sha256 ${sha}, the recipe expects ${m.sha256}: wrong or corrupt file`);
      }
      modelFiles.push({ op: ro.op, name, path: m.path, sha256: sha, bytes: st.isFile() ? st.size : 0, provider: m.provider, precision: m.precision, input_size: m.input_size ?? null });
    }
    const spec = getOp(ro.op);
    if (!spec.resolveModels) continue;
    let r;
    try {
      r = await spec.resolveModels(ro.params);
    } catch (e) {
      throw new ModelUnavailableError(`op "${ro.op}": ${(e as Error).message}`);
    }
    ro.params = r.params as Record<string, unknown>;
    for (const f of r.files) {
      if (modelFiles.some((x) => x.op === ro.op && x.path === f.path)) continue;
      const st = fs.statSync(f.path);
      modelFiles.push({ op: ro.op, ...f, sha256: st.isFile() ? await sha256File(f.path) : '', bytes: st.isFile() ? st.size : 0 });
    }
  }
  // GPU model workers need onnxruntime-node's CUDA provider: say so before anything is written
  const usesGpuPool = recipe.ops.some((ro) => {
    const spec = getOp(ro.op);
    return (spec.resources.poolFor?.(ro.params) ?? spec.resources.pool) === 'gpu';
  });
  const gpuSpec = o.gpus ?? recipe.resources.gpus;
  let devices = usesGpuPool ? resolveDevices(gpuSpec, recipe.resources.model_workers_cpu) : [];
  if (devices.some((d) => d.kind === 'cuda') && !cudaProviderInstalled()) {
    // GPUs found by 'auto' on a CPU-only install (a laptop with a GPU): the CPU model workers;
    // GPUs asked for by number: stop and say how to install the CUDA provider
    if (gpuSpec.trim().toLowerCase() !== 'auto') {
      throw new ModelUnavailableError(`GPUs ${devices.map((d) => d.index).join(',')} requested (--gpus / resources.gpus) but ${CUDA_INSTALL_HINT}`);
    }
    logger.warn('gpus', `--gpus auto found ${devices.length} GPU(s) but ${CUDA_INSTALL_HINT}; model workers use the CPU this run`);
    devices = resolveDevices('none', recipe.resources.model_workers_cpu);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const runId = newRunId();
  const lock = acquireLock(outDir, runId, { force: o.forceLock });
  if (lock.tookOver) logger.warn('lock.stale', `took over a stale lock from pid ${lock.tookOver.pid} (run ${lock.tookOver.run_id})`);

  let manifest: Manifest;
  try {
    manifest = new Manifest(Manifest.pathIn(outDir));
  } catch (e) {
    lock.release();
    throw e;
  }
  const tables = new Map<string, TableSpec>();
  tables.set(videosTable.name, videosTable);
  tables.set(eventsTable.name, eventsTable);
  tables.set(alertsTable.name, alertsTable);
  for (const ro of recipe.ops) for (const t of getOp(ro.op).outputs) tables.set(t.name, t);
  const store = new OutputStore(outDir, runId, manifest, tables);
  let cpuPool: CpuPool | undefined;
  let modelPool: ModelPool | undefined;
  let metrics: Metrics | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  const stopSignals: Array<() => void> = [];

  try {
    const rec = store.recover();
    const { requeued } = manifest.recover();
    if (rec.rolledForward || rec.removed || requeued) {
      logger.info('resume', `resuming: ${requeued} interrupted task(s) requeued, ${rec.rolledForward} committed part(s) finalised, ${rec.removed} uncommitted leftover(s) removed`);
    }
    if (o.retryDead) {
      const n = manifest.reviveDead();
      if (n) logger.info('retry_dead', `${n} dead-lettered task(s) will be retried`);
    }
    const tools = toolVersions(ffmpeg, ffprobe);
    const started = Date.now();
    manifest.insertRun({
      run_id: runId,
      started_at: started / 1000,
      recipe_name: recipe.name,
      recipe_hash: recipe.source.hash,
      recipe_yaml: recipe.source.yaml,
      recipe_json: JSON.stringify(recipe.ops),
      code_version: codeVersion(),
      tools: JSON.stringify({ ...tools, models: modelFiles }),
      host: os.hostname(),
      argv: JSON.stringify(o.argv),
    });
    const runRow = (status: string, counts: unknown, ended: number | null): Row => ({
      run_id: runId,
      started_at: new Date(started).toISOString(),
      ended_at: ended ? new Date(ended).toISOString() : null,
      status,
      recipe_name: recipe.name,
      recipe_hash: recipe.source.hash,
      recipe_yaml: recipe.source.yaml,
      code_version: codeVersion(),
      tools: JSON.stringify(tools),
      models: JSON.stringify(modelFiles),
      host: os.hostname(),
      argv: JSON.stringify(o.argv),
      counts: counts ? JSON.stringify(counts) : null,
    });
    const runFile = path.join('runs', `run_id=${runId}`, 'run.parquet');
    await store.writeReplace(runsTable, [runRow('running', null, null)], runFile);

    // --- recipe wiring --------------------------------------------------------------------
    const opsBySeq = recipe.ops.map((ro, seq) => {
      const spec = getOp(ro.op);
      const sequential = spec.sequentialFor ? spec.sequentialFor(ro.params) : spec.sequential;
      return { ro, spec, seq, pool: spec.resources.poolFor?.(ro.params) ?? spec.resources.pool, sequential };
    });
    /** this recipe's op configurations: its tasks among those of other recipes in the same --out */
    const runConfigs = opsBySeq.map((x) => x.ro.config_hash);
    const videoOps = opsBySeq.filter((x) => x.spec.level === 'video');
    const clipOps = opsBySeq.filter((x) => x.spec.level === 'clip');
    const lastVideoSeq = videoOps[videoOps.length - 1].seq;
    const byName = new Map(opsBySeq.map((x) => [x.ro.op, x]));
    // ops whose rows a later op reads: keep their rows in memory for the hand-off
    const handedOff = new Set<string>();
    for (const x of opsBySeq)
      for (const n of [...x.spec.needs, ...(x.spec.reads ?? [])]) if (byName.get(n)?.spec.level === x.spec.level) handedOff.add(n);
    const handoff = new Map<string, Record<string, Row[]>>(); // key item\0op

    // results of other recipes in this --out stay alongside (each task is keyed by its op's config)
    {
      const mine = opsBySeq.map((x) => x.ro.config_hash);
      const other = manifest.db
        .prepare(`SELECT COUNT(DISTINCT config_hash) AS n FROM tasks WHERE config_hash NOT IN (${mine.map(() => '?').join(',')})`)
        .get(...mine) as { n: number };
      if (other.n) logger.info('config.other', `${outDir} also holds results of other recipes (${other.n} other op configuration(s)); they are kept, and rows of each run are told apart by run_id (runs.recipe_hash)`);
    }
    const clipsConfig = byName.get('clips')?.ro.config_hash ?? null;
    const prevConfig = (x: (typeof opsBySeq)[number], level: 'video' | 'clip'): string | null => {
      const chain = level === 'video' ? videoOps : clipOps;
      const i = chain.indexOf(x);
      return i > 0 ? chain[i - 1].ro.config_hash : null;
    };

    const ensureVideoTasks = (videoId: string) => {
      for (const x of videoOps) {
        manifest.addTask({
          item_id: videoId,
          op: x.ro.op,
          level: 'video',
          video_id: videoId,
          seq: x.seq,
          pool: x.pool,
          config_hash: x.ro.config_hash,
          prev_config: prevConfig(x, 'video'),
          clip_config: null,
          ready: manifest.predecessorFinished(videoId, prevConfig(x, 'video')),
          cost: 1,
        });
      }
    };
    const ensureClipTasks = (clips: ClipInfo[], video: VideoInfo) => {
      // previous clip of the same scene, for scene-sequential ops
      const sorted = [...clips].sort((a, b) => a.start_frame - b.start_frame);
      const prevInScene = new Map<string, string | null>();
      sorted.forEach((c, i) => {
        const p = sorted.slice(0, i).reverse().find((q) => q.scene_index === c.scene_index);
        prevInScene.set(c.clip_id, p?.clip_id ?? null);
      });
      for (const c of clips) {
        for (const x of clipOps) {
          manifest.addTask({
            item_id: c.clip_id,
            op: x.ro.op,
            level: 'clip',
            video_id: c.video_id,
            seq: x.seq,
            pool: x.pool,
            config_hash: x.ro.config_hash,
            prev_config: prevConfig(x, 'clip'),
            clip_config: clipsConfig,
            after_item: x.sequential === 'scene' ? (prevInScene.get(c.clip_id) ?? null) : null,
            ready: manifest.predecessorFinished(c.clip_id, prevConfig(x, 'clip')),
            cost: x.spec.cost ? x.spec.cost({ video, clip: c, params: x.ro.params }) : c.end_frame - c.start_frame,
          });
        }
      }
    };

    // --- counters -------------------------------------------------------------------------
    const videosCount = { seen: 0, new: 0, duplicates: 0, ok: 0, failed: 0 };
    let frames = 0;
    let deadCount = 0;
    const rowsWritten: Record<string, number> = {};
    let discovering = true;
    let stopping = false;
    let interrupted = false;
    let fatal: Error | null = null;

    // --- video rows ------------------------------------------------------------------------
    const pendingVideoIds: string[] = [];
    const videoInfo = (videoId: string): VideoInfo & Record<string, unknown> => {
      const v = manifest.video(videoId);
      if (!v) throw new Error(`internal: unknown video ${videoId}`);
      const m = (v.meta ? JSON.parse(v.meta) : {}) as Record<string, unknown>;
      return { ...(m as object), video_id: v.video_id, path: v.path } as VideoInfo & Record<string, unknown>;
    };
    const emitVideoRow = (videoId: string) => {
      const v = manifest.video(videoId)!;
      const m = (v.meta ? JSON.parse(v.meta) : {}) as Record<string, unknown>;
      store.add('videos', [
        {
          video_id: v.video_id,
          path: v.path,
          size_bytes: v.size,
          duration_s: m.duration_s ?? null,
          fps: m.fps ?? null,
          frame_count: m.frame_count ?? null,
          width: m.width ?? null,
          height: m.height ?? null,
          codec: m.codec ?? null,
          rotation: m.rotation ?? null,
          vfr: m.vfr ?? null,
          bitrate: m.bitrate ?? null,
          status: v.status === 'failed' ? 'failed' : 'ok',
          error: v.error,
        },
      ]);
      pendingVideoIds.push(videoId);
    };
    // clip ops added to the recipe since the clips were made get their tasks now (paged)
    if (clipOps.length) {
      let lastRowid = 0;
      for (;;) {
        const page = manifest.db
          .prepare(`SELECT rowid AS _r, * FROM clips WHERE rowid > ? AND clip_config = ? ORDER BY rowid LIMIT 1000`)
          .all(lastRowid, clipsConfig) as Array<ClipInfo & { _r: number; clip_config?: string }>;
        if (!page.length) break;
        lastRowid = page[page.length - 1]._r;
        const byVideo = new Map<string, ClipInfo[]>();
        for (const { _r, clip_config: _cc, ...c } of page) (byVideo.get(c.video_id) ?? byVideo.set(c.video_id, []).get(c.video_id)!).push(c);
        manifest.tx(() => {
          for (const [vid, cs] of byVideo) ensureClipTasks(cs, videoInfo(vid));
        });
      }
    }

    // videos whose video-level work ended but whose row was never committed (crash in between)
    for (const r of manifest.db
      .prepare(
        `SELECT v.video_id FROM videos v WHERE v.row_written = 0 AND (v.status = 'failed' OR (v.status = 'ok' AND NOT EXISTS (
           SELECT 1 FROM tasks t WHERE t.video_id = v.video_id AND t.level = 'video' AND t.state != 'done')))`,
      )
      .all() as Array<{ video_id: string }>) {
      emitVideoRow(r.video_id);
    }

    // --- commit ----------------------------------------------------------------------------
    let finishedKeys: Array<[string, string]> = [];
    let lastCommit = Date.now();
    let committing: Promise<void> | null = null;
    const commit = async (): Promise<void> => {
      while (committing) await committing;
      if (!finishedKeys.length && !pendingVideoIds.length && store.bufferedRows === 0) return;
      const keys = finishedKeys;
      const vids = pendingVideoIds.splice(0);
      finishedKeys = [];
      committing = (async () => {
        const written = await store.commit(() => {
          manifest.markDoneMany(keys);
          const upd = manifest.stmt(`UPDATE videos SET row_written = 1 WHERE video_id = ?`);
          for (const v of vids) upd.run(v);
        });
        for (const [t, n] of Object.entries(written)) {
          rowsWritten[t] = (rowsWritten[t] ?? 0) + n;
          metrics?.rowsCommitted.inc({ table: t }, n);
        }
        lastCommit = Date.now();
        manifest.checkpoint();
        logger.debug('commit', `committed ${keys.length} task(s): ${JSON.stringify(written)}`);
      })();
      try {
        await committing;
      } finally {
        committing = null;
      }
    };
    const maybeCommit = () => {
      if (committing) return;
      if (store.bufferedRows >= recipe.output.flush_rows || Date.now() - lastCommit >= recipe.output.flush_seconds * 1000) {
        commit().catch((e) => {
          fatal = e as Error;
          stopping = true;
          wake();
        });
      }
    };

    // --- wakeups ---------------------------------------------------------------------------
    let wakeResolve: (() => void) | null = null;
    const wake = () => {
      const r = wakeResolve;
      wakeResolve = null;
      r?.();
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          wakeResolve = null;
          resolve();
        }, ms);
        wakeResolve = () => {
          clearTimeout(t);
          resolve();
        };
      });

    // --- signals ---------------------------------------------------------------------------
    const controllers = new Map<string, AbortController>();
    let sigCount = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      sigCount++;
      if (sigCount > 1) {
        logger.error('signal', `second ${sig}: exiting now (the next run resumes from the last commit)`);
        process.exit(EXIT.INTERRUPTED);
      }
      logger.warn('signal', `${sig}: stopping; committing finished work (press Ctrl-C again to exit at once)`);
      interrupted = true;
      stopping = true;
      for (const c of controllers.values()) c.abort();
      wake();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    stopSignals.push(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });

    // --- discovery (streams into the manifest while work runs) -------------------------------
    const hashLimit = pLimit(recipe.resources.io_concurrency);
    const discovery = (async () => {
      const batch: Array<Promise<void>> = [];
      for await (const f of discover(o.inputs, recipe.ingest.extensions)) {
        if (stopping) break;
        if (o.limit !== undefined && videosCount.seen >= o.limit) {
          logger.info('limit', `--limit ${o.limit}: the remaining inputs are not read in this run`);
          break;
        }
        videosCount.seen++;
        batch.push(
          hashLimit(async () => {
            let videoId: string;
            let size = 0;
            let error = f.error;
            if (!error) {
              try {
                const st = await fs.promises.stat(f.path);
                size = st.size;
                const cached = manifest.sourceLookup(f.path);
                if (cached && cached.size === st.size && cached.mtime_ms === st.mtimeMs) videoId = cached.video_id;
                else {
                  videoId = size === 0 ? pathId(f.path) : await contentId(f.path, size, recipe.ingest.hash);
                  manifest.upsertSource(f.path, videoId, size, st.mtimeMs, runId);
                }
              } catch (e) {
                error = `cannot read: ${(e as Error).message}`;
                videoId = pathId(f.path);
              }
            } else videoId = pathId(f.path);
            const isNew = manifest.addVideo(videoId!, f.path, size, runId);
            if (isNew) {
              videosCount.new++;
              manifest.tx(() => ensureVideoTasks(videoId!));
              if (error) failPermanently(videoId!, videoOps[0].ro.config_hash, error);
            } else {
              const v = manifest.video(videoId!);
              if (v && v.path !== f.path) {
                videosCount.duplicates++;
                logger.info('duplicate', `${f.path}: same content as ${v.path} (video ${videoId}); not processed again`);
              } else manifest.tx(() => ensureVideoTasks(videoId!)); // ops added to the recipe since
            }
            wake();
          }),
        );
        if (batch.length >= 64) await Promise.all(batch.splice(0));
      }
      await Promise.all(batch);
    })()
      .catch((e) => {
        fatal = e as Error;
        stopping = true;
      })
      .finally(() => {
        discovering = false;
        wake();
      });

    // --- task completion -------------------------------------------------------------------
    const opRates = new OpRates(60);
    const deadLetter = (t: TaskRow, reason: string) => {
      deadCount++;
      for (const n of handedOff) handoff.delete(t.item_id + '\0' + n);
      const skipped = manifest.skipAfter(t.item_id, t.config_hash, `skipped: "${t.op}" failed on this item`);
      // the next clip of the scene goes on without this clip's state
      if (t.level === 'clip') manifest.releaseNext(t.item_id);
      if (t.level === 'video') {
        manifest.setVideoStatus(t.video_id, 'failed', `${t.op}: ${reason}`);
        videosCount.failed++;
        emitVideoRow(t.video_id);
      }
      const v = manifest.video(t.video_id);
      logger.warn('dead_letter', `dead-lettered ${t.op} on ${t.level === 'clip' ? 'clip ' + t.item_id + ' of ' : ''}${v?.path ?? t.video_id}: ${reason}`, {
        op: t.op,
        item_id: t.item_id,
        path: v?.path,
        attempts: t.attempts + 1,
        skipped,
      });
    };
    const failPermanently = (videoId: string, config: string, reason: string) => {
      manifest.markRunning(videoId, config, runId, 'discovery');
      manifest.markFailed(videoId, config, reason, true, 1, 0);
      deadLetter(manifest.task(videoId, config)!, reason);
    };

    const event = (t: TaskRow, kind: string, res: WorkerResult, pool: string, durationS: number) => {
      if (kind === 'finished' || kind === 'dead') opRates.done(t.op);
      store.add('events', [
        {
          ts: new Date().toISOString(),
          started_at: new Date(Date.now() - durationS * 1000).toISOString(),
          queued_s: t.ready_at ? Math.max(0, Date.now() / 1000 - durationS - t.ready_at) : null,
          item_id: t.item_id,
          video_id: t.video_id,
          op: t.op,
          event: kind,
          attempt: t.attempts + 1,
          pool,
          worker: res.worker ?? pool,
          duration_s: durationS,
          run_s: res.ms ? res.ms / 1000 : null,
          decode_wait_s: res.ok && res.waitMs !== undefined ? res.waitMs / 1000 : null,
          error: res.ok ? null : res.error,
        },
      ]);
      metrics?.tasks.inc({ op: t.op, outcome: kind });
      if (kind === 'finished') metrics?.taskSeconds.observe({ op: t.op }, durationS);
      if (kind === 'dead') metrics?.deadLetters.inc({ op: t.op });
    };

    const onResult = async (t: TaskRow, x: (typeof opsBySeq)[number], res: WorkerResult, video: VideoInfo, pool: string, durationS: number) => {
      if (!res.ok && res.requeue) {
        event(t, 'requeued', res, pool, durationS);
        manifest.requeue(t.item_id, t.config_hash);
        logger.debug('requeue', `${t.op} on ${t.item_id} handed back: ${res.error}`);
        return;
      }
      if (!res.ok) {
        const state = manifest.markFailed(t.item_id, t.config_hash, res.error, res.permanent, x.ro.max_attempts, recipe.defaults.retry_backoff_s);
        event(t, state === 'dead' ? 'dead' : 'retry', res, pool, durationS);
        if (state === 'dead') deadLetter(t, res.error);
        else logger.warn('retry', `${t.op} failed on ${video.path} (attempt ${t.attempts + 1}/${x.ro.max_attempts}), will retry: ${res.error}`);
        return;
      }
      const out = res.out;
      for (const [table, rows] of Object.entries(out.rows ?? {})) {
        if (!x.spec.outputs.some((s) => s.name === table)) throw new Error(`op ${t.op} returned rows for undeclared table "${table}"`);
        store.add(table, rows);
      }
      if (out.video) {
        const meta = { ...videoInfo(t.video_id), ...out.video };
        if (typeof out.video.decoded_frames === 'number') {
          meta.frame_count_probe = meta.frame_count;
          meta.frame_count = out.video.decoded_frames;
        }
        delete (meta as Record<string, unknown>).path;
        delete (meta as Record<string, unknown>).video_id;
        manifest.setVideoMeta(t.video_id, meta);
        // the remaining video-level tasks of this video now have a real cost (frames): longest first
        if (typeof meta.frame_count === 'number') {
          manifest.stmt(`UPDATE tasks SET cost = ? WHERE video_id = ? AND level = 'video' AND state IN ('pending','retry')`).run(meta.frame_count, t.video_id);
        }
      }
      manifest.tx(() => {
        if (out.clips?.length) {
          manifest.addClips(out.clips, t.config_hash);
          ensureClipTasks(out.clips, videoInfo(t.video_id));
        }
        manifest.markFinished(t.item_id, t.config_hash);
        manifest.setReady(t.item_id, t.config_hash);
        if (x.sequential) manifest.releaseNext(t.item_id, t.config_hash);
        if (t.level === 'video' && t.seq === lastVideoSeq) manifest.setVideoStatus(t.video_id, 'ok', null);
      });
      const hasNext = !!x.sequential && !!manifest.stmt(`SELECT 1 AS y FROM tasks WHERE after_item = ? AND config_hash = ?`).get(t.item_id, t.config_hash);
      if (handedOff.has(t.op) || hasNext) handoff.set(t.item_id + '\0' + t.op, out.rows ?? {});
      finishedKeys.push([t.item_id, t.config_hash]);
      frames += out.stats?.frames ?? 0;
      event(t, 'finished', res, pool, durationS);
      metrics?.frames.inc({ op: t.op }, out.stats?.frames ?? 0);
      for (const p of probes) {
        if (p.spec.op !== t.op) continue;
        const alert = p.observe(t.item_id, out.rows?.[p.spec.table!] ?? []);
        if (!alert) continue;
        alerts.push(alert);
        metrics?.alerts.inc({ probe: alert.probe });
        store.add('alerts', [{ ts: new Date().toISOString(), ...alert }]);
        logger.warn('probe.alert', alert.message, { ...alert });
        if (alert.action === 'stop' && !stoppedByProbe) {
          stoppedByProbe = alert.probe;
          logger.error('probe.stop', `stopping the run: probe "${alert.probe}" has action: stop`);
          stopping = true;
          wake();
        }
      }
      if (t.level === 'video' && t.seq === lastVideoSeq) {
        videosCount.ok++;
        emitVideoRow(t.video_id);
      }
      maybeCommit();
    };

    const probes = recipe.probes.map((p) => new Probe(p));
    const alerts: Alert[] = [];
    let stoppedByProbe: string | null = null;

    // Task counts by op and state for progress and metrics. Counting scans an index (about 0.1-0.2 s
    // per 2 million tasks), so it is refreshed at most once a second and at most once per 50x its
    // own cost: the orchestrator's thread stays (>= 98%) free at any manifest size.
    let countsCache: { at: number; costMs: number; rows: ReturnType<Manifest["countsByOp"]> } | null = null;
    const taskCounts = () => {
      const now = performance.now();
      if (!countsCache || now - countsCache.at > Math.max(1000, 50 * countsCache.costMs)) {
        const rows = manifest.countsByOp(runConfigs);
        countsCache = { at: performance.now(), costMs: performance.now() - now, rows };
      }
      return countsCache.rows;
    };

    // --- dispatch --------------------------------------------------------------------------
    const inflight = new Map<string, InFlight>();
    if (o.metricsPort !== undefined) {
      metrics = new Metrics({
        queueDepth: () => taskCounts().filter((c) => c.state === 'pending' || c.state === 'retry' || c.state === 'running' || c.state === 'finished'),
        inflight: () => {
          const r: Record<string, number> = { main: 0, cpu: 0, gpu: 0 };
          for (const f of inflight.values()) r[f.pool] = (r[f.pool] ?? 0) + 1;
          return r;
        },
        workers: () => modelPool?.stats() ?? [],
      });
      const port = await metrics.listen(o.metricsPort, o.metricsHost ?? '127.0.0.1');
      logger.info('metrics', `Prometheus metrics on http://${o.metricsHost ?? '127.0.0.1'}:${port}/metrics`, { port });
      o.onMetricsPort?.(port);
    }
    const poolLimit = (pool: string) =>
      // cpu: one task queued per thread beyond the running ones, so a thread never idles while the
      // orchestrator records a result (tasks queue as paths + frame ranges: no memory cost)
      pool === 'cpu' ? recipe.resources.cpu_workers * 2 : pool === 'main' ? recipe.resources.io_concurrency : (modelPool?.capacity ?? 1);
    const inflightOf = (pool: string) => {
      let n = 0;
      for (const f of inflight.values()) if (f.pool === pool) n++;
      return n;
    };
    if (opsBySeq.some((x) => x.pool === 'cpu')) {
      cpuPool = new CpuPool(recipe.resources.cpu_workers, recipe.resources.worker_memory_mb);
    }
    if (opsBySeq.some((x) => x.pool === 'gpu')) {
      modelPool = new ModelPool(devices, {
        memoryMb: recipe.resources.model_worker_memory_mb,
        log: (m) => logger.warn('model_worker', m),
      });
      logger.info('model_workers', `model workers: ${devices.map((d) => (d.kind === 'cuda' ? `GPU ${d.index}` : 'CPU')).join(', ')}`);
    }
    const toolsForTask = { ffmpeg: ffmpeg.path, ffprobe: ffprobe.path };

    const upstreamFor = async (t: TaskRow, spec: OperatorSpec, sequential: OperatorSpec['sequential']): Promise<Record<string, Row[]>> => {
      const up: Record<string, Row[]> = {};
      if (sequential && t.after_item) {
        // the previous clip's rows of this op (warm start); released once this clip has them
        const prevKey = t.after_item + '\0' + t.op;
        const held = handoff.get(prevKey);
        const run = held ? null : manifest.runOf(t.after_item, t.config_hash);
        for (const table of spec.outputs) {
          up[`previous_${table.name}`] = held ? (held[table.name] ?? []) : run ? await store.readRows(table.name, 'clip_id', t.after_item, run) : [];
        }
        handoff.delete(prevKey);
      }
      for (const n of [...spec.needs, ...(spec.reads ?? [])]) {
        const src = byName.get(n);
        // only rows of the same item level are handed over (a clip op gets its clip as task.clip)
        if (!src || src.spec.outputs.length === 0 || src.spec.level !== spec.level) continue;
        const held = handoff.get(t.item_id + '\0' + n);
        for (const table of src.spec.outputs) {
          if (held) up[table.name] = held[table.name] ?? [];
          else {
            // resumed: the upstream rows were committed by an earlier run (that run's partition)
            const key = t.level === 'clip' ? 'clip_id' : 'video_id';
            const run = manifest.runOf(t.item_id, src.ro.config_hash);
            up[table.name] = run ? await store.readRows(table.name, key, t.item_id, run) : [];
          }
        }
      }
      return up;
    };

    const dispatch = (t: TaskRow) => {
      const x = byName.get(t.op)!;
      const key = t.item_id + '\0' + t.config_hash;
      const pool = x.pool;
      manifest.markRunning(t.item_id, t.config_hash, runId, pool);
      const ctl = new AbortController();
      const started0 = Date.now();
      controllers.set(key, ctl);
      inflight.set(key, { task: t, pool, started: Date.now() });
      const timer = setTimeout(() => ctl.abort(new Error('timeout')), x.ro.timeout_s * 1000);
      let video: VideoInfo;
      (async (): Promise<WorkerResult> => {
        video = videoInfo(t.video_id);
        const input: TaskInput = {
          op: t.op,
          video,
          clip: t.level === 'clip' ? manifest.clip(t.item_id, t.clip_config!) : undefined,
          params: x.ro.params,
          upstream: await upstreamFor(t, x.spec, x.sequential),
          attempt: t.attempts + 1,
          tools: toolsForTask,
        };
        if (pool === 'cpu') return cpuPool!.run(input, ctl.signal);
        if (pool === 'gpu') return modelPool!.run(input, ctl.signal);
        return await Promise.race([
          runOp(input, ctl.signal),
          new Promise<never>((_, rej) => ctl.signal.addEventListener('abort', () => rej(new Error('aborted')), { once: true })),
        ]);
      })()
        .catch((e: Error): WorkerResult => {
          const why = ctl.signal.aborted
            ? interrupted
              ? 'interrupted'
              : `timed out after ${x.ro.timeout_s}s (the worker was stopped)`
            : `worker crashed: ${e?.message ?? e}`;
          return { ok: false, error: why, permanent: false, ms: 0 };
        })
        .then(async (res) => {
          clearTimeout(timer);
          controllers.delete(key);
          if (!res.ok && ctl.signal.aborted && !interrupted && !res.requeue) {
            res = { ...res, error: `timed out after ${x.ro.timeout_s}s (the worker was stopped): ${res.error}` };
          }
          if ((interrupted || stoppedByProbe) && !res.ok) {
            inflight.delete(key);
            return; // stays 'running' in the manifest -> requeued on resume, no attempt counted
          }
          try {
            await onResult(t, x, res, video ?? videoInfo(t.video_id), pool, (Date.now() - started0) / 1000);
          } finally {
            inflight.delete(key);
            // drop hand-off rows nobody will read any more
            if (t.level === 'video' && t.seq === lastVideoSeq) {
              for (const n of handedOff) handoff.delete(t.item_id + '\0' + n);
            }
            if (t.level === 'clip' && clipOps.length && t.seq === clipOps[clipOps.length - 1].seq) {
              for (const n of handedOff) handoff.delete(t.item_id + '\0' + n);
            }
          }
        })
        .catch((e) => {
          fatal = e as Error;
          stopping = true;
        })
        .finally(wake);
    };

    // --- progress --------------------------------------------------------------------------
    // frames/s from the live decode counter (threads and model workers report as they decode), so
    // the rate moves while long clip tasks run, not only when they finish
    const liveRate = new RateWindow(10_000);
    const framesAtStart = framesDecoded();
    liveRate.add(0);
    const progressLine = (): string => {
      const counts = taskCounts();
      const by = (op: string, st: string) => counts.filter((c) => c.op === op && c.state === st).reduce((a, c) => a + c.n, 0);
      const total = (op: string) => counts.filter((c) => c.op === op).reduce((a, c) => a + c.n, 0);
      const lastV = videoOps[videoOps.length - 1].ro.op;
      const vDone = by(lastV, 'done') + by(lastV, 'finished');
      const vDead = counts.filter((c) => c.state === 'dead' && videoOps.some((x) => x.ro.op === c.op)).reduce((a, c) => a + c.n, 0);
      const vTotal = total(videoOps[0].ro.op);
      const el = (Date.now() - t0) / 1000;
      const fps = liveRate.add(framesDecoded() - framesAtStart);
      // progress = share of this recipe's known tasks that are over (done, dead or skipped); a
      // video counts in vDone once its video-level ops are done, while its clips may still run
      let tasksAll = 0;
      let tasksOver = 0;
      const remaining = new Map<string, number>();
      for (const c of counts) {
        tasksAll += c.n;
        if (c.state === 'done' || c.state === 'finished' || c.state === 'dead' || c.state === 'skipped') tasksOver += c.n;
        else if (c.state === 'pending' || c.state === 'retry' || c.state === 'running') remaining.set(c.op, (remaining.get(c.op) ?? 0) + c.n);
      }
      const frac = tasksAll ? tasksOver / tasksAll : 0;
      // two estimates, the larger wins: elapsed time scaled by the share of tasks over, and each
      // op's remaining tasks at its recent rate (the slowest op decides). Both are blind to clips
      // that upstream ops have not created yet, and unknown while inputs are still being found.
      const byTasks = frac > 0 ? (el / frac) * (1 - frac) : null;
      const byOps = opRates.eta(remaining);
      const eta = discovering || byTasks === null ? NaN : Math.max(byTasks, byOps ?? 0);
      let clipsPart = '';
      if (clipOps.length) {
        const lastC = clipOps[clipOps.length - 1].ro.op;
        clipsPart = ` clips ${by(lastC, 'done') + by(lastC, 'finished')}/${total(lastC)}`;
      }
      return `${bar(frac)} videos ${vDone}/${vTotal}${discovering ? '+' : ''}${vDead ? ` (${vDead} failed)` : ''}${clipsPart} | ${fps.toFixed(0)} frames/s | ${fmtDuration(el)} elapsed | ETA ${fmtDuration(eta)}`;
    };
    if (logger.isTTY) progressTimer = setInterval(() => logger.setBar(progressLine()), 250);
    else if (!logger.opts.quiet) {
      const every = Math.max(1, o.progressInterval ?? 10) * 1000;
      progressTimer = setInterval(() => logger.info('progress', progressLine(), { frames, frames_decoded: framesDecoded() - framesAtStart }), every);
    }

    // --- main loop -------------------------------------------------------------------------
    logger.info('run.start', `run ${runId}: recipe "${recipe.name}" -> ${outDir} (${recipe.resources.cpu_workers} CPU worker(s))`, { run_id: runId });
    const pools = [...new Set(opsBySeq.map((x) => x.pool))];
    for (;;) {
      if (stopping) break;
      const now = Date.now() / 1000;
      for (const pool of pools) {
        const free = poolLimit(pool) - inflightOf(pool);
        if (free <= 0) continue;
        for (const t of manifest.nextTasks(pool, free, now, new Set(inflight.keys()), runConfigs)) dispatch(t);
      }
      if (inflight.size === 0 && !discovering) {
        // nothing running and nothing dispatched: either every task has run (those still
        // 'finished' are committed below), or retries wait for their backoff
        const waiting = manifest.waitingCount(runConfigs);
        if (waiting === 0) break;
        const soon = manifest.soonestRetry(runConfigs);
        if (soon === null) {
          // pending tasks that can never become ready (defensive: should not happen)
          logger.error('stuck', `${waiting} task(s) can not become ready; stopping`);
          break;
        }
        await sleep(Math.max(10, (soon - Date.now() / 1000) * 1000));
        continue;
      }
      await sleep(1000);
      maybeCommit();
    }

    // --- drain & final commit ----------------------------------------------------------------
    while (inflight.size) await sleep(100);
    await discovery;
    if (progressTimer) clearInterval(progressTimer);
    progressTimer = undefined;
    logger.endBar();
    if (fatal) throw fatal;
    await commit();

    const countsRows = manifest.countsByOp(runConfigs);
    const tasks: Record<string, Record<string, number>> = {};
    for (const c of countsRows) (tasks[c.op] ??= {})[c.state] = c.n;
    const deadTotal = countsRows.filter((c) => c.state === 'dead').reduce((a, c) => a + c.n, 0);
    const status = interrupted ? 'interrupted' : stoppedByProbe ? 'stopped_by_probe' : deadTotal ? 'finished_with_dead_letters' : 'finished';
    const workerStats = modelPool?.stats();
    const counts = { tasks, rows: rowsWritten, alerts: alerts.length, ...(workerStats ? { model_workers: workerStats } : {}) };
    if (workerStats) {
      for (const w of workerStats) {
        logger.info('model_worker.stats', `model worker ${w.worker} (${w.device}): ${w.tasks} task(s), duty cycle ${(100 * w.duty_cycle).toFixed(1)}% (busy ${w.busy_ms} ms, decode wait ${w.decode_wait_ms} ms, active ${w.active_ms} ms), ${w.restarts} restart(s)`, { ...w });
      }
    }
    manifest.endRun(runId, status, counts);
    await store.writeReplace(runsTable, [runRow(status, counts, Date.now())], runFile);
    const seconds = (Date.now() - t0) / 1000;
    const vOk = manifest.db.prepare(`SELECT COUNT(*) AS n FROM videos WHERE status='ok'`).get() as { n: number };
    const vFailed = manifest.db.prepare(`SELECT COUNT(*) AS n FROM videos WHERE status='failed'`).get() as { n: number };
    void deadCount;
    return {
      run_id: runId,
      out: outDir,
      seconds,
      videos: { ...videosCount, ok: vOk.n, failed: vFailed.n },
      tasks,
      rows: rowsWritten,
      frames,
      frames_decoded: framesDecoded() - framesAtStart,
      dead: deadTotal,
      interrupted,
      alerts,
      stopped_by_probe: stoppedByProbe,
      exitCode: interrupted ? EXIT.INTERRUPTED : stoppedByProbe ? EXIT.PROBE_STOP : deadTotal ? EXIT.DEAD_LETTERS : EXIT.OK,
    };
  } catch (e) {
    if (e instanceof DiskFullError) throw e;
    throw e;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    for (const s of stopSignals) s();
    await cpuPool?.close().catch(() => undefined);
    await modelPool?.close().catch(() => undefined);
    await metrics?.close().catch(() => undefined);
    store.close();
    try {
      const open = manifest.db.prepare(`SELECT run_id FROM runs WHERE run_id = ? AND status = 'running'`).get(runId);
      if (open) manifest.endRun(runId, 'failed', null);
    } catch {
      /* manifest unusable */
    }
    manifest.close();
    lock.release();
  }
}
