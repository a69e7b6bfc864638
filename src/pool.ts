/** The CPU pool: Piscina worker threads running src/worker.ts, with an in-flight limit. */
import { Piscina } from 'piscina';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskInput } from '../operators/types.js';
import type { WorkerResult } from './worker.js';
import { framesCounterBuffer } from './live.js';

/**
 * Compiled worker entry (CommonJS, see worker-entry.cts): next to this module in dist/, or
 * dist/src/worker-entry.cjs when running from sources (tests).
 */
export function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'worker-entry.cjs');
  const root = path.resolve(path.dirname(here), '..');
  const f = path.join(root, 'dist', 'src', 'worker-entry.cjs');
  if (!fs.existsSync(f)) throw new Error(`compiled worker not found at ${f}: run 'npm run build' first`);
  return f;
}

export class CpuPool {
  private pool: Piscina;

  constructor(
    readonly threads: number,
    memoryMb: number,
  ) {
    this.pool = new Piscina({
      filename: workerFile(),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      // Tasks beyond the threads wait in the orchestrator (SQLite), not here: keep this queue tiny.
      maxQueue: threads * 2,
      // A small young generation: V8 otherwise grows it with the allocation rate (frames, tensors),
      // and peak memory would creep up with the length of the run instead of staying flat.
      resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 4 },
    });
  }

  run(task: TaskInput, signal: AbortSignal): Promise<WorkerResult> {
    // the shared frame counter travels with every task (a SharedArrayBuffer is shared, not copied)
    return this.pool.run({ task, frames: framesCounterBuffer() }, { signal }) as Promise<WorkerResult>;
  }

  get utilization(): number {
    return this.pool.utilization;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
