/**
 * The ONNX contract of the four-module SAM 2.1 export used by NVIDIA DeepStream's MaskTracker
 * (NVIDIA-AI-IOT/deepstream_tools, sam2-onnx-tensorrt/export_sam2_onnx.py): names, dtypes and
 * shapes of image_encoder.onnx, mask_decoder.onnx, memory_attention.onnx, memory_encoder.onnx,
 * plus the model constants the runtime needs. See README.md for what each tensor means and which
 * facts are verified against the exporter's source.
 *
 * Shapes: numbers are fixed sizes; strings name dynamic dimensions (B = objects in a batch,
 * P = prompt points, N = object pointers, M = spatial memories, K = M*4096 + 4N).
 */
import type * as ort from 'onnxruntime-node';

/** Input side of the image encoder (the frame is resized to IMAGE_SIZE x IMAGE_SIZE). */
export const IMAGE_SIZE = 1024;
/** Backbone stride 16: the top-level feature map is 64 x 64. */
export const FEAT_SIZE = 64;
export const FEAT_TOKENS = FEAT_SIZE * FEAT_SIZE; // 4096
/** Transformer / prompt embedding width (hidden_dim). */
export const HIDDEN_DIM = 256;
/** Memory feature width (mem_dim). */
export const MEM_DIM = 64;
/** Low-resolution mask logits (stride 4). */
export const LOWRES_SIZE = 256;
/** 1 conditioning frame + 6 previous frames (num_maskmem). */
export const NUM_MASKMEM = 7;
/** Most object pointers in memory attention (max_obj_ptrs_in_encoder). */
export const MAX_OBJ_PTRS = 16;
/** Each 256-d pointer is split into HIDDEN_DIM / MEM_DIM = 4 memory tokens. */
export const PTR_TOKENS = HIDDEN_DIM / MEM_DIM;
/** SAM 2.1 `sigmoid_scale_for_mem_enc` / `sigmoid_bias_for_mem_enc`: mask_for_mem = sigmoid(logits) * 20 - 10. */
export const MEM_SIGMOID_SCALE = 20;
export const MEM_SIGMOID_BIAS = -10;
/** mask_for_mem of an empty mask (sigmoid(NO_OBJ_SCORE) * 20 - 10). */
export const EMPTY_MASK_FOR_MEM = MEM_SIGMOID_BIAS;
/** Logit SAM 2 writes into the masks of an absent object. */
export const NO_OBJ_SCORE = -1024;
/** ImageNet normalisation of the RGB input (SAM2VideoPredictor img_mean / img_std). */
export const IMG_MEAN = [0.485, 0.456, 0.406] as const;
export const IMG_STD = [0.229, 0.224, 0.225] as const;
/** Point labels of the SAM prompt encoder. */
export const LABEL_PAD = -1;
export const LABEL_NEG = 0;
export const LABEL_POS = 1;
export const LABEL_BOX_TL = 2;
export const LABEL_BOX_BR = 3;

export type ModuleName = 'image_encoder' | 'mask_decoder' | 'memory_attention' | 'memory_encoder';
export const MODULES: readonly ModuleName[] = ['image_encoder', 'mask_decoder', 'memory_attention', 'memory_encoder'];
/** File names written by export_sam2_onnx.py (into checkpoints/<model>/). */
export const MODULE_FILES: Record<ModuleName, string> = {
  image_encoder: 'image_encoder.onnx',
  mask_decoder: 'mask_decoder.onnx',
  memory_attention: 'memory_attention.onnx',
  memory_encoder: 'memory_encoder.onnx',
};

