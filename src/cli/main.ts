// The command line: flags → calls. `train`, `sweep`, `eval`, `compare`, `trajectory`, `synth`, `inspect`, `doctor`,
// and the Python scripts as `dump` and `export-tuned-lens`.
// Mistakes in the input end in one line on stderr and exit status 1, never a stack trace
// (--debug shows it). Ctrl-C or SIGTERM stops training after the current step with a
// checkpoint, exit status 130 or 143; a second Ctrl-C (a second or more later) quits at once.
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { Command, InvalidArgumentError, Option } from 'commander';
import { checkAgainstHead, loadDataset, selectLayers, sha256File } from '../data/dataset.ts';
import { prepareTargets } from '../data/assign.ts';
import { compareMarkdown } from '../report/compare.ts';
import { readRun } from '../report/run.ts';
import { DivergedError, InputError } from '../shared/errors.ts';
import { loadHeadFrom } from '../data/head.ts';
import { TokenText, tokenizerFor } from '../data/tokenizer.ts';
import { DEMO_SHAPE, SEED_SHAPE, synthRunData, writeSynthFiles, type SynthShape } from '../data/synth.ts';
import { GpuError, Gpu } from '../gpu/device.ts';
import { DEFAULT_CRITICAL_LAYERS, PRESETS, type PresetName } from '../lens/preset.ts';
import { SEED_SETTINGS, type TrainSettings } from '../train/settings.ts';
import { tuneModeFromEnv } from '../lens/tuning.ts';
import { trainLens } from '../train/trainer.ts';
import { runSweep, sweepConfigs, withTargets, type TrainingData } from '../train/sweep.ts';
import { trajectory } from '../train/trajectory.ts';
import { trajectoryMarkdown, trajectorySvg } from '../report/trajectory.ts';
import { evaluateLensFile } from '../train/evalCommand.ts';
import { doctor } from './doctor.ts';
import { modelShapeOf, printPlan } from './plan.ts';
import { inspect } from './inspect.ts';
import { exportRun } from '../view/export.ts';
import { runTokenizers } from '../view/runData.ts';
import { LOOPBACK_HOSTS, startView } from '../view/server.ts';
import { resumedOptions } from './resume.ts';
import { runPythonScript } from './scripts.ts';
import { DATA_PLACES, TUNE_MODES, type HeadDtype, type PositionUnembedMode } from '../shared/constants.ts';
import { writeFileAtomic } from '../shared/files.ts';

// ---- argument parsers: each names the flag and the value it could not use ----
const int = (min: number) => (text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got '${text}'`);
  return n;
};
const nonNegative = (text: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative number, got '${text}'`);
  return n;
};
const positive = (text: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${text}'`);
  return n;
};
const presetList = (text: string) => {
  const names = text.split(',').map((s) => s.trim());
  const bad = names.find((n) => !PRESETS.includes(n as PresetName));
  if (bad !== undefined) throw new InvalidArgumentError(`'${bad}' is not a preset (${PRESETS.join(', ')})`);
  return names as PresetName[];
};
const layerSets = (text: string) => text.split(';').map((set) => idList(set));
const idList = (text: string) => {
  const ids = text.split(',').map((s) => s.trim());
  if (!ids.length || ids.some((s) => !/^\d+$/.test(s))) throw new InvalidArgumentError(`expected comma-separated layer ids like 6,9,14,15, got '${text}'`);
  return ids.map(Number);
};

const TARGETS_HELP = "with several targets a sample: the first, or all (default: all where the data has 'targets'; first with --assign)";
const ASSIGN_HELP = "derive targets from each problem's chain of thought ('cot'): uniform, or weights:w0,w1,… (one per position)";
const LOSS_HELP = "ce: cross-entropy against the targets; kl: KL to the model's own prediction from final_hidden";
const UNEMBED_HELP = 'a position-specific unembedding trained with the lens: none, bias (c_p), full (ΔU_p and c_p)';

const gpuOptions = (cmd: Command) =>
  cmd
    .option('--backend <name>', 'Dawn backend: vulkan, metal, d3d12 (default: Dawn picks)')
    .option('--adapter <name>', 'use the adapter whose name contains this text')
    .addOption(new Option('--tune <mode>', 'kernels: auto (cached for this GPU and shape, else timed), fresh (timed again), off (built-in)').choices(TUNE_MODES).default(undefined, '$LENSGPU_TUNE, else auto'));

const headOptions = (cmd: Command) =>
  cmd
    .option('--head <file>', 'head safetensors: norm.weight [d], lm_head.weight [V, d], metadata norm_eps')
    .option('--model-dir <dir>', 'Hugging Face model folder to read the final norm and unembedding from')
    .addOption(headDtypeOption());

