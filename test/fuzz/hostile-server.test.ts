/**
 * Fuzz: thousands of generated hostile requests and files thrown at the real server process on the
 * tiny model (fast-check, fixed seed, so every run sends the same). After each: no 5xx, an
 * envelope whose code is the status, an answer within the deadline; accepted tasks end `failed`
 * with a useful error or `completed`. At the end: the same worker process (no restart), bounded
 * RSS, and a normal request still completes with one safety flag per image.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as fc from 'fast-check';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_MODEL_WARNING } from '../../src/runtime/manifest.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';
import { hostileBody, hostileImages, hostileLoras, mutatedPng } from './hostile-inputs.js';

const SEED = 20261125;
const SUBMIT = '/api/v3/wavespeed-ai/flux-schnell-lora';
/** No request may take longer, ms (the longest legitimate answer here is a cancel or a small body). */
const REQUEST_DEADLINE_MS = 10_000;
const MAX_INPUT_PIXELS = 1_000_000;
const BODY_LIMIT = 1024 * 1024;
/** Settings that make renders cheap: hostile image tasks that do decode render at 256², 1 step. */
const CHEAP = { size: '256*256', num_inference_steps: 1 } as const;

/** Upload bodies besides random bytes: image magic numbers with nothing behind them. */
const RAW_UPLOADS = [
  Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Uint8Array.from([0xff, 0xd8, 0xff]),
  new TextEncoder().encode('RIFF\u0000\u0000\u0000\u0000WEBP'),
  new Uint8Array(0),
];

let dir: TinyServerRoot;
let server: ServerProcess;
let workerPid: number | undefined;

interface Answer {
  readonly status: number;
  readonly body: { code?: number; message?: string; data?: Record<string, unknown> | null } | undefined;
  readonly ms: number;
}

async function call(
  method: string,
  path: string,
  body?: string,
  contentType = 'application/json',
): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${server.base}${path}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': contentType } }),
    signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
  });
  const text = await res.text();
  let parsed: Answer['body'];
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, ms: performance.now() - started };
}

