// A batch's rows of a data set gathered into slot order on the GPU (kernels/gather.wgsl): one
// kernel instead of a buffer copy per run of consecutive rows. A source larger than one
// storage binding (a data set's hidden states) is bound in windows of rows, one dispatch each;
// the bindings are made once per (source, destination) and a step only writes its row ids.
import { bindingWindows } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, paramsBuffer, pipeline } from '../gpu/pipelines.ts';
import { once, type Slot, type StepTables } from '../gpu/stepTables.ts';

export class Gather {
  private constructor(
    private gpu: Gpu,
    private pipe: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu): Promise<Gather> {
    return new Gather(gpu, await pipeline(gpu, 'gather', 'main'));
  }

  /**
   * Rows of `src` ([rows, width] 32-bit words) into `dst` ([slots, width]) by the row ids in
   * `rowIds` (a step-tables slot the caller fills): bound once, window by window. A call
   * dispatches `slots` workgroups per window.
   */
  bind(tables: StepTables, rowIds: Slot, src: GPUBuffer, dst: GPUBuffer, rows: number, width: number, maxBinding = this.gpu.maxBinding): (pass: GPUComputePassEncoder, slots: number) => void {
    const windows = bindingWindows(rows, width * 4, maxBinding, this.gpu.limits.minStorageBufferOffsetAlignment);
    const groups: GPUBindGroup[] = [];
    tables.whenSealed(() =>
      windows.forEach((w, i) => {
        const params = paramsBuffer(this.gpu, this.pipe, { width, rowBase: w.first, rowCount: w.count });
        groups[i] = bindGroup(this.gpu, this.pipe, [params, tables.binding(rowIds), { buffer: src, offset: w.byteOffset, size: w.byteLength }, dst]);
      }),
    );
    return (pass, slots) => {
      for (const g of groups) dispatch(this.gpu, pass, this.pipe, g, slots);
    };
  }

  /** dst[s] = src[rowIds[s]] for every slot, as a one-off call (tests, the bench). */
  encode(pass: GPUComputePassEncoder, buf: { src: GPUBuffer; dst: GPUBuffer }, rowIds: Uint32Array, rows: number, width: number, maxBinding?: number): void {
    once(this.gpu, 'gather tables', (t) => {
      const slot = t.reserve(rowIds.byteLength);
      const run = this.bind(t, slot, buf.src, buf.dst, rows, width, maxBinding);
      return (p: GPUComputePassEncoder) => {
        t.write(slot, rowIds);
        run(p, rowIds.length);
      };
    })(pass);
  }
}

// ---- Plain TypeScript reference ----

export function gatherRef(src: Uint32Array | Float32Array | Int32Array, rowIds: Uint32Array, width: number): Uint32Array {
  const words = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint32Array(rowIds.length * width);
  rowIds.forEach((row, s) => out.set(words.subarray(row * width, (row + 1) * width), s * width));
  return out;
}