/** The device of --backend and --adapter; a bad $LENSGPU_TUNE (the default of --tune) is refused first. */
async function openGpu(o: { backend?: string; adapter?: string; tune?: string }): Promise<Gpu> {
  if (o.tune === undefined) tuneModeFromEnv();
  return Gpu.open({ backend: o.backend, adapter: o.adapter });
}

const program = new Command()
  .name('lensgpu')
  .version((createRequire(import.meta.url)('../../package.json') as { version: string }).version, '--version', 'the version of lensgpu')
  .description('Position-specific tuned lenses, trained in WGSL kernels on WebGPU')
  .option('--debug', 'show stack traces of errors')
  .showHelpAfterError('(add --help for the options)');

// ---- train ----
trainingOptions(program.command('train').description('train a lens; with no data flags, on a built-in synthetic demo set'), false, (cmd) =>
  cmd
    .addOption(presetOption())
    .option('--layers <ids>', 'keep only samples of these layers (train and test)', idList)
    .option('--out <dir>', 'output folder (default: runs/<preset>-<time>)')
    .option('--resume', 'continue the run in --out from its checkpoint (its flags come from its config.json)')
    .option('--overwrite', 'replace the run already in --out'),
)
  .action(async (flags, cmd: Command) => {
    checkOutFlags(flags);
    // A resumed run takes what it is not told from its own config.json.
    const o = flags.resume ? resumedOptions(flags, cmd) : flags;
    const data = withTargets(await loadTrainingData(o, cmd), { assign: o.assign, targets: o.targets }, (l: string) => console.log(l));
    const train = selectLayers(data.train, o.layers);
    const test = selectLayers(data.test, o.layers);
    const out = o.out ?? join('runs', `${data.demo ? 'demo' : o.preset}-${timestamp()}`);
    await training(o, (gpu, stop) =>
      trainLens({
        gpu,
        head: data.head,
        train,
        test,
        out,
        resume: Boolean(o.resume),
        overwrite: Boolean(o.overwrite),
        gpuMemoryGiB: o.gpuMemory,
        dataOn: o.dataOn,
        stop,
        quiet: Boolean(o.quiet),
        tune: o.tune,
        provenance: { command: process.argv.slice(2).join(' '), ...data.provenance },
        dropped: data.dropped,
        tokens: tokenizerFor(o, data.head.V, data.demo || data.head.synthetic),
        settings: settingsFromFlags(o, { preset: o.preset, layers: o.layers, targetMode: data.targetMode }),
      }),
    );
  });

// ---- sweep ----
trainingOptions(
  program
    .command('sweep')
    .description("train several configurations on the same data and compare them (the seed's experiment in one command)"),
  true,
  (cmd) =>
    cmd
      .addOption(new Option('--presets <names>', 'presets to train, comma-separated').argParser(presetList).default(['baseline', 'lite', 'full'], 'baseline,lite,full'))
      .option('--layers-only <sets>', "also train lite on only these layers' samples, e.g. 15 (several sets: '15;14,15')", layerSets)
      .option('--out <dir>', 'folder for the runs and comparison.md (default: runs/sweep-<time>)')
      .option('--resume', 'continue an interrupted sweep in --out (finished runs are kept)')
      .option('--overwrite', 'replace the sweep already in --out'),
)
  .action(async (o, cmd: Command) => {
    checkOutFlags(o);
    checkFinalNormed(o.finalNormed, o.loss);
    const data = await loadTrainingData(o, cmd);
    const out = o.out ?? join('runs', `sweep-${timestamp()}`);
    await training(o, (gpu, stop) =>
      runSweep({
        gpu,
        data,
        out,
        configs: sweepConfigs(
          { presets: o.presets, assign: o.assign ?? [undefined], targets: o.targets ?? [undefined], loss: o.loss, positionUnembed: o.positionUnembed },
          o.layersOnly ?? [],
          Boolean(o.oneAtATime),
        ),
        // The axes' values come from the configurations; the settings hold what they share.
        settings: settingsFromFlags({ ...o, assign: undefined, loss: 'ce', finalNormed: undefined, positionUnembed: 'none' }, { preset: 'lite' }),
        finalNormed: Boolean(o.finalNormed),
        tokens: tokenizerFor(o, data.head.V, data.demo || data.head.synthetic),
        resume: Boolean(o.resume),
        overwrite: Boolean(o.overwrite),
        gpuMemoryGiB: o.gpuMemory,
        dataOn: o.dataOn,
        stop,
        quiet: Boolean(o.quiet),
        tune: o.tune,
        command: process.argv.slice(2).join(' '),
        print: (l) => console.log(l),
      }),
    );
  });

