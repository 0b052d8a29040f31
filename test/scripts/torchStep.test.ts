// bench/torch_step.py, the bench's PyTorch side, needs only torch and numpy (not the fixture
// writer's msgpack), runs on every core this process may use, and records its threads, BLAS
// and CPU. Needs a Python with torch (PYTHON, /usr/bin/python3 or python3); where none has it
// the test says so and checks nothing else.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { torchPython } from '../helpers/python.ts';

const test = suite('bench: the PyTorch side');
const SCRIPT = new URL('../../bench/torch_step.py', import.meta.url).pathname;
const python = torchPython;

test('a tiny lite step without msgpack: every core, threads, BLAS and CPU in its JSON', () => {
  if (!python) return void console.log('  (skipped: no Python with torch here; PYTHON=… names one)');
  const cfg = { d: 32, V: 64, B: 8, layers: 4, positions: 3, critical: [1], presets: ['lite'], repeat: 2 };
  // msgpack made unimportable, as on a machine with only torch and numpy.
  const run = `import sys, runpy; sys.modules['msgpack'] = None; sys.argv = ['torch_step.py', ${JSON.stringify(JSON.stringify(cfg))}]; runpy.run_path(${JSON.stringify(SCRIPT)}, run_name='__main__')`;
  const r = spawnSync(python, ['-c', run], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.is(out.steps[0].preset, 'lite');
  assert.ok(out.steps[0].medianMs > 0);
  if (!out.cuda) assert.is(out.threads, availableParallelism(), `PyTorch ran ${out.threads} threads`);
  assert.type(out.blas, 'string');
  assert.type(out.cpu, 'string');
});

test.run();
