// The arrows point down (cli → view → train/report → lens/data → ops → gpu → kernels), checked
// on the import graph of src/ itself, type imports included: data/ and report/ never reach the
// GPU (reading a data set must not load Dawn), train/ and view/ reach the GPU only through lens/,
// shared/ imports nothing of ours, and no two modules import each other, directly or around
// a loop.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('layers');
const SRC = new URL('../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Each module's imports: our modules as paths under src/, packages by name. */
const graph = new Map<string, { ours: string[]; packages: string[] }>();
for (const f of files(SRC)) {
  const specs = [...readFileSync(f, 'utf8').matchAll(/^(?:import|export)\s[^'";]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)].map((m) => m[1] ?? m[2]!);
  graph.set(relative(SRC, f), {
    ours: specs.filter((s) => s.startsWith('.')).map((s) => relative(SRC, resolve(dirname(f), s))),
    packages: specs.filter((s) => !s.startsWith('.')),
  });
}

function reach(from: string): Set<string> {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    for (const next of graph.get(stack.pop()!)?.ours ?? []) if (!seen.has(next)) seen.add(next), stack.push(next);
  }
  return seen;
}

test('data/ and report/ reach neither the GPU nor the layers above them', () => {
  for (const [f] of graph) {
    if (!/^(data|report)\//.test(f)) continue;
    const reached = [...reach(f), f];
    const bad = reached.filter((m) => /^(gpu|ops|lens|train|cli)\//.test(m));
    assert.equal(bad, [], `${f} reaches ${bad.join(', ')}`);
    const dawn = reached.filter((m) => graph.get(m)?.packages.includes('webgpu'));
    assert.equal(dawn, [], `${f} loads webgpu through ${dawn.join(', ')}`);
  }
});

test('train/ speaks only to the lens: it imports nothing of gpu/ or ops/', () => {
  for (const [f, { ours }] of graph) {
    if (!f.startsWith('train/')) continue;
    const bad = ours.filter((m) => /^(gpu|ops)\//.test(m));
    assert.equal(bad, [], `${f} imports ${bad.join(', ')}`);
  }
});

test('view/ (the web pages) sits beside train/: nothing of gpu/ or ops/, and only cli/ imports it', () => {
  for (const [f, { ours }] of graph) {
    if (f.startsWith('view/')) {
      const bad = ours.filter((m) => /^(gpu|ops|cli)\//.test(m));
      assert.equal(bad, [], `${f} imports ${bad.join(', ')}`);
    } else if (!f.startsWith('cli/')) {
      assert.not.ok(ours.some((m) => m.startsWith('view/')), `${f} imports view/`);
    }
  }
});

test('shared/ imports nothing of ours but shared/', () => {
  for (const [f, { ours }] of graph) if (f.startsWith('shared/')) assert.ok(ours.every((m) => m.startsWith('shared/')), `${f}: ${ours}`);
});

test('no import cycles', () => {
  for (const [f] of graph) assert.not.ok(reach(f).has(f), `${f} imports itself around a loop`);
});

test.run();
