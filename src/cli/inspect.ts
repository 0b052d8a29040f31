// `inspect FILE`: what a safetensors file (data, head, lens, checkpoint) or a model folder holds.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../data/errors.ts';
import { SafetensorsFile } from '../data/safetensors.ts';
import { fmtBytes } from '../gpu/buffers.ts';

export function inspect(path: string, print: (line: string) => void): void {
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

    if (['hidden', 'layer', 'position', 'target'].every((n) => file.has(n))) {
      const layer = file.readInt('layer');
      const position = file.readInt('position');
      const target = file.readInt('target');
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
    } else if (file.has('lm_head.weight') && file.has('norm.weight')) {
      const [V, d] = file.get('lm_head.weight').shape as [number, number];
      print(`head file: d ${d}, V ${V}, norm_eps ${file.metadata.norm_eps ?? '1e-5 (default)'}`);
    }
  } finally {
    file.close();
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
