/**
 * `flux-serve pull` against a loopback server standing in for the hub (test/hub/lora-server): the
 * "repo" is a tiny checkpoint written by build/tiny-checkpoint plus diffusers-folder shards that the
 * pull must skip; files land in the Hugging Face cache layout, a cut download resumes with a Range
 * request, a gated repo is refused with HF_TOKEN wording, and an offline pull makes no request.
 */
import { lstat, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkpointFiles } from '../../src/build/checkpoint-files.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { resolveModelDir } from '../../src/cli/model-dir.js';
import { formatModels, listModels } from '../../src/cli/models-command.js';
import { loadConfig } from '../../src/config.js';
import { listCachedRepos, repoCacheDir } from '../../src/hub/hf-cache.js';
import { findSnapshot, type PullOptions, type PullProgress, pullRepo } from '../../src/hub/model-pull.js';
import { createLogger } from '../../src/log.js';
import { BUILD_MARKER, readManifest } from '../../src/runtime/manifest.js';
import { expectFluxError, tempDir } from '../weights/fixtures.js';
import { FakeHosts, type ServedFile } from './lora-server.js';

const hosts = new FakeHosts();
const SHA = '0123456789abcdef0123456789abcdef01234567';
const REPO = 'acme/tiny-flux';
let files: Record<string, Buffer>;
let cacheDir: string;

async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, base)));
    else out.push(relative(base, p));
  }
  return out;
}

beforeAll(async () => {
  await hosts.start();
  const ckpt = await tempDir();
  await writeTinyCheckpoint(ckpt, await loadModelSpec('tiny'), { seed: 3 });
  files = {};
  for (const p of await walk(ckpt)) files[p] = await readFile(join(ckpt, p));
  // The diffusers copy of the transformer, which a repo with the root file must not cost a download.
  files['transformer/diffusion_pytorch_model-00001-of-00002.safetensors'] = Buffer.from('shard one');
  files['transformer/diffusion_pytorch_model-00002-of-00002.safetensors'] = Buffer.from('shard two');
  files['transformer/diffusion_pytorch_model.safetensors.index.json'] = Buffer.from('{"weight_map":{}}');
  files['schnell_grid.jpeg'] = Buffer.from('not needed');
});
afterAll(() => hosts.stop());
beforeEach(async () => {
  hosts.reset();
  cacheDir = await tempDir();
});

const options = (o: Partial<PullOptions> = {}): PullOptions => ({
  cacheDir,
  endpoint: hosts.origin('hub.test'),
  select: checkpointFiles,
  policy: { allowLoopback: true },
  lookup: hosts.lookup,
  timeoutMs: 5000,
  freeBytes: async () => 1e12,
  ...o,
});

describe('checkpointFiles', () => {
  it('takes the root single-file checkpoints, not the diffusers folders', () => {
    const chosen = checkpointFiles(Object.keys(files));
    expect(chosen).toContain('flux1-schnell.safetensors');
    expect(chosen).toContain('ae.safetensors');
    expect(chosen).toContain('transformer/config.json');
    expect(chosen).toContain('text_encoder_2/model-00002-of-00002.safetensors');
    expect(chosen).toContain('tokenizer_2/tokenizer.json');
    expect(chosen.filter((p) => p.startsWith('transformer/diffusion'))).toEqual([]);
    expect(chosen).not.toContain('schnell_grid.jpeg');
  });

  it('takes the diffusers shards when the repo has no root file', () => {
    const paths = Object.keys(files).filter((p) => p !== 'flux1-schnell.safetensors');
    const chosen = checkpointFiles(paths);
    expect(chosen).toContain('transformer/diffusion_pytorch_model-00002-of-00002.safetensors');
    expect(chosen).toContain('transformer/diffusion_pytorch_model.safetensors.index.json');
  });

  it('refuses a repo that is not a FLUX checkpoint', () => {
    expect(() => checkpointFiles(['README.md', 'lora.safetensors'])).toThrow(/not a FLUX checkpoint repo/);
  });
});

