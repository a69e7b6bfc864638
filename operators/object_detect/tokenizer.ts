/**
 * CLIP byte-level BPE tokenizer (the text side of SAM 3), in TypeScript.
 *
 * The algorithm is OpenAI CLIP's `SimpleTokenizer`, which SAM 3 ships as
 * `sam3/model/tokenizer_ve.py` (facebookresearch/sam3) with the same `bpe_simple_vocab_16e6.txt.gz`:
 *
 *  1. clean: HTML-unescape twice, trim, collapse whitespace runs to one space, lowercase
 *     (ftfy.fix_text is not reproduced: SAM 3 itself falls back to a no-op when ftfy is missing);
 *  2. pre-tokenize with `'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`
 *     (letters in runs, every digit on its own, punctuation runs);
 *  3. map every UTF-8 byte of a word to a printable character (`bytes_to_unicode`), append `</w>`
 *     to the last character, then repeatedly merge the adjacent pair with the lowest merge rank
 *     (all non-overlapping occurrences, left to right) until no ranked pair is left;
 *  4. look the pieces up in the vocabulary; wrap as [start, ...tokens, end], truncate to the
 *     context length keeping the end token last, pad.
 *
 * Vocabulary sources (all found by `findTokenizerFiles` in a model folder):
 *  - `bpe_simple_vocab_16e6.txt.gz` (or the same text uncompressed): a header line, then one merge
 *    per line. The vocabulary is implied: the 256 byte characters, the same with `</w>`, one token
 *    per merge (the first 48,894 merges), then the start and end tokens, so start = 49406 and
 *    end = 49407 with the real file;
 *  - Hugging Face `vocab.json` + `merges.txt` (ids explicit; `<|startoftext|>` / `<|endoftext|>`);
 *  - Hugging Face `tokenizer.json` (model.vocab + model.merges).
 *
 * SAM 3 uses a context of 32 tokens (VETextEncoder context_length=32). The original tokenizer pads
 * with 0 and derives the text mask from `tokens != 0`; Hugging Face's tokenizer for SAM 3 pads
 * with the end token 49407 and passes an explicit attention mask: both are `pad` options here.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export const CLIP_SOT_ID = 49406;
export const CLIP_EOT_ID = 49407;
/** SAM 3's text encoder context (VETextEncoder(context_length=32)). */
export const SAM3_CONTEXT_LENGTH = 32;
/** Merges used from bpe_simple_vocab_16e6.txt.gz: lines [1, 49152 - 256 - 2 + 1). */
export const CLIP_NUM_MERGES = 49152 - 256 - 2;
export const END_OF_WORD = '</w>';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

// ---------------------------------------------------------------------------------------------
// bytes <-> printable characters

let byteTable: string[] | undefined;

/**
 * CLIP/GPT-2 `bytes_to_unicode`: byte b -> a printable character. Printable Latin-1 bytes
 * ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves, the other 68 bytes to U+0100 + n in byte order.
 * The returned array is indexed by byte.
 */
export function bytesToUnicode(): string[] {
  if (byteTable) return byteTable;
  const table = new Array<string>(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  byteTable = table;
  return table;
}

/**
 * The 256 byte characters in the order CLIP lists them in its implied vocabulary: the printable
 * bytes in byte order first, then the remapped ones. Id of byte character i is i; with `</w>`, 256 + i.
 */
export function byteVocabOrder(): string[] {
  const t = bytesToUnicode();
  const printable: string[] = [];
  const rest: string[] = [];
  for (let b = 0; b < 256; b++) (t[b].charCodeAt(0) < 256 ? printable : rest).push(t[b]);
  return [...printable, ...rest];
}

// ---------------------------------------------------------------------------------------------
// text cleaning and pre-tokenization

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  ndash: '\u2013',
  mdash: '\u2014',
  lsquo: '\u2018',
  rsquo: '\u2019',
  ldquo: '\u201c',
  rdquo: '\u201d',
  hellip: '\u2026',
  copy: '\u00a9',
  reg: '\u00ae',
  deg: '\u00b0',
  times: '\u00d7',
};

/** Python `html.unescape` for numeric references and common named entities (the full HTML5 table is not included). */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?/g, (m, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(code);
    }
    const v = NAMED_ENTITIES[body];
    return v === undefined ? m : v;
  });
}

/** SimpleTokenizer's "lower" clean: unescape twice, trim, collapse whitespace, lowercase. */
export function cleanText(text: string): string {
  return htmlUnescape(htmlUnescape(text)).trim().replace(/\s+/gu, ' ').trim().toLowerCase();
}

const PRE_TOKENIZER = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu;

