// A batch's rows of a data set gathered into slot order on the GPU (kernels/gather.wgsl): one
// kernel instead of a buffer copy per run of consecutive rows. A source may lie over several
// buffers (whole rows in each, as bufferParts cuts it); one larger than a storage binding (a
// data set's hidden states) is bound in windows of rows, one dispatch each. The bindings are
// made once per data set and a step only writes its row ids. A data set kept in host memory
// has its batch's rows written into the step tables (the step's one writeBuffer) and gathered
// from there by the same kernel.
import { bindingWindows, windowBinding, type BufferLimits, type Split } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, Slot, StepTables } from '../gpu/stepTables.ts';
import type { HalfDtype } from '../shared/constants.ts';
import { invariant } from '../shared/errors.ts';
import type { Batch } from './groups.ts';

/**
 * One gathered array: `src` [rows, width] (one buffer, or bufferParts' buffers) into `dst`
 * [slots, width] 32-bit words; `half`: src holds bf16 or f16 values, 2 bytes each, widened to f32.
 */
export interface GatherSource {
  src: Split;
  dst: GPUBuffer;
  width: number;
  half?: HalfDtype;
}

export type { HalfDtype };

/** Bytes of one row of a source. */
export const sourceRowBytes = (width: number, half?: HalfDtype) => width * (half ? 2 : 4);

/** A data set's arrays gathered together by one row-id list; `rows` is the data set's length. */
export interface GatherBuffers {
  rows: number;
  sources: GatherSource[];
}

/** One array of a data set kept in host memory: each row's bytes (f32 / i32 words, or 16-bit values where `half`). */
export interface HostSource {
  src: (row: number) => Uint8Array;
  dst: GPUBuffer;
  width: number;
  half?: HalfDtype;
}

export interface HostBuffers {
  rows: number;
  sources: HostSource[];
}

/**
 * Where a batch's rows of host-resident data go: step-tables slots of `maxRows` rows for each
 * source (f32-wide, so data of any dtype fits), shared by every host data set of a lens, and
 * the row ids 0, 1, … written once.
 */
export interface HostStaging {
  rowIds: Slot;
  rows: Slot[];
}

export class Gather {
  private constructor(
    private gpu: Gpu,
    private pipes: Record<'words' | HalfDtype, GPUComputePipeline>,
    private limits: BufferLimits,
  ) {}

  /** `limits` override the device's (tests use them to force windows and parts). */
  static async create(gpu: Gpu, limits: Partial<BufferLimits> = {}): Promise<Gather> {
    const [words, bf16, f16] = await Promise.all([
      pipeline(gpu, 'gather', 'main', { HALF: false, BF16: false }),
      pipeline(gpu, 'gather', 'main', { HALF: true, BF16: true }),
      pipeline(gpu, 'gather', 'main', { HALF: true, BF16: false }),
    ]);
    return new Gather(gpu, { words, bf16, f16 }, gpu.bufferLimits(limits));
  }

  /** Reserves the staging of host-resident batches: rows of each width in `widths`. */
  static stage(tables: StepTables, widths: number[], maxRows: number): HostStaging {
    const rowIds = tables.reserve(maxRows * 4);
    tables.whenSealed(() => tables.write(rowIds, Uint32Array.from({ length: maxRows }, (_, i) => i)));
    return { rowIds, rows: widths.map((width) => tables.reserve(maxRows * sourceRowBytes(width))) };
  }

  /**
   * dst[s] = src[batch.rows[s]] for host-resident sources: a call copies each slot's row into
   * the staging (sent with the step's one writeBuffer) and the same kernel moves it into slot
   * order (widening 16-bit values), so the batch is bit for bit the resident gather's.
   */
  bindHost(tables: StepTables, buf: HostBuffers, staging: HostStaging, maxRows: number): Bound<Batch> {
    invariant(staging.rows.length === buf.sources.length, `gather: ${buf.sources.length} host sources, staging for ${staging.rows.length}`);
    const calls: { pipe: GPUComputePipeline; bindGroup: GPUBindGroup }[] = [];
    const params = buf.sources.map(() => tables.reserve(16));
    tables.whenSealed(() =>
      buf.sources.forEach(({ dst, width, half }, k) => {
        const pipe = this.pipes[half ?? 'words'];
        tables.writeParams(params[k]!, pipe, { width, rowBase: 0, rowCount: maxRows });
        calls.push({ pipe, bindGroup: bindGroup(this.gpu, pipe, [tables.binding(params[k]!), tables.binding(staging.rowIds), tables.binding(staging.rows[k]!), dst]) });
      }),
    );
    return {
      encode: (pass, { rows }) => {
        checkRows(rows, maxRows, buf.rows);
        buf.sources.forEach((s, k) => {
          const rowBytes = sourceRowBytes(s.width, s.half);
          const out = tables.region(staging.rows[k]!, rows.length * rowBytes);
          rows.forEach((row, slot) => out.set(s.src(row), slot * rowBytes));
        });
        for (const c of calls) dispatch(this.gpu, pass, c.pipe, c.bindGroup, rows.length);
      },
    };
  }

  /**
   * dst[s] = src[batch.rows[s]] for every source and slot, bound once, window by window: each
   * window's params written once into its slot; a call writes the batch's row ids (one list
   * for every source) and dispatches one workgroup a slot per window.
   */
  bind(tables: StepTables, buf: GatherBuffers, maxRows: number): Bound<Batch> {
    const rowIds = tables.reserve(maxRows * 4);
    const align = this.gpu.limits.minStorageBufferOffsetAlignment;
    const { maxBinding, maxBuffer } = this.limits;
    const windows = buf.sources.map((s) => bindingWindows(buf.rows, sourceRowBytes(s.width, s.half), maxBinding, align, { maxBuffer }));
    const params = windows.map((ws) => ws.map(() => tables.reserve(16)));
    const calls: { pipe: GPUComputePipeline; bindGroup: GPUBindGroup }[] = [];
    tables.whenSealed(() =>
      buf.sources.forEach(({ src, dst, width, half }, k) =>
        windows[k]!.forEach((w, i) => {
          const pipe = this.pipes[half ?? 'words'];
          tables.writeParams(params[k]![i]!, pipe, { width, rowBase: w.first, rowCount: w.count });
          calls.push({ pipe, bindGroup: bindGroup(this.gpu, pipe, [tables.binding(params[k]![i]!), tables.binding(rowIds), windowBinding(src, w), dst]) });
        }),
      ),
    );
    return {
      encode: (pass, { rows }) => {
        checkRows(rows, maxRows, buf.rows);
        tables.write(rowIds, rows);
        for (const c of calls) dispatch(this.gpu, pass, c.pipe, c.bindGroup, rows.length);
      },
    };
  }
}

function checkRows(rows: Uint32Array, maxRows: number, dataRows: number): void {
  invariant(rows.length <= maxRows, `gather: ${rows.length} slots, bound for ${maxRows}`);
  const outside = rows.find((row) => row >= dataRows);
  invariant(outside === undefined, `gather: row ${outside} is outside the data set (${dataRows} rows)`);
}

// ---- Plain TypeScript reference ----

export function gatherRef(src: Uint32Array | Float32Array | Int32Array, rowIds: Uint32Array, width: number): Uint32Array {
  const words = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint32Array(rowIds.length * width);
  rowIds.forEach((row, s) => out.set(words.subarray(row * width, (row + 1) * width), s * width));
  return out;
}
