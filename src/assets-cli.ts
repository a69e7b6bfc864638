/**
 * `egopipe models pull [names...]` and `egopipe models list`: human-readable (or --json) front end
 * of src/assets.ts. Failures set process.exitCode = 1 and are reported per asset; other assets
 * are still pulled.
 */
import chalk from 'chalk';
import {
  AssetError,
  defaultCacheDir,
  listAssets,
  pullAsset,
  resolveAsset,
  type PullResult,
} from './assets.js';

export interface ModelsCommandOptions {
  /** mirror folder laid out like ../shared/data (default $EGOPIPE_MIRROR) */
  mirror?: string;
  cacheDir?: string;
  json?: boolean;
  /** where lines go (default console.log); for tests */
  log?: (line: string) => void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

const SOURCE_WORDS: Record<PullResult['source'], string> = {
  cache: 'already cached',
  mirror: 'copied from mirror',
  download: 'downloaded',
};

export interface PullSummary {
  ok: boolean;
  results: PullResult[];
  errors: Array<{ name: string; message: string }>;
}

/** Pull the named assets (all when none are named) into the cache. */
export async function modelsPullCommand(names: string[], opts: ModelsCommandOptions = {}): Promise<PullSummary> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const wanted = names.length ? names : listAssets().map((a) => a.name);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const results: PullResult[] = [];
  const errors: PullSummary['errors'] = [];
  const width = Math.max(...wanted.map((n) => n.length));
  for (const name of wanted) {
    try {
      const r = await pullAsset(name, { mirror: opts.mirror, cacheDir });
      results.push(r);
      if (!opts.json) {
        const files = r.files > 1 ? `${r.files} files, ` : '';
        log(
          `${chalk.green('✓')} ${name.padEnd(width)}  ${files}${formatBytes(r.bytes)}, ${SOURCE_WORDS[r.source]}, sha256 ${r.sha256.slice(0, 12)}…  ${r.path}`,
        );
      }
    } catch (e) {
      const message = e instanceof AssetError ? e.message : `asset "${name}": ${(e as Error).message ?? String(e)}`;
      errors.push({ name, message });
      if (!opts.json) log(`${chalk.red('✗')} ${name.padEnd(width)}  ${message}`);
    }
  }
  if (opts.json) log(JSON.stringify({ cache_dir: cacheDir, results, errors }, null, 2));
  else log(`cache: ${cacheDir}`);
  if (errors.length) process.exitCode = 1;
  return { ok: errors.length === 0, results, errors };
}

export interface ListedAsset {
  name: string;
  kind: string;
  description: string;
  path: string;
  files: number;
  bytes: number;
  cached: boolean;
  cached_path: string | null;
  sha256_source: string;
  license: string | null;
  source: string;
}

/** List the known assets with their cache status. */
export async function modelsListCommand(opts: ModelsCommandOptions = {}): Promise<ListedAsset[]> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const rows: ListedAsset[] = [];
  for (const a of listAssets()) {
    const cachedPath = await resolveAsset(a.name, { cacheDir });
    const sources = [...new Set(a.files.map((f) => f.sha256_source))];
    rows.push({
      name: a.name,
      kind: a.kind,
      description: a.description,
      path: a.path,
      files: a.files.length,
      bytes: a.files.reduce((s, f) => s + f.size, 0),
      cached: cachedPath !== null,
      cached_path: cachedPath,
      sha256_source: sources.join(', '),
      license: a.license ?? null,
      source: `github.com/${a.source.repo}@${a.source.commit.slice(0, 10)}:${a.source.path}`,
    });
  }
  if (opts.json) {
    log(JSON.stringify({ cache_dir: cacheDir, assets: rows }, null, 2));
    return rows;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  const pw = Math.max(...rows.map((r) => r.path.length));
  for (const r of rows) {
    const status = r.cached ? chalk.green('cached ') : chalk.yellow('missing');
    const size = `${r.files > 1 ? `${r.files} files, ` : ''}${formatBytes(r.bytes)}`;
    log(`${status}  ${r.name.padEnd(w)}  ${r.kind.padEnd(5)}  ${r.path.padEnd(pw)}  ${size.padEnd(18)}  ${r.description}`);
  }
  const missing = rows.filter((r) => !r.cached).length;
  log(`cache: ${cacheDir}` + (missing ? ` (${missing} missing: egopipe models pull [names...])` : ''));
  return rows;
}
