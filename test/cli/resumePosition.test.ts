// A run with the full position unembedding, stopped after its first epoch and resumed, ends
// bit-identical to the run never stopped: ΔU_p, c_p and their AdamW moments and step counts
// come back from the checkpoint (with the fused update no gradient of theirs is stored).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.ts';

const test = suite('resume with a position unembedding');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-resume-position-'));
const files = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];
const settings = ['--preset', 'baseline', '--position-unembed', 'full', '--batch-size', '20', '--seed', '9', '--quiet'];

test('--position-unembed full: 1 epoch, then --resume to 3, equals 3 epochs straight', () => {
  const [whole, split] = [join(tmp, 'whole'), join(tmp, 'split')];
  for (const [out, epochs] of [[whole, '3'], [split, '1']] as const) {
    const r = cli('train', ...files, ...settings, '--epochs', epochs, '--out', out);
    assert.is(r.status, 0, r.stderr);
  }
  const r = cli('train', '--out', split, '--resume', '--epochs', '3', '--quiet');
  assert.is(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(whole, 'lens.safetensors')).equals(readFileSync(join(split, 'lens.safetensors'))), 'lens.safetensors differs');
  const epochs = (run: string) => JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')).epochs;
  assert.equal(epochs(split), epochs(whole));
  assert.is(epochs(whole).length, 3);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
