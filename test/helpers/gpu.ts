// One GPU device shared by every test file; the runner destroys it at the end.
import { Gpu, type GpuOptions } from '../../src/gpu/device.ts';
import { createBuffer, readBuffer, upload, writeParts, type Part } from '../../src/gpu/buffers.ts';

let shared: Promise<Gpu> | undefined;

/** A device of the backend and adapter the tests run on (LENSGPU_BACKEND, LENSGPU_ADAPTER), with `o` (e.g. a small maxBuffer); its caller destroys it. */
export function openTestGpu(o: GpuOptions = {}): Promise<Gpu> {
  return Gpu.open({ backend: process.env.LENSGPU_BACKEND, adapter: process.env.LENSGPU_ADAPTER, ...o });
}

export function testGpu(): Promise<Gpu> {
  shared ??= openTestGpu();
  return shared;
}

export async function closeTestGpu(): Promise<void> {
  if (shared) (await shared).destroy();
}

/** Encodes `encode` in one compute pass, submits it under an error scope and waits. */
export async function run(gpu: Gpu, what: string, encode: (pass: GPUComputePassEncoder) => void): Promise<void> {
  await gpu.checked(what, async () => {
    const enc = gpu.device.createCommandEncoder({ label: what });
    const pass = enc.beginComputePass({ label: what });
    encode(pass);
    pass.end();
    await gpu.submitAndWait(what, [enc.finish()]);
  });
}

export function buf(gpu: Gpu, label: string, data: ArrayBufferView): GPUBuffer {
  return upload(gpu, label, data);
}

/** `data` over one buffer a part (bufferParts' layout). */
export function bufParts(gpu: Gpu, label: string, data: ArrayBufferView, parts: Part[]): GPUBuffer[] {
  const bufs = parts.map((p, i) => createBuffer(gpu, `${label} ${i + 1}/${parts.length}`, p.byteLength));
  writeParts(gpu, bufs, parts, data);
  return bufs;
}

export async function f32(gpu: Gpu, b: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu, b, n * 4));
}

export async function u32(gpu: Gpu, b: GPUBuffer, n: number): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(gpu, b, n * 4));
}
