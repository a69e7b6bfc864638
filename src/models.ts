/** Model files for ops: an explicit path from the recipe, or a known asset from the store. */
import fs from 'node:fs';
import path from 'node:path';
import { PermanentError } from '../operators/types.js';
import { AssetError, pullAsset } from './assets.js';

export class ModelMissingError extends PermanentError {
  override name = 'ModelMissingError';
}

/**
 * `given` non-empty: that file (relative paths against the working directory) must exist.
 * Empty: the asset `asset` from the cache, else $EGOPIPE_MIRROR, else downloaded and sha256-checked.
 */
export async function modelFile(given: string | undefined, asset: string): Promise<string> {
  if (isAssetRef(given)) return resolveAssetRef(given);
  if (given) {
    const p = path.resolve(given);
    if (!fs.existsSync(p)) {
      throw new ModelMissingError(`model file not found: ${p}. Fix the path in the recipe, or leave it empty to use the "${asset}" asset (egopipe models pull ${asset}).`);
    }
    return p;
  }
  try {
    return (await pullAsset(asset)).path;
  } catch (e) {
    const msg = e instanceof AssetError ? e.message : String(e);
    throw new ModelMissingError(`model "${asset}" is not available: ${msg}\nGet it with 'egopipe models pull ${asset}' (or set EGOPIPE_MIRROR to a folder laid out like shared/data), or give its path in the recipe.`);
  }
}

/** `asset:<name>[/<path inside it>]`, e.g. asset:retargeting_configs/teleop/allegro_hand_right.yml */
export function isAssetRef(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith('asset:');
}

/** Resolve an `asset:` reference to a local path (pulling the asset); other strings: path.resolve. */
export async function resolveAssetRef(ref: string): Promise<string> {
  if (!isAssetRef(ref)) return path.resolve(ref);
  const [name, ...rest] = ref.slice('asset:'.length).split('/');
  let base: string;
  try {
    base = (await pullAsset(name)).path;
  } catch (e) {
    const msg = e instanceof AssetError ? e.message : String(e);
    throw new ModelMissingError(`"${ref}": asset "${name}" is not available: ${msg}\nGet it with 'egopipe models pull ${name}' (or set EGOPIPE_MIRROR).`);
  }
  const p = path.join(base, ...rest);
  if (!fs.existsSync(p)) throw new ModelMissingError(`"${ref}": ${rest.join('/')} is not part of asset "${name}" (looked at ${p})`);
  return p;
}

/**
 * The shared weights check of model ops: `file` must name an existing, non-empty file, else
 * `fail(message)` is thrown (an op-specific PermanentError) with what is wrong and `help` on how
 * to get the weights. Returns the path.
 */
export function requireModelFile(file: unknown, what: string, help: string, fail: new (message: string) => Error): string {
  if (typeof file !== 'string' || file.trim() === '') throw new fail(`${what}: not configured (empty). ${help}`);
  if (!fs.existsSync(file)) throw new fail(`${what}: file not found: ${file}. ${help}`);
  const st = fs.statSync(file);
  if (!st.isFile() || st.size === 0) throw new fail(`${what}: not a non-empty file: ${file}. ${help}`);
  return file;
}
