/**
 * @module api/routes/openai-images
 * The OpenAI Images API on the same tasks as the hosted contract, so OpenAI SDKs and the tools
 * built on them work when pointed at `<server>/v1`:
 * - `POST /v1/images/generations` (JSON: `prompt`, `n`, `size` "WxH" or "auto", `response_format`
 *   `url`|`b64_json` (default `b64_json` for `gpt-image-*`, else `url`), `output_format`; extensions
 *   `seed`, `steps`, `loras`);
 * - `POST /v1/images/edits` (multipart: `image`, optional `mask`, and the same fields; `strength` too).
 * Each request becomes one task (`n` → `num_images`) that waits like `enable_sync_mode`, up to the
 * configured OpenAI wait (its clients cannot poll), and is cancelled when its client hangs up. Answers are OpenAI's `{created, data: [{url}|{b64_json}], …}` (plus `seed`,
 * `task_id`, `timings` as extra keys) and errors OpenAI's `{error: {message, type, param, code}}`,
 * never the hosted envelope. Keys are checked like everywhere else (`Authorization: Bearer`).
 */
import { readFile } from 'node:fs/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Task } from '../../jobs/task.js';
import { type ApiContext, sourcePolicy, submitOptions } from '../api-context.js';
import { autoEditSize, editInputs } from '../openai-edit-inputs.js';
import { OpenAiError, openAiErrorHandler, openAiNotFoundHandler } from '../openai-errors.js';
import {
  AUTO_GENERATION_SIZE,
  formFields,
  type OpenAiImageRequest,
  openAiImageRequest,
} from '../openai-request.js';
import { parseSubmitBody } from '../submit-schema.js';
import { checkSubmitSources } from '../submit-sources.js';
import { mediaUrl } from './media.js';
import { finished } from './submit.js';

/** Form parts of an edit beyond `image` and `mask` (OpenAI sends about a dozen). */
const MAX_FORM_FIELDS = 40;

const GENERATION_SCHEMA = {
  type: 'object',
  required: ['prompt'],
  properties: {
    prompt: { type: 'string' },
    n: { type: 'integer', minimum: 1, maximum: 4, default: 1 },
    size: { type: 'string', default: 'auto', description: '"WxH" (sides 256–1536) or "auto" (1024x1024)' },
    response_format: {
      type: 'string',
      enum: ['url', 'b64_json'],
      description: 'default url; b64_json for gpt-image-* models, as OpenAI answers them',
    },
    output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'], default: 'png' },
    model: { type: 'string', description: 'an installed model id; anything else means the default model' },
    seed: { type: 'integer', description: 'extension: -1 = random' },
    steps: {
      type: 'integer',
      description:
        "extension: denoising steps in the served model's range (schnell 1–8, default 4; dev 1–50, default 28)",
    },
    loras: {
      type: 'array',
      description: 'extension: up to 5 {path, scale}, as in the hosted contract',
      items: { type: 'object', properties: { path: { type: 'string' }, scale: { type: 'number' } } },
    },
  },
} as const;

interface ImagesResponse {
  readonly created: number;
  readonly data: ({ url: string } | { b64_json: string })[];
  readonly output_format: string;
  readonly size: string;
  readonly seed: number | null;
  readonly task_id: string;
  readonly timings: Readonly<Record<string, number>>;
}

async function imagesResponse(
  ctx: ApiContext,
  task: Task,
  format: 'url' | 'b64_json',
): Promise<ImagesResponse> {
  const data =
    format === 'url'
      ? (await ctx.present(task, { inlineBase64: false })).outputs.map((url) => ({ url }))
      : await Promise.all(
          task.outputs.map(async (name) => ({
            b64_json: (await readFile(ctx.outputs.path(name))).toString('base64'),
          })),
        );
  const { request } = task;
  return {
    created: Math.floor(task.createdAt / 1000),
    data,
    output_format: request.outputFormat,
    size: `${request.width}x${request.height}`,
    seed: task.seed,
    task_id: task.id,
    timings: { ...task.timings },
  };
}

/** Creates the task, waits for it like sync mode, and answers it in OpenAI's shape. */
async function run(
  ctx: ApiContext,
  req: FastifyRequest,
  owner: string | null,
  r: OpenAiImageRequest,
): Promise<ImagesResponse> {
  const submit = parseSubmitBody(r.body, submitOptions(ctx, r.model));
  await checkSubmitSources(submit, sourcePolicy(ctx));
  const task = await ctx.store.create({
    model: r.model,
    request: submit.request,
    input: r.body,
    owner,
    webhook: null,
  });
  req.log.info({ taskId: task.id, model: r.model }, 'task accepted (OpenAI images)');
  ctx.dispatcher.notify();
  // An OpenAI client that hangs up cannot come back for the images (it knows no task id): stop the work.
  const socket = req.raw.socket;
  const abandoned = () => {
    req.log.info({ taskId: task.id }, 'OpenAI client gone before its images; cancelling the task');
    ctx.dispatcher.cancel(task.id).catch(() => {});
  };
  socket.once('close', abandoned);
  // Gone already (during the upload reads or the task's creation): 'close' has fired before us.
  if (socket.destroyed) abandoned();
  const waitMs = ctx.openAiWaitMs ?? ctx.syncWaitMs;
  const done = await finished(ctx, task.id, waitMs).finally(() => socket.off('close', abandoned));
  if (!done) {
    const poll = (await ctx.present((await ctx.store.get(task.id)) ?? task)).urls.get;
    throw new OpenAiError(
      504,
      `the images are not ready after ${waitMs} ms; task ${task.id} goes on: poll ${poll}`,
      null,
      'timeout',
    );
  }
  if (done.status !== 'completed')
    throw new OpenAiError(
      500,
      `image generation failed (task ${done.id}): ${done.error ?? done.status}`,
      null,
      'generation_failed',
    );
  return imagesResponse(ctx, done, r.responseFormat);
}

