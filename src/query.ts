/**
 * `egopipe query`: DuckDB over the outputs. Every table folder under --out becomes a view of the
 * same name over read_parquet('<out>/<table>/**\/*.parquet', hive_partitioning=true); `tasks` (the
 * manifest's task states) is loaded on demand when the SQL mentions it.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Manifest } from './manifest.js';
import { sqlString, STAGING } from './parquet.js';

export function tableDirs(outDir: string): string[] {
  if (!fs.existsSync(outDir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(outDir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.') || e.name === STAGING) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(e.name)) continue;
    if (hasParquet(path.join(outDir, e.name))) out.push(e.name);
  }
  return out.sort();
}

function hasParquet(dir: string): boolean {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.parquet')) return true;
    if (e.isDirectory() && hasParquet(path.join(dir, e.name))) return true;
  }
  return false;
}

export async function openOutputs(outDir: string, sql = ''): Promise<{ conn: DuckDBConnection; views: string[]; close: () => void }> {
  const db = await DuckDBInstance.create(':memory:', { threads: String(Math.max(1, os.availableParallelism())) });
  const conn = await db.connect();
  const views = tableDirs(outDir);
  for (const v of views) {
    const glob = path.join(path.resolve(outDir), v, '**', '*.parquet');
    await conn.run(`CREATE VIEW "${v}" AS SELECT * FROM read_parquet(${sqlString(glob)}, hive_partitioning=true, union_by_name=true)`);
  }
  if (/\btasks\b/i.test(sql) && !views.includes('tasks') && fs.existsSync(Manifest.pathIn(outDir))) {
    const m = new Manifest(Manifest.pathIn(outDir), { readonly: true });
    try {
      const rows = m.db.prepare(`SELECT item_id, op, level, video_id, state, attempts, last_error, worker, run_id, started_at, ended_at FROM tasks`).all();
      const tmp = path.join(os.tmpdir(), `egopipe-tasks-${process.pid}-${Date.now()}.ndjson`);
      fs.writeFileSync(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      await conn.run(
        `CREATE TABLE tasks AS SELECT * FROM read_json(${sqlString(tmp)}, format='newline_delimited', columns={item_id:'VARCHAR', op:'VARCHAR', level:'VARCHAR', video_id:'VARCHAR', state:'VARCHAR', attempts:'INTEGER', last_error:'VARCHAR', worker:'VARCHAR', run_id:'VARCHAR', started_at:'DOUBLE', ended_at:'DOUBLE'})`,
      );
      fs.rmSync(tmp, { force: true });
      views.push('tasks');
    } finally {
      m.close();
    }
  }
  return { conn, views, close: () => conn.closeSync() };
}

const BIG = /^(BIGINT|HUGEINT|UBIGINT|UHUGEINT|DECIMAL.*)$/;

/** JSON-friendly values: 64-bit integers and decimals become numbers when exact enough. */
function numify(v: unknown, type: string): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (BIG.test(type) && typeof v === 'string') {
    const n = Number(v);
    return Number.isFinite(n) && (Number.isSafeInteger(n) || type.startsWith('DECIMAL')) ? n : v;
  }
  const m = /^(.*)\[\d*\]$/.exec(type);
  if (m && Array.isArray(v)) return v.map((x) => numify(x, m[1]));
  return v;
}

export async function runQuery(outDir: string, sql: string): Promise<{ columns: string[]; types: string[]; rows: Record<string, unknown>[] }> {
  const { conn, close } = await openOutputs(outDir, sql);
  try {
    const r = await conn.runAndReadAll(sql);
    const columns = r.columnNames();
    const types = r.columnTypes().map((t) => t.toString());
    const rows = (r.getRowObjectsJson() as Record<string, unknown>[]).map((row) => {
      const o: Record<string, unknown> = {};
      columns.forEach((c, i) => (o[c] = numify(row[c], types[i])));
      return o;
    });
    return { columns, types, rows };
  } finally {
    close();
  }
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function formatTable(columns: string[], rows: Record<string, unknown>[], maxWidth = 60): string {
  const cells = rows.map((r) => columns.map((c) => {
    const s = cell(r[c]);
    return s.length > maxWidth ? s.slice(0, maxWidth - 1) + '…' : s;
  }));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) => '│ ' + vals.map((v, i) => v.padEnd(widths[i])).join(' │ ') + ' │';
  const sep = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  return [sep('┌', '┬', '┐'), line(columns), sep('├', '┼', '┤'), ...cells.map(line), sep('└', '┴', '┘'), `${rows.length} row${rows.length === 1 ? '' : 's'}`].join('\n');
}

export function formatCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.map(esc).join(','), ...rows.map((r) => columns.map((c) => esc(r[c])).join(','))].join('\n');
}
