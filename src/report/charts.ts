/**
 * Inline SVG charts for the report, drawn by hand (no chart library, no JavaScript): a line chart
 * (throughput over time, joint trajectories) and a horizontal bar chart (joint values of one frame).
 */
import { esc } from './html.js';

export const PALETTE = ['#2f6fde', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a', '#0b7285', '#f08c00', '#5c5f66', '#d6336c', '#364fc7', '#74b816', '#862e9c'];

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : +v.toPrecision(12));
  return out;
}

function fmtTick(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(+v.toPrecision(3));
}

export interface Series {
  name: string;
  color?: string;
  /** [x, y] in data units, sorted by x */
  points: Array<[number, number]>;
  dashed?: boolean;
}

export interface LineChartOptions {
  width?: number;
  height?: number;
  xLabel?: string;
  yLabel?: string;
  /** x domain; default: the data's */
  xMin?: number;
  xMax?: number;
  /** y domain lower bound (default 0 when all y ≥ 0) */
  yMin?: number;
  yMax?: number;
  /** a vertical marker line at this x */
  marker?: number;
  /** dots on the points (default: when every series has ≤ 40 points) */
  dots?: boolean;
  title?: string;
  /** draw the legend above the plot (default true) */
  legend?: boolean;
  /** earlier series drawn thicker, so that lines lying on top of each other stay visible */
  layered?: boolean;
  strokeWidth?: number;
}

