/**
 * Parquet output with exactly-once commits.
 *
 * Rows are buffered per table in memory (bounded by the recipe's output.flush_rows) and written in
 * large files: <out>/<table>/run_id=<run>/part-<seq>-<rand>.parquet (hive-partitioned by run).
 *
 * Commit protocol (crash-safe at every step):
 *   1. each buffered table -> NDJSON in <out>/_staging -> DuckDB COPY -> <out>/_staging/*.parquet.tmp, fsync
 *   2. ONE SQLite transaction: register every part (final + tmp path) and mark the tasks done
 *   3. rename each tmp file to its final path (atomic on one filesystem), fsync the directory
 * recover() at start-up: parts registered but still in staging are renamed (roll forward); anything
 * else in _staging is an uncommitted leftover and is deleted; its tasks were never marked done and
 * run again. Readers never see a partial file: *.parquet.tmp does not match *.parquet globs and
 * lives outside the table folders.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Row, TableSpec } from '../operators/types.js';
import type { Manifest } from './manifest.js';

export const STAGING = '_staging';

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function jsonValue(_k: string, v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    return Array.from(v as unknown as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : null));
  }
  return v;
}

function fsyncFile(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(p: string): void {
  try {
    fsyncFile(p);
  } catch {
    /* some filesystems refuse directory fsync; the rename is still atomic */
  }
}

export class DiskFullError extends Error {
  override name = 'DiskFullError';
}

export class OutputStore {
  private buffers = new Map<string, Row[]>();
  private buffered = 0;
  private seq = new Map<string, number>();
  private db?: DuckDBInstance;
  private conn?: DuckDBConnection;

  constructor(
    readonly outDir: string,
    readonly runId: string,
    private readonly manifest: Manifest,
    private readonly tables: Map<string, TableSpec>,
  ) {}

  get staging(): string {
    return path.join(this.outDir, STAGING);
  }

  /** Roll committed parts forward and delete uncommitted staging leftovers. */
  recover(): { rolledForward: number; removed: number } {
    fs.mkdirSync(this.staging, { recursive: true });
    let rolledForward = 0;
    const keep = new Set<string>();
    for (const p of this.manifest.parts()) {
      const final = path.join(this.outDir, p.path);
      const tmp = path.join(this.outDir, p.tmp_path);
      if (!fs.existsSync(final) && fs.existsSync(tmp)) {
        fs.mkdirSync(path.dirname(final), { recursive: true });
        fs.renameSync(tmp, final);
        rolledForward++;
      }
      keep.add(path.basename(tmp));
    }
    let removed = 0;
    for (const f of fs.readdirSync(this.staging)) {
      if (keep.has(f)) continue;
      fs.rmSync(path.join(this.staging, f), { force: true, recursive: true });
      removed++;
    }
    return { rolledForward, removed };
  }

  add(table: string, rows: Row[]): void {
    if (!rows.length) return;
    if (!this.tables.has(table)) throw new Error(`internal: rows for undeclared table "${table}"`);
    let b = this.buffers.get(table);
    if (!b) this.buffers.set(table, (b = []));
    for (const r of rows) b.push(r);
    this.buffered += rows.length;
  }

  get bufferedRows(): number {
    return this.buffered;
  }

