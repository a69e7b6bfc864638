/**
 * Recipe: a YAML file listing ops with params, plus resources, defaults and output settings.
 * Validation reports every error with its field path and line, and never writes anything.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { OPERATORS } from '../operators/registry.js';
import type { ParamsSchema } from '../operators/types.js';
import { validateParams, pathString, type FieldError } from './params.js';
import { checkProbe, PROBE_SCHEMA, type ProbeSpec } from './probes.js';

export interface RecipeOp {
  op: string;
  /** names of registry models this op's params refer to (model:<name>) */
  models: string[];
  params: Record<string, unknown>;
  max_attempts: number;
  timeout_s: number;
  /** hash of op name + effective params + the previous op's config_hash (changes when the op would compute something else) */
  config_hash: string;
}

export interface Recipe {
  name: string;
  description: string;
  resources: {
    cpu_workers: number;
    io_concurrency: number;
    gpus: string;
    worker_memory_mb: number;
    model_workers_cpu: number;
    model_worker_memory_mb: number;
  };
  defaults: { max_attempts: number; timeout_s: number; retry_backoff_s: number };
  output: { flush_rows: number; flush_seconds: number };
  ingest: { extensions: string[]; hash: 'sample' | 'full' };
  tools: { ffmpeg?: string; ffprobe?: string };
  ops: RecipeOp[];
  /** source text and hash, for provenance */
  source: { file: string; yaml: string; hash: string };
  /** the model registry: name -> file, expected sha256, provider, precision, input size */
  models: Record<string, ModelEntry>;
  /** data-quality probes */
  probes: ProbeSpec[];
}

export interface ModelEntry {
  /** file or folder; relative paths resolve against the recipe's folder */
  path: string;
  /** expected sha256 of the file (checked before the run; recorded in runs) */
  sha256?: string;
  provider: 'auto' | 'cpu' | 'cuda';
  precision: 'fp32' | 'fp16' | 'int8';
  input_size?: number[];
}

const MODEL_ENTRY: ParamsSchema = {
  path: { type: 'string', required: true, description: 'model file (or folder) path; relative to the recipe file' },
  sha256: { type: 'string', description: 'expected sha256 (64 hex); the run refuses a file that differs' },
  provider: { type: 'enum', values: ['auto', 'cpu', 'cuda'], default: 'auto', description: 'execution provider (auto = cuda in GPU model workers, else cpu)' },
  precision: { type: 'enum', values: ['fp32', 'fp16', 'int8'], default: 'fp32', description: 'numeric precision of the export (recorded)' },
  input_size: { type: 'number[]', description: 'input size the export expects, e.g. [1024, 1024] (recorded)' },
};

export class RecipeError extends Error {
  override name = 'RecipeError';
  constructor(
    readonly file: string,
    readonly errors: Array<FieldError & { line?: number; col?: number }>,
  ) {
    super(
      `${file}: ${errors.length} error${errors.length === 1 ? '' : 's'}\n` +
        errors.map((e) => `  ${file}${e.line ? `:${e.line}:${e.col}` : ''}  ${e.path || '(top)'}: ${e.message}`).join('\n'),
    );
  }
}

