/**
 * One live run per --out. The lock file holds pid + host; a lock whose process is gone (same host)
 * is stale and taken over. A lock held by another host cannot be checked: refused unless forced.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class LockedError extends Error {
  override name = 'LockedError';
}

interface LockInfo {
  pid: number;
  host: string;
  started_at: string;
  run_id: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockPath(outDir: string): string {
  return path.join(outDir, '.egopipe.lock');
}

export function readLock(outDir: string): LockInfo | null {
  try {
    return JSON.parse(fs.readFileSync(lockPath(outDir), 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

/** Is a live process holding this --out (same host, pid alive)? */
export function liveLock(outDir: string): LockInfo | null {
  const l = readLock(outDir);
  return l && l.host === os.hostname() && alive(l.pid) ? l : null;
}

export function acquireLock(outDir: string, runId: string, opts: { force?: boolean } = {}): { release: () => void; tookOver: LockInfo | null } {
  const file = lockPath(outDir);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), started_at: new Date().toISOString(), run_id: runId };
  let tookOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      const release = () => {
        const cur = readLock(outDir);
        if (cur && cur.pid === me.pid && cur.run_id === runId) fs.rmSync(file, { force: true });
      };
      return { release, tookOver };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const cur = readLock(outDir);
    if (cur && cur.host === os.hostname() && alive(cur.pid) && cur.pid !== process.pid) {
      throw new LockedError(
        `${outDir} is in use by a live run (pid ${cur.pid}, run ${cur.run_id}, started ${cur.started_at}). ` +
          `Wait for it to finish, watch it with 'egopipe status --out ${outDir}', or use another --out.`,
      );
    }
    if (cur && cur.host !== os.hostname() && !opts.force) {
      throw new LockedError(
        `${outDir} is locked by a run on host ${cur.host} (pid ${cur.pid}); it cannot be checked from here. ` +
          `If that run is gone, run again with --force-lock.`,
      );
    }
    // stale (dead pid, unreadable, or forced): remove and retry
    tookOver = cur;
    fs.rmSync(file, { force: true });
  }
  throw new LockedError(`could not take the lock ${file}`);
}
