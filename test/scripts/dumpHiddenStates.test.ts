// scripts/dump_hidden_states.py end to end: a causal LM's hidden states dumped from a JSONL
// of problems, then trained on and evaluated with the dump folder as --model-dir. The model
// is a tiny pure-PyTorch one with Hugging Face's output_hidden_states interface
// (fixtures/tiny_causal_lm.py), and a random tiny LlamaForCausalLM where transformers is
// importable. Needs a Python with torch (PYTHON, /usr/bin/python3 or python3); what cannot
// run here says so.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../src/data/dataset.ts';
import { cli } from '../helpers/cli.ts';
import { torchPython } from '../helpers/python.ts';

const test = suite('dump hidden states');
const ROOT = new URL('../../', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'scripts/dump_hidden_states.py');
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-dump-'));
const python = torchPython;
const hasTransformers = python !== undefined && spawnSync(python, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;

// 30 problems; every third has a chain of thought, every fifth gives its positions as offsets.
const prompts = join(tmp, 'problems.jsonl');
writeFileSync(
  prompts,
  Array.from({ length: 30 }, (_, i) =>
    JSON.stringify({ id: 100 + i, prompt: `Problem ${i}: what is ${i} plus ${3 * i}?`, ...(i % 3 === 0 ? { cot: `${i}+${3 * i}=${4 * i}` } : {}), ...(i % 5 === 0 ? { offsets: [2, 4, 6] } : {}) }),
  ).join('\n') + '\n',
);

/** Row `row` of a dumped file against the model run again: hidden_states[layer + 1] at the row's token. */
const RECOMPUTE = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'scripts'))})
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'fixtures'))})
from export_tuned_lens import read_safetensors
import importlib
factory, data, prompts, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])   # tol: bf16's rounding
module, fn = factory.rsplit(":", 1)
model, tok = getattr(importlib.import_module(module), fn)()
t = read_safetensors(data)
problems = {p["id"]: p for p in map(json.loads, open(prompts))}
checked = 0
for row in range(0, t["hidden"].shape[0], 7):
    p = problems[int(t["example"][row])]
    prompt = tok.encode(p["prompt"])
    ids = prompt + (tok.encode(p["cot"], add_special_tokens=False) if "cot" in p else [])
    pos, layer = int(t["position"][row]), int(t["layer"][row])
    at = p["offsets"][pos] if "offsets" in p else len(prompt) - 3 + pos
    with torch.no_grad():
        states = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    assert torch.allclose(t["hidden"][row], states[layer + 1][0, at].float(), rtol=tol, atol=tol), (row, layer)
    assert torch.allclose(t["final_hidden"][row], states[-1][0, at].float(), rtol=tol, atol=tol), (row, layer)
    assert int(t["target"][row]) == ids[at + 1]
    checked += 1
