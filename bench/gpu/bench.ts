/**
 * The Node half of the GPU proof (bench/gpu/run runs it, bundled by bench/gpu/prepare into
 * app/bench/gpu.mjs of the payload). Subcommands:
 *   all --mode gpu|dry --out DIR --work DIR   every measurement of the issue, into DIR/results.json
 *   report --out DIR                          results.json + torch.json + gpu-memory.csv → report.md
 *   build-graph CHECKPOINT CONFIG_JSON OUT    one fp16 transformer build (a child of `all`)
 *   placement PROVIDER MODEL…                 sessions with ONNX Runtime's verbose log on stderr (a child of `all`)
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { doctor, formatDoctor } from '../../src/cli/doctor-command.js';
import type { Config } from '../../src/config.js';
import { nativeRuntime } from '../../src/runtime/native-addon.js';
import { type Provider, parseProvider, providerChoice } from '../../src/runtime/provider.js';
import { sessionOptions } from '../../src/runtime/session.js';
import { offProvider, parsePlacement } from './placement.js';
import { type Mode, profile } from './profile.js';
import { writeReport } from './report.js';
import { RunContext, runSelf } from './run-context.js';
import { buildTiny, TINY_GRAPHS, tinyNumerics } from './tiny.js';
import {
  addonShapeChange,
  buildGraphChild,
  depthName,
  loraCosts,
  startWidthBuilds,
  widthTimings,
} from './width.js';

const MARKER = '@@placement ';

interface GraphPlacement {
  readonly expected: string;
  readonly counts?: Readonly<Record<string, number>>;
  /** The nodes not on the expected provider. */
  readonly elsewhere?: readonly string[];
  readonly error?: string;
}

async function placementChild(provider: Provider, models: readonly string[]): Promise<void> {
  for (const model of models) {
    console.error(`${MARKER}${model}`);
    const session = await ort.InferenceSession.create(
      model,
      sessionOptions({ provider, logPlacement: true }),
    );
    await session.release();
  }
}

/** Placement of each model on the run's provider, from a child's verbose log. */
async function placement(ctx: RunContext, label: string, models: Record<string, string>): Promise<void> {
  const { provider } = ctx.profile;
  const log = join(ctx.work, `placement-${label}.log`);
  await runSelf(['placement', provider, ...Object.values(models)], log);
  const text = await readFile(log, 'utf8');
  const sections = text.split(MARKER).slice(1);
  const expected =
    providerChoice(provider).name === 'cuda' ? 'CUDAExecutionProvider' : 'CPUExecutionProvider';
  ctx.results.placement ??= {};
  const found = ctx.results.placement as Record<string, GraphPlacement>;
  for (const [name, path] of Object.entries(models)) {
    const section = sections.find((s) => s.startsWith(`${path}\n`));
    const parsed = section ? parsePlacement(section) : undefined;
    found[name] = parsed
      ? { expected, counts: parsed.counts, elsewhere: offProvider(parsed, expected) }
      : { expected, error: `no placement report in ${log}` };
  }
}

function placementText(results: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const [name, p] of Object.entries((results.placement ?? {}) as Record<string, GraphPlacement>)) {
    if (p.error || !p.counts || !p.elsewhere) {
      lines.push(`${name}: ${p.error}`);
      continue;
    }
    const counts = Object.entries(p.counts as Record<string, number>)
      .map(([ep, n]) => `${ep} ${n}`)
      .join(', ');
    const all = p.elsewhere.length === 0;
    lines.push(`${name}: ${all ? `every node on ${p.expected}` : `NOT all on ${p.expected}`} (${counts})`);
    for (const n of p.elsewhere) lines.push(`    ${n}`);
  }
  return `${lines.join('\n')}\n`;
}

