// Functions short enough to read at a glance: none in src/ runs past 80 lines (measured on
// the TypeScript syntax tree, nested functions counted on their own).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('style');
const SRC = new URL('../src/', import.meta.url).pathname;
const MAX_LINES = 80;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every function, method, constructor and arrow with a body, and its length in lines. */
function functionLengths(path: string, text = readFileSync(path, 'utf8')): { name: string; line: number; lines: number }[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: { name: string; line: number; lines: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const last = source.getLineAndCharacterOfPosition(node.end).line;
      const name = node.name && ts.isIdentifier(node.name) ? node.name.text : ts.SyntaxKind[node.kind];
      out.push({ name, line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

test(`no function in src/ is longer than ${MAX_LINES} lines`, () => {
  const long = files(SRC).flatMap((f) => functionLengths(f).filter((fn) => fn.lines > MAX_LINES).map((fn) => `${relative(SRC, f)}:${fn.line} ${fn.name} (${fn.lines} lines)`));
  assert.equal(long, []);
});

test('the measure counts functions, methods and arrows, nested ones on their own', () => {
  const body = Array.from({ length: 79 }, (_, i) => `  const v${i} = ${i};`).join('\n');
  const text = `function long() {\n${body}\n}\nclass C {\n  m() {\n    const f = () => 1;\n  }\n}\n`;
  const lengths = functionLengths('x.ts', text);
  assert.equal(lengths.map((fn) => [fn.name, fn.lines]), [['long', 81], ['m', 3], ['ArrowFunction', 1]]);
});

test.run();
