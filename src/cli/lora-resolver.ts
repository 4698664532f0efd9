/**
 * @module cli/lora-resolver
 * The configured way to make a request's LoRAs local (the LoRA folder, URLs through the guarded
 * fetcher, Hugging Face repos; downloads cached by content hash), shared by `serve` and `generate`.
 * Long downloads log their progress every few seconds.
 */
import type { Config } from '../config.js';
import { formatBytes } from '../hub/fetch-errors.js';
import { holdLoraBlob, resolveLora } from '../hub/lora-resolve.js';
import type { LoraResolver } from '../jobs/dispatcher.js';

const PROGRESS_EVERY_MS = 5000;

/** @example const resolve = loraResolver(config); const local = await resolve(request.loras, signal, log); */
export function loraResolver(config: Readonly<Config>): LoraResolver {
  return async (loras, signal, log, heldUntil) => {
    // Each file stays out of the cache's eviction (another download's) until the task ends, since
    // the worker reads it after this resolves; without a task to wait for, until this call is over.
    const call = new AbortController();
    const until = heldUntil ?? call.signal;
    try {
      return await Promise.all(
        loras.map(async (lora, i) => {
          const field = `loras[${i}].path`;
          let lastReport = Date.now();
          const resolved = await resolveLora(lora.path, {
            cacheDir: config.loraCacheDir,
            loraDir: config.loraDir,
            maxBytes: config.maxLoraBytes,
            timeoutMs: config.fetchTimeoutMs,
            downloadTimeoutMs: config.loraDownloadTimeoutMs,
            policy: config.fetchPolicy,
            hubEndpoint: config.hub.endpoint,
            hfToken: config.hub.token,
            offline: config.hub.offline,
            cacheMaxBytes: config.loraCacheBytes,
            signal,
            field,
            onProgress: (received, total) => {
              if (Date.now() - lastReport < PROGRESS_EVERY_MS) return;
              lastReport = Date.now();
              const of = total ? ` of ${formatBytes(total)} (${Math.round((100 * received) / total)} %)` : '';
              log.info({ lora: lora.path, received }, `downloading LoRA: ${formatBytes(received)}${of}`);
            },
          });
          log.info(
            { lora: lora.path, source: resolved.source, cached: resolved.cached, bytes: resolved.bytes },
            'LoRA local',
          );
          const release = holdLoraBlob(resolved.file);
          if (until.aborted) release();
          else until.addEventListener('abort', release, { once: true });
          return { ...lora, file: resolved.file, sha256: resolved.sha256 };
        }),
      );
    } finally {
      call.abort();
    }
  };
}