export type DimSpec = number | string;
export interface TensorSpec {
  name: string;
  /** every tensor of this export is float32 */
  dtype: 'float32';
  dims: readonly DimSpec[];
  doc: string;
}
export interface ModuleSpec {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

const t = (name: string, dims: readonly DimSpec[], doc: string): TensorSpec => ({ name, dtype: 'float32', dims, doc });

export const CONTRACT: Record<ModuleName, ModuleSpec> = {
  image_encoder: {
    inputs: [t('image', [1, 3, IMAGE_SIZE, IMAGE_SIZE], 'RGB frame resized to 1024x1024 (aspect not kept), /255, ImageNet mean/std, NCHW')],
    outputs: [
      t('pix_feat', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE], 'top-level backbone features (vision_features), input of the memory encoder'),
      t('high_res_feat0', [1, 32, 256, 256], 'FPN level 0 after the decoder conv_s0 (stride 4)'),
      t('high_res_feat1', [1, 64, 128, 128], 'FPN level 1 after the decoder conv_s1 (stride 8)'),
      t('vision_feats', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE], 'top-level features + no_mem_embed: the image embedding of a frame without memory'),
      t('vision_pos_embed', [FEAT_TOKENS, 1, HIDDEN_DIM], 'sine positional encoding of the 64x64 tokens, (HW) x 1 x C'),
    ],
  },
  mask_decoder: {
    inputs: [
      t('point_coords', ['B', 'P', 2], 'prompt points (x, y) in 1024x1024 input pixels; a box is 2 points labelled 2 (top-left) and 3 (bottom-right)'),
      t('point_labels', ['B', 'P'], '1 positive, 0 negative, 2/3 box corners, -1 padding (a frame without prompt: one point (0,0) labelled -1)'),
      t('image_embed', ['B', HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE], 'vision_feats (prompt frame without memory) or memory_attention output'),
      t('high_res_feats_0', [1, 32, 256, 256], 'image encoder high_res_feat0'),
      t('high_res_feats_1', [1, 64, 128, 128], 'image encoder high_res_feat1'),
    ],
    outputs: [
      t('obj_ptr', ['B', HIDDEN_DIM], 'object pointer (no_obj_ptr when the object is absent)'),
      t('mask_for_mem', ['B', 1, IMAGE_SIZE, IMAGE_SIZE], 'sigmoid(high-res mask logits) * 20 - 10, the memory encoder input'),
      t('pred_mask', ['B', 1, LOWRES_SIZE, LOWRES_SIZE], 'mask logits over the 1024x1024 input at stride 4 (-1024 where the object is absent)'),
      t('iou', ['B', 1], 'predicted IoU of the chosen (best of 3) mask'),
      t('occ_logit', ['B', 1], 'object score logit: > 0 the object is present, <= 0 absent/occluded'),
    ],
  },
  memory_attention: {
    inputs: [
      t('current_vision_feat', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE], 'image encoder vision_feats'),
      t('current_vision_pos_embed', [FEAT_TOKENS, 1, HIDDEN_DIM], 'image encoder vision_pos_embed'),
      t('memory_0', ['B', 'N', HIDDEN_DIM], 'object pointers: the conditioning frame first, then frame-1, frame-2, ... (at most 16)'),
      t('memory_1', ['B', 'M', MEM_DIM, FEAT_SIZE, FEAT_SIZE], 'spatial memories (maskmem_features): conditioning frame(s), then up to 6 previous frames'),
      t('memory_pos_embed', ['B', 'K', MEM_DIM], 'per memory: maskmem_pos_enc + temporal_code[t]; then 4N rows for the pointers (filled inside the graph)'),
      t('cond_frame_id_diff', [], 'frames between the current frame and the conditioning frame (temporal position of memory_0[0])'),
    ],
    outputs: [t('image_embed', ['B', HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE], 'memory-conditioned image embedding')],
  },
  memory_encoder: {
    inputs: [
      t('mask_for_mem', ['B', 1, IMAGE_SIZE, IMAGE_SIZE], 'mask decoder mask_for_mem'),
      t('pix_feat', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE], 'image encoder pix_feat'),
      t('occ_logit', ['B', 1], 'mask decoder occ_logit (<= 0 adds the no-object embedding)'),
    ],
    outputs: [
      t('maskmem_features', ['B', MEM_DIM, FEAT_SIZE, FEAT_SIZE], 'spatial memory of this frame'),
      t('maskmem_pos_enc', ['B', FEAT_TOKENS, MEM_DIM], 'its positional encoding'),
      t('temporal_code', [NUM_MASKMEM, 1, 1, MEM_DIM], 'maskmem_tpos_enc: index 6 for conditioning frames, t_rel - 1 for the frame t_rel frames back'),
    ],
  },
};

function describe(m: ort.InferenceSession.ValueMetadata | undefined): string {
  if (!m) return 'missing';
  if (!m.isTensor) return 'not a tensor';
  return `${m.type} [${m.shape.join(',')}]`;
}

/**
 * Check one loaded module against the contract (names, dtype, rank, fixed sizes). Dimensions the
 * model leaves symbolic are accepted (the exporter's fixed sizes may show up as names after
 * re-export); sizes are checked again on every run. Returns human-readable problems.
 */
export function checkModule(module: ModuleName, inputs: readonly ort.InferenceSession.ValueMetadata[], outputs: readonly ort.InferenceSession.ValueMetadata[]): string[] {
  const spec = CONTRACT[module];
  const problems: string[] = [];
  const check = (kind: 'input' | 'output', have: readonly ort.InferenceSession.ValueMetadata[], want: readonly TensorSpec[]) => {
    const byName = new Map(have.map((m) => [m.name, m]));
    for (const w of want) {
      const m = byName.get(w.name);
      if (!m) {
        problems.push(`${module}: ${kind} '${w.name}' is missing (has: ${have.map((h) => h.name).join(', ') || 'none'})`);
        continue;
      }
      if (!m.isTensor || m.type !== w.dtype) {
        problems.push(`${module}: ${kind} '${w.name}' must be ${w.dtype}, is ${describe(m)}`);
        continue;
      }
      if (m.shape.length === 0 && w.dims.length > 0) continue; // unknown shape: checked at run time
      if (m.shape.length !== w.dims.length) {
        problems.push(`${module}: ${kind} '${w.name}' must have rank ${w.dims.length} [${w.dims.join(',')}], is ${describe(m)}`);
        continue;
      }
      w.dims.forEach((d, i) => {
        const got = m.shape[i];
        if (typeof d === 'number' && typeof got === 'number' && got >= 0 && got !== d) {
          problems.push(`${module}: ${kind} '${w.name}' dim ${i} must be ${d}, is ${describe(m)}`);
        }
      });
    }
    if (kind === 'input') {
      const extra = have.filter((h) => !want.some((w) => w.name === h.name)).map((h) => h.name);
      if (extra.length) problems.push(`${module}: unexpected input(s) ${extra.join(', ')} (the runtime would not feed them)`);
    }
  };
  check('input', inputs, spec.inputs);
  check('output', outputs, spec.outputs);
  return problems;
}
