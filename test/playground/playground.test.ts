/**
 * The web playground in Debian's Chromium (playwright-core, no browser download) against the real
 * server on the tiny model: submit from the page and see progress and the image, reuse a seed, add
 * a LoRA from the LoRA folder, draw a mask and inpaint, enter an API key, see the history; images
 * load from the page's own origin when the server's public URL names another host, a dropped event
 * stream falls back to polling, and repeated controls have distinct accessible names. Screenshots
 * are written to `test-artifacts/playground/`.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { fixtureBytes } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'playground');
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it from Debian`);

let dir: TinyServerRoot;
let server: ServerProcess;
let context: BrowserContext;
let page: Page;
let profile: string;

beforeAll(async () => {
  if (!available) return;
  dir = await tinyServerRoot('playground-');
  const loras = join(dir.home, 'loras');
  await mkdir(loras, { recursive: true });
  const config = (await loadModelSpec('tiny')).transformer;
  await writeFile(join(loras, 'style.safetensors'), await fixtureBytes(FORMATS.diffusers(config)));
  server = await startServer({ model: dir.model, home: dir.home });
  profile = await mkdtemp(join(tmpdir(), 'playground-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await context.newPage();
  await mkdir(ARTIFACTS, { recursive: true });
}, 120_000);
afterAll(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await dir?.cleanup();
});

/** Every text the status line shows, recorded in the page so no change is missed between polls. */
async function recordStatus(): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { statuses: string[] };
    w.statuses = [];
    const status = document.querySelector('#status') as HTMLElement;
    new MutationObserver(() => w.statuses.push(status.textContent ?? '')).observe(status, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  });
}

const statuses = () => page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);

async function generateAndWait(expectedFigures: number): Promise<void> {
  await page.click('#generate');
  await page.waitForFunction(
    (n) => document.querySelectorAll('#gallery figure').length === n,
    expectedFigures,
    {
      timeout: 60_000,
    },
  );
  await page.waitForFunction(() => /^done/.test(document.querySelector('#status')?.textContent ?? ''));
}

