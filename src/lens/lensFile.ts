// lens.safetensors (contract): each translator in PyTorch's nn.Linear layout,
// `translators.{layer}.weight` [d, d] / `.bias` [d] for a shared translator and
// `translators.{layer}.{position}.…` for a position-specific one. Metadata names the preset
// (for people; reading needs only the tensor names).
import { InputError } from '../data/errors.ts';
import { SafetensorsFile, writeSafetensors, type TensorOut } from '../data/safetensors.ts';
import { blockStride } from '../ops/groups.ts';
import { groupName, tableOfGroups, type GroupInfo, type GroupTable } from './preset.ts';

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

/**
 * Reads a lens back into parameter blocks: one written by train, or one a PyTorch user saved
 * from a state dict in the same layout (no metadata needed). The groups come from the tensor
 * names: `translators.{l}.{p}` serves (l, p), `translators.{l}` every other position of l.
 */
export function readLensFile(path: string): LensFile {
  const file = SafetensorsFile.open(path);
  try {
    const groups: GroupInfo[] = [];
    for (const name of file.tensors.keys()) {
      const m = /^translators\.(\d+)(?:\.(\d+))?\.weight$/.exec(name);
      if (m) groups.push({ layer: Number(m[1]), position: m[2] === undefined ? null : Number(m[2]) });
    }
    if (!groups.length) throw new InputError(`${path}: not a lens file (no translators.{layer}[.{position}].weight tensors)`);
    // Layer order; a layer's shared translator first, then its positions in order (as train numbers them).
    groups.sort((a, b) => a.layer - b.layer || (a.position ?? -1) - (b.position ?? -1));
    const table = tableOfGroups(groups);
    const first = file.get(`${groupName(groups[0]!)}.weight`);
    const d = first.shape[1] ?? 0;
    const stride = blockStride(d);
    const blocks = new Float32Array(groups.length * stride);
    groups.forEach((g, i) => {
      const name = groupName(g);
      const W = file.get(`${name}.weight`);
      const b = file.get(`${name}.bias`);
      if (W.shape.length !== 2 || W.shape[0] !== d || W.shape[1] !== d || b.shape.length !== 1 || b.shape[0] !== d) {
        throw new InputError(`${path}: ${name} is weight [${W.shape}] and bias [${b.shape}], expected [${d}, ${d}] and [${d}] like ${groupName(groups[0]!)}`);
      }
      blocks.set(file.readF32(`${name}.weight`), i * stride);
      blocks.set(file.readF32(`${name}.bias`), i * stride + d * d);
    });
    return { table, d, blocks, metadata: file.metadata };
  } finally {
    file.close();
  }
}
