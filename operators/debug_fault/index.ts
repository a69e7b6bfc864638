/**
 * debug_fault: a clip-level CPU op for testing the orchestrator itself (retries, dead letters,
 * timeouts, worker crashes, status during a run). It produces one row per clip in table
 * `debug_fault` recording what it did; it never touches model outputs. Clips whose video path
 * contains `match` (all clips when empty) get the configured fault on their first
 * `fail_attempts` attempts (0 = every attempt).
 */
import type { OperatorSpec, TableSpec } from '../types.js';
import { PermanentError } from '../types.js';

export interface DebugParams {
  sleep_ms: number;
  fault: 'none' | 'throw' | 'permanent' | 'exit' | 'hang' | 'oom';
  match: string;
  fail_attempts: number;
}

export const debugTable: TableSpec = {
  name: 'debug_fault',
  description: 'One row per clip processed by the debug_fault op (testing only).',
  columns: { clip_id: 'VARCHAR', video_id: 'VARCHAR', attempt: 'INTEGER', frames: 'INTEGER' },
};

export const op: OperatorSpec<DebugParams> = {
  name: 'debug_fault',
  description: 'Testing op: sleeps and/or injects faults (throw, exit the worker thread, hang, run out of memory) on chosen clips.',
  level: 'clip',
  needs: ['clips'],
  params: {
    sleep_ms: { type: 'integer', default: 0, min: 0, description: 'time to spend per clip' },
    fault: { type: 'enum', values: ['none', 'throw', 'permanent', 'exit', 'hang', 'oom'], default: 'none', description: 'fault to inject' },
    match: { type: 'string', default: '', description: 'inject only into clips of videos whose path contains this' },
    fail_attempts: { type: 'integer', default: 0, min: 0, description: 'inject on the first N attempts only (0 = always)' },
  },
  outputs: [debugTable],
  resources: { pool: 'cpu' },
  async run(task) {
    const p = task.params;
    const clip = task.clip!;
    if (p.sleep_ms) await new Promise((r) => setTimeout(r, p.sleep_ms));
    const hit = p.fault !== 'none' && task.video.path.includes(p.match) && (p.fail_attempts === 0 || task.attempt <= p.fail_attempts);
    if (hit) {
      switch (p.fault) {
        case 'throw':
          throw new Error(`debug_fault: injected error on clip ${clip.clip_id} (attempt ${task.attempt})`);
        case 'permanent':
          throw new PermanentError(`debug_fault: injected permanent error on clip ${clip.clip_id}`);
        case 'exit':
          process.exit(7); // ends this worker thread only
          break;
        case 'hang':
          await new Promise(() => undefined);
          break;
        case 'oom': {
          const hog: number[][] = [];
          for (;;) hog.push(new Array(1e6).fill(Math.random()));
        }
      }
    }
    return {
      rows: { debug_fault: [{ clip_id: clip.clip_id, video_id: clip.video_id, attempt: task.attempt, frames: clip.end_frame - clip.start_frame }] },
      stats: { frames: clip.end_frame - clip.start_frame },
    };
  },
};
