/**
 * Tiny stand-ins of the four SAM 2.1 DeepStream modules for tests: the contract's input/output
 * names, dtypes and shapes (fixed sizes kept; only the dynamic B/P/N/M/K vary), no learned
 * weights, and behaviour a test can predict:
 *
 * - image_encoder: lum = mean over RGB of the un-normalised input (0..1); pix_feat / vision_feats
 *   = lum average-pooled 16x16 in channel 0 (other channels 0); high_res_feat0 = lum pooled 4x4
 *   in channel 0; high_res_feat1 = lum pooled 8x8 in channel 0; vision_pos_embed constant.
 * - mask_decoder: the object's box (in 1024 input pixels) comes from the prompt when a point is
 *   labelled >= 1 (box corners 2/3 as given; a click (label 1) stands for a 64 x 64 box around
 *   it), else from channels 252..255 of image_embed (where memory_attention puts it). Mask logits
 *   at a 256-grid cell centre (4u + 2, 4v + 2) are the signed distance (in input pixels) to the
 *   nearest box edge: positive exactly inside the box. occ_logit = 20 * (mean lum inside the box
 *   - 0.1): negative for an empty box or a black region. Absent: pred_mask = -1024,
 *   mask_for_mem = -10. mask_for_mem = sigmoid(same distance at pixel centres) * 20 - 10;
 *   obj_ptr = [box, 0...]; iou = 0.9.
 * - memory_attention: image_embed = current_vision_feat with channels 252..255 replaced by the
 *   box in memory_0[:, 0] (the conditioning frame's pointer) plus a layout check term
 *   (K - (4096 M + 4 N)) that moves the box when memory_pos_embed does not match memory_0/1.
 * - memory_encoder: maskmem_features = mask_for_mem average-pooled 16x16 in all 64 channels;
 *   maskmem_pos_enc constant; temporal_code[i] = 0.01 * (i + 1) in every channel.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OnnxGraph, f32, i64 } from '../../src/onnx/writer.js';
import { FEAT_SIZE, FEAT_TOKENS, HIDDEN_DIM, IMAGE_SIZE, IMG_MEAN, IMG_STD, LOWRES_SIZE, MEM_DIM, MODULE_FILES, NUM_MASKMEM } from './contract.js';

const META = { 'egopipe.tiny': 'true', 'egopipe.contract': 'sam2.1-deepstream', 'egopipe.note': 'test stand-in without learned weights; outputs are meaningless' };

/** Box channels of the tiny image embedding. */
export const TINY_BOX_CHANNEL = HIDDEN_DIM - 4;
/** Half size (input pixels) of the box a single click stands for. */
export const TINY_CLICK_HALF = 32;
export const TINY_LUM_THRESHOLD = 0.1;
export const TINY_IOU = 0.9;

function channelSelector(channels: number): Float32Array {
  const w = new Float32Array(channels);
  w[0] = 1;
  return w;
}