// ---- view ----
gpuOptions(
  program
    .command('view')
    .description('browse runs in a web browser: their curves, heatmaps, each cell\'s examples and each example\'s trajectory (a local server)')
    .argument('<paths...>', 'run folders, or folders holding runs (a sweep, runs/)')
    .option('--port <n>', 'port to listen on (default: a free one)', int(0), 0)
    .option('--host <address>', 'address to listen on; another than 127.0.0.1 needs the token printed with the URL', '127.0.0.1')
    .option('--tokenizer <file>', "a Hugging Face tokenizer.json, to show tokens as text (found in a run's model folder by default)")
    .option('--export <file>', 'write one run\'s pages into one self-contained HTML file instead (no server)')
    .option('--examples <n>', 'with --export: the examples whose trajectories it holds (the worst and best of each position)', int(1), 12),
).action(async (paths: string[], o) => {
  const tokensOf = runTokenizers(o.tokenizer);
  if (o.export) {
    if (paths.length !== 1) throw new InputError('--export takes one run folder');
    await exportRun({ dir: paths[0]!, out: o.export, examples: o.examples, openGpu: () => openGpu(o), tokens: tokensOf(readRun(paths[0]!)), print: (l) => console.log(l) });
    return;
  }
  const server = await startView({ paths, host: o.host, port: o.port, openGpu: () => openGpu(o), tokensOf });
  if (!LOOPBACK_HOSTS.includes(o.host)) console.error(`warning: listening on ${o.host}: anyone who can reach it and has the token can read these runs`);
  console.log(`lensgpu view: ${server.url} (Ctrl-C stops it)`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  await server.close();
});

// ---- compare ----
program
  .command('compare')
  .description('compare finished runs as a markdown table: accuracy, loss, parameters, best epoch, time, and per position')
  .argument('<runs...>', 'run folders (the first is the reference for the differences)')
  .option('--save <file>', 'also write the comparison to this markdown file')
  .addOption(new Option('--out <file>', 'old spelling of --save').hideHelp())
  .action((dirs: string[], o) => {
    const md = compareMarkdown(dirs.map(readRun));
    process.stdout.write(md);
    const file = o.save ?? o.out;
    if (file) {
      writeFileAtomic(file, md);
      console.log(`wrote ${file}`);
    }
  });

// ---- eval ----
gpuOptions(
  headOptions(
    program
      .command('eval')
      .description("evaluate a trained lens: val loss and top-1/5/10, overall and per layer and position")
      .requiredOption('--lens <file>', 'lens.safetensors written by train')
      .option('--data <file>', 'the data to evaluate on (safetensors, .npz, or a folder of .npy)')
      .addOption(new Option('--test <file>', 'old spelling of --data').hideHelp()),
  ),
)
  .option('--batch-size <n>', 'samples per forward pass', int(1), 256)
  .option('--json <file>', 'also write the metrics as JSON')
  .option('--heatmap <file>', 'also draw top-1/5/10 by layer × position as SVG')
  .addOption(lossOption())
  .option('--final-normed', 'with --loss kl: final_hidden is already through the final norm')
  .addOption(new Option('--targets <which>', TARGETS_HELP).choices(['first', 'all']))
  .option('--assign <rule>', ASSIGN_HELP)
  .option('--tokenizer <file>', 'a Hugging Face tokenizer.json, to show tokens as text (found in --model-dir by default)')
  .option('--by-layer', 'also show what each layer predicts')
  .option('--layers <ids>', 'evaluate only the samples of these layers (as train --layers)', idList)
  .action(async (o) => {
    checkFinalNormed(o.finalNormed, [o.loss]);
    const head = loadHeadFrom(o);
    const dataPath = o.data ?? o.test;
    if (!dataPath) throw new InputError('eval needs --data FILE, the data to evaluate the lens on');
    const loaded = selectLayers(loadDataset(dataPath), o.layers);
    checkAgainstHead(loaded, head.d, head.V, head.numLayers);
    const prepared = prepareTargets(loaded, loaded, { assign: o.assign, targets: o.targets });
    const test = prepared.test;
    if (prepared.dropped) console.log(`targets by --assign ${o.assign} (--targets ${prepared.mode}): ${prepared.dropped.test.toLocaleString('en-US')} samples left out (empty chunk)`);
    if (prepared.note) console.log(prepared.note);
    const gpu = await openGpu(o);
    try {
      await evaluateLensFile(gpu, head, o.lens, test, o.batchSize, { json: o.json, heatmap: o.heatmap }, (l) => console.log(l), {
        kl: o.loss === 'kl',
        finalNormed: Boolean(o.finalNormed),
        firstTarget: prepared.mode === 'first',
        tune: o.tune,
      }, tokenizerFor(o, head.V, head.synthetic), Boolean(o.byLayer));
    } finally {
      gpu.destroy();
    }
  });

// ---- trajectory ----
gpuOptions(
  headOptions(
    program
      .command('trajectory')
      .description("what a lens predicts at every layer and position of one problem, as a picture, markdown or JSON")
      .option('--lens <file>', 'lens.safetensors (written by train, or by PyTorch in the same layout)')
      .option('--no-lens', 'the plain logit lens: the frozen head on the raw hidden states')
      .requiredOption('--data <file>', "a data file with 'example' (problem ids)")
      .requiredOption('--example <id>', 'the problem to show', int(0)),
  ),
)
  .option('--tokenizer <file>', 'a Hugging Face tokenizer.json to show tokens as text (found in --model-dir by default)')
  .addOption(new Option('--format <format>', 'svg, md or json (default: from --save, else md)').choices(['svg', 'md', 'json']))
  .addOption(new Option('--color <by>', 'colour cells by the top-1 probability or by the entropy').choices(['prob', 'entropy']).default('prob', 'prob'))
  .option('--save <file>', 'write here (default: print)')
  .addOption(new Option('--out <file>', 'old spelling of --save').hideHelp())
  .action(async (o) => {
    const save: string | undefined = o.save ?? o.out;
    if (o.lens === undefined) throw new InputError('give --lens FILE, or --no-lens for the plain logit lens');
    const lensPath = o.lens === false ? undefined : (o.lens as string);
    const head = loadHeadFrom(o);
    const data = loadDataset(o.data);
    checkAgainstHead(data, head.d, head.V, head.numLayers);
    const tokens = tokenizerFor(o, head.V, head.synthetic);
    const format: 'svg' | 'md' | 'json' = o.format ?? (save?.endsWith('.svg') ? 'svg' : save?.endsWith('.json') ? 'json' : 'md');
    const gpu = await openGpu(o);
    try {
      const t = await trajectory(gpu, head, data, o.example, lensPath, o.tune);
      const title = `Example ${o.example} through ${lensPath ? basename(lensPath) : 'the logit lens (no translators)'}`;
      const out =
        format === 'svg'
          ? trajectorySvg(t, title, tokens, o.color)
          : format === 'json'
            ? JSON.stringify({ ...t, cells: t.cells.map((c) => ({ ...c, top: c.top.map((e) => ({ ...e, text: tokens?.text(e.id) })) })) }, null, 2) + '\n'
            : trajectoryMarkdown(t, title, tokens);
      if (save) {
        writeFileAtomic(save, out);
        console.log(`wrote ${save}`);
      } else process.stdout.write(out);
    } finally {
      gpu.destroy();
    }
  });

// ---- synth ----
program
  .command('synth')
  .description('write planted-structure synthetic data (train, test, head) as safetensors')
  .requiredOption('--out <dir>', 'folder for train.safetensors, test.safetensors, head.safetensors')
  .addOption(new Option('--shape <name>', 'demo: the built-in demo; seed: the seed experiment (d 2048, V 32000)').choices(['demo', 'seed']).default('demo', 'demo'))
  .option('--d <n>', 'hidden size', int(2))
  .option('--vocab <n>', 'vocabulary size', int(10))
  .option('--num-layers <n>', 'number of layers', int(1))
  .addOption(new Option('--layers <n>', 'old spelling of --num-layers').hideHelp().argParser(int(1)))
  .option('--positions <n>', 'continuous-thought positions', int(1))
  .option('--train-per-layer <n>', 'training samples per layer (a multiple of the positions)', int(1))
  .option('--test-per-layer <n>', 'test samples per layer', int(1))
  .option('--seed <n>', 'generator seed', int(0))
  .option('--multi <K>', "also write 'targets' / 'target_weights': up to K tokens of each sample's chain-of-thought chunk, equally weighted", int(1))
  .option('--final', "also write 'final_hidden' (the clean state each sample's hidden states distort)")
  .option('--cot', "also write 'cot', 'cot_example' and 'example' (chains of thought planted with the split 1,1,2,2,1,1)")
  .action((o) => {
    const base = o.shape === 'seed' ? SEED_SHAPE : DEMO_SHAPE;
    const shape: SynthShape = {
      layers: o.numLayers ?? o.layers ?? base.layers,
      positions: o.positions ?? base.positions,
      d: o.d ?? base.d,
      V: o.vocab ?? base.V,
      trainPerLayer: o.trainPerLayer ?? base.trainPerLayer,
      testPerLayer: o.testPerLayer ?? base.testPerLayer,
      seed: o.seed ?? base.seed,
    };
    console.log(`generating ${describeShape(shape)}`);
    const files = writeSynthFiles(o.out, shape, { multi: o.multi, final: Boolean(o.final), cot: Boolean(o.cot) });
    console.log(`wrote ${files.join(', ')}`);
  });

// ---- plan ----
gpuOptions(
  program
    .command('plan')
    .description("a run's memory plan before any data: from a model folder or the shapes given, buffer by buffer, and whether it fits this device")
    .option('--model-dir <dir>', "a Hugging Face model folder (its config.json's hidden_size, vocab_size, num_hidden_layers)")
    .option('--d <n>', 'hidden size', int(1))
    .option('--vocab <n>', 'vocabulary size', int(10))
    .option('--layers <n>', 'layers of the model', int(1))
    .option('--positions <n>', 'positions a problem', int(1), 6)
    .option('--samples <n>', 'samples a layer, train and test together (4 : 1)', int(2), 6000)
    .addOption(new Option('--data-dtype <type>', 'how the data files store hidden states (bf16 and f16 stay 2 bytes a value on the GPU)').choices(['f32', 'bf16', 'f16']).default('f32'))
    .addOption(presetOption())
    .addOption(criticalLayersOption())
    .addOption(headDtypeOption())
    .addOption(positionUnembedOption())
    .option('--batch-size <n>', 'samples per step', int(1), SEED_SETTINGS.batchSize)
    .option('--gpu-memory <GiB>', "the GPU's memory, to check the total (default: known only for software adapters)", positive)
    .addOption(dataOnOption()),
).action(async (o) => {
  const given = o.d !== undefined || o.vocab !== undefined || o.layers !== undefined;
  if (o.modelDir && given) throw new InputError('give --model-dir, or --d, --vocab and --layers, not both');
  if (!o.modelDir && !(o.d && o.vocab && o.layers)) throw new InputError('plan needs --model-dir DIR, or --d, --vocab and --layers');
  const model = o.modelDir ? modelShapeOf(o.modelDir) : { d: o.d, V: o.vocab, layers: o.layers };
  const settings = settingsFromFlags({ ...SEED_SETTINGS, ...o, loss: 'ce' }, { preset: o.preset });
  const gpu = await openGpu(o);
  try {
    const hiddenHalf = o.dataDtype === 'f32' ? undefined : o.dataDtype;
    printPlan(gpu, { model, positions: o.positions, samples: o.samples, headDtype: o.headDtype, hiddenHalf, gpuMemoryGiB: o.gpuMemory, dataOn: o.dataOn, settings }, (l) => console.log(l));
  } finally {
    gpu.destroy();
  }
});

// ---- doctor ----
gpuOptions(program.command('doctor').description('what this machine offers lensgpu: adapter, features, kernel variants, limits, memory, a PyTorch for the bench')).action(
  async (o) => {
    const gpu = await openGpu(o);
    try {
      doctor(gpu, (l) => console.log(l), o.backend);
    } finally {
      gpu.destroy();
    }
  },
);

// ---- dump, export-tuned-lens: the Python scripts, with the user's Python ----
for (const [name, script, description, needs] of [
  ['dump', 'dump_hidden_states.py', "a model's hidden states as data files (train, test, a model folder for --model-dir)", 'PyTorch and transformers'],
  ['export-tuned-lens', 'export_tuned_lens.py', "a baseline lens as tuned-lens's folder (params.pt, config.json)", 'PyTorch'],
] as const) {
  program
    .command(name)
    .description(`${description}: runs scripts/${script} with PYTHON (default python3); its flags: lensgpu ${name} --help`)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action((args: string[]) => {
      process.exitCode = runPythonScript(name, script, args, needs);
    });
}

// ---- inspect ----
program
  .command('inspect')
  .description('show the tensors of a safetensors file (data, head, lens, checkpoint) or a model folder')
  .argument('<file>', 'a .safetensors file or a Hugging Face model folder')
  .option('--assign <rule>', "for data with a chain of thought: the chunk lengths this assignment gives each position (uniform, weights:w0,w1,…)", 'uniform')
  .option('--tokenizer <file>', "a Hugging Face tokenizer.json (or its folder), to show token ids as text")
  .action((file: string, o) => inspect(file, (l) => console.log(l), o.assign, o.tokenizer ? TokenText.load(o.tokenizer) : undefined));

/**
 * Flags shared by train and sweep: data, head, GPU, and the optimisation settings. In a
 * sweep, --targets, --assign, --loss and --position-unembed take lists (axes).
 */
function trainingOptions(cmd: Command, axes: boolean, own: (cmd: Command) => Command): Command {
  const withTargetFlags = axes ? axisOptions : singleTargetOptions;
  // The data, then the command's own flags (preset, --out), then the rest: help lists them so.
  return withTargetFlags(gpuOptions(
    headOptions(
      own(
        cmd
          .option('--train <file>', 'training data (safetensors: hidden, layer, position, target)')
          .option('--test <file>', 'validation data, same format'),
      ),
    ),
  )
    .addOption(criticalLayersOption())
    .option('--epochs <n>', 'maximum epochs', int(1), SEED_SETTINGS.epochs)
    .option('--patience <n>', 'stop after this many epochs without a better val loss', int(1), SEED_SETTINGS.patience)
    .option('--batch-size <n>', 'samples per step', int(1), SEED_SETTINGS.batchSize)
    .option('--lr <x>', 'AdamW learning rate', positive, SEED_SETTINGS.lr)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', nonNegative, SEED_SETTINGS.weightDecay)
    .option('--clip <x>', 'max global gradient norm (0: no clipping)', nonNegative, SEED_SETTINGS.clip)
    .option('--seed <n>', 'seed of the per-epoch shuffle', int(0), SEED_SETTINGS.seed)
    .option('--no-shuffle', 'take training batches in file order')
    .option('--no-checkpoint', 'do not write checkpoint.safetensors after each epoch')
    .option('--gpu-memory <GiB>', "the GPU's memory, to check the run fits before allocating (default: known only for software adapters)", positive)
    .addOption(dataOnOption())
    .option('--allow-shared-examples', 'let train and test share problem ids (example)')
    .option('--final-normed', "with --loss kl: final_hidden is already through the final norm (as Hugging Face's last hidden state)")
    .option('--tokenizer <file>', 'a Hugging Face tokenizer.json, to show tokens as text in the report (found in --model-dir by default)')
    .option('--quiet', 'no progress bar'));
}

function singleTargetOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--targets <which>', TARGETS_HELP).choices(['first', 'all']))
    .option('--assign <rule>', ASSIGN_HELP)
    .addOption(lossOption())
    .addOption(positionUnembedOption());
}

