/**
 * @module api/history-query
 * The history request (api.md, `POST /api/v3/predictions`): `{page, page_size, status?, model?}`,
 * checked by hand so a bad field gets the same field-and-rule message as a bad submit.
 */
import { errors } from '../errors.js';
import type { HistoryQuery, TaskStatus } from '../jobs/task.js';

export const HISTORY_LIMITS = { pageSize: { default: 20, max: 100 } } as const;
const STATUSES: readonly TaskStatus[] = ['created', 'processing', 'completed', 'failed'];

function integer(body: Record<string, unknown>, name: string, fallback: number, max: number): number {
  const v = body[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw errors.USAGE(`${name}: expected an integer, got ${JSON.stringify(v)}`);
  }
  if (v < 1 || v > max) throw errors.USAGE(`${name}: ${v} is not in 1–${max}`);
  return v;
}

/**
 * @example parseHistoryQuery({ page: 2, page_size: 10, status: 'completed' }) // { page: 2, pageSize: 10, status: 'completed' }
 */
export function parseHistoryQuery(body: unknown): Omit<HistoryQuery, 'owner'> {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b !== 'object' || Array.isArray(b)) throw errors.USAGE('body: expected a JSON object');
  const status = b.status ?? undefined;
  if (status !== undefined && !(STATUSES as readonly unknown[]).includes(status)) {
    throw errors.USAGE(`status: expected one of ${STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
  }
  const model = b.model ?? undefined;
  if (model !== undefined && (typeof model !== 'string' || model.length > 200)) {
    throw errors.USAGE('model: expected a model id string (at most 200 characters)');
  }
  return {
    page: integer(b, 'page', 1, Number.MAX_SAFE_INTEGER),
    pageSize: integer(b, 'page_size', HISTORY_LIMITS.pageSize.default, HISTORY_LIMITS.pageSize.max),
    ...(status !== undefined ? { status: status as TaskStatus } : {}),
    ...(model !== undefined ? { model: model as string } : {}),
  };
}
