import { describe, expect, it } from 'vitest';
import { WakeLoop } from '../../src/jobs/wake-loop.js';

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('WakeLoop', () => {
  it('sleeps until notified when a pass answers Infinity, and runs again on notify', async () => {
    let passes = 0;
    const loop = new WakeLoop(async () => {
      passes++;
      return Number.POSITIVE_INFINITY;
    });
    loop.start();
    await tick();
    expect(passes).toBe(1);
    loop.notify();
    await tick();
    expect(passes).toBe(2);
    await loop.stop();
    expect(loop.active).toBe(false);
  });

  it('keeps a nudge that arrives while a pass runs (the pass may have looked too early)', async () => {
    let passes = 0;
    let release: () => void = () => {};
    const loop = new WakeLoop(async () => {
      passes++;
      if (passes === 1) await new Promise<void>((r) => (release = r));
      return Number.POSITIVE_INFINITY;
    });
    loop.start();
    await tick();
    loop.notify(); // during pass 1
    release();
    await tick();
    expect(passes).toBe(2);
    await loop.stop();
  });

  it('wakes by itself after the sleep a pass asks for, and stop waits for the pass under way', async () => {
    const times: number[] = [];
    let inPass = false;
    const loop = new WakeLoop(async () => {
      inPass = true;
      times.push(Date.now());
      await tick(10);
      inPass = false;
      return 30;
    });
    loop.start();
    await tick(120);
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(35);
    await loop.stop();
    expect(inPass).toBe(false);
    const n = times.length;
    await tick(60);
    expect(times.length).toBe(n);
  });

  it('yields to the event loop between passes that answer 0 at once', async () => {
    let passes = 0;
    const loop = new WakeLoop(async () => {
      passes++;
      return 0;
    });
    loop.start();
    let timerRan = false;
    setTimeout(() => (timerRan = true), 5);
    await tick(30);
    expect(timerRan).toBe(true);
    await loop.stop();
    expect(passes).toBeGreaterThan(1);
  });
});
