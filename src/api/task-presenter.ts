/**
 * @module api/task-presenter
 * Turns a stored task into the data object every route, stream and webhook shows, adding what the
 * store does not keep: base64 outputs read back from the output store, live step progress, the
 * queue position and the server's warnings.
 */
import { readFile } from 'node:fs/promises';
import type { LocalOutputStore } from '../jobs/output-store.js';
import type { Task, TaskStore } from '../jobs/task.js';
import type { StepProgress } from '../pipeline/generate.js';
import { type TaskData, taskData } from './task-view.js';

export interface TaskPresenterOptions {
  readonly store: TaskStore;
  readonly outputs: LocalOutputStore;
  readonly publicBaseUrl: string;
  /** Step progress of the running task. */
  readonly progress: (id: string) => StepProgress | undefined;
  /** Shown on every task after its own (e.g. a missing safety checker). */
  readonly warnings: readonly string[];
}

const MIME: Readonly<Record<string, string>> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

export interface PresentOptions {
  /** Read base64 outputs back when the request asked for them (default true). */
  readonly inlineBase64?: boolean;
}

export type TaskPresenter = (task: Task, options?: PresentOptions) => Promise<TaskData>;

/** @example const present = taskPresenter({ store, outputs, publicBaseUrl, progress, warnings: [] }); await present(task) */
export function taskPresenter(o: TaskPresenterOptions): TaskPresenter {
  return async (task, options = {}) => {
    const base64 =
      (options.inlineBase64 ?? true) &&
      task.status === 'completed' &&
      task.input.enable_base64_output === true;
    const base64Outputs = base64
      ? await Promise.all(
          task.outputs.map(async (name) => {
            const mime = MIME[task.request.outputFormat] ?? 'application/octet-stream';
            return `data:${mime};base64,${(await readFile(o.outputs.path(name))).toString('base64')}`;
          }),
        )
      : undefined;
    const progress = o.progress(task.id);
    const position = await o.store.queuePosition(task.id);
    return taskData(task, {
      publicBaseUrl: o.publicBaseUrl,
      outputUrl: (name) => `/outputs/${name}`,
      ...(base64Outputs ? { base64Outputs } : {}),
      ...(progress ? { progress } : {}),
      ...(position > 0 ? { queuePosition: position } : {}),
      warnings: [...task.warnings, ...o.warnings],
    });
  };
}
