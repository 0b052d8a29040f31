// Kernels: WGSL files in kernels/ templated with wgsl-preprocessor, compiled once per distinct
// final source (the pipeline cache), with compile errors that quote the offending WGSL line.
//
// A kernel file uses `${NAME}` for values and `#if ${FLAG}` … `#endif` for variants; the
// host supplies every NAME in a Defines map. kernels/common.wgsl, what several kernels share,
// is part of every kernel's source. A kernel's uniform `struct Params` is read from
// its final source, so the host fills it by field name (`tables.writeParams(slot, pipe, { V, d })`),
// checked against the struct: no positional lists to keep in step with the WGSL.
// LENSGPU_PRINT_WGSL=1 prints each generated shader once (or =name to print only kernels
// whose label contains `name`).
import { readFileSync } from 'node:fs';
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { GpuError, type Gpu } from './device.ts';
import { BugError } from '../shared/errors.ts';

export type Defines = Record<string, number | boolean | string>;

const KERNEL_DIR = new URL('../../kernels/', import.meta.url);
const fileCache = new Map<string, string>();

export function kernelSource(file: string, defines: Defines): string {
  let text = fileCache.get(file);
  if (text === undefined) {
    text = readFileSync(new URL(`${file}.wgsl`, KERNEL_DIR), 'utf8');
    fileCache.set(file, text);
  }
  // Turn the file into the (strings, values) pair a template-literal tag receives.
  const parts = text.split(/\$\{(\w+)\}/);
  const strings: string[] = [];
  const values: unknown[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) strings.push(parts[i]!);
    else {
      const name = parts[i]!;
      if (!(name in defines)) throw new BugError(`kernels/${file}.wgsl: no value given for \${${name}}`);
      values.push(defines[name]);
    }
  }
  return withCommon(wgsl(strings, ...values));
}

/**
 * kernels/common.wgsl (the AdamW element step, Range and Present, the workgroup tree sum)
 * placed in a kernel's source after its `enable` directives, which must open a module.
 */
function withCommon(code: string): string {
  const lines = code.split('\n');
  const directive = (l: string) => /^\s*enable\s+[\w\s,]+;\s*$/.test(l);
  return [...lines.filter(directive), commonSource(), ...lines.filter((l) => !directive(l))].join('\n');
}

function commonSource(): string {
  let text = fileCache.get('common');
  if (text === undefined) fileCache.set('common', (text = readFileSync(new URL('common.wgsl', KERNEL_DIR), 'utf8')));
  return text;
}

