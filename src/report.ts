/**
 * `egopipe report --out <dir>`: a self-contained HTML report of an output folder.
 *
 * Sections: overview (videos ok/failed, clips, rows per table), runs (status, recipe, code
 * version, counts, model sha256s), throughput over time (inline SVG charts from table `events`)
 * with per-op timings, dead letters (manifest) grouped by op and error, probe alerts (table
 * `alerts`), and sample frames: one decoded frame per chosen clip with masks tinted in and hand
 * skeletons / detection boxes drawn over it (sharp), next to bar charts of the retargeted robot
 * joint values of that frame. Every section degrades to a note when its tables are missing.
 *
 * Files: <dest>/index.html (inline CSS, inline SVG, no JavaScript) and frame-<clip>-<frame>.png
 * beside it, or one HTML file with the PNGs as data URIs (`inline`). The folder is written to a
 * temporary sibling and renamed into place, so a reader never sees a half-written report.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';
import { Manifest } from './manifest.js';
import { sqlString } from './parquet.js';
import { ROOT } from './paths.js';
import { openOutputs, tableDirs } from './query.js';
import { NoManifestError, readDlq, type DeadLetter } from './status.js';
import { barChart, lineChart, PALETTE, type Series } from './report/charts.js';
import { decodeOneFrame, handRgb, renderFrame, rgbHex, type Overlay, type RawFrame } from './report/frames.js';
import { badge, bytes, CSS, esc, note, num, secs, table, utc } from './report/html.js';

export interface ReportOptions {
  /** folder to write (default <out>/report); replaced atomically if it holds an earlier report */
  dest?: string;
  /** embed the PNGs as data URIs: a single self-contained index.html */
  inline?: boolean;
  /** sample clips with frames (default 6; 0 = none) */
  maxClips?: number;
}

export interface ReportResult {
  /** path of the written index.html */
  html: string;
  /** paths of the written PNG files (empty with inline) */
  pngs: string[];
}

export class ReportError extends Error {
  override name = 'ReportError';
}

const GENERATOR = 'egopipe report';

type Row = Record<string, unknown>;

interface Ctx {
  conn: DuckDBConnection;
  views: Set<string>;
  out: string;
  tmp: string;
  inline: boolean;
  maxClips: number;
  pngs: string[];
  runs: RunRow[];
}

interface RunRow {
  run_id: string;
  status: string | null;
  recipe_name: string | null;
  recipe_hash: string | null;
  code_version: string | null;
  host: string | null;
  t0: number | null;
  t1: number | null;
  counts: string | null;
  models: string | null;
}

async function q(conn: DuckDBConnection, sql: string): Promise<Row[]> {
  const r = await conn.runAndReadAll(sql);
  return r.getRowObjectsJson() as Row[];
}

const n = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number.isFinite(Number(v)) ? Number(v) : null);
const s = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const nums = (v: unknown): number[] => (Array.isArray(v) ? v.map((x) => (x === null ? NaN : Number(x))) : []);

