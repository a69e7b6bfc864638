/**
 * The operator contract. One operator = one folder under operators/ whose index.ts exports
 * `op: OperatorSpec`. The registry (operators/registry.ts) lists them by name.
 *
 * Modelled on a stage spec: an op declares its parameters, its output tables and its resources;
 * it is set up once per worker (setup) and then processes one item (a video or a clip) per call.
 * An op never receives decoded frames from another process: it gets a path and a frame range and
 * decodes what it needs itself.
 */

/** Declared parameter (used for recipe validation, defaults and `egopipe ops` docs). */
export interface ParamSpec {
  type: 'number' | 'integer' | 'string' | 'boolean' | 'enum' | 'number[]' | 'string[]' | 'object';
  description: string;
  default?: unknown;
  /** inclusive bounds for numbers */
  min?: number;
  max?: number;
  /** allowed values for 'enum' */
  values?: readonly string[];
  /** the param must be given in the recipe (no default) */
  required?: boolean;
  /** 'number|auto' style: also accept this literal string */
  orString?: string;
}

export type ParamsSchema = Record<string, ParamSpec>;

/** Output table: column name -> DuckDB type (e.g. 'VARCHAR', 'INTEGER', 'DOUBLE', 'FLOAT[]'). */
export interface TableSpec {
  name: string;
  description: string;
  columns: Record<string, string>;
  /** one sentence per column for the README; optional */
  docs?: Record<string, string>;
}

export type Row = Record<string, unknown>;

export interface VideoInfo {
  video_id: string;
  path: string;
  fps: number;
  frame_count: number;
  width: number;
  height: number;
  rotation: number;
  vfr: boolean;
  duration_s: number;
}

export interface ClipInfo {
  clip_id: string;
  video_id: string;
  scene_index: number;
  start_frame: number;
  /** exclusive */
  end_frame: number;
  start_s: number;
  end_s: number;
  overlap_prev_frames: number;
}

export interface TaskInput<P = Record<string, unknown>> {
  op: string;
  video: VideoInfo;
  /** present for clip-level ops */
  clip?: ClipInfo;
  params: P;
  /** rows that upstream ops (declared in `needs`) produced for this item, by table name */
  upstream: Record<string, Row[]>;
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: number;
  /** resolved tool paths so workers need no resolution of their own */
  tools: { ffmpeg: string; ffprobe: string };
}

export interface TaskOutput {
  /** rows per output table; each table must be declared in `outputs` */
  rows: Record<string, Row[]>;
  /** video-level ops that create clips (the `clips` op) return them here */
  clips?: ClipInfo[];
  /** the `probe` op returns the video's metadata here (it becomes the `videos` row) */
  video?: Partial<VideoInfo> & Record<string, unknown>;
  /** free-form numbers for metrics (frames decoded, inference ms, ...); `frames` feeds frames/s */
  stats?: Record<string, number>;
}

/**
 * Throw this from an op for a failure that a retry cannot fix (a corrupt file, a missing model):
 * the task is dead-lettered at once instead of being retried.
 */
export class PermanentError extends Error {
  override name = 'PermanentError';
  readonly permanent = true;
}

export function isPermanent(e: unknown): boolean {
  return !!e && typeof e === 'object' && (e as { permanent?: unknown }).permanent === true;
}

export interface OpContext<S = unknown> {
  /** whatever setup() returned for this op + params, once per worker */
  state: S;
  signal?: AbortSignal;
  /**
   * Frames of this task as declared by the op's `frames(task)`: in a model worker they were
   * decoded ahead (prefetched, bounded) while the previous task ran; elsewhere decoded on demand.
   * Undefined when the op declares no `frames`.
   */
  frames?: AsyncIterable<import('../src/ffmpeg.js').DecodedFrame>;
  /** where the op runs: a GPU model worker (cuda, with its device index) or the CPU */
  device?: { kind: 'cuda' | 'cpu'; index: number | null };
  /** time the op spent waiting for frames so far (ms); model workers report it as decode wait */
  decodeWaitMs?: () => number;
}

export interface OperatorSpec<P = any, S = any> {
  name: string;
  description: string;
  /** 'video': one task per video; 'clip': one task per clip */
  level: 'video' | 'clip';
  /** ops whose output this op reads; they must appear earlier in the recipe */
  needs: readonly string[];
  /** ops whose output this op reads when they are in the recipe (optional inputs) */
  reads?: readonly string[];
  /**
   * 'scene': the op's clip tasks run in order within a scene, each after the previous clip's,
   * and receive that clip's rows of this op as `upstream['previous_<table>']` (warm start across
   * clip overlap, e.g. tracker memory). Scenes and videos still run in parallel.
   */
  sequential?: 'scene';
  /** when it depends on params (e.g. only while warm start is on): overrides `sequential` */
  sequentialFor?: (params: P) => 'scene' | undefined;
  params: ParamsSchema;
  outputs: readonly TableSpec[];
  /**
   * Where it runs. 'main': cheap, runs inline in the orchestrator (with a concurrency limit);
   * 'cpu': Piscina worker-thread pool; 'gpu': the model-worker pool (CPU provider without GPUs).
   */
  resources: {
    pool: 'main' | 'cpu' | 'gpu';
    concurrency?: number;
    /** when the pool depends on params (e.g. a model-based method): the pool for these params */
    poolFor?: (params: P) => 'main' | 'cpu' | 'gpu';
  };
  /** Model files this op needs (names in the recipe's models: section). Missing weights => refuse. */
  models?: readonly string[];
  /** Check params beyond the schema; return human-readable errors (field, what, fix). */
  validate?: (params: P) => string[];
  /**
   * Runs once in the orchestrator before any work: locate (pull from the mirror/cache) the model
   * files, and return the params with absolute model paths plus the files used, whose sha256 goes
   * into the `runs` table. Throw when a model is missing: the run stops before doing anything.
   */
  resolveModels?: (params: P) => Promise<{ params: P; files: Array<{ name: string; path: string }> }>;
  /**
   * The frames this op reads for a task (path, range, size, step). Declaring it lets a model
   * worker decode the next task's frames while the current one runs (ctx.frames).
   */
  frames?: (task: TaskInput<P>) => import('../src/ffmpeg.js').DecodeOptions | undefined;
  /** Once per worker per (op, params): load models etc. */
  setup?: (params: P) => Promise<S> | S;
  /** Estimated work for longest-first scheduling (default: frames in the item). */
  cost?: (task: Pick<TaskInput<P>, 'video' | 'clip' | 'params'>) => number;
  run: (task: TaskInput<P>, ctx: OpContext<S>) => Promise<TaskOutput>;
}

/** A list cell as it arrives from upstream rows: JS array, typed array or a DuckDB list value ({items}). */
export function toNumbers(v: unknown): number[] | null {
  if (Array.isArray(v)) return v.map(Number);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, Number);
  if (v && typeof v === 'object' && Array.isArray((v as { items?: unknown }).items)) return (v as { items: unknown[] }).items.map(Number);
  return null;
}
