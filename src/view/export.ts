// `lensgpu view --export FILE.html RUN`: the run's pages in one self-contained file (data and
// script inlined, no server, no network), to attach to a paper or a message: the run, every
// (layer, position) cell's examples, and the trajectories of the most instructive examples
// (per position, the one the lens does worst on and the one it does best on), through the
// run's lens and through the logit lens. Computed by the same kernels as the server's pages.
import { join } from 'node:path';
import type { TokenText } from '../data/tokenizer.ts';
import type { Gpu } from '../lens/device.ts';
import { readRun } from '../report/run.ts';
import { InputError } from '../shared/errors.ts';
import { writeFileAtomic } from '../shared/files.ts';
import { trajectory } from '../train/trajectory.ts';
import { clientScript } from './assets.ts';
import { cellPage, cellRows, cotOf, examplePage, renderSections, runPage, type Links, type PageContent } from './pages.ts';
import type { RunData } from './runData.ts';
import { GpuQueue, SampleStore, type CachedSamples } from './samples.ts';

export interface ExportOptions {
  dir: string;
  out: string;
  /** How many examples get their trajectory. */
  examples: number;
  openGpu: () => Promise<Gpu>;
  tokens: TokenText | undefined;
  print: (line: string) => void;
}

export async function exportRun(o: ExportOptions): Promise<void> {
  const run = readRun(o.dir);
  const id = run.name;
  const queue = new GpuQueue(o.openGpu);
  try {
    o.print(`evaluating ${id}'s best lens on its test set`);
    const s = await new SampleStore(queue).settled(run);
    if (s.state === 'error') throw new InputError(s.message);
    if (s.state !== 'ready') throw new Error('unreachable');
    const chosen = instructiveExamples(s.data, s.samples, o.examples);
    const links = exportLinks(new Set(chosen));
    const pages: { anchor: string; page: PageContent }[] = [{ anchor: 'run', page: runPage(id, run, 'all', o.tokens, links, {}) }];
    for (const c of run.metrics.per_group.filter((c) => c.count > 0)) {
      pages.push({ anchor: `cell-${c.layer}-${c.position}`, page: cellPage(id, cellRows(s.data.test, s.samples, c.layer, c.position), 'loss', '', o.tokens, links) });
    }
    const choices = [{ key: 'run', label: `this run's lens` }, { key: 'none', label: 'the logit lens' }];
    for (const [k, e] of chosen.entries()) {
      o.print(`trajectory ${k + 1}/${chosen.length}: example ${e}`);
      for (const lens of ['run', 'none']) {
        const t = await queue.run((gpu) => trajectory(gpu, s.data.head, s.data.test, e, lens === 'run' ? join(run.dir, 'lens.safetensors') : undefined));
        pages.push({ anchor: lens === 'run' ? `example-${e}` : `example-${e}-none`, page: examplePage(id, t, lens, choices, cotOf(s.data, run, e, o.tokens), o.tokens, links) });
      }
    }
    writeFileAtomic(o.out, renderSections(`${id}`, pages, links));
    o.print(`wrote ${o.out}: ${id}, ${pages.length - 1 - 2 * chosen.length} cells, ${chosen.length} examples`);
  } finally {
    await queue.close();
  }
}

/** Links between an exported file's sections; examples without a section have none. */
function exportLinks(examples: Set<number>): Links {
  return {
    runs: '#run',
    run: () => '#run',
    cell: (_id, layer, position) => `#cell-${layer}-${position}`,
    cellBase: () => '#cell',
    example: (_id, e, q) => (examples.has(e) ? `#example-${e}${q?.lens === 'none' ? '-none' : ''}` : undefined),
    script: `<script>${clientScript().replace(/<\/script/gi, '<\\/script')}</script>`,
    sortable: false,
  };
}

/**
 * Per position, the example with the highest mean loss there and the one with the lowest,
 * positions in order, each example once, at most `n`.
 */
export function instructiveExamples(data: RunData, s: CachedSamples, n: number): number[] {
  const { example, position } = data.test;
  if (!example) return [];
  const sums = new Map<string, { e: number; p: number; loss: number; count: number }>();
  example.forEach((e, i) => {
    const key = `${position[i]},${e}`;
    const a = sums.get(key) ?? { e, p: position[i]!, loss: 0, count: 0 };
    a.loss += s.loss[i]!;
    a.count++;
    sums.set(key, a);
  });
  const out: number[] = [];
  for (const p of [...new Set(position)].sort((a, b) => a - b)) {
    const at = [...sums.values()].filter((a) => a.p === p).sort((a, b) => b.loss / b.count - a.loss / a.count || a.e - b.e);
    for (const a of [at[0], at.at(-1)]) if (a && !out.includes(a.e) && out.length < n) out.push(a.e);
  }
  return out;
}