function parseJson(text: string | null): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${body}\n</section>`;
}

/** Builds one section; an unexpected failure becomes a visible note instead of failing the report. */
async function safe(id: string, title: string, build: () => Promise<string>): Promise<string> {
  try {
    return section(id, title, await build());
  } catch (e) {
    return section(id, title, `<p class="err">could not build this section: ${esc((e as Error)?.message ?? e)}</p>`);
  }
}

function version(): string {
  try {
    return String((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? '?');
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------
// overview

async function overviewSection(c: Ctx): Promise<string> {
  const parts: string[] = [];
  const cards: Array<[string, string]> = [];
  let failed: Row[] = [];
  if (c.views.has('videos')) {
    const latest = `(SELECT video_id, arg_max(status, run_id) AS status, arg_max(path, run_id) AS path, arg_max(error, run_id) AS error, arg_max(duration_s, run_id) AS duration_s FROM videos GROUP BY video_id)`;
    const v = await q(c.conn, `SELECT count(*)::INTEGER AS total, count(*) FILTER (WHERE status = 'ok')::INTEGER AS ok, count(*) FILTER (WHERE status = 'failed')::INTEGER AS failed, sum(duration_s) FILTER (WHERE status = 'ok') AS dur FROM ${latest}`);
    const r = v[0] ?? {};
    cards.push(['videos', num(r.total)], ['ok', num(r.ok)], ['failed', num(r.failed)], ['video time (ok)', secs(n(r.dur))]);
    failed = await q(c.conn, `SELECT path, error FROM ${latest} WHERE status = 'failed' ORDER BY path LIMIT 200`);
  } else parts.push(note('no videos table in this output yet'));
  if (c.views.has('clips')) {
    const r = (await q(c.conn, `SELECT count(DISTINCT clip_id)::INTEGER AS n, sum(end_s - start_s) AS dur FROM (SELECT DISTINCT clip_id, start_s, end_s FROM clips)`))[0] ?? {};
    cards.push(['clips', num(r.n)], ['clip time', secs(n(r.dur))]);
  }
  if (c.views.has('hand_keypoints')) {
    const r = (await q(c.conn, `SELECT count(*)::DOUBLE AS n, count(DISTINCT (clip_id, frame))::DOUBLE AS f FROM hand_keypoints`))[0] ?? {};
    cards.push(['hand detections', num(r.n)], ['clip frames with hands', num(r.f)]);
  }
  if (cards.length) parts.unshift(`<div class="cards">${cards.map(([k, v]) => `<div class="card"><div class="v">${v}</div><div class="k">${esc(k)}</div></div>`).join('')}</div>`);
  if (failed.length) {
    parts.push(`<h3>Failed videos</h3>`);
    parts.push(table([{ head: 'video', cell: (r: Row) => `<span class="mono">${esc(r.path)}</span>` }, { head: 'error', cell: (r: Row) => `<span class="err">${esc(r.error)}</span>` }], failed));
  }
  const counts: Array<{ t: string; rows: number | null; runs: number | null }> = [];
  for (const t of [...c.views].sort()) {
    if (t === 'tasks') continue;
    try {
      const r = (await q(c.conn, `SELECT count(*)::DOUBLE AS n, count(DISTINCT run_id)::INTEGER AS runs FROM "${t}"`))[0] ?? {};
      counts.push({ t, rows: n(r.n), runs: n(r.runs) });
    } catch {
      counts.push({ t, rows: null, runs: null });
    }
  }
  if (counts.length) {
    parts.push(`<h3>Rows per table</h3>`);
    parts.push(table([{ head: 'table', cell: (r) => `<code>${esc(r.t)}</code>` }, { head: 'rows', cls: 'n', cell: (r) => num(r.rows) }, { head: 'runs', cls: 'n', cell: (r) => num(r.runs) }], counts));
  } else parts.push(note('no tables committed yet'));
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// runs

async function loadRuns(c: Ctx): Promise<RunRow[]> {
  if (!c.views.has('runs')) return [];
  const rows = await q(
    c.conn,
    `SELECT run_id, status, recipe_name, recipe_hash, code_version, host, epoch_ms(started_at)::DOUBLE AS t0, epoch_ms(ended_at)::DOUBLE AS t1, counts, models
     FROM runs QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY ended_at DESC NULLS LAST) = 1 ORDER BY started_at DESC`,
  );
  return rows.map((r) => ({
    run_id: String(r.run_id),
    status: s(r.status),
    recipe_name: s(r.recipe_name),
    recipe_hash: s(r.recipe_hash),
    code_version: s(r.code_version),
    host: s(r.host),
    t0: n(r.t0),
    t1: n(r.t1),
    counts: s(r.counts),
    models: s(r.models),
  }));
}

function countsHtml(countsText: string | null): string {
  const counts = parseJson(countsText) as Record<string, unknown> | null;
  if (!counts || typeof counts !== 'object') return note('no counts recorded (run still going, or interrupted before the end)');
  const parts: string[] = [];
  const tasks = counts.tasks as Record<string, Record<string, number>> | undefined;
  if (tasks && typeof tasks === 'object') {
    const states = [...new Set(Object.values(tasks).flatMap((o) => Object.keys(o ?? {})))];
    const order = ['done', 'finished', 'pending', 'running', 'retry', 'dead', 'skipped'];
    states.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
    parts.push(
      table(
        [{ head: 'op', cell: (r: [string, Record<string, number>]) => `<code>${esc(r[0])}</code>` }, ...states.map((st) => ({ head: st, cls: 'n', cell: (r: [string, Record<string, number>]) => (r[1]?.[st] ? `${st === 'dead' ? '<span class="err">' : ''}${num(r[1][st])}${st === 'dead' ? '</span>' : ''}` : '') }))],
        Object.entries(tasks),
      ),
    );
  }
  const rows = counts.rows as Record<string, number> | undefined;
  if (rows && typeof rows === 'object') {
    parts.push(`<div>rows written: ${Object.entries(rows).map(([t, k]) => `<code>${esc(t)}</code> ${num(k)}`).join(' · ') || 'none'}</div>`);
  }
  const rest = Object.entries(counts).filter(([k]) => k !== 'tasks' && k !== 'rows');
  for (const [k, v] of rest) {
    const text = JSON.stringify(v);
    parts.push(`<div>${esc(k)}: <code>${esc(text.length > 600 ? text.slice(0, 600) + '…' : text)}</code></div>`);
  }
  return parts.join('\n');
}

function modelsHtml(modelsText: string | null): string {
  const models = parseJson(modelsText);
  if (!Array.isArray(models) || !models.length) return note('no model files recorded');
  return table(
    [
      { head: 'op', cell: (m: Row) => `<code>${esc(m.op)}</code>` },
      { head: 'model', cell: (m: Row) => esc(m.name) },
      { head: 'sha256', cell: (m: Row) => `<span class="sha">${esc(m.sha256)}</span>` },
      { head: 'size', cls: 'n', cell: (m: Row) => bytes(n(m.bytes ?? m.size)) },
      { head: 'path', cell: (m: Row) => `<span class="mono">${esc(m.path)}</span>` },
    ],
    models as Row[],
  );
}

async function runsSection(c: Ctx): Promise<string> {
  if (!c.runs.length) return note('no runs table in this output');
  const parts: string[] = [];
  const deadOf = (r: RunRow) => {
    const tasks = (parseJson(r.counts) as { tasks?: Record<string, Record<string, number>> } | null)?.tasks;
    return tasks ? Object.values(tasks).reduce((a, o) => a + (o?.dead ?? 0), 0) : null;
  };
  parts.push(
    table(
      [
        { head: 'run', cell: (r: RunRow) => `<a href="#run-${esc(r.run_id)}" class="mono">${esc(r.run_id)}</a>` },
        { head: 'status', cell: (r) => badge(r.status ?? '?') },
        { head: 'recipe', cell: (r) => `${esc(r.recipe_name)} <span class="sha">${esc(r.recipe_hash)}</span>` },
        { head: 'code version', cell: (r) => `<span class="mono">${esc(r.code_version)}</span>` },
        { head: 'started (UTC)', cell: (r) => utc(r.t0) },
        { head: 'ended (UTC)', cell: (r) => utc(r.t1) },
        { head: 'wall time', cls: 'n', cell: (r) => (r.t0 !== null && r.t1 !== null ? secs((r.t1 - r.t0) / 1000) : '–') },
        { head: 'dead', cls: 'n', cell: (r) => num(deadOf(r)) },
      ],
      c.runs,
    ),
  );
  const shown = c.runs.slice(0, 5);
  for (const r of shown) {
    parts.push(`<div class="run" id="run-${esc(r.run_id)}"><h3>Run <span class="mono">${esc(r.run_id)}</span> ${badge(r.status ?? '?')}</h3>`);
    parts.push(
      `<div class="kv"><div>recipe</div><div>${esc(r.recipe_name)} (hash <span class="sha">${esc(r.recipe_hash)}</span>)</div>` +
        `<div>code version</div><div class="mono">${esc(r.code_version)}</div><div>host</div><div>${esc(r.host)}</div>` +
        `<div>started → ended</div><div>${utc(r.t0)} → ${utc(r.t1)}</div></div>`,
    );
    parts.push(`<h3>Tasks and rows</h3>${countsHtml(r.counts)}`);
    parts.push(`<h3>Models and config files</h3>${modelsHtml(r.models)}</div>`);
  }
  if (c.runs.length > shown.length) parts.push(note(`${c.runs.length - shown.length} older run(s) listed in the table above only`));
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// throughput

const BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];

async function throughputSection(c: Ctx): Promise<string> {
  if (!c.views.has('events')) return note('no events table in this output (no task has been committed yet, or it was written by an older egopipe)');
  const parts: string[] = [];
  const opRows = await q(c.conn, `SELECT op, min(ts) AS first FROM events GROUP BY op ORDER BY first`);
  const ops = opRows.map((r) => String(r.op));
  const color = (op: string) => PALETTE[Math.max(0, ops.indexOf(op)) % PALETTE.length]!;
  const spans = await q(
    c.conn,
    `SELECT run_id, min(epoch_ms(ts))::DOUBLE AS t0, max(epoch_ms(ts))::DOUBLE AS t1, count(*)::INTEGER AS n FROM events WHERE event = 'finished' GROUP BY run_id ORDER BY t0 DESC`,
  );
  if (!spans.length) parts.push(note('no finished tasks recorded in events'));
  const runsShown = spans.slice(0, 4);
  for (const sp of runsShown) {
    const runId = String(sp.run_id);
    const run = c.runs.find((r) => r.run_id === runId);
    const startMs = Math.min(n(sp.t0)!, run?.t0 ?? Infinity);
    const spanS = Math.max(1, (n(sp.t1)! - startMs) / 1000);
    const bucket = BUCKETS.find((b) => spanS / b <= 40) ?? 86400;
    const nb = Math.max(1, Math.ceil(spanS / bucket + 1e-9));
    const rows = await q(
      c.conn,
      `SELECT op, floor((epoch_ms(ts) - ${startMs}) / ${bucket * 1000})::INTEGER AS k, count(*)::INTEGER AS n FROM events WHERE event = 'finished' AND run_id = ${sqlString(runId)} GROUP BY op, k`,
    );
    const unit = spanS < 180 ? { name: 's', div: 1 } : spanS < 3 * 3600 ? { name: 'min', div: 60 } : { name: 'h', div: 3600 };
    const rate: Series[] = [];
    const cum: Series[] = [];
    for (const op of ops) {
      const counts = new Array<number>(nb).fill(0);
      let any = false;
      for (const r of rows) {
        if (r.op !== op) continue;
        const k = Math.max(0, Math.min(nb - 1, Number(r.k)));
        counts[k]! += Number(r.n);
        any = true;
      }
      if (!any) continue;
      rate.push({ name: op, color: color(op), points: counts.map((k, i) => [((i + 0.5) * bucket) / unit.div, (k * 60) / bucket]) });
      let acc = 0;
      const pts: Array<[number, number]> = [[0, 0]];
      counts.forEach((k, i) => {
        acc += k;
        pts.push([Math.min(spanS, (i + 1) * bucket) / unit.div, acc]);
      });
      cum.push({ name: op, color: color(op), points: pts });
    }
    parts.push(`<h3>Run <span class="mono">${esc(runId)}</span>: ${num(n(sp.n))} tasks finished in ${secs(spanS)}</h3>`);
    parts.push(
      lineChart(rate, {
        title: `tasks finished per minute, by op (${bucket} s buckets)`,
        xLabel: `time since run start (${unit.name}) — ${bucket} s buckets`,
        yLabel: 'tasks / min',
        xMin: 0,
        xMax: (nb * bucket) / unit.div,
        dots: nb <= 40,
        layered: true,
      }),
    );
    parts.push(lineChart(cum, { title: 'tasks finished so far, by op', xLabel: `time since run start (${unit.name})`, yLabel: 'tasks finished', xMin: 0, xMax: spanS / unit.div, height: 220, dots: false, layered: true }));
  }
  if (spans.length > runsShown.length) parts.push(note(`charts for the ${runsShown.length} most recent runs; ${spans.length - runsShown.length} earlier run(s) are in the table below`));

  const t = await q(
    c.conn,
    `SELECT op, string_agg(DISTINCT pool, ', ') AS pools, count(DISTINCT worker)::INTEGER AS workers,
       count(*) FILTER (WHERE event = 'finished')::INTEGER AS finished, count(*) FILTER (WHERE event = 'retry')::INTEGER AS retries,
       count(*) FILTER (WHERE event = 'dead')::INTEGER AS dead, count(*) FILTER (WHERE event = 'requeued')::INTEGER AS requeued,
       quantile_cont(duration_s, 0.5) FILTER (WHERE event = 'finished') AS med, quantile_cont(duration_s, 0.95) FILTER (WHERE event = 'finished') AS p95,
       max(duration_s) FILTER (WHERE event = 'finished') AS mx, sum(duration_s) AS total, sum(decode_wait_s) AS wait,
       sum(duration_s) FILTER (WHERE decode_wait_s IS NOT NULL) AS wait_base, min(ts) AS first
     FROM events GROUP BY op ORDER BY first`,
  );
  const grand = t.reduce((a, r) => a + (n(r.total) ?? 0), 0);
  parts.push(`<h3>Time per op (all runs)</h3>`);
  parts.push(
    table(
      [
        { head: 'op', cell: (r: Row) => `<code>${esc(r.op)}</code>` },
        { head: 'pool', cell: (r) => esc(r.pools) },
        { head: 'workers', cls: 'n', cell: (r) => num(r.workers) },
        { head: 'finished', cls: 'n', cell: (r) => num(r.finished) },
        { head: 'retries', cls: 'n', cell: (r) => num(r.retries) },
        { head: 'dead', cls: 'n', cell: (r) => (n(r.dead) ? `<span class="err">${num(r.dead)}</span>` : '0') },
        { head: 'requeued', cls: 'n', cell: (r) => num(r.requeued) },
        { head: 'median', cls: 'n', cell: (r) => secs(n(r.med)) },
        { head: 'p95', cls: 'n', cell: (r) => secs(n(r.p95)) },
        { head: 'max', cls: 'n', cell: (r) => secs(n(r.mx)) },
        { head: 'total', cls: 'n', cell: (r) => secs(n(r.total)) },
        {
          head: 'share of task time',
          title: 'total task seconds of this op / all ops',
          cell: (r) => {
            const f = grand > 0 ? (n(r.total) ?? 0) / grand : 0;
            return `<span class="share" style="width:${Math.round(f * 120)}px"></span>${(f * 100).toFixed(1)}%`;
          },
        },
        {
          head: 'decode wait',
          cls: 'n',
          title: 'seconds waiting for decoded frames / task seconds (ops that report it)',
          cell: (r) => {
            const w = n(r.wait);
            const b = n(r.wait_base);
            return w === null || !b ? '–' : `${secs(w)} (${((w / b) * 100).toFixed(1)}%)`;
          },
        },
      ],
      t,
    ),
  );
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// dead letters and alerts

function firstLine(e: string | null): string {
  const l = (e ?? '(no error recorded)').split('\n').find((x) => x.trim()) ?? '';
  return l.length > 300 ? l.slice(0, 299) + '…' : l;
}

function escapeRe(x: string): string {
  return x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The reason of a dead letter with what differs between items of the same cause blanked out (the
 * file's own path and name, pointer addresses, 16-hex ids), so that e.g. every "moov atom not
 * found" lands in one group.
 */
export function errorReason(error: string | null, videoPath: string | null): string {
  let l = firstLine(error);
  if (videoPath) {
    l = l.split(videoPath).join('<video>');
    const base = path.basename(videoPath);
    if (base.length > 3) l = l.replace(new RegExp(escapeRe(base), 'g'), '<video>');
  }
  return l.replace(/0x[0-9a-f]{4,}/gi, '0x…').replace(/\b[0-9a-f]{16}\b/g, '<id>');
}

async function dlqSection(c: Ctx): Promise<string> {
  let dead: DeadLetter[];
  try {
    dead = readDlq(c.out);
  } catch (e) {
    if (e instanceof NoManifestError) return note('no manifest in this output: dead letters unknown');
    throw e;
  }
  if (!dead.length) return `<p>${badge('ok')} no dead-lettered items</p>`;
  const groups = new Map<string, { op: string; error: string; items: DeadLetter[] }>();
  for (const d of dead) {
    const error = errorReason(d.last_error, d.video_path);
    const key = `${d.op}\u0000${error}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { op: d.op, error, items: [] }));
    g.items.push(d);
  }
  const gs = [...groups.values()].sort((a, b) => b.items.length - a.items.length || a.op.localeCompare(b.op));
  const what = (d: DeadLetter) => (d.kind === 'clip' ? `clip ${d.clip_id} of ${path.basename(d.video_path ?? d.video_id)}` : path.basename(d.video_path ?? d.video_id));
  const parts: string[] = [`<p><span class="badge bad">${dead.length} dead-lettered</span> in ${gs.length} group(s) by op and error; <code>egopipe dlq --out …</code> lists them, <code>egopipe run … --retry-dead</code> retries them.</p>`];
  parts.push(
    table(
      [
        { head: 'op', cell: (g: (typeof gs)[number]) => `<code>${esc(g.op)}</code>` },
        { head: 'items', cls: 'n', cell: (g) => num(g.items.length) },
        { head: 'kind', cell: (g) => esc([...new Set(g.items.map((d) => d.kind))].join(', ')) },
        { head: 'permanent', cell: (g) => (g.items.every((d) => d.permanent) ? 'yes' : g.items.some((d) => d.permanent) ? 'some' : 'no') },
        { head: 'attempts', cls: 'n', cell: (g) => num(Math.max(...g.items.map((d) => d.attempts))) },
        { head: 'error', cell: (g) => `<span class="err">${esc(g.error)}</span>` },
        { head: 'examples', cell: (g) => g.items.slice(0, 3).map((d) => `<span class="mono">${esc(what(d))}</span>`).join('<br>') + (g.items.length > 3 ? `<br>… ${g.items.length - 3} more` : '') },
      ],
      gs,
    ),
  );
  const shown = dead.slice(0, 500);
  parts.push(
    `<details><summary>all ${dead.length} dead-lettered item(s)${dead.length > shown.length ? ` (first ${shown.length})` : ''}</summary>` +
      table(
        [
          { head: 'kind', cell: (d: DeadLetter) => esc(d.kind) },
          { head: 'video', cell: (d) => `<span class="mono">${esc(d.video_path ?? d.video_id)}</span>` },
          { head: 'clip', cell: (d) => `<span class="mono">${esc(d.clip_id ?? '')}</span>` },
          { head: 'op', cell: (d) => `<code>${esc(d.op)}</code>` },
          { head: 'attempts', cls: 'n', cell: (d) => num(d.attempts) },
          { head: 'failed at', cell: (d) => esc(d.failed_at ?? '') },
          { head: 'last error', cell: (d) => `<span class="err">${esc(d.last_error)}</span>` },
        ],
        shown,
      ) +
      `</details>`,
  );
  return parts.join('\n');
}

