/**
 * The configured LoRA resolver keeps a task's LoRA files out of the download cache's eviction until
 * the task ends (the worker reads them after resolution), then lets them go.
 */
import { access } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { loraResolver } from '../../src/cli/lora-resolver.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { fixtureBytes } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';
import { tempDir } from '../weights/fixtures.js';

let server: Server;
let base: string;
const files = new Map<string, Uint8Array>();

beforeAll(async () => {
  const c = (await loadModelSpec('tiny')).transformer;
  files.set('/a.safetensors', await fixtureBytes(FORMATS.diffusers(c)));
  files.set('/b.safetensors', await fixtureBytes(FORMATS.kohya(c)));
  files.set('/c.safetensors', await fixtureBytes(FORMATS.comfyui(c)));
  server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('loraResolver and the cache bound', () => {
  it("holds a task's files until the task ends, then eviction may take them", async () => {
    const largest = Math.max(...[...files.values()].map((f) => f.length));
    const config = loadConfig({
      FLUX_SERVE_HOME: await tempDir(),
      FLUX_SERVE_FETCH_ALLOW_LOOPBACK: '1',
      // Room for one file and a half: every new download evicts what is not held.
      FLUX_SERVE_LORA_CACHE_BYTES: String(Math.round(largest * 1.5)),
    });
    const resolve = loraResolver(config);
    const log = createLogger('silent');
    const never = new AbortController().signal;
    const lora = (name: string) => [{ path: `${base}/${name}.safetensors`, scale: 1 }];

    const taskA = new AbortController();
    const [a] = await resolve(lora('a'), never, log, taskA.signal);
    await resolve(lora('b'), never, log); // task B: no hold past resolution
    expect(await exists(a?.file as string)).toBe(true); // task A still running: kept
    taskA.abort(); // task A ends
    await resolve(lora('c'), never, log);
    expect(await exists(a?.file as string)).toBe(false);
  });
});
