/**
 * safeFetch against an http server this test starts on 127.0.0.1. Hostnames go through a stub
 * resolver (no query leaves the host), and every refusal of a non-loopback address happens before
 * connecting, so no traffic is ever sent anywhere but to the test's own server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ResolvedAddress } from '../../src/hub/pinned-lookup.js';
import { type SafeFetchOptions, safeFetch } from '../../src/hub/safe-fetch.js';
import { expectFluxError } from '../weights/fixtures.js';

interface Seen {
  readonly host: string | undefined;
  readonly path: string | undefined;
  readonly authorization: string | undefined;
}

let server: Server;
let port: number;
let base: string;
let connections = 0;
let seen: Seen[] = [];
const sockets = new Set<Socket>();
/** Resolves when the server side of the /big-declared connection closes. */
let bigDeclaredClosed: Promise<void> = Promise.resolve();

function handler(req: IncomingMessage, res: ServerResponse): void {
  seen.push({ host: req.headers.host, path: req.url, authorization: req.headers.authorization });
  switch (req.url) {
    case '/cat.png':
      res
        .writeHead(200, { 'content-type': 'Image/PNG; charset=binary', 'content-length': '9' })
        .end('png-bytes');
      return;
    case '/text':
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      return;
    case '/big-declared':
      bigDeclaredClosed = new Promise((resolve) => req.socket.once('close', () => resolve()));
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': '5000' });
      res.write(Buffer.alloc(10)); // then stalls: the client must refuse on the header alone
      return;
    case '/big-chunked':
      res.writeHead(200, { 'content-type': 'image/png' }); // chunked: no length up front
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(300));
      res.end();
      return;
    case '/slow':
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write('x'); // then stalls
      return;
    case '/cut-short':
      res.writeHead(200, { 'content-length': '100' });
      res.write(Buffer.alloc(10), () => req.socket.destroy());
      return;
    case '/gzip':
      res.writeHead(200, { 'content-type': 'image/png', 'content-encoding': 'gzip' }).end('zz');
      return;
    case '/redirect':
      res.writeHead(302, { location: '/cat.png' }).end('moved');
      return;
    case '/redirect-by-name':
      res.writeHead(301, { location: `http://loop.test:${port}/cat.png` }).end();
      return;
    case '/to-other-origin':
      res.writeHead(307, { location: `http://other.test:${port}/cat.png` }).end();
      return;
    case '/loop':
      res.writeHead(302, { location: '/loop' }).end();
      return;
    case '/to-evil':
      res.writeHead(307, { location: `http://evil.test:${port}/secret` }).end();
      return;
    case '/to-metadata':
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      return;
    case '/to-file':
      res.writeHead(302, { location: 'file:///etc/passwd' }).end();
      return;
    case '/no-location':
      res.writeHead(302).end();
      return;
    case '/forbidden':
      res.writeHead(403).end('no');
      return;
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = createServer(handler);
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

let lookups: string[] = [];

beforeEach(() => {
  seen = [];
  lookups = [];
});

const v = (address: string): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 });

/** The stub resolver: test names only; anything else is an error, never a real DNS query. */
async function lookup(hostname: string): Promise<ResolvedAddress[]> {
  lookups.push(hostname);
  switch (hostname) {
    case 'loop.test':
    case 'other.test':
    case 'localhost':
      return [v('127.0.0.1')];
    case 'rebind.test':
      // First answer passes the check; any later query would send the socket to a private host.
      return lookups.filter((h) => h === hostname).length === 1 ? [v('127.0.0.1')] : [v('10.0.0.1')];
    case 'evil.test':
      return [v('10.0.0.1')];
    case 'mixed.test':
      return [v('8.8.8.8'), v('10.0.0.1')];
    case 'meta.test':
      return [v('169.254.169.254')];
    case 'v6.test':
      return [v('fd00::1')];
    case 'garbage.test':
      return [{ address: 'not-an-ip', family: 4 }];
    case 'empty.test':
      return [];
    case 'slow-dns.test':
      return new Promise(() => {});
    default:
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  }
}

