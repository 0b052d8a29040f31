// Presets: which (layer, position) pairs share a translator. A group is one translator; groups
// are numbered in layer order, and within a position-specific layer in position order, so the
// numbering (and the parameter file) does not depend on the order of the data.

export type PresetName = 'baseline' | 'lite' | 'full';
export const PRESETS: readonly PresetName[] = ['baseline', 'lite', 'full'];
export const DEFAULT_CRITICAL_LAYERS = [6, 9, 14, 15];

/** One translator: shared by every position of `layer` (position null) or specific to one. */
export interface GroupInfo {
  layer: number;
  position: number | null;
}

export interface GroupTable {
  preset: PresetName;
  /** The layer ids and position ids the lens covers, ascending. */
  layers: number[];
  positions: number[];
  groups: GroupInfo[];
  /** The group of (layer, position), or −1 when the lens does not cover it. */
  groupOf(layer: number, position: number): number;
}

/**
 * The groups of `preset` over the given layers and positions. `critical` names the layers
 * that get position-specific translators under `lite` (ids absent from `layers` are ignored).
 */
export function groupTable(
  preset: PresetName,
  layers: readonly number[],
  positions: readonly number[],
  critical: readonly number[] = DEFAULT_CRITICAL_LAYERS,
): GroupTable {
  const ls = [...new Set(layers)].sort((a, b) => a - b);
  const ps = [...new Set(positions)].sort((a, b) => a - b);
  const specific = (l: number) => preset === 'full' || (preset === 'lite' && critical.includes(l));
  const groups: GroupInfo[] = [];
  const index = new Map<string, number>();
  for (const l of ls) {
    if (specific(l)) {
      for (const p of ps) {
        index.set(`${l},${p}`, groups.length);
        groups.push({ layer: l, position: p });
      }
    } else {
      for (const p of ps) index.set(`${l},${p}`, groups.length);
      groups.push({ layer: l, position: null });
    }
  }
  return {
    preset,
    layers: ls,
    positions: ps,
    groups,
    groupOf: (l, p) => index.get(`${l},${p}`) ?? -1,
  };
}

/**
 * The table of an existing list of groups (as a lens file names them, sorted by layer, then
 * position with a layer's shared group first). A position-specific group serves its
 * (layer, position); a layer's shared group serves its other positions, whichever they are.
 */
export function tableOfGroups(groups: GroupInfo[]): GroupTable {
  const specific = new Map<string, number>();
  const shared = new Map<number, number>();
  groups.forEach((g, i) => (g.position === null ? shared.set(g.layer, i) : specific.set(`${g.layer},${g.position}`, i)));
  const kinds = new Set(groups.map((g) => g.position === null));
  const preset: PresetName = kinds.size === 2 ? 'lite' : kinds.has(true) ? 'baseline' : 'full';
  return {
    preset,
    layers: [...new Set(groups.map((g) => g.layer))],
    positions: [...new Set(groups.filter((g) => g.position !== null).map((g) => g.position!))].sort((a, b) => a - b),
    groups,
    groupOf: (l, p) => specific.get(`${l},${p}`) ?? shared.get(l) ?? -1,
  };
}

/** Trainable parameters of a lens with `numGroups` translators of width d (W and b). */
export function parameterCount(numGroups: number, d: number): number {
  return numGroups * (d * d + d);
}

/** The tensor name prefix of a group in lens.safetensors (nn.Linear layout under it). */
export function groupName(g: GroupInfo): string {
  return g.position === null ? `translators.${g.layer}` : `translators.${g.layer}.${g.position}`;
}