async function alertsSection(c: Ctx): Promise<string> {
  if (!c.views.has('alerts')) return `<p>${badge('ok')} no probe alerts recorded (no <code>alerts</code> table)</p>`;
  const groups = await q(
    c.conn,
    `SELECT probe, op, rule, action, count(*)::INTEGER AS n, min(value) AS vmin, max(value) AS vmax, min(epoch_ms(ts))::DOUBLE AS first, max(epoch_ms(ts))::DOUBLE AS last, any_value(message) AS example
     FROM alerts GROUP BY probe, op, rule, action ORDER BY n DESC, probe`,
  );
  if (!groups.length) return `<p>${badge('ok')} no probe alerts</p>`;
  const parts: string[] = [];
  parts.push(
    table(
      [
        { head: 'probe', cell: (r: Row) => `<b>${esc(r.probe)}</b>` },
        { head: 'op', cell: (r) => `<code>${esc(r.op)}</code>` },
        { head: 'rule', cell: (r) => `<code>${esc(r.rule)}</code>` },
        { head: 'action', cell: (r) => (r.action === 'stop' ? badge('stop') : esc(r.action)) },
        { head: 'alerts', cls: 'n', cell: (r) => num(r.n) },
        { head: 'value range', cls: 'n', cell: (r) => `${num(r.vmin)} … ${num(r.vmax)}` },
        { head: 'first / last (UTC)', cell: (r) => `${utc(n(r.first))}<br>${utc(n(r.last))}` },
        { head: 'example', cell: (r) => esc(r.example) },
      ],
      groups,
    ),
  );
  const all = await q(c.conn, `SELECT epoch_ms(ts)::DOUBLE AS t, probe, op, item_id, value, rule, message, action FROM alerts ORDER BY ts LIMIT 300`);
  parts.push(
    `<details><summary>alerts in time order (first ${all.length})</summary>` +
      table(
        [
          { head: 'time (UTC)', cell: (r: Row) => utc(n(r.t)) },
          { head: 'probe', cell: (r) => esc(r.probe) },
          { head: 'item', cell: (r) => `<span class="mono">${esc(r.item_id)}</span>` },
          { head: 'value', cls: 'n', cell: (r) => num(r.value) },
          { head: 'message', cell: (r) => esc(r.message) },
        ],
        all,
      ) +
      `</details>`,
  );
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// sample frames

interface ClipPick {
  clip_id: string;
  video_id: string;
  start_frame: number;
  end_frame: number;
  scene_index: number | null;
  path: string;
  width: number;
  height: number;
  fps: number | null;
  vfr: boolean;
}

/** Up to `max` clips spread over the videos (round robin), evenly spaced within each video. */
export function pickClips<T extends { video_id: string }>(clips: T[], max: number): T[] {
  const byVideo = new Map<string, T[]>();
  for (const c of clips) {
    let l = byVideo.get(c.video_id);
    if (!l) byVideo.set(c.video_id, (l = []));
    l.push(c);
  }
  let videos = [...byVideo.values()];
  if (max <= 0 || !videos.length) return [];
  if (videos.length > max) videos = Array.from({ length: max }, (_, i) => videos[Math.floor(((i + 0.5) * videos.length) / max)]!);
  const take = videos.map(() => 0);
  let total = 0;
  for (let more = true; more && total < max; ) {
    more = false;
    for (let i = 0; i < videos.length && total < max; i++) {
      if (take[i]! < videos[i]!.length) {
        take[i]!++;
        total++;
        more = true;
      }
    }
  }
  const out: T[] = [];
  videos.forEach((l, i) => {
    const k = take[i]!;
    for (let j = 0; j < k; j++) out.push(l[Math.floor(((j + 0.5) * l.length) / k)]!);
  });
  return out;
}

async function chooseFrame(c: Ctx, clip: ClipPick): Promise<{ frame: number; why: string }> {
  const mid = Math.floor((clip.start_frame + Math.max(clip.start_frame + 1, clip.end_frame) - 1) / 2);
  const where = `clip_id = ${sqlString(clip.clip_id)}`;
  for (const [t, why] of [
    ['hand_keypoints', 'the frame with the most hands nearest the clip middle'],
    ['detections', 'the keyframe with the most detections nearest the clip middle'],
    ['masks', 'the frame with the most object masks nearest the clip middle'],
  ] as const) {
    if (!c.views.has(t)) continue;
    const r = await q(c.conn, `SELECT frame::INTEGER AS frame, count(*)::INTEGER AS k FROM "${t}" WHERE ${where} GROUP BY frame ORDER BY k DESC, abs(frame - ${mid}) ASC, frame LIMIT 1`);
    if (r.length) return { frame: Number(r[0]!.frame), why };
  }
  return { frame: mid, why: 'the clip middle' };
}

async function samplesSection(c: Ctx): Promise<string> {
  if (c.maxClips <= 0) return note('sample frames turned off (maxClips 0)');
  if (!c.views.has('clips') || !c.views.has('videos')) return note('no clips in this output: no sample frames');
  const rows = await q(
    c.conn,
    `WITH v AS (SELECT video_id, arg_max(path, run_id) AS path, arg_max(width, run_id) AS width, arg_max(height, run_id) AS height, arg_max(fps, run_id) AS fps, arg_max(vfr, run_id) AS vfr, arg_max(status, run_id) AS status FROM videos GROUP BY video_id),
          cl AS (SELECT DISTINCT ON (clip_id) clip_id, video_id, scene_index, start_frame, end_frame FROM clips)
     SELECT cl.clip_id, cl.video_id, cl.scene_index::INTEGER AS scene_index, cl.start_frame::INTEGER AS start_frame, cl.end_frame::INTEGER AS end_frame, v.path, v.width::INTEGER AS width, v.height::INTEGER AS height, v.fps, v.vfr
     FROM cl JOIN v USING (video_id) WHERE v.status = 'ok' AND v.width > 0 AND v.height > 0 ORDER BY v.path, cl.video_id, cl.start_frame`,
  );
  const clips: ClipPick[] = rows.map((r) => ({
    clip_id: String(r.clip_id),
    video_id: String(r.video_id),
    start_frame: Number(r.start_frame),
    end_frame: Number(r.end_frame),
    scene_index: n(r.scene_index),
    path: String(r.path),
    width: Number(r.width),
    height: Number(r.height),
    fps: n(r.fps),
    vfr: r.vfr === true,
  }));
  if (!clips.length) return note('no clips of successfully processed videos: no sample frames');
  const picks = pickClips(clips, c.maxClips);
  const has = (t: string) => c.views.has(t);
  const parts: string[] = [];
  const layers = [
    has('hand_masks') ? 'hand masks (tinted: orange right, blue left)' : null,
    has('hand_keypoints') ? 'hand keypoints and skeleton (bones coloured by finger)' : null,
    has('hand_pose_3d') ? '3D hand pose projected (open circles)' : null,
    has('masks') ? 'object masks' : null,
    has('detections') ? 'detection boxes' : null,
  ].filter(Boolean);
  parts.push(
    `<p>${picks.length} of ${clips.length} clip(s), spread over the videos. Overlays: ${layers.length ? esc(layers.join('; ')) : 'none (no per-frame tables in this output)'}.</p>`,
  );
  const missing: string[] = [];
  if (!has('hand_keypoints')) missing.push('no hand keypoints in this output');
  if (!has('hand_masks')) missing.push('no hand masks in this output');
  if (!has('robot_joints')) missing.push('no robot joints in this output');
  if (!has('detections') && !has('masks')) missing.push('no object detections or masks in this output');
  if (missing.length) parts.push(note(missing.join(' · ')));
  for (const clip of picks) parts.push(await sampleHtml(c, clip));
  return parts.join('\n');
}

const OBJECT_RGB: Array<[number, number, number]> = [
  [46, 204, 113],
  [231, 76, 60],
  [155, 89, 182],
  [241, 196, 15],
  [26, 188, 156],
  [230, 126, 34],
];

function labelColor(label: string): [number, number, number] {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return OBJECT_RGB[h % OBJECT_RGB.length]!;
}

async function sampleHtml(c: Ctx, clip: ClipPick): Promise<string> {
  const { frame, why } = await chooseFrame(c, clip);
  const where = `clip_id = ${sqlString(clip.clip_id)} AND frame = ${frame}`;
  const has = (t: string) => c.views.has(t);
  const notes: string[] = [];
  const ov: Overlay = { hands: [], masks: [], boxes: [], points: [] };
  const tryRows = async (t: string, sql: string): Promise<Row[]> => {
    if (!has(t)) return [];
    try {
      return await q(c.conn, sql);
    } catch (e) {
      notes.push(`could not read ${t}: ${(e as Error).message.split('\n')[0]}`);
      return [];
    }
  };
  const hands = await tryRows('hand_keypoints', `SELECT hand_index::INTEGER AS hand_index, handedness, handedness_score::DOUBLE AS score, presence::DOUBLE AS presence, kp2d FROM hand_keypoints WHERE ${where} ORDER BY hand_index`);
  for (const h of hands) ov.hands.push({ handIndex: Number(h.hand_index), handedness: s(h.handedness), score: n(h.score), kp2d: nums(h.kp2d) });
  const hm = await tryRows('hand_masks', `SELECT hand_index::INTEGER AS hand_index, handedness, rle_counts, height::INTEGER AS height, width::INTEGER AS width, area::DOUBLE AS area FROM hand_masks WHERE ${where} ORDER BY hand_index`);
  for (const m of hm) if (m.rle_counts) ov.masks.push({ label: `hand ${m.hand_index}`, color: handRgb(s(m.handedness)), counts: String(m.rle_counts), height: Number(m.height), width: Number(m.width) });
  const om = await tryRows('masks', `SELECT object_id, label, score::DOUBLE AS score, rle_counts, height::INTEGER AS height, width::INTEGER AS width FROM masks WHERE ${where}`);
  for (const m of om) if (m.rle_counts) ov.masks.push({ label: String(m.label ?? m.object_id), color: labelColor(String(m.label ?? m.object_id)), counts: String(m.rle_counts), height: Number(m.height), width: Number(m.width) });
  const det = await tryRows('detections', `SELECT label, score::DOUBLE AS score, bbox, rle_counts, height::INTEGER AS height, width::INTEGER AS width FROM detections WHERE ${where} ORDER BY score DESC`);
  for (const d of det) {
    const col = labelColor(String(d.label));
    ov.boxes.push({ label: String(d.label), score: n(d.score), bbox: nums(d.bbox), color: rgbHex(col) });
    if (d.rle_counts && !has('masks')) ov.masks.push({ label: String(d.label), color: col, counts: String(d.rle_counts), height: Number(d.height), width: Number(d.width) });
  }
  const p3 = await tryRows('hand_pose_3d', `SELECT hand_index::INTEGER AS hand_index, handedness, joints_2d FROM hand_pose_3d WHERE ${where}`);
  for (const p of p3) ov.points.push({ label: `3d hand ${p.hand_index}`, pts: nums(p.joints_2d), color: '#ffffff' });
  const rj = await tryRows('robot_joints', `SELECT hand_index::INTEGER AS hand_index, handedness, robot, joint_names, q, residual::DOUBLE AS residual FROM robot_joints WHERE ${where} ORDER BY hand_index, robot`);

  // the image
  let img = '';
  const file = path.resolve(clip.path);
  if (!fs.existsSync(file)) notes.push(`video file not found: ${clip.path}`);
  else {
    let raw: RawFrame | null = null;
    try {
      raw = await decodeOneFrame(file, frame, clip.width, clip.height, clip.vfr ? null : clip.fps);
    } catch (e) {
      notes.push(`could not decode frame ${frame}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (raw) {
      const { png, skippedMasks } = await renderFrame(raw, ov);
      if (skippedMasks) notes.push(`${skippedMasks} mask(s) not drawn: their size differs from the frame`);
      const name = `frame-${clip.clip_id.replace(/[^A-Za-z0-9_-]/g, '_')}-${frame}.png`;
      let src: string;
      if (c.inline) src = `data:image/png;base64,${png.toString('base64')}`;
      else {
        fs.writeFileSync(path.join(c.tmp, name), png);
        c.pngs.push(name);
        src = name;
      }
      img = `<img src="${esc(src)}" width="${raw.width}" height="${raw.height}" alt="${esc(`frame ${frame} of clip ${clip.clip_id} with overlays`)}" loading="lazy">`;
    }
  }
  const t = clip.fps ? ` (${(frame / clip.fps).toFixed(2)} s)` : '';
  const caption =
    `<b>${esc(path.basename(clip.path))}</b> · clip <span class="mono">${esc(clip.clip_id)}</span> (frames ${clip.start_frame}–${clip.end_frame - 1}) · ` +
    `frame ${frame}${t}, ${esc(why)}${has('hand_keypoints') ? ` · ${hands.length} hand(s)` : ''}${det.length ? `, ${det.length} detection(s)` : ''}${om.length ? `, ${om.length} object mask(s)` : ''}`;
  const side: string[] = [];
  const len = clip.end_frame - clip.start_frame;
  side.push(
    `<div class="kv"><div>video</div><div class="mono">${esc(clip.path)}</div>` +
      `<div>size</div><div>${clip.width}×${clip.height}${clip.fps ? ` @ ${num(clip.fps)} fps${clip.vfr ? ' (variable)' : ''}` : ''}</div>` +
      `<div>clip</div><div>scene ${num(clip.scene_index)}, ${len} frame(s)${clip.fps ? `, ${secs(len / clip.fps)}` : ''}</div></div>`,
  );
  if (has('hand_keypoints')) {
    if (hands.length) {
      side.push(
        table(
          [
            { head: 'hand', cell: (h: Row) => `<span style="color:${rgbHex(handRgb(s(h.handedness)))}">■</span> #${esc(h.hand_index)}` },
            { head: 'side', cell: (h) => esc(h.handedness) },
            { head: 'side score', cls: 'n', cell: (h) => num(h.score) },
            { head: 'presence', cls: 'n', cell: (h) => num(h.presence) },
            { head: 'mask px', cls: 'n', cell: (h) => num(hm.find((m) => m.hand_index === h.hand_index)?.area ?? null) },
          ],
          hands,
        ),
      );
    } else side.push(note('no hands detected in this clip'));
  }
  if (has('robot_joints')) {
    if (!rj.length) side.push(note('no robot joints for this frame'));
    for (const [i, r] of rj.slice(0, 4).entries()) {
      const names = Array.isArray(r.joint_names) ? (r.joint_names as unknown[]).map(String) : [];
      const qv = nums(r.q);
      const col = rgbHex(handRgb(s(r.handedness)));
      side.push(
        barChart(
          qv.map((v, k) => ({ label: names[k] ?? `q${k}`, value: v })),
          { title: `${r.robot} · hand #${r.hand_index} (${r.handedness ?? '?'}) · residual ${num(r.residual)}`, color: col, unit: 'rad / m' },
        ),
      );
      if (i === 0) {
        const traj = await tryRows(
          'robot_joints',
          `SELECT frame::INTEGER AS frame, q FROM robot_joints WHERE clip_id = ${sqlString(clip.clip_id)} AND hand_index = ${Number(r.hand_index)} AND robot = ${sqlString(String(r.robot))} ORDER BY frame`,
        );
        if (traj.length > 1) {
          const series: Series[] = qv.map((_, k) => ({ name: names[k] ?? `q${k}`, points: traj.map((tr) => [Number(tr.frame), nums(tr.q)[k] ?? NaN] as [number, number]).filter((p) => Number.isFinite(p[1])) }));
          side.push(
            `<div class="note">${esc(String(r.robot))} joints over the clip (hand #${esc(r.hand_index)}); dashed line = this frame</div>` +
              lineChart(series, { width: 440, height: 180, xLabel: 'frame', yLabel: 'rad / m', marker: frame, legend: false, dots: false, strokeWidth: 1.4, xMin: clip.start_frame, xMax: clip.end_frame - 1, yMin: Math.min(0, ...series.flatMap((x) => x.points.map((p) => p[1]))) }),
          );
        }
      }
    }
    if (rj.length > 4) side.push(note(`${rj.length - 4} more robot row(s) for this frame not drawn`));
  }
  if (det.length) {
    side.push(
      table(
        [
          { head: 'detection', cell: (d: Row) => `<span style="color:${rgbHex(labelColor(String(d.label)))}">■</span> ${esc(d.label)}` },
          { head: 'score', cls: 'n', cell: (d) => num(d.score) },
          { head: 'box x0,y0,x1,y1', cell: (d) => `<span class="mono">${nums(d.bbox).map((v) => v.toFixed(0)).join(', ')}</span>` },
        ],
        det,
      ),
    );
  }
  for (const t of notes) side.push(`<p class="err">${esc(t)}</p>`);
  return `<div class="sample"><figure>${img || note('no image')}<figcaption>${caption}</figcaption></figure><div class="side">${side.join('\n')}</div></div>`;
}

