/** Execution providers: 'auto' per device, explicit lists, the registry's provider, the CUDA install check. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPermanent } from '../../operators/types.js';
import { cudaProviderInstalled, sessionProviders } from '../../src/onnx/providers.js';
import { parseRecipe } from '../../src/recipe.js';
import { writeTinyHandPose3d } from '../../scripts/tiny-models.js';
import { cli, GEN, tmpDir, writeRecipe } from '../helpers/fixtures.js';

const installed = () => true;
const missing = () => false;

describe('sessionProviders', () => {
  it("'auto' is cuda then cpu in a GPU model worker, cpu elsewhere", () => {
    expect(sessionProviders(['auto'], 'cpu', installed)).toEqual(['cpu']);
    expect(sessionProviders(undefined, 'cpu', installed)).toEqual(['cpu']);
    expect(sessionProviders(['auto'], 'cuda', installed)).toEqual(['cuda', 'cpu']);
    expect(sessionProviders([], 'cuda', installed)).toEqual(['cuda', 'cpu']);
  });

  it('an explicit list keeps its order on a GPU worker and drops GPU providers on a CPU worker', () => {
    expect(sessionProviders(['tensorrt', 'cuda', 'cpu'], 'cuda', installed)).toEqual(['tensorrt', 'cuda', 'cpu']);
    expect(sessionProviders(['CUDA', 'cpu'], 'cpu', installed)).toEqual(['cpu']);
    expect(sessionProviders(['cpu'], 'cuda', installed)).toEqual(['cpu']);
  });

  it('refuses, permanently and with what to do, when nothing usable is left', () => {
    let err: unknown;
    try {
      sessionProviders(['cuda'], 'cpu', installed);
    } catch (e) {
      err = e;
    }
    expect(isPermanent(err)).toBe(true);
    expect((err as Error).message).toMatch(/need a GPU .* --gpus auto .* add 'cpu'/);
    expect(() => sessionProviders(['auto'], 'cuda', missing)).toThrow(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('finds the CUDA provider library where ONNXRUNTIME_NODE_INSTALL=cuda12 puts it', () => {
    const dir = tmpDir();
    expect(cudaProviderInstalled(dir)).toBe(false);
    fs.writeFileSync(path.join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'), '');
    expect(cudaProviderInstalled(dir)).toBe(true);
    expect(cudaProviderInstalled(null)).toBe(false);
  });
});

describe("the registry's provider", () => {
  const recipe = (models: string, opParams: string) => `models:
${models}
ops:
  - op: probe
  - op: clips
  - op: hand_keypoints
  - op: hand_pose_3d
    params: {${opParams}}
`;

  it('applies to the op that uses the model unless the op sets providers itself', () => {
    const m = writeTinyHandPose3d(tmpDir());
    const r1 = parseRecipe(recipe(`  h: {path: ${m}, provider: cpu}`, 'model: "model:h"'));
    expect(r1.ops[3].params.providers).toEqual(['cpu']);
    const r2 = parseRecipe(recipe(`  h: {path: ${m}, provider: cuda}`, 'model: "model:h"'));
    expect(r2.ops[3].params.providers).toEqual(['cuda']);
    const r3 = parseRecipe(recipe(`  h: {path: ${m}, provider: cuda}`, 'model: "model:h", providers: [cuda, cpu]'));
    expect(r3.ops[3].params.providers).toEqual(['cuda', 'cpu']);
    const r4 = parseRecipe(recipe(`  h: {path: ${m}}`, 'model: "model:h"'));
    expect(r4.ops[3].params.providers).toEqual(['auto']);
    // the provider is part of the op's configuration (a change reruns the op)
    expect(r1.ops[3].config_hash).not.toBe(r4.ops[3].config_hash);
  });

  it('refuses models of one op that ask for different providers', () => {
    const text = `models:
  a: {path: /m/a.onnx, provider: cpu}
  b: {path: /m/b.onnx, provider: cuda}
ops:
  - op: probe
  - op: depth
    params: {model: "model:a", intrinsics_model: "model:b", backend: depth_anything_v2}
`;
    expect(() => parseRecipe(text, 'r.yaml')).toThrow(/ask for different providers \(cpu, cuda\)/);
  });
});

describe('--gpus without the CUDA provider', () => {
  it.skipIf(cudaProviderInstalled())('stops before writing anything, exit 2, saying how to install it', () => {
    const dir = tmpDir();
    const r = writeRecipe(
      dir,
      `ops:
  - op: probe
  - op: clips
  - op: debug_model
`,
    );
    const out = path.join(dir, 'out');
    const res = cli(['run', r, '--input', path.join(GEN, 'many', 'v01.mp4'), '--out', out, '--gpus', '0']);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/GPUs 0 requested .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci.*--gpus none/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it.skipIf(cudaProviderInstalled() || process.platform === 'win32')('--gpus auto that finds GPUs runs the model workers on the CPU, with a warning', () => {
    const dir = tmpDir();
    // a stand-in nvidia-smi that reports one GPU
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'nvidia-smi'), '#!/bin/sh\necho "GPU 0: Stand-in GPU (UUID: GPU-0000)"\n', { mode: 0o755 });
    const r = writeRecipe(dir, `resources: {gpus: auto}\nops:\n  - op: probe\n  - op: clips\n  - op: debug_model\n`);
    const out = path.join(dir, 'out');
    const res = cli(['run', r, '--input', path.join(GEN, 'many', 'v01.mp4'), '--out', out], { env: { PATH: `${bin}${path.delimiter}${process.env.PATH}` } });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/--gpus auto found 1 GPU\(s\) but onnxruntime-node has no CUDA provider installed.*model workers use the CPU this run/);
    expect(res.stderr).toMatch(/model workers: CPU/);
  });
});