interface EditForm {
  readonly fields: [string, string][];
  readonly image?: Buffer;
  readonly mask?: Buffer;
}

/** Reads an edit's multipart form: one `image` (or `image[]`), an optional `mask`, text fields. */
async function readEditForm(req: FastifyRequest, limit: number): Promise<EditForm> {
  if (!req.isMultipart())
    throw new OpenAiError(
      400,
      'body: expected multipart/form-data with an image file',
      null,
      'invalid_value',
    );
  const fields: [string, string][] = [];
  const files: { image: Buffer[]; mask: Buffer[] } = { image: [], mask: [] };
  for await (const part of req.parts()) {
    if (part.type === 'field') {
      fields.push([part.fieldname, String(part.value)]);
      continue;
    }
    const name = part.fieldname.replace(/\[\]$/, '');
    const bytes = await part.toBuffer().catch((e: { code?: string }) => {
      if (e.code === 'FST_REQ_FILE_TOO_LARGE')
        throw new OpenAiError(
          413,
          `${name}: larger than the limit of ${limit} bytes`,
          name,
          'file_too_large',
        );
      throw e;
    });
    if (name !== 'image' && name !== 'mask')
      throw new OpenAiError(400, `${part.fieldname}: unexpected file field`, part.fieldname, 'invalid_value');
    files[name].push(bytes);
  }
  if (files.image.length > 1)
    throw new OpenAiError(400, 'image: this server edits one image per request', 'image', 'invalid_value');
  if (files.mask.length > 1) throw new OpenAiError(400, 'mask: at most one mask', 'mask', 'invalid_value');
  return {
    fields,
    ...(files.image[0] && { image: files.image[0] }),
    ...(files.mask[0] && { mask: files.mask[0] }),
  };
}

/**
 * The OpenAI routes as a plugin with its own error shape and form parser.
 * @example await app.register(openAiImageRoutes(ctx), { prefix: '/v1' });
 */
export function openAiImageRoutes(ctx: ApiContext) {
  return async function openAiImages(api: FastifyInstance): Promise<void> {
    api.setErrorHandler(openAiErrorHandler);
    api.setNotFoundHandler(openAiNotFoundHandler);
    const limit = ctx.maxUploadBytes;
    await api.register(multipart, {
      limits: { fileSize: limit, files: 4, fields: MAX_FORM_FIELDS, parts: MAX_FORM_FIELDS + 4 },
    });

    api.post(
      '/images/generations',
      {
        schema: { summary: 'OpenAI Images API: generate images', tags: ['openai'], body: GENERATION_SCHEMA },
        // The schema documents the body; the hosted validator checks it with messages naming the field.
        validatorCompiler: () => () => true,
      },
      async (req) => {
        const owner = ctx.authorize(req);
        const body = req.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw new OpenAiError(400, 'body: expected a JSON object', null, 'invalid_value');
        const r = openAiImageRequest(body as Record<string, unknown>, {
          models: ctx.models,
          autoSize: AUTO_GENERATION_SIZE,
        });
        return run(ctx, req, owner, r);
      },
    );

    api.post(
      '/images/edits',
      { schema: { summary: 'OpenAI Images API: edit an image (multipart image, mask)', tags: ['openai'] } },
      async (req) => {
        const owner = ctx.authorize(req);
        const form = await readEditForm(req, limit);
        if (!form.image)
          throw new OpenAiError(400, 'image: an image file is required', 'image', 'invalid_value');
        const inputs = await editInputs(form.image, form.mask, ctx.maxInputPixels);
        const image = await ctx.media.put(inputs.image, 'image');
        const mask = inputs.mask ? await ctx.media.put(inputs.mask, 'mask') : undefined;
        const r = openAiImageRequest(formFields(form.fields), {
          models: ctx.models,
          autoSize: autoEditSize(inputs.width, inputs.height),
          image: mediaUrl(ctx.publicBaseUrl, image.name),
          ...(mask && { mask: mediaUrl(ctx.publicBaseUrl, mask.name) }),
        });
        return run(ctx, req, owner, r);
      },
    );
  };
}
