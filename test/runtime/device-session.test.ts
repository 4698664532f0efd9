/**
 * The native addon's DeviceSession on the CPU EP against onnxruntime-node on the same tiny
 * transformer: bit for bit, with inputs bound once and rebound, and every wrong input a JS error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFlux } from '../../src/arch/flux.js';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { FLUX_IO, loraInputs } from '../../src/arch/flux-io.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { Graph } from '../../src/onnx/graph.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { DeviceSession } from '../../src/runtime/device-session.js';
import { nativeRuntime } from '../../src/runtime/native-addon.js';
import { sessionOptions } from '../../src/runtime/session.js';
import { openCheckpoint } from '../../src/weights/checkpoint.js';
import { fluxFeeds, randomInputs, randomLora } from '../support/flux-session.js';

let root: string;
let model: string;
let config: FluxConfig;
let reference: ort.InferenceSession;
let small: string;

/** y = x · W with W [3, 4096] (a weight of 48 KiB): quick to create, so cycles are cheap. */
function smallGraph(): Graph {
  const g = new Graph('small');
  g.input('x', 'float32', ['rows', 3]);
  const w = Float32Array.from({ length: 3 * 4096 }, (_, i) => Math.sin(i));
  const wName = g.initializer('w', 'float32', [3, 4096], () => new Uint8Array(w.buffer));
  g.output(g.node('/matmul', 'MatMul', ['x', wName]), 'y', 'float32', ['rows', 4096]);
  return g;
}

const OPTIONS = { provider: 'cpu', threads: 1 } as const;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'device-session-'));
  const spec = await loadModelSpec('tiny');
  await writeTinyCheckpoint(join(root, 'ckpt'), spec, { seed: 5 });
  config = spec.transformer;
  const weights = await openCheckpoint([join(root, 'ckpt', spec.transformerFile)]);
  model = join(root, 'transformer.onnx');
  await writeModel(buildFlux(config, weights, { dtype: 'float32', ops: 'fused' }), model);
  await weights.close();
  reference = await ort.InferenceSession.create(model, sessionOptions(OPTIONS));
  small = join(root, 'small.onnx');
  await writeModel(smallGraph(), small);
});
afterAll(async () => {
  await reference?.release();
  await rm(root, { recursive: true, force: true });
});

