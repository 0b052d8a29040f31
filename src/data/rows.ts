// A data set's hidden states in host memory: a row-major [count, width] array held in chunks
// of whole rows, each at most HOST_CHUNK_BYTES, so that a set larger than one typed array may
// be (Node 20: 4 GiB; 384,000 rows of d 8,192 as bf16 are 6 GiB) still loads, and a row never
// straddles two chunks. f32 values, or bf16 / f16 values kept as their bits (2 bytes each).
import { InputError } from '../shared/errors.ts';

export type RowValues = Float32Array | Uint16Array;

/** The most bytes one chunk holds (1 GiB: a quarter of Node's largest typed array). */
export const HOST_CHUNK_BYTES = 2 ** 30;

export class Rows {
  private constructor(
    readonly count: number,
    readonly width: number,
    /** The chunks, `rowsPerChunk` rows each (the last may hold fewer). */
    readonly chunks: readonly RowValues[],
    readonly rowsPerChunk: number,
  ) {}

  /** `values` [count, width] as one chunk. */
  static of(values: RowValues, width: number): Rows {
    return new Rows(values.length / width, width, [values], Math.max(1, values.length / width));
  }

  /**
   * `count` rows in chunks of at most `chunkBytes`, each chunk made by `fill(first, rows)`
   * (which returns that many rows' values).
   */
  static build(count: number, width: number, bytesPerValue: number, fill: (first: number, rows: number) => RowValues, chunkBytes = HOST_CHUNK_BYTES): Rows {
    const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / (width * bytesPerValue)));
    const chunks: RowValues[] = [];
    for (let first = 0; first < count; first += rowsPerChunk) chunks.push(fill(first, Math.min(rowsPerChunk, count - first)));
    if (!chunks.length) chunks.push(fill(0, 0));
    return new Rows(count, width, chunks, rowsPerChunk);
  }

  get bytesPerValue(): number {
    return this.chunks[0]!.BYTES_PER_ELEMENT;
  }

  /** Row r's values (a view). */
  row(r: number): RowValues {
    const at = (r % this.rowsPerChunk) * this.width;
    return this.chunks[Math.floor(r / this.rowsPerChunk)]!.subarray(at, at + this.width);
  }

  /** Row r's bytes (a view). */
  bytes(r: number): Uint8Array {
    const v = this.row(r);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  /** The bytes of rows [first, first + count), as one view a chunk they lie in, in order. */
  runs(first: number, count: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let r = first; r < first + count; ) {
      const chunk = Math.floor(r / this.rowsPerChunk);
      const end = Math.min(first + count, (chunk + 1) * this.rowsPerChunk);
      const c = this.chunks[chunk]!;
      const rowBytes = this.width * c.BYTES_PER_ELEMENT;
      out.push(new Uint8Array(c.buffer, c.byteOffset + (r - chunk * this.rowsPerChunk) * rowBytes, (end - r) * rowBytes));
      r = end;
    }
    return out;
  }

  /** The rows `keep`, in that order, chunked as these are. */
  pick(keep: readonly number[]): Rows {
    const make = this.chunks[0]!.constructor as new (n: number) => RowValues;
    return Rows.build(keep.length, this.width, this.bytesPerValue, (first, rows) => {
      const out = new make(rows * this.width);
      for (let i = 0; i < rows; i++) out.set(this.row(keep[first + i]!), i * this.width);
      return out;
    }, this.rowsPerChunk * this.width * this.bytesPerValue);
  }

  /** Every value in one typed array (for sets that fit one: writing a file, tests); `what` names it in the error. */
  flat(what = 'the hidden states'): RowValues {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const make = this.chunks[0]!.constructor as new (n: number) => RowValues;
    let out: RowValues;
    try {
      out = new make(this.count * this.width);
    } catch {
      throw new InputError(`${what}: ${this.count} rows of ${this.width} values do not fit one array in this Node.js`);
    }
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
