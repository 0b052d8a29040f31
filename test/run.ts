// Test runner: loads every test/**/*.test.ts into uvu's queue, runs the suites in order on one
// shared GPU device, and ends with the line `N passed, N failed`.
// Usage: tsx test/run.ts [substring …]  (only files whose path contains a substring)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);

function find(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return find(path);
      return name.endsWith('.test.ts') ? [path] : [];
    });
}

const files = find(root).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
// The tests run the built-in kernels (each candidate is checked on its own against the fixtures,
// and the tuner has tests of its own): no tuning per shape, no cache in the home folder.
process.env.LENSGPU_TUNE ??= 'off';
const g = globalThis as any;
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];
for (let i = 0; i < files.length; i++) {
  g.UVU_INDEX = i;
  g.UVU_QUEUE.push([relative(root, files[i]!)]);
  await import(pathToFileURL(files[i]!).href);
}

let passed = 0;
let failed = 0;
let skipped = 0;
const started = performance.now();
for (const group of g.UVU_QUEUE as [string, ...(() => Promise<[string | true, number, number, number]>)[]][]) {
  const [name, ...suites] = group;
  process.stdout.write(`${name}\n`);
  for (const suite of suites) {
    const [errors, ran, skips, total] = await suite();
    passed += ran;
    skipped += skips;
    failed += total - ran;
    if (errors !== true && errors.length) process.stdout.write(`\n${errors}\n`);
  }
  process.stdout.write('\n');
}

const { closeTestGpu } = await import('./helpers/gpu.ts');
await closeTestGpu();
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (skipped) console.log(`${skipped} skipped (reasons printed above)`);
console.log(`(${seconds} s)`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
