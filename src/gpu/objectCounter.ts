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
}

/** Counts from now until stop() (which also restores the device's own methods); `labels` of the buffers made. */
export function countObjects(gpu: Gpu): { counts: ObjectCounts; labels: string[]; stop(): void } {
  const labels: string[] = [];
  const counts: ObjectCounts = { buffers: 0, bindGroups: 0, writeBuffers: 0, copies: 0, dispatches: 0, live: 0 };
  type Methods = Record<string, (...a: unknown[]) => unknown>;
  const device = gpu.device as unknown as Methods;
  const queue = gpu.device.queue as unknown as Methods;
  const saved = { createBuffer: device.createBuffer!, createBindGroup: device.createBindGroup!, createCommandEncoder: device.createCommandEncoder!, writeBuffer: queue.writeBuffer! };
  const wrap = (o: object, name: string, count: () => void) => {
    const f = (o as Methods)[name]!;
    (o as Methods)[name] = (...a: unknown[]) => (count(), f.apply(o, a));
  };
  device.createBuffer = (...a) => {
    counts.buffers++;
    counts.live++;
    labels.push(String((a[0] as GPUBufferDescriptor).label ?? ''));
    const buffer = saved.createBuffer.apply(gpu.device, a) as GPUBuffer;
    const destroy = buffer.destroy.bind(buffer);
    let destroyed = false;
    buffer.destroy = () => {
      if (!destroyed) counts.live--;
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
    stop: () => {
      Object.assign(device, { createBuffer: saved.createBuffer, createBindGroup: saved.createBindGroup, createCommandEncoder: saved.createCommandEncoder });
      queue.writeBuffer = saved.writeBuffer;
    },
  };
}
