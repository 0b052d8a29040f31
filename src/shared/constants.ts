// What several layers share (data, ops, train, cli, bench), in a module that imports nothing:
// reading a data set must not load Dawn's native addon through an ops/ import.

/** The most targets a row may carry (the cross-entropy kernel keeps them in workgroup memory). */
export const MAX_TARGETS = 64;

/** How the unembedding U is kept on the GPU: f32, or f16 packed two per u32. */
export type HeadDtype = 'f32' | 'f16';
/** The 16-bit float types a data set's hidden states may keep (2 bytes a value, on the host and the GPU). */
export type HalfDtype = 'bf16' | 'f16';

/** How the kernels are chosen: the tuning cache's, else tuned (auto); tuned again (fresh); the built-in ones (off). */
export type TuneMode = 'auto' | 'fresh' | 'off';
export const TUNE_MODES: TuneMode[] = ['auto', 'fresh', 'off'];

/** Where a run keeps its data sets: on the GPU, in host memory (each step writes its batch's rows), or on the GPU when the plan fits with them there (auto). */
export type DataPlace = 'auto' | 'gpu' | 'host';
export const DATA_PLACES: DataPlace[] = ['auto', 'gpu', 'host'];

/** A position-specific unembedding: c_p a position (`bias`), or ΔU_p and c_p (`full`). */
export type PositionUnembedMode = 'bias' | 'full';

/** Bytes for people: 1.5 KiB, 54.7 MiB, 3.37 GiB. */
export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
