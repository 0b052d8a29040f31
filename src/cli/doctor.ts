// `doctor`: what this machine offers lensgpu, in a few lines: the adapter Dawn picks, the
// features the kernels use, the kernels built in and those tuned for it, the limits that size a run, the
// memory a run may use where it is known, and whether a PyTorch for the bench is found.
// Opening the device is the test: with no adapter it ends in the one line that says the fix.
import { spawnSync } from 'node:child_process';
import { dawnVersion, type Gpu } from '../gpu/device.ts';
import { builtInChoices, describeChoices } from '../lens/kernels.ts';
import { deviceTraits } from '../lens/shape.ts';
import { cachedTunings, tuningCachePath } from '../lens/tuning.ts';
import { memoryBudget } from '../lens/plan.ts';
import { fmtBytes } from '../shared/constants.ts';

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

export function doctor(gpu: Gpu, print: (line: string) => void, backend: string | undefined): void {
  const a = gpu.adapter;
  const kind = [a.vendor && `vendor ${a.vendor}`, a.architecture && `architecture ${a.architecture}`, a.device && `device ${a.device}`, a.fallback && 'a software (fallback) adapter'];
  print(`adapter: ${a.name} (${kind.filter(Boolean).join(', ')})`);
  print(`Dawn: npm webgpu ${dawnVersion()}, backend ${backend ?? "Dawn's choice"}`);
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const sizes = a.subgroupMinSize ? ` (sizes ${a.subgroupMinSize}–${a.subgroupMaxSize || '?'})` : '';
  print(`features the kernels use: subgroups ${yes(gpu.hasSubgroups)}${sizes}, shader-f16 ${yes(gpu.hasF16)}, timestamp-query ${yes(gpu.hasTimestamps)}`);
  const update = gpu.hasSubgroups ? `the fused translator update; ${gpu.subgroupLanes} lanes share an operand` : 'the unfused translator update';
  print(`kernels built in (--tune off) for a ${gpu.isCpuDriver ? 'CPU driver' : 'GPU'}: ${describeChoices(builtInChoices(deviceTraits(gpu)))}; ${update}`);
  const tuned = cachedTunings(gpu);
  print(`kernels tuned for this adapter: ${tuned.length ? `${tuned.length} shape${tuned.length > 1 ? 's' : ''} in ${tuningCachePath()}` : `none yet (train, eval and trajectory tune on first use; cache ${tuningCachePath()})`}`);
  for (const t of tuned) print(`  ${t.shape} (${t.tuned.slice(0, 10)}): ${describeChoices(t.choices)}`);
  const l = gpu.limits;
  print(
    `limits: largest buffer ${fmtBytes(l.maxBufferSize)}, storage binding ${fmtBytes(l.maxStorageBufferBindingSize)}, ` +
      `workgroup storage ${fmtBytes(l.maxComputeWorkgroupStorageSize)}, ${l.maxComputeInvocationsPerWorkgroup} invocations a workgroup, ` +
      `${l.maxComputeWorkgroupsPerDimension} workgroups a dimension`,
  );
  const budget = memoryBudget(a, undefined);
  print(`memory: ${budget ? `${fmtBytes(budget.bytes)} (${budget.source})` : 'not reported by the device (train --gpu-memory GiB checks a run fits before it allocates)'}`);
  print(`PyTorch for the bench: ${torchFound()}`);
}

/** The PyTorch bench/torch_step.py would run with, or why there is none. */
function torchFound(): string {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status === 0) return `${PYTHON} with torch ${r.stdout.trim()}`;
  return `not found with ${PYTHON} (install python3-torch and python3-numpy, or set PYTHON)`;
}