/** Cleaned text -> words (before byte mapping). */
export function preTokenize(cleaned: string): string[] {
  return cleaned.match(PRE_TOKENIZER) ?? [];
}

// ---------------------------------------------------------------------------------------------
// vocabulary data

export interface ClipBpeData {
  /** token -> id */
  vocab: Map<string, number>;
  /** merges in rank order (rank = index) */
  merges: Array<[string, string]>;
  sot: number;
  eot: number;
  /** where it came from, for messages */
  source: string;
}

function parseMergeLines(lines: readonly string[], where: string): Array<[string, string]> {
  const merges: Array<[string, string]> = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#version')) continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new TokenizerError(`${where}: bad merge line ${JSON.stringify(raw)} (expected two symbols)`);
    merges.push([parts[0], parts[1]]);
  }
  return merges;
}

/**
 * `bpe_simple_vocab_16e6.txt` contents (already gunzipped): header + merges; the vocabulary is
 * built as CLIP builds it. `maxMerges` defaults to CLIP's 48,894 (fewer are used when the file
 * has fewer; blank lines are skipped).
 */
export function clipDataFromSimpleVocab(text: string, opts: { maxMerges?: number; source?: string } = {}): ClipBpeData {
  const source = opts.source ?? 'bpe_simple_vocab';
  const lines = text.split('\n');
  // line 0 is the header ("#version: 0.2 ..."); CLIP takes lines[1 : 1 + 48894]
  const body = lines.slice(1).filter((l) => l.trim() !== '');
  const merges = parseMergeLines(body.slice(0, opts.maxMerges ?? CLIP_NUM_MERGES), source);
  const vocab = new Map<string, number>();
  const bytes = byteVocabOrder();
  bytes.forEach((c, i) => vocab.set(c, i));
  bytes.forEach((c, i) => vocab.set(c + END_OF_WORD, 256 + i));
  let next = 512;
  for (const [a, b] of merges) vocab.set(a + b, next++);
  const sot = next++;
  const eot = next++;
  vocab.set('<|startoftext|>', sot);
  vocab.set('<|endoftext|>', eot);
  return { vocab, merges, sot, eot, source };
}

function specialIds(vocab: Map<string, number>): { sot: number; eot: number } {
  const sot = vocab.get('<|startoftext|>') ?? vocab.get('<start_of_text>') ?? CLIP_SOT_ID;
  const eot = vocab.get('<|endoftext|>') ?? vocab.get('<end_of_text>') ?? CLIP_EOT_ID;
  return { sot, eot };
}

/** Hugging Face `vocab.json` + `merges.txt`. */
export function clipDataFromHf(vocabJson: string, mergesTxt: string, source = 'vocab.json + merges.txt'): ClipBpeData {
  let obj: unknown;
  try {
    obj = JSON.parse(vocabJson);
  } catch (e) {
    throw new TokenizerError(`${source}: vocab.json is not JSON: ${(e as Error).message}`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new TokenizerError(`${source}: vocab.json must be an object {token: id}`);
  const vocab = new Map<string, number>();
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TokenizerError(`${source}: vocab.json id of ${JSON.stringify(k)} is not an integer`);
    vocab.set(k, v);
  }
  const merges = parseMergeLines(mergesTxt.split('\n'), source);
  return { vocab, merges, ...specialIds(vocab), source };
}

/** Hugging Face `tokenizer.json` (a BPE model with vocab and merges). */
export function clipDataFromTokenizerJson(json: string, source = 'tokenizer.json'): ClipBpeData {
  let obj: { model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]> }; added_tokens?: Array<{ id: number; content: string }> };
  try {
    obj = JSON.parse(json);
  } catch (e) {
    throw new TokenizerError(`${source}: not JSON: ${(e as Error).message}`);
  }
  const m = obj.model;
  if (!m || !m.vocab || !Array.isArray(m.merges)) throw new TokenizerError(`${source}: expected model.vocab and model.merges (a BPE tokenizer)`);
  const vocab = new Map<string, number>(Object.entries(m.vocab));
  for (const t of obj.added_tokens ?? []) if (typeof t.content === 'string' && Number.isInteger(t.id)) vocab.set(t.content, t.id);
  const merges: Array<[string, string]> = m.merges.map((x) => {
    if (Array.isArray(x) && x.length === 2) return [String(x[0]), String(x[1])];
    if (typeof x === 'string') {
      const parts = x.split(' ');
      if (parts.length === 2) return [parts[0], parts[1]];
    }
    throw new TokenizerError(`${source}: bad merge ${JSON.stringify(x)}`);
  });
  return { vocab, merges, ...specialIds(vocab), source };
}

