// The one shape of a lens, decided once from the device, the head and the run's options: every
// size and choice the lens, its buffer table, the memory plan and the bench read. A decision
// (the fused translator update, the binding windows of the position unembedding, the batch that
// fits one binding, the parameter count) is made here and nowhere else.
import type { Gpu } from '../gpu/device.ts';
import type { AdamWConfig } from '../ops/adamw.ts';
import { blockStride } from '../ops/groups.ts';
import { positionLayout, type PositionLayout, type PositionUnembedMode } from '../ops/positionUnembed.ts';
import { fmtBytes, type HeadDtype } from '../shared/constants.ts';
import { InputError } from '../shared/errors.ts';
import { builtInChoices, type KernelChoices } from './kernels.ts';
import { parameterCount } from './preset.ts';

/** What a lens is asked to be. */
export interface LensOptions {
  numGroups: number;
  /** Rows of the largest batch (training or evaluation). */
  maxBatch: number;
  /** Rows of the largest training batch (default maxBatch): the backward's split-K partial sums are sized for it. */
  trainBatch?: number;
  /** Targets a row (default 1: one-hot cross-entropy). */
  targetsPerRow?: number;
  /** The loss reads only each row's first target (`--targets first`); the others serve the any-k metrics. */
  firstTarget?: boolean;
  /**
   * Train against the model's own prediction (KL): the teacher is softmax(U · norm(final
   * hidden)), or softmax(U · final hidden) when `normed` (already through the final norm).
   */
  teacher?: { normed: boolean };
  /** A vocabulary bias c_p per position (`bias`), and ΔU_p too (`full`), over `positions`. */
  positionUnembed?: { mode: PositionUnembedMode; positions: number };
  /** AdamW's settings for a training lens; without them, a lens for inference (forward only). */
  adamw?: AdamWConfig;
  /**
   * `fused` (the default where the adapter has subgroups): the translators' clip norm is the
   * ghost norm and AdamW rebuilds their gradient from dy and x (no gradient buffer), and so
   * for the full position unembedding from dlogits and z; `unfused`: the gradients are stored
   * (the backward), then summed and applied.
   */
  update?: 'fused' | 'unfused';
  /** Overrides the device's binding limit (tests use it to force binding windows). */
  maxBinding?: number;
  /** The kernel of each op family (tuned, or a run's record); default: the device's built-in ones. */
  kernels?: KernelChoices;
}

/** What of a device a lens's shape depends on. */
export interface DeviceTraits {
  /** Largest byte range of one storage binding, and the alignment of a binding's offset. */
  maxBinding: number;
  align: number;
  /** Largest buffer: arrays larger than it lie over several (bufferParts). */
  maxBuffer: number;
  hasSubgroups: boolean;
  /** A CPU driver (the built-in kernel choices differ). */
  cpu: boolean;
}

/** WebGPU's guaranteed limits, for plans made without a device. */
export const WEBGPU_DEFAULTS: DeviceTraits = { maxBinding: 128 * 2 ** 20, align: 256, maxBuffer: 256 * 2 ** 20, hasSubgroups: false, cpu: false };

export function deviceTraits(gpu: Gpu): DeviceTraits {
  return { maxBinding: gpu.maxBinding, align: gpu.limits.minStorageBufferOffsetAlignment, maxBuffer: gpu.maxBuffer, hasSubgroups: gpu.hasSubgroups, cpu: gpu.isCpuDriver };
}

export interface LensShape {
  d: number;
  V: number;
  headDtype: HeadDtype;
  numGroups: number;
  /** f32 of one translator block (W, b, padding): blockStride(d). */
  stride: number;
  maxBatch: number;
  /** Rows of the largest training batch (≤ maxBatch, which may be the evaluation's). */
  trainBatch: number;
  targetsPerRow: number;
  firstTarget: boolean;
  teacher: { normed: boolean } | undefined;
  /**
   * The position unembedding and its block layout on this device; `fusedUpdate`: the full mode
   * trained with the fused update, its gradient rebuilt from dlogits and z (never stored).
   */
  position: { mode: PositionUnembedMode; positions: number; layout: PositionLayout; fusedUpdate: boolean } | undefined;
  /** A training lens's AdamW settings (gradients, moments, backward activations); none for inference. */
  adamw: AdamWConfig | undefined;
  /** The translators' update fused with their gradient: dW is never stored. */
  fusedUpdate: boolean;
  maxBinding: number;
  align: number;
  /** Largest buffer: parameters, moments, the head and data sets larger than it lie over several. */
  maxBuffer: number;
  /** Trainable parameters: translators' W and b, and the position unembedding's c_p (and ΔU_p). */
  parameters: number;
  /** The kernel each op family runs. */
  kernels: KernelChoices;
}

/** The shape of a lens over a head of width d and vocabulary V on `device`; a batch too large for one binding is refused. */
export function lensShape(device: DeviceTraits, head: { d: number; V: number; dtype: HeadDtype }, o: LensOptions): LensShape {
  const { d, V } = head;
  const maxBinding = o.maxBinding ?? device.maxBinding;
  if (o.maxBatch * V * 4 > maxBinding) {
    throw new InputError(
      `a batch of ${o.maxBatch} rows × ${V} logits (${fmtBytes(o.maxBatch * V * 4)}) exceeds this device's binding limit of ` +
        `${fmtBytes(maxBinding)}: use a smaller --batch-size (at most ${Math.floor(maxBinding / (V * 4))})`,
    );
  }
  const pu = o.positionUnembed;
  const fusedUpdate = Boolean(o.adamw) && (o.update ?? (device.hasSubgroups ? 'fused' : 'unfused')) === 'fused';
  const position = pu && { ...pu, layout: positionLayout(pu.mode, V, d, maxBinding), fusedUpdate: fusedUpdate && pu.mode === 'full' };
  const positionParameters = pu ? pu.positions * V * (pu.mode === 'full' ? d + 1 : 1) : 0;
  return {
    d,
    V,
    headDtype: head.dtype,
    numGroups: o.numGroups,
    stride: blockStride(d),
    maxBatch: o.maxBatch,
    trainBatch: Math.min(o.trainBatch ?? o.maxBatch, o.maxBatch),
    targetsPerRow: o.targetsPerRow ?? 1,
    firstTarget: Boolean(o.firstTarget),
    teacher: o.teacher,
    position,
    adamw: o.adamw,
    fusedUpdate,
    maxBinding,
    align: device.align,
    maxBuffer: device.maxBuffer,
    parameters: parameterCount(o.numGroups, d) + positionParameters,
    kernels: o.kernels ?? builtInChoices(device),
  };
}
