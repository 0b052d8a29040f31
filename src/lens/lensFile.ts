// lens.safetensors (contract): each translator in PyTorch's nn.Linear layout,
// `translators.{layer}.weight` [d, d] / `.bias` [d] for a shared translator and
// `translators.{layer}.{position}.…` for a position-specific one. Metadata names the preset.
import { InputError } from '../data/errors.ts';
import { SafetensorsFile, writeSafetensors, type TensorOut } from '../data/safetensors.ts';
import { blockStride } from '../ops/groups.ts';
import { groupName, groupTable, type GroupTable, type PresetName, PRESETS } from './preset.ts';

export function writeLensFile(path: string, table: GroupTable, d: number, blocks: Float32Array, metadata: Record<string, string> = {}): void {
  const stride = blockStride(d);
  const tensors: TensorOut[] = [];
  table.groups.forEach((g, i) => {
    const base = i * stride;
    tensors.push({ name: `${groupName(g)}.weight`, dtype: 'F32', shape: [d, d], data: blocks.subarray(base, base + d * d) });
    tensors.push({ name: `${groupName(g)}.bias`, dtype: 'F32', shape: [d], data: blocks.subarray(base + d * d, base + d * d + d) });
  });
  writeSafetensors(path, tensors, {
    format: 'lensgpu',
    preset: table.preset,
    layers: table.layers.join(','),
    positions: table.positions.join(','),
    critical_layers: table.groups.filter((g) => g.position !== null).map((g) => g.layer).filter((l, i, a) => a.indexOf(l) === i).join(','),
    ...metadata,
  });
}

export interface LensFile {
  table: GroupTable;
  d: number;
  blocks: Float32Array;
  metadata: Record<string, string>;
}

/** Reads a lens written by writeLensFile back into parameter blocks. */
export function readLensFile(path: string): LensFile {
  const file = SafetensorsFile.open(path);
  try {
    const meta = file.metadata;
    const preset = meta.preset as PresetName;
    if (!PRESETS.includes(preset)) throw new InputError(`${path}: not a lens file (metadata preset = ${JSON.stringify(meta.preset)})`);
    const ids = (s: string | undefined) => (s ? s.split(',').map(Number) : []);
    const table = groupTable(preset, ids(meta.layers), ids(meta.positions), ids(meta.critical_layers));
    const first = file.get(`${groupName(table.groups[0]!)}.bias`);
    const d = first.shape[0]!;
    const stride = blockStride(d);
    const blocks = new Float32Array(table.groups.length * stride);
    table.groups.forEach((g, i) => {
      const W = file.readF32(`${groupName(g)}.weight`);
      const b = file.readF32(`${groupName(g)}.bias`);
      if (W.length !== d * d || b.length !== d) throw new InputError(`${path}: ${groupName(g)} is not ${d}×${d} + ${d}`);
      blocks.set(W, i * stride);
      blocks.set(b, i * stride + d * d);
    });
    return { table, d, blocks, metadata: meta };
  } finally {
    file.close();
  }
}
