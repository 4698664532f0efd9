/**
 * @module api/routes/playground
 * The web playground at `/`: three static files (`public/playground/`), no framework and no build
 * step, talking to the server's own hosted-API routes — so what a user clicks is what a client
 * calls. Also `GET /api/v3/loras` (extension): the LoRA folder's files, for the page's LoRA picker.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import type { ApiContext } from '../api-context.js';
import { ok } from '../envelope.js';

/** `public/` sits beside `src/` and `dist/`, two folders up from this file in both. */
const PUBLIC_DIR = fileURLToPath(new URL('../../../public/playground/', import.meta.url));
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'playground.js': 'text/javascript; charset=utf-8',
  'playground.css': 'text/css; charset=utf-8',
};
/** Subfolders of the LoRA folder listed; deeper files are still usable by name. */
const LIST_DEPTH = 2;
const LIST_MAX = 500;

async function serve(name: string, reply: import('fastify').FastifyReply) {
  const type = FILES[name];
  if (!type) throw errors.OUTPUT_NOT_FOUND(name);
  return reply
    .type(type)
    .header('cache-control', 'no-cache')
    .send(await readFile(join(PUBLIC_DIR, name)));
}

async function listLoras(dir: string): Promise<{ name: string; size: number }[]> {
  const found: { name: string; size: number }[] = [];
  const walk = async (folder: string, depth: number): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (found.length >= LIST_MAX) return;
      const path = join(folder, e.name);
      if (e.isDirectory() && depth < LIST_DEPTH) await walk(path, depth + 1);
      else if (e.isFile() && e.name.endsWith('.safetensors'))
        found.push({ name: relative(dir, path).split('\\').join('/'), size: (await stat(path)).size });
    }
  };
  await walk(dir, 1);
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

export function playgroundRoutes(app: FastifyInstance): void {
  app.get('/', { schema: { hide: true } }, (_req, reply) => serve('index.html', reply));
  app.get(
    '/playground/:file',
    { schema: { hide: true } },
    (req: FastifyRequest<{ Params: { file: string } }>, reply) => serve(req.params.file, reply),
  );
}

export function loraListRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/loras',
    {
      schema: {
        summary: 'LoRA files in the LoRA folder (extension), usable as loras[].path',
        tags: ['service'],
      },
    },
    async (req) => {
      ctx.authorize(req);
      return ok(ctx.loraDir ? await listLoras(ctx.loraDir) : []);
    },
  );
}