// ---------------------------------------------------------------------------------------------
// the page

function isReportDir(dir: string): boolean {
  const entries = fs.readdirSync(dir);
  if (!entries.length) return true;
  const index = path.join(dir, 'index.html');
  if (!fs.existsSync(index)) return false;
  const head = fs.readFileSync(index, 'utf8').slice(0, 2000);
  return head.includes(`<meta name="generator" content="${GENERATOR}`);
}

export async function writeReport(outDir: string, opts: ReportOptions = {}): Promise<ReportResult> {
  const out = path.resolve(outDir);
  if (!fs.existsSync(out) || !fs.statSync(out).isDirectory()) throw new NoManifestError(`no such output folder: ${outDir}`);
  const tables = tableDirs(out);
  if (!fs.existsSync(Manifest.pathIn(out)) && !tables.length) {
    throw new NoManifestError(`no egopipe output in ${outDir} (no manifest.sqlite and no tables); run 'egopipe run <recipe> --input ... --out ${outDir}' first`);
  }
  const dest = path.resolve(opts.dest ?? path.join(out, 'report'));
  if (dest === out || out.startsWith(dest + path.sep)) throw new ReportError(`--dest ${dest} would replace the output folder itself`);
  if (fs.existsSync(dest)) {
    if (!fs.statSync(dest).isDirectory()) throw new ReportError(`--dest ${dest} exists and is not a folder`);
    if (!isReportDir(dest)) throw new ReportError(`--dest ${dest} exists and does not hold an egopipe report; refusing to replace it`);
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(dest), `.${path.basename(dest)}.tmp-`));
  try {
    const { conn, views, close } = await openOutputs(out);
    let body: string[];
    const c: Ctx = { conn, views: new Set(views), out, tmp, inline: !!opts.inline, maxClips: Math.max(0, Math.floor(opts.maxClips ?? 6)), pngs: [], runs: [] };
    try {
      c.runs = await loadRuns(c).catch(() => []);
      body = [
        await safe('overview', 'Overview', () => overviewSection(c)),
        await safe('runs', 'Runs', () => runsSection(c)),
        await safe('throughput', 'Throughput and time per op', () => throughputSection(c)),
        await safe('dead-letters', 'Dead letters', () => dlqSection(c)),
        await safe('alerts', 'Probe alerts', () => alertsSection(c)),
        await safe('samples', 'Sample frames', () => samplesSection(c)),
      ];
    } finally {
      close();
    }
    const last = c.runs[0];
    const generated = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="${GENERATOR} ${esc(version())}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>egopipe report — ${esc(path.basename(out))}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>egopipe report: ${esc(path.basename(out))}</h1>
<div class="sub">output <span class="mono">${esc(out)}</span> · ${c.runs.length} run(s)${last ? ` · last run <span class="mono">${esc(last.run_id)}</span> ${esc(last.status ?? '')}` : ''} · generated ${esc(generated)} by egopipe ${esc(version())}</div></header>
<nav><a href="#overview">Overview</a><a href="#runs">Runs</a><a href="#throughput">Throughput</a><a href="#dead-letters">Dead letters</a><a href="#alerts">Alerts</a><a href="#samples">Sample frames</a></nav>
<main>
${body.join('\n')}
</main>
</body>
</html>
`;
    fs.writeFileSync(path.join(tmp, 'index.html'), html);
    // swap into place: the old report (if any) moves aside, the new one is renamed in, the old one goes
    let old: string | null = null;
    if (fs.existsSync(dest)) {
      old = path.join(path.dirname(dest), `.${path.basename(dest)}.old-${process.pid}-${Date.now()}`);
      fs.renameSync(dest, old);
    }
    try {
      fs.renameSync(tmp, dest);
    } catch (e) {
      if (old) fs.renameSync(old, dest);
      throw e;
    }
    if (old) fs.rmSync(old, { recursive: true, force: true });
    return { html: path.join(dest, 'index.html'), pngs: c.pngs.map((p) => path.join(dest, p)) };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface ReportCommandOptions extends ReportOptions {
  out: string;
  /** where the path goes (default stdout) */
  log?: (line: string) => void;
}

/** `egopipe report --out <dir> [--dest <dir>] [--inline] [--max-clips N]`: writes the report, prints the index.html path. */
export async function reportCommand(opts: ReportCommandOptions): Promise<ReportResult> {
  const r = await writeReport(opts.out, { dest: opts.dest, inline: opts.inline, maxClips: opts.maxClips });
  (opts.log ?? ((l: string) => process.stdout.write(l + '\n')))(r.html);
  return r;
}