const SECTIONS: Record<string, ParamsSchema> = {
  resources: {
    cpu_workers: { type: 'integer', orString: 'auto', default: 'auto', min: 1, description: 'CPU worker threads (auto = all cores up to 4, else cores - 1)' },
    io_concurrency: { type: 'integer', default: 4, min: 1, description: 'concurrent ffprobe / light main-thread tasks' },
    gpus: { type: 'string', default: 'auto', description: 'GPUs for model workers, one process each: auto (nvidia-smi) | none | 0,1,2,3' },
    model_workers_cpu: { type: 'integer', default: 1, min: 1, description: 'model-worker processes on the CPU provider when no GPU is used' },
    model_worker_memory_mb: { type: 'integer', default: 8192, min: 128, description: 'heap limit of a model-worker process; one over it is restarted and its task retried' },
    worker_memory_mb: { type: 'integer', default: 4096, min: 64, description: 'heap limit per CPU worker thread; a thread over it is killed and its task retried' },
  },
  defaults: {
    max_attempts: { type: 'integer', default: 3, min: 1, description: 'attempts per task before it is dead-lettered' },
    timeout_s: { type: 'number', default: 1800, min: 1, description: 'time limit per task' },
    retry_backoff_s: { type: 'number', default: 1, min: 0, description: 'first retry delay, doubled per attempt' },
  },
  output: {
    flush_rows: { type: 'integer', default: 200000, min: 1, description: 'commit Parquet when this many rows are buffered' },
    flush_seconds: { type: 'number', default: 60, min: 0, description: 'commit Parquet at least this often while work finishes' },
  },
  ingest: {
    extensions: { type: 'string[]', default: ['mp4', 'mov', 'mkv', 'webm', 'avi'], description: 'video file extensions (case-insensitive)' },
    hash: { type: 'enum', values: ['sample', 'full'], default: 'sample', description: 'video_id from sampled content (fast) or the whole file' },
  },
  tools: {
    ffmpeg: { type: 'string', description: 'path to ffmpeg (else EGOPIPE_FFMPEG, PATH, the bundled npm binary)' },
    ffprobe: { type: 'string', description: 'path to ffprobe (else EGOPIPE_FFPROBE, PATH, the bundled npm binary)' },
  },
};

const TOP_KEYS = ['name', 'description', 'version', 'resources', 'defaults', 'output', 'ingest', 'tools', 'models', 'probes', 'ops'];
const OP_KEYS = ['op', 'params', 'max_attempts', 'timeout_s'];

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function hashOf(v: unknown): string {
  return createHash('sha256').update(typeof v === 'string' ? v : stableJson(v)).digest('hex').slice(0, 16);
}

function locate(doc: Document, lc: LineCounter, segs: Array<string | number>): { line?: number; col?: number } {
  for (let n = segs.length; n >= 0; n--) {
    const node = doc.getIn(segs.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) {
      const pos = lc.linePos(node.range[0]);
      return { line: pos.line, col: pos.col };
    }
    // a missing key: point at its parent mapping's key instead
    if (n > 0) {
      const parent = doc.getIn(segs.slice(0, n - 1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === segs[n - 1]);
        const k = pair?.key as { range?: [number, number, number] } | undefined;
        if (k?.range) {
          const pos = lc.linePos(k.range[0]);
          return { line: pos.line, col: pos.col };
        }
      }
    }
  }
  return {};
}

export function loadRecipe(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RecipeError(file, [{ path: '', segments: [], message: `cannot read recipe: ${(e as Error).message}` }]);
  }
  return parseRecipe(text, file);
}