async function expected(feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  return (await reference.run(feeds))[FLUX_IO.out]?.data as Float32Array;
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('the native runtime', () => {
  it('is the ONNX Runtime onnxruntime-node loads, its API table answering by the declared slots', () => {
    const native = nativeRuntime();
    if (!native.available) throw new Error(native.reason);
    expect(native.version).toBe('1.29.0');
    expect(native.library).toMatch(/onnxruntime-node\/bin\/.*libonnxruntime\.so\.1$/);
    // GetAvailableProviders / ReleaseAvailableProviders (slots 125, 126); load also probed
    // CreateStatus, GetErrorCode, GetErrorMessage, ReleaseStatus and GetBuildInfoString.
    expect(native.providers).toContain('CPUExecutionProvider');
    const again = native.addon.load(native.library);
    expect(again.buildInfo).toMatch(/^ORT Build Info: /);
    expect(() => native.addon.load('/nonexistent/libonnxruntime.so.1')).toThrow(/already loaded from/);
  });
});

describe('DeviceSession on the CPU EP', () => {
  it('describes the model and equals onnxruntime-node bit for bit', async () => {
    const session = DeviceSession.create(model, OPTIONS);
    expect(session.inputNames).toEqual(reference.inputNames);
    expect(session.outputNames).toEqual([FLUX_IO.out]);
    const feeds = fluxFeeds(config, randomInputs(config, 1, 2, 4, 3, 5), randomLora(config, 2, 3));
    const out = (await session.run(feeds))[FLUX_IO.out];
    expect(out?.dims).toEqual([2, 12, config.inChannels]);
    expect(bytes(out?.data as Float32Array).equals(bytes(await expected(feeds)))).toBe(true);
    await session.release();
  });

  it('keeps bound inputs across runs, copies only new tensors, and a rebind changes the result', async () => {
    const session = DeviceSession.create(model, OPTIONS);
    const x = randomInputs(config, 3, 1, 4, 4, 6);
    const withA = fluxFeeds(config, x, randomLora(config, 4, 2));
    const withB = fluxFeeds(config, x, randomLora(config, 5, 2));
    const lora = (feeds: Record<string, ort.Tensor>) =>
      Object.entries(feeds).filter(([name]) => name.startsWith('lora.'));
    for (const [name, t] of lora(withA)) session.bind(name, t);
    const perCall = Object.fromEntries(Object.entries(withA).filter(([name]) => !name.startsWith('lora.')));
    const first = (await session.run(perCall))[FLUX_IO.out]?.data as Float32Array;
    expect(bytes(first).equals(bytes(await expected(withA)))).toBe(true);

    // The same tensor objects again (the pipeline's fixed feeds, step after step) cost no copy;
    // a new tensor costs its own bytes.
    const uploaded = session.stats().uploadedBytes;
    const again = await session.run(withA);
    expect(session.stats().uploadedBytes).toBe(uploaded);
    expect(bytes(again[FLUX_IO.out]?.data as Float32Array).equals(bytes(first))).toBe(true);
    const img = withA[FLUX_IO.img] as ort.Tensor;
    await session.run({ [FLUX_IO.img]: new ort.Tensor('float32', img.data as Float32Array, img.dims) });
    expect(session.stats().uploadedBytes - uploaded).toBe(img.size * 4);

    for (const [name, t] of lora(withB)) session.bind(name, t);
    const second = (await session.run({}))[FLUX_IO.out]?.data as Float32Array;
    expect(bytes(second).equals(bytes(first))).toBe(false);
    expect(bytes(second).equals(bytes(await expected(withB)))).toBe(true);
    await session.release();
  });

  it('turns a wrong name, type, shape, size or a missing input into an exception and keeps working', async () => {
    const session = DeviceSession.create(model, OPTIONS);
    const feeds = fluxFeeds(config, randomInputs(config, 6, 1, 2, 2, 3));
    const img = feeds[FLUX_IO.img] as ort.Tensor;
    const layer = fluxLinears(config)[0];
    if (!layer) throw new Error('no linear layer');
    // Before anything is bound, what a run lacks is named.
    await expect(session.run({ [FLUX_IO.img]: img })).rejects.toThrow(
      /inputs neither bound nor fed: img_ids/,
    );
    const cases: [Record<string, ort.Tensor>, RegExp][] = [
      [{ nope: img }, /the model has no input named nope/],
      [
        { [FLUX_IO.img]: new ort.Tensor('int32', new Int32Array(img.size), img.dims) },
        /type int32 given, the model takes float32/,
      ],
      [
        { [FLUX_IO.img]: new ort.Tensor('float32', img.data as Float32Array, [img.size]) },
        /does not fit the model's \[-1, -1, 64\]/,
      ],
      [{ [FLUX_IO.img]: new ort.Tensor('float32', new Float32Array(7), [1, 1, 7]) }, /does not fit/],
      [
        {
          [loraInputs(layer, 'float32').a.name]: new ort.Tensor('float32', new Float32Array(layer.in + 1), [
            layer.in + 1,
            1,
          ]),
        },
        /does not fit/,
      ],
    ];
    for (const [bad, message] of cases)
      await expect(session.run({ ...feeds, ...bad })).rejects.toThrow(message);
    const out = (await session.run(feeds))[FLUX_IO.out]?.data as Float32Array;
    expect(bytes(out).equals(bytes(await expected(feeds)))).toBe(true);
    await session.release();
    await expect(session.run(feeds)).rejects.toThrow(/released/);
    expect(() => DeviceSession.create(join(root, 'missing.onnx'), OPTIONS)).toThrow(/missing\.onnx/);
  });

  it('checks the bytes against the shape in native code too', () => {
    const native = nativeRuntime();
    if (!native.available) throw new Error(native.reason);
    const raw = new native.addon.DeviceSession(small, { provider: 'cpu', threads: 1 });
    const lie = { name: 'x', type: 'float32', dims: [1, 3], data: new Float32Array(2) };
    expect(() => raw.bind(lie)).toThrow(/8 bytes of data for shape \[1, 3\], which needs 12/);
    expect(() => raw.bind({ ...lie, dims: [1, -3] })).toThrow(/whole numbers/);
    expect(() => raw.bind({ ...lie, dims: [2 ** 40, 2 ** 40, 3] } as never)).toThrow(
      /does not fit|too large/,
    );
    expect(() => raw.run([{ ...lie, data: 'text' } as never])).toThrow(/TypedArray/);
    raw.release();
  });

  it('gives each run outputs of its own shape (a task of another size after the first)', async () => {
    const s = DeviceSession.create(small, OPTIONS);
    for (const rows of [4, 8, 2]) {
      const x = new ort.Tensor('float32', new Float32Array(3 * rows).fill(1), [rows, 3]);
      const y = (await s.run({ x })).y as ort.Tensor;
      expect(y.dims).toEqual([rows, 4096]);
      // Each row is the column sums of W: x is all ones.
      expect((y.data as Float32Array)[4096 * (rows - 1)]).toBeCloseTo(
        Math.sin(0) + Math.sin(4096) + Math.sin(8192),
        5,
      );
    }
    await s.release();
  });

  it('leaves memory flat over 200 create/bind/release cycles', async () => {
    const x = new ort.Tensor('float32', new Float32Array(3 * 4).fill(0.5), [4, 3]);
    const cycle = async () => {
      const s = DeviceSession.create(small, OPTIONS);
      s.bind('x', x);
      await s.run({});
      await s.release();
    };
    for (let i = 0; i < 400; i++) await cycle(); // warm-up: allocator pools and the JS heap settle first
    const start = process.memoryUsage().rss;
    for (let i = 0; i < 200; i++) await cycle();
    const growth = process.memoryUsage().rss - start;
    console.log(
      `200 DeviceSession create/bind/run/release cycles: RSS ${(growth / 2 ** 20).toFixed(1)} MiB growth`,
    );
    expect(growth).toBeLessThan(16 * 2 ** 20);
  });
});