// ---------------------------------------------------------------------------------------------
// files

export type TokenizerFileKind = 'hf_vocab_merges' | 'tokenizer_json' | 'bpe_simple_vocab';

export interface TokenizerFiles {
  kind: TokenizerFileKind;
  /** absolute paths: [vocab.json, merges.txt], [tokenizer.json] or [bpe_simple_vocab...] */
  files: string[];
}

const SIMPLE_VOCAB_NAMES = ['bpe_simple_vocab_16e6.txt.gz', 'bpe_simple_vocab_16e6.txt'];

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** Tokenizer files in a folder, in order of preference: vocab.json + merges.txt, tokenizer.json, bpe_simple_vocab_16e6.txt(.gz). */
export function findTokenizerFiles(dir: string): TokenizerFiles | null {
  const v = path.join(dir, 'vocab.json');
  const m = path.join(dir, 'merges.txt');
  if (isFile(v) && isFile(m)) return { kind: 'hf_vocab_merges', files: [v, m] };
  const t = path.join(dir, 'tokenizer.json');
  if (isFile(t)) return { kind: 'tokenizer_json', files: [t] };
  for (const n of SIMPLE_VOCAB_NAMES) {
    const p = path.join(dir, n);
    if (isFile(p)) return { kind: 'bpe_simple_vocab', files: [p] };
  }
  return null;
}

/** Classify an explicit tokenizer path: a folder, a vocab.json (merges.txt beside it), a tokenizer.json or a bpe_simple_vocab file. */
export function tokenizerFilesFromPath(p: string): TokenizerFiles | null {
  if (existsSync(p) && statSync(p).isDirectory()) return findTokenizerFiles(p);
  if (!isFile(p)) return null;
  const base = path.basename(p);
  if (base.endsWith('.json') && base !== 'vocab.json') return { kind: 'tokenizer_json', files: [p] };
  if (base === 'vocab.json' || base === 'merges.txt') {
    const dir = path.dirname(p);
    const v = path.join(dir, 'vocab.json');
    const m = path.join(dir, 'merges.txt');
    return isFile(v) && isFile(m) ? { kind: 'hf_vocab_merges', files: [v, m] } : null;
  }
  return { kind: 'bpe_simple_vocab', files: [p] };
}

