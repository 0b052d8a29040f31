// A finished run's test data and head, found again from its config.json as train loaded them:
// the data files (or the synthetic demo's shape), the head file or model folder and its dtype,
// the targets as --assign / --targets made them, the layers kept. What cannot be found (a run
// moved to another machine) is said in one line, naming the file.
import { existsSync } from 'node:fs';
import { prepareTargets, type TargetMode } from '../data/assign.ts';
import { loadDataset, selectLayers, sha256File, type Dataset } from '../data/dataset.ts';
import { loadHeadFrom, type Head } from '../data/head.ts';
import { synthRunData, type SynthShape } from '../data/synth.ts';
import { tokenizerFor, type TokenText } from '../data/tokenizer.ts';
import type { RunRecord } from '../report/run.ts';
import type { HeadDtype } from '../shared/constants.ts';
import { InputError } from '../shared/errors.ts';

/** What config.json records of where a run's data came from. */
interface Provenance {
  synthetic?: SynthShape;
  train?: { path: string; sha256?: string };
  test?: { path: string; sha256?: string };
  head?: { path: string; sha256?: string };
  model_dir?: string;
}

export interface RunData {
  head: Head;
  test: Dataset;
  /** The model folder, where the head came from one (its tokenizer names the tokens). */
  modelDir?: string;
  synthetic: boolean;
}

/** The run's test set and head; an InputError naming what is missing or has changed since the run. */
export async function loadRunData(run: RunRecord): Promise<RunData> {
  const data = run.config.data as Provenance | undefined;
  const s = run.config.settings as { layers?: number[]; assign?: string; targets?: TargetMode };
  const dtype = (run.config.head?.dtype ?? 'f32') as HeadDtype;
  if (!data) throw new InputError(`${run.dir}: its config.json does not say which data it was trained on`);
  let head: Head;
  let train: Dataset;
  let test: Dataset;
  if (data.synthetic) {
    ({ head, train, test } = synthRunData(data.synthetic, dtype));
  } else {
    for (const f of [data.train?.path, data.test?.path, data.head?.path, data.model_dir]) {
      if (f !== undefined && !existsSync(f)) throw new InputError(`${f}: not found (the run's data has moved?); the metrics still show`);
    }
    // The files the run was trained on, not others written over them since.
    for (const f of [data.train, data.test, data.head]) {
      if (f?.sha256 && (await sha256File(f.path)) !== f.sha256) throw new InputError(`${f.path}: changed since the run (its SHA-256 is not the one config.json records)`);
    }
    if (!data.train || !data.test) throw new InputError(`${run.dir}: its config.json names no train and test data`);
    [train, test] = [loadDataset(data.train.path), loadDataset(data.test.path)];
    head = loadHeadFrom({ head: data.head?.path, modelDir: data.model_dir, headDtype: dtype });
  }
  // Targets need both sets: an assignment decides on both whether rows keep whole chunks.
  const prepared = prepareTargets(train, test, { assign: s.assign, targets: s.targets });
  return { head, test: selectLayers(prepared.test, s.layers), modelDir: data.model_dir, synthetic: Boolean(data.synthetic) };
}

/**
 * The tokenizer of each run's model: `tokenizer` (--tokenizer) for all, else its model folder's,
 * else for the synthetic demo LLaMA-2's where installed; one a model, loaded when first asked.
 */
export function runTokenizers(tokenizer: string | undefined): (run: RunRecord) => TokenText | undefined {
  const loaded = new Map<string, TokenText | undefined>();
  return (run) => {
    const data = run.config.data as Provenance | undefined;
    const key = `${data?.model_dir}\0${Boolean(data?.synthetic)}`;
    if (!loaded.has(key)) loaded.set(key, tokenizerFor({ tokenizer, modelDir: data?.model_dir }, run.config.head?.V ?? 0, Boolean(data?.synthetic)));
    return loaded.get(key);
  };
}
