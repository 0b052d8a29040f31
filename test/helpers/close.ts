// Per-tensor tolerances: every element must satisfy |got − ref| ≤ atol + rtol·|ref|.
// LENSGPU_REPORT_ERRORS=1 prints each comparison's maximum absolute and relative error.
import * as assert from 'uvu/assert';

export interface Tolerance {
  /** One absolute tolerance, or one per element. */
  atol: number | ArrayLike<number>;
  rtol: number;
}

export function expectClose(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): void {
  assert.is(got.length, ref.length, `${what}: length`);
  let worst = -Infinity;
  let worstAt = -1;
  let maxAbs = 0;
  let maxRel = 0;
  const atolOf = typeof tol.atol === 'number' ? () => tol.atol as number : (i: number) => (tol.atol as ArrayLike<number>)[i]!;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const err = Math.abs(got[i]! - r);
    const allowed = atolOf(i) + tol.rtol * Math.abs(r);
    if (!(err <= allowed)) {
      // NaN fails too
      const excess = Number.isNaN(err) ? Infinity : err - allowed;
      if (excess > worst) [worst, worstAt] = [excess, i];
    }
    if (err > maxAbs) maxAbs = err;
    if (r !== 0 && err / Math.abs(r) > maxRel) maxRel = err / Math.abs(r);
  }
  if (process.env.LENSGPU_REPORT_ERRORS) {
    console.log(`    ${what.padEnd(44)} max |err| ${maxAbs.toExponential(2)}  max rel ${maxRel.toExponential(2)}  (n=${ref.length})`);
  }
  if (worstAt >= 0) {
    assert.unreachable(
      `${what}: element ${worstAt} is ${got[worstAt]}, expected ${ref[worstAt]} ` +
        `(atol ${atolOf(worstAt)}, rtol ${tol.rtol}; max |err| ${maxAbs.toExponential(3)})`,
    );
  }
}

/** Values of `flat` at `indices`. */
export function gather(flat: ArrayLike<number>, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = flat[indices[i]!]!;
  return out;
}
