// The pages' one script (client/app.ts): the bundle `npm run build` ships beside this module,
// else (running from the sources) bundled on first use by esbuild, a development dependency.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let script: string | undefined;

/** The script's text. */
export function clientScript(): string {
  if (script !== undefined) return script;
  const built = fileURLToPath(new URL('./assets/app.js', import.meta.url));
  if (existsSync(built)) return (script = readFileSync(built, 'utf8'));
  const source = fileURLToPath(new URL('./client/app.ts', import.meta.url));
  return (script = bundleClient(source));
}

/** esbuild's bundle of the pages' script (loaded only where the shipped one is absent). */
function bundleClient(source: string): string {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  return esbuild.buildSync({ entryPoints: [source], bundle: true, minify: true, write: false, format: 'iife', target: 'es2020' }).outputFiles[0]!.text;
}
