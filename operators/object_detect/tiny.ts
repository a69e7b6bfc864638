/**
 * Tiny stand-ins for the SAM 3 export (operators/object_detect/README.md) and a small CLIP BPE
 * vocabulary, for tests. Same input/output names, dtypes and ranks as the contract; small sizes
 * and predictable outputs (no learned weights: nothing they output means anything).
 *
 *   writeTinySam3(dir) -> [vision-encoder.onnx, text-encoder.onnx, decoder.onnx, vocab.json, merges.txt]
 *
 * Behaviour (TINY_SAM3, tinySam3Reference): the text encoder's features are the token ids
 * (times a fixed vector); the decoder reads the first token after the start token, `t`, takes
 * u = t mod 8 and outputs two queries:
 *   query 0: box (xyxy, normalised) BOX0 + u * BOX0_SLOPE, logit LOGIT0 + u * LOGIT0_SLOPE;
 *   query 1: the fixed box BOX1, logit LOGIT1;
 *   presence = PRESENCE + u * PRESENCE_SLOPE + PRESENCE_PER_TOKEN * (real tokens - 3);
 *   masks: MASK_SIZE x MASK_SIZE logits, +5 inside the query's box (cell centres), -5 outside.
 * The fixture vocabulary gives the prompts hand, cup, knife, bowl the ids 45001..45004 (u = 1..4).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OnnxGraph, f32, i64 } from '../../src/onnx/writer.js';
import { CLIP_EOT_ID, CLIP_SOT_ID, ClipTokenizer, byteVocabOrder, bytesToUnicode, END_OF_WORD } from './tokenizer.js';

const TINY_METADATA = { 'egopipe.tiny': 'true', 'egopipe.note': 'test stand-in without learned weights; outputs are meaningless' };

// ---------------------------------------------------------------------------------------------
// fixture vocabulary

/**
 * Words whose real CLIP ids (openai/clip-vit-base-patch32 vocabulary = bpe_simple_vocab_16e6) are
 * established by public tokenizer tests, each cross-checked in at least one other source where
 * noted. The fixture reproduces these ids; its merges are NOT CLIP's (each word is built from its
 * bytes by merging left to right), so only the final ids of these words are real.
 */
export const VERIFIED_CLIP_WORDS: ReadonlyArray<{ word: string; id: number; source: string }> = [
  { word: 'photo', id: 1125, source: '"a photo of a cat" -> [49406, 320, 1125, 539, 320, 2368, 49407] (many CLIP tokenizer test suites)' },
  { word: 'of', id: 539, source: '"a photo of a cat"' },
  { word: 'cat', id: 2368, source: '"a photo of a cat"' },
  { word: 'dog', id: 1929, source: '"a photo of a dog" -> [..., 320, 1929, 49407] (Bumblebee ClipTokenizer test; OWL-ViT example input ids)' },
  { word: 'hello', id: 3306, source: '"Hello, world!" -> [49406, 3306, 267, 1002, 256, 49407] (two independent test suites)' },
  { word: 'world', id: 1002, source: '"Hello, world!"' },
  { word: 'don', id: 847, source: '"don\'t stop" -> [49406, 847, 713, 1691, 49407] (two independent test suites)' },
  { word: "'t", id: 713, source: '"don\'t stop"' },
  { word: 'stop', id: 1691, source: '"don\'t stop"' },
  { word: 'times', id: 1661, source: '"don\'t stop 42 times" -> [49406, 847, 713, 1691, 275, 273, 1661, 49407] (transformers CLIPTokenizer parity test)' },
  { word: 'test', id: 1628, source: '"hello-world, 3.14 (test)" -> [49406, 3306, 268, 1002, 267, 274, 269, 272, 275, 263, 1628, 264, 49407] (same parity test)' },
  { word: 'cafe', id: 4979, source: '"cafe uber naive" -> [49406, 4979, 10668, 43362, 49407] (same parity test)' },
  { word: 'uber', id: 10668, source: '"cafe uber naive"' },
  { word: 'naive', id: 43362, source: '"cafe uber naive"' },
  { word: 'red', id: 736, source: '"\u{1F600} red car" -> [49406, 7334, 736, 1615, 49407] (Hugging Face CLIP id test of a C++ tokenizer)' },
  { word: 'car', id: 1615, source: '"\u{1F600} red car"' },
  { word: '\u{1F600}', id: 7334, source: '"\u{1F600} red car"' },
  { word: 'mm', id: 2848, source: '"35mm photography" -> [49406, 274, 276, 2848, 2108, 49407] (same C++ test)' },
  { word: 'photography', id: 2108, source: '"35mm photography"' },
  { word: 'tree', id: 2677, source: '"a photo of a tree" -> [49406, 320, 1125, 539, 320, 2677, 49407] (Go CLIP tokenizer test, ids copied from vocab.json)' },
  { word: 'it', id: 585, source: '"it\'s a cat\'s toy, running   fast" -> [49406, 585, 568, 320, 2368, 568, 5988, 267, 2761, 1953, 49407] (same Go test)' },
  { word: "'s", id: 568, source: '"it\'s a cat\'s toy, running   fast"' },
  { word: 'toy', id: 5988, source: '"it\'s a cat\'s toy, running   fast"' },
  { word: 'running', id: 2761, source: '"it\'s a cat\'s toy, running   fast"' },
  { word: 'fast', id: 1953, source: '"it\'s a cat\'s toy, running   fast"' },
  { word: 'dogs', id: 3255, source: '"2 dogs and 3 cats" -> [49406, 273, 3255, 537, 274, 3989, 49407] (same Go test; dogs/cats also listed from vocab.json in a diffusers training script)' },
  { word: 'and', id: 537, source: '"2 dogs and 3 cats"' },
  { word: 'cats', id: 3989, source: '"2 dogs and 3 cats"' },
];

