// A batch's rows of a data set gathered into slot order on the GPU (kernels/gather.wgsl): one
// kernel instead of a buffer copy per run of consecutive rows. A source larger than one
// storage binding (a data set's hidden states) is bound in windows of rows, one dispatch each;
// the bindings are made once per data set and a step only writes its row ids.
import { bindingWindows } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
import { invariant } from '../shared/errors.ts';
import type { Batch } from './groups.ts';

/** One gathered array: `src` [rows, width] 32-bit words into `dst` [slots, width]. */
export interface GatherSource {
  src: GPUBuffer;
  dst: GPUBuffer;
  width: number;
}

/** A data set's arrays gathered together by one row-id list; `rows` is the data set's length. */
export interface GatherBuffers {
  rows: number;
  sources: GatherSource[];
}

export class Gather {
  private constructor(
    private gpu: Gpu,
    private pipe: GPUComputePipeline,
    private maxBinding: number,
  ) {}

  /** `maxBinding` overrides the device's binding limit (tests use it to force windows). */
  static async create(gpu: Gpu, maxBinding = gpu.maxBinding): Promise<Gather> {
    return new Gather(gpu, await pipeline(gpu, 'gather', 'main'), maxBinding);
  }

  /**
   * dst[s] = src[batch.rows[s]] for every source and slot, bound once, window by window: each
   * window's params written once into its slot; a call writes the batch's row ids (one list
   * for every source) and dispatches one workgroup a slot per window.
   */
  bind(tables: StepTables, buf: GatherBuffers, maxRows: number): Bound<Batch> {
    const rowIds = tables.reserve(maxRows * 4);
    const align = this.gpu.limits.minStorageBufferOffsetAlignment;
    const windows = buf.sources.map((s) => bindingWindows(buf.rows, s.width * 4, this.maxBinding, align));
    const params = windows.map((ws) => ws.map(() => tables.reserve(16)));
    const bindGroups: GPUBindGroup[] = [];
    tables.whenSealed(() =>
      buf.sources.forEach(({ src, dst, width }, k) =>
        windows[k]!.forEach((w, i) => {
          tables.writeParams(params[k]![i]!, this.pipe, { width, rowBase: w.first, rowCount: w.count });
          bindGroups.push(bindGroup(this.gpu, this.pipe, [tables.binding(params[k]![i]!), tables.binding(rowIds), { buffer: src, offset: w.byteOffset, size: w.byteLength }, dst]));
        }),
      ),
    );
    return {
      encode: (pass, { rows }) => {
        invariant(rows.length <= maxRows, `gather: ${rows.length} slots, bound for ${maxRows}`);
        const outside = rows.find((row) => row >= buf.rows);
        invariant(outside === undefined, `gather: row ${outside} is outside the data set (${buf.rows} rows)`);
        tables.write(rowIds, rows);
        for (const bg of bindGroups) dispatch(this.gpu, pass, this.pipe, bg, rows.length);
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