/** The sweep's axes: each flag takes a list ('uniform;weights:1,1,2,2,1,1' for --assign). */
function axisOptions(cmd: Command): Command {
  const choices = (allowed: string[]) => (text: string) => {
    const values = text.split(',').map((v) => v.trim());
    const bad = values.find((v) => !allowed.includes(v));
    if (bad !== undefined) throw new InvalidArgumentError(`'${bad}' is not one of ${allowed.join(', ')}`);
    return values;
  };
  return cmd
    .option('--targets <list>', `${TARGETS_HELP}; a list: first,all`, choices(['first', 'all']))
    .option('--assign <list>', `${ASSIGN_HELP}; several separated by ';'`, (text: string) => text.split(';').map((r) => r.trim()))
    .addOption(new Option('--loss <list>', `${LOSS_HELP}; a list: ce,kl`).argParser(choices(['ce', 'kl'])).default(['ce'], 'ce'))
    .addOption(new Option('--position-unembed <list>', `${UNEMBED_HELP}; a list: none,bias`).argParser(choices(['none', 'bias', 'full'])).default(['none'], 'none'))
    .option('--one-at-a-time', "vary one axis at a time from the first value of each (instead of every combination)");
}

// Options several commands take, each defined once (defaults shown as users type them).
function headDtypeOption(): Option {
  return new Option('--head-dtype <dtype>', 'how the unembedding is held on the GPU').choices(['f32', 'f16']).default('f32', 'f32');
}

