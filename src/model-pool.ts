/**
 * The model-worker pool: one child process per GPU (CUDA_VISIBLE_DEVICES=<i>), or `cpuWorkers`
 * processes on the CPU provider when there is none. At most `queuePerWorker` (3) tasks are sent
 * to a worker: the one running plus at most two queued, decoding ahead. A worker that crashes, runs out of memory or
 * is killed for a timeout is restarted; the task that was running is failed (and retried by the
 * orchestrator), the queued ones are handed back without counting an attempt.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskInput } from '../operators/types.js';
import type { FromWorker, ToWorker } from './model-worker.js';
import type { WorkerResult } from './worker.js';
import { countFrames } from './live.js';

export interface Device {
  kind: 'cuda' | 'cpu';
  index: number | null;
}

/** GPUs to use: 'none', 'auto' (nvidia-smi -L), or a list like '0,1,2,3'. */
export function resolveDevices(spec: string, cpuWorkers: number): Device[] {
  const s = spec.trim().toLowerCase();
  let gpus: number[] = [];
  if (s === 'auto') {
    const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
    if (r.status === 0) gpus = r.stdout.split('\n').filter((l) => /^GPU \d+/.test(l)).map((_, i) => i);
  } else if (s !== 'none' && s !== '') {
    gpus = s.split(',').map((x) => {
      const n = Number(x.trim());
      if (!Number.isInteger(n) || n < 0) throw new Error(`--gpus: "${x}" is not a GPU index (use none, auto or e.g. 0,1,2,3)`);
      return n;
    });
  }
  if (gpus.length) return gpus.map((i) => ({ kind: 'cuda', index: i }));
  return Array.from({ length: Math.max(1, cpuWorkers) }, () => ({ kind: 'cpu', index: null }));
}

export function modelWorkerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'model-worker.js');
  const f = path.resolve(path.dirname(here), '..', 'dist', 'src', 'model-worker.js');
  if (!fs.existsSync(f)) throw new Error(`compiled model worker not found at ${f}: run 'npm run build' first`);
  return f;
}

interface Pending {
  id: number;
  task: TaskInput;
  resolve: (r: WorkerResult) => void;
  started: boolean;
}

export interface WorkerStats {
  worker: number;
  device: string;
  pid: number | null;
  restarts: number;
  tasks: number;
  /** ms inside tasks (model work + waiting for frames) */
  busy_ms: number;
  /** ms of busy_ms spent waiting for decoded frames */
  decode_wait_ms: number;
  /** ms alive */
  wall_ms: number;
  /** ms from the first task sent to this worker to the last result (or now) */
  active_ms: number;
  /** (busy - decode wait) / active: the share of its working time the model computed */
  duty_cycle: number;
}

class Slot {
  child: ChildProcess | null = null;
  pending = new Map<number, Pending>();
  restarts = 0;
  tasks = 0;
  busyMs = 0;
  waitMs = 0;
  bornAt = performance.now();
  wallMs = 0;
  firstSent: number | null = null;
  lastDone: number | null = null;
  private readyResolve: (() => void) | null = null;
  ready: Promise<void> = Promise.resolve();

  constructor(
    readonly index: number,
    readonly device: Device,
    private readonly memoryMb: number,
    private readonly log: (msg: string) => void,
    private readonly closing: () => boolean,
  ) {
    this.start();
  }

  get label(): string {
    return `${this.device.kind}${this.device.index === null ? '' : ':' + this.device.index}`;
  }

