/** Pure parts of the SAM 2.1 runtime: pre/post-processing, prompts, the memory bank, prompt sources. */
import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMask, rleArea, rleBbox } from '../../src/rle.js';
import { FEAT_TOKENS, HIDDEN_DIM, IMG_MEAN, IMG_STD, MEM_DIM, NUM_MASKMEM } from '../../operators/object_masks/contract.js';
import { bilinearTaps, boxRle, masksFromLogits, preprocessFrame, promptPoints, resampleTaps } from '../../operators/object_masks/image.js';
import { MemoryBank, buildMemoryInputs, type MemoryEntry } from '../../operators/object_masks/memory.js';
import { checkRecipePrompts, detectorDetections, handDetections, linkObjectsAcrossClips, previousClipDetections, recipeDetections } from '../../operators/object_masks/prompts.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** PyTorch F.interpolate(bilinear, align_corners=False) written out plainly, then > 0. */
function naiveUpsampleMask(logits: Float32Array, n: number, W: number, H: number): Uint8Array {
  const out = new Uint8Array(W * H);
  const src = (o: number, outSize: number) => Math.max(0, ((o + 0.5) * n) / outSize - 0.5);
  for (let y = 0; y < H; y++) {
    const sy = src(y, H);
    const y0 = Math.min(Math.floor(sy), n - 1);
    const y1 = Math.min(y0 + 1, n - 1);
    const ly = sy - y0;
    for (let x = 0; x < W; x++) {
      const sx = src(x, W);
      const x0 = Math.min(Math.floor(sx), n - 1);
      const x1 = Math.min(x0 + 1, n - 1);
      const lx = sx - x0;
      const v =
        (1 - ly) * ((1 - lx) * logits[y0 * n + x0] + lx * logits[y0 * n + x1]) + ly * ((1 - lx) * logits[y1 * n + x0] + lx * logits[y1 * n + x1]);
      out[y * W + x] = v > 0 ? 1 : 0;
    }
  }
  return out;
}

describe('pre-processing', () => {
  it('resizes to 1024x1024 (aspect not kept), normalises with ImageNet mean/std, planar RGB', () => {
    const W = 37;
    const H = 23;
    const data = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) data.set([200, 100, 50], i * 3);
    const out = preprocessFrame({ width: W, height: H, data });
    expect(out.length).toBe(3 * 1024 * 1024);
    const want = [200, 100, 50].map((v, c) => (v / 255 - IMG_MEAN[c]) / IMG_STD[c]);
    for (const i of [0, 1024 * 512 + 77, 1024 * 1024 - 1]) {
      for (let c = 0; c < 3; c++) expect(out[c * 1024 * 1024 + i]).toBeCloseTo(want[c], 4);
    }
  });

  it('resampling taps are normalised and anti-alias when downscaling (PIL-style bicubic)', () => {
    for (const [a, b] of [[1920, 1024], [720, 1024], [1024, 1024], [333, 1024]]) {
      const t = resampleTaps(a, b);
      for (let i = 0; i < b; i += 97) {
        let s = 0;
        for (let k = 0; k < t.count[i]; k++) s += t.weights[i * t.maxTaps + k];
        expect(s).toBeCloseTo(1, 5);
      }
      // downscaling widens the kernel to ~4 * scale taps
      if (a > b) expect(t.count[b >> 1]).toBeGreaterThanOrEqual(Math.floor(4 * (a / b)));
    }
    // a left/right split image keeps its edge at the same relative position
    const W = 64;
    const data = new Uint8Array(W * 8 * 3);
    for (let y = 0; y < 8; y++) for (let x = W / 2; x < W; x++) data.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
    const out = preprocessFrame({ width: W, height: 8, data });
    const mid = (0.5 - IMG_MEAN[0]) / IMG_STD[0];
    expect(out[500 * 1024 + 400]).toBeLessThan(mid);
    expect(out[500 * 1024 + 624]).toBeGreaterThan(mid);
  });

  it('prompt points: box corners labelled 2/3 first, clicks after, in 1024 input space; no prompt = padding point', () => {
    const p = promptPoints(1280, 720, [128, 72, 640, 360], [[320, 180]], [1]);
    expect(Array.from(p.labels)).toEqual([2, 3, 1]);
    expect(Array.from(p.coords)).toEqual([102.4, 102.4, 512, 512, 256, 256].map(Math.fround));
    const none = promptPoints(1280, 720);
    expect(none.count).toBe(1);
    expect(Array.from(none.labels)).toEqual([-1]);
    expect(Array.from(none.coords)).toEqual([0, 0]);
  });
});

