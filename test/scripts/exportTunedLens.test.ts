// scripts/export_tuned_lens.py: a baseline lens trained here, written as tuned-lens's folder
// and loaded back with torch as TunedLens.load does (config.json's fields are
// TunedLensConfig's; params.pt loads strictly into a ModuleList of nn.Linear), translator
// l + 1 carrying layer l's weights. Needs a Python with torch (PYTHON, /usr/bin/python3 or
// python3); where none has it the test says so and checks nothing else.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.ts';
import { torchPython } from '../helpers/python.ts';

const test = suite('export to tuned-lens');
const ROOT = new URL('../../', import.meta.url).pathname;
const DATA = join(ROOT, 'fixtures/data/parity');
const SCRIPT = join(ROOT, 'scripts/export_tuned_lens.py');
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-tuned-'));

const python = torchPython;

const LOAD = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'scripts'))})
from export_tuned_lens import read_safetensors
folder, lens, L = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = json.load(open(folder + "/config.json"))
fields = ["base_model_name_or_path", "d_model", "num_hidden_layers", "bias", "base_model_revision", "unembed_hash", "lens_type"]
assert sorted(cfg) == sorted(fields), cfg
assert cfg["num_hidden_layers"] == L and cfg["lens_type"] == "linear_tuned_lens" and cfg["bias"] is True
d = cfg["d_model"]
layer_translators = torch.nn.ModuleList([torch.nn.Linear(d, d) for _ in range(L)])
layer_translators.load_state_dict(torch.load(folder + "/params.pt"))   # strict, as TunedLens does
ours = read_safetensors(lens)
assert float(layer_translators[0].weight.abs().sum() + layer_translators[0].bias.abs().sum()) == 0
trained = 0
for l in range(L - 1):
    if f"translators.{l}.weight" in ours:
        assert torch.equal(layer_translators[l + 1].weight, ours[f"translators.{l}.weight"])
        assert torch.equal(layer_translators[l + 1].bias, ours[f"translators.{l}.bias"])
        trained += int(ours[f"translators.{l}.weight"].abs().sum() > 0)
print("loaded", trained)
`;

test('a baseline lens loads into tuned-lens\'s layer_translators, layer l at index l + 1', () => {
  if (!python) {
    console.log('  (skipped: no Python with torch here; PYTHON=… names one)');
    return;
  }
  const run = join(tmp, 'run');
  const t = cli('train', '--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors'), '--preset', 'baseline', '--epochs', '1', '--quiet', '--no-checkpoint', '--out', run);
  assert.is(t.status, 0, t.stderr);
  const out = join(tmp, 'tuned');
  const e = spawnSync(python, [SCRIPT, join(run, 'lens.safetensors'), '--num-layers', '17', '--model-name', 'parity', '--out', out], { encoding: 'utf8' });
  assert.is(e.status, 0, e.stderr);
  assert.match(e.stdout, /17 translators of width 48, trained ones for layers 0 … 15 at indices 1 … 16/);
  const l = spawnSync(python, ['-c', LOAD, out, join(run, 'lens.safetensors'), '17'], { encoding: 'utf8' });
  assert.is(l.status, 0, l.stderr);
  assert.match(l.stdout, /loaded 16/);
  // A lens tuned-lens cannot hold: one line, exit 1.
  for (const [args, message] of [
    [[join(DATA, 'lens_lite_pytorch.safetensors'), '--num-layers', '17'], /a position-specific translator \('translators\.\d+\.\d+\.\w+'\); tuned-lens has one translator per layer/],
    [[join(run, 'lens.safetensors'), '--num-layers', '16'], /a translator for layer 15, but in a model of 16 layers tuned-lens has translators for the outputs of layers 0 … 14 only/],
    [[join(run, 'lens.safetensors')], /give --model-dir \(its config\.json has num_hidden_layers\) or --num-layers/],
  ] as const) {
    const r = spawnSync(python, [SCRIPT, ...args, '--out', join(tmp, 'bad')], { encoding: 'utf8' });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
