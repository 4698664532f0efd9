/**
 * @module api/request-log
 * Fastify's per-request log lines, with those of GET and HEAD requests at debug: clients poll
 * results, event streams and probes many times a second, and at info they would bury what changes
 * (submits, cancels, uploads, tasks) under hundreds of identical lines.
 */
import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

const isPoll = (request: FastifyRequest) => request.method === 'GET' || request.method === 'HEAD';

export class PollQuietLogController extends LogController {
  override incomingRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (!isPoll(request)) super.incomingRequest(request, reply, metadata);
    else if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error || !isPoll(request)) super.requestCompleted(error, request, reply, metadata);
    else if (!this.isLogDisabled(request))
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
