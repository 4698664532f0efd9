/**
 * @module api/submit-sources
 * What a task will fetch or read, judged at submit so that a request that cannot work is a 400 now
 * instead of a task that fails later: an image or LoRA URL whose host is an IP literal the address
 * policy refuses (the same rule as webhooks), and a LoRA name that leaves the LoRA folder or is not
 * in it. Host names are resolved at fetch time only (their addresses may change), and hub
 * references need the network, so those are judged when the task runs.
 */
import { errors } from '../errors.js';
import type { AddressPolicy } from '../hub/address-policy.js';
import { displayUrl } from '../hub/fetch-errors.js';
import { parseFetchUrl, refusedLiteral } from '../hub/fetch-target.js';
import { localLoraFile, parseLoraSource } from '../hub/lora-source.js';
import type { SubmitBody } from './submit-schema.js';

export interface SourcePolicy {
  readonly fetchPolicy: AddressPolicy;
  /** `<public base>/media/`: this server's uploads, which the worker reads from disk, not the network. */
  readonly mediaBase: string;
  /** The LoRA folder the tasks read local LoRAs from; undefined where this node does not hold it. */
  readonly loraDir?: string;
}

/** FLUX_ERR_USAGE naming `field` when `raw`'s host is an IP literal the policy refuses, in the words the fetch itself uses. */
function checkAddress(field: string, raw: string, policy: AddressPolicy): void {
  const url = parseFetchUrl(field, raw);
  const refused = refusedLiteral(url, policy);
  if (refused) throw errors.USAGE(`${field}: refused to download ${displayUrl(url)}: ${refused}`);
}

/**
 * @throws FluxServeError FLUX_ERR_USAGE (400) naming the field
 * @example await checkSubmitSources(body, { fetchPolicy: ctx.fetchPolicy, loraDir: ctx.loraDir });
 */
export async function checkSubmitSources(body: SubmitBody, policy: SourcePolicy): Promise<void> {
  const images = [
    ['image', body.request.image],
    ['mask_image', body.request.maskImage],
  ] as const;
  for (const [field, value] of images)
    if (value && /^https?:\/\//i.test(value) && !value.startsWith(policy.mediaBase))
      checkAddress(field, value, policy.fetchPolicy);
  for (const [i, lora] of body.loras.entries()) {
    const field = `loras[${i}].path`;
    const source = await parseLoraSource(field, lora.path, policy.loraDir);
    if (source.kind === 'url') checkAddress(field, source.url, policy.fetchPolicy);
    else if (source.kind === 'local' && policy.loraDir !== undefined)
      await localLoraFile(field, source.name, policy.loraDir);
  }
}