describe('post-processing: 256x256 logits -> original-resolution RLE', () => {
  it('equals a plain bilinear (align_corners=False) upsample + threshold, for odd sizes and random logits', () => {
    const rnd = lcg(3);
    for (const [W, H] of [[333, 251], [1001, 667], [97, 301], [1281, 719], [255, 257]]) {
      const n = 256;
      const logits = new Float32Array(n * n);
      // a few blobs of positive logits on a negative background
      logits.fill(-3);
      for (let b = 0; b < 4; b++) {
        const cx = rnd() * n;
        const cy = rnd() * n;
        const r = 5 + rnd() * 40;
        for (let v = 0; v < n; v++) for (let u = 0; u < n; u++) logits[v * n + u] = Math.max(logits[v * n + u], r - Math.hypot(u - cx, v - cy));
      }
      const got = masksFromLogits(logits, W, H);
      const want = naiveUpsampleMask(logits, n, W, H);
      const wantRle = encodeMask(want, H, W);
      expect(got.rle).toEqual(wantRle);
      expect(got.area).toBe(rleArea(wantRle));
      expect(got.bbox).toEqual(rleBbox(wantRle));
    }
  });

  it('an empty mask (object absent: logits -1024) is an empty RLE', () => {
    const m = masksFromLogits(new Float32Array(256 * 256).fill(-1024), 333, 251);
    expect(m.area).toBe(0);
    expect(m.bbox).toEqual([0, 0, 0, 0]);
    expect(decodeMask(m.rle).every((v) => v === 0)).toBe(true);
  });

  it('bilinear taps match PyTorch for up- and downsampling', () => {
    const up = bilinearTaps(256, 1024);
    expect(up.i0[0]).toBe(0);
    expect(up.w1[0]).toBe(0); // -0.375 clamps to 0
    expect(up.i0[5]).toBe(0); // 5.5 / 4 - 0.5 = 0.875
    expect(up.w1[5]).toBeCloseTo(0.875);
    expect(up.i0[6]).toBe(1);
    expect(up.w1[6]).toBeCloseTo(0.125);
    const down = bilinearTaps(256, 100);
    expect(down.i0[99]).toBe(254);
    expect(down.i1[99]).toBe(255);
  });

  it('boxRle holds the pixels whose centres are inside the box', () => {
    const r = boxRle([10.2, 5.6, 20.4, 9.5], 30, 12);
    const m = decodeMask(r);
    for (let y = 0; y < 12; y++) for (let x = 0; x < 30; x++) expect(m[y * 30 + x]).toBe(x + 0.5 > 10.2 && x + 0.5 < 20.4 && y + 0.5 > 5.6 && y + 0.5 < 9.5 ? 1 : 0);
    expect(rleBbox(r)).toEqual([10, 6, 10, 3]);
  });
});