function dataOnOption(): Option {
  return new Option('--data-on <where>', "where the data sets are kept: gpu, host (each step writes its batch's rows), auto (the GPU where the run fits with them there)").choices(DATA_PLACES).default('auto');
}

function presetOption(): Option {
  return new Option('--preset <name>', 'which (layer, position) pairs share a translator').choices(PRESETS).default('lite', 'lite');
}

function criticalLayersOption(): Option {
  return new Option('--critical-layers <ids>', 'layers with position-specific translators under lite').argParser(idList).default(DEFAULT_CRITICAL_LAYERS, DEFAULT_CRITICAL_LAYERS.join(','));
}

function positionUnembedOption(): Option {
  return new Option('--position-unembed <mode>', UNEMBED_HELP).choices(['none', 'bias', 'full']).default('none', 'none');
}

function lossOption(): Option {
  return new Option('--loss <loss>', "ce: cross-entropy against the targets; kl: KL to the model's own prediction from final_hidden").choices(['ce', 'kl']).default('ce', 'ce');
}

/** The one rule of --final-normed: it is about final_hidden, which only the KL loss reads. */
function checkFinalNormed(finalNormed: boolean | undefined, losses: string[]): void {
  if (finalNormed && !losses.includes('kl')) throw new InputError('--final-normed is about final_hidden, which only --loss kl uses');
}