export function parseRecipe(text: string, file = '<recipe>'): Recipe {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new RecipeError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        return { path: '', segments: [], message: `YAML syntax: ${e.message.split('\n')[0]}`, line: pos?.line, col: pos?.col };
      }),
    );
  }
  const raw = doc.toJS() as Record<string, unknown> | null;
  const errors: FieldError[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RecipeError(file, [{ path: '', segments: [], message: 'a recipe must be a YAML mapping with at least an `ops:` list' }]);
  }
  for (const k of Object.keys(raw)) {
    if (!TOP_KEYS.includes(k)) errors.push({ path: k, segments: [k], message: `unknown top-level key "${k}"; known: ${TOP_KEYS.join(', ')}` });
  }
  const section = <T>(name: string): T => {
    const r = validateParams(SECTIONS[name], raw[name], [name]);
    errors.push(...r.errors);
    return r.params as T;
  };
  const resources = section<Recipe['resources'] & { cpu_workers: number | 'auto' }>('resources');
  const defaults = section<Recipe['defaults']>('defaults');
  const output = section<Recipe['output']>('output');
  const ingest = section<Recipe['ingest']>('ingest');
  const tools = section<Recipe['tools']>('tools');
  if (raw.name !== undefined && typeof raw.name !== 'string') errors.push({ path: 'name', segments: ['name'], message: 'expected a string' });
  const models: Record<string, ModelEntry> = {};
  if (raw.models !== undefined && raw.models !== null) {
    if (typeof raw.models !== 'object' || Array.isArray(raw.models)) {
      errors.push({ path: 'models', segments: ['models'], message: 'expected a mapping of model name -> {path, sha256, provider, precision, input_size}' });
    } else {
      for (const [name, entry] of Object.entries(raw.models as Record<string, unknown>)) {
        const r = validateParams(MODEL_ENTRY, entry, ['models', name]);
        errors.push(...r.errors);
        const sha = r.params.sha256 as string | undefined;
        if (typeof sha === 'string' && !/^[0-9a-f]{64}$/i.test(sha)) {
          errors.push({ path: `models.${name}.sha256`, segments: ['models', name, 'sha256'], message: 'expected 64 hex characters' });
        }
        if (typeof r.params.path === 'string') {
          const base = file.startsWith('<') ? process.cwd() : path.dirname(path.resolve(file));
          models[name] = { ...(r.params as unknown as ModelEntry), path: path.resolve(base, r.params.path as string) };
        }
      }
    }
  }

  const ops: RecipeOp[] = [];
  const rawOps = raw.ops;
  if (!Array.isArray(rawOps) || rawOps.length === 0) {
    errors.push({ path: 'ops', segments: ['ops'], message: 'expected a non-empty list of ops, e.g. `ops: [{op: probe}, {op: scene_detect}]`' });
  } else {
    const seen = new Set<string>();
    rawOps.forEach((entry, i) => {
      const base: Array<string | number> = ['ops', i];
      if (typeof entry === 'string') entry = { op: entry };
      if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
        errors.push({ path: pathString(base), segments: base, message: 'expected a mapping like `{op: scene_detect, params: {...}}`' });
        return;
      }
      const e = entry as Record<string, unknown>;
      for (const k of Object.keys(e)) {
        if (!OP_KEYS.includes(k)) errors.push({ path: pathString([...base, k]), segments: [...base, k], message: `unknown key "${k}"; an op entry has ${OP_KEYS.join(', ')}` });
      }
      const name = e.op;
      if (typeof name !== 'string') {
        errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: 'missing op name' });
        return;
      }
      const spec = OPERATORS[name];
      if (!spec) {
        errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: `unknown op "${name}"; known ops: ${Object.keys(OPERATORS).join(', ')}` });
        return;
      }
      if (seen.has(name)) errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: `op "${name}" appears twice` });
      for (const need of spec.needs) {
        if (!seen.has(need)) {
          errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: `op "${name}" needs "${need}" earlier in the ops list` });
        }
      }
      if (i === 0 && name !== 'probe') errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: 'the first op must be "probe"' });
      if (spec.level === 'clip' && !seen.has('clips')) {
        errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: `"${name}" works on clips: put the "clips" op before it` });
      }
      if (spec.level === 'video' && seen.has('clips')) {
        errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: `"${name}" works on whole videos: put it before "clips"` });
      }
      seen.add(name);
      const pr = validateParams(spec.params, e.params, [...base, 'params']);
      errors.push(...pr.errors);
      // `model:<name>` -> the registry entry's path (before the op's own validation sees it)
      const usedModels: string[] = [];
      const subst = (k: string, v: unknown): unknown => {
        if (typeof v !== 'string' || !v.startsWith('model:')) return v;
        const m = v.slice('model:'.length);
        if (!models[m]) {
          const declared = Object.keys(models);
          errors.push({ path: pathString([...base, 'params', k]), segments: [...base, 'params', k], message: `"${v}" names no model in the recipe's models: section (declared: ${declared.join(', ') || 'none'})` });
          return v;
        }
        usedModels.push(m);
        return models[m].path;
      };
      for (const [k, v] of Object.entries(pr.params)) pr.params[k] = Array.isArray(v) ? v.map((x) => subst(k, x)) : subst(k, v);
      // the registry's execution provider applies to the op that uses the model, unless the op's
      // own `providers` param says otherwise
      const wanted = [...new Set(usedModels.map((m) => models[m].provider).filter((p) => p !== 'auto'))];
      const explicit = e.params && typeof e.params === 'object' && (e.params as Record<string, unknown>).providers !== undefined;
      if (wanted.length && !explicit) {
        const at = [...base, 'params'];
        if (wanted.length > 1) {
          errors.push({ path: pathString(at), segments: at, message: `the models of op "${name}" ask for different providers (${wanted.join(', ')}): give the op's providers param instead` });
        } else if (!spec.params.providers) {
          if (wanted[0] !== 'cpu') errors.push({ path: pathString(at), segments: at, message: `op "${name}" runs on the CPU pool; its models cannot use provider ${wanted[0]} (set provider: cpu or auto in models:)` });
        } else pr.params.providers = [wanted[0]];
      }
      if (!pr.errors.length && spec.validate) {
        for (const m of spec.validate(pr.params)) errors.push({ path: pathString([...base, 'params']), segments: [...base, 'params'], message: m });
      }
      const num = (k: string, dflt: number) => {
        if (e[k] === undefined) return dflt;
        if (typeof e[k] !== 'number' || !((e[k] as number) > 0)) {
          errors.push({ path: pathString([...base, k]), segments: [...base, k], message: `expected a positive number, got ${JSON.stringify(e[k])}` });
          return dflt;
        }
        return e[k] as number;
      };
      ops.push({
        op: name,
        models: usedModels,
        params: pr.params,
        max_attempts: Math.round(num('max_attempts', defaults.max_attempts ?? 3)),
        timeout_s: num('timeout_s', defaults.timeout_s ?? 1800),
        // chained: a task's configuration includes everything before it in the recipe
        config_hash: hashOf({ op: name, params: pr.params, after: ops.length ? ops[ops.length - 1].config_hash : null }),
      });
    });
  }
  const probes: ProbeSpec[] = [];
  if (raw.probes !== undefined && raw.probes !== null) {
    if (!Array.isArray(raw.probes)) errors.push({ path: 'probes', segments: ['probes'], message: 'expected a list of probes' });
    else
      raw.probes.forEach((p, i) => {
        const base: Array<string | number> = ['probes', i];
        const r = validateParams(PROBE_SCHEMA, p, base);
        errors.push(...r.errors);
        if (r.errors.length) return;
        for (const m of checkProbe(r.params)) errors.push({ path: pathString(base), segments: base, message: m });
        const o = ops.find((x) => x.op === r.params.op);
        if (!o) errors.push({ path: pathString([...base, 'op']), segments: [...base, 'op'], message: `op "${String(r.params.op)}" is not in this recipe's ops` });
        else {
          const outs = OPERATORS[o.op].outputs.map((t) => t.name);
          const table = (r.params.table as string | undefined) ?? outs[0];
          if (!table || !outs.includes(table)) {
            errors.push({ path: pathString([...base, 'table']), segments: [...base, 'table'], message: `op "${o.op}" writes ${outs.join(', ') || 'no table'}; name one of them` });
          }
          probes.push({ ...(r.params as unknown as ProbeSpec), table });
        }
      });
  }
  if (errors.length) {
    throw new RecipeError(
      file,
      errors.map((e) => ({ ...e, ...locate(doc, lc, e.segments) })),
    );
  }
  // auto: every core on small machines (the orchestrator thread is mostly idle), one spared on big ones
  const cores = os.availableParallelism();
  const cpu = resources.cpu_workers === ('auto' as unknown) ? (cores <= 4 ? cores : cores - 1) : (resources.cpu_workers as number);
  return {
    name: typeof raw.name === 'string' ? raw.name : file.replace(/^.*\//, '').replace(/\.ya?ml$/, ''),
    description: typeof raw.description === 'string' ? raw.description : '',
    resources: { ...resources, cpu_workers: cpu },
    defaults,
    output,
    ingest: { ...ingest, extensions: ingest.extensions.map((x) => x.toLowerCase().replace(/^\./, '')) },
    tools,
    ops,
    source: { file, yaml: text, hash: hashOf(text) },
    models,
    probes,
  };
}