/** Prompts of the tiny model: ids are placeholders (not CLIP's), chosen so that t mod 8 = 1..4. */
export const TINY_PROMPT_IDS: Readonly<Record<string, number>> = { hand: 45001, cup: 45002, knife: 45003, bowl: 45004 };

/** Ids given to intermediate merge results of the fixture (placeholders, not CLIP's). */
const PLACEHOLDER_BASE = 46000;

export interface TinyClipVocab {
  vocab: Record<string, number>;
  /** merges in rank order, "a b" */
  merges: string[];
}

let tinyVocabCache: TinyClipVocab | undefined;

/**
 * The fixture: the 512 byte tokens with their real ids (they follow from bytes_to_unicode), the
 * words of VERIFIED_CLIP_WORDS with their real ids, the tiny prompts with placeholder ids, the
 * start/end tokens 49406/49407, and merges that build each word into one token.
 */
export function tinyClipVocab(): TinyClipVocab {
  if (tinyVocabCache) return tinyVocabCache;
  const vocab = new Map<string, number>();
  byteVocabOrder().forEach((c, i) => {
    vocab.set(c, i);
    vocab.set(c + END_OF_WORD, 256 + i);
  });
  const merges: Array<[string, string]> = [];
  const finals = new Map<string, number>();
  let next = PLACEHOLDER_BASE;
  const bytes = bytesToUnicode();
  const enc = new TextEncoder();
  const words: Array<[string, number]> = [...VERIFIED_CLIP_WORDS.map((w) => [w.word, w.id] as [string, number]), ...Object.entries(TINY_PROMPT_IDS)];
  for (const [word, id] of words) {
    let mapped = '';
    for (const b of enc.encode(word)) mapped += bytes[b];
    for (;;) {
      const tk = new ClipTokenizer({ vocab, merges, sot: CLIP_SOT_ID, eot: CLIP_EOT_ID, source: 'tiny fixture' });
      const pieces = tk.bpe(mapped);
      if (pieces.length === 1) {
        finals.set(pieces[0], id);
        break;
      }
      merges.push([pieces[0], pieces[1]]);
      const joined = pieces[0] + pieces[1];
      if (!vocab.has(joined)) vocab.set(joined, next++);
    }
  }
  for (const [tok, id] of finals) vocab.set(tok, id);
  vocab.set('<|startoftext|>', CLIP_SOT_ID);
  vocab.set('<|endoftext|>', CLIP_EOT_ID);
  tinyVocabCache = { vocab: Object.fromEntries(vocab), merges: merges.map(([a, b]) => `${a} ${b}`) };
  return tinyVocabCache;
}