describe('memory bank', () => {
  const entry = (t: number, tag = t): MemoryEntry => ({
    t,
    features: new Float32Array(MEM_DIM * FEAT_TOKENS).fill(tag),
    posEnc: new Float32Array(FEAT_TOKENS * MEM_DIM).fill(0.5),
    objPtr: new Float32Array(HIDDEN_DIM).fill(tag),
    present: true,
  });

  it('keeps the conditioning frame + the last 6 frames as spatial memory and at most 16 pointers, with their temporal positions', () => {
    const bank = new MemoryBank();
    bank.addCond(entry(0, 100));
    for (let t = 1; t < 40; t++) {
      const sel = bank.select(t);
      // spatial: cond + min(6, t-1) previous frames, oldest first, tpos = t_rel - 1 (cond: 6)
      expect(sel.spatial.length).toBe(1 + Math.min(6, t - 1));
      expect(sel.spatial[0]).toMatchObject({ kind: 'cond', tpos: NUM_MASKMEM - 1 });
      expect(sel.spatial[0].entry.t).toBe(0);
      sel.spatial.slice(1).forEach((s) => {
        expect(s.kind).toBe('non_cond');
        expect(s.tpos).toBe(t - s.entry.t - 1);
      });
      expect(sel.spatial.slice(1).map((s) => s.entry.t)).toEqual(Array.from({ length: Math.min(6, t - 1) }, (_, i) => t - Math.min(6, t - 1) + i));
      // pointers: cond first at distance t, then t-1, t-2, ... (16 in all at most)
      expect(sel.pointers.length).toBe(Math.min(16, t));
      expect(sel.condFrameIdDiff).toBe(t);
      expect(sel.pointers[0]).toMatchObject({ tdiff: t });
      expect(sel.pointers.slice(1).map((p) => p.tdiff)).toEqual(Array.from({ length: sel.pointers.length - 1 }, (_, i) => i + 1));
      bank.addNonCond(entry(t));
    }
    // bounded: pointers of 15 frames kept, features of only the last 6
    expect(bank.nonCond.length).toBe(15);
    expect(bank.nonCond.filter((e) => e.features).length).toBe(6);
  });

  it('builds memory_0 / memory_1 / memory_pos_embed in the exporter layout', () => {
    const bank = new MemoryBank();
    bank.addCond(entry(0, 100));
    for (let t = 1; t < 4; t++) bank.addNonCond(entry(t));
    const code = new Float32Array(NUM_MASKMEM * MEM_DIM);
    for (let i = 0; i < NUM_MASKMEM; i++) code.fill(10 * (i + 1), i * MEM_DIM, (i + 1) * MEM_DIM);
    const mem = buildMemoryInputs(bank.select(4), code);
    expect(mem.numPointers).toBe(4);
    expect(mem.numMemories).toBe(4);
    expect(mem.condFrameIdDiff).toBe(4);
    expect(mem.memory0.length).toBe(4 * 256);
    expect([0, 1, 2, 3].map((i) => mem.memory0[i * 256])).toEqual([100, 3, 2, 1]);
    const per = MEM_DIM * FEAT_TOKENS;
    expect(mem.memory1.length).toBe(4 * per);
    expect([0, 1, 2, 3].map((i) => mem.memory1[i * per])).toEqual([100, 1, 2, 3]);
    expect(mem.memoryPosEmbed.length).toBe((4 * 4096 + 4 * 4) * 64);
    // pos enc + temporal code: cond -> code[6]; frame 1 (3 back) -> code[2]; frame 3 (1 back) -> code[0]
    const at = (mIdx: number) => mem.memoryPosEmbed[mIdx * 4096 * 64 + 123 * 64 + 7];
    expect([0, 1, 2, 3].map(at)).toEqual([70.5, 30.5, 20.5, 10.5]);
    // pointer rows stay zero (the graph fills them)
    expect(mem.memoryPosEmbed.subarray(4 * 4096 * 64).every((v) => v === 0)).toBe(true);
  });

  it('a re-prompted frame becomes the conditioning frame; the pointer chain stops there; conditioning frames are bounded', () => {
    const bank = new MemoryBank({ maxCond: 2 });
    bank.addCond(entry(0, 100));
    for (let t = 1; t <= 5; t++) bank.addNonCond(entry(t));
    bank.addCond(entry(5, 200)); // re-prompt on frame 5 replaces its non-cond memory
    expect(bank.nonCond.map((e) => e.t)).toEqual([1, 2, 3, 4]);
    const sel = bank.select(7);
    expect(sel.condFrameIdDiff).toBe(2);
    expect(sel.pointers.map((p) => p.entry.t)).toEqual([5]); // frame 6 missing: the chain stops
    expect(sel.spatial.filter((s) => s.kind === 'cond').map((s) => s.entry.t)).toEqual([0, 5]);
    bank.addCond(entry(9, 300));
    expect(bank.cond.map((e) => e.t)).toEqual([5, 9]);
  });
});