print("checked", checked)
`;

function dumpTrainEval(name: string, factory: string, extra: string[] = []) {
  const out = join(tmp, name);
  const d = spawnSync(python!, [SCRIPT, '--model', join(ROOT, 'fixtures', `${factory}.py:make`), '--prompts', prompts, '--out', out, '--last', '3', ...extra], { encoding: 'utf8' });
  assert.is(d.status, 0, d.stderr);
  assert.match(d.stdout, /wrote .*train\.safetensors \(\d+ samples\), .*test\.safetensors \(\d+ samples\), and config\.json, model\.safetensors \(norm and unembedding\), tokenizer\.json/);
  for (const f of ['train.safetensors', 'test.safetensors', 'config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(existsSync(join(out, f)), f);
  const train = loadDataset(join(out, 'train.safetensors'));
  const test = loadDataset(join(out, 'test.safetensors'));
  const trainIds = new Set(train.example);
  assert.not.ok(test.example!.some((e) => trainIds.has(e)), 'a problem on both sides of the split');
  assert.ok(train.cot && train.finalHidden, 'cot and final_hidden written');
  const tolerance = extra.includes('bf16') ? '1e-2' : '0';
  const check = spawnSync(python!, ['-c', RECOMPUTE, `${factory}:make`, join(out, 'train.safetensors'), prompts, tolerance], { encoding: 'utf8', cwd: join(ROOT, 'fixtures') });
  assert.is(check.status, 0, check.stderr);
  assert.match(check.stdout, /checked \d+/);
  const run = join(tmp, `${name}-run`);
  const t = cli('train', '--train', join(out, 'train.safetensors'), '--test', join(out, 'test.safetensors'), '--model-dir', out, '--preset', 'baseline', '--epochs', '2', '--quiet', '--out', run);
  assert.is(t.status, 0, t.stderr);
  assert.match(t.stdout, /best epoch \d: val loss \d/);
  const e = cli('eval', '--lens', join(run, 'lens.safetensors'), '--data', join(out, 'test.safetensors'), '--model-dir', out);
  assert.is(e.status, 0, e.stderr);
  const bestLoss = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')).epochs.map((r: { val_loss: number }) => r.val_loss).reduce((a: number, b: number) => Math.min(a, b));
  assert.match(e.stdout, new RegExp(`overall: val loss ${bestLoss.toFixed(4)}`));
  const report = readFileSync(join(run, 'report.md'), 'utf8');
  assert.not.match(report, /#\d+/, 'tokens shown as ids: the dumped tokenizer.json was not used');
}

test('a pure-PyTorch model with HF\'s interface: dump (f32 and bf16) → train → eval with --model-dir', () => {
  if (!python) return void console.log('  (skipped: no Python with torch here; PYTHON=… names one)');
  dumpTrainEval('tiny', 'tiny_causal_lm');
  dumpTrainEval('tiny-bf16', 'tiny_causal_lm', ['--dtype', 'bf16', '--layers', '0,2']);
  assert.equal([...new Set(loadDataset(join(tmp, 'tiny-bf16', 'test.safetensors')).layer)].sort(), [0, 2]);
});

test('a random tiny LlamaForCausalLM from transformers: dump → train → eval', () => {
  if (!hasTransformers) return void console.log(`  (skipped: ${python ? 'transformers is not importable by ' + python : 'no Python with torch here'})`);
  dumpTrainEval('llama', 'tiny_llama');
});

test('bad input: one line, exit 1', () => {
  if (!python) return void console.log('  (skipped: no Python with torch here)');
  const bad = join(tmp, 'bad.jsonl');
  for (const [lines, args, message] of [
    ['{"prompt": "x"}\nnot json\n', [], /bad\.jsonl:2: not JSON/],
    ['{"text": "x"}\n', [], /bad\.jsonl:1: each line needs "prompt"/],
    ['{"id": 1, "prompt": "abc"}\n{"id": 1, "prompt": "abd"}\n', [], /problem ids repeat/],
    ['{"prompt": "ab"}\n', ['--last', '9'], /the prompt has 3 tokens, fewer than --last 9/],
    ['{"prompt": "abcdef"}\n', ['--layers', '0,7'], /--layers 7: the model has layers 0 … 3/],
  ] as const) {
    writeFileSync(bad, lines);
    const r = spawnSync(python, [SCRIPT, '--model', join(ROOT, 'fixtures/tiny_causal_lm.py:make'), '--prompts', bad, '--out', join(tmp, 'bad-out'), ...args], { encoding: 'utf8' });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});

test('mistakes in FILE.py:FUNCTION: one line naming the file, the line and the cause, exit 1', () => {
  if (!python) return void console.log('  (skipped: no Python with torch here)');
  const factory = (name: string, text: string) => (writeFileSync(join(tmp, name), text), join(tmp, name));
  const syntax = factory('syntax.py', 'def make(:\n');
  const raises = factory('raises.py', 'import torch\n\ndef make():\n    return torch.zeros(2) @ torch.zeros(3)\n');
  const single = factory('single.py', 'def make():\n    return 42\n');
  for (const [model, message] of [
    [join(tmp, 'absent.py:make'), /--model .*absent\.py:make: no such file .*absent\.py$/],
    [`${syntax}:make`, /syntax\.py fails to load \(line 1: SyntaxError: /],
    [`${single}:build`, /single\.py has no function build$/],
    [`${single}:make`, /make\(\) must return \(model, tokenizer\), a tokenizer with encode\(text\); got int$/],
    [`${raises}:make`, /make\(\) failed \(line 4: RuntimeError: /],
  ] as const) {
    const r = spawnSync(python, [SCRIPT, '--model', model, '--prompts', prompts, '--out', join(tmp, 'bad-out')], { encoding: 'utf8' });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), message);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