export function buildTinyImageEncoder(): Uint8Array {
  const g = new OnnxGraph('tiny_sam2_image_encoder', 'egopipe tiny stand-in for the SAM 2.1 image encoder');
  g.input('image', 'float32', [1, 3, IMAGE_SIZE, IMAGE_SIZE]);
  // lum = sum_c (x_c * std_c + mean_c) / 3
  g.initializer('lum_w', f32([IMG_STD[0] / 3, IMG_STD[1] / 3, IMG_STD[2] / 3]), [1, 3, 1, 1])
    .initializer('lum_b', f32([(IMG_MEAN[0] + IMG_MEAN[1] + IMG_MEAN[2]) / 3]), [1])
    .node('Conv', ['image', 'lum_w', 'lum_b'], ['lum'])
    .node('AveragePool', ['lum'], ['p4'], { kernel_shape: [4, 4], strides: [4, 4] })
    .node('AveragePool', ['lum'], ['p8'], { kernel_shape: [8, 8], strides: [8, 8] })
    .node('AveragePool', ['lum'], ['p16'], { kernel_shape: [16, 16], strides: [16, 16] })
    .initializer('w32', channelSelector(32), [32, 1, 1, 1])
    .initializer('w64', channelSelector(64), [64, 1, 1, 1])
    .initializer('w256', channelSelector(HIDDEN_DIM), [HIDDEN_DIM, 1, 1, 1])
    .node('Conv', ['p4', 'w32'], ['high_res_feat0'])
    .node('Conv', ['p8', 'w64'], ['high_res_feat1'])
    .node('Conv', ['p16', 'w256'], ['pix_feat'])
    .initializer('no_mem_embed', new Float32Array(HIDDEN_DIM), [1, HIDDEN_DIM, 1, 1])
    .node('Add', ['pix_feat', 'no_mem_embed'], ['vision_feats']);
  const pe = new Float32Array(HIDDEN_DIM);
  for (let c = 0; c < HIDDEN_DIM; c++) pe[c] = Math.sin(c / 7);
  g.initializer('pe', pe, [1, 1, HIDDEN_DIM])
    .initializer('pe_shape', i64([FEAT_TOKENS, 1, HIDDEN_DIM]), [3])
    .node('Expand', ['pe', 'pe_shape'], ['vision_pos_embed']);
  g.output('pix_feat', 'float32', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE])
    .output('high_res_feat0', 'float32', [1, 32, 256, 256])
    .output('high_res_feat1', 'float32', [1, 64, 128, 128])
    .output('vision_feats', 'float32', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE])
    .output('vision_pos_embed', 'float32', [FEAT_TOKENS, 1, HIDDEN_DIM]);
  return g.toBytes({ metadata: META });
}

