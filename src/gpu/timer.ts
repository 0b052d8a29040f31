// Kernel timing for the bench: GPU timestamp queries around compute passes where the device
// has them, else wall clock around onSubmittedWorkDone (which includes submit overhead).
import type { Gpu } from './device.ts';

export class PassTimer {
  readonly kind: 'timestamp' | 'wall';
  private querySet: GPUQuerySet | undefined;
  private resolveBuf: GPUBuffer | undefined;
  private readBuf: GPUBuffer | undefined;

  constructor(private gpu: Gpu) {
    this.kind = gpu.hasTimestamps ? 'timestamp' : 'wall';
    if (this.kind === 'timestamp') {
      this.querySet = gpu.device.createQuerySet({ label: 'pass timer', type: 'timestamp', count: 2 });
      this.resolveBuf = gpu.device.createBuffer({
        label: 'pass timer resolve',
        size: 16,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      this.readBuf = gpu.device.createBuffer({
        label: 'pass timer read',
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    }
  }

  /** Runs `encode` in one compute pass and returns the GPU time of that pass in seconds. */
  async time(label: string, encode: (pass: GPUComputePassEncoder) => void): Promise<number> {
    const enc = this.gpu.device.createCommandEncoder({ label });
    const desc: GPUComputePassDescriptor = { label };
    if (this.querySet) {
      desc.timestampWrites = { querySet: this.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
    }
    const pass = enc.beginComputePass(desc);
    encode(pass);
    pass.end();
    if (this.querySet) {
      enc.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf!, 0);
      enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16);
    }
    const t0 = performance.now();
    await this.gpu.submitAndWait(label, [enc.finish()]);
    const wall = (performance.now() - t0) / 1e3;
    if (!this.readBuf) return wall;
    await this.readBuf.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuf.getMappedRange().slice(0));
    this.readBuf.unmap();
    return Number(t[1]! - t[0]!) / 1e9;
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
  }
}
