import { describe, expect, it } from 'vitest';
import { taskData } from '../../src/api/task-view.js';
import type { Task } from '../../src/jobs/task.js';

const CREATED_AT = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

const created: Task = {
  id: 'abc123',
  model: 'wavespeed-ai/flux-schnell-lora',
  status: 'created',
  request: {
    prompt: 'a cat',
    width: 1000,
    height: 768,
    steps: 4,
    seed: -1,
    numImages: 2,
    guidanceScale: 3.5,
    strength: 0.8,
    outputFormat: 'jpeg',
  },
  input: { prompt: 'a cat', size: '1000*768', num_images: 2 },
  owner: null,
  webhook: null,
  outputs: [],
  hasNsfwContents: [],
  seed: null,
  error: null,
  attempts: 0,
  timings: {},
  warnings: [],
  createdAt: CREATED_AT,
  startedAt: null,
  finishedAt: null,
};

const completed: Task = {
  ...created,
  status: 'completed',
  outputs: ['abc123-0.jpeg', 'abc123-1.jpeg'],
  hasNsfwContents: [false, true],
  seed: 987654321,
  attempts: 1,
  timings: { inference: 1234, queue: 10, text: 50, denoise: 1000, decode: 184, total: 1300 },
  startedAt: CREATED_AT + 10,
  finishedAt: CREATED_AT + 1310,
};

const opts = { publicBaseUrl: 'https://gpu.example.com/', outputUrl: (n: string) => `/outputs/${n}` };

describe('taskData', () => {
  it('shows a created task with empty outputs and the hosted keys', () => {
    expect(taskData(created, opts)).toEqual({
      id: 'abc123',
      model: 'wavespeed-ai/flux-schnell-lora',
      outputs: [],
      urls: { get: 'https://gpu.example.com/api/v3/predictions/abc123/result' },
      has_nsfw_contents: [],
      status: 'created',
      created_at: '2026-01-02T03:04:05.678Z',
      error: '',
      timings: { inference: 0 },
      seed: null,
      size: '1000*768',
    });
  });

  it('reports a fixed seed before the run and live extensions when given', () => {
    const view = taskData(
      { ...created, status: 'processing', request: { ...created.request, seed: 42 } },
      {
        ...opts,
        progress: { stage: 'denoise', step: 2, total: 4 },
        queuePosition: 0,
        warnings: ['unmatched LoRA key x'],
      },
    );
    expect(view).toMatchObject({
      status: 'processing',
      seed: 42,
      outputs: [],
      progress: { stage: 'denoise', step: 2, total: 4 },
      queue_position: 0,
      warnings: ['unmatched LoRA key x'],
    });
  });

  it('shows a completed task with absolute output URLs, nsfw flags, seed and timings', () => {
    const view = taskData(completed, opts);
    expect(view).toMatchObject({
      status: 'completed',
      outputs: [
        'https://gpu.example.com/outputs/abc123-0.jpeg',
        'https://gpu.example.com/outputs/abc123-1.jpeg',
      ],
      has_nsfw_contents: [false, true],
      error: '',
      seed: 987654321,
      timings: { inference: 1234, queue: 10, text: 50, denoise: 1000, decode: 184, total: 1300 },
    });
    expect(view).not.toHaveProperty('progress');
    expect(view).not.toHaveProperty('queue_position');
  });

  it('keeps absolute output URLs and a base path prefix', () => {
    const view = taskData(completed, {
      publicBaseUrl: 'https://h.example/flux',
      outputUrl: (n) => `https://cdn.example/${n}`,
    });
    expect(view.outputs[0]).toBe('https://cdn.example/abc123-0.jpeg');
    expect(view.urls.get).toBe('https://h.example/flux/api/v3/predictions/abc123/result');
  });

  it('uses data URIs when base64 output was asked for', () => {
    const uris = ['data:image/jpeg;base64,AAA', 'data:image/jpeg;base64,BBB'];
    expect(taskData(completed, { ...opts, base64Outputs: uris }).outputs).toEqual(uris);
  });

  it('shows a failed task with its error and no outputs', () => {
    const view = taskData({ ...completed, status: 'failed', error: 'cancelled' }, opts);
    expect(view).toMatchObject({ status: 'failed', error: 'cancelled', outputs: [], has_nsfw_contents: [] });
  });
});