export function buildTinyMaskDecoder(): Uint8Array {
  const g = new OnnxGraph('tiny_sam2_mask_decoder', 'egopipe tiny stand-in for the SAM 2.1 mask decoder (DeepStream export)');
  g.input('point_coords', 'float32', ['batch_size', 'num_points', 2])
    .input('point_labels', 'float32', ['batch_size', 'num_points'])
    .input('image_embed', 'float32', ['batch_size', HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE])
    .input('high_res_feats_0', 'float32', [1, 32, 256, 256])
    .input('high_res_feats_1', 'float32', [1, 64, 128, 128]);
  g.initializer('idx0', i64([0]), [])
    .initializer('idx1', i64([1]), [])
    .initializer('half', f32([0.5]), [])
    .initializer('one', f32([1]), [])
    .initializer('click', f32([TINY_CLICK_HALF]), [])
    .initializer('big', f32([1e9]), [])
    .initializer('nbig', f32([-1e9]), [])
    .initializer('zero', f32([0]), []);
  // per point: x, y [B,P]; positive = label >= 1 (0.5 threshold); click = |label - 1| < 0.5
  g.node('Gather', ['point_coords', 'idx0'], ['px'], { axis: 2 })
    .node('Gather', ['point_coords', 'idx1'], ['py'], { axis: 2 })
    .node('Greater', ['point_labels', 'half'], ['is_pos'])
    .node('Sub', ['point_labels', 'one'], ['lm1'])
    .node('Abs', ['lm1'], ['lm1_abs'])
    .node('Less', ['lm1_abs', 'half'], ['is_click'])
    .node('Cast', ['is_click'], ['click_f'], { to: 1 })
    .node('Mul', ['click_f', 'click'], ['pad'])
    .node('Sub', ['px', 'pad'], ['px_lo'])
    .node('Add', ['px', 'pad'], ['px_hi'])
    .node('Sub', ['py', 'pad'], ['py_lo'])
    .node('Add', ['py', 'pad'], ['py_hi'])
    .node('Where', ['is_pos', 'px_lo', 'big'], ['xlo_m'])
    .node('Where', ['is_pos', 'py_lo', 'big'], ['ylo_m'])
    .node('Where', ['is_pos', 'px_hi', 'nbig'], ['xhi_m'])
    .node('Where', ['is_pos', 'py_hi', 'nbig'], ['yhi_m'])
    .node('ReduceMin', ['xlo_m'], ['pb_x0'], { axes: [1], keepdims: 1 })
    .node('ReduceMin', ['ylo_m'], ['pb_y0'], { axes: [1], keepdims: 1 })
    .node('ReduceMax', ['xhi_m'], ['pb_x1'], { axes: [1], keepdims: 1 })
    .node('ReduceMax', ['yhi_m'], ['pb_y1'], { axes: [1], keepdims: 1 })
    .node('Concat', ['pb_x0', 'pb_y0', 'pb_x1', 'pb_y1'], ['prompt_box'], { axis: 1 }) // [B,4]
    .node('Cast', ['is_pos'], ['is_pos_f'], { to: 1 })
    .node('ReduceMax', ['is_pos_f'], ['has_prompt_f'], { axes: [1], keepdims: 1 }) // [B,1]
    .node('Greater', ['has_prompt_f', 'half'], ['has_prompt']);
  // the box stored in the embedding: image_embed[:, 252:256, 0, 0]
  g.initializer('eb_starts', i64([TINY_BOX_CHANNEL, 0, 0]), [3])
    .initializer('eb_ends', i64([HIDDEN_DIM, 1, 1]), [3])
    .initializer('eb_axes', i64([1, 2, 3]), [3])
    .initializer('shape_b4', i64([-1, 4]), [2])
    .node('Slice', ['image_embed', 'eb_starts', 'eb_ends', 'eb_axes'], ['emb_box4'])
    .node('Reshape', ['emb_box4', 'shape_b4'], ['emb_box'])
    .node('Where', ['has_prompt', 'prompt_box', 'emb_box'], ['box']); // [B,4]
  // box corners as [B,1,1,1]
  g.initializer('shape_b111', i64([-1, 1, 1, 1]), [4]);
  for (let k = 0; k < 4; k++) {
    g.initializer(`bi${k}`, i64([k]), [1]).node('Gather', ['box', `bi${k}`], [`b${k}_col`], { axis: 1 }).node('Reshape', [`b${k}_col`, 'shape_b111'], [`b${k}`]);
  }
  // signed distance to the nearest edge at grid positions
  const grid = (name: string, n: number, step: number, horizontal: boolean) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = i * step + step / 2;
    g.initializer(name, v, horizontal ? [1, 1, 1, n] : [1, 1, n, 1]);
  };
  const dist = (prefix: string, gx: string, gy: string) => {
    g.node('Sub', [gx, 'b0'], [`${prefix}_l`])
      .node('Sub', ['b2', gx], [`${prefix}_r`])
      .node('Sub', [gy, 'b1'], [`${prefix}_t`])
      .node('Sub', ['b3', gy], [`${prefix}_b`])
      .node('Min', [`${prefix}_l`, `${prefix}_r`, `${prefix}_t`, `${prefix}_b`], [`${prefix}_d`]);
  };
  grid('gx256', LOWRES_SIZE, IMAGE_SIZE / LOWRES_SIZE, true);
  grid('gy256', LOWRES_SIZE, IMAGE_SIZE / LOWRES_SIZE, false);
  grid('gx1024', IMAGE_SIZE, 1, true);
  grid('gy1024', IMAGE_SIZE, 1, false);
  dist('lo', 'gx256', 'gy256'); // lo_d [B,1,256,256]
  dist('hi', 'gx1024', 'gy1024'); // hi_d [B,1,1024,1024]
  // occ_logit = 20 * (mean lum inside - 0.1), lum = high_res_feats_0[:, 0:1]
  g.initializer('c0_starts', i64([0]), [1])
    .initializer('c0_ends', i64([1]), [1])
    .initializer('c0_axes', i64([1]), [1])
    .initializer('axes123', i64([1, 2, 3]), [3])
    .initializer('eps', f32([1e-6]), [])
    .initializer('lum_thr', f32([TINY_LUM_THRESHOLD]), [])
    .initializer('twenty', f32([20]), [])
    .initializer('shape_b1', i64([-1, 1]), [2])
    .node('Slice', ['high_res_feats_0', 'c0_starts', 'c0_ends', 'c0_axes'], ['lum256'])
    .node('Greater', ['lo_d', 'zero'], ['inside'])
    .node('Cast', ['inside'], ['inside_f'], { to: 1 })
    .node('Mul', ['inside_f', 'lum256'], ['lum_in'])
    .node('ReduceSum', ['lum_in', 'axes123'], ['lum_sum'], { keepdims: 0 })
    .node('ReduceSum', ['inside_f', 'axes123'], ['cnt'], { keepdims: 0 })
    .node('Max', ['cnt', 'eps'], ['cnt_safe'])
    .node('Div', ['lum_sum', 'cnt_safe'], ['lum_mean'])
    .node('Sub', ['lum_mean', 'lum_thr'], ['lum_d'])
    .node('Mul', ['lum_d', 'twenty'], ['occ_flat'])
    // keep high_res_feats_1 in the graph (0 * its sum)
    .node('ReduceSum', ['high_res_feats_1', 'axes123'], ['hr1_sum'], { keepdims: 0 })
    .node('Mul', ['hr1_sum', 'zero'], ['hr1_zero'])
    .node('Add', ['occ_flat', 'hr1_zero'], ['occ_b']) // [B] (hr1 has batch 1: broadcasts)
    .node('Reshape', ['occ_b', 'shape_b1'], ['occ_logit'])
    .node('Reshape', ['occ_b', 'shape_b111'], ['occ4'])
    .node('Greater', ['occ4', 'zero'], ['present']);
  g.initializer('no_obj', f32([-1024]), [])
    .initializer('m10', f32([-10]), [])
    .node('Where', ['present', 'lo_d', 'no_obj'], ['pred_mask'])
    .node('Sigmoid', ['hi_d'], ['hi_sig'])
    .node('Mul', ['hi_sig', 'twenty'], ['hi_sig20'])
    .node('Add', ['hi_sig20', 'm10'], ['hi_mfm'])
    .node('Where', ['present', 'hi_mfm', 'm10'], ['mask_for_mem']);
  // obj_ptr = box @ [I4 | 0]; iou = 0.9
  const sel = new Float32Array(4 * HIDDEN_DIM);
  for (let k = 0; k < 4; k++) sel[k * HIDDEN_DIM + k] = 1;
  g.initializer('ptr_sel', sel, [4, HIDDEN_DIM])
    .node('MatMul', ['box', 'ptr_sel'], ['obj_ptr'])
    .initializer('iou_c', f32([TINY_IOU]), [])
    .node('Mul', ['occ_logit', 'zero'], ['occ_zero'])
    .node('Add', ['occ_zero', 'iou_c'], ['iou']);
  g.output('obj_ptr', 'float32', ['batch_size', HIDDEN_DIM])
    .output('mask_for_mem', 'float32', ['batch_size', 1, IMAGE_SIZE, IMAGE_SIZE])
    .output('pred_mask', 'float32', ['batch_size', 1, LOWRES_SIZE, LOWRES_SIZE])
    .output('iou', 'float32', ['batch_size', 1])
    .output('occ_logit', 'float32', ['batch_size', 1]);
  return g.toBytes({ metadata: META });
}

