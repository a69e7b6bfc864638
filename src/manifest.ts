/**
 * The manifest: a SQLite file (<out>/manifest.sqlite, WAL mode) that holds run state — sources,
 * videos, clips, tasks per (item, op), committed Parquet parts and runs. SQLite in WAL mode lets
 * `egopipe status` read it from another process while a run writes, and survives kill -9.
 *
 * Task states:
 *   pending  -> running -> finished (result buffered in memory, not yet durable)
 *                        -> done     (its rows are in a committed Parquet part)
 *            -> retry (failed, will be retried after not_before) -> running ...
 *            -> dead  (failed permanently or out of attempts; listed by `egopipe dlq`)
 *            -> skipped (an earlier op on the same item is dead)
 * After a crash, `running` and `finished` go back to `pending` (their rows were never committed).
 */
import Database from 'better-sqlite3';
import type { Database as DB, Statement } from 'better-sqlite3';
import path from 'node:path';
import type { ClipInfo } from '../operators/types.js';

export type TaskState = 'pending' | 'running' | 'finished' | 'done' | 'retry' | 'dead' | 'skipped';

export interface TaskRow {
  item_id: string;
  op: string;
  level: 'video' | 'clip';
  video_id: string;
  seq: number;
  pool: string;
  /** the op's configuration in its recipe chain (op + params + everything before it): the task's key with item_id */
  config_hash: string;
  /** config_hash of the op before it on the same item (null for the first) */
  prev_config: string | null;
  /** for clip tasks: the clips op's config that made the clip */
  clip_config: string | null;
  /** scene-sequential ops: the previous clip of the scene, whose task of the same config must finish first */
  after_item: string | null;
  seq_ok: number;
  /** when its predecessor finished (or it was created runnable): queue time starts here */
  ready_at: number | null;
  state: TaskState;
  ready: number;
  attempts: number;
  last_error: string | null;
  permanent: number;
  cost: number;
  not_before: number;
  worker: string | null;
  run_id: string | null;
  started_at: number | null;
  ended_at: number | null;
}

export interface VideoRow {
  video_id: string;
  path: string;
  size: number;
  meta: string | null;
  status: 'pending' | 'ok' | 'failed';
  error: string | null;
  row_written: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY, started_at REAL, ended_at REAL, status TEXT, recipe_name TEXT, recipe_hash TEXT,
  recipe_yaml TEXT, recipe_json TEXT, code_version TEXT, tools TEXT, host TEXT, argv TEXT, counts TEXT);
CREATE TABLE IF NOT EXISTS sources(path TEXT PRIMARY KEY, video_id TEXT, size INTEGER, mtime_ms REAL, first_run TEXT);
CREATE TABLE IF NOT EXISTS videos(
  video_id TEXT PRIMARY KEY, path TEXT, size INTEGER, meta TEXT, status TEXT DEFAULT 'pending', error TEXT,
  row_written INTEGER DEFAULT 0, first_run TEXT);
CREATE TABLE IF NOT EXISTS clips(
  clip_id TEXT NOT NULL, clip_config TEXT NOT NULL, video_id TEXT, scene_index INTEGER, start_frame INTEGER, end_frame INTEGER,
  start_s REAL, end_s REAL, overlap_prev_frames INTEGER, PRIMARY KEY(clip_id, clip_config));
CREATE INDEX IF NOT EXISTS clips_video ON clips(video_id);
CREATE TABLE IF NOT EXISTS tasks(
  item_id TEXT NOT NULL, op TEXT NOT NULL, level TEXT NOT NULL, video_id TEXT NOT NULL, seq INTEGER NOT NULL,
  pool TEXT NOT NULL, config_hash TEXT NOT NULL, prev_config TEXT, clip_config TEXT,
  after_item TEXT, seq_ok INTEGER NOT NULL DEFAULT 1, ready_at REAL,
  state TEXT NOT NULL DEFAULT 'pending', ready INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, permanent INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL DEFAULT 0,
  not_before REAL NOT NULL DEFAULT 0, worker TEXT, run_id TEXT, created_at REAL, started_at REAL, ended_at REAL,
  PRIMARY KEY(item_id, config_hash));