  private async connection(): Promise<DuckDBConnection> {
    if (!this.conn) {
      this.db = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '1GB' });
      this.conn = await this.db.connect();
    }
    return this.conn;
  }

  /**
   * Write every buffered row and commit. `inTransaction` runs inside the same SQLite transaction
   * that registers the parts (mark tasks done there). Returns rows written per table.
   */
  async commit(inTransaction: () => void): Promise<Record<string, number>> {
    // Take the buffers now: rows added while this commit awaits belong to the next commit.
    const buffers = this.buffers;
    this.buffers = new Map();
    this.buffered = 0;
    const written: Record<string, number> = {};
    const staged: Array<{ table: string; tmp: string; final: string; rows: number }> = [];
    fs.mkdirSync(this.staging, { recursive: true });
    try {
      for (const [table, rows] of buffers) {
        if (!rows.length) continue;
        const spec = this.tables.get(table)!;
        const rand = randomBytes(6).toString('hex');
        const seq = (this.seq.get(table) ?? 0) + 1;
        this.seq.set(table, seq);
        const tmpName = `${table}-${this.runId}-${String(seq).padStart(6, '0')}-${rand}.parquet.tmp`;
        const tmp = path.join(this.staging, tmpName);
        const final = path.join(table, `run_id=${this.runId}`, `part-${String(seq).padStart(6, '0')}-${rand}.parquet`);
        await this.writeParquet(spec, rows, tmp);
        staged.push({ table, tmp: path.join(STAGING, tmpName), final, rows: rows.length });
        written[table] = rows.length;
      }
    } catch (e) {
      for (const s of staged) fs.rmSync(path.join(this.outDir, s.tmp), { force: true });
      const err = e as NodeJS.ErrnoException & { message: string };
      if (err.code === 'ENOSPC' || /No space left on device|ENOSPC|Could not write/i.test(err.message)) {
        throw new DiskFullError(
          `no space left on the device holding ${this.outDir} while writing Parquet; nothing was committed. ` +
            `Free some space and run the same command again to resume.`,
        );
      }
      throw e;
    }
    this.manifest.durableTx(() => {
      for (const s of staged) this.manifest.addPart({ path: s.final, tmp_path: s.tmp, table_name: s.table, run_id: this.runId, rows: s.rows });
      inTransaction();
    });
    const dirs = new Set<string>();
    for (const s of staged) {
      const final = path.join(this.outDir, s.final);
      fs.mkdirSync(path.dirname(final), { recursive: true });
      fs.renameSync(path.join(this.outDir, s.tmp), final);
      dirs.add(path.dirname(final));
    }
    for (const d of dirs) fsyncDir(d);
    // a fresh DuckDB per commit: its allocator otherwise keeps what the largest write needed
    this.close();
    return written;
  }

  /** Committed rows of one run's partition of a table where `column = value` (upstream rows of a resumed item). */
  async readRows(table: string, column: string, value: string, runId: string): Promise<Row[]> {
    const dir = path.join(this.outDir, table, `run_id=${runId}`);
    if (!fs.existsSync(dir)) return [];
    const conn = await this.connection();
    const glob = path.join(dir, '*.parquet');
    const r = await conn.runAndReadAll(`SELECT * FROM read_parquet(${sqlString(glob)}, union_by_name=true) WHERE "${column}" = $1`, [value]);
    return r.getRowObjectsJson() as Row[];
  }

  private async writeParquet(spec: TableSpec, rows: Row[], tmp: string): Promise<void> {
    const ndjson = tmp.replace(/\.parquet\.tmp$/, '.ndjson');
    const cols = Object.keys(spec.columns);
    const fd = fs.openSync(ndjson, 'w');
    try {
      let chunk: string[] = [];
      let size = 0;
      for (const r of rows) {
        const o: Record<string, unknown> = {};
        for (const c of cols) o[c] = r[c] ?? null;
        const line = JSON.stringify(o, jsonValue) + '\n';
        chunk.push(line);
        size += line.length;
        if (size > 1 << 20) {
          fs.writeSync(fd, chunk.join(''));
          chunk = [];
          size = 0;
        }
      }
      if (chunk.length) fs.writeSync(fd, chunk.join(''));
    } finally {
      fs.closeSync(fd);
    }
    const colSpec = cols.map((c) => `${sqlString(c)}: ${sqlString(spec.columns[c])}`).join(', ');
    const conn = await this.connection();
    try {
      await conn.run(
        `COPY (SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM read_json(${sqlString(ndjson)}, format='newline_delimited', ` +
          `columns={${colSpec}}, maximum_object_size=33554432)) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
      );
    } finally {
      fs.rmSync(ndjson, { force: true });
    }
    fsyncFile(tmp);
  }

  /** Write a single-row-set file atomically, replacing any previous one (used for runs). */
  async writeReplace(spec: TableSpec, rows: Row[], relPath: string): Promise<void> {
    fs.mkdirSync(this.staging, { recursive: true });
    const tmp = path.join(this.staging, `${spec.name}-${randomBytes(6).toString('hex')}.parquet.tmp`);
    await this.writeParquet(spec, rows, tmp);
    const final = path.join(this.outDir, relPath);
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.renameSync(tmp, final);
    fsyncDir(path.dirname(final));
  }

  close(): void {
    this.conn?.closeSync();
    this.db?.closeSync();
    this.conn = undefined;
    this.db = undefined;
  }
}
