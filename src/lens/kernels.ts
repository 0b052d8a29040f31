// The kernel each op family of a lens runs: its candidates on this device, the built-in choice
// per kind of device (`--tune off`), and the choices a run records and a resumed run reuses.
// The tuner (tuner.ts) times the candidates; this file only says what they are.
import type { ForwardVariant, BackwardVariant } from '../ops/translator.ts';
import type { RmsNormVariant } from '../ops/rmsnorm.ts';
import type { TopKVariant } from '../ops/topk.ts';
import { REGISTER_TILES, type UnembedVariant } from '../ops/unembed.ts';
import { InputError } from '../shared/errors.ts';

/** One kernel per op family with more than one. */
export interface KernelChoices {
  unembed: UnembedVariant;
  translatorForward: ForwardVariant;
  translatorBackward: BackwardVariant;
  rmsnorm: RmsNormVariant;
  topk: TopKVariant;
}

export type Family = keyof KernelChoices;
export const FAMILIES: Family[] = ['unembed', 'translatorForward', 'translatorBackward', 'rmsnorm', 'topk'];

/** What of a device its candidates depend on. */
export interface KernelDevice {
  hasSubgroups: boolean;
  /** A CPU driver (lavapipe, SwiftShader, WARP): every lane's load a scalar load. */
  cpu: boolean;
}

/** Each family's candidates valid on `device`, subgroup ones only where it has subgroups. */
export function candidatesOf(device: KernelDevice): { [F in Family]: KernelChoices[F][] } {
  const sg = device.hasSubgroups;
  return {
    unembed: [...(sg ? ['subgroup' as const] : []), 'tiled', ...REGISTER_TILES],
    translatorForward: sg ? ['subgroup', 'auto', 'gemv', 'tiled'] : ['auto', 'gemv', 'tiled'],
    translatorBackward: sg ? ['subgroup', 'tiled'] : ['tiled'],
    rmsnorm: sg ? ['subgroup', 'workgroup'] : ['workgroup'],
    topk: sg ? ['subgroup', 'workgroup'] : ['workgroup'],
  };
}

/**
 * The choices without tuning. A CPU driver runs the subgroup kernels (one subgroup a
 * workgroup, operands handed between lanes: the fastest measured on lavapipe); a GPU runs
 * workgroups of 256 invocations (coalesced, several subgroups a workgroup) for the GEMMs, the
 * unembedding in 4 × 4 register blocks, and a row a subgroup for the row reductions where it
 * has subgroups.
 */
export function builtInChoices(device: KernelDevice): KernelChoices {
  const sg = device.hasSubgroups;
  if (device.cpu && sg) return { unembed: 'subgroup', translatorForward: 'subgroup', translatorBackward: 'subgroup', rmsnorm: 'subgroup', topk: 'subgroup' };
  return { unembed: 'register-32x128', translatorForward: 'auto', translatorBackward: 'tiled', rmsnorm: sg ? 'subgroup' : 'workgroup', topk: sg ? 'subgroup' : 'workgroup' };
}

/** `value` as choices valid on `device` (a run's record, a cache entry); `what` names its source in the error. */
export function checkedChoices(value: unknown, device: KernelDevice, what: string): KernelChoices {
  const all = candidatesOf(device);
  const v = value as Partial<Record<Family, string>> | null;
  for (const f of FAMILIES) {
    if (!v || !(all[f] as string[]).includes(v[f] as string)) {
      throw new InputError(`${what}: kernel ${f} ${JSON.stringify(v?.[f])} is not one this device runs (${all[f].join(', ')})`);
    }
  }
  return { ...(v as KernelChoices) };
}

/** The choices in one line: `unembed tiled, translatorForward auto, …`. */
export function describeChoices(c: KernelChoices): string {
  return FAMILIES.map((f) => `${f} ${c[f]}`).join(', ');
}
