// Counts what a stretch of host code makes and records on a device: buffers and bind groups
// created, writeBuffer calls, buffer-to-buffer copies and dispatches, and the buffers it made
// that are still alive (created minus destroyed). The bench reports them per step; tests
// require zero objects per step after the first, and no live buffer once their owners are gone.
import type { Gpu } from './device.ts';

export interface ObjectCounts {
  buffers: number;
  bindGroups: number;
  writeBuffers: number;
  copies: number;
  dispatches: number;
  /** Buffers created since counting began and not destroyed yet. */
  live: number;
  /** Bytes of the live buffers made for the GPU's own use (not those the host maps to read or write), and their most at once. */
  liveBytes: number;
  peakBytes: number;
}

/** Counts from now until stop() (which also restores the device's own methods); `labels` of the buffers made, and the bytes made under each label. */
export function countObjects(gpu: Gpu): { counts: ObjectCounts; labels: string[]; bytesByLabel: Map<string, number>; stop(): void } {
  const labels: string[] = [];
  const bytesByLabel = new Map<string, number>();
  const counts: ObjectCounts = { buffers: 0, bindGroups: 0, writeBuffers: 0, copies: 0, dispatches: 0, live: 0, liveBytes: 0, peakBytes: 0 };
  type Methods = Record<string, (...a: unknown[]) => unknown>;
  const device = gpu.device as unknown as Methods;
  const queue = gpu.device.queue as unknown as Methods;
  const saved = { createBuffer: device.createBuffer!, createBindGroup: device.createBindGroup!, createCommandEncoder: device.createCommandEncoder!, writeBuffer: queue.writeBuffer! };
  const wrap = (o: object, name: string, count: () => void) => {
    const f = (o as Methods)[name]!;
    (o as Methods)[name] = (...a: unknown[]) => (count(), f.apply(o, a));
  };
  device.createBuffer = (...a) => {
    const descriptor = a[0] as GPUBufferDescriptor;
    counts.buffers++;
    counts.live++;
    labels.push(String(descriptor.label ?? ''));
    // Mappable buffers (readback and upload staging) live in host-visible memory.
    const bytes = descriptor.usage & (GPUBufferUsage.MAP_READ | GPUBufferUsage.MAP_WRITE) ? 0 : descriptor.size;
    counts.liveBytes += bytes;
    bytesByLabel.set(labels.at(-1)!, (bytesByLabel.get(labels.at(-1)!) ?? 0) + bytes);
    counts.peakBytes = Math.max(counts.peakBytes, counts.liveBytes);
    const buffer = saved.createBuffer.apply(gpu.device, a) as GPUBuffer;
    const destroy = buffer.destroy.bind(buffer);
    let destroyed = false;
    buffer.destroy = () => {
      if (!destroyed) [counts.live, counts.liveBytes] = [counts.live - 1, counts.liveBytes - bytes];
      destroyed = true;
      destroy();
    };
    return buffer;
  };
  device.createBindGroup = (...a) => (counts.bindGroups++, saved.createBindGroup.apply(gpu.device, a));
  queue.writeBuffer = (...a) => (counts.writeBuffers++, saved.writeBuffer.apply(gpu.device.queue, a));
  device.createCommandEncoder = (...a) => {
    const enc = saved.createCommandEncoder.apply(gpu.device, a) as GPUCommandEncoder;
    wrap(enc, 'copyBufferToBuffer', () => counts.copies++);
    const begin = enc.beginComputePass.bind(enc);
    enc.beginComputePass = (d?: GPUComputePassDescriptor) => {
      const pass = begin(d);
      wrap(pass, 'dispatchWorkgroups', () => counts.dispatches++);
      wrap(pass, 'dispatchWorkgroupsIndirect', () => counts.dispatches++);
      return pass;
    };
    return enc;
  };
  return {
    counts,
    labels,
    bytesByLabel,
    stop: () => {
      Object.assign(device, { createBuffer: saved.createBuffer, createBindGroup: saved.createBindGroup, createCommandEncoder: saved.createCommandEncoder });
      queue.writeBuffer = saved.writeBuffer;
    },
  };
}
