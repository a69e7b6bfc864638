/** `egopipe demo` / `npm run demo`: sample videos -> recipes/demo.yaml -> summary. */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, printSummary } from './cli.js';
import { makeGoodFixtures } from './fixtures.js';
import { Logger } from './log.js';
import { loadRecipe } from './recipe.js';
import { runPipeline } from './run.js';

export function sharedVideos(): string | null {
  const dir = process.env.EGOPIPE_SHARED_VIDEOS ?? path.resolve(ROOT, '..', 'shared', 'data', 'videos');
  return fs.existsSync(dir) ? dir : null;
}

export async function runDemo(o: { out: string; recipe: string; quiet: boolean }): Promise<number> {
  const logger = new Logger({ format: 'text', quiet: o.quiet });
  const recipe = loadRecipe(o.recipe);
  const fixtures = path.join(ROOT, 'fixtures', 'generated', 'demo');
  logger.info('demo', `generating sample videos in ${fixtures} (ffmpeg lavfi; reused when present)`);
  makeGoodFixtures(fixtures);
  const inputs = [fixtures];
  const shared = sharedVideos();
  // models: from the cache, else the shared data folder next to the checkout, else downloaded
  const sharedData = path.resolve(ROOT, '..', 'shared', 'data');
  if (!process.env.EGOPIPE_MIRROR && fs.existsSync(sharedData)) process.env.EGOPIPE_MIRROR = sharedData;
  if (shared) inputs.push(shared);
  else logger.info('demo', 'no ../shared/data/videos here: running on the generated videos only');
  const out = path.resolve(o.out);
  if (fs.existsSync(out)) {
    if (!fs.existsSync(path.join(out, 'manifest.sqlite'))) {
      throw new Error(`${out} exists and is not an egopipe output folder; choose another --out`);
    }
    fs.rmSync(out, { recursive: true, force: true });
  }
  logger.info('demo', `running ${path.relative(process.cwd(), o.recipe) || o.recipe} on ${inputs.join(', ')}`);
  const summary = await runPipeline({ recipe, inputs, outDir: out, argv: ['demo'], logger });
  printSummary(summary, { json: false });
  return summary.exitCode;
}