export function buildTinyMemoryAttention(): Uint8Array {
  const g = new OnnxGraph('tiny_sam2_memory_attention', 'egopipe tiny stand-in for the SAM 2.1 memory attention (DeepStream export)');
  g.input('current_vision_feat', 'float32', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE])
    .input('current_vision_pos_embed', 'float32', [FEAT_TOKENS, 1, HIDDEN_DIM])
    .input('memory_0', 'float32', ['batch_size', 'num', HIDDEN_DIM])
    .input('memory_1', 'float32', ['batch_size', 'buff_size', MEM_DIM, FEAT_SIZE, FEAT_SIZE])
    .input('memory_pos_embed', 'float32', ['batch_size', 'buff_size_embed', MEM_DIM])
    .input('cond_frame_id_diff', 'float32', []);
  g.initializer('idx0', i64([0]), [])
    .initializer('zero', f32([0]), [])
    .initializer('tok', f32([FEAT_TOKENS]), [])
    .initializer('four', f32([4]), [])
    .initializer('s1', i64([1]), [1])
    .initializer('e2', i64([2]), [1])
    .initializer('ax0', i64([0]), [1]);
  // layout check: K - (4096 M + 4 N), as a float scalar
  g.node('Shape', ['memory_0'], ['m0_shape'])
    .node('Shape', ['memory_1'], ['m1_shape'])
    .node('Shape', ['memory_pos_embed'], ['pe_shape'])
    .node('Slice', ['m0_shape', 's1', 'e2', 'ax0'], ['n_i'])
    .node('Slice', ['m1_shape', 's1', 'e2', 'ax0'], ['m_i'])
    .node('Slice', ['pe_shape', 's1', 'e2', 'ax0'], ['k_i'])
    .node('Cast', ['n_i'], ['n_f'], { to: 1 })
    .node('Cast', ['m_i'], ['m_f'], { to: 1 })
    .node('Cast', ['k_i'], ['k_f'], { to: 1 })
    .node('Mul', ['m_f', 'tok'], ['m_tok'])
    .node('Mul', ['n_f', 'four'], ['n_tok'])
    .node('Add', ['m_tok', 'n_tok'], ['k_expect'])
    .node('Sub', ['k_f', 'k_expect'], ['k_err']); // [1]
  // the conditioning pointer's box, + the layout error, + 0 * (everything else)
  const sel = new Float32Array(HIDDEN_DIM * 4);
  for (let k = 0; k < 4; k++) sel[k * 4 + k] = 1;
  g.initializer('box_sel', sel, [HIDDEN_DIM, 4])
    .initializer('axes_all5', i64([1, 2, 3, 4]), [4])
    .initializer('axes_all3', i64([0, 1, 2]), [3])
    .node('Gather', ['memory_0', 'idx0'], ['ptr0'], { axis: 1 }) // [B,256]
    .node('MatMul', ['ptr0', 'box_sel'], ['box_raw']) // [B,4]
    .node('ReduceSum', ['memory_1', 'axes_all5'], ['m1_sum'], { keepdims: 0 }) // [B]
    .node('ReduceSum', ['current_vision_pos_embed', 'axes_all3'], ['vp_sum'], { keepdims: 0 })
    .node('Add', ['m1_sum', 'vp_sum'], ['used_sum'])
    .node('Add', ['used_sum', 'cond_frame_id_diff'], ['used_sum2'])
    .node('Mul', ['used_sum2', 'zero'], ['used_zero']) // [B]
    .initializer('shape_b1', i64([-1, 1]), [2])
    .node('Reshape', ['used_zero', 'shape_b1'], ['used_zero2'])
    .node('Add', ['box_raw', 'used_zero2'], ['box_a'])
    .node('Add', ['box_a', 'k_err'], ['box']) // [B,4]
    .initializer('shape_b411', i64([-1, 4, 1, 1]), [4])
    .node('Reshape', ['box', 'shape_b411'], ['box4'])
    .node('Shape', ['memory_0'], ['b_shape_full'])
    .node('Slice', ['b_shape_full', 'ax0', 's1', 'ax0'], ['b_dim'])
    .initializer('dims_4_64_64', i64([4, FEAT_SIZE, FEAT_SIZE]), [3])
    .initializer('dims_252_64_64', i64([TINY_BOX_CHANNEL, FEAT_SIZE, FEAT_SIZE]), [3])
    .node('Concat', ['b_dim', 'dims_4_64_64'], ['box_plane_shape'], { axis: 0 })
    .node('Concat', ['b_dim', 'dims_252_64_64'], ['base_shape'], { axis: 0 })
    .node('Expand', ['box4', 'box_plane_shape'], ['box_plane'])
    .initializer('c_starts', i64([0]), [1])
    .initializer('c_ends', i64([TINY_BOX_CHANNEL]), [1])
    .node('Slice', ['current_vision_feat', 'c_starts', 'c_ends', 's1'], ['cvf_base'])
    .node('Expand', ['cvf_base', 'base_shape'], ['cvf_b'])
    .node('Concat', ['cvf_b', 'box_plane'], ['embed_core'], { axis: 1 });
  // memory_pos_embed enters only through its shape; keep it as a real input of a node too
  g.initializer('axes_pe', i64([1, 2]), [2])
    .node('ReduceSum', ['memory_pos_embed', 'axes_pe'], ['pe_sum'], { keepdims: 0 });
  // image_embed = embed_core + 0 * pe_sum (broadcast [B] -> [B,1,1,1])
  g.node('Mul', ['pe_sum', 'zero'], ['pe_zero'])
    .initializer('shape_b111', i64([-1, 1, 1, 1]), [4])
    .node('Reshape', ['pe_zero', 'shape_b111'], ['pe_zero4'])
    .node('Add', ['embed_core', 'pe_zero4'], ['image_embed']);
  g.output('image_embed', 'float32', ['batch_size', HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE]);
  return g.toBytes({ metadata: META });
}

