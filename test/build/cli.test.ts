/**
 * The command line end to end, as a user runs it: tiny checkpoint, dry run, build, manifest, errors.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../../src/build/model-spec.js';
import type { Manifest } from '../../src/runtime/manifest.js';
import { openCheckpoint } from '../../src/weights/checkpoint.js';
import { fixtureBytes } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';
import { type CliResult, runCli } from '../support/cli-process.js';

const cli = (...args: string[]): Promise<CliResult> => runCli({}, ...args);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flux-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('flux-serve build --dry-run', () => {
  it.each([
    ['flux.1-schnell', '776', '11,891,178,560'],
    ['flux.1-dev', '780', '11,901,408,320'],
  ])('%s: %s tensors / %s parameters from the config alone', async (model, tensors, params) => {
    const { stdout, code } = await cli('build', model, '--dry-run');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`total\\s+${tensors} tensors\\s+${params} parameters`));
  });
});

describe('flux-serve tiny + build', () => {
  it('writes the HF layout and builds a model dir with a manifest', async () => {
    const ckpt = join(dir, 'ckpt');
    expect((await cli('tiny', ckpt, '--seed', '4')).code).toBe(0);
    expect((await readdir(ckpt)).sort()).toEqual(
      [
        'ae.safetensors',
        'flux1-schnell.safetensors',
        'model_index.json',
        'scheduler',
        'text_encoder',
        'text_encoder_2',
        'tokenizer',
        'tokenizer_2',
        'transformer',
        'vae',
      ].sort(),
    );
    expect(await readdir(join(ckpt, 'tokenizer_2'))).toContain('tokenizer.json');
    const weights = await openCheckpoint([join(ckpt, 'flux1-schnell.safetensors')]);
    expect(weights.names()).toHaveLength(80);
    expect(weights.info('double_blocks.0.img_attn.qkv.weight')).toEqual({ dtype: 'BF16', shape: [96, 32] });
    await weights.close();

    const out = join(dir, 'model');
    const built = await cli('build', ckpt, '--out', out, '--dtype', 'fp32');
    expect(built.code).toBe(0);
    expect(built.stdout).toContain('transformer 80 tensors, 126,016 parameters, float32, fused');
    expect(built.stdout).toContain('vae_decoder 136 tensors');
    expect(built.stdout.trim().split('\n')).toHaveLength(5);
    expect(built.stderr).toContain('writing transformer'); // progress lines in the log
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(Object.keys(manifest.components)).toEqual([
      'clip',
      't5',
      'transformer',
      'vae_decoder',
      'vae_encoder',
    ]);
    expect(manifest.components.t5?.sources.map((f) => f.path)).toEqual([
      'text_encoder_2/model.safetensors.index.json',
      'text_encoder_2/model-00001-of-00002.safetensors',
      'text_encoder_2/model-00002-of-00002.safetensors',
    ]);
    expect(manifest.components.vae_decoder?.dtype).toBe('float32');
    const t = manifest.components.transformer;
    expect(t?.layers).toHaveLength(34);
    expect(t?.layers[0]).toEqual({
      name: 'img_in',
      in: 64,
      out: 32,
      loraA: 'lora.img_in.a',
      loraB: 'lora.img_in.b',
      loraDType: 'float32',
      parts: [],
    });
    expect(t?.inputs.map((i) => i.name)).toEqual(['img', 'img_ids', 'txt', 'txt_ids', 'timesteps', 'y']);
    expect(t?.sources[0]?.path).toBe('flux1-schnell.safetensors');
    expect(t?.sources[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('generate (after the build above) writes images, prints seed and timings, dumps .npy', async () => {
    const out = join(dir, 'gen', 'fox.jpg');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'gen'), { recursive: true });
    const { stdout, code } = await cli(
      'generate',
      '--model',
      join(dir, 'model'),
      '--prompt',
      'a fox',
      '--size',
      '256*272',
      '--seed',
      '3',
      '--format',
      'jpeg',
      '--out',
      out,
      '--dump',
      join(dir, 'dump'),
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { seed: number; files: string[]; timings: Record<string, number> };
    expect(report.seed).toBe(3);
    expect(report.files).toEqual([out]);
    expect(Object.keys(report.timings)).toEqual(
      expect.arrayContaining(['textMs', 'denoiseMs', 'decodeMs', 'runtimeMs', 'encodeMs']),
    );
    const { default: sharp } = await import('sharp');
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 256, 272]);
    expect((await readdir(join(dir, 'dump'))).sort()).toEqual([
      'latents.npy',
      'noise.npy',
      'pooled.npy',
      'sigmas.npy',
      'txt.npy',
    ]);
    const noise = await readFile(join(dir, 'dump', 'noise.npy'));
    expect(noise.toString('latin1', 10, 80)).toContain("'shape': (1, 16, 34, 32)");
  });

  it('generate --lora FILE:SCALE applies a LoRA file from disk; scale 0 gives the image without it', async () => {
    const lora = join(dir, 'style.safetensors');
    await writeFile(lora, await fixtureBytes(FORMATS.diffusers((await loadModelSpec('tiny')).transformer)));
    const gen = async (name: string, ...extra: string[]) => {
      const out = join(dir, 'gen', name);
      const args = ['--model', join(dir, 'model'), '--prompt', 'x', '--size', '256*256', '--steps', '1'];
      const { code, stdout } = await cli('generate', ...args, '--seed', '5', '--out', out, ...extra);
      expect(code).toBe(0);
      return { bytes: await readFile(out), report: JSON.parse(stdout) as { warnings: string[] } };
    };
    const plain = await gen('plain.png');
    const styled = await gen('styled.png', '--lora', `${lora}:1.5`);
    expect(styled.bytes.equals(plain.bytes)).toBe(false);
    expect(styled.report.warnings).toEqual([]);
    expect((await gen('off.png', '--lora', `${lora}:0`)).bytes.equals(plain.bytes)).toBe(true);
  });

  it('FLUX_SERVE_LOG_PLACEMENT=1: ONNX Runtime logs the provider of every node at session creation', async () => {
    const args = ['--model', join(dir, 'model'), '--prompt', 'x', '--size', '256*256', '--steps', '1'];
    const out = join(dir, 'gen', 'placed.png');
    const placed = await runCli({ FLUX_SERVE_LOG_PLACEMENT: '1' }, 'generate', ...args, '--out', out);
    expect(placed.code, placed.stderr.slice(-3000)).toBe(0);
    expect(placed.stderr).toMatch(/All nodes placed on \[CPUExecutionProvider\]. Number of nodes: [1-9]/);
    const quiet = await cli('generate', ...args, '--out', out);
    expect(quiet.stderr).not.toMatch(/nodes placed on/);
  });

  it('generate refuses an out-of-range size naming the field (exit 2)', async () => {
    const { code, stderr } = await cli(
      'generate',
      '--model',
      join(dir, 'model'),
      '--prompt',
      'x',
      '--size',
      '2048*512',
    );
    expect(code).toBe(2);
    expect(stderr).toContain('size: width 2048 is above the maximum 1536');
  });

  it('command-line errors exit with 2 and a message, no stack: a bad option value, an unknown --model', async () => {
    const badDtype = await cli('build', join(dir, 'ckpt'), '--dtype', 'fp8');
    expect(badDtype.code).toBe(2);
    expect(badDtype.stderr).toMatch(/argument 'fp8' is invalid\. Allowed choices are fp32, fp16/);
    const noModel = await cli('generate', '--model', join(dir, 'nowhere'), '--prompt', 'x');
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toMatch(/--model .*nowhere: no built model there/);
    expect(noModel.stderr).not.toMatch(/\n\s+at /);
    expect((await cli('build', '--help')).code).toBe(0);
  });

  it('a missing checkpoint is a usage error (exit 2) naming the path', async () => {
    const { code, stderr } = await cli('build', join(dir, 'nope'), '--out', join(dir, 'x'));
    expect(code).toBe(2);
    // One plain sentence, not a log record.
    expect(stderr.trim()).toMatch(/^flux-serve: error: .*nope is not a FLUX checkpoint.*\(FLUX_ERR_USAGE\)$/);
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await cli('--version');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(
      JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')).version,
    );
  });
});
