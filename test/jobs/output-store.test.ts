/**
 * The local output store: atomic writes leave exactly the bytes under the final name and no
 * temp files, names follow `<taskId>-<index>.<ext>`, and names from outside are checked.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import { LocalOutputStore } from '../../src/jobs/output-store.js';

const ID = '0123456789abcdef0123456789abcdef';
let root: string;
let store: LocalOutputStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'outputs-'));
  store = new LocalOutputStore(join(root, 'out')); // not there yet: write creates it
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('write', () => {
  it('writes the exact bytes under <taskId>-<index>.<ext> and leaves no temp file', async () => {
    const bytes = randomBytes(300_000);
    const names = [
      await store.write(ID, 0, bytes, 'jpeg'),
      await store.write(ID, 1, Buffer.from('png'), 'png'),
      await store.write(ID, 2, Buffer.from('webp'), 'webp'),
    ];
    expect(names).toEqual([`${ID}-0.jpg`, `${ID}-1.png`, `${ID}-2.webp`]);
    expect(await readFile(store.path(names[0] as string))).toEqual(bytes);
    expect(await readFile(store.path(names[2] as string), 'utf8')).toBe('webp');
    expect((await readdir(store.dir)).sort()).toEqual([...names].sort());
  });

  it('replaces an existing output whole', async () => {
    await store.write(ID, 0, Buffer.alloc(1000, 1), 'png');
    const name = await store.write(ID, 0, Buffer.from('short'), 'png');
    expect(await readFile(store.path(name), 'utf8')).toBe('short');
    expect(await readdir(store.dir)).toEqual([name]);
  });

  it('many concurrent writes each land whole', async () => {
    const blobs = Array.from({ length: 8 }, (_, i) => Buffer.alloc(50_000, i));
    const names = await Promise.all(blobs.map((b, i) => store.write(ID, i, b, 'jpeg')));
    for (const [i, name] of names.entries()) expect(await readFile(store.path(name))).toEqual(blobs[i]);
    expect(await readdir(store.dir)).toHaveLength(8);
  });

  it('refuses ids and indexes that would make a bad name', async () => {
    await expect(store.write('../x', 0, Buffer.from('x'), 'png')).rejects.toThrow(RangeError);
    await expect(store.write('a/b', 0, Buffer.from('x'), 'png')).rejects.toThrow(RangeError);
    await expect(store.write('a.b', 0, Buffer.from('x'), 'png')).rejects.toThrow(RangeError);
    await expect(store.write(ID, -1, Buffer.from('x'), 'png')).rejects.toThrow(RangeError);
    await expect(store.write(ID, 1.5, Buffer.from('x'), 'png')).rejects.toThrow(RangeError);
  });
});

describe('path', () => {
  it('joins a valid name onto the directory', () => {
    expect(store.path(`${ID}-3.webp`)).toBe(join(root, 'out', `${ID}-3.webp`));
  });

  it.each([
    '../etc/passwd',
    `../${ID}-0.jpg`,
    `sub/${ID}-0.jpg`,
    `${ID}-0.jpg/`,
    `..${ID}-0.jpg`,
    `${ID}..-0.jpg`,
    `${ID}-0.jpeg`,
    `${ID}-0.gif`,
    `${ID}-x.jpg`,
    `${ID}.jpg`,
    `.${ID}-0.jpg.abc.tmp`,
    `${ID}-0.jpg\0`,
    '',
  ])('refuses %j', (name) => {
    expect(() => store.path(name)).toThrow(FluxServeError);
    expect(() => store.path(name)).toThrow(/invalid output name/);
  });
});

describe('remove', () => {
  it('deletes the named outputs, ignoring ones already gone', async () => {
    const keep = await store.write(ID, 0, Buffer.from('k'), 'png');
    const gone = await store.write(ID, 1, Buffer.from('g'), 'png');
    await store.remove([gone, `${ID}-7.png`]);
    expect(await readdir(store.dir)).toEqual([keep]);
  });

  it('refuses the whole call before deleting anything when one name is bad', async () => {
    const name = await store.write(ID, 0, Buffer.from('k'), 'png');
    await writeFile(join(root, 'secret'), 's');
    await expect(store.remove([name, '../secret'])).rejects.toThrow(/invalid output name/);
    expect(await readdir(store.dir)).toEqual([name]);
    expect(await readFile(join(root, 'secret'), 'utf8')).toBe('s');
  });
});
