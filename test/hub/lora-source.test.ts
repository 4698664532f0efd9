/**
 * What a LoRA `path` names (hub/lora-source) and LoRA folder files through resolveLora: the
 * precedence of the forms, and no way out of the folder.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { type ResolveLoraOptions, resolveLora } from '../../src/hub/lora-resolve.js';
import { parseLoraSource } from '../../src/hub/lora-source.js';
import { expectFluxError, tempDir } from '../weights/fixtures.js';
import { loraBytes, sha256 } from './lora-server.js';

const USAGE = 'FLUX_ERR_USAGE';
const F = 'loras[2].path';
let loraDir: string;
let outside: string;

beforeEach(async () => {
  loraDir = await tempDir();
  outside = await tempDir();
  await mkdir(join(loraDir, 'styles'));
  await mkdir(join(loraDir, 'acme', 'repo'), { recursive: true });
  await writeFile(join(loraDir, 'my-style.safetensors'), loraBytes(1));
  await writeFile(join(loraDir, 'styles', 'ink.safetensors'), loraBytes(2));
  await writeFile(join(loraDir, 'acme', 'repo', 'x.safetensors'), loraBytes(3));
  await writeFile(join(loraDir, 'notes.txt'), 'hello');
  await writeFile(join(loraDir, 'page.safetensors'), '<html>not a lora</html>');
  await writeFile(join(outside, 'secret.safetensors'), loraBytes(4));
});

describe('parseLoraSource', () => {
  it.each([
    ['https://example.com/a.safetensors', { kind: 'url', url: 'https://example.com/a.safetensors' }],
    ['HTTP://example.com/dl/1', { kind: 'url', url: 'HTTP://example.com/dl/1' }],
    [
      'Octree/flux-schnell-lora',
      { kind: 'hub', repo: 'Octree/flux-schnell-lora', revision: undefined, file: undefined },
    ],
    ['acme/lora@v1.0', { kind: 'hub', repo: 'acme/lora', revision: 'v1.0', file: undefined }],
    [
      'acme/lora/sub/a.safetensors',
      { kind: 'hub', repo: 'acme/lora', revision: undefined, file: 'sub/a.safetensors' },
    ],
    [
      'acme/lora@abc/a.safetensors',
      { kind: 'hub', repo: 'acme/lora', revision: 'abc', file: 'a.safetensors' },
    ],
    // Local names: no hub shape, or a file that exists in the folder (it shadows the hub).
    ['my-style.safetensors', { kind: 'local', name: 'my-style.safetensors' }],
    ['styles/ink.safetensors', { kind: 'local', name: 'styles/ink.safetensors' }],
    ['styles/missing.safetensors', { kind: 'local', name: 'styles/missing.safetensors' }],
    ['acme/repo/x.safetensors', { kind: 'local', name: 'acme/repo/x.safetensors' }],
    ['acme/lora/readme.md', { kind: 'local', name: 'acme/lora/readme.md' }],
    ['just-a-name', { kind: 'local', name: 'just-a-name' }],
  ])('reads %s', async (path, expected) => {
    expect(await parseLoraSource(F, path, loraDir)).toEqual(expected);
  });

  it('reads a two-segment name as a repo when no folder is configured', async () => {
    expect(await parseLoraSource(F, 'acme/repo/x.safetensors', undefined)).toMatchObject({ kind: 'hub' });
  });
});

describe('resolveLora: LoRA folder files', () => {
  const opts = (o: Partial<ResolveLoraOptions> = {}): ResolveLoraOptions => ({
    cacheDir: join(loraDir, '.cache-unused'),
    loraDir,
    field: F,
    timeoutMs: 1000,
    policy: {},
    offline: true, // no network: a folder file never needs it
    ...o,
  });

  it('resolves a file and a file in a sub-folder in place', async () => {
    const a = await resolveLora('my-style.safetensors', opts());
    expect(a).toEqual({
      file: join(loraDir, 'my-style.safetensors'),
      sha256: sha256(loraBytes(1)),
      bytes: loraBytes(1).length,
      source: 'LoRA folder file my-style.safetensors',
      cached: true,
    });
    expect((await resolveLora('styles/ink.safetensors', opts())).sha256).toBe(sha256(loraBytes(2)));
    expect((await resolveLora('acme/repo/x.safetensors', opts())).sha256).toBe(sha256(loraBytes(3)));
  });

  it.each([
    [
      '../secret.safetensors',
      /^loras\[2\]\.path: "\.\.\/secret\.safetensors" leaves the LoRA folder \(\.\.\)$/,
    ],
    ['styles/../../x.safetensors', /leaves the LoRA folder/],
    ['/etc/passwd', /"\/etc\/passwd" is an absolute path; name a file inside the LoRA folder$/],
    ['C:/x.safetensors', /is an absolute path/],
    ['styles\\ink.safetensors', /contains a backslash/],
    ['', /"" is empty$/],
    ['missing.safetensors', /"missing\.safetensors" is not in the LoRA folder$/],
    [
      'styles',
      /"styles" is not a URL, a Hugging Face owner\/repo or owner\/repo\/file\.safetensors, or a \.safetensors file name$/,
    ],
    ['notes.txt', /is not a URL, a Hugging Face owner\/repo/],
    [
      'page.safetensors',
      /LoRA folder file page\.safetensors is not a safetensors file \(it looks like an HTML or XML page\)$/,
    ],
  ])('refuses %j', async (path, message) => {
    await expectFluxError(resolveLora(path, opts()), USAGE, message);
  });

  it('refuses a symlink that leads out of the folder, and follows one that stays inside', async () => {
    await symlink(join(outside, 'secret.safetensors'), join(loraDir, 'escape.safetensors'));
    await symlink(join(outside), join(loraDir, 'out'));
    await symlink(join(loraDir, 'styles', 'ink.safetensors'), join(loraDir, 'alias.safetensors'));
    await expectFluxError(
      resolveLora('escape.safetensors', opts()),
      USAGE,
      /"escape\.safetensors" is a link that leads out of the LoRA folder$/,
    );
    await expectFluxError(
      resolveLora('out/secret.safetensors', opts()),
      USAGE,
      /leads out of the LoRA folder/,
    );
    expect((await resolveLora('alias.safetensors', opts())).file).toBe(
      join(loraDir, 'styles', 'ink.safetensors'),
    );
  });

  it('says when no folder is configured', async () => {
    await expectFluxError(
      resolveLora('my-style.safetensors', opts({ loraDir: undefined })),
      USAGE,
      /no LoRA folder is configured to look it up in$/,
    );
  });

  it('applies the size limit to folder files too', async () => {
    await expectFluxError(
      resolveLora('my-style.safetensors', opts({ maxBytes: 100 })),
      USAGE,
      /LoRA folder file my-style\.safetensors is \d+ bytes, above the limit of 100 bytes$/,
    );
  });
});
