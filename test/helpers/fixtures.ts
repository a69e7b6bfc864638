/** Shared test fixtures, generated once per test run by test/helpers/global-setup.ts. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = path.resolve(ROOT, '..', 'shared', 'data');
export const VIDEOS = path.join(SHARED, 'videos');
export const GEN = path.join(ROOT, 'fixtures', 'generated', 'test');
export const BIN = path.join(ROOT, 'bin', 'egopipe.js');

export function tmpDir(prefix = 'egopipe-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env, FORCE_COLOR: '0' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliAsync(args: string[], opts: { env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function query<T = Record<string, unknown>>(out: string, sql: string): T[] {
  const r = cli(['query', '--out', out, '--format', 'json', sql]);
  if (r.code !== 0) throw new Error(`query failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

export function writeRecipe(dir: string, yaml: string, name = 'recipe.yaml'): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, yaml);
  return p;
}

export function truth(file: string): { fps: number; frames: number; cuts: number[] } {
  return JSON.parse(fs.readFileSync(file + '.truth.json', 'utf8'));
}

/** Like cli() but without blocking the test worker (use it for runs longer than ~20 s). */
export function cliRun(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
