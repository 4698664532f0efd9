/**
 * @module cli/pull-command
 * `flux-serve pull [flux.1-schnell|flux.1-dev|owner/name] [--revision R]`: the files a build needs,
 * from the hub (`HF_ENDPOINT`, `HF_TOKEN`) into the Hugging Face cache (`HF_HUB_CACHE` / `HF_HOME`),
 * pinned to the commit the revision points to. Prints the snapshot dir, which `build` takes.
 */
import type { Command } from 'commander';
import { checkpointFiles } from '../build/checkpoint-files.js';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { formatBytes } from '../hub/fetch-errors.js';
import { type PullOptions, pullRepo } from '../hub/model-pull.js';
import type { Logger } from '../log.js';
import { type DownloadProgress, downloadProgress } from './download-progress.js';
import { DEFAULT_MODEL, modelSource } from './model-source.js';

/** Idle limit of a download and deadline of the listing, ms: a 24 GB body takes long, a stall should not. */
const HUB_TIMEOUT_MS = 60_000;

/** The pull options of `config` (tests call pullRepo directly with a loopback hub). */
export function pullOptions(config: Readonly<Config>): PullOptions {
  return {
    cacheDir: config.hub.cacheDir,
    endpoint: config.hub.endpoint,
    token: config.hub.token,
    offline: config.hub.offline,
    select: checkpointFiles,
    // The hub is the operator's choice (a mirror may sit on the LAN), not a request's URL.
    policy: { allowLoopback: true, allowPrivate: true },
    timeoutMs: HUB_TIMEOUT_MS,
  };
}

export function registerPull(program: Command, config: Readonly<Config>, log: Logger): void {
  program
    .command('pull')
    .description('download a model checkpoint from the Hugging Face hub into its cache (HF_HUB_CACHE)')
    .argument('[model]', 'flux.1-schnell, flux.1-dev or a hub repo owner/name', DEFAULT_MODEL)
    .option('--revision <rev>', "branch, tag or commit (default: the manifest's, else main)")
    .action(async (model: string, flags: { revision?: string }) => {
      const source = await modelSource(model, flags.revision);
      if (!source) throw errors.USAGE(`pull ${model}: expected flux.1-schnell, flux.1-dev or owner/name`);
      if (source.repo.endsWith('FLUX.1-dev') && !config.hub.token && !config.hub.offline)
        log.warn(
          `${source.repo} is gated: accept its licence on the hub and set HF_TOKEN, or the pull is refused`,
        );
      let bar: DownloadProgress | undefined;
      const started = Date.now();
      const pulled = await pullRepo(source.repo, {
        ...pullOptions(config),
        revision: source.revision,
        onPlan: (plan) => {
          log.info(
            { repo: source.repo, commit: plan.commit, files: plan.files.length, cached: plan.cached.length },
            `pulling ${source.repo}@${plan.commit.slice(0, 12)}: ${formatBytes(plan.bytesToDownload)} to download`,
          );
          if (plan.bytesToDownload > 0) bar = downloadProgress(log, plan.bytesToDownload);
        },
        onProgress: (p) => bar?.update(p),
      });
      bar?.stop();
      log.info(
        {
          repo: source.repo,
          commit: pulled.commit,
          downloaded: pulled.downloadedBytes,
          ms: Date.now() - started,
        },
        `pulled ${source.repo}; build it with \`flux-serve build ${model}\` (or let serve build it on first use)`,
      );
      process.stdout.write(`${pulled.dir}\n`);
    });
}
