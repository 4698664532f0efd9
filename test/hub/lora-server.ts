/**
 * @module test/hub/lora-server
 * A loopback HTTP server that stands in for the Hugging Face hub (model-info listing, `resolve`
 * redirecting to a CDN host) and for any other host, for the LoRA source tests. Hostnames go
 * through a stub resolver: `hub.test`, `cdn.test` and `files.test` are this server; `evil.test` is a
 * private address that the policy refuses before any connection.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ResolvedAddress } from '../../src/hub/pinned-lookup.js';
import { safetensorsBytes } from '../weights/fixtures.js';

export interface SeenRequest {
  readonly host: string | undefined;
  readonly path: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  readonly authorization: string | undefined;
}

export interface ServedFile {
  readonly bytes: Buffer;
  /** Honour `Range` with a 206 (default true). */
  readonly ranges?: boolean;
  /** Cut the connection after this many body bytes, on the first request only. */
  readonly cutAfter?: number;
  readonly disposition?: string;
  /** Send no Content-Length (chunked). */
  readonly chunked?: boolean;
  /** Wait this long before answering (to overlap concurrent requests). */
  readonly delayMs?: number;
  /** Default application/octet-stream; '' sends no Content-Type. */
  readonly contentType?: string;
  /** Send a strong ETag (default true); false sends neither ETag nor Last-Modified. */
  readonly validator?: boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A small, valid safetensors file with `n` float32 values derived from `seed`. */
export function loraBytes(seed: number, n = 256): Buffer {
  const data = new Float32Array(n).map((_, i) => Math.sin(seed * 1000 + i));
  const header = {
    __metadata__: { seed: String(seed) },
    w: { dtype: 'F32', shape: [n], data_offsets: [0, n * 4] },
  };
  return Buffer.from(safetensorsBytes(header, new Uint8Array(data.buffer)));
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export class FakeHosts {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly routes = new Map<string, Handler>();
  private readonly cut = new Set<string>();
  port = 0;
  seen: SeenRequest[] = [];

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  reset(): void {
    this.routes.clear();
    this.cut.clear();
    this.seen = [];
  }

  /** `http://<host>:<port>` for one of the stub names. */
  origin(host = 'files.test'): string {
    return `http://${host}:${this.port}`;
  }

  route(path: string, handler: Handler): void {
    this.routes.set(path, handler);
  }

  /** Serves `file` at `path` with a strong ETag, ranges and the quirks asked for. */
  file(path: string, file: ServedFile): void {
    this.route(path, (req, res) => {
      const send = () => this.sendFile(path, file, req, res);
      if (file.delayMs === undefined) send();
      else setTimeout(send, file.delayMs);
    });
  }

  /** A hub repo: the model-info listing at `main` (and at `sha`) and `resolve` → the CDN host. */
  repo(
    name: string,
    sha: string,
    files: Record<string, Buffer | ServedFile>,
    listed?: Record<string, string>,
  ): void {
    const siblings = Object.entries(files).map(([path, f]) => {
      const bytes = Buffer.isBuffer(f) ? f : f.bytes;
      const lfs = { sha256: listed?.[path] ?? sha256(bytes), size: bytes.length, pointerSize: 134 };
      return { rfilename: path, size: bytes.length, lfs };
    });
    const listing = JSON.stringify({ _id: 'x', id: name, sha, private: false, siblings });
    for (const rev of ['main', sha]) {
      this.route(`/api/models/${name}/revision/${rev}`, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(listing);
      });
    }
    for (const [path, f] of Object.entries(files)) {
      const cdnPath = `/cdn/${name}/${sha256(Buffer.isBuffer(f) ? f : f.bytes)}`;
      this.route(`/${name}/resolve/${sha}/${path}`, (_req, res) => {
        res.writeHead(302, { location: `${this.origin('cdn.test')}${cdnPath}` }).end();
      });
      this.file(cdnPath, Buffer.isBuffer(f) ? { bytes: f } : f);
    }
  }

  /** Requests whose path starts with `prefix`. */
  count(prefix = '/'): number {
    return this.seen.filter((s) => s.path.startsWith(prefix)).length;
  }

  /** The stub resolver: test names only, never a real DNS query. */
  readonly lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    if (['hub.test', 'cdn.test', 'files.test'].includes(hostname))
      return [{ address: '127.0.0.1', family: 4 }];
    if (hostname === 'evil.test') return [{ address: '10.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.seen.push({
      host: req.headers.host?.split(':')[0],
      path,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      authorization: req.headers.authorization,
    });
    const handler = this.routes.get(path);
    if (handler) handler(req, res);
    else res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
  }

  private sendFile(path: string, file: ServedFile, req: IncomingMessage, res: ServerResponse): void {
    const { bytes } = file;
    const etag = `"${sha256(bytes).slice(0, 16)}"`;
    const headers: Record<string, string> = {
      'accept-ranges': file.ranges === false ? 'none' : 'bytes',
    };
    const type = file.contentType ?? 'application/octet-stream';
    if (type !== '') headers['content-type'] = type; // '' sends none
    if (file.validator !== false) headers.etag = etag;
    if (file.disposition !== undefined) headers['content-disposition'] = file.disposition;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    let start = 0;
    let status = 200;
    if (range && file.ranges !== false && (ifRange === undefined || ifRange === etag)) {
      start = Number(range[1]);
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    }
    const body = bytes.subarray(start);
    if (!file.chunked) headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    if (file.cutAfter !== undefined && !this.cut.has(path)) {
      this.cut.add(path);
      // Give the client time to take the bytes in before the connection drops.
      res.write(body.subarray(0, file.cutAfter), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    res.end(body);
  }
}
