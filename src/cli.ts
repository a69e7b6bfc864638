/**
 * The `egopipe` command line. Exit codes: 0 all done; 3 finished but some items dead-lettered;
 * 4 stopped by a data-quality probe; 2 usage, recipe or environment error (nothing written);
 * 1 internal failure; 130 interrupted.
 */
import { Command, CommanderError, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.js';
import chalk from 'chalk';
import { OPERATORS } from '../operators/registry.js';
import { ToolNotFoundError } from './ffmpeg.js';
import { checkInputs, InputError } from './ingest.js';
import { LockedError } from './lock.js';
import { fmtDuration, Logger, type LogFormat } from './log.js';
import { DiskFullError } from './parquet.js';
import { formatCsv, formatTable, runQuery } from './query.js';
import { loadRecipe, RecipeError } from './recipe.js';
import { EXIT, ModelUnavailableError, runPipeline, type RunSummary } from './run.js';
import { formatStatus, NoManifestError, readDlq, readStatus } from './status.js';
import { doctor, formatDoctor } from './doctor.js';
import { resolveDevices } from './model-pool.js';
import { Manifest, ManifestVersionError } from './manifest.js';
import { runsTable, videosTable } from './tables.js';
import type { TableSpec } from '../operators/types.js';

export { ROOT };

class UsageError extends Error {
  override name = 'UsageError';
}

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

export function printSummary(s: RunSummary, opts: { json: boolean; quiet?: boolean }): void {
  if (opts.json) {
    out(JSON.stringify({ event: 'summary', ...s }));
    return;
  }
  const m = new Manifest(Manifest.pathIn(s.out), { readonly: true });
  let clips = 0;
  try {
    clips = (m.db.prepare('SELECT COUNT(*) AS n FROM clips').get() as { n: number }).n;
  } finally {
    m.close();
  }
  const rows = Object.entries(s.rows)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  const fps = s.frames / Math.max(s.seconds, 1e-3);
  const lines = [
    chalk.bold(`egopipe run ${s.run_id} ${s.interrupted ? chalk.yellow('interrupted') : s.stopped_by_probe ? chalk.red('stopped by a probe') : s.dead ? chalk.yellow('finished with dead letters') : chalk.green('finished')}`),
    `  videos     ${s.videos.seen} seen, ${s.videos.new} new, ${s.videos.duplicates} duplicate(s) skipped; ${s.videos.ok} ok, ${s.videos.failed} failed (all runs)`,
    `  scenes     ${s.rows.scenes ?? 0} written this run`,
    `  clips      ${s.rows.clips ?? 0} written this run (${clips} in total)`,
    `  rows       ${rows || 'none (nothing left to do)'}`,
    `  failures   ${s.dead} dead-lettered${s.dead ? ` — see: egopipe dlq --out ${JSON.stringify(s.out)}` : ''}`,
    ...(s.alerts.length ? [`  alerts     ${s.alerts.length} probe alert(s)${s.stopped_by_probe ? `; stopped by probe "${s.stopped_by_probe}"` : ''}:`, ...s.alerts.slice(0, 10).map((a) => `             - ${a.message}`)] : []),
    `  time       ${fmtDuration(s.seconds)}  (${fps.toFixed(0)} frames/s summed over ops, ${(s.videos.new / Math.max(s.seconds, 1e-3)).toFixed(2)} videos/s)`,
    `  output     ${s.out}`,
    `  try        npx egopipe query --out ${JSON.stringify(s.out)} "SELECT v.path, count(*) AS clips FROM clips c JOIN videos v USING (video_id) GROUP BY 1 ORDER BY 2 DESC"`,
    ...(s.rows.robot_joints
      ? [`             npx egopipe query --out ${JSON.stringify(s.out)} "SELECT robot, handedness, count(*) AS frames, avg(residual) AS mean_residual FROM robot_joints GROUP BY ALL"`]
      : []),
  ];
  out(lines.join('\n'));
}

function loggerFrom(o: { quiet?: boolean; logFormat?: string; verbose?: boolean }): Logger {
  return new Logger({ format: (o.logFormat ?? 'text') as LogFormat, quiet: !!o.quiet, verbose: !!o.verbose });
}

async function cmdRun(recipeFile: string, o: {
  input: string[];
  out: string;
  quiet?: boolean;
  logFormat?: string;
  progressInterval?: string;
  retryDead?: boolean;
  forceLock?: boolean;
  workers?: string;
  limit?: string;
  gpus?: string;
  metricsPort?: string;
  metricsHost?: string;
  verbose?: boolean;
}): Promise<number> {
  if (o.metricsPort !== undefined && !(Number.isInteger(Number(o.metricsPort)) && Number(o.metricsPort) >= 0 && Number(o.metricsPort) < 65536)) {
    throw new UsageError(`--metrics-port must be a port number (0-65535), got ${o.metricsPort}`);
  }
  if (o.gpus !== undefined) {
    try {
      resolveDevices(o.gpus, 1);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const recipe = loadRecipe(recipeFile);
  if (o.workers !== undefined) {
    const n = Number(o.workers);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers must be a positive integer, got ${o.workers}`);
    recipe.resources.cpu_workers = n;
  }
  let limit: number | undefined;
  if (o.limit !== undefined) {
    limit = Number(o.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer, got ${o.limit}`);
  }
  checkInputs(o.input);
  const logger = loggerFrom(o);
  const summary = await runPipeline({
    recipe,
    inputs: o.input,
    outDir: o.out,
    argv: process.argv.slice(2),
    logger,
    progressInterval: o.progressInterval ? Number(o.progressInterval) : undefined,
    retryDead: o.retryDead,
    forceLock: o.forceLock,
    limit,
    gpus: o.gpus,
    metricsPort: o.metricsPort !== undefined ? Number(o.metricsPort) : undefined,
    metricsHost: o.metricsHost,
  });
  if (!o.quiet || o.logFormat === 'json') printSummary(summary, { json: o.logFormat === 'json' });
  return summary.exitCode;
}

/** Markdown schema of every output table: the core tables, then each op's. */
export function tablesMarkdown(): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  const specs: Array<[TableSpec, string]> = [
    [videosTable, 'written by the orchestrator'],
    [runsTable, 'written by the orchestrator'],
  ];
  for (const op of Object.values(OPERATORS)) for (const t of op.outputs) specs.push([t, `op \`${op.name}\``]);
  for (const [t, by] of specs) {
    if (seen.has(t.name)) continue;
    seen.add(t.name);
    parts.push(`#### \`${t.name}\` (${by})\n\n${t.description}\n\n| column | type | meaning |\n|---|---|---|`);
    for (const [c, ty] of Object.entries(t.columns)) parts.push(`| \`${c}\` | ${ty} | ${(t.docs?.[c] ?? '').replace(/\|/g, '\\|')} |`);
    parts.push('');
  }
  return parts.join('\n');
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('egopipe')
    .description('Turn raw egocentric video into robot-learning data: scene clips, hands, masks, 3D, robot joint trajectories — as Parquet.')
    .version(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description('Run a recipe over videos. Running again with the same --out resumes: only unfinished work runs.')
    .argument('<recipe>', 'recipe YAML file (see recipes/)')
    .requiredOption('-i, --input <paths...>', 'video files, folders (scanned recursively) or .txt lists of paths')
    .requiredOption('-o, --out <dir>', 'output folder (Parquet tables + manifest); reuse it to resume')
    .option('-w, --workers <n>', 'CPU worker threads (overrides resources.cpu_workers)')
    .option('--limit <n>', 'take only the first n input files (in path order; a dry run on a sample before the full run)')
    .option('--gpus <list>', 'GPUs for model workers: none | auto | 0,1,2,3 (overrides resources.gpus)')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://<host>:<port>/metrics during the run (0 = any free port)')
    .option('--metrics-host <host>', 'address the metrics endpoint binds to', '127.0.0.1')
    .option('-q, --quiet', 'no progress output; errors only')
    .addOption(new Option('--log-format <format>', 'log lines on stderr as text or JSON lines').choices(['text', 'json']).default('text'))
    .option('--progress-interval <seconds>', 'seconds between status lines when stderr is not a terminal', '10')
    .option('--retry-dead', 'retry dead-lettered items of earlier runs')
    .option('--force-lock', 'take over a lock held by a run on another host')
    .option('-v, --verbose', 'debug logs')
    .action(async (recipe, o) => {
      process.exitCode = await cmdRun(recipe, o);
    });

  program
    .command('status')
    .description('Task counts by state per op, throughput and ETA. Safe to run from another terminal during a run.')
    .requiredOption('-o, --out <dir>', 'output folder of a run')
    .option('--json', 'print JSON')
    .option('--all', "count every task in --out (all recipes that wrote there), not only the live or last run's recipe")
    .option('--watch [seconds]', 'print again every n seconds (default 5) while a run is live, then once more and exit; --json prints one JSON line each time')
    .action(async (o) => {
      const watch = o.watch === undefined ? null : o.watch === true ? 5 : Number(o.watch);
      if (watch !== null && !(watch > 0)) throw new UsageError(`--watch must be a number of seconds > 0, got ${String(o.watch)}`);
      const clear = watch !== null && process.stdout.isTTY && !o.json ? '\x1b[2J\x1b[H' : '';
      for (;;) {
        const s = readStatus(o.out, { all: !!o.all });
        out(o.json ? JSON.stringify(s, null, watch === null ? 2 : 0) : clear + formatStatus(s));
        if (watch === null || !s.live) return;
        await new Promise((r) => setTimeout(r, watch * 1000));
      }
    });

  program
    .command('dlq')
    .description('Dead-lettered items: video path or clip id, op, attempts, last error.')
    .requiredOption('-o, --out <dir>', 'output folder of a run')
    .option('--json', 'print a JSON array')
    .action((o) => {
      const d = readDlq(o.out);
      if (o.json) return out(JSON.stringify(d, null, 2));
      if (!d.length) return out('no dead-lettered items');
      out(
        formatTable(
          ['kind', 'video_path', 'clip_id', 'op', 'attempts', 'last_error'],
          d.map((x) => ({ ...x, clip_id: x.clip_id ?? '' })),
          100,
        ),
      );
    });

  program
    .command('query')
    .description('SQL (DuckDB) over the outputs; every table is a view by its name (videos, scenes, clips, runs, ...; tasks from the manifest).')
    .requiredOption('-o, --out <dir>', 'output folder of a run')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
    .argument('<sql>', 'the query, e.g. "SELECT count(*) FROM clips"')
    .action(async (sql, o) => {
      if (!fs.existsSync(o.out)) throw new UsageError(`no such output folder: ${o.out}`);
      let r;
      try {
        r = await runQuery(o.out, sql);
      } catch (e) {
        throw new UsageError(`query failed: ${(e as Error).message}`);
      }
      if (o.format === 'json') out(JSON.stringify(r.rows));
      else if (o.format === 'csv') out(formatCsv(r.columns, r.rows));
      else out(formatTable(r.columns, r.rows));
    });

  program
    .command('validate')
    .description('Check a recipe: every error with its field path and line. Writes nothing.')
    .argument('<recipe>', 'recipe YAML file')
    .action((file) => {
      const r = loadRecipe(file);
      out(`${file}: ok — ${r.ops.length} op(s): ${r.ops.map((x) => x.op).join(' → ')}; ${r.resources.cpu_workers} CPU worker(s)`);
    });

  program
    .command('doctor')
    .description('ffmpeg/ffprobe and versions, hardware decoders, onnxruntime providers, GPUs, free disk.')
    .option('-o, --out <dir>', 'where outputs will go (free disk is checked there)', '.')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const r = await doctor({ out: o.out });
      out(o.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
      if (!r.ok) process.exitCode = EXIT.INTERNAL;
    });

  program
    .command('ops')
    .description('List the operators, their parameters (with defaults) and output tables.')
    .option('--json', 'print JSON')
    .option('--markdown', 'print the output tables as Markdown (the README section is generated from this)')
    .action((o) => {
      if (o.markdown) return out(tablesMarkdown());
      if (o.json) return out(JSON.stringify(Object.values(OPERATORS).map(({ run: _r, setup: _s, validate: _v, cost: _c, ...rest }) => rest), null, 2));
      for (const op of Object.values(OPERATORS)) {
        out(chalk.bold(`${op.name}`) + `  (${op.level}, ${op.resources.pool} pool) — ${op.description}`);
        for (const [k, p] of Object.entries(op.params)) {
          out(`    ${k}: ${p.type === 'enum' ? p.values!.join('|') : p.type}${p.orString ? '|' + p.orString : ''} = ${JSON.stringify(p.default)}  ${chalk.gray(p.description)}`);
        }
        for (const t of op.outputs) out(`    → table ${t.name}(${Object.keys(t.columns).join(', ')})`);
      }
    });

  program
    .command('runs')
    .description('List the runs recorded in an output folder (provenance).')
    .requiredOption('-o, --out <dir>', 'output folder of a run')
    .option('--json', 'print JSON')
    .action((o) => {
      if (!fs.existsSync(Manifest.pathIn(o.out))) throw new NoManifestError(`no egopipe output in ${o.out}`);
      const m = new Manifest(Manifest.pathIn(o.out), { readonly: true });
      try {
        const rows = m.db
          .prepare(`SELECT run_id, status, recipe_name, recipe_hash, code_version, host, started_at, ended_at FROM runs ORDER BY started_at`)
          .all() as Array<Record<string, unknown>>;
        const fmt = rows.map((r) => ({
          ...r,
          started_at: new Date((r.started_at as number) * 1000).toISOString(),
          ended_at: r.ended_at ? new Date((r.ended_at as number) * 1000).toISOString() : null,
        }));
        out(o.json ? JSON.stringify(fmt, null, 2) : formatTable(Object.keys(fmt[0] ?? { run_id: '' }), fmt));
      } finally {
        m.close();
      }
    });

  const models = program.command('models').description('Known model and asset files (hand models, sample videos, robot files): pull into the cache, list.');
  models
    .command('pull')
    .description('Fetch assets into the cache (default: all), verifying sha256. EGOPIPE_MIRROR=<dir> (or --mirror) serves them from a local folder laid out like shared/data.')
    .argument('[names...]', 'asset names (see `egopipe models list`)')
    .option('--mirror <dir>', 'local folder with the same layout as shared/data (default $EGOPIPE_MIRROR)')
    .option('--cache-dir <dir>', 'cache folder (default $EGOPIPE_CACHE or ~/.cache/egopipe)')
    .option('--json', 'print JSON')
    .action(async (names: string[], o) => {
      const { modelsPullCommand } = await import('./assets-cli.js');
      await modelsPullCommand(names, { mirror: o.mirror, cacheDir: o.cacheDir, json: o.json });
    });
  models
    .command('list')
    .description('List known assets and whether they are cached.')
    .option('--cache-dir <dir>', 'cache folder (default $EGOPIPE_CACHE or ~/.cache/egopipe)')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const { modelsListCommand } = await import('./assets-cli.js');
      await modelsListCommand({ cacheDir: o.cacheDir, json: o.json });
    });

  program
    .command('retarget')
    .description('Retarget human hand keypoints (JSON like shared/data/hands/human_joint_right.json, or Parquet; already in the wrist frame) to robot joint trajectories.')
    .requiredOption('--robot <config.yml>', 'dex-retargeting config (type vector | position | dexpilot)')
    .requiredOption('--urdf-dir <dir>', 'folder the config urdf_path is relative to (e.g. the robot_hands asset)')
    .requiredOption('--keypoints <file>', '.json {"frames": [[[x,y,z] x 21] ...]} or .parquet (one row per frame, list column keypoints|joints|joints_op|kp3d of 21x3, optional frame column), metres, wrist/operator frame')
    .requiredOption('--out <file>', 'output .json ({joint_names, frames, residuals}) or .parquet')
    .action(async (o) => {
      const { retargetFile } = await import('../operators/retarget/cli.js');
      for (const [flag, p] of [['--robot', o.robot], ['--urdf-dir', o.urdfDir], ['--keypoints', o.keypoints]] as const) {
        if (!fs.existsSync(p)) throw new UsageError(`${flag}: no such file or folder: ${p}`);
      }
      if (!/\.(json|parquet)$/i.test(o.out)) throw new UsageError(`--out must end in .json or .parquet, got ${o.out}`);
      let r;
      try {
        r = await retargetFile({ robot: o.robot, urdfDir: o.urdfDir, keypoints: o.keypoints, out: o.out });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      out(`${r.frames} frames retargeted in ${r.seconds.toFixed(2)} s (${(r.frames / Math.max(r.seconds, 1e-6)).toFixed(0)} frames/s), mean residual ${r.meanResidual.toExponential(3)} -> ${o.out}`);
    });

  program
    .command('report')
    .description('Write a self-contained HTML report (run summary, throughput, per-op timings, dead letters, probe alerts, sample frames with masks, keypoints and robot joints drawn on them).')
    .requiredOption('-o, --out <dir>', 'output folder of a run')
    .option('--dest <dir>', 'where to write it (default <out>/report)')
    .option('--inline', 'embed the frame PNGs in the HTML as data URIs (one file)')
    .option('--max-clips <n>', 'sample frames from at most this many clips', '6')
    .action(async (o) => {
      const { reportCommand } = await import('./report.js');
      const n = Number(o.maxClips);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--max-clips must be a whole number, got ${o.maxClips}`);
      await reportCommand({ out: o.out, dest: o.dest, inline: !!o.inline, maxClips: n });
    });

  program
    .command('demo')
    .description('Generate sample videos (plus ../shared/data/videos when present) and run recipes/demo.yaml on them.')
    .option('-o, --out <dir>', 'output folder (emptied first)', 'demo-out')
    .option('--recipe <file>', 'recipe to run', path.join(ROOT, 'recipes', 'demo.yaml'))
    .option('-q, --quiet', 'no progress output')
    .action(async (o) => {
      const { runDemo } = await import('./demo.js');
      process.exitCode = await runDemo({ out: o.out, recipe: o.recipe, quiet: !!o.quiet });
    });

  return program;
}

function isDiskFull(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === 'SQLITE_FULL' || err?.code === 'ENOSPC' || /database or disk is full|ENOSPC|No space left on device/i.test(err?.message ?? '');
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return EXIT.USAGE;
    }
    if (e instanceof RecipeError) {
      process.stderr.write(chalk.red(e.message) + '\n');
      return EXIT.USAGE;
    }
    if ((e as Error)?.name === 'ReportError') {
      process.stderr.write(chalk.red(`error: ${(e as Error).message}`) + '\n');
      return EXIT.USAGE;
    }
    if (e instanceof UsageError || e instanceof InputError || e instanceof LockedError || e instanceof NoManifestError || e instanceof ToolNotFoundError || e instanceof ModelUnavailableError || e instanceof ManifestVersionError) {
      process.stderr.write(chalk.red(`error: ${e.message}`) + '\n');
      return EXIT.USAGE;
    }
    if (e instanceof DiskFullError) {
      process.stderr.write(chalk.red(`error: ${e.message}`) + '\n');
      return EXIT.INTERNAL;
    }
    if (isDiskFull(e)) {
      process.stderr.write(
        chalk.red(
          `error: no space left on the device (${(e as Error).message}). The run stopped; nothing committed is lost and no partial ` +
            `Parquet file is visible. Free some space and run the same command again to resume.`,
        ) + '\n',
      );
      return EXIT.INTERNAL;
    }
    process.stderr.write(chalk.red(`internal error: ${(e as Error)?.stack ?? e}`) + '\n');
    process.stderr.write('This is a bug or an environment problem; the next run resumes from the last commit.\n');
    return EXIT.INTERNAL;
  }
}
