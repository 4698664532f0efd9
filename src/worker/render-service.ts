/**
 * @module worker/render-service
 * What the generation thread and the worker process share: load the model once, then render
 * requests one at a time and answer each with step, done or error messages of the protocol.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { errors, FluxServeError } from '../errors.js';
import { safeFetch } from '../hub/safe-fetch.js';
import { UPLOAD_NAME } from '../image/image-input.js';
import type { Logger } from '../log.js';
import { PromptEncoder } from '../pipeline/prompt-encoder.js';
import { type RenderContext, render } from '../pipeline/render.js';
import { loadFluxModel } from '../runtime/flux-model.js';
import type { Provider } from '../runtime/session.js';
import { loadSafetyScreen } from '../safety/safety-screen.js';
import type { RenderJob, ThreadInit, ThreadMessage } from './generation-protocol.js';
import { LoraFeeds } from './lora-feeds.js';

/** An upload of this server named by its URL, read from disk; undefined for any other URL. */
async function readUpload(init: ThreadInit, url: string, field: string): Promise<Buffer | undefined> {
  if (!init.media || !url.startsWith(init.media.baseUrl)) return undefined;
  const name = url.slice(init.media.baseUrl.length);
  if (!UPLOAD_NAME.test(name)) throw errors.USAGE(`${field}: ${url} is not an upload of this server`);
  return readFile(join(init.media.dir, name)).catch(() => {
    throw errors.USAGE(`${field}: upload ${name} not found (expired or never finished)`);
  });
}

/** Parsed LoRAs kept between requests: a dozen full-size rank-16 LoRAs (~350 MB parsed each). */
const DEFAULT_LORA_MEMORY = 4 * 1024 ** 3;

export interface RenderService {
  readonly provider: Provider;
  /** Queues a job; its messages go to `reply`. */
  handle(job: RenderJob): void;
  /** Cancels a queued or running job: it answers an error with code FLUX_ERR_CANCELLED. */
  cancel(id: string): void;
}

/** @example const service = await startRenderService(init, log, (m) => port.postMessage(m)); */
export async function startRenderService(
  init: ThreadInit,
  log: Logger,
  reply: (m: ThreadMessage) => void,
): Promise<RenderService> {
  // Every user image is decoded once: sharp's cache would only hold memory.
  sharp.cache(false);
  const started = performance.now();
  log.info({ modelDir: init.modelDir, provider: init.provider }, 'loading model');
  const model = await loadFluxModel(init.modelDir, {
    provider: init.provider,
    log,
    ...(init.logPlacement ? { logPlacement: true } : {}),
    ...(init.strictPlacement ? { strictPlacement: true } : {}),
    ...(init.native ? { native: init.native } : {}),
  });
  // Loaded once, here in the worker: classifying never blocks the server's event loop.
  const safety = init.safety ? await loadSafetyScreen(init.safety, log) : undefined;
  const ctx: RenderContext = {
    model,
    encoder: await PromptEncoder.load(model),
    ...(safety ? { safety } : {}),
    ...(init.maxInputPixels ? { maxInputPixels: init.maxInputPixels } : {}),
    fetchImage: async (url, field) =>
      (await readUpload(init, url, field)) ??
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
  log.info({ ms: Math.round(performance.now() - started), provider: model.provider }, 'model loaded');
  const loraFeeds = new LoraFeeds(
    model.transformerConfig,
    model.manifest.components.transformer?.layers ?? [],
    init.loraMemoryBytes ?? DEFAULT_LORA_MEMORY,
  );

  let queue = Promise.resolve();
  const controllers = new Map<string, AbortController>();
  const run = async ({ id, request, dump }: RenderJob) => {
    const signal = controllers.get(id)?.signal;
    try {
      signal?.throwIfAborted();
      const loraStarted = performance.now();
      const loras = request.loras?.length ? await loraFeeds.prepare(request.loras) : undefined;
      const loraMs = performance.now() - loraStarted;
      if (loras)
        log.info(
          {
            id,
            loras: request.loras?.length,
            cacheHits: loras.hits,
            ms: Math.round(loraMs),
            reports: loras.reports,
          },
          'LoRAs ready',
        );
      const result = await render(ctx, request, {
        onStep: (p) => reply({ type: 'step', id, ...p }),
        ...(signal ? { signal } : {}),
        ...(loras ? { lora: loras.tensors } : {}),
      });
      const g = result.generation;
      reply({
        type: 'done',
        id,
        result: {
          outputs: result.outputs,
          hasNsfwContents: result.hasNsfwContents,
          seed: result.seed,
          width: result.width,
          height: result.height,
          droppedTokens: g.droppedTokens,
          timings: {
            ...g.timings,
            encodeMs: result.encodeMs,
            ...(loras ? { loraMs } : {}),
            ...(result.safetyChecked ? { safetyMs: result.safetyMs } : {}),
          },
          warnings: loras?.warnings ?? [],
          loraCache: { hits: loras?.hits ?? 0, misses: loras?.misses ?? 0 },
          ...(dump ? { dump: { ...g.tensors, sigmas: g.sigmas } } : {}),
          generationSize: { width: g.width, height: g.height },
        },
      });
    } catch (error) {
      const e = error as Error;
      if (signal?.aborted) log.info({ id }, 'generation cancelled');
      else log.error({ id, err: e }, 'generation failed');
      reply({
        type: 'error',
        id,
        error: {
          message: e.message,
          code: e instanceof FluxServeError ? e.code : 'FLUX_ERR_INTERNAL',
          statusCode: e instanceof FluxServeError ? e.statusCode : 500,
        },
      });
    } finally {
      controllers.delete(id);
    }
  };
  return {
    provider: model.provider,
    // One generation at a time: the model's sessions are not shared between concurrent runs.
    handle: (job) => {
      controllers.set(job.id, new AbortController());
      queue = queue.then(() => run(job));
    },
    cancel: (id) => controllers.get(id)?.abort(errors.CANCELLED()),
  };
}
