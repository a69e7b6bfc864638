/**
 * CLIP BPE tokenizer on the fixture vocabulary (operators/object_detect/tiny.ts), which reproduces
 * real CLIP ids for words whose ids are established by public tokenizer tests (sources in
 * VERIFIED_CLIP_WORDS); byte-level ids (0..511) follow from bytes_to_unicode. CLIP's real merge
 * ranks are checked in tokenizer-real.test.ts with the real merges file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIP_EOT_ID,
  CLIP_SOT_ID,
  ClipTokenizer,
  bytesToUnicode,
  byteVocabOrder,
  cleanText,
  clipDataFromSimpleVocab,
  clipDataFromTokenizerJson,
  findTokenizerFiles,
  htmlUnescape,
  preTokenize,
  type ClipBpeData,
} from '../../operators/object_detect/tokenizer.js';
import { TINY_PROMPT_IDS, VERIFIED_CLIP_WORDS, tinyClipVocab, writeTinyClipVocab } from '../../operators/object_detect/tiny.js';

let dir: string;
let tok: ClipTokenizer;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'egopipe-clip-'));
  writeTinyClipVocab(dir);
  tok = ClipTokenizer.fromPath(dir);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const S = CLIP_SOT_ID;
const E = CLIP_EOT_ID;
const ids = (text: string) => [S, ...tok.encode(text), E];

describe('real CLIP ids (published tokenizer test vectors)', () => {
  it('reproduces whole sentences', () => {
    expect(ids('a photo of a cat')).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(ids('a photo of a dog')).toEqual([49406, 320, 1125, 539, 320, 1929, 49407]);
    expect(ids('Hello, world!')).toEqual([49406, 3306, 267, 1002, 256, 49407]);
    expect(ids("don't stop")).toEqual([49406, 847, 713, 1691, 49407]);
    expect(ids("don't stop 42 times")).toEqual([49406, 847, 713, 1691, 275, 273, 1661, 49407]);
    expect(ids('hello-world, 3.14 (test)')).toEqual([49406, 3306, 268, 1002, 267, 274, 269, 272, 275, 263, 1628, 264, 49407]);
    expect(ids('cafe uber naive')).toEqual([49406, 4979, 10668, 43362, 49407]);
    expect(ids('\u{1F600} red car')).toEqual([49406, 7334, 736, 1615, 49407]);
    expect(ids('35mm photography')).toEqual([49406, 274, 276, 2848, 2108, 49407]);
    expect(ids('')).toEqual([49406, 49407]);
    expect(ids('a photo of a tree')).toEqual([49406, 320, 1125, 539, 320, 2677, 49407]);
    expect(ids("it's a cat's toy, running   fast")).toEqual([49406, 585, 568, 320, 2368, 568, 5988, 267, 2761, 1953, 49407]);
    expect(ids('2 dogs and 3 cats')).toEqual([49406, 273, 3255, 537, 274, 3989, 49407]);
    expect(ids('  \t\n ')).toEqual([49406, 49407]);
  });

  it('lowercases and collapses whitespace', () => {
    expect(ids('A PHOTO of  a Cat!')).toEqual([49406, 320, 1125, 539, 320, 2368, 256, 49407]);
    expect(ids('    a    photo  of  a cat    ')).toEqual(ids('a photo of a cat'));
    expect(ids('A pHotO of a CaT')).toEqual(ids('a photo of a cat'));
    expect(ids('a\tphoto\nof a cat')).toEqual(ids('a photo of a cat'));
  });

  it('byte fallback: characters without merges become byte tokens (real ids of lone CJK ideographs)', () => {
    // "石 灯 籠" are three words; CLIP has no merges inside them: [E7 9F B3], [E7 81 AF], [E7 B1 A0]
    // real ids from a Hugging Face CLIPTokenizer test of "日本の石灯籠" (its last nine ids)
    expect(tok.encode('石 灯 籠')).toEqual([163, 253, 367, 163, 223, 363, 163, 109, 510]);
  });

  it('byte tokens: ids 0..511 follow bytes_to_unicode (checked on real ids)', () => {
    const order = byteVocabOrder();
    const b2u = bytesToUnicode();
    expect(order).toHaveLength(256);
    expect(new Set(order).size).toBe(256);
    const id = (byte: number, eow: boolean) => order.indexOf(b2u[byte]) + (eow ? 256 : 0);
    expect(id(0x21, true)).toBe(256); // '!'
    expect(id(0x2c, true)).toBe(267); // ','
    expect(id(0x2d, true)).toBe(268); // '-'
    expect(id(0x61, true)).toBe(320); // 'a'
    expect(id(0x34, true)).toBe(275); // '4'
    expect(id(0xe7, false)).toBe(163);
    expect(id(0x9f, false)).toBe(253); // a remapped (non-printable) byte
    expect(id(0xa0, true)).toBe(510);
    // space and control bytes are remapped above U+00FF, printable ones are themselves
    expect(b2u[0x20]).toBe('\u0120');
    expect(b2u[0x41]).toBe('A');
  });

  it('the fixture holds exactly the verified ids for its words', () => {
    const { vocab } = tinyClipVocab();
    for (const w of VERIFIED_CLIP_WORDS) expect(tok.encode(w.word), w.word).toEqual([w.id]);
    for (const [w, id] of Object.entries(TINY_PROMPT_IDS)) expect(tok.encode(w)).toEqual([id]);
    expect(vocab['<|startoftext|>']).toBe(49406);
    expect(vocab['<|endoftext|>']).toBe(49407);
    expect(tok.sot).toBe(49406);
    expect(tok.eot).toBe(49407);
    // ids are unique
    expect(new Set(Object.values(vocab)).size).toBe(Object.keys(vocab).length);
  });
});

describe('cleaning and pre-tokenization', () => {
  it('unescapes HTML twice, trims, collapses whitespace, lowercases', () => {
    expect(htmlUnescape('fish &amp; chips &#39;n&#x27; &lt;b&gt;')).toBe("fish & chips 'n' <b>");
    expect(cleanText('  Fish &amp;amp; Chips\t\n ')).toBe('fish & chips');
    expect(cleanText('&unknown; stays')).toBe('&unknown; stays');
  });

  it('splits contractions, letter runs, single digits and punctuation runs', () => {
    expect(preTokenize("don't stop 42 times")).toEqual(['don', "'t", 'stop', '4', '2', 'times']);
    expect(preTokenize("we'll see what's up")).toEqual(['we', "'ll", 'see', 'what', "'s", 'up']);
    expect(preTokenize('hello-world, 3.14 (test)')).toEqual(['hello', '-', 'world', ',', '3', '.', '1', '4', '(', 'test', ')']);
    expect(preTokenize('wow!!! ...')).toEqual(['wow', '!!!', '...']);
    expect(preTokenize('café über')).toEqual(['café', 'über']);
  });
});

describe('BPE', () => {
  const make = (merges: string[], extra: string[] = []): ClipTokenizer => {
    const vocab = new Map<string, number>();
    byteVocabOrder().forEach((c, i) => {
      vocab.set(c, i);
      vocab.set(c + '</w>', 256 + i);
    });
    let next = 1000;
    for (const m of merges) vocab.set(m.replace(' ', ''), next++);
    for (const t of extra) vocab.set(t, next++);
    const data: ClipBpeData = { vocab, merges: merges.map((m) => m.split(' ') as [string, string]), sot: S, eot: E, source: 'synthetic' };
    return new ClipTokenizer(data);
  };

  it('applies the lowest-ranked pair first', () => {
    // "abc" -> a b c</w>; with (b, c</w>) ranked first the result is [a, bc</w>], else [ab, c</w>]
    expect(make(['b c</w>', 'a b']).bpe('abc')).toEqual(['a', 'bc</w>']);
    expect(make(['a b', 'b c</w>']).bpe('abc')).toEqual(['ab', 'c</w>']);
  });

  it('merges every non-overlapping occurrence left to right, then continues', () => {
    expect(make(['a a']).bpe('aaaa')).toEqual(['aa', 'a', 'a</w>']);
    expect(make(['a a', 'aa aa']).bpe('aaaaa')).toEqual(['aaaa', 'a</w>']);
    expect(make(['a a', 'a a</w>']).bpe('aaaa')).toEqual(['aa', 'aa</w>']);
  });

  it('marks the end of word on the last symbol', () => {
    const t = make(['c a', 'ca t</w>']);
    expect(t.bpe('cat')).toEqual(['cat</w>']);
    expect(t.bpe('cats')).toEqual(['ca', 't', 's</w>']); // 't s</w>' has no merge, 'ca t</w>' does not apply
    expect(t.bpe('x')).toEqual(['x</w>']);
  });

  it('falls back to byte tokens for pieces missing from an inconsistent vocabulary', () => {
    const t = make(['a b']);
    t.data.vocab.delete('ab');
    const order = byteVocabOrder();
    expect(t.encode('abc')).toEqual([order.indexOf('a'), order.indexOf('b'), 256 + order.indexOf('c')]);
  });
});

describe('context window', () => {
  it('pads to 32 with zeros or with the end token, mask marks start..end', () => {
    const z = tok.tokenize('a photo of a cat');
    expect(z.ids).toHaveLength(32);
    expect(z.ids.slice(0, 7)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(z.ids.slice(7)).toEqual(new Array(25).fill(0));
    expect(z.attentionMask).toEqual([...new Array(7).fill(1), ...new Array(25).fill(0)]);
    const e = tok.tokenize('a photo of a cat', { pad: 'eot' });
    expect(e.ids.slice(7)).toEqual(new Array(25).fill(49407));
    expect(e.attentionMask).toEqual(z.attentionMask);
    expect(tok.tokenize('cat', { contextLength: 5 }).ids).toEqual([49406, 2368, 49407, 0, 0]);
  });

  it('truncates keeping the end token last', () => {
    const long = new Array(40).fill('cat').join(' ');
    const t = tok.tokenize(long);
    expect(t.truncated).toBe(true);
    expect(t.length).toBe(40);
    expect(t.ids).toEqual([49406, ...new Array(30).fill(2368), 49407]);
    expect(t.attentionMask.every((m) => m === 1)).toBe(true);
    expect(tok.tokenize('a photo of a cat', { contextLength: 5 }).ids).toEqual([49406, 320, 1125, 539, 49407]);
    const exact = tok.tokenize(new Array(30).fill('cat').join(' '));
    expect(exact.truncated).toBe(false);
    expect(exact.ids[31]).toBe(49407);
  });

  it('batches as int64 rows', () => {
    const b = tok.tokenizeBatch(['cat', 'dog'], { contextLength: 4, pad: 'eot' });
    expect(Array.from(b.ids, Number)).toEqual([49406, 2368, 49407, 49407, 49406, 1929, 49407, 49407]);
    expect(Array.from(b.attentionMask, Number)).toEqual([1, 1, 1, 0, 1, 1, 1, 0]);
  });

  it('decodes ids back to text', () => {
    expect(tok.decode(ids('a photo of a cat'))).toBe('a photo of a cat');
    expect(tok.decode(tok.encode('石 灯 籠'))).toBe('石 灯 籠');
  });
});

describe('vocabulary files', () => {
  it('bpe_simple_vocab format (gzip): the vocabulary is implied by the merge order', () => {
    const { merges } = tinyClipVocab();
    const text = ['"bpe_simple_vocab_16e6.txt#version: 0.2', ...merges].join('\n') + '\n';
    const d = mkdtempSync(path.join(tmpdir(), 'egopipe-clip-gz-'));
    try {
      writeFileSync(path.join(d, 'bpe_simple_vocab_16e6.txt.gz'), gzipSync(text));
      const files = findTokenizerFiles(d);
      expect(files?.kind).toBe('bpe_simple_vocab');
      const t = ClipTokenizer.fromFiles(files!);
      // 512 byte tokens, one per merge, then start and end (with CLIP's 48,894 merges: 49406, 49407)
      expect(t.sot).toBe(512 + merges.length);
      expect(t.eot).toBe(513 + merges.length);
      const catMerge = merges.findIndex((m) => m.replace(' ', '') === 'cat</w>');
      expect(t.encode('cat')).toEqual([512 + catMerge]);
      expect(t.encode('a photo')[0]).toBe(320); // byte-level ids are the same in every format
      // the same segmentation as the vocab.json + merges.txt fixture
      const words = ['a photo of a cat', "don't stop 42 times", '\u{1F600} red car', '石 灯 籠'];
      for (const w of words) expect(t.encode(w).map((i) => t.decode([i]))).toEqual(tok.encode(w).map((i) => tok.decode([i])));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('CLIP itself uses 48,894 merges: start/end land on 49406/49407', () => {
    const merges = Array.from({ length: 48894 + 10 }, (_, i) => `x${i} y${i}`);
    const data = clipDataFromSimpleVocab(['#version: 0.2', ...merges].join('\n'));
    expect(data.merges).toHaveLength(48894);
    expect(data.sot).toBe(49406);
    expect(data.eot).toBe(49407);
  });

  it('tokenizer.json (Hugging Face fast tokenizer layout)', () => {
    const { vocab, merges } = tinyClipVocab();
    const json = JSON.stringify({
      model: { type: 'BPE', vocab, merges: merges.map((m) => m.split(' ')), end_of_word_suffix: '</w>' },
      added_tokens: [
        { id: 49406, content: '<|startoftext|>' },
        { id: 49407, content: '<|endoftext|>' },
      ],
    });
    const t = new ClipTokenizer(clipDataFromTokenizerJson(json));
    expect([t.sot, ...t.encode('a photo of a cat'), t.eot]).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
  });

  it('prefers vocab.json + merges.txt; reports a folder without tokenizer files', () => {
    expect(findTokenizerFiles(dir)?.kind).toBe('hf_vocab_merges');
    const empty = mkdtempSync(path.join(tmpdir(), 'egopipe-clip-none-'));
    try {
      expect(findTokenizerFiles(empty)).toBeNull();
      expect(() => ClipTokenizer.fromPath(empty)).toThrow(/no CLIP tokenizer files/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
