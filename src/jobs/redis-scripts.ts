/**
 * @module jobs/redis-scripts
 * The Lua scripts behind the Redis task store. Each state change of a task is one script, so it is
 * atomic on the Redis server whichever API or worker host runs it: the limits are counted and the
 * task inserted in one step, and a guarded move (`created|processing → failed`) can never happen
 * twice. ARGV[1] is the key prefix; scripts build their keys from it (one Redis, not a Cluster).
 *
 * Keys under the prefix `p`:
 * - `p:task:<id>`        hash: the task (JSON fields kept as opaque strings, never parsed in Lua)
 * - `p:seq`              counter: creation order; a task's `seq` is its place in queue and history
 * - `p:queued`           zset seq → id of `created` tasks (queue length and positions)
 * - `p:processing`       set of `processing` ids (stalled-task recovery looks at these)
 * - `p:all`, `p:owner:<key>`  zsets seq → id (history, all and per key)
 * - `p:active:<key>`     set of a key's unfinished ids (per-key limit)
 * - `p:finished`         zset finished_at → id (retention)
 * - `p:webhook:<id>`     hash: url, attempts, member, delivered_at, last_error
 * - `p:webhooks-due`     zset next_at → `<webhook seq, 15 digits>:<id>` (ties in insertion order)
 */

/** Errors scripts raise; the store turns them into coded FluxServeErrors. */
export const SCRIPT_ERROR = /^(?:ERR )?FLUX:(QUEUE_FULL|KEY_BUSY|NOT_FOUND|ID_TAKEN|STATE):?(.*)$/;

/** Shared Lua: the hash as a flat reply, and what finishing a task does to the indexes. */
const FINISH = `
local function finish(p, key, id, now)
  redis.call('ZREM', p .. ':queued', id)
  redis.call('SREM', p .. ':processing', id)
  local owner = redis.call('HGET', key, 'owner')
  if owner then redis.call('SREM', p .. ':active:' .. owner, id) end
  redis.call('ZADD', p .. ':finished', now, id)
  local webhook = redis.call('HGET', key, 'webhook')
  local hook = p .. ':webhook:' .. id
  if webhook and redis.call('EXISTS', hook) == 0 then
    local member = string.format('%015d', redis.call('INCR', p .. ':wseq')) .. ':' .. id
    redis.call('HSET', hook, 'url', webhook, 'attempts', 0, 'member', member)
    redis.call('ZADD', p .. ':webhooks-due', now, member)
  end
end
local function state(key, id)
  local s = redis.call('HGET', key, 'status')
  if not s then return redis.error_reply('FLUX:NOT_FOUND:' .. id) end
  return redis.error_reply('FLUX:STATE:' .. s)
end
`;