async function doctorPhase(ctx: RunContext): Promise<void> {
  const run = promisify(execFile);
  // doctor reads these two only; loadConfig would pull the safety screen (sharp, tfjs) into the bundle.
  const libraryPath = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== '');
  const config = { home: join(ctx.work, 'home'), libraryPath } as Partial<Config> as Config;
  const summary = await doctor(config, { model: 'flux.1-schnell', variant: 'fp16', deviceId: 0 });
  const smi = await run('nvidia-smi', []).then(
    (r) => r.stdout,
    (e: Error) => `nvidia-smi: ${e.message.split('\n')[0]}\n`,
  );
  const payload = await readFile(fileURLToPath(new URL('../../payload.json', import.meta.url)), 'utf8').catch(
    () => '(no payload.json: not run from a payload)\n',
  );
  const native = nativeRuntime();
  const lines = [
    ...formatDoctor(summary),
    '',
    `node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'} (${ort.env.versions.common ?? '?'})`,
    `native addon: ${native.available ? `ONNX Runtime ${native.version}, providers ${native.providers.join(', ')}` : native.reason}`,
    `LD_LIBRARY_PATH=${process.env.LD_LIBRARY_PATH ?? ''}`,
    '',
    smi,
    `payload.json: ${payload}`,
  ];
  await writeFile(join(ctx.out, 'doctor.txt'), `${lines.join('\n')}\n`);
  ctx.results.doctor = { ok: summary.ok, lines: formatDoctor(summary), gpus: summary.gpus };
}

async function all(mode: Mode, out: string, work: string): Promise<void> {
  const ctx = new RunContext(profile(mode), out, work);
  ctx.results.host = { node: process.version, platform: `${process.platform}-${process.arch}` };
  await ctx.phase('doctor', () => doctorPhase(ctx));
  // The width builds take the longest and run in child processes: start them first, measure the
  // tiny model meanwhile.
  const width = await ctx.phase('width checkpoint', () => startWidthBuilds(ctx));
  const tiny = await ctx.phase('tiny build', () => buildTiny(work));
  if (tiny) {
    await ctx.phase('tiny numerics', async () => {
      ctx.results.tiny = await tinyNumerics(ctx, tiny);
    });
    await ctx.phase('tiny placement', () =>
      placement(
        ctx,
        'tiny',
        Object.fromEntries(
          TINY_GRAPHS.flatMap((g) => [
            [`tiny ${g} fp16`, join(tiny.fp16, `${g}.onnx`)],
            [`tiny ${g} fp32`, join(tiny.fp32, `${g}.onnx`)],
          ]),
        ),
      ),
    );
  }
  const models = width ? await ctx.phase('width builds', () => width.models) : undefined;
  if (models) {
    const full = ctx.profile.depths[0];
    await ctx.phase('width placement', () =>
      placement(ctx, 'width', { [`full width ${depthName(full)} fp16`]: models.graphs[0] as string }),
    );
    await ctx.phase('addon shape change', async () => {
      ctx.results.addonShapeChange = await addonShapeChange(ctx, models.graphs[0] as string, models.config);
    });
    await widthTimings(ctx, models);
    await loraCosts(ctx, models);
  }
  await writeFile(join(out, 'placement.txt'), placementText(ctx.results));
  await ctx.save();
  const failed = ctx.results.errors.length;
  console.log(failed === 0 ? 'all phases ran' : `${failed} phase(s) failed: see results.json`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'all') {
  const { values } = parseArgs({
    args: rest,
    options: { mode: { type: 'string' }, out: { type: 'string' }, work: { type: 'string' } },
  });
  if ((values.mode !== 'gpu' && values.mode !== 'dry') || !values.out || !values.work)
    throw new Error('usage: all --mode gpu|dry --out DIR --work DIR');
  await all(values.mode, values.out, values.work);
} else if (command === 'report') {
  const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
  if (!values.out) throw new Error('usage: report --out DIR');
  process.stdout.write(await writeReport(values.out));
} else if (command === 'build-graph') {
  const [checkpoint, config, out] = rest;
  if (!checkpoint || !config || !out) throw new Error('usage: build-graph CHECKPOINT CONFIG_JSON OUT');
  await buildGraphChild(checkpoint, config, out);
} else if (command === 'placement') {
  const [provider, ...models] = rest;
  await placementChild(parseProvider(provider ?? ''), models);
} else {
  throw new Error(`unknown command ${command ?? '(none)'}: all, report, build-graph or placement`);
}
