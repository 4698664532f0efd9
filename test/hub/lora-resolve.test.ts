/**
 * resolveLora against a loopback server standing in for the hub, its CDN and other hosts
 * (test/hub/lora-server). Nothing leaves the host: names go through a stub resolver.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { holdLoraBlob, type ResolveLoraOptions, resolveLora } from '../../src/hub/lora-resolve.js';
import { expectFluxError, tempDir } from '../weights/fixtures.js';
import { FakeHosts, loraBytes, sha256 } from './lora-server.js';

const hosts = new FakeHosts();
const USAGE = 'FLUX_ERR_USAGE';
const SHA = 'ecae74bd84d334c6a46ff44264010b4d6f4a6775';
let cacheDir: string;

beforeAll(() => hosts.start());
afterAll(() => hosts.stop());
beforeEach(async () => {
  hosts.reset();
  cacheDir = await tempDir();
});

const opts = (o: Partial<ResolveLoraOptions> = {}): ResolveLoraOptions => ({
  cacheDir,
  field: 'loras[0].path',
  timeoutMs: 2000,
  maxBytes: 100_000,
  policy: { allowLoopback: true },
  lookup: hosts.lookup,
  hubEndpoint: hosts.origin('hub.test'),
  ...o,
});

describe('resolveLora: URLs', () => {
  it('streams a URL into the content-addressed cache and reports progress', async () => {
    const bytes = loraBytes(1);
    hosts.file('/a.safetensors', { bytes });
    const progress: [number, number | undefined][] = [];
    const url = `${hosts.origin()}/a.safetensors`;
    const r = await resolveLora(url, opts({ onProgress: (n, t) => progress.push([n, t]) }));
    expect(r).toEqual({
      file: join(cacheDir, 'blobs', `${sha256(bytes)}.safetensors`),
      sha256: sha256(bytes),
      bytes: bytes.length,
      source: url,
      cached: false,
    });
    expect(await readFile(r.file)).toEqual(bytes);
    expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);
    expect(await readdir(join(cacheDir, 'partial'))).toEqual([]);
  });

  it('serves a cached URL without any request, and downloads again when the blob is gone', async () => {
    hosts.file('/a.safetensors', { bytes: loraBytes(1) });
    const url = `${hosts.origin()}/a.safetensors`;
    const first = await resolveLora(url, opts());
    expect(hosts.count()).toBe(1);
    const again = await resolveLora(url, opts());
    expect(again).toEqual({ ...first, cached: true });
    expect(hosts.count()).toBe(1);
    await rm(first.file);
    expect((await resolveLora(url, opts())).cached).toBe(false);
    expect(hosts.count()).toBe(2);
  });

  it('follows a Civitai-style download redirect and names the file from Content-Disposition', async () => {
    const bytes = loraBytes(2);
    hosts.route('/api/download/models/12345', (_req, res) => {
      res.writeHead(307, { location: `${hosts.origin('cdn.test')}/signed/xyz?token=t` }).end();
    });
    hosts.file('/signed/xyz', { bytes, disposition: `attachment; filename="ink_style.safetensors"` });
    const url = `${hosts.origin()}/api/download/models/12345`;
    const r = await resolveLora(url, opts());
    expect(r.sha256).toBe(sha256(bytes));
    expect(r.source).toBe(`${url} (ink_style.safetensors)`);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const bytes = loraBytes(3, 4096);
    hosts.file('/flaky.safetensors', { bytes, cutAfter: 5000 });
    const url = `${hosts.origin()}/flaky.safetensors`;
    await expectFluxError(
      resolveLora(url, opts()),
      USAGE,
      /^loras\[0\]\.path: download of .*flaky\.safetensors was cut short after 5000 bytes/,
    );
    const progress: number[] = [];
    const r = await resolveLora(url, opts({ onProgress: (n) => progress.push(n) }));
    expect(r.sha256).toBe(sha256(bytes));
    expect(await readFile(r.file)).toEqual(bytes);
    const second = hosts.seen[1];
    expect(second?.range).toBe('bytes=5000-');
    expect(second?.ifRange).toMatch(/^"[0-9a-f]{16}"$/);
    expect(progress[0]).toBeGreaterThan(5000); // counted from the kept bytes
  });

  it('restarts cleanly when the server ignores the Range', async () => {
    const bytes = loraBytes(4, 4096);
    hosts.file('/no-ranges.safetensors', { bytes, cutAfter: 5000, ranges: false });
    const url = `${hosts.origin()}/no-ranges.safetensors`;
    await expectFluxError(resolveLora(url, opts()), USAGE, /cut short/);
    const r = await resolveLora(url, opts());
    expect(r.sha256).toBe(sha256(bytes));
    expect(hosts.seen.map((s) => s.range)).toEqual([undefined, 'bytes=5000-']);
  });

  it('downloads again from the start, not resuming, when the first answer had no validator', async () => {
    const before = loraBytes(12, 4096);
    const after = loraBytes(13, 4096); // same length: only a validator could tell the change
    hosts.file('/plain.safetensors', { bytes: before, cutAfter: 5000, validator: false });
    const url = `${hosts.origin()}/plain.safetensors`;
    await expectFluxError(resolveLora(url, opts()), USAGE, /cut short after 5000 bytes/);
    hosts.file('/plain.safetensors', { bytes: after, validator: false });
    const r = await resolveLora(url, opts());
    expect(r.sha256).toBe(sha256(after));
    expect(hosts.seen.map((s) => s.range)).toEqual([undefined, undefined]);
  });

  it('gives up on a stalled body after the idle timeout and resumes from what arrived', async () => {
    const bytes = loraBytes(8, 2048);
    hosts.route('/stall.safetensors', (req, res) => {
      const etag = `"${sha256(bytes).slice(0, 16)}"`; // the ETag hosts.file will answer with
      res.writeHead(200, { 'content-length': String(bytes.length), etag });
      res.write(bytes.subarray(0, 3000)); // then nothing
      req.socket.once('close', () => res.destroy());
    });
    const url = `${hosts.origin()}/stall.safetensors`;
    await expectFluxError(
      resolveLora(url, opts({ timeoutMs: 150 })),
      USAGE,
      /^loras\[0\]\.path: download of .*stall\.safetensors stalled: no data for 150 ms$/,
    );
    hosts.file('/stall.safetensors', { bytes });
    const progress: number[] = [];
    const r = await resolveLora(url, opts({ onProgress: (n) => progress.push(n) }));
    expect(r.sha256).toBe(sha256(bytes));
    expect(hosts.seen[1]?.range).toBe('bytes=3000-');
    expect(progress[0]).toBeGreaterThan(3000); // a 206: only the rest was sent
  });

  it('gives up on a trickling body at the total download limit, though bytes keep coming', async () => {
    const bytes = loraBytes(9, 2048);
    hosts.route('/trickle.safetensors', (req, res) => {
      res.writeHead(200, { 'content-length': String(bytes.length) });
      let sent = 0;
      // One byte every 20 ms: never idle for the 2000 ms idle limit, done only after minutes.
      const timer = setInterval(() => res.write(bytes.subarray(sent, ++sent)), 20);
      req.socket.once('close', () => clearInterval(timer));
    });
    const url = `${hosts.origin()}/trickle.safetensors`;
    const started = Date.now();
    await expectFluxError(
      resolveLora(url, opts({ downloadTimeoutMs: 300 })),
      USAGE,
      /^loras\[0\]\.path: download of .*trickle\.safetensors took longer than the 300 ms limit$/,
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a file over the limit, declared or not, and keeps nothing', async () => {
    hosts.file('/big.safetensors', { bytes: loraBytes(5, 1000) });
    hosts.file('/big-chunked.safetensors', { bytes: loraBytes(5, 1000), chunked: true });
    await expectFluxError(
      resolveLora(`${hosts.origin()}/big.safetensors`, opts({ maxBytes: 2048 })),
      USAGE,
      /^loras\[0\]\.path: http:\/\/files\.test:\d+\/big\.safetensors is .+, above the limit of 2 KiB$/,
    );
    await expectFluxError(
      resolveLora(`${hosts.origin()}/big-chunked.safetensors`, opts({ maxBytes: 2048 })),
      USAGE,
      /big-chunked\.safetensors exceeds the limit of 2 KiB$/,
    );
    expect(await readdir(join(cacheDir, 'partial'))).toEqual([]);
    expect(existsSync(join(cacheDir, 'blobs'))).toBe(false);
  });

  it('refuses a redirect to a private address before connecting to it', async () => {
    hosts.route('/to-private', (_req, res) => {
      res.writeHead(302, { location: `http://evil.test:${hosts.port}/x.safetensors` }).end();
    });
    await expectFluxError(
      resolveLora(`${hosts.origin()}/to-private`, opts()),
      USAGE,
      /^loras\[0\]\.path: refused to download http:\/\/evil\.test:\d+\/x\.safetensors: evil\.test resolves to 10\.0\.0\.1, which is a private address$/,
    );
    expect(hosts.seen.map((s) => s.path)).toEqual(['/to-private']);
  });

  it('refuses loopback when the policy does not allow it', async () => {
    await expectFluxError(
      resolveLora(`${hosts.origin()}/a.safetensors`, opts({ policy: {} })),
      USAGE,
      /which is a loopback address$/,
    );
    expect(hosts.count()).toBe(0);
  });

  it('refuses a download that is not a safetensors file, naming the URL', async () => {
    hosts.file('/login', {
      bytes: Buffer.from('<!doctype html><html>please log in</html>'),
      contentType: 'application/octet-stream', // a mislabelled page: only its bytes tell
    });
    await expectFluxError(
      resolveLora(`${hosts.origin()}/login`, opts()),
      USAGE,
      /^loras\[0\]\.path: http:\/\/files\.test:\d+\/login is not a safetensors file \(it looks like an HTML or XML page\)$/,
    );
    expect(await readdir(join(cacheDir, 'partial'))).toEqual([]);
  });

  it('refuses a clearly-wrong content type before keeping a byte, and takes the types hosts use', async () => {
    const page = Buffer.from('<!doctype html><html>please log in</html>'.repeat(100));
    hosts.file('/page.safetensors', { bytes: page, contentType: 'text/html' });
    hosts.file('/error.safetensors', { bytes: page, contentType: 'application/problem+json' });
    for (const [name, type] of [
      ['page', 'text/html'],
      ['error', 'application/problem+json'],
    ] as const) {
      await expectFluxError(
        resolveLora(`${hosts.origin()}/${name}.safetensors`, opts()),
        USAGE,
        new RegExp(
          `^loras\\[0\\]\\.path: http://files\\.test:\\d+/${name}\\.safetensors has content type "${type.replace('+', '\\+')}", which is not accepted$`,
        ),
      );
    }
    expect(await readdir(join(cacheDir, 'partial'))).toEqual([]);
    const types = ['application/octet-stream', 'binary/octet-stream', 'application/x-safetensors', ''];
    for (const [i, contentType] of types.entries()) {
      hosts.file(`/ok${i}.safetensors`, { bytes: loraBytes(30 + i), contentType });
      const r = await resolveLora(`${hosts.origin()}/ok${i}.safetensors`, opts());
      expect(r.sha256).toBe(sha256(loraBytes(30 + i)));
    }
  });

  it('downloads once for concurrent requests, each waiter keeping its own field', async () => {
    const bytes = loraBytes(6);
    hosts.file('/shared.safetensors', { bytes, delayMs: 50 });
    const url = `${hosts.origin()}/shared.safetensors`;
    const [a, b] = await Promise.all([
      resolveLora(url, opts()),
      resolveLora(url, opts({ field: 'loras[1].path' })),
    ]);
    expect(a.file).toBe(b.file);
    expect(hosts.count()).toBe(1);

    hosts.route('/gone.safetensors', (_req, res) => setTimeout(() => res.writeHead(404).end(), 30));
    const gone = `${hosts.origin()}/gone.safetensors`;
    const errors = await Promise.all(
      ['loras[0].path', 'loras[3].path'].map((field) =>
        resolveLora(gone, opts({ field })).catch((e: Error) => e.message),
      ),
    );
    expect(errors).toEqual([
      expect.stringMatching(/^loras\[0\]\.path: .*gone\.safetensors answered HTTP 404$/),
      expect.stringMatching(/^loras\[3\]\.path: .*gone\.safetensors answered HTTP 404$/),
    ]);
    expect(hosts.count('/gone')).toBe(1);
  });

  it('lets one waiter cancel without cancelling the other', async () => {
    const bytes = loraBytes(7);
    hosts.file('/slow.safetensors', { bytes, delayMs: 100 });
    const url = `${hosts.origin()}/slow.safetensors`;
    const controller = new AbortController();
    const cancelled = resolveLora(url, opts({ signal: controller.signal }));
    const kept = resolveLora(url, opts({ field: 'loras[1].path' }));
    controller.abort();
    await expectFluxError(
      cancelled,
      USAGE,
      /^loras\[0\]\.path: resolving .*slow\.safetensors was cancelled$/,
    );
    expect((await kept).sha256).toBe(sha256(bytes));
  });

  it('fails offline when the URL is not cached, without a request', async () => {
    await expectFluxError(
      resolveLora(`${hosts.origin()}/a.safetensors`, opts({ offline: true })),
      USAGE,
      /a\.safetensors is not in the LoRA cache, and offline mode \(HF_HUB_OFFLINE\) is on$/,
    );
    expect(hosts.count()).toBe(0);
  });
});

describe('resolveLora: cache size', () => {
  const blobs = async () => (await readdir(join(cacheDir, 'blobs'))).sort();
  const blob = (bytes: Buffer) => `${sha256(bytes)}.safetensors`;
  // mtime orders the uses: keep them apart by more than any timestamp granularity.
  const later = () => new Promise((resolve) => setTimeout(resolve, 20));

  it('deletes the least recently used blobs beyond the limit, a cache hit counting as a use', async () => {
    const [a, b, c] = [loraBytes(21), loraBytes(22), loraBytes(23)];
    for (const [name, bytes] of Object.entries({ a, b, c })) hosts.file(`/${name}.safetensors`, { bytes });
    const limited = opts({ cacheMaxBytes: Math.floor(a.length * 2.5) });
    const get = (name: string) => resolveLora(`${hosts.origin()}/${name}.safetensors`, limited);
    await get('a');
    await later();
    await get('b');
    await later();
    expect((await get('a')).cached).toBe(true); // a is now the more recent of the two
    await later();
    await get('c');
    expect(await blobs()).toEqual([blob(a), blob(c)].sort());
    expect(hosts.count()).toBe(3);
    expect((await get('b')).cached).toBe(false); // its index record is a miss now
    expect(hosts.count()).toBe(4);
    expect(await blobs()).toEqual([blob(b), blob(c)].sort());
  });

  it('never deletes the blob just downloaded or a held one, and drops abandoned partial downloads', async () => {
    const [a, b, c] = [loraBytes(24), loraBytes(25), loraBytes(26)];
    for (const [name, bytes] of Object.entries({ a, b, c })) hosts.file(`/${name}.safetensors`, { bytes });
    const limited = opts({ cacheMaxBytes: 10 }); // smaller than any one file
    const get = (name: string) => resolveLora(`${hosts.origin()}/${name}.safetensors`, limited);
    const first = await get('a');
    expect(await blobs()).toEqual([blob(a)]);
    const release = holdLoraBlob(first.file);
    await later();
    await get('b');
    expect(await blobs()).toEqual([blob(a), blob(b)].sort());
    release();
    const partial = join(cacheDir, 'partial');
    const old = new Date(Date.now() - 25 * 60 * 60 * 1000);
    await writeFile(join(partial, 'old.part'), 'x');
    await writeFile(join(partial, 'old.part.json'), '{}');
    await utimes(join(partial, 'old.part'), old, old);
    await writeFile(join(partial, 'fresh.part'), 'x');
    await later();
    await get('c');
    expect(await blobs()).toEqual([blob(c)]);
    expect((await readdir(partial)).sort()).toEqual(['fresh.part']);
  });
});

describe('resolveLora: Hugging Face repos', () => {
  const lora = loraBytes(10);
  const other = loraBytes(11);

  it('chooses the LoRA in a multi-file repo, pins the commit and keeps the token on the hub', async () => {
    hosts.repo('acme/multi', SHA, {
      'pytorch_lora_weights.safetensors': lora,
      'other_000000500.safetensors': other,
      'samples/s.safetensors': other,
      'README.md': Buffer.from('# hi'),
    });
    const r = await resolveLora('acme/multi', opts({ hfToken: 'hf_secret' }));
    expect(r.sha256).toBe(sha256(lora));
    expect(r.source).toBe(`acme/multi/pytorch_lora_weights.safetensors @ ${SHA.slice(0, 12)}`);
    expect(hosts.seen.map((s) => [s.host, s.path, s.authorization])).toEqual([
      ['hub.test', '/api/models/acme/multi/revision/main', 'Bearer hf_secret'],
      ['hub.test', `/acme/multi/resolve/${SHA}/pytorch_lora_weights.safetensors`, 'Bearer hf_secret'],
      ['cdn.test', `/cdn/acme/multi/${sha256(lora)}`, undefined],
    ]);
  });

  it('takes a named file and lists the candidates when the choice is ambiguous', async () => {
    hosts.repo('acme/collection', SHA, { 'realism_lora.safetensors': lora, 'anime_lora.safetensors': other });
    await expectFluxError(
      resolveLora('acme/collection', opts()),
      USAGE,
      /^loras\[0\]\.path: acme\/collection holds several LoRA files; name one as acme\/collection\/<file>: anime_lora\.safetensors, realism_lora\.safetensors$/,
    );
    const r = await resolveLora('acme/collection/anime_lora.safetensors', opts());
    expect(r.sha256).toBe(sha256(other));
    await expectFluxError(
      resolveLora('acme/collection/nope.safetensors', opts()),
      USAGE,
      /acme\/collection has no file nope\.safetensors \(its \.safetensors files: realism_lora\.safetensors, anime_lora\.safetensors\)$/,
    );
  });

  it('says there is no LoRA in a repo without one', async () => {
    hosts.repo('acme/empty', SHA, { 'README.md': Buffer.from('x'), 'lora.bin': Buffer.from('pickle') });
    await expectFluxError(
      resolveLora('acme/empty', opts()),
      USAGE,
      /acme\/empty holds no LoRA \.safetensors file \(none at all\)$/,
    );
  });

  it('words gated and private repos in terms of HF_TOKEN', async () => {
    hosts.route('/api/models/acme/gated/revision/main', (_req, res) => {
      res.writeHead(401, { 'x-error-code': 'GatedRepo' }).end();
    });
    await expectFluxError(
      resolveLora('acme/gated', opts()),
      USAGE,
      /^loras\[0\]\.path: acme\/gated is gated on the hub \(HTTP 401\): set HF_TOKEN to a token of an account that accepted its conditions$/,
    );
    hosts.route('/api/models/acme/gated/revision/main', (_req, res) => res.writeHead(403).end());
    await expectFluxError(
      resolveLora('acme/gated', opts({ hfToken: 'hf_x' })),
      USAGE,
      /acme\/gated is gated on the hub \(HTTP 403\) and the account of HF_TOKEN has no access/,
    );
    hosts.route('/api/models/acme/private/revision/main', (_req, res) => {
      res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end();
    });
    await expectFluxError(
      resolveLora('acme/private', opts()),
      USAGE,
      /private or does not exist on the hub \(HTTP 401\); for a private repo set HF_TOKEN$/,
    );
  });

  it('words a gated file download too', async () => {
    hosts.route(`/acme/g2/resolve/${SHA}/x.safetensors`, (_req, res) => {
      res.writeHead(401, { 'x-error-code': 'GatedRepo' }).end();
    });
    await expectFluxError(
      resolveLora(`acme/g2@${SHA}/x.safetensors`, opts()),
      USAGE,
      /acme\/g2 is gated on the hub \(HTTP 401\): set HF_TOKEN/,
    );
  });

  it('answers a repeat from the cache without a request, and re-lists only after the TTL', async () => {
    hosts.repo('acme/one', SHA, { 'lora.safetensors': lora });
    const first = await resolveLora('acme/one', opts());
    expect(hosts.count()).toBe(3); // listing, resolve, CDN
    expect(await resolveLora('acme/one', opts())).toEqual({ ...first, cached: true });
    expect(hosts.count()).toBe(3);
    expect((await resolveLora('acme/one', opts({ refTtlMs: 0 }))).cached).toBe(true);
    expect(hosts.seen.slice(3).map((s) => s.path)).toEqual(['/api/models/acme/one/revision/main']);
  });

  it('downloads a file once when concurrent requests spell its source differently', async () => {
    hosts.repo('acme/same', SHA, { 'lora.safetensors': { bytes: lora, delayMs: 50 } });
    const spellings = ['acme/same', 'acme/same/lora.safetensors', 'acme/same@main/lora.safetensors'];
    const resolved = await Promise.all(
      spellings.map((path, i) => resolveLora(path, opts({ field: `loras[${i}].path` }))),
    );
    expect(resolved.map((r) => r.sha256)).toEqual(spellings.map(() => sha256(lora)));
    expect(new Set(resolved.map((r) => r.file)).size).toBe(1);
    expect(hosts.count('/acme/same/resolve/')).toBe(1);
    expect(hosts.count('/cdn/')).toBe(1);
  });

  it('uses a pinned commit and file without listing the repo', async () => {
    hosts.repo('acme/pin', SHA, { 'dir/lora.safetensors': lora });
    const r = await resolveLora(`acme/pin@${SHA}/dir/lora.safetensors`, opts());
    expect(r.sha256).toBe(sha256(lora));
    expect(hosts.count('/api/')).toBe(0);
  });

  it('refuses a download whose hash differs from the LFS hash the hub lists', async () => {
    hosts.repo('acme/bad', SHA, { 'lora.safetensors': lora }, { 'lora.safetensors': 'ab'.repeat(32) });
    await expectFluxError(
      resolveLora('acme/bad', opts()),
      USAGE,
      new RegExp(
        `acme/bad/lora\\.safetensors @ ${SHA.slice(0, 12)} downloaded with SHA-256 ${sha256(lora)}, but the hub lists abab`,
      ),
    );
    expect(await readdir(join(cacheDir, 'partial'))).toEqual([]);
  });

  it('works offline from the cache, however old the listing, and says so on a miss', async () => {
    hosts.repo('acme/off', SHA, { 'lora.safetensors': lora });
    const online = await resolveLora('acme/off', opts());
    hosts.reset();
    const offline = await resolveLora('acme/off', opts({ offline: true, refTtlMs: 0 }));
    expect(offline).toEqual({ ...online, cached: true });
    await expectFluxError(
      resolveLora('acme/other', opts({ offline: true })),
      USAGE,
      /^loras\[0\]\.path: acme\/other is not in the LoRA cache, and offline mode \(HF_HUB_OFFLINE\) is on$/,
    );
    expect(hosts.count()).toBe(0);
  });
});
