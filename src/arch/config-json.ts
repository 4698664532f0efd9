/**
 * @module arch/config-json
 * The one entry check of every config parser: the object of a Hugging Face `config.json`. Its keys
 * are snake_case; a camelCase key means an already-parsed config was handed back to a parser,
 * which would otherwise read none of its fields and silently build the full-size defaults.
 */
import { errors } from '../errors.js';

export type ConfigJson = Record<string, unknown>;

/**
 * @param what the component, for the message (`transformer`, `text_encoder`, …)
 * @throws FluxServeError FLUX_ERR_CONFIG for a non-object or a camelCase key
 * @example const json = configJson(JSON.parse(text), 'vae');
 */
export function configJson(input: unknown, what: string): ConfigJson {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw errors.CONFIG(`${what} config is not a JSON object`);
  }
  const camel = Object.keys(input).find((k) => /^[a-z]+[A-Z]/.test(k));
  if (camel !== undefined) {
    throw errors.CONFIG(
      `${what} config has the key "${camel}": expected the snake_case fields of its config.json, not an already-parsed config`,
    );
  }
  return input as ConfigJson;
}