export function loadClipBpeData(files: TokenizerFiles): ClipBpeData {
  switch (files.kind) {
    case 'hf_vocab_merges':
      return clipDataFromHf(readFileSync(files.files[0], 'utf8'), readFileSync(files.files[1], 'utf8'), files.files.join(' + '));
    case 'tokenizer_json':
      return clipDataFromTokenizerJson(readFileSync(files.files[0], 'utf8'), files.files[0]);
    case 'bpe_simple_vocab': {
      const buf = readFileSync(files.files[0]);
      const gz = buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
      return clipDataFromSimpleVocab((gz ? gunzipSync(buf) : buf).toString('utf8'), { source: files.files[0] });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// tokenizer

export type PadMode = 'zero' | 'eot';

export interface TokenizeOptions {
  /** total length including start and end tokens (SAM 3: 32) */
  contextLength?: number;
  /** 'zero': pad with 0 (original SAM 3 / OpenAI CLIP); 'eot': pad with the end token (Hugging Face) */
  pad?: PadMode;
}

export interface Tokenized {
  /** contextLength ids: start, tokens, end, padding */
  ids: number[];
  /** 1 for start..end, 0 for padding */
  attentionMask: number[];
  /** tokens before truncation (without start/end) */
  length: number;
  truncated: boolean;
}

export class ClipTokenizer {
  readonly sot: number;
  readonly eot: number;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();
  private readonly byteChars = bytesToUnicode();
  private readonly encoder = new TextEncoder();

  constructor(readonly data: ClipBpeData) {
    this.sot = data.sot;
    this.eot = data.eot;
    data.merges.forEach(([a, b], i) => {
      const key = `${a} ${b}`;
      if (!this.ranks.has(key)) this.ranks.set(key, i);
    });
  }

  static fromFiles(files: TokenizerFiles): ClipTokenizer {
    return new ClipTokenizer(loadClipBpeData(files));
  }

  /** Folder or file; throws TokenizerError when no tokenizer files are found. */
  static fromPath(p: string): ClipTokenizer {
    const files = tokenizerFilesFromPath(p);
    if (!files) throw new TokenizerError(`no CLIP tokenizer files at ${p} (expected vocab.json + merges.txt, tokenizer.json or bpe_simple_vocab_16e6.txt.gz)`);
    return ClipTokenizer.fromFiles(files);
  }

  /** Byte-mapped word (no `</w>` yet) -> BPE pieces, the last one ending in `</w>`. */
  bpe(word: string): string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let sym = Array.from(word);
    if (sym.length === 0) return [];
    sym[sym.length - 1] += END_OF_WORD;
    while (sym.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < sym.length - 1; i++) {
        const r = this.ranks.get(`${sym[i]} ${sym[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = sym[best];
      const b = sym[best + 1];
      const out: string[] = [];
      for (let i = 0; i < sym.length; ) {
        if (i < sym.length - 1 && sym[i] === a && sym[i + 1] === b) {
          out.push(a + b);
          i += 2;
        } else {
          out.push(sym[i]);
          i += 1;
        }
      }
      sym = out;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(word, sym);
    return sym;
  }

  /** Token ids of the text, without start/end. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const w of preTokenize(cleanText(text))) {
      let mapped = '';
      for (const b of this.encoder.encode(w)) mapped += this.byteChars[b];
      for (const piece of this.bpe(mapped)) {
        const id = this.data.vocab.get(piece);
        if (id !== undefined) {
          ids.push(id);
          continue;
        }
        // byte fallback: a piece missing from an inconsistent vocabulary is spelled out by its
        // characters (every byte character and byte character + </w> is in a CLIP vocabulary)
        const chars = Array.from(piece.endsWith(END_OF_WORD) ? piece.slice(0, -END_OF_WORD.length) : piece);
        chars.forEach((c, i) => {
          const tok = i === chars.length - 1 && piece.endsWith(END_OF_WORD) ? c + END_OF_WORD : c;
          const cid = this.data.vocab.get(tok);
          if (cid === undefined) throw new TokenizerError(`${this.data.source}: token ${JSON.stringify(tok)} is not in the vocabulary`);
          ids.push(cid);
        });
      }
    }
    return ids;
  }

  /** [start, ...tokens, end] truncated (end kept last) and padded to the context length. */
  tokenize(text: string, opts: TokenizeOptions = {}): Tokenized {
    const ctx = opts.contextLength ?? SAM3_CONTEXT_LENGTH;
    if (!Number.isInteger(ctx) || ctx < 2) throw new TokenizerError(`context length must be an integer >= 2, got ${ctx}`);
    const body = this.encode(text);
    let ids = [this.sot, ...body, this.eot];
    const truncated = ids.length > ctx;
    if (truncated) {
      ids = ids.slice(0, ctx);
      ids[ctx - 1] = this.eot;
    }
    const real = ids.length;
    const padId = (opts.pad ?? 'zero') === 'eot' ? this.eot : 0;
    while (ids.length < ctx) ids.push(padId);
    const attentionMask = ids.map((_, i) => (i < real ? 1 : 0));
    return { ids, attentionMask, length: body.length, truncated };
  }

  /** Row-major [texts.length, contextLength] int64 ids and attention mask, ready for onnxruntime. */
  tokenizeBatch(texts: readonly string[], opts: TokenizeOptions = {}): { ids: BigInt64Array; attentionMask: BigInt64Array; contextLength: number } {
    const ctx = opts.contextLength ?? SAM3_CONTEXT_LENGTH;
    const ids = new BigInt64Array(texts.length * ctx);
    const mask = new BigInt64Array(texts.length * ctx);
    texts.forEach((t, r) => {
      const tk = this.tokenize(t, opts);
      for (let i = 0; i < ctx; i++) {
        ids[r * ctx + i] = BigInt(tk.ids[i]);
        mask[r * ctx + i] = BigInt(tk.attentionMask[i]);
      }
    });
    return { ids, attentionMask: mask, contextLength: ctx };
  }

  /** Ids back to text (`</w>` becomes a space). */
  decode(ids: readonly number[]): string {
    const inv = new Map<number, string>();
    for (const [k, v] of this.data.vocab) if (!inv.has(v)) inv.set(v, k);
    const byteOf = new Map<string, number>();
    this.byteChars.forEach((c, b) => byteOf.set(c, b));
    const bytes: number[] = [];
    for (const id of ids) {
      if (id === this.sot || id === this.eot) continue;
      const tok = inv.get(id);
      if (tok === undefined) continue;
      const eow = tok.endsWith(END_OF_WORD);
      for (const c of eow ? tok.slice(0, -END_OF_WORD.length) : tok) {
        const b = byteOf.get(c);
        if (b !== undefined) bytes.push(b);
      }
      if (eow) bytes.push(0x20);
    }
    return new TextDecoder().decode(Uint8Array.from(bytes)).trim();
  }
}