export function buildTinyMemoryEncoder(): Uint8Array {
  const g = new OnnxGraph('tiny_sam2_memory_encoder', 'egopipe tiny stand-in for the SAM 2.1 memory encoder (DeepStream export)');
  g.input('mask_for_mem', 'float32', ['batch_size', 1, IMAGE_SIZE, IMAGE_SIZE])
    .input('pix_feat', 'float32', [1, HIDDEN_DIM, FEAT_SIZE, FEAT_SIZE])
    .input('occ_logit', 'float32', ['batch_size', 1]);
  const ones = new Float32Array(MEM_DIM).fill(1);
  g.initializer('w_mem', ones, [MEM_DIM, 1, 1, 1])
    .initializer('zero', f32([0]), [])
    .initializer('axes123', i64([1, 2, 3]), [3])
    .initializer('shape_b111', i64([-1, 1, 1, 1]), [4])
    .node('AveragePool', ['mask_for_mem'], ['mp'], { kernel_shape: [16, 16], strides: [16, 16] })
    .node('Conv', ['mp', 'w_mem'], ['mf'])
    .node('ReduceSum', ['pix_feat', 'axes123'], ['pf_sum'], { keepdims: 0 })
    .node('Mul', ['pf_sum', 'zero'], ['pf_zero'])
    .node('Mul', ['occ_logit', 'zero'], ['occ_zero'])
    .node('Add', ['occ_zero', 'pf_zero'], ['z_b1'])
    .node('Reshape', ['z_b1', 'shape_b111'], ['z4'])
    .node('Add', ['mf', 'z4'], ['maskmem_features']);
  const pe = new Float32Array(MEM_DIM);
  for (let c = 0; c < MEM_DIM; c++) pe[c] = Math.cos(c / 5);
  const code = new Float32Array(NUM_MASKMEM * MEM_DIM);
  for (let i = 0; i < NUM_MASKMEM; i++) code.fill(0.01 * (i + 1), i * MEM_DIM, (i + 1) * MEM_DIM);
  g.initializer('pe', pe, [1, 1, MEM_DIM])
    .initializer('tpos', code, [NUM_MASKMEM, 1, 1, MEM_DIM])
    .initializer('s0', i64([0]), [1])
    .initializer('s1', i64([1]), [1])
    .initializer('dims_pe', i64([FEAT_TOKENS, MEM_DIM]), [2])
    .node('Shape', ['mask_for_mem'], ['mfm_shape'])
    .node('Slice', ['mfm_shape', 's0', 's1', 's0'], ['b_dim'])
    .node('Concat', ['b_dim', 'dims_pe'], ['pe_shape'], { axis: 0 })
    .node('Expand', ['pe', 'pe_shape'], ['maskmem_pos_enc'])
    .node('Identity', ['tpos'], ['temporal_code']);
  g.output('maskmem_features', 'float32', ['batch_size', MEM_DIM, FEAT_SIZE, FEAT_SIZE])
    .output('maskmem_pos_enc', 'float32', ['batch_size', FEAT_TOKENS, MEM_DIM])
    .output('temporal_code', 'float32', [NUM_MASKMEM, 1, 1, MEM_DIM]);
  return g.toBytes({ metadata: META });
}

/** Writes the four tiny modules under `dir` with the exporter's file names; returns their paths. */
export function writeTinySam2(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Array<[string, Uint8Array]> = [
    [MODULE_FILES.image_encoder, buildTinyImageEncoder()],
    [MODULE_FILES.mask_decoder, buildTinyMaskDecoder()],
    [MODULE_FILES.memory_attention, buildTinyMemoryAttention()],
    [MODULE_FILES.memory_encoder, buildTinyMemoryEncoder()],
  ];
  return files.map(([name, bytes]) => {
    const p = path.join(dir, name);
    writeFileSync(p, bytes);
    return p;
  });
}