/** A run's settings from the parsed flags of train (or sweep's shared ones), the preset and what loading the data decided. */
function settingsFromFlags(o: Record<string, any>, given: { preset: PresetName; layers?: number[]; targetMode?: 'first' | 'all' }): TrainSettings {
  checkFinalNormed(o.finalNormed, [o.loss]);
  return {
    preset: given.preset,
    criticalLayers: o.criticalLayers,
    layers: given.layers,
    epochs: o.epochs,
    patience: o.patience,
    batchSize: o.batchSize,
    lr: o.lr,
    weightDecay: o.weightDecay,
    clip: o.clip,
    seed: o.seed,
    shuffle: o.shuffle,
    checkpoint: o.checkpoint,
    ...(given.targetMode ? { targets: given.targetMode } : {}),
    ...(o.assign ? { assign: o.assign } : {}),
    ...(o.loss === 'kl' ? { loss: 'kl' as const, finalNormed: Boolean(o.finalNormed) } : {}),
    ...(o.positionUnembed !== 'none' ? { positionUnembed: o.positionUnembed as PositionUnembedMode } : {}),
  };
}

function checkOutFlags(o: { out?: string; resume?: boolean; overwrite?: boolean }): void {
  if (o.resume && !o.out) throw new InputError('--resume needs --out, the folder of the run to continue');
  if (o.resume && o.overwrite) throw new InputError('--resume continues the run in --out, --overwrite replaces it: give one');
  if (o.out && existsSync(o.out) && !statSync(o.out).isDirectory()) throw new InputError(`--out ${o.out} is a file, not a folder`);
}

