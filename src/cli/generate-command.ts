/**
 * @module cli/generate-command
 * `flux-serve generate`: one request from the command line, rendered in a worker thread, images
 * written to disk, the seed and timings printed; `--dump` writes the run's tensors as .npy.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { LORA_LIMITS } from '../api/submit-schema.js';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import {
  checkGenerationRequest,
  type LoraRequest,
  type OutputFormat,
  parseSize,
} from '../pipeline/generation-request.js';
import { type Provider, parseProvider } from '../runtime/provider.js';
import { writeNpy } from '../weights/npy-writer.js';
import { GenerationThread } from '../worker/generation-client.js';
import { loraResolver } from './lora-resolver.js';
import { resolveModelDir } from './model-dir.js';

interface GenerateFlags {
  model?: string;
  prompt: string;
  size: string;
  steps: number;
  seed: number;
  numImages: number;
  guidance: number;
  image?: string;
  mask?: string;
  strength: number;
  format: OutputFormat;
  out?: string;
  dump?: string;
  provider: Provider;
  lora: LoraRequest[];
}

function number(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${value} is not a number`);
  return n;
}

function providerArgument(value: string): Provider {
  try {
    return parseProvider(value, '--provider');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** `PATH[:SCALE]`; the scale is the part after the last ':' when it is a number (URLs have colons too). */
function loraArgument(value: string, previous: LoraRequest[]): LoraRequest[] {
  const colon = value.lastIndexOf(':');
  const tail = colon > 0 ? value.slice(colon + 1) : '';
  const scale = tail !== '' && Number.isFinite(Number(tail)) ? Number(tail) : undefined;
  const path = scale === undefined ? value : value.slice(0, colon);
  return [...previous, { path, scale: scale ?? 1 }];
}

/**
 * Makes the LoRAs local: a file on disk is used where it is (as if its folder were the LoRA folder);
 * anything else goes through the server's sources (LoRA folder, URL, Hugging Face repo).
 */
async function localLoras(
  config: Readonly<Config>,
  loras: LoraRequest[],
  log: Logger,
): Promise<LoraRequest[]> {
  const signal = new AbortController().signal;
  return Promise.all(
    loras.map(async (lora) => {
      const onDisk = await stat(lora.path).then(
        (s) => s.isFile(),
        () => false,
      );
      const source = onDisk ? { ...config, loraDir: dirname(resolve(lora.path)) } : config;
      const [local] = await loraResolver(source)(
        [onDisk ? { ...lora, path: basename(lora.path) } : lora],
        signal,
        log,
      );
      return { ...(local as LoraRequest), path: lora.path };
    }),
  );
}

/** A file path becomes base64; URLs, data URIs and base64 pass through as the API would get them. */
async function imageArgument(value: string | undefined): Promise<string | undefined> {
  if (!value) return undefined;
  if (/^(https?:|data:)/.test(value)) return value;
  return (await readFile(value)).toString('base64');
}

function outputPaths(out: string | undefined, seed: number, format: OutputFormat, count: number): string[] {
  const ext = format === 'jpeg' ? '.jpg' : `.${format}`;
  const base = out ?? `flux-${seed}${ext}`;
  if (count === 1) return [base];
  const e = extname(base);
  return Array.from(
    { length: count },
    (_, i) => `${base.slice(0, base.length - e.length)}-${i + 1}${e || ext}`,
  );
}