const opts = (o: Partial<SafeFetchOptions> = {}): SafeFetchOptions => ({
  field: 'image',
  maxBytes: 1000,
  timeoutMs: 2000,
  policy: { allowLoopback: true },
  lookup,
  ...o,
});

const USAGE = 'FLUX_ERR_USAGE';

describe('safeFetch on loopback (allowed by the test policy)', () => {
  it('downloads a file and reports its media type', async () => {
    const progress: [number, number | undefined][] = [];
    const r = await safeFetch(
      `${base}/cat.png`,
      opts({ allowedContentTypes: (ct) => ct === 'image/png', onProgress: (n, t) => progress.push([n, t]) }),
    );
    expect(r.bytes.toString()).toBe('png-bytes');
    expect(r.contentType).toBe('image/png');
    expect(r.finalUrl).toBe(`${base}/cat.png`);
    expect(progress.at(-1)).toEqual([9, 9]);
  });

  it('refuses a content type the predicate rejects', async () => {
    const err = await expectFluxError(
      safeFetch(`${base}/text`, opts({ allowedContentTypes: (ct) => ct.startsWith('image/') })),
      USAGE,
      /^image: http:\/\/127\.0\.0\.1:\d+\/text has content type "text\/html", which is not accepted$/,
    );
    expect(err.statusCode).toBe(400);
  });

  it('refuses a declared Content-Length over the limit without reading the body', async () => {
    let progressCalls = 0;
    const started = Date.now();
    await expectFluxError(
      safeFetch(`${base}/big-declared`, opts({ onProgress: () => progressCalls++ })),
      USAGE,
      /^image: download exceeds the limit of 1000 bytes$/,
    );
    await bigDeclaredClosed; // the connection was dropped, not drained
    expect(progressCalls).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('aborts a streamed body as soon as it passes the limit', async () => {
    const received: number[] = [];
    await expectFluxError(
      safeFetch(`${base}/big-chunked`, opts({ onProgress: (n) => received.push(n) })),
      USAGE,
      /download exceeds the limit of 1000 bytes/,
    );
    expect(Math.max(0, ...received)).toBeLessThanOrEqual(1000);
  });

  it('times out a body that stalls', async () => {
    const err = await expectFluxError(
      safeFetch(`${base}/slow`, opts({ timeoutMs: 200 })),
      USAGE,
      /^image: download of http:\/\/127\.0\.0\.1:\d+\/slow took longer than the 200 ms limit$/,
    );
    expect(err.cause).toBeDefined();
  });

  it('counts a lookup that hangs against the timeout', async () => {
    await expectFluxError(
      safeFetch('http://slow-dns.test/x.png', opts({ timeoutMs: 100 })),
      USAGE,
      /took longer than the 100 ms limit/,
    );
  });

  it('stops when the caller cancels', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expectFluxError(
      safeFetch(`${base}/slow`, opts({ signal: controller.signal })),
      USAGE,
      /was cancelled/,
    );
  });

  it('reports a body cut short', async () => {
    await expectFluxError(
      safeFetch(`${base}/cut-short`, opts()),
      USAGE,
      /cut-short was cut short after 10 bytes/,
    );
  });

  it('refuses a compressed body it would have to decode', async () => {
    await expectFluxError(safeFetch(`${base}/gzip`, opts()), USAGE, /content encoding gzip/);
  });

  it('reports a non-2xx status', async () => {
    await expectFluxError(safeFetch(`${base}/missing`, opts()), USAGE, /missing answered HTTP 404$/);
    await expectFluxError(safeFetch(`${base}/forbidden`, opts()), USAGE, /answered HTTP 403$/);
  });

  it('follows a relative redirect and reports the final URL', async () => {
    const r = await safeFetch(`${base}/redirect`, opts());
    expect(r.bytes.toString()).toBe('png-bytes');
    expect(r.finalUrl).toBe(`${base}/cat.png`);
    expect(seen.map((s) => s.path)).toEqual(['/redirect', '/cat.png']);
  });

  it('connects to the vetted address while asking for the URL host by name', async () => {
    const r = await safeFetch(`${base}/redirect-by-name`, opts());
    expect(r.finalUrl).toBe(`http://loop.test:${port}/cat.png`);
    expect(seen[1]?.host).toBe(`loop.test:${port}`);
  });

  it('resolves a name once, so a rebinding resolver cannot redirect the socket', async () => {
    const r = await safeFetch(`http://rebind.test:${port}/cat.png`, opts());
    expect(r.bytes.toString()).toBe('png-bytes');
    expect(lookups).toEqual(['rebind.test']);
    expect(seen).toEqual([{ host: `rebind.test:${port}`, path: '/cat.png', authorization: undefined }]);
  });

  it('keeps credentials headers within their origin', async () => {
    await safeFetch(
      `http://loop.test:${port}/to-other-origin`,
      opts({ headers: { Authorization: 'Bearer t' } }),
    );
    expect(seen.map((s) => [s.host, s.authorization])).toEqual([
      [`loop.test:${port}`, 'Bearer t'],
      [`other.test:${port}`, undefined],
    ]);
  });

  it('limits the number of redirects', async () => {
    await expectFluxError(
      safeFetch(`${base}/loop`, opts({ maxRedirects: 3 })),
      USAGE,
      /too many redirects downloading .*\/loop \(more than 3\)/,
    );
    expect(seen).toHaveLength(4);
    await expectFluxError(safeFetch(`${base}/redirect`, opts({ maxRedirects: 0 })), USAGE, /more than 0/);
  });

  it('re-checks a redirect and refuses a private target before connecting to it', async () => {
    const before = connections;
    await expectFluxError(
      safeFetch(`${base}/to-evil`, opts()),
      USAGE,
      new RegExp(
        `^image: refused to download http://evil\\.test:${port}/secret: evil\\.test resolves to 10\\.0\\.0\\.1, which is a private address$`,
      ),
    );
    expect(connections - before).toBe(1); // the first hop only
    expect(seen.map((s) => s.host)).toEqual([`127.0.0.1:${port}`]);
  });

  it('refuses a redirect to a metadata address or to another scheme', async () => {
    await expectFluxError(
      safeFetch(`${base}/to-metadata`, opts({ policy: { allowLoopback: true, allowPrivate: true } })),
      USAGE,
      /169\.254\.169\.254 is a cloud metadata address/,
    );
    await expectFluxError(
      safeFetch(`${base}/to-file`, opts()),
      USAGE,
      /only http and https URLs .* not file:/,
    );
    await expectFluxError(safeFetch(`${base}/no-location`, opts()), USAGE, /HTTP 302 without a Location/);
  });
});

describe('safeFetch refusals (nothing is contacted)', () => {
  it('refuses loopback before connecting when the policy does not allow it', async () => {
    const before = connections;
    await expectFluxError(
      safeFetch(`${base}/cat.png`, opts({ policy: {} })),
      USAGE,
      new RegExp(
        `^image: refused to download http://127\\.0\\.0\\.1:${port}/cat\\.png: 127\\.0\\.0\\.1 is a loopback address$`,
      ),
    );
    await expectFluxError(
      safeFetch(`http://localhost:${port}/cat.png`, opts({ policy: { allowPrivate: true } })),
      USAGE,
      /localhost resolves to 127\.0\.0\.1, which is a loopback address/,
    );
    expect(connections).toBe(before);
  });

  const noLookup = async (): Promise<ResolvedAddress[]> => {
    throw new Error('IP literals must not be looked up');
  };

  it('refuses a host name longer than DNS allows without looking it up', async () => {
    const host = `${'a'.repeat(63)}.`.repeat(5).slice(0, 300);
    const err = await expectFluxError(
      safeFetch(`http://${host}/x.png`, opts({ lookup: noLookup })),
      USAGE,
      /: a host name of 300 characters \(DNS allows 253\)$/,
    );
    expect(err.message.length).toBeLessThan(700);
  });

  it.each([
    ['http://10.0.0.1/x.png', /: 10\.0\.0\.1 is a private address$/],
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a cloud metadata address/],
    ['http://169.254.1.1/', /169\.254\.1\.1 is a link-local address/],
    ['http://192.168.1.1/', /192\.168\.1\.1 is a private address/],
    ['http://172.16.0.1/', /172\.16\.0\.1 is a private address/],
    ['http://[fd00::1]/', /fd00::1 is a private address/],
    ['http://[fe80::1]/', /fe80::1 is a link-local address/],
    ['http://100.64.0.1/', /100\.64\.0\.1 is a shared \(carrier-grade NAT\) address/],
    ['http://0.0.0.0/', /0\.0\.0\.0 is an unspecified address/],
    ['http://[::]/', /:: is an unspecified address/],
    ['http://[::ffff:10.0.0.1]/', /::ffff:a00:1 is a private address/],
    ['http://[::ffff:127.0.0.1]/', /is a loopback address/],
    ['http://[64:ff9b::a9fe:a9fe]/', /is a cloud metadata address/],
    ['http://127.0.0.1/', /is a loopback address/],
    ['http://[::1]:9/', /::1 is a loopback address/],
    ['http://0x7f.1/', /127\.0\.0\.1 is a loopback address/],
    ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
    ['http://224.0.0.1/', /is a multicast address/],
    ['http://255.255.255.255/', /is a broadcast address/],
    ['https://192.0.2.1/', /is a documentation address/],
  ])('refuses the literal %s', async (url, message) => {
    await expectFluxError(safeFetch(url, opts({ policy: {}, lookup: noLookup })), USAGE, message);
  });

  it.each([
    ['http://evil.test/x.png', /evil\.test resolves to 10\.0\.0\.1, which is a private address/],
    ['http://mixed.test/x.png', /mixed\.test resolves to 10\.0\.0\.1, which is a private address/],
    ['http://meta.test/', /169\.254\.169\.254, which is a cloud metadata address/],
    ['http://v6.test/', /fd00::1, which is a private address/],
    ['http://garbage.test/', /"not-an-ip", which is not an IP address/],
    ['http://empty.test/', /empty\.test has no address/],
    ['http://nowhere.test/', /^image: cannot resolve nowhere\.test \(ENOTFOUND\)$/],
  ])('refuses the name %s', async (url, message) => {
    await expectFluxError(safeFetch(url, opts({ policy: {} })), USAGE, message);
  });

  it('checks every resolved address, not only the first', async () => {
    // [public, private]: the socket could pick either, so the whole answer is refused.
    await expectFluxError(
      safeFetch('http://mixed.test/x.png', opts({ policy: { allowLoopback: true } })),
      USAGE,
      /refused to download/,
    );
  });

  it.each([
    ['file:///etc/passwd', /only http and https URLs are downloaded, not file:/],
    ['ftp://example.com/x.png', /not ftp:/],
    ['javascript:alert(1)', /not javascript:/],
    ['data:image/png;base64,AAAA', /not data:/],
    ['gopher://127.0.0.1:6379/_INFO', /not gopher:/],
    ['not a url', /"not a url" is not a valid URL/],
  ])('refuses %s', async (url, message) => {
    await expectFluxError(safeFetch(url, opts({ policy: {}, lookup: noLookup })), USAGE, message);
  });

  it('refuses credentials in the URL without echoing them', async () => {
    const err = await expectFluxError(
      safeFetch('http://user:hunter2@example.com/x.png', opts({ policy: {}, lookup: noLookup })),
      USAGE,
      /^image: refused to download http:\/\/example\.com\/x\.png: URLs with credentials are not accepted$/,
    );
    expect(err.message).not.toContain('hunter2');
  });

  it('names the field "url" when none is given', async () => {
    await expectFluxError(
      safeFetch('ftp://x/', { maxBytes: 1, timeoutMs: 100, policy: {} }),
      USAGE,
      /^url: /,
    );
  });
});
