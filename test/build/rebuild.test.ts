/**
 * Building into an existing model dir: `--only` keeps the other components (and refuses ones from
 * other weights), and a build killed midway leaves a dir the loaders refuse until a rerun, which
 * resumes what the killed build finished.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { prepareDefaultModel } from '../../src/build/prepare-model.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { resolveModelDir } from '../../src/cli/model-dir.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { render } from '../../src/pipeline/render.js';
import { loadFluxModel } from '../../src/runtime/flux-model.js';
import { BUILD_MARKER, MANIFEST_FILE, modelDirState, readManifest } from '../../src/runtime/manifest.js';
import { offlineRenderContext } from '../support/render-context.js';

const log = createLogger('silent');
const CHILD = fileURLToPath(new URL('./interrupt-build.ts', import.meta.url));
let root: string;
let ckpt: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rebuild-'));
  ckpt = join(root, 'ckpt');
  await writeTinyCheckpoint(ckpt, await loadModelSpec('tiny'), { seed: 3 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Loads the dir as the server does and renders one 64² image; returns its size. */
async function renderWith(dir: string): Promise<{ width?: number; height?: number }> {
  const model = await loadFluxModel(dir, { provider: 'cpu', log });
  try {
    const ctx = await offlineRenderContext(model);
    const request = { prompt: 'a boat', width: 64, height: 64, steps: 1, seed: 7, numImages: 1 };
    const { outputs } = await render(ctx, {
      ...request,
      guidanceScale: 3.5,
      strength: 0.8,
      outputFormat: 'png',
    });
    expect(outputs).toHaveLength(1);
    const { width, height } = await sharp(outputs[0]).metadata();
    return { width, height };
  } finally {
    await model.release();
  }
}

/** A logger whose lines the test reads back. */
function capturingLogger(): { log: pino.Logger; messages: () => string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).trim().split('\n'));
      done();
    },
  });
  return {
    log: pino({ level: 'info' }, sink),
    messages: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
  };
}

const fp32 = { dtype: 'float32', ops: 'fused', log } as const;

describe('build --only into a built model dir', () => {
  it('rebuilds the transformer and keeps the other four components', async () => {
    const dir = join(root, 'only');
    await buildModel(ckpt, dir, fp32);
    const before = await readManifest(dir);
    const built = await buildModel(ckpt, dir, { ...fp32, quant: 'int8', only: ['transformer'] });
    expect(Object.keys(built)).toEqual(['transformer']);
    const after = await readManifest(dir);
    expect(Object.keys(after.components)).toEqual([
      'clip',
      't5',
      'transformer',
      'vae_decoder',
      'vae_encoder',
    ]);
    expect(after.components.transformer?.quant).toBe('int8');
    for (const name of ['clip', 't5', 'vae_decoder', 'vae_encoder'])
      expect(after.components[name]).toEqual(before.components[name]);
    expect(await renderWith(dir)).toEqual({ width: 64, height: 64 });
  });

  it('refuses a transformer from other weights and leaves the dir as it was', async () => {
    const dir = join(root, 'other-weights');
    await buildModel(ckpt, dir, fp32);
    const manifest = await readFile(join(dir, MANIFEST_FILE), 'utf8');
    const other = join(root, 'ckpt-other');
    await writeTinyCheckpoint(other, await loadModelSpec('tiny'), { seed: 4 });
    await expect(buildModel(other, dir, { ...fp32, only: ['transformer'] })).rejects.toThrow(
      /has a transformer built from other weights .* build all components \(without --only\) or into a new --out/,
    );
    expect(await readFile(join(dir, MANIFEST_FILE), 'utf8')).toBe(manifest);
    expect(await modelDirState(dir)).toBe('built');
  });

  it('refuses a dir built from another checkpoint when it has nothing to compare', async () => {
    const dir = join(root, 'other-source');
    await buildModel(ckpt, dir, { ...fp32, only: ['clip'] });
    const moved = join(root, 'ckpt-moved');
    await cp(ckpt, moved, { recursive: true });
    await expect(buildModel(moved, dir, { ...fp32, only: ['t5'] })).rejects.toThrow(
      `${dir} was built from ${ckpt}, not ${moved}`,
    );
  });
});

describe('a build killed midway', () => {
  it('leaves a dir refused until the rerun, which resumes the finished components', async () => {
    const dir = join(root, 'killed');
    await buildModel(ckpt, dir, fp32);
    // An int4 rebuild over the fp32 dir, killed once the new transformer is in place.
    const child = await new Promise<{ code: number | null; signal: string | null }>((done) =>
      execFile(process.execPath, ['--import', 'tsx', CHILD, ckpt, dir, 'transformer']).on(
        'exit',
        (code, signal) => done({ code, signal }),
      ),
    );
    expect(child).toEqual({ code: null, signal: 'SIGKILL' });

    expect(await modelDirState(dir)).toBe('interrupted');
    const refused = /its build was interrupted .*: run flux-serve build again/;
    await expect(readManifest(dir)).rejects.toThrow(refused);
    await expect(loadFluxModel(dir, { provider: 'cpu', log })).rejects.toThrow(refused);
    const config = loadConfig({ FLUX_SERVE_HOME: join(root, 'home'), HF_HUB_CACHE: join(root, 'hub') });
    await expect(resolveModelDir(config, log, dir)).rejects.toThrow(refused);
    const marker = JSON.parse(await readFile(join(dir, BUILD_MARKER), 'utf8'));
    expect(Object.keys(marker.components)).toEqual(['clip', 't5', 'transformer']);

    const transformer = (await stat(join(dir, 'transformer.onnx'))).ino;
    const rerun = capturingLogger();
    await buildModel(ckpt, dir, { ...fp32, quant: 'int4', log: rerun.log });
    expect(rerun.messages()).toEqual(
      expect.arrayContaining([
        'clip: already written by the interrupted build, kept',
        't5: already written by the interrupted build, kept',
        'transformer: already written by the interrupted build, kept',
        'building vae_decoder',
        'building vae_encoder',
      ]),
    );
    expect(rerun.messages()).not.toContain('building transformer');
    expect((await stat(join(dir, 'transformer.onnx'))).ino).toBe(transformer);
    expect(await modelDirState(dir)).toBe('built');
    const manifest = await readManifest(dir);
    expect(manifest.components.transformer?.quant).toBe('int4');
    expect(manifest.components.t5?.quant).toBe('int4');
    expect(await renderWith(dir)).toEqual({ width: 64, height: 64 });
  });

  it('a failed build of the tiny model is built again by prepare', async () => {
    const models = join(root, 'home-models');
    const tiny = join(models, 'tiny');
    const crash = new Error('disk full');
    await expect(
      buildModel(ckpt, tiny, {
        ...fp32,
        afterComponent: () => {
          throw crash;
        },
      }),
    ).rejects.toBe(crash);
    expect(await modelDirState(tiny)).toBe('interrupted');
    expect(await prepareDefaultModel(models, log)).toBe(tiny);
    expect(await modelDirState(tiny)).toBe('built');
    expect(Object.keys((await readManifest(tiny)).components)).toHaveLength(5);
  });
});
