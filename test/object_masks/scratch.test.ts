import { it, expect } from 'vitest';
import { masksFromLogits } from '../../operators/object_masks/image.js';
import { decodeMask } from '../../src/rle.js';

it('scratch corners', () => {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let bad = 0, total = 0, badPix = 0;
  for (let k = 0; k < 300; k++) {
    const W = 31 + Math.floor(rnd() * 220), H = 31 + Math.floor(rnd() * 220);
    const x0 = rnd() * W * 0.8, y0 = rnd() * H * 0.8;
    const x1 = x0 + 5 + rnd() * (W - x0), y1 = y0 + 5 + rnd() * (H - y0);
    const bx = [x0 / W * 1024, y0 / H * 1024, x1 / W * 1024, y1 / H * 1024];
    const L = new Float32Array(256 * 256);
    for (let v = 0; v < 256; v++) for (let u = 0; u < 256; u++) {
      const cx = 4 * u + 2, cy = 4 * v + 2;
      L[v * 256 + u] = Math.min(cx - bx[0], bx[2] - cx, cy - bx[1], bx[3] - cy);
    }
    const m = masksFromLogits(L, W, H);
    const d = decodeMask(m.rle);
    let diff = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const inside = x + 0.5 > x0 && x + 0.5 < Math.min(x1, W) && y + 0.5 > y0 && y + 0.5 < Math.min(y1, H) ? 1 : 0;
      if (inside !== d[y * W + x]) diff++;
    }
    total++;
    if (diff) { bad++; badPix += diff; if (bad < 10) console.log(W, H, [x0, y0, x1, y1].map(v => v.toFixed(2)), diff); }
  }
  console.log('bad', bad, 'of', total, 'pixels', badPix);
  expect(1).toBe(1);
});
