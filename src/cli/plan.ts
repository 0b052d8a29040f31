// `plan`: the memory plan of a run before any hidden state is dumped: from a model folder's
// config.json or from the shapes given, with the settings train takes, buffer by buffer, the
// total, and whether it fits this device (exit 0) or not (one line with the settings that would
// fit, exit 1), by the same rules train refuses a run with.
import { join } from 'node:path';
import { readModelConfig } from '../data/head.ts';
import type { Gpu } from '../gpu/device.ts';
import { memoryBudget, planTotal } from '../lens/plan.ts';
import { groupTable } from '../lens/preset.ts';
import { deviceTraits } from '../lens/shape.ts';
import { fmtBytes, type DataPlace, type HalfDtype, type HeadDtype } from '../shared/constants.ts';
import { InputError } from '../shared/errors.ts';
import { planOf } from '../train/planning.ts';
import type { TrainSettings } from '../train/settings.ts';

/** A model's shapes: hidden size, vocabulary, layers. */
export interface ModelShape {
  d: number;
  V: number;
  layers: number;
}

/** The shapes in a Hugging Face model folder's config.json. */
export function modelShapeOf(dir: string): ModelShape {
  const c = readModelConfig(dir);
  const path = join(dir, 'config.json');
  // Multimodal configs keep the language model's under text_config.
  const t = (c.text_config as Record<string, unknown> | undefined) ?? c;
  const [d, V, layers] = [t.hidden_size, t.vocab_size, t.num_hidden_layers];
  if (![d, V, layers].every((n) => Number.isInteger(n) && (n as number) > 0)) {
    throw new InputError(`${path}: needs hidden_size, vocab_size and num_hidden_layers (found ${JSON.stringify({ hidden_size: d, vocab_size: V, num_hidden_layers: layers })})`);
  }
  return { d: d as number, V: V as number, layers: layers as number };
}

export interface PlanFlags {
  model: ModelShape;
  positions: number;
  /** Samples a layer, train and test together (the seed's 6,000 = 4,800 + 1,200). */
  samples: number;
  headDtype: HeadDtype;
  /** The data files' hidden states as bf16 or f16 (default f32). */
  hiddenHalf?: HalfDtype;
  gpuMemoryGiB: number | undefined;
  dataOn: DataPlace;
  settings: TrainSettings;
}

/** Prints the plan; a run that does not fit is an InputError naming what would. */
export function printPlan(gpu: Gpu, f: PlanFlags, print: (line: string) => void): void {
  const { d, V, layers } = f.model;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const table = groupTable(f.settings.preset, range(layers), range(f.positions), f.settings.criticalLayers);
  const perLayerTrain = Math.round(f.samples * 0.8);
  const [trainCount, testCount] = [layers * perLayerTrain, layers * (f.samples - perLayerTrain)];
  const { shape, plan, problem, dataOn, hostBecause } = planOf({
    device: deviceTraits(gpu),
    maxBufferSize: gpu.limits.maxBufferSize,
    budget: memoryBudget(gpu.adapter, f.gpuMemoryGiB),
    head: { d, V, dtype: f.headDtype },
    trainCount,
    testCount,
    hiddenHalf: f.hiddenHalf,
    targetsPerRow: 1,
    settings: f.settings,
    table,
    dataOn: f.dataOn,
  });
  print(`plan: d ${d}, V ${V}, ${layers} layers × ${f.positions} positions, ${f.settings.preset} preset (${table.groups.length} translators), ` +
    `${(trainCount + testCount).toLocaleString('en-US')} samples (${trainCount.toLocaleString('en-US')} train, ${testCount.toLocaleString('en-US')} test${f.hiddenHalf ? `, ${f.hiddenHalf} hidden states` : ''}), batch ${f.settings.batchSize}`);
  print(`trainable parameters: ${shape.parameters.toLocaleString('en-US')}`);
  for (const it of plan) print(`  ${it.name.padEnd(52)} ${fmtBytes(it.bytes).padStart(11)}   ${it.buffers} buffer${it.buffers > 1 ? 's' : ''}, largest ${fmtBytes(it.largest)}`);
  print(`total: ${fmtBytes(planTotal(plan))} on ${gpu.adapter.name}; its largest buffer ${fmtBytes(gpu.limits.maxBufferSize)}`);
  if (dataOn === 'host') print(`data sets: in host memory, each step writes its batch's rows (${hostBecause ?? '--data-on host'})`);
  if (problem) throw new InputError(problem);
  const budget = memoryBudget(gpu.adapter, f.gpuMemoryGiB);
  print(budget ? `fits: ${fmtBytes(planTotal(plan))} of ${fmtBytes(budget.bytes)} (${budget.source})` : 'fits every buffer; the device does not report its memory (--gpu-memory GiB checks the total)');
}
