/**
 * @module api/error-handler
 * Fastify's error and not-found handlers, answering every failure in the hosted envelope (api.md):
 * clients parse `{code, message, data}` even on errors, and Fastify's own JSON error shape would
 * break them. Internal failures get a generic message (their text may hold paths or secrets); the
 * detail goes to the log with the request id so an operator can find it.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FluxServeError } from '../errors.js';
import { failure } from './envelope.js';

/** Seconds a client is told to wait after a 429 (queue full, per-key limit). */
export const RETRY_AFTER_SEC = 5;

interface ValidationIssue {
  readonly instancePath?: string;
  readonly message?: string;
  readonly keyword?: string;
  readonly params?: Record<string, unknown>;
}

/** `body/loras/0/scale` style paths become the contract's `loras[0].scale`. */
function fieldName(issue: ValidationIssue, context: string | undefined): string {
  const parts = (issue.instancePath ?? '').split('/').filter(Boolean);
  const missing = issue.params?.missingProperty;
  if (issue.keyword === 'required' && typeof missing === 'string') parts.push(missing);
  if (parts.length === 0) return context ?? 'body';
  return parts.reduce(
    (name, part, i) => (/^\d+$/.test(part) ? `${name}[${part}]` : i ? `${name}.${part}` : part),
    '',
  );
}

function validationMessage(err: FastifyError): string {
  const issue = (err.validation?.[0] ?? {}) as ValidationIssue;
  const rule = issue.keyword === 'required' ? 'is required' : (issue.message ?? 'is invalid');
  return `${fieldName(issue, err.validationContext)}: ${rule}`;
}

/** The status and message a client sees for an error; null message = internal, answered generically. */
function classify(err: FastifyError, request: FastifyRequest): { status: number; message: string | null } {
  if (err instanceof FluxServeError) return { status: err.statusCode, message: err.message };
  if (err.validation) return { status: 400, message: validationMessage(err) };
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, message: `body: larger than the limit of ${request.routeOptions.bodyLimit} bytes` };
  }
  // Fastify's own 4xx errors (malformed JSON, wrong content type) describe the client's mistake.
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, message: err.message };
  return { status: 500, message: null };
}

/**
 * Answers an error in the envelope.
 * @example app.setErrorHandler(errorHandler)
 */
export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, message } = classify(err, request);
  if (status >= 500) request.log.error({ err, reqId: request.id }, 'request failed');
  if (status === 429) reply.header('retry-after', String(RETRY_AFTER_SEC));
  return reply.code(status).send(failure(status, message ?? `internal error (request ${request.id})`));
}

/**
 * Answers an unknown route (including `POST /api/v3/{unknown model}`) in the envelope.
 * @example app.setNotFoundHandler(notFoundHandler)
 */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send(failure(404, `${request.method} ${request.url.split('?')[0]}: not found`));
}

/**
 * Installs both handlers on an app (call before routes are registered in child plugins).
 * @example registerErrorHandlers(fastify({ bodyLimit: 1 << 20 }))
 */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
}
