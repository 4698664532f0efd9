/**
 * @module api/routes/files
 * The files this server hands out by URL: generated outputs (`/outputs/{file}`, the URLs placed in
 * `outputs`) and uploads (`/media/{id}`). Names are checked by their stores before touching the disk.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import { sniffImageFormat } from '../../image/sniff.js';
import type { ApiContext } from '../api-context.js';

const MIME: Readonly<Record<string, string>> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };
const IMAGE_MIME = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

type ByFile = FastifyRequest<{ Params: { file: string } }>;

export function fileRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/outputs/:file',
    { schema: { summary: 'A generated image', tags: ['files'] } },
    async (req: ByFile, reply) => {
      const { file } = req.params;
      let path: string;
      try {
        path = ctx.outputs.path(file);
      } catch {
        throw errors.OUTPUT_NOT_FOUND(file);
      }
      const bytes = await readFile(path).catch(() => {
        throw errors.OUTPUT_NOT_FOUND(file);
      });
      return reply.type(MIME[file.split('.').pop() ?? ''] ?? 'application/octet-stream').send(bytes);
    },
  );

  app.get(
    '/media/:file',
    { schema: { summary: 'An uploaded image', tags: ['files'] } },
    async (req: ByFile, reply) => {
      const { file } = req.params;
      const path = ctx.media.path(file);
      const bytes = path ? await readFile(path).catch(() => undefined) : undefined;
      if (!bytes) throw errors.OUTPUT_NOT_FOUND(file);
      const sniffed = sniffImageFormat(bytes);
      return reply
        .type(sniffed.supported ? IMAGE_MIME[sniffed.format] : 'application/octet-stream')
        .send(bytes);
    },
  );
}
