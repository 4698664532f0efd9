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
    // A LoRA resolved early must survive the cache eviction after another one's download, and
    // every one until the worker has read it (the task's end).
    const releases: (() => void)[] = [];
    let settled = false;
    const releaseAll = () => {
      settled = true;
      for (const release of releases) release();
    };
    let allLocal = false;
    try {
      const local = await Promise.all(
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
          // After another LoRA failed the request, nobody will release it later.
          if (settled) release();
          else releases.push(release);
          return { ...lora, file: resolved.file, sha256: resolved.sha256 };
        }),
      );
      allLocal = true;
      return local;
    } finally {
      if (!allLocal || !heldUntil || heldUntil.aborted) releaseAll();
      else heldUntil.addEventListener('abort', releaseAll, { once: true });
    }
  };
}
