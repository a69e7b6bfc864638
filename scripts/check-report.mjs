#!/usr/bin/env node
/**
 * Render an egopipe HTML report in headless Chromium and check the screenshot is not blank.
 *
 *   node scripts/check-report.mjs <report/index.html> [--screenshot out.png] [--chromium /path]
 *
 * Exit 0 when the page rendered (or "skipped: no chromium" when no Chromium binary is installed:
 * this check is optional and no test depends on it); 1 when Chromium failed or the screenshot is
 * blank; 2 on bad arguments.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
let html = null;
let shot = null;
let chromium = process.env.CHROMIUM ?? null;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--screenshot') shot = args[++i];
  else if (a === '--chromium') chromium = args[++i];
  else if (a === '-h' || a === '--help') {
    console.log('usage: node scripts/check-report.mjs <report/index.html> [--screenshot out.png] [--chromium /usr/bin/chromium]');
    process.exit(0);
  } else if (!html) html = a;
  else {
    console.error(`unexpected argument: ${a}`);
    process.exit(2);
  }
}
if (!html) {
  console.error('usage: node scripts/check-report.mjs <report/index.html> [--screenshot out.png]');
  process.exit(2);
}
html = path.resolve(html);
if (!fs.existsSync(html)) {
  console.error(`no such file: ${html}`);
  process.exit(2);
}
const candidates = chromium ? [chromium] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const bin = candidates.find((p) => fs.existsSync(p));
if (!bin) {
  console.log(`skipped: no chromium (looked for ${candidates.join(', ')})`);
  process.exit(0);
}

const WIDTH = 1280;
const HEIGHT = 2000;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-check-report-'));
const out = path.resolve(shot ?? path.join(work, 'screenshot.png'));
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.rmSync(out, { force: true });
const argv = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  `--user-data-dir=${path.join(work, 'profile')}`,
  `--screenshot=${out}`,
  `--window-size=${WIDTH},${HEIGHT}`,
  pathToFileURL(html).href,
];
const t0 = Date.now();
const r = spawnSync(bin, argv, { encoding: 'utf8', timeout: 120_000 });
const secs = ((Date.now() - t0) / 1000).toFixed(1);
try {
  if (r.error) throw new Error(`could not run ${bin}: ${r.error.message}`);
  if (!fs.existsSync(out)) {
    throw new Error(`${bin} wrote no screenshot (exit ${r.status}${r.signal ? ', ' + r.signal : ''}):\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  }
  const png = fs.readFileSync(out);
  if (png.length < 33 || png.toString('latin1', 1, 4) !== 'PNG' || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error(`${out} is not a PNG`);
  const w = png.readUInt32BE(16);
  const h = png.readUInt32BE(20);
  // non-blank: the pixels vary (not one flat colour) and a fair share differs from the background
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const px = info.width * info.height;
  const bg = [data[0], data[1], data[2]];
  let differ = 0;
  const colours = new Set();
  for (let i = 0; i < px; i++) {
    const k = i * 3;
    if (Math.abs(data[k] - bg[0]) + Math.abs(data[k + 1] - bg[1]) + Math.abs(data[k + 2] - bg[2]) > 30) differ++;
    if (colours.size < 5000 && i % 7 === 0) colours.add((data[k] << 16) | (data[k + 1] << 8) | data[k + 2]);
  }
  const frac = differ / px;
  if (frac < 0.01 || colours.size < 16) throw new Error(`screenshot looks blank: ${(frac * 100).toFixed(2)}% of pixels differ from the corner colour, ${colours.size} distinct colours`);
  console.log(`ok: ${bin} rendered ${html} in ${secs} s → ${shot ? out : 'screenshot (not kept; --screenshot <file> keeps it)'} (${w}x${h}, ${(frac * 100).toFixed(1)}% non-background pixels, ${colours.size >= 5000 ? '5000+' : colours.size} colours sampled)`);
  process.exitCode = 0;
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  fs.rmSync(work, { recursive: true, force: true }); // the profile (and the screenshot unless --screenshot put it elsewhere)
}
