/** Small HTML helpers for the report: escaping, number/time formatting, tables. */

export function esc(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number with a sensible number of digits; '–' for null/NaN. */
export function num(v: unknown, digits = 3): string {
  if (v === null || v === undefined || v === '') return '–';
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) return esc(v);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(1);
  return n.toPrecision(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** Seconds as "0.42 s", "12.3 s", "4m 05s", "2h 03m". */
export function secs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v < 1) return `${v.toFixed(3)} s`;
  if (v < 60) return `${v.toFixed(v < 10 ? 2 : 1)} s`;
  if (v < 3600) return `${Math.floor(v / 60)}m ${String(Math.round(v % 60)).padStart(2, '0')}s`;
  return `${Math.floor(v / 3600)}h ${String(Math.floor((v % 3600) / 60)).padStart(2, '0')}m`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** ISO-ish UTC time from epoch milliseconds. */
export function utc(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export interface Col<R> {
  head: string;
  /** already-escaped HTML for the cell */
  cell: (r: R) => string;
  cls?: string;
  title?: string;
}

/** A table; cell functions return HTML (escape what comes from data). */
export function table<R>(cols: Col<R>[], rows: R[], cls = ''): string {
  const th = cols.map((c) => `<th${c.cls ? ` class="${c.cls}"` : ''}${c.title ? ` title="${esc(c.title)}"` : ''}>${esc(c.head)}</th>`).join('');
  const body = rows.map((r) => `<tr>${cols.map((c) => `<td${c.cls ? ` class="${c.cls}"` : ''}>${c.cell(r)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export function note(text: string): string {
  return `<p class="note">${esc(text)}</p>`;
}

export function badge(status: string): string {
  const kind = /^(ok|finished|done)$/.test(status) ? 'ok' : /dead|interrupted|running|retry|warn/.test(status) ? 'warn' : /fail|error|stop/.test(status) ? 'bad' : 'info';
  return `<span class="badge ${kind}">${esc(status)}</span>`;
}

export const CSS = `
:root { --fg:#1d232b; --muted:#5f6b7a; --line:#dde3ea; --bg:#f6f8fa; --card:#fff; --accent:#2f6fde; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { background:#18202b; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:22px; }
header .sub { color:#b8c2cf; font-size:13px; }
nav { position:sticky; top:0; z-index:2; background:#fff; border-bottom:1px solid var(--line); padding:8px 28px; }
nav a { margin-right:16px; color:var(--accent); text-decoration:none; font-weight:500; }
main { padding:8px 28px 40px; max-width:1500px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 20px 18px; margin:18px 0; }
h2 { font-size:18px; margin:2px 0 12px; }
h3 { font-size:15px; margin:16px 0 8px; }
table { border-collapse:collapse; margin:6px 0 10px; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
th { background:#f0f3f6; font-weight:600; white-space:nowrap; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
code, .mono { font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace; font-size:12px; }
.sha { font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace; font-size:11px; word-break:break-all; color:#394656; }
.note { color:var(--muted); font-style:italic; margin:6px 0; }
.err { color:#a4161a; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.badge.ok { background:#dcf5e3; color:#14692f; } .badge.warn { background:#fff1cc; color:#8a5a00; }
.badge.bad { background:#fde0e0; color:#a4161a; } .badge.info { background:#e4ecfb; color:#244a8f; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:4px 0 12px; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 16px; min-width:130px; background:#fbfcfd; }
.card .v { font-size:24px; font-weight:650; } .card .k { color:var(--muted); font-size:12px; }
.run { border-top:1px solid var(--line); padding-top:10px; margin-top:10px; }
.run:first-of-type { border-top:none; margin-top:0; }
.kv { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:6px 0 10px; }
.kv div:nth-child(odd) { color:var(--muted); }
.share { display:inline-block; height:8px; background:var(--accent); border-radius:2px; vertical-align:middle; margin-right:6px; }
.sample { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; border-top:1px solid var(--line); padding-top:14px; margin-top:14px; }
.sample:first-of-type { border-top:none; margin-top:0; }
.sample figure { margin:0; flex:1 1 640px; max-width:900px; }
.sample img { max-width:100%; height:auto; border-radius:4px; border:1px solid var(--line); display:block; }
.sample figcaption { color:var(--muted); font-size:12px; margin-top:4px; }
.sample .side { flex:0 1 460px; min-width:320px; }
.legend span { display:inline-block; margin-right:12px; font-size:12px; }
.legend i { display:inline-block; width:12px; height:12px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
details summary { cursor:pointer; color:var(--accent); margin:4px 0; }
svg text { font-family:system-ui,"DejaVu Sans",sans-serif; }
`;