CREATE INDEX IF NOT EXISTS tasks_sched ON tasks(pool, state, ready, seq, cost);
CREATE INDEX IF NOT EXISTS tasks_video ON tasks(video_id, level);
CREATE INDEX IF NOT EXISTS tasks_prev ON tasks(item_id, prev_config);
CREATE INDEX IF NOT EXISTS tasks_after ON tasks(after_item, config_hash);
CREATE INDEX IF NOT EXISTS tasks_counts ON tasks(config_hash, op, state);
CREATE TABLE IF NOT EXISTS parts(
  path TEXT PRIMARY KEY, tmp_path TEXT NOT NULL, table_name TEXT NOT NULL, run_id TEXT NOT NULL, rows INTEGER NOT NULL,
  created_at REAL NOT NULL);
`;

/** Bump when the manifest tables change incompatibly. */
export const SCHEMA_VERSION = 3;

export class ManifestVersionError extends Error {
  override name = 'ManifestVersionError';
  constructor(file: string, what: string) {
    super(`${file} was written by ${what} egopipe manifest; this egopipe uses schema version ${SCHEMA_VERSION}. Use a new --out (the Parquet outputs of the old one stay readable with egopipe query / DuckDB).`);
  }
}

export class Manifest {
  readonly db: DB;
  private stmts = new Map<string, Statement>();

  constructor(
    readonly file: string,
    opts: { readonly?: boolean } = {},
  ) {
    this.db = new Database(file, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly, timeout: 10_000 });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      // Task-state writes need no fsync each (after a crash, running/finished go back to pending
      // anyway); the transaction that commits Parquet parts runs with synchronous=FULL (durableTx).
      this.db.pragma('synchronous = NORMAL');
      // keep the write-ahead log small (it otherwise grows to ~4 MB between checkpoints)
      this.db.pragma('wal_autocheckpoint = 256');
      const had = (this.db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'tasks'`).get() as { n: number }).n > 0;
      this.db.exec(SCHEMA);
      const v = this.getMeta('schema_version');
      if (v === undefined && had) throw new ManifestVersionError(file, 'an unversioned (older)');
      if (v !== undefined && v !== String(SCHEMA_VERSION)) throw new ManifestVersionError(file, `schema version ${v}`);
      if (v === undefined) this.setMeta('schema_version', String(SCHEMA_VERSION));
    }
  }

  static pathIn(outDir: string): string {
    return path.join(outDir, 'manifest.sqlite');
  }

  close(): void {
    this.db.close();
  }

  /** Fold the write-ahead log into the database file and truncate it (best effort). */
  checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* a reader holds an old snapshot: the next checkpoint catches up */
    }
  }

  stmt(sql: string): Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** A transaction that is on disk when it returns (fsync), for commits that files depend on. */
  durableTx<T>(fn: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  // -- sources & videos ---------------------------------------------------------------------

  sourceLookup(p: string): { video_id: string; size: number; mtime_ms: number } | undefined {
    return this.stmt('SELECT video_id, size, mtime_ms FROM sources WHERE path = ?').get(p) as
      | { video_id: string; size: number; mtime_ms: number }
      | undefined;
  }

  upsertSource(p: string, videoId: string, size: number, mtimeMs: number, runId: string): void {
    this.stmt(
      `INSERT INTO sources(path, video_id, size, mtime_ms, first_run) VALUES(?,?,?,?,?)
       ON CONFLICT(path) DO UPDATE SET video_id=excluded.video_id, size=excluded.size, mtime_ms=excluded.mtime_ms`,
    ).run(p, videoId, size, mtimeMs, runId);
  }

  /** Insert a video if new. Returns true when it was new. */
  addVideo(videoId: string, p: string, size: number, runId: string): boolean {
    const r = this.stmt('INSERT OR IGNORE INTO videos(video_id, path, size, first_run) VALUES(?,?,?,?)').run(videoId, p, size, runId);
    return r.changes > 0;
  }

  video(videoId: string): VideoRow | undefined {
    return this.stmt('SELECT * FROM videos WHERE video_id = ?').get(videoId) as VideoRow | undefined;
  }

  setVideoMeta(videoId: string, meta: unknown): void {
    this.stmt('UPDATE videos SET meta = ? WHERE video_id = ?').run(JSON.stringify(meta), videoId);
  }

  setVideoStatus(videoId: string, status: VideoRow['status'], error: string | null): void {
    this.stmt('UPDATE videos SET status = ?, error = ? WHERE video_id = ?').run(status, error, videoId);
  }

  // -- clips --------------------------------------------------------------------------------

  addClips(clips: ClipInfo[], clipConfig: string): void {
    const ins = this.stmt(
      `INSERT OR IGNORE INTO clips(clip_id, clip_config, video_id, scene_index, start_frame, end_frame, start_s, end_s, overlap_prev_frames)
       VALUES(@clip_id, @clip_config, @video_id, @scene_index, @start_frame, @end_frame, @start_s, @end_s, @overlap_prev_frames)`,
    );
    for (const c of clips) ins.run({ ...c, clip_config: clipConfig });
  }

  clip(clipId: string, clipConfig: string): ClipInfo | undefined {
    const r = this.stmt('SELECT * FROM clips WHERE clip_id = ? AND clip_config = ?').get(clipId, clipConfig) as (ClipInfo & { clip_config?: string }) | undefined;
    if (r) delete r.clip_config;
    return r;
  }

  // -- tasks --------------------------------------------------------------------------------

  /** Is the task before this one in its chain finished? (true when there is none) */
  predecessorFinished(itemId: string, prevConfig: string | null): boolean {
    if (!prevConfig) return true;
    const r = this.stmt(`SELECT state FROM tasks WHERE item_id = ? AND config_hash = ?`).get(itemId, prevConfig) as { state: string } | undefined;
    return !!r && (r.state === 'done' || r.state === 'finished');
  }

  addTask(
    t: Pick<TaskRow, 'item_id' | 'op' | 'level' | 'video_id' | 'seq' | 'pool' | 'config_hash' | 'prev_config' | 'clip_config' | 'cost'> & {
      after_item?: string | null;
      ready: boolean;
    },
  ): boolean {
    const seqOk = !t.after_item || this.predecessorFinished(t.after_item, t.config_hash) || this.task(t.after_item, t.config_hash)?.state === 'dead';
    const r = this.stmt(
      `INSERT OR IGNORE INTO tasks(item_id, op, level, video_id, seq, pool, config_hash, prev_config, clip_config, after_item, seq_ok, ready, ready_at, cost, created_at)
       VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(t.item_id, t.op, t.level, t.video_id, t.seq, t.pool, t.config_hash, t.prev_config, t.clip_config, t.after_item ?? null, seqOk ? 1 : 0, t.ready ? 1 : 0, t.ready ? Date.now() / 1000 : null, t.cost, Date.now() / 1000);
    return r.changes > 0;
  }

  /** The next clip of the scene may run its scene-sequential task of this config. */
  releaseNext(itemId: string, config?: string): void {
    if (config) this.stmt(`UPDATE tasks SET seq_ok=1 WHERE after_item=? AND config_hash=?`).run(itemId, config);
    else this.stmt(`UPDATE tasks SET seq_ok=1 WHERE after_item=?`).run(itemId);
  }

  task(itemId: string, config: string): TaskRow | undefined {
    return this.stmt('SELECT * FROM tasks WHERE item_id = ? AND config_hash = ?').get(itemId, config) as TaskRow | undefined;
  }

  /** Runnable tasks for one pool: deeper ops first (drain the pipeline), then most work first. */
  /** Runnable tasks of the given configs for one pool: deeper ops first (drain the pipeline), then most work first. */
  nextTasks(pool: string, limit: number, now: number, exclude: Set<string>, configs: string[]): TaskRow[] {
    const rows = this.stmt(
      `SELECT * FROM tasks WHERE pool = ? AND ready = 1 AND seq_ok = 1 AND state IN ('pending','retry') AND not_before <= ?
         AND config_hash IN (${configs.map(() => '?').join(',')}) ORDER BY seq DESC, cost DESC LIMIT ?`,
    ).all(pool, now, ...configs, limit + exclude.size) as TaskRow[];
    return rows.filter((r) => !exclude.has(r.item_id + '\u0000' + r.config_hash)).slice(0, limit);
  }

  markRunning(itemId: string, config: string, runId: string, worker: string): void {
    this.stmt(`UPDATE tasks SET state='running', run_id=?, worker=?, started_at=? WHERE item_id=? AND config_hash=?`).run(
      runId,
      worker,
      Date.now() / 1000,
      itemId,
      config,
    );
  }

  markFinished(itemId: string, config: string): void {
    this.stmt(`UPDATE tasks SET state='finished', ended_at=? WHERE item_id=? AND config_hash=?`).run(Date.now() / 1000, itemId, config);
  }

  markDoneMany(keys: Array<[string, string]>): void {
    const s = this.stmt(`UPDATE tasks SET state='done' WHERE item_id=? AND config_hash=? AND state='finished'`);
    for (const [i, c] of keys) s.run(i, c);
  }

  /** Record a failed attempt. Returns the new state. */
  markFailed(itemId: string, config: string, error: string, permanent: boolean, maxAttempts: number, backoffS: number): TaskState {
    const t = this.task(itemId, config);
    if (!t) throw new Error(`internal: no task ${config} for ${itemId}`);
    const attempts = t.attempts + 1;
    const dead = permanent || attempts >= maxAttempts;
    const state: TaskState = dead ? 'dead' : 'retry';
    const notBefore = dead ? 0 : Date.now() / 1000 + backoffS * 2 ** (attempts - 1);
    this.stmt(
      `UPDATE tasks SET state=?, attempts=?, last_error=?, permanent=?, not_before=?, ended_at=? WHERE item_id=? AND config_hash=?`,
    ).run(state, attempts, error.slice(0, 4000), permanent ? 1 : 0, notBefore, Date.now() / 1000, itemId, config);
    return state;
  }

  /** A task that was not at fault for its failure goes back to pending (no attempt counted). */
  requeue(itemId: string, config: string): void {
    this.stmt(`UPDATE tasks SET state='pending', worker=NULL WHERE item_id=? AND config_hash=?`).run(itemId, config);
  }

  /** Make the next op in the item's chain runnable. */
  setReady(itemId: string, config: string): void {
    this.stmt(`UPDATE tasks SET ready=1, ready_at=? WHERE item_id=? AND prev_config=?`).run(Date.now() / 1000, itemId, config);
  }

  /** An op died on an item: every later op of its chain on that item is skipped. */
  skipAfter(itemId: string, config: string, reason: string): number {
    return this.stmt(
      `WITH RECURSIVE later(c) AS (SELECT config_hash FROM tasks WHERE item_id = @item AND prev_config = @config
         UNION SELECT t.config_hash FROM tasks t JOIN later ON t.prev_config = later.c WHERE t.item_id = @item)
       UPDATE tasks SET state='skipped', last_error=@reason WHERE item_id=@item AND config_hash IN (SELECT c FROM later) AND state IN ('pending','retry')`,
    ).run({ item: itemId, config, reason }).changes;
  }

  /**
   * Crash recovery: work that was running or finished-but-uncommitted goes back to pending (an
   * interrupted attempt does not count against max_attempts); readiness is recomputed.
   */
  recover(): { requeued: number } {
    return this.tx(() => {
      const r = this.db.prepare(`UPDATE tasks SET state='pending', worker=NULL WHERE state IN ('running','finished')`).run();
      this.db.exec(`UPDATE tasks SET ready = CASE WHEN prev_config IS NULL OR EXISTS (
          SELECT 1 FROM tasks p WHERE p.item_id = tasks.item_id AND p.config_hash = tasks.prev_config
            AND p.state IN ('done','finished')) THEN 1 ELSE 0 END`);
      this.db.prepare(`UPDATE tasks SET ready_at = ? WHERE ready = 1 AND state IN ('pending','retry')`).run(Date.now() / 1000);
      this.db.exec(`UPDATE tasks SET seq_ok = CASE WHEN after_item IS NULL OR EXISTS (
          SELECT 1 FROM tasks p WHERE p.item_id = tasks.after_item AND p.config_hash = tasks.config_hash
            AND p.state IN ('done','finished','dead','skipped')) THEN 1 ELSE 0 END`);
      return { requeued: r.changes };
    });
  }

  /** Dead-lettered tasks become retryable again (for `run --retry-dead`). */
  reviveDead(): number {
    return this.tx(() => {
      const n = this.db.prepare(`UPDATE tasks SET state='pending', attempts=0, permanent=0, not_before=0 WHERE state='dead'`).run().changes;
      this.db.exec(`UPDATE tasks SET state='pending', last_error=NULL WHERE state='skipped'`);
      this.db.exec(`UPDATE videos SET status='pending', error=NULL, row_written=0 WHERE status='failed'`);
      return n;
    });
  }

  /** Task counts by op and state: of the given op configurations (one recipe), or of all. */
  countsByOp(configs?: readonly string[]): Array<{ op: string; state: TaskState; n: number }> {
    // grouping in the order of tasks_counts (config_hash, op, state) is an index-only scan with no
    // sorter; filtering and summing the few groups here is cheaper than any WHERE/GROUP BY op
    const rows = this.stmt(`SELECT config_hash, op, state, COUNT(*) AS n FROM tasks GROUP BY config_hash, op, state`).all() as Array<{
      config_hash: string;
      op: string;
      state: TaskState;
      n: number;
    }>;
    const keep = configs ? new Set(configs) : null;
    const sum = new Map<string, { op: string; state: TaskState; n: number }>();
    for (const r of rows) {
      if (keep && !keep.has(r.config_hash)) continue;
      const k = r.op + '\0' + r.state;
      const e = sum.get(k);
      if (e) e.n += r.n;
      else sum.set(k, { op: r.op, state: r.state, n: r.n });
    }
    return [...sum.values()];
  }

  /** Tasks of these op configurations still waiting to run (pending or retry). */
  waitingCount(configs: readonly string[]): number {
    return (
      this.stmt(`SELECT COUNT(*) AS n FROM tasks WHERE state IN ('pending','retry') AND config_hash IN (SELECT value FROM json_each(?))`).get(
        JSON.stringify(configs),
      ) as { n: number }
    ).n;
  }

  unfinishedCount(configs?: string[]): number {
    if (!configs) {
      return (this.stmt(`SELECT COUNT(*) AS n FROM tasks WHERE state IN ('pending','retry','running','finished')`).get() as { n: number }).n;
    }
    return (
      this.stmt(
        `SELECT COUNT(*) AS n FROM tasks WHERE state IN ('pending','retry','running','finished') AND config_hash IN (${configs.map(() => '?').join(',')})`,
      ).get(...configs) as { n: number }
    ).n;
  }

  /** The run that committed a task (its rows are in that run's partition). */
  runOf(itemId: string, config: string): string | null {
    return (this.stmt(`SELECT run_id FROM tasks WHERE item_id = ? AND config_hash = ?`).get(itemId, config) as { run_id: string | null } | undefined)?.run_id ?? null;
  }

  /** Tasks that are blocked forever: pending but their predecessor is dead/skipped (defensive). */
  /** When the next retry of these op configurations (all when omitted) may run. */
  soonestRetry(configs?: readonly string[]): number | null {
    const r = (
      configs
        ? this.stmt(`SELECT MIN(not_before) AS t FROM tasks WHERE state='retry' AND config_hash IN (SELECT value FROM json_each(?))`).get(JSON.stringify(configs))
        : this.stmt(`SELECT MIN(not_before) AS t FROM tasks WHERE state='retry'`).get()
    ) as { t: number | null };
    return r.t;
  }

  dead(): Array<TaskRow & { path: string }> {
    return this.stmt(
      `SELECT t.*, v.path AS path FROM tasks t LEFT JOIN videos v ON v.video_id = t.video_id WHERE t.state = 'dead'
       ORDER BY t.ended_at`,
    ).all() as Array<TaskRow & { path: string }>;
  }

  // -- parts (committed Parquet files) --------------------------------------------------------

  addPart(p: { path: string; tmp_path: string; table_name: string; run_id: string; rows: number }): void {
    this.stmt(`INSERT INTO parts(path, tmp_path, table_name, run_id, rows, created_at) VALUES(?,?,?,?,?,?)`).run(
      p.path,
      p.tmp_path,
      p.table_name,
      p.run_id,
      p.rows,
      Date.now() / 1000,
    );
  }

  parts(): Array<{ path: string; tmp_path: string; table_name: string; run_id: string; rows: number }> {
    return this.stmt(`SELECT path, tmp_path, table_name, run_id, rows FROM parts`).all() as Array<{
      path: string;
      tmp_path: string;
      table_name: string;
      run_id: string;
      rows: number;
    }>;
  }

  // -- runs ---------------------------------------------------------------------------------

  insertRun(r: {
    run_id: string;
    started_at: number;
    recipe_name: string;
    recipe_hash: string;
    recipe_yaml: string;
    recipe_json: string;
    code_version: string;
    tools: string;
    host: string;
    argv: string;
  }): void {
    this.stmt(
      `INSERT INTO runs(run_id, started_at, status, recipe_name, recipe_hash, recipe_yaml, recipe_json, code_version, tools, host, argv)
       VALUES(@run_id, @started_at, 'running', @recipe_name, @recipe_hash, @recipe_yaml, @recipe_json, @code_version, @tools, @host, @argv)`,
    ).run(r);
  }

  endRun(runId: string, status: string, counts: unknown): void {
    this.stmt(`UPDATE runs SET ended_at=?, status=?, counts=? WHERE run_id=?`).run(Date.now() / 1000, status, JSON.stringify(counts), runId);
  }

  runs(): Array<Record<string, unknown>> {
    return this.stmt(`SELECT * FROM runs ORDER BY started_at`).all() as Array<Record<string, unknown>>;
  }

  getMeta(key: string): string | undefined {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmt('INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value').run(key, value);
  }
}
