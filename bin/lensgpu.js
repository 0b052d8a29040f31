#!/usr/bin/env node
// The installed command: the compiled command line (dist/, built by `npm run build` on pack).
// In a checkout without dist/ it runs the TypeScript sources through tsx (a dev dependency,
// there after `npm ci`); with neither, it says in one line what to run.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(dist)) await import(dist.href);
else if (existsSync(sources)) {
  const tsx = await import('tsx/esm/api').catch(() => undefined);
  if (!tsx) {
    process.stderr.write('lensgpu: this checkout has no dist/ and no tsx to run its sources: run `npm ci` (then `npx lensgpu`, or `npm run build`)\n');
    process.exit(1);
  }
  tsx.register();
  await import(sources.href);
} else {
  process.stderr.write('lensgpu: dist/cli/main.js is missing from this package: reinstall it\n');
  process.exit(1);
}
