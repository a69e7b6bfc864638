/**
 * Data-quality probes declared in the recipe (`probes:`): a statistic of an op's output per item
 * (clip or video) and a rule over the stream of items, e.g. "alert if 200 consecutive clips have
 * zero detections" or "rolling mean residual above 0.05". An alert is logged, counted as a metric,
 * written to the `alerts` table and listed in the run summary; `action: stop` also stops the run.
 */
import type { ParamsSchema, Row, TableSpec } from '../operators/types.js';

export interface ProbeSpec {
  name: string;
  op: string;
  table?: string;
  /** rows | mean:<col> | max:<col> | min:<col> | sum:<col> | null_frac:<col> */
  stat: string;
  alert: { consecutive_zero?: number; above?: number; below?: number; mean_above?: number; mean_below?: number; window?: number };
  action: 'log' | 'stop';
}

export const PROBE_SCHEMA: ParamsSchema = {
  name: { type: 'string', required: true, description: 'probe name (metrics label, alerts table)' },
  op: { type: 'string', required: true, description: 'op whose output rows are measured, per item' },
  table: { type: 'string', description: "output table of the op (default: the op's only table)" },
  stat: { type: 'string', default: 'rows', description: 'rows | mean:<column> | max:<column> | min:<column> | sum:<column> | null_frac:<column>' },
  alert: { type: 'object', required: true, description: 'consecutive_zero: N | above: x | below: x | mean_above: x | mean_below: x (with window: N items)' },
  action: { type: 'enum', values: ['log', 'stop'], default: 'log', description: 'log the alert, or also stop the run' },
};

export const alertsTable: TableSpec = {
  name: 'alerts',
  description: 'Data-quality probe alerts (recipe probes:).',
  columns: { ts: 'TIMESTAMP', probe: 'VARCHAR', op: 'VARCHAR', item_id: 'VARCHAR', value: 'DOUBLE', rule: 'VARCHAR', message: 'VARCHAR', action: 'VARCHAR' },
  docs: {
    ts: 'UTC time of the alert',
    probe: 'probe name',
    item_id: 'clip or video id whose result triggered it',
    value: 'the statistic (or rolling mean) that crossed the rule',
    rule: 'the rule, e.g. consecutive_zero=200',
    action: 'log or stop',
  },
};

export function checkProbe(p: Record<string, unknown>): string[] {
  const errs: string[] = [];
  const stat = String(p.stat ?? 'rows');
  if (stat !== 'rows' && !/^(mean|max|min|sum|null_frac):[A-Za-z_][A-Za-z0-9_]*$/.test(stat)) {
    errs.push(`stat: "${stat}" is not rows or <mean|max|min|sum|null_frac>:<column>`);
  }
  const a = (p.alert ?? {}) as Record<string, unknown>;
  const keys = Object.keys(a).filter((k) => k !== 'window');
  const known = ['consecutive_zero', 'above', 'below', 'mean_above', 'mean_below'];
  if (keys.length !== 1 || !known.includes(keys[0])) errs.push(`alert: exactly one of ${known.join(', ')} (plus window: N for mean_*), got ${JSON.stringify(a)}`);
  for (const [k, v] of Object.entries(a)) if (typeof v !== 'number' || !Number.isFinite(v)) errs.push(`alert.${k}: expected a number`);
  return errs;
}

function statOf(rows: Row[], stat: string): number {
  if (stat === 'rows') return rows.length;
  const [fn, col] = stat.split(':');
  const vals = rows.map((r) => r[col]);
  if (fn === 'null_frac') return rows.length ? vals.filter((v) => v === null || v === undefined).length / rows.length : 0;
  const nums = vals.map(Number).filter(Number.isFinite);
  if (!nums.length) return NaN;
  if (fn === 'mean') return nums.reduce((a, b) => a + b, 0) / nums.length;
  if (fn === 'sum') return nums.reduce((a, b) => a + b, 0);
  if (fn === 'max') return Math.max(...nums);
  return Math.min(...nums);
}

export interface Alert {
  probe: string;
  op: string;
  item_id: string;
  value: number;
  rule: string;
  message: string;
  action: 'log' | 'stop';
}

export class Probe {
  private zeros = 0;
  private window: number[] = [];
  private firing = false;

  constructor(readonly spec: ProbeSpec) {}

  /** Feed one item's output; returns an alert when the rule starts to hold (not on every item). */
  observe(itemId: string, rows: Row[]): Alert | null {
    const v = statOf(rows, this.spec.stat);
    const a = this.spec.alert;
    let hit = false;
    let rule = '';
    let value = v;
    if (a.consecutive_zero !== undefined) {
      this.zeros = v === 0 ? this.zeros + 1 : 0;
      hit = this.zeros >= a.consecutive_zero;
      rule = `consecutive_zero=${a.consecutive_zero}`;
      value = this.zeros;
    } else if (a.above !== undefined || a.below !== undefined) {
      hit = Number.isFinite(v) && (a.above !== undefined ? v > a.above : v < a.below!);
      rule = a.above !== undefined ? `above=${a.above}` : `below=${a.below}`;
    } else {
      if (Number.isFinite(v)) this.window.push(v);
      const w = a.window ?? 100;
      if (this.window.length > w) this.window.shift();
      value = this.window.reduce((x, y) => x + y, 0) / Math.max(1, this.window.length);
      hit = this.window.length >= w && (a.mean_above !== undefined ? value > a.mean_above : value < a.mean_below!);
      rule = a.mean_above !== undefined ? `mean_above=${a.mean_above} over ${w}` : `mean_below=${a.mean_below} over ${w}`;
    }
    const fire = hit && !this.firing;
    this.firing = hit;
    if (!fire) return null;
    return {
      probe: this.spec.name,
      op: this.spec.op,
      item_id: itemId,
      value,
      rule,
      action: this.spec.action,
      message: `probe "${this.spec.name}": ${this.spec.stat} of ${this.spec.op} ${rule} (value ${Number.isFinite(value) ? +value.toFixed(6) : value}) at ${itemId}`,
    };
  }
}
