// lens.safetensors (contract): each translator in PyTorch's nn.Linear layout,
// `translators.{layer}.weight` [d, d] / `.bias` [d] for a shared translator and
// `translators.{layer}.{position}.…` for a position-specific one. Metadata names the preset
// (for people; reading needs only the tensor names).
import { InputError } from '../shared/errors.ts';
import { SafetensorsFile, writeSafetensors, type TensorOut } from '../data/safetensors.ts';
import { blockStride } from '../ops/groups.ts';
import type { PositionParams, PositionUnembedMode } from '../ops/positionUnembed.ts';
import { groupName, tableOfGroups, type GroupInfo, type GroupTable } from './preset.ts';

export function writeLensFile(
  path: string,
  table: GroupTable,
  d: number,
  blocks: Float32Array,
  metadata: Record<string, string> = {},
  unembed?: PositionParams,
): void {
  const stride = blockStride(d);
  const tensors: TensorOut[] = [];
  table.groups.forEach((g, i) => {
    const base = i * stride;
    tensors.push({ name: `${groupName(g)}.weight`, dtype: 'F32', shape: [d, d], data: blocks.subarray(base, base + d * d) });
    tensors.push({ name: `${groupName(g)}.bias`, dtype: 'F32', shape: [d], data: blocks.subarray(base + d * d, base + d * d + d) });
  });
  if (unembed) {
    const { V, positions } = unembed;
    positions.forEach((p, q) => {
      if (unembed.delta) tensors.push({ name: `unembed.${p}.delta`, dtype: 'F32', shape: [V, d], data: unembed.delta.subarray(q * V * d, (q + 1) * V * d) });
      tensors.push({ name: `unembed.${p}.bias`, dtype: 'F32', shape: [V], data: unembed.c.subarray(q * V, (q + 1) * V) });
    });
  }
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
  /** `unembed.{p}.bias` (and `.delta`) where the lens has a position-specific unembedding. */
  unembed?: PositionParams;
}

/**
 * Reads a lens back into parameter blocks: one written by train, or one a PyTorch user saved
 * from a state dict in the same layout (no metadata needed). The groups come from the tensor
 * names: `translators.{l}.{p}` serves (l, p), `translators.{l}` every other position of l.
 */
export function readLensFile(path: string): LensFile {
  const file = SafetensorsFile.open(path);
  try {
    // A lens this program wrote carries a checksum; one from PyTorch may not.
    if (file.verify() === 'damaged') throw new InputError(`${path}: damaged (its CRC-32 does not match its contents); train again, or use an intact copy`);
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
    return { table, d, blocks, metadata: file.metadata, unembed: readPositionBlocks(file, d) };
  } finally {
    file.close();
  }
}

function readPositionBlocks(file: SafetensorsFile, d: number): PositionParams | undefined {
  const positions = [...file.tensors.keys()]
    .map((n) => /^unembed\.(\d+)\.bias$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (!positions.length) return undefined;
  const V = file.get(`unembed.${positions[0]}.bias`).shape[0]!;
  const mode: PositionUnembedMode = file.has(`unembed.${positions[0]}.delta`) ? 'full' : 'bias';
  const c = new Float32Array(positions.length * V);
  const delta = mode === 'full' ? new Float32Array(positions.length * V * d) : undefined;
  positions.forEach((p, q) => {
    const bias = file.get(`unembed.${p}.bias`);
    if (bias.shape.length !== 1 || bias.shape[0] !== V) throw new InputError(`${file.path}: unembed.${p}.bias is [${bias.shape}], expected [${V}]`);
    c.set(file.readF32(`unembed.${p}.bias`), q * V);
    if (delta) {
      const dt = file.get(`unembed.${p}.delta`);
      if (dt.shape.length !== 2 || dt.shape[0] !== V || dt.shape[1] !== d) throw new InputError(`${file.path}: unembed.${p}.delta is [${dt.shape}], expected [${V}, ${d}]`);
      delta.set(file.readF32(`unembed.${p}.delta`), q * V * d);
    }
  });
  return { mode, V, positions, c, delta };
}