  start(): void {
    const env: NodeJS.ProcessEnv = { ...process.env, EGOPIPE_DEVICE: this.device.kind };
    if (this.device.kind === 'cuda') {
      env.CUDA_VISIBLE_DEVICES = String(this.device.index);
      env.EGOPIPE_DEVICE_INDEX = String(this.device.index);
    }
    if (!this.readyResolve) this.ready = new Promise((r) => (this.readyResolve = r));
    const child = fork(modelWorkerFile(), [], {
      env,
      execArgv: [`--max-old-space-size=${this.memoryMb}`],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    child.on('message', (m: FromWorker) => this.onMessage(m));
    // EPIPE when sending to a worker that is dying: its exit handler hands the task back
    child.on('error', (e) => this.log(`model worker ${this.label}: ${e.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready') {
      this.readyResolve?.();
      this.readyResolve = null;
    }
    else if (m.type === 'frames') countFrames(m.n);
    else if (m.type === 'started') {
      const p = this.pending.get(m.id);
      if (p) p.started = true;
    } else if (m.type === 'result') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.tasks++;
      this.lastDone = performance.now();
      this.busyMs += m.busyMs;
      this.waitMs += m.waitMs;
      p.resolve(m.res);
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.wallMs += performance.now() - this.bornAt;
    this.child = null;
    const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
    // the running task is blamed; queued ones did not run and go back without an attempt counted
    const running = [...this.pending.values()].find((p) => p.started) ?? [...this.pending.values()][0];
    for (const p of this.pending.values()) {
      p.resolve(
        p === running
          ? { ok: false, error: `model worker ${this.label} ${why}${code === 134 || signal === 'SIGABRT' ? ' (out of memory?)' : ''}`, permanent: false, ms: 0 }
          : { ok: false, error: `model worker ${this.label} ${why} while this task waited`, permanent: false, ms: 0, requeue: true },
      );
    }
    this.pending.clear();
    if (this.closing()) return;
    this.restarts++;
    this.log(`model worker ${this.label} ${why}; restarting (restart #${this.restarts})`);
    this.bornAt = performance.now();
    this.start();
  }

  send(p: Pending): void {
    this.firstSent ??= performance.now();
    this.pending.set(p.id, p);
    const msg: ToWorker = { type: 'task', id: p.id, task: p.task };
    if (!this.child) {
      this.pending.delete(p.id);
      p.resolve({ ok: false, error: `model worker ${this.label} is not running`, permanent: false, ms: 0, requeue: true });
      return;
    }
    this.child.send(msg, (err) => {
      if (err) this.log(`model worker ${this.label}: could not send a task (${err.message}); it will be handed back`);
    });
  }

  /** Kill the process (timeout): its running task fails, the rest are requeued, it restarts. */
  kill(): void {
    const c = this.child;
    if (!c) return;
    // not ready until the replacement says so: new tasks wait instead of going to the dying process
    if (!this.readyResolve) this.ready = new Promise((r) => (this.readyResolve = r));
    c.kill('SIGKILL');
  }

  stats(): WorkerStats {
    const wall = this.wallMs + (this.child ? performance.now() - this.bornAt : 0);
    const end = this.pending.size ? performance.now() : (this.lastDone ?? performance.now());
    const active = this.firstSent === null ? 0 : end - this.firstSent;
    return {
      worker: this.index,
      device: this.label,
      pid: this.child?.pid ?? null,
      restarts: this.restarts,
      tasks: this.tasks,
      busy_ms: Math.round(this.busyMs),
      decode_wait_ms: Math.round(this.waitMs),
      wall_ms: Math.round(wall),
      active_ms: Math.round(active),
      duty_cycle: active > 0 ? (this.busyMs - this.waitMs) / active : 0,
    };
  }

  async close(): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.wallMs += performance.now() - this.bornAt;
    this.child = null;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        c.kill('SIGKILL');
        resolve();
      }, 5000);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      try {
        c.send({ type: 'exit' } satisfies ToWorker);
      } catch {
        c.kill('SIGKILL');
      }
    });
  }
}

export class ModelPool {
  private slots: Slot[];
  private nextId = 1;
  private closing = false;

  constructor(
    readonly devices: Device[],
    opts: { memoryMb: number; queuePerWorker?: number; log?: (msg: string) => void },
  ) {
    this.queuePerWorker = opts.queuePerWorker ?? 3; // the running task + at most 2 queued
    this.slots = devices.map((d, i) => new Slot(i, d, opts.memoryMb, opts.log ?? (() => undefined), () => this.closing));
  }

  readonly queuePerWorker: number;

  /** Tasks the pool accepts at once (the orchestrator's in-flight limit for 'gpu' ops). */
  get capacity(): number {
    return this.slots.length * this.queuePerWorker;
  }

  get pids(): Array<number | null> {
    return this.slots.map((s) => s.child?.pid ?? null);
  }

  async run(task: TaskInput, signal: AbortSignal): Promise<WorkerResult> {
    const slot = this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    await slot.ready;
    return new Promise<WorkerResult>((resolve) => {
      const p: Pending = { id: this.nextId++, task, resolve, started: false };
      const onAbort = () => {
        if (!slot.pending.has(p.id)) return;
        if (p.started) slot.kill(); // the worker is busy with it: only a kill stops it
        else {
          slot.pending.delete(p.id);
          resolve({ ok: false, error: 'aborted before it started', permanent: false, ms: 0, requeue: true });
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (r: WorkerResult) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      p.resolve = done;
      slot.send(p);
    });
  }

  stats(): WorkerStats[] {
    return this.slots.map((s) => s.stats());
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.close()));
  }
}
