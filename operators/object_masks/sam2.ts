/**
 * SAM 2.1 four-module ONNX runtime (onnxruntime-node): loading with contract checks, and one
 * call per module. The tracking logic (memory bank, prompts, occlusion) lives in tracker.ts and
 * talks to the modules through the `Sam2Modules` interface, so it can be tested with fakes.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { PermanentError } from '../types.js';
import {
  CONTRACT,
  FEAT_SIZE,
  FEAT_TOKENS,
  HIDDEN_DIM,
  IMAGE_SIZE,
  LOWRES_SIZE,
  MEM_DIM,
  MODULES,
  MODULE_FILES,
  NUM_MASKMEM,
  PTR_TOKENS,
  checkModule,
  type ModuleName,
} from './contract.js';
import type { MemoryInputs } from './memory.js';
import { createOnnxSession, onnxSessionOptions } from '../../src/onnx/session.js';

export type Sam2Paths = Record<ModuleName, string>;

export const WEIGHTS_HELP =
  'object_masks needs SAM 2.1 exported to ONNX as the four modules NVIDIA DeepStream MaskTracker uses ' +
  '(image_encoder.onnx, mask_decoder.onnx, memory_attention.onnx, memory_encoder.onnx). Get them with NVIDIA\'s exporter: ' +
  '`git clone https://github.com/NVIDIA-AI-IOT/deepstream_tools && cd deepstream_tools/sam2-onnx-tensorrt && bash run.sh` ' +
  '(it pip-installs its SAM 2 copy, downloads the Meta SAM 2.1 checkpoints and runs `python3 export_sam2_onnx.py --model <tiny|small|base_plus|large>`; ' +
  'the files land in checkpoints/<model>/). Then set `model_dir: /path/to/checkpoints/<model>` in the recipe, or the four paths ' +
  '(image_encoder, mask_decoder, memory_attention, memory_encoder). See operators/object_masks/README.md. ' +
  'This operator never produces masks without real weights.';

/** Missing weights: permanent (a retry cannot help). */
export class Sam2WeightsError extends PermanentError {
  override name = 'Sam2WeightsError';
}

/** A file that does not follow the contract, or a run-time shape mismatch: permanent. */
export class Sam2ContractError extends PermanentError {
  override name = 'Sam2ContractError';
}

export interface Sam2PathParams {
  model_dir?: string;
  image_encoder?: string;
  mask_decoder?: string;
  memory_attention?: string;
  memory_encoder?: string;
}

/**
 * The four module files from `model_dir` and/or explicit paths (explicit paths win). Throws
 * Sam2WeightsError naming every missing file and how to get them.
 */