export function registerGenerate(program: Command, config: Readonly<Config>, log: Logger): void {
  program
    .command('generate')
    .description('generate images from a prompt (txt2img, img2img with --image, inpainting with --mask)')
    .option('--model <dir|name>', 'built model dir or name (default: the served model, tiny if no real one)')
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--size <W*H>', 'output size, each side 256–1536', '1024*1024')
    .option('--steps <n>', 'denoising steps 1–50 (schnell is distilled for 1–8; dev wants ~28)', number, 4)
    .option('--seed <n>', 'seed, -1 = random', number, -1)
    .option('--num-images <n>', 'images 1–4', number, 1)
    .option('--guidance <g>', 'guidance scale 0–10 (guidance-distilled models only)', number, 3.5)
    .option('--image <file|url>', 'init image for img2img / inpainting')
    .option('--mask <file|url>', 'inpainting mask: white = repaint, black = keep')
    .option('--strength <s>', 'img2img strength 0–1', number, 0.8)
    .option(
      '--lora <path[:scale]>',
      'LoRA file, LoRA-folder name, URL or owner/repo[/file], scale 0–4 (default 1); repeatable',
      loraArgument,
      [],
    )
    .addOption(
      new Option('--format <format>', 'output format').choices(['jpeg', 'png', 'webp']).default('png'),
    )
    .option('--out <path>', 'output file (with -1, -2 … for several images)')
    .option('--dump <dir>', 'write noise, txt, pooled, latents and sigmas as .npy')
    .option(
      '--provider <ep>',
      'execution provider: cpu, cuda or cuda:N (default FLUX_SERVE_PROVIDER, else cpu)',
      providerArgument,
      config.provider,
    )
    .action(async (flags: GenerateFlags) => {
      const { width, height } = parseSize(flags.size);
      const image = await imageArgument(flags.image);
      const maskImage = await imageArgument(flags.mask);
      const request = checkGenerationRequest({
        prompt: flags.prompt,
        width,
        height,
        steps: flags.steps,
        seed: flags.seed,
        numImages: flags.numImages,
        guidanceScale: flags.guidance,
        strength: flags.strength,
        outputFormat: flags.format,
        ...(image ? { image } : {}),
        ...(maskImage ? { maskImage } : {}),
      });
      if (flags.lora.length > LORA_LIMITS.maxCount)
        throw errors.USAGE(`--lora: at most ${LORA_LIMITS.maxCount} LoRAs`);
      for (const [i, l] of flags.lora.entries()) {
        const { min, max } = LORA_LIMITS.scale;
        if (l.scale < min || l.scale > max)
          throw errors.USAGE(`--lora ${i + 1}: scale ${l.scale} is not in ${min}–${max}`);
      }
      const loras = flags.lora.length > 0 ? await localLoras(config, flags.lora, log) : [];
      const modelDir = await resolveModelDir(config, log, flags.model);
      const thread = await GenerationThread.start({
        modelDir,
        provider: flags.provider,
        logLevel: config.logLevel,
        maxImageBytes: config.maxImageBytes,
        fetchTimeoutMs: config.fetchTimeoutMs,
        fetchPolicy: config.fetchPolicy,
        loraMemoryBytes: config.loraMemoryBytes,
        logPlacement: config.logPlacement,
        strictPlacement: config.strictPlacement,
        native: config.native,
      });
      try {
        const result = await thread.generate(
          loras.length > 0 ? { ...request, loras } : request,
          (p) => log.info(p, p.stage === 'denoise' ? 'denoising step' : p.stage),
          {
            dump: flags.dump !== undefined,
          },
        );
        const paths = outputPaths(flags.out, result.seed, flags.format, result.outputs.length);
        for (const [i, path] of paths.entries()) {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, result.outputs[i] as Buffer);
        }
        if (flags.dump) await dump(flags.dump, result, request.numImages);
        const timings = Object.fromEntries(
          Object.entries(result.timings).map(([k, v]) => [k, Math.round(v)]),
        );
        process.stdout.write(
          `${JSON.stringify({ seed: result.seed, files: paths, timings, droppedTokens: result.droppedTokens, warnings: result.warnings })}\n`,
        );
      } finally {
        await thread.close();
      }
    });
}

async function dump(
  dir: string,
  result: Awaited<ReturnType<GenerationThread['generate']>>,
  batch: number,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { width, height } = result.generationSize;
  const [h, w] = [height / 8, width / 8];
  const d = result.dump;
  if (!d) throw new Error('the generation thread returned no tensors to dump');
  await writeNpy(join(dir, 'noise.npy'), d.noise, [batch, 16, h, w]);
  await writeNpy(join(dir, 'latents.npy'), d.latents, [batch, 16, h, w]);
  await writeNpy(join(dir, 'pooled.npy'), d.pooled, [1, d.pooled.length]);
  await writeNpy(join(dir, 'txt.npy'), d.txt, [1, d.txtTokens, d.txt.length / d.txtTokens]);
  await writeNpy(join(dir, 'sigmas.npy'), d.sigmas, [d.sigmas.length]);
}