const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** The compute pipeline for `entry` in kernels/`file`.wgsl with `defines`, compiled once per source. */
export function pipeline(gpu: Gpu, file: string, entry: string, defines: Defines = {}): Promise<GPUComputePipeline> {
  const code = kernelSource(file, defines);
  let cache = pipelineCache.get(gpu.device);
  if (!cache) pipelineCache.set(gpu.device, (cache = new Map()));
  const key = `${entry}\u0000${code}`;
  let p = cache.get(key);
  if (!p) {
    p = compile(gpu, `${file}.${entry}`, code, entry);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function compile(gpu: Gpu, label: string, code: string, entry: string): Promise<GPUComputePipeline> {
  const filter = process.env.LENSGPU_PRINT_WGSL;
  if (filter && (filter === '1' || label.includes(filter))) {
    process.stderr.write(`// ---- ${label} ----\n${numbered(code)}\n`);
  }
  return gpu.checked(`kernel ${label}`, async () => {
    const module = gpu.device.createShaderModule({ label, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      const lines = code.split('\n');
      const first = errors[0]!;
      const src = lines[first.lineNum - 1] ?? '';
      throw new GpuError(
        `kernel ${label}: WGSL error at line ${first.lineNum}:${first.linePos}: ${first.message}\n` +
          `  ${first.lineNum} | ${src.trim()}` +
          (errors.length > 1 ? `\n  (${errors.length - 1} more; LENSGPU_PRINT_WGSL=${label} prints the source)` : ''),
      );
    }
    // Synchronous on purpose: with webgpu 0.6.2, createComputePipelineAsync intermittently
    // crashes the process (segfault or std::system_error) around later error-scope pops.
    // Creation errors still surface through the validation scope of checked().
    const pipe = gpu.device.createComputePipeline({ label, layout: 'auto', compute: { module, entryPoint: entry } });
    paramsStructs.set(pipe, paramsStruct(code));
    return pipe;
  });
}

function numbered(code: string): string {
  return code
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(4)}  ${l}`)
    .join('\n');
}

export type Binding = GPUBuffer | GPUBufferBinding;

/** A bind group for group 0 of `pipe`, binding i ← resources[i] (undefined entries skipped). */
export function bindGroup(gpu: Gpu, pipe: GPUComputePipeline, resources: (Binding | undefined)[]): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = [];
  resources.forEach((r, binding) => {
    if (r === undefined) return;
    entries.push({ binding, resource: 'buffer' in r ? r : { buffer: r } });
  });
  return gpu.device.createBindGroup({ label: pipe.label, layout: pipe.getBindGroupLayout(0), entries });
}

const currentPipeline = new WeakMap<GPUComputePassEncoder, GPUComputePipeline>();

/** Encodes one dispatch; refuses grids beyond the device limit with a message naming the kernel. */
export function dispatch(
  gpu: Gpu,
  pass: GPUComputePassEncoder,
  pipe: GPUComputePipeline,
  group: GPUBindGroup,
  x: number,
  y = 1,
  z = 1,
): void {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max) {
    throw new GpuError(`kernel ${pipe.label}: grid ${x}×${y}×${z} exceeds ${max} workgroups per dimension`);
  }
  if (x === 0 || y === 0 || z === 0) return;
  // Consecutive dispatches of one kernel (its windows) set its pipeline once.
  if (currentPipeline.get(pass) !== pipe) {
    pass.setPipeline(pipe);
    currentPipeline.set(pass, pipe);
  }
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y, z);
}

type FieldType = 'u32' | 'i32' | 'f32';
/** Each pipeline's `struct Params` fields, in order (none: the kernel takes no params). */
const paramsStructs = new WeakMap<GPUComputePipeline, { name: string; type: FieldType }[]>();

/** The fields of `struct Params { name: type, … }` in a kernel's final source. */
function paramsStruct(code: string): { name: string; type: FieldType }[] {
  const body = /struct\s+Params\s*\{([^}]*)\}/.exec(code)?.[1];
  if (body === undefined) return [];
  return body
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)
    .map((f) => {
      const m = /^(\w+)\s*:\s*(u32|i32|f32)$/.exec(f);
      if (!m) throw new BugError(`struct Params field '${f}': only u32, i32 and f32 fields are supported`);
      return { name: m[1]!, type: m[2] as FieldType };
    });
}

/**
 * Writes `pipe`'s `struct Params` from named values into `view` at byte `offset` (a step
 * tables' mirror: no allocation per call); returns the bytes written.
 */
export function writeParams(pipe: GPUComputePipeline, values: Record<string, number>, view: DataView, offset: number): number {
  const fields = paramsStructs.get(pipe);
  if (!fields || fields.length === 0) throw new BugError(`kernel ${pipe.label}: no struct Params to fill`);
  let matched = 0;
  for (let i = 0; i < fields.length; i++) {
    const { name, type } = fields[i]!;
    let v = values[name];
    if (v === undefined) {
      if (!name.startsWith('pad')) throw new BugError(`kernel ${pipe.label}: struct Params field ${name} not given`);
      v = 0;
    } else matched++;
    const at = offset + i * 4;
    if (type === 'f32') view.setFloat32(at, v, true);
    else if (!Number.isInteger(v) || (type === 'u32' ? v < 0 || v > 0xffffffff : v < -0x80000000 || v > 0x7fffffff)) {
      throw new BugError(`kernel ${pipe.label}: ${name} = ${v} is not a ${type}`);
    } else if (type === 'u32') view.setUint32(at, v, true);
    else view.setInt32(at, v, true);
  }
  if (matched !== Object.keys(values).length) {
    const extra = Object.keys(values).filter((k) => !fields.some((f) => f.name === k));
    throw new BugError(`kernel ${pipe.label}: struct Params has no field ${extra.join(', ')}`);
  }
  return fields.length * 4;
}
