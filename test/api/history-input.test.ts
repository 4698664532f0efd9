import { describe, expect, it } from 'vitest';
import { historyInput } from '../../src/api/history-input.js';

describe('historyInput', () => {
  it('names inline images by size and keeps everything else', () => {
    const png = Buffer.alloc(1234, 7).toString('base64');
    const input = {
      prompt: 'a cat',
      image: `data:image/png;base64,${png}`,
      mask_image: `  ${png.replace(/.{76}/g, '$&\r\n')}`,
      loras: [{ path: 'owner/repo', scale: 1 }],
      size: '512*512',
      extra: { nested: [`data:image/webp;name=a.webp;base64,${png}`, 'plain'] },
    };
    expect(historyInput(input)).toEqual({
      prompt: 'a cat',
      image: 'data:image/png;base64,… (1234 bytes, not repeated in history)',
      mask_image: 'base64… (1234 bytes, not repeated in history)',
      loras: [{ path: 'owner/repo', scale: 1 }],
      size: '512*512',
      extra: {
        nested: ['data:image/webp;name=a.webp;base64,… (1234 bytes, not repeated in history)', 'plain'],
      },
    });
    expect(input.image).toMatch(/^data:image\/png;base64,BwcH/);
  });

  it('keeps URLs, empty images and long prompts as they are', () => {
    const input = { prompt: 'a'.repeat(50_000), image: 'https://example.com/cat.png', mask_image: '' };
    expect(historyInput(input)).toEqual(input);
  });

  it('names a bulky array or object by its size, whatever its strings', () => {
    const numbers = Array.from({ length: 2_000_000 }, (_, i) => i);
    const out = historyInput({
      prompt: 'a cat',
      numbers,
      loras: [{ path: 'a/b', scale: 1 }],
      deep: { a: [1, 2] },
    });
    expect(out).toEqual({
      prompt: 'a cat',
      numbers: 'an array of more than 10000 values, not repeated in history',
      loras: [{ path: 'a/b', scale: 1 }],
      deep: { a: [1, 2] },
    });
  });

  it('names any other string over 10,000 characters by its length (unknown fields up to the body limit)', () => {
    const junk = 'x'.repeat(5_000_000);
    const out = historyInput({ prompt: 'a cat', junk, list: [junk, 'y'.repeat(10_000)] });
    expect(out).toEqual({
      prompt: 'a cat',
      junk: `${'x'.repeat(40)}… (5000000 characters, not repeated in history)`,
      list: [`${'x'.repeat(40)}… (5000000 characters, not repeated in history)`, 'y'.repeat(10_000)],
    });
  });
});