export function resolveSam2Paths(p: Sam2PathParams, cwd = process.cwd()): Sam2Paths {
  const dir = typeof p.model_dir === 'string' && p.model_dir.trim() ? path.resolve(cwd, p.model_dir) : null;
  const out = {} as Sam2Paths;
  const missing: string[] = [];
  for (const m of MODULES) {
    const given = p[m];
    let file: string | null = null;
    if (typeof given === 'string' && given.trim()) file = path.resolve(cwd, given);
    else if (dir) file = path.join(dir, MODULE_FILES[m]);
    if (!file) {
      missing.push(`${m} (no model_dir and no '${m}' path given)`);
      continue;
    }
    if (!existsSync(file)) missing.push(`${m}: ${file} does not exist`);
    else {
      const st = statSync(file);
      if (!st.isFile() || st.size === 0) missing.push(`${m}: ${file} is not a non-empty file`);
    }
    out[m] = file;
  }
  if (missing.length) throw new Sam2WeightsError(`object_masks: SAM 2.1 model files missing:\n  - ${missing.join('\n  - ')}\n${WEIGHTS_HELP}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Module interface

export interface ImageFeatures {
  /** [1, 256, 64, 64] */
  pixFeat: Float32Array;
  /** [1, 32, 256, 256] */
  highRes0: Float32Array;
  /** [1, 64, 128, 128] */
  highRes1: Float32Array;
  /** [1, 256, 64, 64] */
  visionFeats: Float32Array;
  /** [4096, 1, 256] */
  visionPosEmbed: Float32Array;
}

export interface DecoderOutput {
  /** [256] */
  objPtr: Float32Array;
  /** [1024 * 1024] */
  maskForMem: Float32Array;
  /** [256 * 256] logits */
  predMask: Float32Array;
  iou: number;
  objectScore: number;
}

export interface MemoryEncoding {
  /** [64, 64, 64] */
  features: Float32Array;
  /** [4096, 64] */
  posEnc: Float32Array;
  /** [7, 64] */
  temporalCode: Float32Array;
}

export interface Sam2Modules {
  encodeImage(image: Float32Array): Promise<ImageFeatures>;
  /** One object: `imageEmbed` [256*64*64], points in input coordinates. */
  decode(imageEmbed: Float32Array, feats: ImageFeatures, coords: Float32Array, labels: Float32Array, count: number): Promise<DecoderOutput>;
  attend(feats: ImageFeatures, mem: MemoryInputs): Promise<Float32Array>;
  encodeMemory(maskForMem: Float32Array, feats: ImageFeatures, objectScore: number): Promise<MemoryEncoding>;
  /** ms spent in each module so far */
  timings?: () => Record<string, number>;
  release?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// onnxruntime implementation

export interface LoadOptions {
  providers?: readonly string[];
  threads?: number;
}

export interface Sam2Onnx extends Sam2Modules {
  paths: Sam2Paths;
  sessions: Record<ModuleName, ort.InferenceSession>;
  timings(): Record<string, number>;
  release(): Promise<void>;
}

function expectSize(module: ModuleName, name: string, t: ort.Tensor | undefined, n: number): Float32Array {
  if (!t) throw new Sam2ContractError(`object_masks: ${module} returned no '${name}'`);
  const d = t.data as Float32Array;
  if (!(d instanceof Float32Array) || d.length !== n) {
    throw new Sam2ContractError(`object_masks: ${module} output '${name}' must hold ${n} float32 values, has dims [${t.dims.join(',')}] (${t.type})`);
  }
  return d;
}

/** Load the four modules and check them against the contract (all problems in one error). */
export async function loadSam2(paths: Sam2Paths, opts: LoadOptions = {}): Promise<Sam2Onnx> {
  // providers first: a provider problem is its own error, not a contract problem of the files
  const so = onnxSessionOptions(opts);
  const sessions = {} as Record<ModuleName, ort.InferenceSession>;
  const problems: string[] = [];
  try {
    for (const m of MODULES) {
      try {
        sessions[m] = await createOnnxSession(paths[m], so, (why) => new Error(`${m}: onnxruntime cannot load ${paths[m]}: ${why}`));
      } catch (e) {
        problems.push((e as Error).message);
        continue;
      }
      problems.push(...checkModule(m, sessions[m].inputMetadata, sessions[m].outputMetadata));
    }
  } catch (e) {
    problems.push(String(e));
  }
  if (problems.length) {
    await Promise.all(Object.values(sessions).map((s) => s.release().catch(() => undefined)));
    throw new Sam2ContractError(`object_masks: the SAM 2.1 modules do not follow the DeepStream export contract (operators/object_masks/README.md):\n  - ${problems.join('\n  - ')}`);
  }
  const ms: Record<string, number> = { image_encoder: 0, memory_attention: 0, mask_decoder: 0, memory_encoder: 0 };
  const calls: Record<string, number> = { image_encoder: 0, memory_attention: 0, mask_decoder: 0, memory_encoder: 0 };
  const run = async (m: ModuleName, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> => {
    const t0 = performance.now();
    try {
      return await sessions[m].run(feeds, CONTRACT[m].outputs.map((o) => o.name));
    } finally {
      ms[m] += performance.now() - t0;
      calls[m]++;
    }
  };
  const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
  const F = FEAT_SIZE;
  const featN = HIDDEN_DIM * F * F;

  return {
    paths,
    sessions,
    timings: () => ({ ...Object.fromEntries(Object.entries(ms).map(([k, v]) => [`${k}_ms`, Math.round(v)])), ...Object.fromEntries(Object.entries(calls).map(([k, v]) => [`${k}_calls`, v])) }),
    async encodeImage(image) {
      if (image.length !== 3 * IMAGE_SIZE * IMAGE_SIZE) throw new RangeError(`image must hold 3x${IMAGE_SIZE}x${IMAGE_SIZE} floats`);
      const r = await run('image_encoder', { image: f32(image, [1, 3, IMAGE_SIZE, IMAGE_SIZE]) });
      return {
        pixFeat: expectSize('image_encoder', 'pix_feat', r.pix_feat, featN),
        highRes0: expectSize('image_encoder', 'high_res_feat0', r.high_res_feat0, 32 * 256 * 256),
        highRes1: expectSize('image_encoder', 'high_res_feat1', r.high_res_feat1, 64 * 128 * 128),
        visionFeats: expectSize('image_encoder', 'vision_feats', r.vision_feats, featN),
        visionPosEmbed: expectSize('image_encoder', 'vision_pos_embed', r.vision_pos_embed, FEAT_TOKENS * HIDDEN_DIM),
      };
    },
    async decode(imageEmbed, feats, coords, labels, count) {
      const r = await run('mask_decoder', {
        point_coords: f32(coords, [1, count, 2]),
        point_labels: f32(labels, [1, count]),
        image_embed: f32(imageEmbed, [1, HIDDEN_DIM, F, F]),
        high_res_feats_0: f32(feats.highRes0, [1, 32, 256, 256]),
        high_res_feats_1: f32(feats.highRes1, [1, 64, 128, 128]),
      });
      return {
        objPtr: expectSize('mask_decoder', 'obj_ptr', r.obj_ptr, HIDDEN_DIM),
        maskForMem: expectSize('mask_decoder', 'mask_for_mem', r.mask_for_mem, IMAGE_SIZE * IMAGE_SIZE),
        predMask: expectSize('mask_decoder', 'pred_mask', r.pred_mask, LOWRES_SIZE * LOWRES_SIZE),
        iou: expectSize('mask_decoder', 'iou', r.iou, 1)[0],
        objectScore: expectSize('mask_decoder', 'occ_logit', r.occ_logit, 1)[0],
      };
    },
    async attend(feats, mem) {
      const r = await run('memory_attention', {
        current_vision_feat: f32(feats.visionFeats, [1, HIDDEN_DIM, F, F]),
        current_vision_pos_embed: f32(feats.visionPosEmbed, [FEAT_TOKENS, 1, HIDDEN_DIM]),
        memory_0: f32(mem.memory0, [1, mem.numPointers, HIDDEN_DIM]),
        memory_1: f32(mem.memory1, [1, mem.numMemories, MEM_DIM, F, F]),
        memory_pos_embed: f32(mem.memoryPosEmbed, [1, mem.numMemories * FEAT_TOKENS + PTR_TOKENS * mem.numPointers, MEM_DIM]),
        cond_frame_id_diff: f32(Float32Array.of(mem.condFrameIdDiff), []),
      });
      return expectSize('memory_attention', 'image_embed', r.image_embed, featN);
    },
    async encodeMemory(maskForMem, feats, objectScore) {
      const r = await run('memory_encoder', {
        mask_for_mem: f32(maskForMem, [1, 1, IMAGE_SIZE, IMAGE_SIZE]),
        pix_feat: f32(feats.pixFeat, [1, HIDDEN_DIM, F, F]),
        occ_logit: f32(Float32Array.of(objectScore), [1, 1]),
      });
      return {
        features: expectSize('memory_encoder', 'maskmem_features', r.maskmem_features, MEM_DIM * F * F),
        posEnc: expectSize('memory_encoder', 'maskmem_pos_enc', r.maskmem_pos_enc, FEAT_TOKENS * MEM_DIM),
        temporalCode: expectSize('memory_encoder', 'temporal_code', r.temporal_code, NUM_MASKMEM * MEM_DIM),
      };
    },
    async release() {
      await Promise.all(Object.values(sessions).map((s) => s.release().catch(() => undefined)));
    },
  };
}