/**
 * The head and both data sets, checked against each other (before the GPU is touched): the
 * files given, or the built-in demo when no data flag is. Records where they came from.
 */
async function loadTrainingData(o: Record<string, any>, cmd: Command): Promise<TrainingData> {
  const demo = !o.train && !o.test && !o.head && !o.modelDir;
  if (!demo && (!o.train || !o.test)) throw new InputError('give both --train and --test (or neither, for the built-in demo)');
  let data: TrainingData;
  if (demo) {
    console.log(`no data given: training on the built-in synthetic demo (${describeShape(DEMO_SHAPE)})`);
    data = { demo, ...synthRunData(DEMO_SHAPE, o.headDtype), provenance: { data: { synthetic: DEMO_SHAPE } } };
  } else {
    data = {
      demo,
      head: loadHeadFrom(o as { head?: string; modelDir?: string; headDtype: HeadDtype }),
      train: loadDataset(o.train),
      test: loadDataset(o.test),
      provenance: {
        data: {
          train: { path: resolve(o.train), sha256: await sha256File(o.train) },
          test: { path: resolve(o.test), sha256: await sha256File(o.test) },
          ...(o.head ? { head: { path: resolve(o.head), sha256: await sha256File(o.head) } } : { model_dir: resolve(o.modelDir) }),
        },
      },
    };
  }
  if (cmd.getOptionValueSource('criticalLayers') === 'cli') {
    const absent = (o.criticalLayers as number[]).filter((l) => !data.train.layer.includes(l));
    if (absent.length) {
      const have = [...new Set(data.train.layer)].sort((a, b) => a - b);
      throw new InputError(`--critical-layers: layer${absent.length > 1 ? 's' : ''} ${absent.join(',')} ${absent.length > 1 ? 'have' : 'has'} no samples in ${data.train.source} (layers present: ${have.join(',')})`);
    }
  }
  for (const ds of [data.train, data.test]) checkAgainstHead(ds, data.head.d, data.head.V, data.head.numLayers);
  if (!o.allowSharedExamples && data.train.example && data.test.example) {
    const trainIds = new Set(data.train.example);
    const at = data.test.example.findIndex((e) => trainIds.has(e));
    if (at >= 0) throw new InputError(`${data.test.source}: example[${at}] = ${data.test.example[at]} is also a training problem (train and test must not share problems; --allow-shared-examples to allow it)`);
  }
  return data;
}

