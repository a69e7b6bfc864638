/** Validation of declared parameters (operators/types.ts ParamSpec) against recipe values. */
import type { ParamSpec, ParamsSchema } from '../operators/types.js';

export interface FieldError {
  /** dotted path into the recipe, e.g. ops[1].params.threshold */
  path: string;
  /** path segments for locating the YAML node */
  segments: Array<string | number>;
  message: string;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `"${v}"`;
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${String(v)}`;
}

export function pathString(segments: Array<string | number>): string {
  let s = '';
  for (const seg of segments) s += typeof seg === 'number' ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}

/** Check one value against its spec; returns an error message or null. */
export function checkValue(spec: ParamSpec, v: unknown): string | null {
  if (spec.orString !== undefined && v === spec.orString) return null;
  const expect = (what: string) =>
    `expected ${what}${spec.orString ? ` or "${spec.orString}"` : ''}, got ${typeName(v)}`;
  switch (spec.type) {
    case 'number':
    case 'integer': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return expect(spec.type === 'integer' ? 'an integer' : 'a number');
      if (spec.type === 'integer' && !Number.isInteger(v)) return expect('an integer');
      if (spec.min !== undefined && v < spec.min) return `must be >= ${spec.min}, got ${v}`;
      if (spec.max !== undefined && v > spec.max) return `must be <= ${spec.max}, got ${v}`;
      return null;
    }
    case 'string':
      return typeof v === 'string' ? null : expect('a string');
    case 'boolean':
      return typeof v === 'boolean' ? null : expect('true or false');
    case 'enum':
      return typeof v === 'string' && spec.values?.includes(v) ? null : `expected one of ${spec.values?.map((x) => `"${x}"`).join(', ')}, got ${typeName(v)}`;
    case 'number[]':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) return expect('a list of numbers');
      return null;
    case 'string[]':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return expect('a list of strings');
      return null;
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? null : expect('a mapping');
  }
}

/**
 * Validate a params mapping against a schema: unknown keys, wrong types, missing required.
 * Returns the params with defaults applied, plus errors.
 */
export function validateParams(
  schema: ParamsSchema,
  given: unknown,
  base: Array<string | number>,
): { params: Record<string, unknown>; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const out: Record<string, unknown> = {};
  if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
    errors.push({ path: pathString(base), segments: base, message: `expected a mapping of parameters, got ${typeName(given)}` });
    given = {};
  }
  const g = (given ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(g)) {
    if (!(key in schema)) {
      const known = Object.keys(schema);
      const near = known.find((k) => closeEnough(k, key));
      errors.push({
        path: pathString([...base, key]),
        segments: [...base, key],
        message: `unknown parameter "${key}"${near ? ` (did you mean "${near}"?)` : ''}; known: ${known.join(', ') || '(none)'}`,
      });
    }
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (key in g) {
      const err = checkValue(spec, g[key]);
      if (err) errors.push({ path: pathString([...base, key]), segments: [...base, key], message: err });
      out[key] = g[key];
    } else if (spec.required) {
      errors.push({ path: pathString([...base, key]), segments: base, message: `missing required parameter "${key}" (${spec.description})` });
    } else if (spec.default !== undefined) {
      out[key] = structuredClone(spec.default);
    }
  }
  return { params: out, errors };
}

/** Levenshtein distance <= 2, for "did you mean". */
export function closeEnough(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length][b.length] <= 2;
}
