/**
 * @module api/webhook-secret
 * The webhook signing secret: configured, or generated once and kept in the home directory, so
 * receivers keep verifying deliveries across restarts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newWebhookSecret } from './webhook-signature.js';

/** @example const secret = await loadWebhookSecret(config.home, config.webhookSecret); // 'whsec_…' */
export async function loadWebhookSecret(home: string, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const path = join(home, 'webhook-secret');
  const stored = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (stored) return stored;
  const secret = newWebhookSecret();
  // 'wx': two servers starting on one home at once must not end up with different secrets.
  await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async (e: { code?: string }) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return (await readFile(path, 'utf8')).trim();
}
