/**
 * Which onnxruntime execution providers a session gets, decided in one place.
 *
 * Ops take a `providers` list (default ['auto']). 'auto' means: the CUDA provider (then CPU as
 * fallback for unsupported nodes) inside a model worker pinned to a GPU, the CPU provider
 * everywhere else. An explicit list is used as given on a GPU worker; on a CPU worker (laptop,
 * `--gpus none`) GPU providers are dropped so a server recipe still runs, and a list with no CPU
 * entry left is refused with what to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { PermanentError } from '../../operators/types.js';

export type DeviceKind = 'cuda' | 'cpu';

const GPU_PROVIDERS = new Set(['cuda', 'tensorrt', 'dml', 'webgpu', 'coreml']);

/** The device of this process: model workers pinned to a GPU get EGOPIPE_DEVICE=cuda. */
export function currentDevice(env: NodeJS.ProcessEnv = process.env): DeviceKind {
  return env.EGOPIPE_DEVICE === 'cuda' ? 'cuda' : 'cpu';
}

/** Folder of onnxruntime-node's native binding for this platform (where the CUDA provider lands). */
export function ortBinDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('onnxruntime-node/package.json');
    return path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/**
 * Whether onnxruntime-node's CUDA provider library is installed (it is not shipped in the npm
 * package; `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` downloads it next to the binding).
 */
export function cudaProviderInstalled(dir: string | null = ortBinDir()): boolean {
  if (!dir) return false;
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return fs.existsSync(path.join(dir, lib));
}

export const CUDA_INSTALL_HINT =
  'onnxruntime-node has no CUDA provider installed: reinstall with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` on a host with internet (CUDA 12 + cuDNN 9 needed), or run with `--gpus none`';

/**
 * The provider list for a session. `requested` is the op's `providers` param (undefined = auto).
 * Throws a PermanentError (the task is dead-lettered at once, with the reason) when nothing usable
 * remains.
 */
export function sessionProviders(
  requested: readonly string[] | undefined,
  device: DeviceKind = currentDevice(),
  cudaInstalled: () => boolean = cudaProviderInstalled,
): string[] {
  const req = requested && requested.length ? requested.map((p) => p.toLowerCase()) : ['auto'];
  const out: string[] = [];
  const add = (p: string) => {
    if (!out.includes(p)) out.push(p);
  };
  for (const p of req) {
    if (p === 'auto') {
      if (device === 'cuda') add('cuda');
      add('cpu');
    } else if (device === 'cpu' && GPU_PROVIDERS.has(p)) {
      continue; // a server recipe on a laptop: fall through to the CPU entries
    } else add(p);
  }
  if (!out.length) {
    throw new PermanentError(
      `providers ${JSON.stringify(requested)} need a GPU but this model worker runs on the CPU: run with --gpus auto (or a GPU list), or add 'cpu' to the op's providers`,
    );
  }
  if (out.includes('cuda') && !cudaInstalled()) throw new PermanentError(CUDA_INSTALL_HINT);
  return out;
}

/** The `providers` param every model op declares. */
export const PROVIDERS_PARAM = {
  type: 'string[]',
  default: ['auto'],
  description:
    "onnxruntime execution providers in order of preference. 'auto': cuda then cpu in a GPU model worker, cpu elsewhere; an explicit list such as [cuda, cpu] drops GPU providers on CPU-only runs.",
} as const;
