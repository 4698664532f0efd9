/**
 * @module api/openai-errors
 * Errors of the OpenAI-compatible routes in OpenAI's shape, `{error: {message, type, param, code}}`,
 * instead of the hosted envelope: OpenAI SDKs read `error.message` and `error.param` from the body
 * and pick their exception class (and whether to retry) from the HTTP status.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FluxServeError } from '../errors.js';
import { RETRY_AFTER_SEC } from './error-handler.js';

export interface OpenAiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/** An error these routes raise themselves, with the OpenAI request parameter it is about. */
export class OpenAiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'OpenAiError';
  }
}

/** OpenAI's `type` and default `code` per status (as api.openai.com answers them). */
function kind(status: number): { type: string; code: string | null } {
  if (status === 401) return { type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 429) return { type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { type: 'server_error', code: null };
  return { type: 'invalid_request_error', code: null };
}

/**
 * The hosted field names our validators put in front of their messages, as the OpenAI request calls
 * them: `num_images: 5 is not an integer in 1–4` is about `n`.
 */
const PARAM_NAMES: Readonly<Record<string, string>> = {
  num_images: 'n',
  num_inference_steps: 'steps',
  mask_image: 'mask',
  width: 'size',
  height: 'size',
};

/** `field: rule` messages (the validators' convention) → the OpenAI param and the message naming it. */
function withParam(message: string): { message: string; param: string | null } {
  const m = /^([a-z_]+)((?:\[\d+\])?(?:\.[a-z_]+)?): /.exec(message);
  if (!m) return { message, param: null };
  const name = PARAM_NAMES[m[1] as string] ?? (m[1] as string);
  const param = `${name}${m[2]}`;
  return { message: `${param}: ${message.slice(m[0].length)}`, param };
}

/**
 * The body of an OpenAI error.
 * @example openAiError(400, 'size: expected "WxH"', 'size') // { error: { message, type: 'invalid_request_error', param: 'size', code: null } }
 */
export function openAiError(
  status: number,
  message: string,
  param: string | null = null,
  code?: string | null,
): OpenAiErrorBody {
  const k = kind(status);
  return { error: { message, type: k.type, param, code: code === undefined ? k.code : code } };
}

/** Status, message and param of any error these routes can meet; null message = internal. */
function classify(err: FastifyError | Error): {
  status: number;
  message: string | null;
  param: string | null;
} {
  if (err instanceof OpenAiError) return { status: err.statusCode, message: err.message, param: err.param };
  if (err instanceof FluxServeError) return { status: err.statusCode, ...withParam(err.message) };
  const status = (err as FastifyError).statusCode ?? 500;
  // Fastify's own 4xx errors (malformed JSON, wrong content type, body too large) are the client's.
  if (status >= 400 && status < 500) return { status, message: err.message, param: null };
  return { status: 500, message: null, param: null };
}

/**
 * The error handler of the OpenAI routes. Task failures are not worth the SDKs' automatic retries
 * (the same request fails the same way), so 5xx answers carry `x-should-retry: false`, which the
 * official OpenAI SDKs honour.
 * @example api.setErrorHandler(openAiErrorHandler)
 */
export function openAiErrorHandler(
  err: FastifyError,
  req: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const { status, message, param } = classify(err);
  if (status >= 500) {
    req.log.error({ err, reqId: req.id }, 'request failed');
    reply.header('x-should-retry', 'false');
  }
  if (status === 429) reply.header('retry-after', String(RETRY_AFTER_SEC));
  const code = err instanceof OpenAiError && err.code !== null ? err.code : undefined;
  return reply
    .code(status)
    .send(openAiError(status, message ?? `internal error (request ${req.id})`, param, code));
}

/**
 * Unknown routes under /v1, worded as OpenAI words them.
 * @example api.setNotFoundHandler(openAiNotFoundHandler)
 */
export function openAiNotFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .code(404)
    .send(openAiError(404, `Invalid URL (${req.method} ${req.url.split('?')[0]})`, null, null));
}