export function lineChart(series: Series[], o: LineChartOptions = {}): string {
  const W = o.width ?? 760;
  const H = o.height ?? 260;
  const legend = o.legend ?? true;
  const legendRows = legend ? Math.ceil(series.length / Math.max(1, Math.floor((W - 60) / 150))) : 0;
  const top = 10 + legendRows * 16;
  const m = { l: 56, r: 16, t: top + 6, b: 40 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let x0 = o.xMin ?? (xs.length ? Math.min(...xs) : 0);
  let x1 = o.xMax ?? (xs.length ? Math.max(...xs) : 1);
  if (x1 <= x0) x1 = x0 + 1;
  const ylo = ys.length ? Math.min(...ys) : 0;
  const yhi = ys.length ? Math.max(...ys) : 1;
  let y0 = o.yMin ?? (ylo >= 0 ? 0 : ylo);
  let y1 = o.yMax ?? yhi;
  if (y1 <= y0) y1 = y0 + (Math.abs(y0) > 0 ? Math.abs(y0) * 0.1 : 1);
  const yt = niceTicks(y0, y1, 5);
  if (o.yMin === undefined && yt.length) y0 = Math.min(y0, yt[0]!);
  if (o.yMax === undefined && yt.length) y1 = Math.max(y1, yt[yt.length - 1]!);
  const xt = niceTicks(x0, x1, 8).filter((v) => v >= x0 - 1e-9 && v <= x1 + 1e-9);
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img"${o.title ? ` aria-label="${esc(o.title)}"` : ''}>`);
  if (o.title) parts.push(`<title>${esc(o.title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  for (const v of yt) {
    if (v < y0 - 1e-9 || v > y1 + 1e-9) continue;
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${f(sy(v))}" y2="${f(sy(v))}" stroke="${v === 0 ? '#9aa5b1' : '#e6eaef'}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${f(sy(v) + 4)}" font-size="11" text-anchor="end" fill="#5f6b7a">${esc(fmtTick(v))}</text>`);
  }
  for (const v of xt) {
    parts.push(`<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#9aa5b1"/>`);
    parts.push(`<text x="${f(sx(v))}" y="${m.t + ph + 16}" font-size="11" text-anchor="middle" fill="#5f6b7a">${esc(fmtTick(v))}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#c9d1da"/>`);
  if (o.xLabel) parts.push(`<text x="${m.l + pw / 2}" y="${H - 6}" font-size="12" text-anchor="middle" fill="#394656">${esc(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#394656">${esc(o.yLabel)}</text>`);
  if (o.marker !== undefined && o.marker >= x0 && o.marker <= x1) {
    parts.push(`<line x1="${f(sx(o.marker))}" x2="${f(sx(o.marker))}" y1="${m.t}" y2="${m.t + ph}" stroke="#1d232b" stroke-dasharray="4 3"/>`);
  }
  const dots = o.dots ?? series.every((s) => s.points.length <= 40);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    if (!s.points.length) return;
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${f(sx(p[0]))},${f(sy(p[1]))}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${(o.layered && series.length > 1 ? 1.6 + (2.8 * (series.length - 1 - i)) / (series.length - 1) : (o.strokeWidth ?? 2)).toFixed(1)}" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="5 3"' : ''}><title>${esc(s.name)}</title></path>`);
    if (dots) for (const p of s.points) parts.push(`<circle cx="${f(sx(p[0]))}" cy="${f(sy(p[1]))}" r="2.6" fill="${color}"><title>${esc(`${s.name}: ${fmtTick(p[1])} at ${fmtTick(p[0])}`)}</title></circle>`);
  });
  if (legend) {
    const per = Math.max(1, Math.floor((W - 60) / 150));
    series.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length];
      const lx = m.l + (i % per) * 150;
      const ly = 12 + Math.floor(i / per) * 16;
      parts.push(`<rect x="${lx}" y="${ly - 6}" width="14" height="4" fill="${color}"/>`);
      parts.push(`<text x="${lx + 19}" y="${ly}" font-size="12" fill="#1d232b">${esc(s.name.length > 22 ? s.name.slice(0, 21) + '…' : s.name)}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Bar {
  label: string;
  value: number;
}

/** Horizontal bars around a zero line, one per joint; values in rad (or m). */
export function barChart(bars: Bar[], o: { width?: number; title?: string; color?: string; domain?: [number, number]; unit?: string } = {}): string {
  const W = o.width ?? 440;
  const rowH = 16;
  const labelW = 96;
  const valueW = 58;
  const top = o.title ? 24 : 8;
  const axisH = 22;
  const H = top + bars.length * rowH + axisH;
  const vals = bars.map((b) => b.value).filter(Number.isFinite);
  let [lo, hi] = o.domain ?? [Math.min(0, ...vals), Math.max(0, ...vals)];
  if (hi - lo < 1e-6) hi = lo + 1;
  const ticks = niceTicks(lo, hi, 4);
  lo = Math.min(lo, ticks[0] ?? lo);
  hi = Math.max(hi, ticks[ticks.length - 1] ?? hi);
  const px0 = labelW;
  const pw = W - labelW - valueW;
  const sx = (v: number) => px0 + ((v - lo) / (hi - lo)) * pw;
  const f = (v: number) => v.toFixed(1);
  const color = o.color ?? PALETTE[0];
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img"${o.title ? ` aria-label="${esc(o.title)}"` : ''}>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  if (o.title) parts.push(`<text x="4" y="15" font-size="12" font-weight="600" fill="#1d232b">${esc(o.title)}</text>`);
  for (const t of ticks) {
    parts.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${top - 2}" y2="${top + bars.length * rowH}" stroke="${t === 0 ? '#6b7785' : '#e6eaef'}"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${top + bars.length * rowH + 14}" font-size="10" text-anchor="middle" fill="#5f6b7a">${esc(fmtTick(t))}</text>`);
  }
  if (o.unit) parts.push(`<text x="${W - 4}" y="${top + bars.length * rowH + 14}" font-size="10" text-anchor="end" fill="#5f6b7a">${esc(o.unit)}</text>`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const v = Number.isFinite(b.value) ? Math.max(lo, Math.min(hi, b.value)) : 0;
    const a = sx(Math.min(0, v));
    const w = Math.max(0.8, Math.abs(sx(v) - sx(0)));
    parts.push(`<text x="${labelW - 6}" y="${y + 12}" font-size="11" text-anchor="end" fill="#394656">${esc(b.label.length > 14 ? b.label.slice(0, 13) + '…' : b.label)}</text>`);
    parts.push(`<rect x="${f(a)}" y="${y + 3}" width="${f(w)}" height="${rowH - 6}" fill="${color}" opacity="${b.value < 0 ? 0.6 : 0.9}"><title>${esc(`${b.label}: ${b.value}`)}</title></rect>`);
    parts.push(`<text x="${W - 4}" y="${y + 12}" font-size="11" text-anchor="end" fill="#1d232b" font-family="DejaVu Sans Mono,monospace">${esc(Number.isFinite(b.value) ? b.value.toFixed(3) : 'n/a')}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
