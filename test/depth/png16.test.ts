import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodePng16, encodePng16, Png16Error } from '../../operators/depth/png16.js';
import { decodeDepth, encodeDepth } from '../../operators/depth/map.js';

function pattern(w: number, h: number): Uint16Array {
  const d = new Uint16Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = (x * 977 + y * 3571 + ((x * y) % 251) * 13) & 0xffff;
  return d;
}

describe('PNG16 codec', () => {
  it('round-trips arbitrary 16-bit data at odd sizes', () => {
    for (const [w, h] of [
      [1, 1],
      [7, 3],
      [64, 48],
      [131, 17],
    ]) {
      const d = pattern(w, h);
      const png = encodePng16(d, w, h);
      const back = decodePng16(png);
      expect(back.width).toBe(w);
      expect(back.height).toBe(h);
      expect(back.bitDepth).toBe(16);
      expect(Array.from(back.data)).toEqual(Array.from(d));
    }
  });

  it('writes a standard PNG that sharp reads as 16-bit grey, and reads what sharp writes', async () => {
    const w = 37;
    const h = 21;
    const d = pattern(w, h);
    const ours = encodePng16(d, w, h);
    const meta = await sharp(ours).metadata();
    expect(meta.depth).toBe('ushort');
    expect(meta.channels).toBe(1);
    const { data } = await sharp(ours).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    expect(Array.from(new Uint16Array(data.buffer, data.byteOffset, data.length / 2))).toEqual(Array.from(d));
    // sharp's encoder picks its own filters: our decoder must undo all of them
    const theirs = await sharp(d, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png({ adaptiveFiltering: true }).toBuffer();
    expect(Array.from(decodePng16(theirs).data)).toEqual(Array.from(d));
  });

  it('rejects what it cannot read', () => {
    expect(() => decodePng16(Buffer.from('not a png at all'))).toThrow(Png16Error);
    expect(() => encodePng16(new Uint16Array(5), 2, 2)).toThrow(Png16Error);
  });

  it('depth encoding: millimetres, 0 = no depth, out of range dropped', () => {
    const depth = Float32Array.from([0.5, 1.2344, NaN, -1, 0, 70, 65.5]);
    const enc = encodeDepth(depth, 7, 1, 0.001);
    expect(enc.invalid).toBe(4);
    expect(enc.overRange).toBe(1);
    expect(enc.min).toBeCloseTo(0.5, 6);
    expect(enc.max).toBeCloseTo(65.5, 4);
    const back = decodeDepth(enc.png, 0.001);
    expect(back.depth[0]).toBeCloseTo(0.5, 6);
    expect(back.depth[1]).toBeCloseTo(1.234, 6); // quantised to 1 mm
    expect(Number.isNaN(back.depth[2])).toBe(true);
    expect(Number.isNaN(back.depth[5])).toBe(true);
    expect(back.depth[6]).toBeCloseTo(65.5, 4);
  });
});
