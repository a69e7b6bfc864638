/**
 * `egopipe status` and `egopipe dlq`: read the manifest read-only (SQLite WAL), so they work from
 * another terminal while a run writes.
 */
import fs from 'node:fs';
import { liveLock } from './lock.js';
import { Manifest } from './manifest.js';
import { fmtDuration } from './log.js';

export interface OpStatus {
  op: string;
  level: string;
  total: number;
  states: Record<string, number>;
  /** tasks finished per second over the last 5 minutes of activity */
  rate_per_s: number | null;
  eta_s: number | null;
}

export interface Status {
  out: string;
  live: { pid: number; run_id: string; started_at: string } | null;
  last_run: Record<string, unknown> | null;
  /**
   * Whose tasks are counted: the live run's recipe (else the last run's), or every task in the
   * --out with `--all`. Several recipes can share one --out; their op configurations differ.
   */
  scope: { recipe: string | null; run_id: string | null; all: boolean };
  /** tasks in this --out that belong to other recipes' op configurations (not in `ops`) */
  other_tasks: number;
  videos: { total: number; ok: number; failed: number; pending: number };
  clips: number;
  ops: OpStatus[];
  frames_per_s: number | null;
  eta_s: number | null;
}

export class NoManifestError extends Error {
  override name = 'NoManifestError';
}

export function openManifestRO(outDir: string): Manifest {
  const file = Manifest.pathIn(outDir);
  if (!fs.existsSync(file)) throw new NoManifestError(`no egopipe output in ${outDir} (missing ${file}); run 'egopipe run <recipe> --input ... --out ${outDir}' first`);
  return new Manifest(file, { readonly: true });
}

export function readStatus(outDir: string, opts: { all?: boolean } = {}): Status {
  const m = openManifestRO(outDir);
  try {
    const lock = liveLock(outDir);
    const last = (m.db.prepare(`SELECT run_id, status, started_at, ended_at, recipe_name, code_version FROM runs ORDER BY started_at DESC LIMIT 1`).get() ??
      null) as Record<string, unknown> | null;
    // the recipe whose tasks are counted: the live run's, else the last run's
    const scopeRun = (lock ? m.db.prepare(`SELECT run_id, recipe_name, recipe_json FROM runs WHERE run_id = ?`).get(lock.run_id) : undefined) ??
      m.db.prepare(`SELECT run_id, recipe_name, recipe_json FROM runs ORDER BY started_at DESC LIMIT 1`).get();
    const sr = scopeRun as { run_id: string; recipe_name: string; recipe_json: string } | undefined;
    let hashes: string[] | null = null;
    if (!opts.all && sr) {
      try {
        const ops = JSON.parse(sr.recipe_json) as Array<{ config_hash?: string }>;
        hashes = ops.map((o) => o.config_hash).filter((h): h is string => typeof h === 'string');
      } catch {
        hashes = null;
      }
    }
    // SQLite's json_each keeps the filter one statement whatever the number of ops
    const scoped = hashes ? `WHERE config_hash IN (SELECT value FROM json_each(@hashes))` : '';
    const scopedAnd = hashes ? `${scoped} AND` : 'WHERE';
    const bind = hashes ? { hashes: JSON.stringify(hashes) } : {};
    const rows = m.db.prepare(`SELECT op, level, state, COUNT(*) AS n, MIN(seq) AS seq FROM tasks ${scoped} GROUP BY op, level, state`).all(bind) as Array<{
      op: string;
      level: string;
      state: string;
      n: number;
      seq: number;
    }>;
    const ops = new Map<string, OpStatus & { seq: number }>();
    for (const r of rows) {
      let o = ops.get(r.op);
      if (!o) ops.set(r.op, (o = { op: r.op, level: r.level, total: 0, states: {}, rate_per_s: null, eta_s: null, seq: r.seq }));
      o.total += r.n;
      o.states[r.state] = (o.states[r.state] ?? 0) + r.n;
      o.seq = Math.min(o.seq, r.seq);
    }
    const now = Date.now() / 1000;
    for (const o of ops.values()) {
      const w = m.db
        .prepare(`SELECT COUNT(*) AS n, MIN(ended_at) AS t0, MAX(ended_at) AS t1 FROM tasks ${scopedAnd} op = @op AND state IN ('done','finished') AND ended_at >= @since`)
        .get({ ...bind, op: o.op, since: now - 300 }) as { n: number; t0: number | null; t1: number | null };
      if (w.n >= 2 && w.t0 !== null && w.t1 !== null && w.t1 > w.t0) o.rate_per_s = w.n / Math.max(now - w.t0, w.t1 - w.t0);
      const remaining = (o.states.pending ?? 0) + (o.states.retry ?? 0) + (o.states.running ?? 0);
      o.eta_s = remaining === 0 ? 0 : o.rate_per_s ? remaining / o.rate_per_s : null;
    }
    const v = m.db.prepare(`SELECT status, COUNT(*) AS n FROM videos GROUP BY status`).all() as Array<{ status: string; n: number }>;
    const vc = { total: 0, ok: 0, failed: 0, pending: 0 };
    for (const r of v) {
      vc.total += r.n;
      if (r.status === 'ok' || r.status === 'failed' || r.status === 'pending') vc[r.status] += r.n;
    }
    const clips = (m.db.prepare(`SELECT COUNT(*) AS n FROM clips`).get() as { n: number }).n;
    const allTasks = (m.db.prepare(`SELECT COUNT(*) AS n FROM tasks`).get() as { n: number }).n;
    const opList = [...ops.values()].sort((a, b) => a.seq - b.seq).map(({ seq: _s, ...o }) => o);
    const etas = opList.map((o) => o.eta_s);
    const eta = etas.some((e) => e === null) ? null : Math.max(0, ...(etas as number[]));
    // frames/s of the live run from the frames done in the last 5 minutes (video-level ops with frame costs)
    let fps: number | null = null;
    const fr = m.db
      .prepare(`SELECT SUM(cost) AS f, MIN(started_at) AS t0 FROM tasks ${scopedAnd} pool = 'cpu' AND state IN ('done','finished') AND ended_at >= @since`)
      .get({ ...bind, since: now - 300 }) as { f: number | null; t0: number | null };
    if (fr.f && fr.t0) fps = fr.f / Math.max(1e-3, now - fr.t0);
    return {
      out: outDir,
      live: lock ? { pid: lock.pid, run_id: lock.run_id, started_at: lock.started_at } : null,
      last_run: last,
      scope: { recipe: hashes && sr ? sr.recipe_name : null, run_id: hashes && sr ? sr.run_id : null, all: !hashes },
      other_tasks: allTasks - opList.reduce((a, o) => a + o.total, 0),
      videos: vc,
      clips,
      ops: opList,
      frames_per_s: fps,
      eta_s: lock ? eta : null,
    };
  } finally {
    m.close();
  }
}

