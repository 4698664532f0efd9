/**
 * @module hub/webhook-post
 * POSTs a webhook body to a user-supplied URL under the same guard as downloads (api.md, "URL
 * fetching"): the host is resolved and vetted, the socket is pinned to the vetted addresses, and
 * redirects are not followed (a receiver that moved answers 3xx, which counts as a failed try), so
 * a webhook can never be bounced into a private network.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressPolicy } from './address-policy.js';
import { displayUrl } from './fetch-errors.js';
import { type HostLookup, parseFetchUrl, resolveFetchTarget, systemLookup } from './fetch-target.js';
import { pinnedLookup } from './pinned-lookup.js';

export interface WebhookPostOptions {
  readonly policy: AddressPolicy;
  /** Deadline for the lookup, the connection and the receiver's answer, ms. */
  readonly timeoutMs: number;
  readonly lookup?: HostLookup;
}

/** What the receiver answered: a 2xx status is a delivery. */
export interface WebhookResponse {
  readonly status: number;
}

/** The receiver's answer body is not needed; reading a little keeps the socket from stalling. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One delivery try. Rejects with a FluxServeError naming the URL when the address is refused, and
 * with the network error when the receiver cannot be reached in time.
 * @example const { status } = await postWebhook('https://example.com/hook', body, headers, { policy, timeoutMs: 10_000 });
 */
export async function postWebhook(
  rawUrl: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  options: WebhookPostOptions,
): Promise<WebhookResponse> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const url = parseFetchUrl('webhook', rawUrl);
  const target = await resolveFetchTarget(
    'webhook',
    url,
    options.policy,
    options.lookup ?? systemLookup,
    signal,
  );
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<WebhookResponse>((resolve, reject) => {
    const req = client.request({
      protocol: url.protocol,
      host: target.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'flux-serve',
      },
      lookup: pinnedLookup(target.addresses),
      agent: false,
      signal,
    });
    req.once('error', (error) =>
      reject(
        signal.aborted ? new Error(`${displayUrl(url)} did not answer in ${options.timeoutMs} ms`) : error,
      ),
    );
    req.once('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) res.destroy();
      });
      res.once('close', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.end(body);
  });
}