export const SCRIPTS = {
  /** ARGV: p, id, now, maxQueued, maxPerOwner (-1: none), model, request, input, owner, webhook ('' = null). */
  create: `
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':task:' .. id
if redis.call('ZCARD', p .. ':queued') >= tonumber(ARGV[4]) then return redis.error_reply('FLUX:QUEUE_FULL') end
local owner, webhook = ARGV[9], ARGV[10]
if owner ~= '' and tonumber(ARGV[5]) >= 0 and redis.call('SCARD', p .. ':active:' .. owner) >= tonumber(ARGV[5]) then
  return redis.error_reply('FLUX:KEY_BUSY')
end
if redis.call('EXISTS', key) == 1 then return redis.error_reply('FLUX:ID_TAKEN') end
local seq = redis.call('INCR', p .. ':seq')
redis.call('HSET', key, 'id', id, 'model', ARGV[6], 'status', 'created', 'request', ARGV[7], 'input', ARGV[8],
  'outputs', '[]', 'has_nsfw_contents', '[]', 'timings', '{}', 'warnings', '[]', 'attempts', 0,
  'created_at', now, 'seq', seq)
if owner ~= '' then
  redis.call('HSET', key, 'owner', owner)
  redis.call('SADD', p .. ':active:' .. owner, id)
  redis.call('ZADD', p .. ':owner:' .. owner, seq, id)
end
if webhook ~= '' then redis.call('HSET', key, 'webhook', webhook) end
redis.call('ZADD', p .. ':queued', seq, id)
redis.call('ZADD', p .. ':all', seq, id)
return redis.call('HGETALL', key)`,

  /** ARGV: p, id, now. `created` (or `processing` again after a stall) → `processing`, attempts + 1. */
  claim: `${FINISH}
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':task:' .. id
local s = redis.call('HGET', key, 'status')
if s ~= 'created' and s ~= 'processing' then return state(key, id) end
redis.call('HSET', key, 'status', 'processing', 'started_at', now)
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('ZREM', p .. ':queued', id)
redis.call('SADD', p .. ':processing', id)
return redis.call('HGETALL', key)`,

  /** ARGV: p, id, now, outputs, nsfw, seed, timings, warnings (JSON). Only from `processing`. */
  complete: `${FINISH}
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':task:' .. id
if redis.call('HGET', key, 'status') ~= 'processing' then return state(key, id) end
redis.call('HSET', key, 'status', 'completed', 'outputs', ARGV[4], 'has_nsfw_contents', ARGV[5], 'seed', ARGV[6],
  'timings', ARGV[7], 'warnings', ARGV[8], 'finished_at', now)
finish(p, key, id, now)
return redis.call('HGETALL', key)`,

  /**
   * ARGV: p, id, now, error, attempts ('' = any). From `created` or `processing`; with `attempts`,
   * only if the task is `processing` after exactly that many (a stalled task nobody claimed since).
   */
  fail: `${FINISH}
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':task:' .. id
local s = redis.call('HGET', key, 'status')
if ARGV[5] ~= '' then
  if s ~= 'processing' or redis.call('HGET', key, 'attempts') ~= ARGV[5] then return state(key, id) end
elseif s ~= 'created' and s ~= 'processing' then return state(key, id) end
redis.call('HSET', key, 'status', 'failed', 'error', ARGV[4], 'finished_at', now)
finish(p, key, id, now)
return redis.call('HGETALL', key)`,

  /** ARGV: p, id, attempts. `processing` after exactly `attempts` → `created`, at its old place. */
  requeue: `${FINISH}
local p, id = ARGV[1], ARGV[2]
local key = p .. ':task:' .. id
if redis.call('HGET', key, 'status') ~= 'processing' or redis.call('HGET', key, 'attempts') ~= ARGV[3] then
  return state(key, id)
end
redis.call('HSET', key, 'status', 'created')
redis.call('HDEL', key, 'started_at')
redis.call('SREM', p .. ':processing', id)
redis.call('ZADD', p .. ':queued', redis.call('HGET', key, 'seq'), id)
return redis.call('HGETALL', key)`,

  /**
   * ARGV: p, offset, limit, status, model, owner ('' = any). Newest first:
   * [total, hash, hash, …] for the page, scanned in one step so total and page agree.
   */
  history: `
local p, offset, limit, status, model, owner = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local index = owner ~= '' and (p .. ':owner:' .. owner) or (p .. ':all')
local ids = redis.call('ZREVRANGE', index, 0, -1)
local total, page = 0, {}
for _, id in ipairs(ids) do
  local key = p .. ':task:' .. id
  local f = redis.call('HMGET', key, 'status', 'model')
  if f[1] and (status == '' or f[1] == status) and (model == '' or f[2] == model) then
    if total >= offset and #page < limit then page[#page + 1] = redis.call('HGETALL', key) end
    total = total + 1
  end
end
return { total, unpack(page) }`,

  /** ARGV: p, cutoff. Deletes finished tasks with finished_at < cutoff; returns their outputs (JSON each). */
  purge: `
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. ':finished', '-inf', '(' .. ARGV[2])
local outputs = {}
for _, id in ipairs(ids) do
  local key = p .. ':task:' .. id
  local f = redis.call('HMGET', key, 'outputs', 'owner')
  if f[1] then outputs[#outputs + 1] = f[1] end
  if f[2] then redis.call('ZREM', p .. ':owner:' .. f[2], id) end
  local hook = p .. ':webhook:' .. id
  local member = redis.call('HGET', hook, 'member')
  if member then redis.call('ZREM', p .. ':webhooks-due', member) end
  redis.call('DEL', key, hook)
  redis.call('ZREM', p .. ':all', id)
  redis.call('ZREM', p .. ':finished', id)
end
return outputs`,

  /** ARGV: p, now, limit, leaseMs. Due deliveries [id, url, attempts, …], each leased for leaseMs. */
  dueWebhooks: `
local p, now = ARGV[1], tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', p .. ':webhooks-due', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(due) do
  local id = string.sub(member, 17)
  local f = redis.call('HMGET', p .. ':webhook:' .. id, 'url', 'attempts')
  redis.call('ZADD', p .. ':webhooks-due', now + tonumber(ARGV[4]), member)
  out[#out + 1] = id
  out[#out + 1] = f[1]
  out[#out + 1] = f[2]
end
return out`,

  /** ARGV: p, id, now, delivered ('1'/'0'), error, retryAt ('' = give up). */
  webhookAttempt: `
local p, id = ARGV[1], ARGV[2]
local hook = p .. ':webhook:' .. id
local member = redis.call('HGET', hook, 'member')
if not member then return 0 end
redis.call('HINCRBY', hook, 'attempts', 1)
if ARGV[4] == '1' then
  redis.call('HSET', hook, 'delivered_at', ARGV[3])
  redis.call('HDEL', hook, 'last_error')
  redis.call('ZREM', p .. ':webhooks-due', member)
else
  redis.call('HSET', hook, 'last_error', ARGV[5])
  if ARGV[6] == '' then redis.call('ZREM', p .. ':webhooks-due', member)
  else redis.call('ZADD', p .. ':webhooks-due', tonumber(ARGV[6]), member) end
end
return 1`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
