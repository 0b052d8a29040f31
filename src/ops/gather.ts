// A batch's rows of a data set gathered into slot order on the GPU (kernels/gather.wgsl): one
// kernel instead of a buffer copy per run of consecutive rows. A source may lie over several
// buffers (whole rows in each, as bufferParts cuts it); one larger than a storage binding (a
// data set's hidden states) is bound in windows of rows, one dispatch each. The bindings are
// made once per data set and a step only writes its row ids.
import { bindingWindows, windowBinding, type BufferLimits, type Split } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
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

  /**
   * dst[s] = src[batch.rows[s]] for every source and slot, bound once, window by window: each
   * window's params written once into its slot; a call writes the batch's row ids (one list
   * for every source) and dispatches one workgroup a slot per window.
   */
  bind(tables: StepTables, buf: GatherBuffers, maxRows: number): Bound<Batch> {
    const rowIds = tables.reserve(maxRows * 4);
    const align = this.gpu.limits.minStorageBufferOffsetAlignment;
    const { maxBinding, maxBuffer } = this.limits;
    const windows = buf.sources.map((s) => bindingWindows(buf.rows, sourceRowBytes(s.width, s.half), maxBinding, align, maxBuffer));
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
        invariant(rows.length <= maxRows, `gather: ${rows.length} slots, bound for ${maxRows}`);
        const outside = rows.find((row) => row >= buf.rows);
        invariant(outside === undefined, `gather: row ${outside} is outside the data set (${buf.rows} rows)`);
        tables.write(rowIds, rows);
        for (const c of calls) dispatch(this.gpu, pass, c.pipe, c.bindGroup, rows.length);
      },
    };
  }
}

// ---- Plain TypeScript reference ----

export function gatherRef(src: Uint32Array | Float32Array | Int32Array, rowIds: Uint32Array, width: number): Uint32Array {
  const words = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint32Array(rowIds.length * width);
  rowIds.forEach((row, s) => out.set(words.subarray(row * width, (row + 1) * width), s * width));
  return out;
}
