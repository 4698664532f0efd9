/**
 * @module api/routes/media
 * Uploads for `image`/`mask_image` (api.md): the multipart `POST /media/upload/binary` of the hosted
 * v3 API, and the two-step route the official SDKs use (`POST /media/uploads` with
 * `{filename, size, content_type}` returns a PUT instruction; the PUT carries the bytes). Both answer
 * a `download_url` under this server that the worker reads from disk, never over the network.
 * Tickets live in memory for 15 minutes: an unfinished upload is nothing worth keeping across a restart.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import { newMediaId, type StoredMedia } from '../../jobs/media-store.js';
import type { ApiContext } from '../api-context.js';
import { ok } from '../envelope.js';

const TICKET_TTL_MS = 15 * 60_000;
const MAX_TICKETS = 1000;
const UPLOAD_TYPES = ['application/octet-stream', 'image/png', 'image/jpeg', 'image/webp'];

interface Ticket {
  readonly filename: string;
  readonly size: number;
  readonly expires: number;
}

/** The public URL of an uploaded file, e.g. `http://127.0.0.1:8080/media/3f…9a`. */
export function mediaUrl(publicBaseUrl: string, name: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/media/${name}`;
}

function uploaded(ctx: ApiContext, media: StoredMedia, filename: string) {
  return { type: 'image', download_url: mediaUrl(ctx.publicBaseUrl, media.name), filename, size: media.size };
}

export async function mediaRoutes(api: FastifyInstance, ctx: ApiContext): Promise<void> {
  const limit = ctx.maxUploadBytes;
  await api.register(multipart, { limits: { fileSize: limit, files: 1, fields: 10, parts: 12 } });
  api.addContentTypeParser(UPLOAD_TYPES, { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) =>
    done(null, body),
  );
  const tickets = new Map<string, Ticket>();
  // busboy reports a cut or malformed body ("Unexpected end of multipart data") as a plain Error,
  // which would be a 500; it is the client's body that is wrong. Fastify's coded errors keep theirs.
  const malformed = (e: unknown): never => {
    if (e instanceof Error && (e as { statusCode?: number }).statusCode === undefined)
      throw errors.USAGE(`file: malformed multipart body (${e.message})`);
    throw e;
  };

  api.post(
    '/media/upload/binary',
    { schema: { summary: 'Upload an image (multipart field "file")', tags: ['media'] } },
    async (req) => {
      ctx.authorize(req);
      const file = await req.file().catch(malformed);
      if (!file) throw errors.USAGE('file: a multipart file field is required');
      const bytes = await file.toBuffer().catch((e: { code?: string }) => {
        if (e.code === 'FST_REQ_FILE_TOO_LARGE') throw errors.TOO_LARGE('file', limit);
        return malformed(e);
      });
      const media = await ctx.media.put(bytes, 'file');
      req.log.info({ media: media.name, size: media.size }, 'media uploaded');
      return ok(uploaded(ctx, media, file.filename));
    },
  );

  api.post<{ Body: { filename?: unknown; size?: unknown } }>(
    '/media/uploads',
    {
      schema: {
        summary: 'Start an upload: {filename, size, content_type?} → a PUT instruction and the download_url',
        tags: ['media'],
      },
    },
    async (req) => {
      ctx.authorize(req);
      const { filename, size } = req.body ?? {};
      if (typeof filename !== 'string' || filename === '' || filename.length > 255)
        throw errors.USAGE('filename: expected a file name (1–255 characters)');
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1)
        throw errors.USAGE('size: expected the file size in bytes');
      if (size > limit) throw errors.TOO_LARGE('size', limit);
      const now = Date.now();
      for (const [id, t] of tickets) if (t.expires < now) tickets.delete(id);
      if (tickets.size >= MAX_TICKETS) throw errors.QUEUE_FULL(MAX_TICKETS);
      const id = newMediaId();
      tickets.set(id, { filename, size, expires: now + TICKET_TTL_MS });
      const base = ctx.publicBaseUrl.replace(/\/+$/, '');
      return ok({
        filename,
        download_url: mediaUrl(base, id),
        upload: {
          url: `${base}/api/v3/media/uploads/${id}`,
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream' },
        },
      });
    },
  );

  api.put(
    '/media/uploads/:id',
    { schema: { summary: 'The bytes of a started upload', tags: ['media'] } },
    async (req: FastifyRequest<{ Params: { id: string } }>) => {
      const ticket = tickets.get(req.params.id);
      if (!ticket || ticket.expires < Date.now()) throw errors.USAGE('upload: unknown or expired upload');
      const bytes = req.body;
      if (!Buffer.isBuffer(bytes))
        throw errors.USAGE('body: expected the file bytes (application/octet-stream)');
      if (bytes.length !== ticket.size)
        throw errors.USAGE(`body: ${bytes.length} bytes, but the upload was announced as ${ticket.size}`);
      tickets.delete(req.params.id);
      const media = await ctx.media.put(bytes, 'file', req.params.id);
      req.log.info({ media: media.name, size: media.size }, 'media uploaded');
      return ok(uploaded(ctx, media, ticket.filename));
    },
  );
}