export function writeTinyClipVocab(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const { vocab, merges } = tinyClipVocab();
  const v = path.join(dir, 'vocab.json');
  const m = path.join(dir, 'merges.txt');
  writeFileSync(v, JSON.stringify(vocab));
  writeFileSync(m, ['#version: 0.2', ...merges].join('\n') + '\n');
  return [v, m];
}

// ---------------------------------------------------------------------------------------------
// tiny SAM 3

export const TINY_SAM3 = {
  /** text feature width (SAM 3: 256) */
  textDim: 4,
  textWeights: [1, 0.5, 0.25, -1],
  /** image feature channels (SAM 3: 256) */
  channels: 3,
  queries: 2,
  maskSize: 32,
  box0: [0.05, 0.1, 0.3, 0.5],
  box0Slope: [0.1, 0.05, 0.1, 0.05],
  box1: [0.6, 0.55, 0.9, 0.95],
  logit0: 2.0,
  logit0Slope: -0.5,
  logit1: -0.2,
  presence: 1.5,
  presenceSlope: -0.5,
  presencePerToken: 0.1,
  maskInside: 5,
  contextLength: 32,
} as const;

export interface TinySam3Options {
  /** encoder input size (default 1008, must be divisible by 16) */
  imageSize?: number;
  /** 'v2': decoder takes text_features/text_mask + input_boxes/input_boxes_labels (default); 'v1': prompt_features/prompt_mask */
  decoderInputs?: 'v1' | 'v2';
  /** leave out pred_masks */
  noMasks?: boolean;
  /** leave out presence_logits */
  noPresence?: boolean;
}

export function buildTinySam3ImageEncoder(imageSize = 1008): Uint8Array {
  const S = imageSize;
  if (S % 16 !== 0) throw new RangeError(`tiny SAM 3: image size must be divisible by 16, got ${S}`);
  const g = new OnnxGraph('tiny_sam3_vision_encoder', 'egopipe tiny stand-in for the SAM 3 image encoder (average pools)');
  g.input('images', 'float32', ['batch', 3, S, S], 'RGB, x / 127.5 - 1, NCHW');
  const pool = (k: number, out: string) => g.node('AveragePool', ['images'], [out], { kernel_shape: [k, k], strides: [k, k] });
  pool(S / 16, 'fpn_feat_0');
  pool(S / 8, 'fpn_feat_1');
  pool(S / 4, 'fpn_feat_2');
  g.initializer('half', f32([0.5]), []);
  g.node('Mul', ['fpn_feat_2', 'half'], ['fpn_pos_2']);
  g.output('fpn_feat_0', 'float32', ['batch', 3, 16, 16]);
  g.output('fpn_feat_1', 'float32', ['batch', 3, 8, 8]);
  g.output('fpn_feat_2', 'float32', ['batch', 3, 4, 4]);
  g.output('fpn_pos_2', 'float32', ['batch', 3, 4, 4]);
  return g.toBytes({ metadata: TINY_METADATA });
}

export function buildTinySam3TextEncoder(): Uint8Array {
  const C = TINY_SAM3;
  const L = C.contextLength;
  const g = new OnnxGraph('tiny_sam3_text_encoder', 'egopipe tiny stand-in for the SAM 3 text encoder: features = token id x w');
  g.input('input_ids', 'int64', ['batch', L]);
  g.input('attention_mask', 'int64', ['batch', L]);
  g.initializer('ax2', i64([2]), [1]);
  g.initializer('w', f32([...C.textWeights]), [1, 1, C.textDim]);
  g.node('Cast', ['input_ids'], ['idsf'], { to: 1 });
  g.node('Unsqueeze', ['idsf', 'ax2'], ['ids3']);
  g.node('Mul', ['ids3', 'w'], ['text_features']);
  g.node('Cast', ['attention_mask'], ['text_mask'], { to: 9 });
  g.output('text_features', 'float32', ['batch', L, C.textDim]);
  g.output('text_mask', 'bool', ['batch', L]);
  return g.toBytes({ metadata: TINY_METADATA });
}

