/**
 * 16-bit grayscale PNG, encoded and decoded synchronously with node:zlib (no native image
 * library in the worker). The files are plain PNG (colour type 0, bit depth 16, big-endian
 * samples), readable by OpenCV (`cv2.imread(p, cv2.IMREAD_UNCHANGED)` -> uint16), PIL (mode
 * 'I;16') and sharp (`.toColourspace('grey16').raw({depth: 'ushort'})`).
 *
 * The encoder uses the PNG "Up" filter on every row (good for smooth depth maps) and zlib level 6.
 * The decoder accepts any non-interlaced grayscale PNG of bit depth 8 or 16 with any filter.
 */
import zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array, crc = 0xffffffff): number {
  let c = crc;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(data, crc32(head.subarray(4, 8))) ^ 0xffffffff) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

export class Png16Error extends Error {
  override name = 'Png16Error';
}

/** Encode a row-major width x height Uint16Array as a 16-bit grayscale PNG. */
export function encodePng16(data: Uint16Array, width: number, height: number, level = 6): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) throw new Png16Error(`bad size ${width}x${height}`);
  if (data.length !== width * height) throw new Png16Error(`data has ${data.length} samples, ${width}x${height} needs ${width * height}`);
  const stride = width * 2;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    raw[o] = y === 0 ? 0 : 2; // None for the first row, Up for the rest
    for (let x = 0; x < width; x++) {
      const v = data[y * width + x];
      const hi = v >> 8;
      const lo = v & 0xff;
      if (y === 0) {
        raw[o + 1 + x * 2] = hi;
        raw[o + 2 + x * 2] = lo;
      } else {
        const u = data[(y - 1) * width + x];
        raw[o + 1 + x * 2] = (hi - (u >> 8)) & 0xff;
        raw[o + 2 + x * 2] = (lo - (u & 0xff)) & 0xff;
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 16; // bit depth
  ihdr[9] = 0; // grayscale
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level })), chunk('IEND', Buffer.alloc(0))]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decode a grayscale PNG (8- or 16-bit) to a row-major Uint16Array (8-bit samples are returned as 0..255). */
export function decodePng16(buf: Uint8Array): { width: number; height: number; bitDepth: number; data: Uint16Array } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || !b.subarray(0, 8).equals(SIGNATURE)) throw new Png16Error('not a PNG (bad signature)');
  let off = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  const idat: Buffer[] = [];
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off);
    const type = b.toString('ascii', off + 4, off + 8);
    if (off + 12 + len > b.length) throw new Png16Error(`truncated PNG chunk ${type}`);
    const data = b.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8];
      const colour = data[9];
      const interlace = data[12];
      if (colour !== 0) throw new Png16Error(`PNG colour type ${colour} is not grayscale`);
      if (bitDepth !== 16 && bitDepth !== 8) throw new Png16Error(`PNG bit depth ${bitDepth} not supported (8 or 16)`);
      if (interlace !== 0) throw new Png16Error('interlaced PNG not supported');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (!width || !height) throw new Png16Error('PNG without IHDR');
  const bpp = bitDepth / 8;
  const stride = width * bpp;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  if (raw.length < (stride + 1) * height) throw new Png16Error(`PNG image data too short: ${raw.length} bytes for ${width}x${height}x${bitDepth}bit`);
  let prev = new Uint8Array(stride);
  let cur = new Uint8Array(stride);
  const out = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1) + 1;
    const f = raw[o - 1];
    // one loop per filter type (the per-byte switch was the decoder's hot spot)
    switch (f) {
      case 0:
        for (let i = 0; i < stride; i++) cur[i] = raw[o + i];
        break;
      case 1:
        for (let i = 0; i < bpp; i++) cur[i] = raw[o + i];
        for (let i = bpp; i < stride; i++) cur[i] = (raw[o + i] + cur[i - bpp]) & 0xff;
        break;
      case 2:
        for (let i = 0; i < stride; i++) cur[i] = (raw[o + i] + prev[i]) & 0xff;
        break;
      case 3:
        for (let i = 0; i < bpp; i++) cur[i] = (raw[o + i] + (prev[i] >> 1)) & 0xff;
        for (let i = bpp; i < stride; i++) cur[i] = (raw[o + i] + ((cur[i - bpp] + prev[i]) >> 1)) & 0xff;
        break;
      case 4:
        for (let i = 0; i < bpp; i++) cur[i] = (raw[o + i] + prev[i]) & 0xff;
        for (let i = bpp; i < stride; i++) cur[i] = (raw[o + i] + paeth(cur[i - bpp], prev[i], prev[i - bpp])) & 0xff;
        break;
      default:
        throw new Png16Error(`bad PNG filter type ${f} in row ${y}`);
    }
    const base = y * width;
    if (bpp === 2) for (let xx = 0; xx < width; xx++) out[base + xx] = (cur[xx * 2] << 8) | cur[xx * 2 + 1];
    else for (let xx = 0; xx < width; xx++) out[base + xx] = cur[xx];
    const t = prev;
    prev = cur;
    cur = t;
  }
  return { width, height, bitDepth, data: out };
}
