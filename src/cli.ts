#!/usr/bin/env node
/**
 * @module cli
 * `flux-serve tiny | build | prepare | pull | models | doctor | generate | serve | bench`. Commands
 * print their results on stdout and log pino JSON on stderr.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { buildModel } from './build/build-model.js';
import { COMPONENTS, type ComponentName } from './build/components.js';
import { formatLayerTable, summarizeLayerTable } from './build/dry-run.js';
import { loadModelSpec } from './build/model-spec.js';
import { prepareDefaultModel } from './build/prepare-model.js';
import { resolveTransformerConfig } from './build/resolve-config.js';
import { writeTinyCheckpoint } from './build/tiny-checkpoint.js';
import { registerBench } from './cli/bench-command.js';
import { registerDoctor } from './cli/doctor-command.js';
import { registerGenerate } from './cli/generate-command.js';
import { buildSource } from './cli/model-source.js';
import { registerModels } from './cli/models-command.js';
import { registerPull } from './cli/pull-command.js';
import { registerServe } from './cli/serve-command.js';
import { registerWorker } from './cli/worker-command.js';
import { loadConfig } from './config.js';
import { FluxServeError } from './errors.js';
import { createLogger } from './log.js';
import { sampleLoraName, writeSampleLora } from './lora/sample-lora.js';
import type { WeightQuant } from './weights/quantize.js';

const config = loadConfig();
const log = createLogger(config.logLevel, config.logFormat);

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(`${value} is not a non-negative integer`);
  return n;
}

interface BuildFlags {
  out?: string;
  dtype: 'fp32' | 'fp16';
  ops: 'fused' | 'plain';
  only?: ComponentName[];
  quant?: WeightQuant;
  dryRun?: boolean;
}

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
const program = new Command('flux-serve')
  .description('Self-hosted FLUX.1 [schnell] with LoRAs on ONNX Runtime')
  .version(version);
// Usage errors exit with 2 like every other refused input, not commander's default 1. Set before
// the subcommands are added: they copy it.
program.exitOverride();

program
  .command('tiny')
  .description('write a tiny random checkpoint in the Hugging Face FLUX.1-schnell layout')
  .argument('<dir>', 'output checkpoint dir')
  .addOption(
    new Option('--model <name>', 'which tiny manifest in models/')
      .choices(['tiny', 'tiny-dev'])
      .default('tiny'),
  )
  .option('--seed <n>', 'random seed', integer, 1)
  .action(async (dir: string, opts: { model: string; seed: number }) => {
    const spec = await loadModelSpec(opts.model);
    await writeTinyCheckpoint(dir, spec, { seed: opts.seed });
    log.info({ dir, model: spec.name, seed: opts.seed }, 'tiny checkpoint written');
    process.stdout.write(`${dir}\n`);
  });

program
  .command('lora')
  .description('LoRA helpers')
  .command('sample')
  .description('write a sample LoRA (random factors, diffusers layout) for a model, to try LoRAs with')
  .argument('[file]', 'where to write it (default: the LoRA folder, sample-<model>.safetensors)')
  .addOption(new Option('--model <name>', 'which manifest in models/').default('tiny'))
  .option('--rank <n>', 'LoRA rank', integer, 4)
  .option('--seed <n>', 'random seed', integer, 1)
  .action(async (file: string | undefined, opts: { model: string; rank: number; seed: number }) => {
    const spec = await loadModelSpec(opts.model);
    const out = file ?? join(config.loraDir, sampleLoraName(spec.name));
    await writeSampleLora(out, spec.transformer, { rank: opts.rank, seed: opts.seed });
    log.info({ file: out, model: spec.name, rank: opts.rank }, 'sample LoRA written');
    process.stdout.write(`${out}\n`);
  });

program
  .command('build')
  .description('build the ONNX model dir from a checkpoint dir')
  .argument(
    '<checkpoint>',
    'checkpoint dir (HF layout), or a pulled model (flux.1-schnell, owner/name); with --dry-run also a config.json',
  )
  .option('--out <dir>', 'model dir to write')
  .addOption(new Option('--dtype <dtype>', 'compute dtype').choices(['fp32', 'fp16']).default('fp16'))
  .addOption(
    new Option('--ops <variant>', 'fused contrib ops or plain ONNX')
      .choices(['fused', 'plain'])
      .default('fused'),
  )
  .addOption(
    new Option('--only <components...>', 'build only these components').choices(
      COMPONENTS.map((c) => c.name),
    ),
  )
  .addOption(
    new Option('--quant <bits>', 'block-quantize the transformer and T5 linears (MatMulNBits)').choices([
      'int8',
      'int4',
    ]),
  )
  .option('--dry-run', 'print the layer table counts and exit, reading only the config')
  .action(async (checkpoint: string, opts: BuildFlags) => {
    if (opts.dryRun) {
      const c = await resolveTransformerConfig(checkpoint);
      process.stdout.write(`${formatLayerTable(summarizeLayerTable(c), opts.dtype === 'fp16' ? 2 : 4)}\n`);
      return;
    }
    const { checkpoint: dir, defaultOut } = await buildSource(config, checkpoint);
    const out = opts.out ?? defaultOut;
    if (!out) throw new InvalidArgumentError('--out <dir> is required unless --dry-run or a pulled model');
    const dtype = opts.dtype === 'fp16' ? 'float16' : 'float32';
    const only = opts.only ? { only: opts.only } : {};
    const quant = opts.quant ? { quant: opts.quant } : {};
    const built = await buildModel(dir, out, { dtype, ops: opts.ops, log, ...only, ...quant });
    for (const [name, m] of Object.entries(built)) {
      const params = m.parameters.toLocaleString('en-US');
      process.stdout.write(
        `${out}: ${name} ${m.tensors} tensors, ${params} parameters, ${m.dtype}${m.quant ? `, ${m.quant}` : ''}, ${opts.ops}\n`,
      );
    }
  });

program
  .command('prepare')
  .description(
    'make sure a model is built in the model home (the tiny random model when no real one is there)',
  )
  .action(async () => {
    const dir = await prepareDefaultModel(join(config.home, 'models'), log);
    process.stdout.write(`${dir}\n`);
  });

registerGenerate(program, config, log);
registerServe(program, config, log);
registerWorker(program, config, log);
registerPull(program, config, log);
registerModels(program, config);
registerDoctor(program, config);
registerBench(program, log);

try {
  await program.parseAsync();
} catch (error) {
  // One plain sentence for a person, the exit code for a script; the stack of a failure that is
  // ours (5xx) in the log at debug.
  if (error instanceof FluxServeError) {
    if (error.statusCode >= 500) log.debug({ err: error }, 'command failed');
    process.stderr.write(`flux-serve: error: ${error.message} (${error.code})\n`);
    process.exitCode = error.statusCode < 500 ? 2 : 1;
  } else if (error instanceof InvalidArgumentError) {
    // Thrown by a command's action (e.g. an unknown --model): commander has not printed it.
    process.stderr.write(`flux-serve: error: ${error.message}\n`);
    process.exitCode = 2;
  } else if (error instanceof CommanderError) {
    // A parse error commander has printed already, or --help / --version (exit code 0).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    throw error;
  }
}