export function formatStatus(s: Status): string {
  const lines: string[] = [];
  lines.push(`out: ${s.out}`);
  if (s.live) lines.push(`live run ${s.live.run_id} (pid ${s.live.pid}, started ${s.live.started_at})`);
  else if (s.last_run) lines.push(`no live run; last run ${s.last_run.run_id}: ${s.last_run.status}`);
  if (!s.scope.all) lines.push(`recipe: ${s.scope.recipe} (ops as configured in run ${s.scope.run_id})`);
  lines.push(`videos: ${s.videos.total} (${s.videos.ok} ok, ${s.videos.failed} failed, ${s.videos.pending} in progress) · clips: ${s.clips}`);
  const states = ['pending', 'running', 'finished', 'done', 'retry', 'dead', 'skipped'];
  const header = ['op', 'level', 'total', ...states, 'tasks/s', 'ETA'];
  const rows = s.ops.map((o) => [
    o.op,
    o.level,
    String(o.total),
    ...states.map((st) => String(o.states[st] ?? 0)),
    o.rate_per_s === null ? '-' : o.rate_per_s.toFixed(2),
    o.eta_s === null ? '?' : fmtDuration(o.eta_s),
  ]);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  lines.push(header.map((h, i) => h.padEnd(w[i])).join('  '));
  for (const r of rows) lines.push(r.map((c, i) => c.padEnd(w[i])).join('  '));
  if (s.frames_per_s !== null) lines.push(`throughput: ${s.frames_per_s.toFixed(0)} frames/s (CPU ops, last 5 min)`);
  if (s.live) lines.push(`ETA: ${s.eta_s === null ? 'unknown yet' : fmtDuration(s.eta_s)}`);
  if (s.other_tasks > 0) lines.push(`${s.other_tasks} more task(s) in this --out belong to other recipes or op settings: egopipe status --all counts everything`);
  lines.push(`'finished' = done but not yet committed to Parquet; 'done' = committed`);
  return lines.join('\n');
}

export interface DeadLetter {
  kind: 'video' | 'clip';
  video_path: string | null;
  video_id: string;
  clip_id: string | null;
  op: string;
  attempts: number;
  permanent: boolean;
  last_error: string | null;
  failed_at: string | null;
}

export function readDlq(outDir: string): DeadLetter[] {
  const m = openManifestRO(outDir);
  try {
    return m.dead().map((t) => ({
      kind: t.level,
      video_path: t.path ?? null,
      video_id: t.video_id,
      clip_id: t.level === 'clip' ? t.item_id : null,
      op: t.op,
      attempts: t.attempts,
      permanent: !!t.permanent,
      last_error: t.last_error,
      failed_at: t.ended_at ? new Date(t.ended_at * 1000).toISOString() : null,
    }));
  } finally {
    m.close();
  }
}