/**
 * Runs training work on a fresh GPU device with Ctrl-C/SIGTERM turned into a stop request;
 * a run stopped that way exits 130 (SIGINT) or 143 (SIGTERM).
 */
async function training(
  o: { backend?: string; adapter?: string; tune?: string },
  work: (gpu: Gpu, stop: { signal?: NodeJS.Signals }) => Promise<{ interrupted?: NodeJS.Signals }>,
): Promise<void> {
  const gpu = await openGpu(o);
  const stop = onStopSignals();
  try {
    const { interrupted } = await work(gpu, stop.request);
    if (interrupted) process.exitCode = interrupted === 'SIGINT' ? 130 : 143;
  } finally {
    stop.remove();
    gpu.destroy();
  }
}

/**
 * A terminal sends Ctrl-C to every process of its foreground group (npm, sh, tsx, node), and
 * a parent may relay it once more: one keypress can reach the trainer twice within a moment.
 * Signals this close to the first are the same request.
 */
const SAME_REQUEST_MS = 1000;

/**
 * The first Ctrl-C (or SIGTERM) asks the run to stop after its current step and write a
 * checkpoint; another one, a second or more later, quits at once, leaving the last
 * checkpoint as it was.
 */
function onStopSignals(): { request: { signal?: NodeJS.Signals }; remove(): void } {
  const request: { signal?: NodeJS.Signals } = {};
  let firstAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (request.signal && performance.now() - firstAt < SAME_REQUEST_MS) return;
    if (request.signal) {
      process.stderr.write(`\n${signal} again: quitting now; the last checkpoint is unchanged\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    request.signal = signal;
    firstAt = performance.now();
    process.stderr.write(`\n${signal}: stopping after the current step and writing a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again quits at once)\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    request,
    remove: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

function describeShape(s: SynthShape): string {
  return `${s.layers} layers × ${s.positions} positions, d ${s.d}, V ${s.V}, ${s.trainPerLayer} train / ${s.testPerLayer} test samples per layer, seed ${s.seed}`;
}

function timestamp(): string {
  const t = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}${p(t.getMonth() + 1)}${p(t.getDate())}-${p(t.getHours())}${p(t.getMinutes())}${p(t.getSeconds())}`;
}

// `lensgpu inspect big.safetensors | head`: a closed pipe ends the program quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// Flags typed after `npm run train` without `--` go to npm, which keeps them as npm_config_*
// variables and passes their values on as stray arguments: say so before anything else.
const tookByNpm = flagsNpmTook(program);
if (tookByNpm.length) {
  const script = process.env.npm_lifecycle_event ?? 'train';
  process.stderr.write(`lensgpu: npm took ${tookByNpm.join(', ')} for itself: put flags after \`--\`, as in \`npm run ${script} -- ${tookByNpm[0]} …\`\n`);
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const debug = Boolean(program.opts().debug);
  const err = e instanceof Error ? e : new Error(String(e));
  const known = err instanceof InputError || err instanceof GpuError || err instanceof DivergedError;
  if (debug) process.stderr.write(`${err.stack ?? err.message}\n`);
  else if (known) process.stderr.write(`lensgpu: ${oneLine(err.message)}\n`);
  else {
    // Anything else is a bug of ours (a broken invariant, or an error nobody anticipated).
    process.stderr.write(`lensgpu: internal error: ${oneLine(err.message)}\n${err.stack ?? ''}\n`);
    process.stderr.write('lensgpu: this is a bug in lensgpu; please report it with the command you ran and the lines above\n');
  }
  process.exitCode = 1;
}

/** Our flags that npm kept (npm_config_batch_size for --batch-size), when run by an npm script. */
function flagsNpmTook(cmd: Command): string[] {
  if (!process.env.npm_lifecycle_event) return [];
  const ours = new Set(
    [cmd, ...cmd.commands].flatMap((c) => c.options.map((o) => (o.long ?? '').replace(/^--(no-)?/, ''))).filter((name) => name && name !== 'help'),
  );
  return Object.keys(process.env)
    .filter((k) => k.startsWith('npm_config_'))
    .map((k) => k.slice('npm_config_'.length).replace(/_/g, '-'))
    .filter((name) => ours.has(name))
    .map((name) => `--${name}`);
}

/** An error as one line: the WGSL or driver detail after its first line is folded in. */
function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ');
}
