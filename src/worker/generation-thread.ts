/**
 * @module worker/generation-thread
 * A worker thread that owns a loaded model and renders requests: session.run blocks the thread it
 * runs on, so inference never shares a thread with an event loop that must stay responsive.
 * Messages in: `{ id, request }`; out: `{ id, type: 'step', step, total }`, then
 * `{ id, type: 'done', result }` or `{ id, type: 'error', error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { FluxServeError } from '../errors.js';
import { safeFetch } from '../hub/safe-fetch.js';
import { createLogger } from '../log.js';
import type { GenerationRequest } from '../pipeline/generation-request.js';
import { PromptEncoder } from '../pipeline/prompt-encoder.js';
import { type RenderContext, render } from '../pipeline/render.js';
import { loadFluxModel } from '../runtime/flux-model.js';
import type { ThreadInit, ThreadMessage } from './generation-protocol.js';

const init = workerData as ThreadInit;
const log = createLogger(init.logLevel).child({ thread: 'generation' });
const port = parentPort;
if (!port) throw new Error('generation-thread must run as a worker thread');

// Every user image is decoded once: sharp's cache would only hold memory.
sharp.cache(false);

const model = await loadFluxModel(init.modelDir, { provider: init.provider, log });
const ctx: RenderContext = {
  model,
  encoder: await PromptEncoder.load(model),
  fetchImage: async (url, field) =>
    (
      await safeFetch(url, {
        field,
        maxBytes: init.maxImageBytes,
        timeoutMs: init.fetchTimeoutMs,
        policy: init.fetchPolicy,
        allowedContentTypes: (ct) =>
          /^image\/(png|jpeg|webp)\b/.test(ct) || ct.startsWith('application/octet-stream'),
      })
    ).bytes,
};
port.postMessage({ type: 'ready', provider: model.provider } satisfies ThreadMessage);

let queue = Promise.resolve();
port.on('message', (message: { id: string; request: GenerationRequest }) => {
  // One generation at a time: the model's sessions are not shared between concurrent runs.
  queue = queue.then(async () => {
    const { id, request } = message;
    try {
      const result = await render(ctx, request, {
        onStep: (p) => port.postMessage({ type: 'step', id, ...p } satisfies ThreadMessage),
      });
      const g = result.generation;
      port.postMessage({
        type: 'done',
        id,
        result: {
          outputs: result.outputs,
          seed: result.seed,
          width: result.width,
          height: result.height,
          droppedTokens: g.droppedTokens,
          timings: { ...g.timings, encodeMs: result.encodeMs },
          dump: { ...g.tensors, sigmas: g.sigmas },
          generationSize: { width: g.width, height: g.height },
        },
      } satisfies ThreadMessage);
    } catch (error) {
      const e = error as Error;
      log.error({ id, err: e }, 'generation failed');
      port.postMessage({
        type: 'error',
        id,
        error: {
          message: e.message,
          code: e instanceof FluxServeError ? e.code : 'FLUX_ERR_INTERNAL',
          statusCode: e instanceof FluxServeError ? e.statusCode : 500,
        },
      } satisfies ThreadMessage);
    }
  });
});
