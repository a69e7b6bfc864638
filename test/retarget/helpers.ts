import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
export { rng } from '../helpers/random.js';
import { rng } from '../helpers/random.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = process.env.EGOPIPE_SHARED ?? path.resolve(ROOT, '../shared');
export const HANDS_DIR = path.join(SHARED, 'data/robots/hands');
export const CONFIG_DIR = path.join(SHARED, 'data/robots/retargeting');
export const HUMAN_JSON = path.join(SHARED, 'data/hands/human_joint_right.json');

let cache: Float64Array[] | null = null;
/** The 621 recorded right-hand frames, each 21 x 3 row-major (operator frame, metres). */
export function humanFrames(): Float64Array[] {
  if (!cache) {
    const doc = JSON.parse(fs.readFileSync(HUMAN_JSON, 'utf8')) as { frames: number[][][] };
    cache = doc.frames.map((f) => Float64Array.from(f.flat()));
  }
  return cache;
}

/** Every shipped config, relative to CONFIG_DIR (teleop/... and offline/...). */
export function allConfigs(): string[] {
  const out: string[] = [];
  for (const dir of ['teleop', 'offline']) {
    for (const f of fs.readdirSync(path.join(CONFIG_DIR, dir)).sort()) if (f.endsWith('.yml')) out.push(`${dir}/${f}`);
  }
  return out;
}