export function buildTinySam3Decoder(opts: TinySam3Options = {}): Uint8Array {
  const C = TINY_SAM3;
  const Q = C.queries;
  const M = C.maskSize;
  const L = C.contextLength;
  const v1 = opts.decoderInputs === 'v1';
  const tf = v1 ? 'prompt_features' : 'text_features';
  const tm = v1 ? 'prompt_mask' : 'text_mask';
  const g = new OnnxGraph('tiny_sam3_decoder', 'egopipe tiny stand-in for the SAM 3 decoder: one prompt-dependent box, one fixed box');
  g.input('fpn_feat_0', 'float32', ['batch', 3, 16, 16]);
  g.input('fpn_feat_1', 'float32', ['batch', 3, 8, 8]);
  g.input('fpn_feat_2', 'float32', ['batch', 3, 4, 4]);
  g.input('fpn_pos_2', 'float32', ['batch', 3, 4, 4]);
  g.input(tf, 'float32', ['batch', v1 ? 'prompt_len' : L, C.textDim]);
  g.input(tm, 'bool', ['batch', v1 ? 'prompt_len' : L]);
  if (!v1) {
    g.input('input_boxes', 'float32', ['batch', 'num_boxes', 4]);
    g.input('input_boxes_labels', 'int64', ['batch', 'num_boxes']);
  }
  g.initializer('one_i', i64([1]), [])
    .initializer('zero_i', i64([0]), [])
    .initializer('eight', f32([8]), [])
    .initializer('ax1', i64([1]), [1])
    .initializer('ax12', i64([1, 2]), [2])
    .initializer('three', f32([3]), [])
    .initializer('zero_f', f32([0]), [])
    .initializer('logit_base', f32([C.logit0, C.logit1]), [1, Q])
    .initializer('logit_slope', f32([C.logit0Slope, 0]), [1, Q])
    .initializer('pres_base', f32([C.presence]), [1, 1])
    .initializer('pres_slope', f32([C.presenceSlope]), [1, 1])
    .initializer('pres_tok', f32([C.presencePerToken]), [1, 1])
    .initializer('box_base', f32([...C.box0, ...C.box1]), [1, Q, 4])
    .initializer('box_slope', f32([...C.box0Slope, 0, 0, 0, 0]), [1, Q, 4]);
  // u = (first token after start) mod 8
  g.node('Gather', [tf, 'one_i'], ['tok1'], { axis: 1 }); // [B, D]
  g.node('Gather', ['tok1', 'zero_i'], ['t'], { axis: 1 }); // [B]
  g.node('Mod', ['t', 'eight'], ['u'], { fmod: 1 });
  g.node('Unsqueeze', ['u', 'ax1'], ['u2']); // [B,1]
  g.node('Unsqueeze', ['u', 'ax12'], ['u3']); // [B,1,1]
  // logits [B,Q]
  g.node('Mul', ['u2', 'logit_slope'], ['lg_s']);
  g.node('Add', ['logit_base', 'lg_s'], ['pred_logits']);
  // presence [B,1]: + per real token beyond 3, + 0 x mean image feature (consumes fpn_feat_2)
  g.node('Mul', ['u2', 'pres_slope'], ['pr_s']);
  g.node('Add', ['pres_base', 'pr_s'], ['pr_1']);
  g.node('Cast', [tm], ['maskf'], { to: 1 });
  g.node('ReduceSum', ['maskf', 'ax1'], ['ntok'], { keepdims: 1 }); // [B,1]
  g.node('Sub', ['ntok', 'three'], ['ntok3']);
  g.node('Mul', ['ntok3', 'pres_tok'], ['pr_t']);
  g.node('Add', ['pr_1', 'pr_t'], ['pr_2']);
  g.node('ReduceMean', ['fpn_feat_2'], ['img_mean'], { axes: [1, 2, 3], keepdims: 1 }); // [B,1,1,1]
  g.node('Mul', ['img_mean', 'zero_f'], ['img_zero']);
  g.initializer('shape_b1', i64([-1, 1]), [2]);
  g.node('Reshape', ['img_zero', 'shape_b1'], ['img_zero2']);
  if (!opts.noPresence) g.node('Add', ['pr_2', 'img_zero2'], ['presence_logits']);
  // boxes [B,Q,4]
  g.node('Mul', ['u3', 'box_slope'], ['bx_s']);
  g.node('Add', ['box_base', 'bx_s'], ['pred_boxes']);
  if (!opts.noMasks) {
    const centres = Array.from({ length: M }, (_, j) => (j + 0.5) / M);
    g.initializer('xs', f32(centres), [1, 1, 1, M])
      .initializer('ys', f32(centres), [1, 1, M, 1])
      .initializer('ax3', i64([3]), [1])
      .initializer('mask_in', f32([2 * C.maskInside]), [])
      .initializer('mask_off', f32([C.maskInside]), []);
    const coord = (k: number, name: string) => {
      g.initializer(`${name}_s`, i64([k]), [1]).initializer(`${name}_e`, i64([k + 1]), [1]).initializer(`${name}_a`, i64([2]), [1]);
      g.node('Slice', ['pred_boxes', `${name}_s`, `${name}_e`, `${name}_a`], [`${name}_3`]); // [B,Q,1]
      g.node('Unsqueeze', [`${name}_3`, 'ax3'], [name]); // [B,Q,1,1]
    };
    coord(0, 'bx0');
    coord(1, 'by0');
    coord(2, 'bx1');
    coord(3, 'by1');
    const inside = (a: string, op: string, b: string, out: string) => {
      g.node(op, [a, b], [`${out}_b`]);
      g.node('Cast', [`${out}_b`], [out], { to: 1 });
    };
    inside('xs', 'GreaterOrEqual', 'bx0', 'ix0');
    inside('xs', 'LessOrEqual', 'bx1', 'ix1');
    inside('ys', 'GreaterOrEqual', 'by0', 'iy0');
    inside('ys', 'LessOrEqual', 'by1', 'iy1');
    g.node('Mul', ['ix0', 'ix1'], ['ix']); // [B,Q,1,M]
    g.node('Mul', ['iy0', 'iy1'], ['iy']); // [B,Q,M,1]
    g.node('Mul', ['ix', 'iy'], ['inside']); // [B,Q,M,M]
    g.node('Mul', ['inside', 'mask_in'], ['m_sc']);
    g.node('Sub', ['m_sc', 'mask_off'], ['pred_masks']);
    g.output('pred_masks', 'float32', ['batch', Q, M, M]);
  }
  g.output('pred_boxes', 'float32', ['batch', Q, 4]);
  g.output('pred_logits', 'float32', ['batch', Q]);
  if (!opts.noPresence) g.output('presence_logits', 'float32', ['batch', 1]);
  return g.toBytes({ metadata: TINY_METADATA });
}

