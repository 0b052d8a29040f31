// `inspect FILE`: what a safetensors file (data, head, lens, checkpoint) or a model folder holds.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chunkStats, parseAssignment } from '../data/assign.ts';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { InputError } from '../shared/errors.ts';
import type { TokenText } from '../data/tokenizer.ts';
import { SafetensorsFile } from '../data/safetensors.ts';
import { fmtBytes } from '../shared/constants.ts';

export function inspect(path: string, print: (line: string) => void, assign = 'uniform', tokens?: TokenText): void {
  if (!existsSync(path)) throw new InputError(`${path}: no such file or folder`);
  if (statSync(path).isDirectory()) return inspectModelDir(path, print);
  const file = SafetensorsFile.open(path);
  try {
    print(`${path}: safetensors, ${fmtBytes(statSync(path).size)}, ${file.tensors.size} tensors`);
    const meta = Object.entries(file.metadata).filter(([k]) => k !== 'state' && k !== 'run');
    if (meta.length) print(`metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    const rows = [...file.tensors.values()].sort((a, b) => a.begin - b.begin);
    const shown = rows.slice(0, 40);
    const width = Math.max(...shown.map((t) => t.name.length), 6);
    for (const t of shown) print(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`);
    if (rows.length > shown.length) print(`  … and ${rows.length - shown.length} more`);

    if (['hidden', 'layer', 'position'].every((n) => file.has(n)) && (file.has('target') || file.has('targets'))) {
      const ds = loadDataset(path);
      const { layer, position, target } = ds;
      const [N, d] = file.get('hidden').shape as [number, number];
      print(`data file: ${N.toLocaleString('en-US')} samples, hidden size ${d}`);
      const positions = [...new Set(position)].sort((a, b) => a - b);
      const counts = new Map<number, Map<number, number>>();
      for (let i = 0; i < layer.length; i++) {
        const row = counts.get(layer[i]!) ?? new Map<number, number>();
        counts.set(layer[i]!, row);
        row.set(position[i]!, (row.get(position[i]!) ?? 0) + 1);
      }
      print(`samples per layer × position:`);
      print(`  layer | ${positions.map((p) => `p${p}`.padStart(6)).join(' ')} |  total`);
      for (const l of [...counts.keys()].sort((a, b) => a - b)) {
        const row = counts.get(l)!;
        const total = [...row.values()].reduce((a, b) => a + b, 0);
        print(`  ${String(l).padStart(5)} | ${positions.map((p) => String(row.get(p) ?? 0).padStart(6)).join(' ')} | ${String(total).padStart(6)}`);
      }
      let lo = Infinity;
      let hi = -Infinity;
      for (const t of target) [lo, hi] = [Math.min(lo, t), Math.max(hi, t)];
      print(`target ids: ${lo} … ${hi} (${new Set(target).size} distinct)`);
      const frequency = new Map<number, number>();
      for (const t of target) if (t >= 0) frequency.set(t, (frequency.get(t) ?? 0) + 1);
      const common = [...frequency.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 10);
      const name = (id: number) => (tokens ? `${tokens.display(id)} (${id})` : String(id));
      if (common.length) print(`commonest targets: ${common.map(([id, n]) => `${name(id)} ×${n}`).join(', ')}${tokens ? '' : ' (--tokenizer FILE shows them as text)'}`);
      if (ds.multi) print(`targets: up to ${ds.multi.targetsPerRow} a sample (--targets all), first target as above`);
      if (ds.finalHidden) print('final_hidden: present (the model\'s own prediction, for --loss kl)');
      if (ds.example) print(`examples: ${new Set(ds.example).size.toLocaleString('en-US')} problems`);
      if (ds.cot) printCot(ds, assign, print);
    } else if (file.has('lm_head.weight') && file.has('norm.weight')) {
      const [V, d] = file.get('lm_head.weight').shape as [number, number];
      print(`head file: d ${d}, V ${V}, norm_eps ${file.metadata.norm_eps ?? '1e-5 (default)'}`);
    }
  } finally {
    file.close();
  }
}

/** A chain of thought's length per problem, and the chunk lengths `assign` gives each position. */
function printCot(ds: Dataset, rule: string, print: (line: string) => void): void {
  const { T, tokens, example } = ds.cot!;
  const lengths = Array.from(example, (_, i) => tokens.subarray(i * T, (i + 1) * T).filter((t) => t >= 0).length);
  const mean = lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length);
  print(`chain of thought: ${lengths.length.toLocaleString('en-US')} problems, ${lengths.reduce((a, b) => Math.min(a, b), Infinity)} … ${lengths.reduce((a, b) => Math.max(a, b), 0)} tokens (mean ${mean.toFixed(1)})`);
  const P = ds.position.reduce((m, p) => Math.max(m, p), 0) + 1;
  const assignment = parseAssignment(rule);
  print(`chunk lengths per position with --assign ${rule} (tokens; empty: problems whose chunk is empty):`);
  print(`  position |  min |  mean |  max | empty`);
  for (const c of chunkStats(ds, assignment, P)) {
    print(`  ${String(c.position).padStart(8)} | ${String(c.min).padStart(4)} | ${c.mean.toFixed(2).padStart(5)} | ${String(c.max).padStart(4)} | ${String(c.empty).padStart(5)}`);
  }
}

function inspectModelDir(dir: string, print: (line: string) => void): void {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new InputError(`${dir}: a folder without config.json (not a Hugging Face model folder)`);
  const c = JSON.parse(readFileSync(configPath, 'utf8'));
  print(`${dir}: Hugging Face model folder (${c.model_type ?? 'unknown type'})`);
  for (const k of ['hidden_size', 'vocab_size', 'num_hidden_layers', 'rms_norm_eps', 'tie_word_embeddings', 'torch_dtype']) {
    if (k in c) print(`  ${k}: ${c[k]}`);
  }
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = JSON.parse(readFileSync(index, 'utf8')).weight_map ?? {};
    print(`  sharded: ${new Set(Object.values(map)).size} files, ${Object.keys(map).length} tensors`);
  } else if (existsSync(join(dir, 'model.safetensors'))) {
    print(`  model.safetensors: ${fmtBytes(statSync(join(dir, 'model.safetensors')).size)}`);
  }
  if (existsSync(join(dir, 'tokenizer.json'))) print('  tokenizer.json: present');
}
