// Bound kernel calls run outside a lens's step, for the kernel tests: step tables of their
// own, sealed at once, flushed before the pass is submitted, freed after it.
import type { Gpu } from '../../src/gpu/device.ts';
import { StepTables, type Bound } from '../../src/gpu/stepTables.ts';
import { run } from './gpu.ts';

/** A batch of `rows` slots in one group, for the ops that read only its row count. */
export function rowsBatch(rows: number): { rows: Uint32Array; ranges: { group: number; first: number; count: number }[] } {
  return { rows: Uint32Array.from({ length: rows }, (_, i) => i), ranges: [{ group: 0, first: 0, count: rows }] };
}

/**
 * Binds kernel calls into step tables of their own (`bind` returns what the pass encodes),
 * runs them in one compute pass, submits and waits, then frees the tables.
 */
export async function runBound(gpu: Gpu, what: string, bind: (tables: StepTables) => (pass: GPUComputePassEncoder) => void): Promise<void> {
  const tables = new StepTables(gpu, `${what} tables`);
  try {
    const encode = bind(tables);
    tables.seal();
    await run(gpu, what, (pass) => {
      encode(pass);
      tables.flush();
    });
  } finally {
    tables.destroy();
  }
}

/** One bound call run once with `input` (runBound for a single call). */
export function runOne<In>(gpu: Gpu, what: string, bind: (tables: StepTables) => Bound<In>, input: In): Promise<void> {
  return runBound(gpu, what, (t) => {
    const call = bind(t);
    return (pass) => call.encode(pass, input);
  });
}