describe.skipIf(!available)('playground in Chromium', () => {
  it('submits from the page, shows progress and the image; a seed can be reused', async () => {
    await page.goto(`${server.base}/`);
    await expect(page.title()).resolves.toBe('flux-serve playground');
    // The tiny model is unmistakable: a banner above everything.
    await page.waitForSelector('#test-model:not([hidden])');
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/tiny random test model.*noise/);
    await page.fill('#prompt', 'a lighthouse at dawn');
    await page.fill('#width', '256');
    await page.fill('#height', '256');
    await page.fill('#steps', '3');
    await page.fill('#seed', '5');
    await recordStatus();
    await generateAndWait(1);
    const seen = await statuses();
    expect(seen.some((s) => /^denoising — step \d of 3$/.test(s))).toBe(true);
    // The VAE decode is a stage of its own, not a stuck last step.
    expect(seen).toContain('decoding — image 1 of 1');
    // The page loads outputs from its own origin (pageUrl), whatever the server's public base URL.
    const src = (await page.getAttribute('#gallery figure img', 'src')) as string;
    expect(src).toMatch(/^\/outputs\/[0-9a-f]{32}-0\.jpg$/);
    const taskId = src.slice('/outputs/'.length, '/outputs/'.length + 8);
    await expect(
      page
        .getByRole('link', { name: `Download image 1 of task ${taskId}`, exact: true })
        .getAttribute('href'),
    ).resolves.toBe(src);
    await expect(
      page.getByRole('progressbar', { name: 'Generation progress', includeHidden: true }).count(),
    ).resolves.toBe(1);
    const image = await fetch(`${server.base}${src}`);
    const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 256, 256]);
    await expect(page.textContent('#gallery figcaption')).resolves.toContain('seed 5');
    await page.screenshot({ path: join(ARTIFACTS, '1-generated.png'), fullPage: true });

    await page.fill('#seed', '-1');
    await page.fill('#prompt', 'something else');
    await page.getByRole('button', { name: 'Reuse seed 5', exact: true }).click();
    await expect(page.inputValue('#seed')).resolves.toBe('5');
    await expect(page.inputValue('#prompt')).resolves.toBe('a lighthouse at dawn');
  });

  it('adds a LoRA from the LoRA folder and generates with it', async () => {
    await page.waitForFunction(
      () => document.querySelector('#lora-names option[value="style.safetensors"]') !== null,
    );
    await page.click('#add-lora');
    await page.fill('#loras .lora-path', 'style.safetensors');
    await page.fill('#loras .lora-scale', '1.5');
    const submitted = page.waitForRequest(
      (r) => r.method() === 'POST' && r.url().endsWith('/flux-schnell-lora'),
    );
    await generateAndWait(2);
    expect(JSON.parse((await submitted).postData() as string).loras).toEqual([
      { path: 'style.safetensors', scale: 1.5 },
    ]);
    await expect(page.textContent('#gallery figure:first-child figcaption')).resolves.toContain(
      'style.safetensors@1.5',
    );
    await page.click('#loras .remove-lora');
    // Reuse brings back the whole request, its LoRA and scale included.
    await page.fill('#num-images', '3');
    await page
      .locator('#gallery figure:first-child')
      .getByRole('button', { name: /^Reuse seed / })
      .click();
    await expect(page.inputValue('#loras .lora-path')).resolves.toBe('style.safetensors');
    await expect(page.inputValue('#loras .lora-scale')).resolves.toBe('1.5');
    await expect(page.inputValue('#num-images')).resolves.toBe('1');
    await page.click('#loras .remove-lora');
    await page.screenshot({ path: join(ARTIFACTS, '2-lora.png'), fullPage: true });
  });

  it('uploads an image, draws a mask on it and inpaints', async () => {
    // The size follows the uploaded image's shape (within 256–1536, steps of 16).
    const photo = join(dir.root, 'photo.png');
    await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#888' } })
      .png()
      .toFile(photo);
    await page.setInputFiles('#image-file', photo);
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('#width')?.value === '1536');
    await expect(page.inputValue('#height')).resolves.toBe('1152');
    const input = join(dir.root, 'input.png');
    await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 20, g: 120, b: 220 } } })
      .png()
      .toFile(input);
    await page.setInputFiles('#image-file', input);
    await page.waitForSelector('#image-editor:not([hidden])');
    await page.waitForFunction(() =>
      /^image ready/.test(document.querySelector('#status')?.textContent ?? ''),
    );
    const canvas = page.getByRole('img', { name: /^Inpainting mask .*press and drag on it/ });
    const box = await canvas.boundingBox();
    if (!box) throw new Error('the mask canvas is not visible');
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.5, { steps: 10 });
    await page.mouse.up();
    await page.screenshot({ path: join(ARTIFACTS, '3-mask.png'), fullPage: true });
    const submitted = page.waitForRequest(
      (r) => r.method() === 'POST' && r.url().endsWith('/flux-schnell-lora'),
    );
    await generateAndWait(3);
    const body = JSON.parse((await submitted).postData() as string);
    expect(body.image).toMatch(new RegExp(`^${server.base}/media/[0-9a-f]{32}$`));
    expect(body.mask_image).toMatch(/^data:image\/png;base64,/);
    const mask = await sharp(Buffer.from(body.mask_image.split(',')[1], 'base64'))
      .greyscale()
      .raw()
      .toBuffer({
        resolveWithObject: true,
      });
    expect(mask.info.width).toBe(256);
    // White (repaint) all along the stroke, black (keep) in the corners.
    for (let x = 60; x <= 196; x++) expect(mask.data[128 * 256 + x]).toBe(255);
    expect(mask.data[0]).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, '4-inpainted.png'), fullPage: true });

    // A mask file instead of painting: scaled to the image, white = repaint.
    const half = Buffer.alloc(128 * 128, 0);
    for (let y = 0; y < 128; y++) half.fill(255, y * 128, y * 128 + 64);
    const maskFile = join(dir.root, 'mask.png');
    await sharp(half, { raw: { width: 128, height: 128, channels: 1 } })
      .png()
      .toFile(maskFile);
    await page.setInputFiles('#mask-file', maskFile);
    await page.waitForFunction(() =>
      /^mask ready/.test(document.querySelector('#status')?.textContent ?? ''),
    );
    const again = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/flux-schnell-lora'));
    await generateAndWait(4);
    const uploaded = JSON.parse((await again).postData() as string).mask_image as string;
    const fileMask = await sharp(Buffer.from(uploaded.split(',')[1] as string, 'base64'))
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([fileMask.info.width, fileMask.info.height]).toEqual([256, 256]);
    expect(fileMask.data[128 * 256 + 40]).toBe(255);
    expect(fileMask.data[128 * 256 + 216]).toBe(0);
  });

  it('asks for the API key when the server needs one, and uses it', async () => {
    const keys = join(dir.root, 'keys.txt');
    await writeFile(keys, 'sk-playground\n');
    const keyed = await startServer({ model: dir.model, home: `${dir.home}-keyed`, args: ['--keys', keys] });
    const tab = await context.newPage();
    await tab.goto(`${keyed.base}/`);
    await tab.waitForSelector('#key-form:not([hidden])');
    await tab.fill('#api-key', 'sk-playground');
    await tab.click('#key-form button');
    await tab.waitForSelector('#key-form', { state: 'hidden' });
    await tab.fill('#prompt', 'a keyed fox');
    await tab.fill('#width', '256');
    await tab.fill('#height', '256');
    await tab.fill('#steps', '1');
    await tab.click('#generate');
    await tab.waitForFunction(() => document.querySelectorAll('#gallery figure').length === 1, undefined, {
      timeout: 60_000,
    });
    await tab.screenshot({ path: join(ARTIFACTS, '6-keyed.png'), fullPage: true });
    await tab.close();
    await keyed.stop();
  });

  it('shows the results when output URLs name another host and the event stream drops', async () => {
    // FLUX_SERVE_PUBLIC_URL naming a host this browser cannot reach stands for a server on 0.0.0.0
    // without one (http://0.0.0.0:8080/… output URLs); dropped streams, for a proxy's idle timeout.
    const elsewhere = await startServer({
      model: dir.model,
      home: `${dir.home}-elsewhere`,
      env: { FLUX_SERVE_PUBLIC_URL: 'http://flux-serve.invalid:9' },
    });
    const tab = await context.newPage();
    try {
      let drops = 0;
      await tab.route('**/api/v3/predictions/*/events', (route) => {
        drops++;
        const id = new URL(route.request().url()).pathname.split('/')[4];
        // First a stream that ends after the task's first event, then one that breaks outright.
        return drops === 1
          ? route.fulfill({
              status: 200,
              contentType: 'text/event-stream',
              body: `data: ${JSON.stringify({ id, status: 'created', outputs: [] })}\n\n`,
            })
          : route.abort('connectionreset');
      });
      await tab.goto(`${elsewhere.base}/`);
      await tab.fill('#prompt', 'a fox far away');
      await tab.fill('#width', '256');
      await tab.fill('#height', '256');
      await tab.fill('#steps', '1');
      for (const figures of [1, 2]) {
        await tab.click('#generate');
        await tab.waitForFunction((n) => document.querySelectorAll('#gallery figure').length === n, figures, {
          timeout: 60_000,
        });
        await tab.waitForFunction(() => /^done/.test(document.querySelector('#status')?.textContent ?? ''));
        // The image came from the page's own origin, not the unreachable public URL.
        await tab.waitForFunction(() => {
          const img = document.querySelector('#gallery figure img') as HTMLImageElement | null;
          return img?.complete === true && img.naturalWidth === 256;
        });
      }
      expect(drops).toBe(2);
      await tab.screenshot({ path: join(ARTIFACTS, '7-stream-dropped.png'), fullPage: true });
    } finally {
      await tab.close();
      await elsewhere.stop();
    }
  });

  it('lists past tasks in the history with their prompts', async () => {
    await page.click('#load-history');
    await page.waitForFunction(() => document.querySelectorAll('#history li').length >= 3);
    await expect(page.textContent('#history')).resolves.toContain('a lighthouse at dawn');
    const reuse = await page
      .getByRole('button', { name: /^Reuse settings of task [0-9a-f]{8}$/ })
      .allTextContents();
    expect(reuse.length).toBeGreaterThanOrEqual(3);
    expect(new Set(reuse).size).toBe(reuse.length);
    // Fewer tasks than a page: nothing more to load.
    await expect(page.isHidden('#more-history')).resolves.toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, '5-history.png'), fullPage: true });
  });

  it('queues several jobs at once, shows their timings, and compares two side by side', async () => {
    await page.goto(`${server.base}/`);
    await page.fill('#prompt', 'first of two');
    await page.fill('#width', '256');
    await page.fill('#height', '256');
    await page.fill('#steps', '2');
    await page.click('#generate');
    await page.fill('#prompt', 'second of two');
    await page.click('#generate'); // while the first still runs: the button stays enabled
    await page.waitForFunction(
      () => document.querySelectorAll('#gallery figure:not(.pending) img').length === 2,
      null,
      {
        timeout: 60_000,
      },
    );
    const captions = await page.locator('#gallery figcaption').allTextContents();
    expect(captions.map((c) => c.split(' — ')[0])).toEqual(['second of two', 'first of two']);
    for (const c of captions) expect(c).toMatch(/denoise \d+ ms · decode \d+ ms.*total \d+ ms/);
    const boxes = page.getByRole('checkbox', { name: /^Compare task / });
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await expect(page.locator('#compare img').count()).resolves.toBe(2);
    await expect(page.locator('#compare figcaption').first().textContent()).resolves.toContain(
      'second of two',
    );
    await page.screenshot({ path: join(ARTIFACTS, '7-queue-compare.png'), fullPage: true });
  });
});