/** Expected decoder outputs of the tiny model for a prompt whose first token is `firstTokenId`. */
export function tinySam3Reference(firstTokenId: number, realTokens = 3): { boxes: number[][]; logits: number[]; presence: number; u: number } {
  const C = TINY_SAM3;
  const u = firstTokenId % 8;
  const b0 = C.box0.map((v, i) => v + u * C.box0Slope[i]);
  return {
    u,
    boxes: [b0, [...C.box1]],
    logits: [C.logit0 + u * C.logit0Slope, C.logit1],
    presence: C.presence + u * C.presenceSlope + C.presencePerToken * (realTokens - 3),
  };
}

/** Writes the three tiny modules and the fixture vocabulary; returns the paths. */
export function writeTinySam3(dir: string, opts: TinySam3Options = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Array<[string, Uint8Array]> = [
    ['vision-encoder.onnx', buildTinySam3ImageEncoder(opts.imageSize ?? 1008)],
    ['text-encoder.onnx', buildTinySam3TextEncoder()],
    ['decoder.onnx', buildTinySam3Decoder(opts)],
  ];
  const out = files.map(([name, bytes]) => {
    const p = path.join(dir, name);
    writeFileSync(p, bytes);
    return p;
  });
  return [...out, ...writeTinyClipVocab(dir)];
}