/** GET with the path sent byte for byte: fetch would resolve `%2e%2e` segments before sending. */
function rawGet(path: string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: server.port, path, timeout: REQUEST_DEADLINE_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => {
        let body: Answer['body'];
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path.slice(0, 100)}: no answer in time`)));
    req.on('error', reject);
  });
}

/** The invariants of every answer: no 5xx, and for JSON the hosted envelope with code = status. */
function expectClean(a: Answer, what: string): void {
  if (a.status >= 500) throw new Error(`${what}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
  if (a.body !== undefined && typeof a.body === 'object' && a.body !== null && 'code' in a.body) {
    expect(a.body.code, what).toBe(a.status);
    expect(typeof a.body.message, what).toBe('string');
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Waits for a JSON log line of the server that `match` accepts. */
async function waitForLog(
  match: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    for (const text of server.stderr().split('\n')) {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (match(line)) return line;
      } catch {
        // The first line of the tail may be cut.
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no such log line; the log ends:\n${server.stderr()}`);
}

async function waitFinal(id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 600; i++) {
    const a = await call('GET', `/api/v3/predictions/${id}/result`);
    expectClean(a, `poll ${id}`);
    const data = a.body?.data ?? {};
    if (data.status === 'completed' || data.status === 'failed') return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${id} never finished`);
}

/** Submits; an accepted task is awaited and must end completed, or failed with a specific error. */
async function submitAndSettle(body: object, what: string): Promise<Record<string, unknown>> {
  const a = await call('POST', SUBMIT, JSON.stringify(body));
  expectClean(a, what);
  if (a.status !== 200) {
    expect(a.status, what).toBeGreaterThanOrEqual(400);
    expect(a.body?.message, what).not.toMatch(/internal error/);
    return { status: 'refused', error: a.body?.message };
  }
  const data = await waitFinal(a.body?.data?.id as string);
  if (data.status === 'failed') {
    expect(String(data.error), what).toMatch(/\w{3,}/);
    expect(String(data.error), what).not.toMatch(/internal error|worker process|interrupted/);
  }
  return data;
}

beforeAll(async () => {
  dir = await tinyServerRoot('fuzz-');
  const loraDir = join(dir.home, 'loras');
  await mkdir(loraDir, { recursive: true });
  for (const f of hostileLoras()) await writeFile(join(loraDir, f.name), f.bytes);
  server = await startServer({
    model: dir.model,
    home: dir.home,
    env: {
      FLUX_SERVE_MAX_QUEUE: '100000',
      FLUX_SERVE_BODY_LIMIT: String(BODY_LIMIT),
      FLUX_SERVE_MAX_INPUT_PIXELS: String(MAX_INPUT_PIXELS),
      FLUX_SERVE_FETCH_TIMEOUT_MS: '2000',
      FLUX_SERVE_WEBHOOK_RETRY_MS: '0',
      FLUX_SERVE_SAFETY_CHECKER: 'nsfwjs',
    },
  });
  workerPid = children(server.child.pid as number)[0];
}, 120_000);
afterAll(async () => {
  await dir.cleanup();
});

describe('hostile input against the running server', () => {
  it('answers thousands of generated submit bodies with 200 or a 4xx envelope, never a 5xx', async () => {
    const accepted: string[] = [];
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(hostileBody, async (body) => {
        const a = await call('POST', SUBMIT, body);
        slowest = Math.max(slowest, a.ms);
        expectClean(a, `body ${body.slice(0, 200)}`);
        if (a.status === 200) {
          const id = a.body?.data?.id as string;
          accepted.push(id);
          // Keep the queue short: a hostile-but-valid body is not rendered, only cancelled.
          const c = await call('POST', `/api/v3/predictions/${id}/cancel`);
          expectClean(c, `cancel ${id}`);
        } else expect(a.status, body.slice(0, 200)).toBeGreaterThanOrEqual(400);
      }),
      { seed: SEED, numRuns: 1200 },
    );
    expect(slowest).toBeLessThan(REQUEST_DEADLINE_MS);
    expect(accepted.length).toBeGreaterThan(0);
  }, 120_000);

  it('refuses bodies over the limit (413) and answers other content types and raw junk without 5xx', async () => {
    expect((await call('POST', SUBMIT, JSON.stringify({ prompt: 'a'.repeat(BODY_LIMIT + 10) }))).status).toBe(
      413,
    );
    for (const [ct, body] of [
      ['text/plain', 'prompt=a'],
      ['application/x-www-form-urlencoded', 'prompt=a'],
      ['multipart/form-data; boundary=x', '--x\r\n\r\n--x--'],
      ['application/json; charset=utf-16', '{"prompt":"a"}'],
      ['application/json', '\u0000'],
      ['', '{"prompt":"a"}'],
    ] as const) {
      const a = await call('POST', SUBMIT, body, ct);
      expectClean(a, `${ct} ${body}`);
      if (a.status === 200) await call('POST', `/api/v3/predictions/${a.body?.data?.id}/cancel`);
    }
  });

  it('answers uploads of random bytes and odd multipart with 200 or 4xx', async () => {
    const files = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom(...RAW_UPLOADS)), {
      seed: SEED,
      numRuns: 80,
    });
    for (const bytes of files) {
      const form = new FormData();
      form.append('file', new Blob([bytes]), 'x.png');
      const res = await fetch(`${server.base}/api/v3/media/upload/binary`, {
        method: 'POST',
        body: form,
        signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
      });
      expect(res.status, `upload of ${bytes.length} bytes`).toBeLessThan(500);
      await res.arrayBuffer();
    }
    for (const form of ['', 'file=x', '--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc']) {
      const a = await call('POST', '/api/v3/media/upload/binary', form, 'multipart/form-data; boundary=b');
      expectClean(a, `multipart ${JSON.stringify(form)}`);
      expect(a.status).toBeGreaterThanOrEqual(400);
    }
  });

  it('serves no file outside the outputs and answers odd ids and paths with 4xx', async () => {
    const names = fc.sample(
      fc.oneof(
        fc.constantFrom(
          '..%2ftasks.db',
          '%2e%2e%2ftasks.db',
          '..%5ctasks.db',
          '....//tasks.db',
          '%252e%252e%252ftasks.db',
          'tasks.db',
          '.',
          '%00',
          'a%00.png',
          `${'a'.repeat(5000)}.png`,
          '%ff%fe',
          '..',
          '%2e%2e',
        ),
        // Raw `.`/`..` segments are resolved by the client before sending; their encoded forms are not.
        fc.string({ unit: 'binary', maxLength: 30 }).map((n) => encodeURIComponent(n).replace(/\./g, '%2E')),
      ),
      { seed: SEED, numRuns: 250 },
    );
    for (const name of names) {
      for (const path of [`/outputs/${name}`, `/api/v3/predictions/${name}/result`, `/media/${name}`]) {
        const a = await rawGet(path);
        expectClean(a, path.slice(0, 100));
        expect(a.status, path.slice(0, 100)).toBeGreaterThanOrEqual(400);
      }
    }
  });

  it('refuses webhook targets that are not public http(s) URLs, or delivers to none of them', async () => {
    // A receiver on loopback, which this server (no FLUX_SERVE_FETCH_ALLOW_LOOPBACK) must never reach.
    let received = 0;
    const receiver = createServer((_req, res) => {
      received++;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    try {
      for (const [hook, refused] of [
        ['file:///etc/passwd', /^webhook: refused to download .*only http and https/],
        ['javascript:alert(1)', /^webhook: refused to download .*only http and https/],
        [
          'http://127.0.0.1:1/',
          /^webhook: refused http:\/\/127\.0\.0\.1:1\/: 127\.0\.0\.1 is a loopback address;/,
        ],
        [`http://127.0.0.1:${port}/`, /^webhook: refused .*: 127\.0\.0\.1 is a loopback address;/],
        [`http://[::ffff:127.0.0.1]:${port}/`, /^webhook: refused .*: ::ffff:7f00:1 is a loopback address;/],
        ['http://169.254.169.254/', /^webhook: refused .*: 169\.254\.169\.254 is a cloud metadata address;/],
        ['http://10.0.0.1/', /^webhook: refused .*: 10\.0\.0\.1 is a private address;/],
        ['not a url', /^webhook: "not a url" is not a valid URL/],
        [
          'http://user:pw@example.com/',
          /^webhook: refused to download .*: URLs with credentials are not accepted/,
        ],
        [`http://${'a'.repeat(5000)}.com/`, undefined],
        ['', /^webhook: "" is not a valid URL/],
        // A host name passes at submit; it resolves to loopback, so the delivery is refused.
        [`http://localhost:${port}/`, undefined],
      ] as const) {
        const a = await call(
          'POST',
          `${SUBMIT}?webhook=${encodeURIComponent(hook)}`,
          JSON.stringify({ prompt: 'x' }),
        );
        expectClean(a, `webhook ${hook}`);
        if (refused) {
          expect(a.status, hook).toBe(400);
          expect(a.body?.message, hook).toMatch(refused);
          continue;
        }
        if (a.status !== 200) continue;
        const id = a.body?.data?.id as string;
        await call('POST', `/api/v3/predictions/${id}/cancel`);
        await waitFinal(id);
        if (hook.includes('localhost')) {
          // FLUX_SERVE_WEBHOOK_RETRY_MS=0: two tries, then the sender logs that it gave up.
          const givenUp = await waitForLog(
            (line) => line.taskId === id && line.msg === 'webhook delivery given up',
          );
          expect(String(givenUp.error)).toMatch(
            /^webhook: refused to download .*: localhost resolves to (127\.0\.0\.1|::1), which is a loopback address$/,
          );
        }
      }
      expect(received).toBe(0);
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });

  it('fails tasks with hostile images and masks with a clear error, and renders the odd but valid ones', async () => {
    const images = await hostileImages(MAX_INPUT_PIXELS);
    const good = images[0]?.bytes as Buffer;
    const b64 = (b: Buffer) => b.toString('base64');
    const outcomes: string[] = [];
    for (const { name, bytes } of images) {
      const data = await submitAndSettle(
        { prompt: 'x', ...CHEAP, image: `data:image/png;base64,${b64(bytes)}` },
        name,
      );
      outcomes.push(`${name}: ${data?.status} ${data?.error ?? ''}`);
    }
    const byName = Object.fromEntries(
      outcomes.map((o) => [o.slice(0, o.indexOf(': ')), o.slice(o.indexOf(': ') + 2)]),
    );
    expect(byName['valid PNG']).toMatch(/^completed/);
    expect(byName['16-bit PNG']).toMatch(/^completed/);
    expect(byName['CMYK JPEG']).toMatch(/^completed/);
    expect(byName['PNG claiming 60000×60000']).toMatch(/above the limit of 1\.0 MP/);
    expect(byName[images[14]?.name as string]).toMatch(/above the limit of 1\.0 MP/);
    expect(byName['GIF (animated-capable)']).toMatch(/unsupported image format \(GIF\)/);
    expect(byName['truncated PNG']).toMatch(/failed image: cannot decode the PNG image/);
    // A mask of another size is resized like the image (by design); a corrupt mask fails.
    const mask = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    expect(
      await submitAndSettle({ prompt: 'x', ...CHEAP, image: b64(good), mask_image: b64(mask) }, 'mask'),
    ).toMatchObject({
      status: 'completed',
    });
    expect(
      await submitAndSettle(
        { prompt: 'x', ...CHEAP, image: b64(good), mask_image: b64(good.subarray(0, 40)) },
        'bad mask',
      ),
    ).toMatchObject({ status: 'failed', error: expect.stringMatching(/^mask_image: /) });
    // base64 wrapped at 76 columns with CRLF (MIME) is fine; a wrong data-URI prefix is a 400.
    const wrapped = b64(good).replace(/.{76}/g, '$&\r\n');
    expect(
      await submitAndSettle({ prompt: 'x', ...CHEAP, image: `data:image/png;base64,${wrapped}` }, 'wrapped'),
    ).toMatchObject({
      status: 'completed',
    });
    for (const prefix of [
      'data:image/gif;base64,',
      'data:text/plain;base64,',
      'data:image/png,',
      'data:image/png;base32,',
    ]) {
      const a = await call('POST', SUBMIT, JSON.stringify({ prompt: 'x', image: `${prefix}${b64(good)}` }));
      expect(a.status, prefix).toBe(400);
      expect(a.body?.message, prefix).toMatch(/^image: /);
    }
    // Random corruption of a valid PNG: every task settles, none with an internal error.
    await fc.assert(
      fc.asyncProperty(mutatedPng(good), async (bytes) => {
        await submitAndSettle({ prompt: 'x', ...CHEAP, image: b64(bytes) }, 'mutated PNG');
      }),
      { seed: SEED, numRuns: 40 },
    );
  }, 120_000);

  it('renders prompts of unicode edge cases and at the length limit', async () => {
    for (const prompt of [
      '\ud800 lone \udfff surrogates',
      'nul \u0000 byte',
      '👩‍👩‍👧‍👦'.repeat(400),
      '\u202e\u2066 bidi \ufeff',
      'e\u0301'.repeat(4000),
      'a'.repeat(10_000),
      '\u200b',
    ]) {
      const data = await submitAndSettle({ prompt, ...CHEAP }, JSON.stringify(prompt.slice(0, 20)));
      expect(data?.status, JSON.stringify(prompt.slice(0, 20))).toBe('completed');
    }
    const a = await call('POST', SUBMIT, JSON.stringify({ prompt: 'a'.repeat(10_001) }));
    expect([a.status, a.body?.message]).toEqual([400, 'prompt: 10001 characters, above the limit of 10000']);
  }, 60_000);

  it('fails tasks with hostile LoRA files and LoRA paths with a clear error', async () => {
    for (const { name } of hostileLoras()) {
      const data = await submitAndSettle({ prompt: 'x', ...CHEAP, loras: [{ path: name, scale: 1 }] }, name);
      expect(data?.status, name).toBe('failed');
      expect(String(data?.error), name).toMatch(/LoRA|safetensors/);
    }
    for (const path of [
      '../tasks.db',
      '/etc/passwd',
      'loras/../../x.safetensors',
      'missing.safetensors',
      'a\u0000b.safetensors',
    ]) {
      const data = await submitAndSettle({ prompt: 'x', ...CHEAP, loras: [{ path, scale: 1 }] }, path);
      expect(data?.status ?? 'refused', path).not.toBe('completed');
    }
  }, 60_000);

  it('fails tasks whose image or LoRA URL is private, not http(s) or carries credentials', async () => {
    for (const [url, why] of [
      [`${server.base}/outputs/x.png`, /: 127\.0\.0\.1 is a loopback address$/],
      ['http://169.254.169.254/latest/meta-data/', /: 169\.254\.169\.254 is a cloud metadata address$/],
      ['http://[::1]:1/x.png', /: ::1 is a loopback address$/],
      ['http://0x7f000001/x.png', /: 127\.0\.0\.1 is a loopback address$/],
      ['http://user:secret@127.0.0.1/x.png', /: URLs with credentials are not accepted$/],
      ['http://10.0.0.1/x.safetensors', /: 10\.0\.0\.1 is a private address$/],
    ] as const) {
      for (const [field, body] of [
        ['image', { prompt: 'x', ...CHEAP, image: url }],
        ['loras[0].path', { prompt: 'x', ...CHEAP, loras: [{ path: url, scale: 1 }] }],
      ] as const) {
        const a = await call('POST', SUBMIT, JSON.stringify(body));
        expectClean(a, url);
        // Refused at submit (400) or by the fetch in the worker (the task's error): either way the
        // answer says the address was refused, and why.
        const refusal =
          a.status === 200
            ? await waitFinal(a.body?.data?.id as string)
            : { status: 'refused', error: a.body?.message };
        expect(refusal.status, url).not.toBe('completed');
        const error = String(refusal.error);
        expect(error, url).toMatch(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: refused to download `));
        expect(error, url).toMatch(why);
        expect(error, url).not.toContain('secret');
      }
    }
    for (const url of ['file:///etc/passwd', 'ftp://example.com/x.png', 'gopher://127.0.0.1:6379/_']) {
      const a = await call('POST', SUBMIT, JSON.stringify({ prompt: 'x', image: url }));
      expect(a.status, url).toBe(400);
    }
  }, 60_000);

  it('still serves: same worker, bounded memory, one safety flag per output', async () => {
    const pid = server.child.pid as number;
    expect(children(pid)[0]).toBe(workerPid);
    const serverRss = await rssBytes(pid);
    const workerRss = workerPid ? await rssBytes(workerPid) : 0;
    expect(serverRss).toBeLessThan(500 * 1024 ** 2);
    // Every render here is 256² (or cancelled before its VAE decode): a 1024² decode alone takes ~2.5 GB.
    expect(workerRss).toBeLessThan(1024 ** 3);
    const checked = await submitAndSettle(
      { prompt: 'a lighthouse', ...CHEAP, num_images: 2, seed: 3 },
      'final',
    );
    expect(checked).toMatchObject({ status: 'completed' });
    expect(checked?.has_nsfw_contents).toEqual([expect.any(Boolean), expect.any(Boolean)]);
    expect((checked?.timings as Record<string, number> | undefined)?.safety).toBeGreaterThanOrEqual(0);
    // No safety warning: the checker ran. (The tiny model's own warning is on every task.)
    expect(checked?.warnings ?? []).toEqual([TEST_MODEL_WARNING]);
    const unchecked = await submitAndSettle(
      { prompt: 'a', ...CHEAP, enable_safety_checker: false },
      'unchecked',
    );
    expect(unchecked?.has_nsfw_contents).toEqual([false]);
    expect((unchecked?.timings as Record<string, number> | undefined)?.safety).toBeUndefined();
    expect((await call('GET', '/readyz')).status).toBe(200);
    console.log(
      `fuzz: server RSS ${Math.round(serverRss / 2 ** 20)} MiB, worker RSS ${Math.round(workerRss / 2 ** 20)} MiB`,
    );
  });
});