describe('pullRepo', () => {
  it('downloads only what the build needs into the Hugging Face cache layout, pinned to the commit', async () => {
    hosts.repo(REPO, SHA, files);
    const progress: PullProgress[] = [];
    const pulled = await pullRepo(REPO, options({ onProgress: (p) => progress.push(p) }));
    const root = repoCacheDir(cacheDir, REPO);
    expect(root).toBe(join(cacheDir, 'models--acme--tiny-flux'));
    expect(pulled.commit).toBe(SHA);
    expect(pulled.dir).toBe(join(root, 'snapshots', SHA));
    expect(await readFile(join(root, 'refs', 'main'), 'utf8')).toBe(SHA);
    const link = join(pulled.dir, 'text_encoder_2', 'model-00001-of-00002.safetensors');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toMatch(/^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
    const expected = files['text_encoder_2/model-00001-of-00002.safetensors'] as Buffer;
    expect((await readFile(link)).equals(expected)).toBe(true);
    const snapshot = (await walk(pulled.dir)).sort();
    expect(snapshot).toEqual(checkpointFiles(Object.keys(files)));
    expect(hosts.count(`/${REPO}/resolve/${SHA}/transformer/diffusion`)).toBe(0);
    const total = snapshot.reduce((n, p) => n + (files[p]?.length ?? 0), 0);
    expect(pulled.downloadedBytes).toBe(total);
    expect(progress.at(-1)).toMatchObject({ bytesDone: total, bytesTotal: total });
    // Known to the cache scanner and to findSnapshot, without a request.
    hosts.reset();
    expect(await findSnapshot(cacheDir, REPO, 'main', ['flux1-schnell.safetensors'])).toBe(pulled.dir);
    expect((await listCachedRepos(cacheDir)).map((r) => r.repo)).toEqual([REPO]);
    expect(hosts.seen).toEqual([]);
  });

  it('pulls again with one listing request and no download; offline with no request at all', async () => {
    hosts.repo(REPO, SHA, files);
    await pullRepo(REPO, options());
    hosts.seen = [];
    const again = await pullRepo(REPO, options());
    expect(again.downloadedBytes).toBe(0);
    expect(hosts.seen.map((s) => s.path)).toEqual([`/api/models/${REPO}/revision/main`]);
    hosts.seen = [];
    const offline = await pullRepo(REPO, options({ offline: true }));
    expect(offline.dir).toBe(again.dir);
    expect(offline.files).toEqual(checkpointFiles(Object.keys(files)));
    expect(hosts.seen).toEqual([]);
    // A shard whose blob is gone: offline, the pull says the checkpoint is incomplete, not done.
    const shard = join(offline.dir, 'text_encoder_2', 'model-00002-of-00002.safetensors');
    await rm(join(offline.dir, 'text_encoder_2', await readlink(shard)));
    await expectFluxError(
      pullRepo(REPO, options({ offline: true })),
      'FLUX_ERR_USAGE',
      /only partly in the Hugging Face cache \(.*t5 shards \(1 of 2 next to text_encoder_2\/model.safetensors.index.json\).*offline mode/,
    );
    expect(hosts.seen).toEqual([]);
    await expectFluxError(
      pullRepo('acme/other', options({ offline: true })),
      'FLUX_ERR_USAGE',
      /not in the Hugging Face cache .* offline mode \(HF_HUB_OFFLINE\)/,
    );
  });

  it('resumes a cut download with a Range request and checks the SHA-256', async () => {
    const big = 'text_encoder_2/model-00002-of-00002.safetensors';
    const served: Record<string, Buffer | ServedFile> = { ...files };
    const bytes = files[big] as Buffer;
    served[big] = { bytes, cutAfter: Math.floor(bytes.length / 2) };
    hosts.repo(REPO, SHA, served);
    await expectFluxError(pullRepo(REPO, options()), 'FLUX_ERR_USAGE', /cut short/);
    const pulled = await pullRepo(REPO, options());
    const ranged = hosts.seen.filter((s) => s.range !== undefined && s.host === 'cdn.test');
    expect(ranged).toHaveLength(1);
    expect(ranged[0]?.range).toMatch(/^bytes=\d+-$/);
    expect((await readFile(join(pulled.dir, big))).equals(bytes)).toBe(true);
    expect(
      (await readdir(join(repoCacheDir(cacheDir, REPO), 'blobs'))).filter((f) => f.includes('.')),
    ).toEqual([]);
  });

  it('discards a file whose SHA-256 is not the listed one', async () => {
    const wrong = Object.fromEntries(Object.keys(files).map((p) => [p, 'f'.repeat(64)]));
    hosts.repo(REPO, SHA, files, { 'ae.safetensors': wrong['ae.safetensors'] as string });
    await expectFluxError(pullRepo(REPO, options()), 'FLUX_ERR_USAGE', /ae\.safetensors failed its checksum/);
  });

  it('says what to do about a gated repo, with and without HF_TOKEN', async () => {
    hosts.route(`/api/models/acme/gated/revision/main`, (_req, res) => {
      res.writeHead(401, { 'x-error-code': 'GatedRepo' }).end();
    });
    await expectFluxError(pullRepo('acme/gated', options()), 'FLUX_ERR_USAGE', /gated.*set HF_TOKEN/);
    await expectFluxError(
      pullRepo('acme/gated', options({ token: 'hf_x' })),
      'FLUX_ERR_USAGE',
      /gated.*account of HF_TOKEN has no access/,
    );
    expect(hosts.seen.at(-1)?.authorization).toBe('Bearer hf_x');
  });

  it('checks the free disk space before downloading anything', async () => {
    hosts.repo(REPO, SHA, files);
    await expectFluxError(
      pullRepo(REPO, options({ freeBytes: async () => 1000 })),
      'FLUX_ERR_USAGE',
      /to download but only 1000 bytes free.*HF_HUB_CACHE/,
    );
    expect(hosts.count('/cdn/')).toBe(0);
  });
});

describe('a pulled model by name', () => {
  it('is built on first use into the model home, then reused', async () => {
    hosts.repo(REPO, SHA, files);
    await pullRepo(REPO, options());
    const home = await tempDir();
    const config = loadConfig({ FLUX_SERVE_HOME: home, HF_HUB_CACHE: cacheDir });
    const log = createLogger('silent');
    const dir = await resolveModelDir(config, log, REPO);
    expect(dir).toBe(join(home, 'models', 'acme--tiny-flux'));
    const manifest = await readManifest(dir);
    expect(manifest.source).toBe(join(cacheDir, 'models--acme--tiny-flux', 'snapshots', SHA));
    await writeFile(join(dir, 'marker'), 'x');
    expect(await resolveModelDir(config, log, REPO)).toBe(dir);
    await expect(resolveModelDir(config, log, 'acme/not-pulled')).rejects.toThrow(
      /flux-serve pull acme\/not-pulled/,
    );
    const listing = await listModels(config);
    expect(listing.otherPulled).toEqual([REPO]);
    expect(listing.built.map((b) => b.name)).toEqual(['acme--tiny-flux']);
    expect(listing.known.map((k) => [k.name, k.pulled, k.built])).toEqual([
      ['flux.1-dev', null, false],
      ['flux.1-schnell', null, false],
    ]);
    expect(listing.interrupted).toEqual([]);
    // A build cut off: listed as such, not as built.
    await rename(join(dir, 'manifest.json'), join(dir, BUILD_MARKER));
    const cut = await listModels(config);
    expect(cut.built).toEqual([]);
    expect(cut.interrupted).toEqual([dir]);
    expect(formatModels(cut)).toContain('builds cut off (run flux-serve build again):');
  });
});

describe('config', () => {
  it('finds the hub cache as huggingface_hub does', () => {
    expect(loadConfig({ HF_HUB_CACHE: '/a', HF_HOME: '/b' }).hub.cacheDir).toBe('/a');
    expect(loadConfig({ HF_HOME: '/b' }).hub.cacheDir).toBe('/b/hub');
    expect(loadConfig({ XDG_CACHE_HOME: '/x' }).hub.cacheDir).toBe('/x/huggingface/hub');
    expect(loadConfig({ HF_HUB_OFFLINE: '1', HF_TOKEN: 't' }).hub).toMatchObject({
      offline: true,
      token: 't',
    });
  });
});
