/**
 * Input discovery and content ids. Inputs are directories (scanned recursively), video files, or
 * .txt lists of paths (one per line, '#' comments, relative paths resolved against the list).
 * Discovery is a streaming generator so memory stays flat however many files there are.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface Found {
  path: string;
  /** set when the path cannot be used; it becomes a dead-lettered video with this reason */
  error?: string;
}

export class InputError extends Error {
  override name = 'InputError';
}

export function hasExt(p: string, exts: string[]): boolean {
  const e = path.extname(p).slice(1).toLowerCase();
  return exts.includes(e);
}

/** Check the top-level --input values up front (a missing one is a usage error, exit 2). */
export function checkInputs(inputs: string[]): void {
  const bad = inputs.filter((i) => !fs.existsSync(i));
  if (bad.length) throw new InputError(`input not found: ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
}

export async function* discover(inputs: string[], exts: string[]): AsyncGenerator<Found> {
  for (const input of inputs) {
    const abs = path.resolve(input);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch (e) {
      yield { path: abs, error: `cannot access: ${(e as Error).message}` };
      continue;
    }
    if (st.isDirectory()) yield* walk(abs, exts);
    else if (abs.toLowerCase().endsWith('.txt') && !hasExt(abs, exts)) yield* readList(abs, exts);
    else yield { path: abs };
  }
}

async function* readList(list: string, exts: string[]): AsyncGenerator<Found> {
  const dir = path.dirname(list);
  let text: string;
  try {
    text = fs.readFileSync(list, 'utf8');
  } catch (e) {
    yield { path: list, error: `cannot read input list: ${(e as Error).message}` };
    return;
  }
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const p = path.resolve(dir, t);
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (e) {
      yield { path: p, error: `cannot access: ${(e as Error).message}` };
      continue;
    }
    if (st.isDirectory()) yield* walk(p, exts);
    else yield { path: p };
  }
}

async function* walk(dir: string, exts: string[]): AsyncGenerator<Found> {
  let d: fs.Dir;
  try {
    d = await fs.promises.opendir(dir);
  } catch (e) {
    yield { path: dir, error: `cannot read directory: ${(e as Error).message}` };
    return;
  }
  const subdirs: string[] = [];
  const files: string[] = [];
  for await (const ent of d) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) subdirs.push(p);
    else if ((ent.isFile() || ent.isSymbolicLink()) && hasExt(ent.name, exts)) files.push(p);
  }
  files.sort();
  subdirs.sort();
  for (const f of files) yield { path: f };
  for (const s of subdirs) yield* walk(s, exts);
}

const CHUNK = 1 << 20;

/**
 * video_id: first 16 hex chars of sha256 over the file size and content. mode 'sample' reads the
 * first, middle and last MiB (whole file when <= 3 MiB): O(1) per file, so terabytes are cheap;
 * mode 'full' hashes every byte.
 */
export async function contentId(p: string, size: number, mode: 'sample' | 'full'): Promise<string> {
  const h = createHash('sha256');
  h.update(`egopipe-video-v1\0${mode}\0${size}\0`);
  const fh = await fs.promises.open(p, 'r');
  try {
    if (mode === 'full' || size <= 3 * CHUNK) {
      const buf = Buffer.allocUnsafe(CHUNK);
      let pos = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
        if (bytesRead <= 0) break;
        h.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } else {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (const off of [0, Math.floor(size / 2) - CHUNK / 2, size - CHUNK]) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, off);
        h.update(buf.subarray(0, bytesRead));
      }
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex').slice(0, 16);
}

/** Id for something whose content cannot be read (or is empty): derived from its absolute path. */
export function pathId(p: string): string {
  return 'p' + createHash('sha256').update(`egopipe-path-v1\0${p}`).digest('hex').slice(0, 15);
}
