/**
 * @module api/envelope
 * The hosted contract wraps every JSON answer, errors included, in `{code, message, data}`
 * (api.md, "Envelope"); clients read `code` and `data` from it, so no route answers bare JSON.
 */

export interface Envelope<T> {
  /** The HTTP status, except sync-mode's timeout (5004). */
  readonly code: number;
  /** `"success"` on 2xx; otherwise names the field and the rule. */
  readonly message: string;
  readonly data: T;
}

/**
 * A success envelope.
 * @example ok({ id: 'abc' }) // { code: 200, message: 'success', data: { id: 'abc' } }
 */
export function ok<T>(data: T, code = 200): Envelope<T> {
  return { code, message: 'success', data };
}

/**
 * An error envelope; `data` is null because clients only look at `message` on failure.
 * @example failure(400, 'size: width 2000 is above the maximum 1536') // { code: 400, message: '…', data: null }
 */
export function failure(status: number, message: string): Envelope<null> {
  return { code: status, message, data: null };
}
