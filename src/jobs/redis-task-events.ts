/**
 * @module jobs/redis-task-events
 * Task events across hosts (scale-out): every worker host relays its Dispatcher's events — a task
 * started, stepped, finished — on one Redis pub/sub channel, and every API host turns them back
 * into the events its routes listen to (SSE, sync mode, metrics, webhooks). The same channel
 * carries the other way what an API host asks: "a task was queued" (workers look at once instead
 * of at their next poll) and "cancel task X" (the worker running it stops it at its next step).
 * Pub/sub is fire-and-forget: a host that misses a message still sees the truth in the store, by
 * polling (workers) or on the next read (API); only live progress steps can be missed.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import type { StepProgress } from '../pipeline/generate.js';
import type { Dispatcher, DispatcherEvents, TaskControl } from './dispatcher.js';
import type { Task, TaskStore } from './task.js';

type Message =
  | { readonly type: 'changed'; readonly id: string; readonly progress?: StepProgress }
  | { readonly type: 'finished'; readonly id: string }
  | { readonly type: 'loraCache'; readonly hits: number; readonly misses: number }
  | { readonly type: 'queued' }
  | { readonly type: 'cancel'; readonly id: string };

export interface RedisEventsOptions {
  /** The same key prefix as the store's. */
  readonly prefix?: string;
  readonly log: Logger;
}

/** One connection that subscribes and one that publishes (a subscribed connection can do nothing else). */
async function channel(url: string, o: RedisEventsOptions, onMessage: (m: Message) => void) {
  const name = `${o.prefix ?? 'flux-serve'}:events`;
  const sub = new Redis(url, { maxRetriesPerRequest: null });
  const pub = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  for (const c of [sub, pub]) c.on('error', () => {}); // both reconnect by themselves
  sub.on('message', (_channel: string, raw: string) => {
    try {
      onMessage(JSON.parse(raw) as Message);
    } catch (err) {
      o.log.warn({ err }, 'unreadable task event');
    }
  });
  await sub.subscribe(name);
  return {
    publish: (m: Message) => {
      pub.publish(name, JSON.stringify(m)).catch((err) => o.log.warn({ err }, 'cannot publish a task event'));
    },
    close: () => {
      sub.disconnect();
      pub.disconnect();
    },
  };
}

/**
 * The API host's TaskControl: the events of every worker, their live progress, and cancel.
 * @example const control = await RedisTaskEvents.open(url, store, { log }); await buildApp({ dispatcher: control, … })
 */
export class RedisTaskEvents extends EventEmitter<DispatcherEvents> implements TaskControl {
  private readonly progressById = new Map<string, StepProgress>();
  private bus: Awaited<ReturnType<typeof channel>> | undefined;

  private constructor(
    private readonly store: TaskStore,
    private readonly log: Logger,
  ) {
    super();
  }

  static async open(url: string, store: TaskStore, o: RedisEventsOptions): Promise<RedisTaskEvents> {
    const events = new RedisTaskEvents(store, o.log);
    events.bus = await channel(url, o, (m) => events.receive(m));
    return events;
  }

  private receive(m: Message): void {
    if (m.type === 'changed') {
      if (m.progress) this.progressById.set(m.id, m.progress);
      this.emit('changed', m.id);
    } else if (m.type === 'finished') {
      this.progressById.delete(m.id);
      this.store
        .get(m.id)
        .then((task) => {
          if (task) this.emit('finished', task);
          this.emit('changed', m.id);
        })
        .catch((err) => this.log.warn({ err, taskId: m.id }, 'cannot read a finished task'));
    } else if (m.type === 'loraCache') {
      this.emit('loraCache', m.hits, m.misses);
    }
  }

  progress(id: string): StepProgress | undefined {
    return this.progressById.get(id);
  }

  notify(): void {
    this.bus?.publish({ type: 'queued' });
  }

  async cancel(id: string): Promise<Task> {
    const task = await this.store.get(id);
    if (!task) throw errors.TASK_NOT_FOUND(id);
    if (task.status === 'created') {
      try {
        const failed = await this.store.fail(id, errors.CANCELLED().message);
        this.bus?.publish({ type: 'finished', id });
        return failed;
      } catch (e) {
        // Claimed in the meantime: cancel it where it runs.
        if ((e as { code?: string }).code !== 'FLUX_ERR_TASK_STATE') throw e;
      }
    }
    const now = task.status === 'created' ? await this.store.get(id) : task;
    if (now?.status === 'processing') {
      this.bus?.publish({ type: 'cancel', id });
      return now;
    }
    throw errors.TASK_STATE(id, now?.status ?? task.status, 'cancelled');
  }

  close(): void {
    this.bus?.close();
  }
}

/**
 * A worker host's side: publishes its Dispatcher's events, wakes it when a task is queued, and
 * stops the task it runs when some API host cancels it.
 * @example const relay = await relayDispatcher(dispatcher, url, { log }); … relay.close()
 */
export async function relayDispatcher(
  dispatcher: Dispatcher,
  url: string,
  o: RedisEventsOptions,
): Promise<{ finished: (id: string) => void; changed: (id: string) => void; close: () => void }> {
  const bus = await channel(url, o, (m) => {
    if (m.type === 'queued') dispatcher.notify();
    else if (m.type === 'cancel' && dispatcher.abortRunning(m.id))
      o.log.info({ taskId: m.id }, 'cancel received');
  });
  // The Dispatcher says `finished` then `changed` while its progress entry still exists: that last
  // `changed` must not carry the steps back to the API hosts, which dropped them at `finished`.
  const done = new Set<string>();
  const onChanged = (id: string) => {
    const progress = done.delete(id) ? undefined : dispatcher.progress(id);
    bus.publish({ type: 'changed', id, ...(progress ? { progress } : {}) });
  };
  const onFinished = (task: Task) => {
    done.add(task.id);
    bus.publish({ type: 'finished', id: task.id });
  };
  const onLora = (hits: number, misses: number) => bus.publish({ type: 'loraCache', hits, misses });
  dispatcher.on('changed', onChanged);
  dispatcher.on('finished', onFinished);
  dispatcher.on('loraCache', onLora);
  return {
    finished: (id) => bus.publish({ type: 'finished', id }),
    changed: (id) => bus.publish({ type: 'changed', id }),
    close: () => {
      dispatcher.off('changed', onChanged);
      dispatcher.off('finished', onFinished);
      dispatcher.off('loraCache', onLora);
      bus.close();
    },
  };
}