describe('prompt sources', () => {
  const size = { width: 640, height: 480 };
  it('hand rows -> padded, clipped boxes with a continuity key per hand_index', () => {
    const d = handDetections(
      [
        { clip_id: 'c', frame: 3, hand_index: 1, handedness: 'left', presence: 0.9, bbox: [100, 100, 200, 150] },
        { clip_id: 'c', frame: 3, hand_index: 0, handedness: 'right', presence: 0.2, bbox: [600, 400, 700, 500] },
        { clip_id: 'c', frame: 4, hand_index: 1, handedness: 'left', presence: 0.9, bbox: null },
      ],
      size,
      { pad: 0.1, minPresence: 0.5 },
    );
    expect([...d.keys()]).toEqual([3]);
    expect(d.get(3)).toHaveLength(1);
    expect(d.get(3)![0]).toMatchObject({ box: [90, 95, 210, 155], label: 'left_hand', cls: 'hand', key: 'hand:1', source: 'hand_keypoints' });
  });

  it('detector rows, recipe prompts and the previous clip', () => {
    const det = detectorDetections(
      [
        { clip_id: 'c', frame: 5, label: 'cup', score: 0.8, bbox: [10, 10, 50, 60] },
        { clip_id: 'c', frame: 5, label: 'cup', score: 0.1, bbox: [10, 10, 50, 60] },
        { clip_id: 'c', frame: 6, label: 'person', score: 0.9, bbox: [10, 10, 50, 60] },
      ],
      size,
      { minScore: 0.3, labels: ['cup'] },
    );
    expect([...det.keys()]).toEqual([5]);
    expect(det.get(5)![0]).toMatchObject({ label: 'cup', cls: 'cup', score: 0.8, box: [10, 10, 50, 60] });
    const rec = recipeDetections({ objects: [{ box: [1, 2, 30, 40], label: 'lid' }, { points: [[5, 6]], frame: 12 }, { box: [1, 2, 3, 4], frame: 999 }] }, size, 10, 20);
    expect(rec.get(10)![0]).toMatchObject({ box: [1, 2, 30, 40], label: 'lid', source: 'recipe' });
    expect(rec.get(12)![0]).toMatchObject({ points: [[5, 6]], label: 'object' });
    expect(rec.has(999)).toBe(false);
    expect(checkRecipePrompts({ objects: [{ box: [5, 5, 1, 1] }, { points: [[1]] }, { label: 3 }], extra: 1 })).toHaveLength(5);
    expect(checkRecipePrompts({ objects: [{ box: [1, 2, 30, 40], points: [[3, 4]], point_labels: [0], frame: 3, label: 'x' }] })).toEqual([]);
    const prev = previousClipDetections([{ clip_id: 'a', frame: 20, object_id: 'abc', label: 'right_hand', bbox: [10, 20, 30, 40] }], 'b', 20, size);
    expect(prev.get(20)![0]).toMatchObject({ objectId: 'abc', box: [10, 20, 40, 60], cls: 'hand', source: 'previous_clip', score: 2 });
  });

  it('links object ids of two clips by mask IoU over their shared frames', () => {
    const mk = (clip: string, id: string, frame: number, x: number) => {
      const m = new Uint8Array(40 * 30);
      for (let y = 5; y < 15; y++) for (let xx = x; xx < x + 10; xx++) m[y * 40 + xx] = 1;
      const rle = encodeMask(m, 30, 40);
      return { clip_id: clip, frame, object_id: id, rle_counts: rle.counts, height: 30, width: 40 };
    };
    const prev = [mk('a', 'A1', 8, 2), mk('a', 'A1', 9, 3), mk('a', 'A2', 8, 25), mk('a', 'A2', 9, 26)];
    const next = [mk('b', 'B1', 8, 25), mk('b', 'B1', 9, 26), mk('b', 'B2', 8, 2), mk('b', 'B2', 9, 4), mk('b', 'B3', 10, 2)];
    const link = linkObjectsAcrossClips(prev, next, 0.5);
    expect(Object.fromEntries(link)).toEqual({ B1: 'A2', B2: 'A1' });
  });
});
